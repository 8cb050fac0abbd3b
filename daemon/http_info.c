/*
 * http_info.c: the read-only resources beside the jobs: GET /api/v1/pareto (every evaluated
 * model of the team: train jobs and search candidates, the front over the chosen x marked by
 * the core's one Pareto function), /api/v1/models,
 * /api/v1/datasets, /healthz (no token needed: for load balancers and container health checks)
 * and /metrics (Prometheus text format: jobs by state, queue depth, workers, images/s of the
 * running jobs, then the HTTP and job-duration series of metrics.c). /metrics counts and names
 * every team's jobs, so where tokens are in use it takes an admin token only (403 otherwise).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "http.h"
#include "jobs/result.h"
#include "core/pareto.h"
#include "qtime.h"
#include "sched.h"

enum MHD_Result http_info_health(http_req *r)
{
    qd_app *a = r->app;
    return http_json(r, 200, json_pack("{s:s, s:s, s:f, s:i}", "status", "ok", "version",
                                       QUANTD_VERSION, "uptime_seconds",
                                       (qtime_now_ms() - a->started_ms) / 1000.0,
                                       "schema_version", store_schema_version(a->st)));
}

enum MHD_Result http_info_models(http_req *r)
{
    json_t *m = catalog_models(r->app->cfg);
    return m ? http_json(r, 200, json_pack("{s:o}", "models", m))
             : http_error(r, QD_ENOMEM, "", "out of memory");
}

enum MHD_Result http_info_datasets(http_req *r)
{
    return http_json(r, 200, json_pack("{s:o}", "datasets", catalog_datasets(r->app->cfg)));
}

/* ---- GET /api/v1/pareto ---- */

static const char *const pareto_x[] = {"total_bytes", "weight_bytes", "bitops", NULL};

/* A store row as the API gives it: memory grouped, method and format named, helpers dropped.
 * The method of a train job is its quant.method ("none" reads "float"); a candidate's is
 * "search:<method>". Results older than the "format" field get it from their layers. */
static void pareto_point(json_t *p)
{
    static const char *const mem[] = {"weight_bytes", "activation_bytes", "total_bytes"};
    json_t *memory = json_object();
    for (int i = 0; i < 3; i++) {
        json_object_set(memory, mem[i], json_object_get(p, mem[i]));
        json_object_del(p, mem[i]);
    }
    json_object_set_new(p, "memory", memory);
    const char *m = json_string_value(json_object_get(p, "method"));
    if (!m || strcmp(m, "none") == 0)
        json_object_set_new(p, "method", json_string("float"));
    if (!json_is_string(json_object_get(p, "format"))) {
        char buf[64];
        int edges = json_integer_value(json_object_get(p, "first_last_bits")) > 0;
        json_object_set_new(p, "format", json_string(result_format_label(
                                             json_object_get(p, "layers"), edges, buf, sizeof buf)));
    }
    json_object_del(p, "layers");
    json_object_del(p, "first_last_bits");
}

/* The x of point p: one of pareto_x. */
static double pareto_cost(const json_t *p, int x)
{
    if (x == 2)
        return json_number_value(json_object_get(p, "bitops"));
    return json_number_value(json_object_get(json_object_get(p, "memory"), pareto_x[x]));
}

/* Marks the front of points over x: each point's "front" and the indices, by increasing x. */
static json_t *pareto_mark(json_t *points, int x)
{
    int n = (int)json_array_size(points), k;
    double *cost = malloc(sizeof(double) * (size_t)(n + 1));
    double *acc = malloc(sizeof(double) * (size_t)(n + 1));
    int *front = malloc(sizeof(int) * (size_t)(n + 1));
    json_t *f = NULL;
    if (cost && acc && front) {
        for (int i = 0; i < n; i++) {
            json_t *p = json_array_get(points, (size_t)i);
            cost[i] = pareto_cost(p, x);
            acc[i] = json_number_value(json_object_get(p, "test_accuracy"));
            json_object_set_new(p, "front", json_false());
        }
        if ((k = pareto_front(cost, acc, n, front)) >= 0) {
            f = json_array();
            for (int i = 0; i < k; i++) {
                json_array_append_new(f, json_integer(front[i]));
                json_object_set_new(json_array_get(points, (size_t)front[i]), "front", json_true());
            }
        }
    }
    free(cost), free(acc), free(front);
    return f;
}

enum MHD_Result http_info_pareto(http_req *r)
{
    const char *team = http_query(r, "team"), *xs = http_query(r, "x");
    int x = 0;
    if (team && !r->admin && strcmp(team, r->team) != 0)
        return http_error(r, QD_EFORBIDDEN, "team", "only an admin token reads other teams");
    while (xs && pareto_x[x] && strcmp(xs, pareto_x[x]) != 0)
        x++;
    if (xs && !pareto_x[x])
        return http_error(r, QD_EINVAL, "x", "must be total_bytes, weight_bytes or bitops");
    json_t *points, *p;
    qd_err err = {0};
    if (store_pareto(r->app->st, team ? team : http_visible_team(r), http_query(r, "dataset"),
                     http_query(r, "model"), http_query(r, "job"), &points, &err) < 0)
        return http_error_from(r, &err);
    size_t i;
    json_array_foreach(points, i, p) pareto_point(p);
    json_t *f = pareto_mark(points, x);
    if (!f) {
        json_decref(points);
        return http_error(r, QD_ENOMEM, "", "out of memory");
    }
    return http_json(r, 200, json_pack("{s:o, s:o, s:s}", "points", points, "front", f, "x",
                                       pareto_x[x]));
}

static void write_gauges(qd_app *a, FILE *f, const int64_t counts[JS_COUNT])
{
    fprintf(f, "# HELP quantd_build_info The running quantd.\n# TYPE quantd_build_info gauge\n"
               "quantd_build_info{version=\"%s\",schema=\"%d\"} 1\n",
            QUANTD_VERSION, store_schema_version(a->st));
    fprintf(f, "# HELP quantd_start_time_seconds When the daemon started (Unix time).\n"
               "# TYPE quantd_start_time_seconds gauge\nquantd_start_time_seconds %.3f\n",
            a->started_ms / 1000.0);
    fputs("# HELP quantd_jobs Jobs in the store by state.\n# TYPE quantd_jobs gauge\n", f);
    for (int s = 0; s < JS_COUNT; s++)
        fprintf(f, "quantd_jobs{state=\"%s\"} %lld\n", store_state_name(s), (long long)counts[s]);
    fprintf(f, "# HELP quantd_queue_depth Jobs waiting to run (including retries in back-off).\n"
               "# TYPE quantd_queue_depth gauge\nquantd_queue_depth %lld\n",
            (long long)counts[JS_QUEUED]);
    sched_job_rate run[64];
    int n = sched_running(a->sc, run, 64);
    fprintf(f, "# HELP quantd_workers Worker threads by state.\n# TYPE quantd_workers gauge\n"
               "quantd_workers{state=\"busy\"} %d\nquantd_workers{state=\"idle\"} %d\n",
            n, sched_workers(a->sc) - n);
    fprintf(f, "# HELP quantd_job_threads Threads each job runs on.\n"
               "# TYPE quantd_job_threads gauge\nquantd_job_threads %d\n", a->threads);
    fputs("# HELP quantd_job_images_per_second Training images per second of each running job "
          "(its last epoch).\n# TYPE quantd_job_images_per_second gauge\n", f);
    for (int i = 0; i < n; i++)
        fprintf(f, "quantd_job_images_per_second{job=\"%s\",worker=\"%d\"} %.1f\n", run[i].id,
                run[i].worker, run[i].images_per_second);
}

enum MHD_Result http_info_metrics(http_req *r)
{
    int64_t counts[JS_COUNT];
    qd_err err = {0};
    if (!r->admin) /* the gauges count every team's jobs and name the running ones */
        return http_error(r, QD_EFORBIDDEN, "Authorization",
                          "/metrics shows every team's jobs: it needs an admin token");
    if (store_counts(r->app->st, counts, &err) < 0)
        return http_error_from(r, &err);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return http_error(r, QD_ENOMEM, "", "out of memory");
    write_gauges(r->app, f, counts);
    metrics_write(r->app->mx, f);
    fclose(f);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return http_send(r, 200, resp);
}
