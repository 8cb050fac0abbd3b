/*
 * http_info.c: the read-only resources beside the jobs: GET /api/v1/pareto, /api/v1/models,
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

enum MHD_Result http_info_pareto(http_req *r)
{
    const char *team = http_query(r, "team");
    if (team && !r->admin && strcmp(team, r->team) != 0)
        return http_error(r, QD_EFORBIDDEN, "team", "only an admin token reads other teams");
    json_t *points;
    qd_err err = {0};
    if (store_pareto(r->app->st, team ? team : http_visible_team(r), http_query(r, "dataset"),
                     http_query(r, "model"), &points, &err) < 0)
        return http_error_from(r, &err);
    int n = (int)json_array_size(points);
    double *mem = malloc(sizeof(double) * (size_t)(n + 1)), *acc = malloc(sizeof(double) * (size_t)(n + 1));
    int *front = malloc(sizeof(int) * (size_t)(n + 1));
    int k = mem && acc && front ? 0 : -1;
    for (int i = 0; k == 0 && i < n; i++) {
        json_t *p = json_array_get(points, (size_t)i);
        mem[i] = json_number_value(json_object_get(p, "total_bytes"));
        acc[i] = json_number_value(json_object_get(p, "test_accuracy"));
        json_t *memory = json_pack("{s:O, s:O, s:O}", "weight_bytes",
                                   json_object_get(p, "weight_bytes"), "activation_bytes",
                                   json_object_get(p, "activation_bytes"), "total_bytes",
                                   json_object_get(p, "total_bytes"));
        json_object_del(p, "weight_bytes");
        json_object_del(p, "activation_bytes");
        json_object_del(p, "total_bytes");
        json_object_set_new(p, "memory", memory);
        json_object_set_new(p, "candidate", json_null());
    }
    if (k == 0)
        k = pareto_front(mem, acc, n, front);
    json_t *f = json_array();
    for (int i = 0; i < k; i++)
        json_array_append_new(f, json_integer(front[i]));
    free(mem);
    free(acc);
    free(front);
    if (k < 0) {
        json_decref(points);
        json_decref(f);
        return http_error(r, QD_ENOMEM, "", "out of memory");
    }
    return http_json(r, 200, json_pack("{s:o, s:o}", "points", points, "front", f));
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
