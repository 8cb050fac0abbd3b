/*
 * qtime.c: wall-clock milliseconds, a monotonic clock and RFC 3339 formatting (qtime.h). Times
 * in the store are Unix milliseconds (UTC); the API shows them as RFC 3339 strings in UTC.
 */
#include "qtime.h"

#include <stdio.h>
#include <time.h>

int64_t qtime_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double qtime_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *qtime_iso(int64_t ms, char *buf)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, QTIME_ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, QTIME_ISO_LEN - n, ".%03dZ", (int)(ms % 1000));
    return buf;
}
