/*
 * log.c: leveled log lines on standard error (log.h): "2024-11-24T20:10:00.123Z info job
 * 3f2a... started". Each line is written with one fprintf so lines from threads never mix.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "qtime.h"

static atomic_int level = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug", NULL};

int log_level_parse(const char *name)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(int l) { atomic_store(&level, l); }

void log_msg(int l, const char *fmt, ...)
{
    if (l > atomic_load(&level))
        return;
    char line[1024], when[QTIME_ISO_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s %s\n", qtime_iso(qtime_now_ms(), when), names[l], line);
}
