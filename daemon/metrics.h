/*
 * metrics.h: counters and histograms for GET /metrics (Prometheus text format 0.0.4): HTTP
 * requests by route, method and status with their latency, and finished jobs by kind and state
 * with their duration. Gauges read from the store and the workers at scrape time are written by
 * the /metrics handler itself. Thread-safe; counts start at zero with each start of the daemon.
 * Ownership: metrics_create/metrics_free.
 */
#ifndef QD_METRICS_H
#define QD_METRICS_H

#include <stdio.h>

typedef struct metrics metrics;

/* routes[i] = "GET /api/v1/jobs/{id}", ... for i < nroutes; requests matching no route are
 * counted as "unmatched". The strings are borrowed for the metrics' lifetime. */
metrics *metrics_create(const char *const *methods, const char *const *routes, int nroutes);
void metrics_free(metrics *m);

/* route: an index into routes, or -1 for a request that matched none. */
void metrics_http(metrics *m, int route, int status, double seconds);
void metrics_job(metrics *m, const char *kind, const char *state, double seconds);

void metrics_write(metrics *m, FILE *f);

#endif
