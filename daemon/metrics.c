/*
 * metrics.c: the daemon's counters and histograms (metrics.h), kept in fixed tables under one
 * mutex: per route up to MAX_STATUS distinct statuses (further ones count as status 0, never
 * seen in practice) and a latency histogram; per (kind, state) pair of finished jobs a
 * duration histogram, up to MAX_JOB_SERIES pairs.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STATUS 12
#define MAX_JOB_SERIES 16

static const double http_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0};
static const double job_le[] = {1, 5, 15, 60, 300, 900, 3600, 14400, 86400};
#define N_HTTP_LE ((int)(sizeof http_le / sizeof *http_le))
#define N_JOB_LE ((int)(sizeof job_le / sizeof *job_le))

typedef struct route_stats {
    int status[MAX_STATUS];
    unsigned long long count[MAX_STATUS];
    unsigned long long le[N_HTTP_LE + 1], n;
    double sum;
} route_stats;

typedef struct job_series {
    char kind[16], state[16];
    unsigned long long le[N_JOB_LE + 1], n;
    double sum;
} job_series;

struct metrics {
    pthread_mutex_t mu;
    const char *const *methods, *const *routes;
    int nroutes;
    route_stats *r; /* nroutes + 1: the last one is "unmatched" */
    job_series jobs[MAX_JOB_SERIES];
    int njobs;
};

metrics *metrics_create(const char *const *methods, const char *const *routes, int nroutes)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m || !(m->r = calloc((size_t)nroutes + 1, sizeof *m->r))) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->methods = methods;
    m->routes = routes;
    m->nroutes = nroutes;
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m->r);
    free(m);
}

static void observe(unsigned long long *le, const double *bounds, int n, double v)
{
    for (int i = 0; i < n; i++)
        if (v <= bounds[i])
            le[i]++;
    le[n]++;
}

void metrics_http(metrics *m, int route, int status, double seconds)
{
    route_stats *r = &m->r[route < 0 || route >= m->nroutes ? m->nroutes : route];
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < MAX_STATUS - 1 && r->status[i] && r->status[i] != status)
        i++;
    if (!r->status[i])
        r->status[i] = status;
    r->count[i]++;
    observe(r->le, http_le, N_HTTP_LE, seconds);
    r->n++;
    r->sum += seconds;
    pthread_mutex_unlock(&m->mu);
}

void metrics_job(metrics *m, const char *kind, const char *state, double seconds)
{
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->njobs && (strcmp(m->jobs[i].kind, kind) || strcmp(m->jobs[i].state, state)))
        i++;
    if (i == m->njobs && m->njobs < MAX_JOB_SERIES) {
        snprintf(m->jobs[i].kind, sizeof m->jobs[i].kind, "%s", kind);
        snprintf(m->jobs[i].state, sizeof m->jobs[i].state, "%s", state);
        m->njobs++;
    }
    if (i < m->njobs) {
        job_series *j = &m->jobs[i];
        observe(j->le, job_le, N_JOB_LE, seconds);
        j->n++;
        j->sum += seconds;
    }
    pthread_mutex_unlock(&m->mu);
}

static void write_http(metrics *m, FILE *f)
{
    fputs("# HELP quantd_http_requests_total HTTP requests answered, by route and status.\n"
          "# TYPE quantd_http_requests_total counter\n", f);
    for (int k = 0; k <= m->nroutes; k++)
        for (int i = 0; i < MAX_STATUS && m->r[k].status[i]; i++)
            fprintf(f, "quantd_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} %llu\n",
                    k < m->nroutes ? m->methods[k] : "", k < m->nroutes ? m->routes[k] : "unmatched",
                    m->r[k].status[i], m->r[k].count[i]);
    fputs("# HELP quantd_http_request_duration_seconds Time to answer an HTTP request (for "
          "event streams: to start the stream).\n"
          "# TYPE quantd_http_request_duration_seconds histogram\n", f);
    for (int k = 0; k <= m->nroutes; k++) {
        const route_stats *r = &m->r[k];
        if (!r->n)
            continue;
        char labels[160];
        snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"",
                 k < m->nroutes ? m->methods[k] : "", k < m->nroutes ? m->routes[k] : "unmatched");
        for (int i = 0; i <= N_HTTP_LE; i++)
            i < N_HTTP_LE
                ? fprintf(f, "quantd_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
                          labels, http_le[i], r->le[i])
                : fprintf(f, "quantd_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
                          labels, r->le[i]);
        fprintf(f, "quantd_http_request_duration_seconds_sum{%s} %.6f\n", labels, r->sum);
        fprintf(f, "quantd_http_request_duration_seconds_count{%s} %llu\n", labels, r->n);
    }
}

static void write_jobs(metrics *m, FILE *f)
{
    fputs("# HELP quantd_job_duration_seconds Run time of jobs that ended since the daemon "
          "started, by kind and final state.\n"
          "# TYPE quantd_job_duration_seconds histogram\n", f);
    for (int k = 0; k < m->njobs; k++) {
        const job_series *j = &m->jobs[k];
        for (int i = 0; i <= N_JOB_LE; i++) {
            char le[32];
            i < N_JOB_LE ? snprintf(le, sizeof le, "%g", job_le[i]) : snprintf(le, sizeof le, "+Inf");
            fprintf(f, "quantd_job_duration_seconds_bucket{kind=\"%s\",state=\"%s\",le=\"%s\"} %llu\n",
                    j->kind, j->state, le, j->le[i]);
        }
        fprintf(f, "quantd_job_duration_seconds_sum{kind=\"%s\",state=\"%s\"} %.3f\n", j->kind,
                j->state, j->sum);
        fprintf(f, "quantd_job_duration_seconds_count{kind=\"%s\",state=\"%s\"} %llu\n", j->kind,
                j->state, j->n);
    }
}

void metrics_write(metrics *m, FILE *f)
{
    pthread_mutex_lock(&m->mu);
    write_http(m, f);
    write_jobs(m, f);
    pthread_mutex_unlock(&m->mu);
}
