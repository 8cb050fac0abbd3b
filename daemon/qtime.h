/*
 * qtime.h: the daemon's clock: Unix milliseconds for the store, RFC 3339 text for the API.
 */
#ifndef QD_QTIME_H
#define QD_QTIME_H

#include <stddef.h>
#include <stdint.h>

#define QTIME_ISO_LEN 32

/* Wall-clock time in Unix milliseconds. */
int64_t qtime_now_ms(void);
/* Monotonic time in seconds, for durations. */
double qtime_mono(void);
/* "2024-11-24T20:10:00.123Z" into buf (QTIME_ISO_LEN bytes); returns buf. */
char *qtime_iso(int64_t ms, char *buf);

#endif
