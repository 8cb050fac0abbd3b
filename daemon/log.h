/*
 * log.h: the daemon's log: one line per event on standard error, which systemd's journal and
 * `docker logs` collect. Levels below the configured one are dropped. Thread-safe.
 */
#ifndef QD_LOG_H
#define QD_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);
void log_set_level(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
