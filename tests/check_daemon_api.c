/*
 * check_daemon_api.c: the REST API of `quantd serve` as DESIGN.md and schema/openapi.yaml state it,
 * against the real daemon on a loopback port: submit, get and list (filters, cursor paging),
 * cancel in each state, server-sent events, per-epoch metrics, artifacts with size and
 * SHA-256, idempotency keys, priorities, retries with back-off, deadlines, models, data sets,
 * the Pareto front, /healthz and the Prometheus text of /metrics.
 *
 * One daemon (one worker, one thread per job) serves each test case; jobs are small
 * `synthetic` runs of a fraction of a second.
 */
#include <check.h>
#include <openssl/evp.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/check_main.h"
#include "tests/daemon_util.h"

static const char *const JSON_CT[] = {"Content-Type: application/json", NULL};

static dt_daemon D;

static void start_default(void) { dt_start_fresh(&D, NULL); }
static void stop_default(void) { dt_finish(&D); }

static long post(const char *path, const char *const *headers, const char *body, json_t **out)
{
    dt_resp r = dt_request(&D, "POST", path, headers, body, body ? -1 : 0);
    long st = r.status;
    if (out)
        *out = json_incref(r.json);
    dt_resp_free(&r);
    return st;
}

static long cancel(const char *id, json_t **out)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/cancel", id);
    return post(path, NULL, NULL, out);
}

/* ---- submit, get, list ---- */

START_TEST(submitted_job_runs_and_reports_its_result)
{
    dt_resp r = dt_request(&D, "POST", "/api/v1/jobs", JSON_CT, DT_SMALL_JOB, -1);
    ck_assert_int_eq(r.status, 201);
    const char *id = dt_str(r.json, "id");
    char expect[64];
    snprintf(expect, sizeof expect, "/api/v1/jobs/%s", id);
    ck_assert_str_eq(r.location, expect);
    ck_assert_str_eq(dt_str(r.json, "kind"), "train");
    ck_assert_str_eq(dt_str(r.json, "name"), "small");
    ck_assert_int_eq(strlen(id), 16);
    json_t *j = dt_wait(&D, id, NULL, "succeeded", 60);
    json_t *res = json_object_get(j, "result");
    double acc = dt_num(res, "test_accuracy");
    ck_assert(acc >= 0.0 && acc <= 1.0);
    json_t *mem = json_object_get(res, "memory");
    ck_assert_double_eq(dt_num(mem, "total_bytes"),
                        dt_num(mem, "weight_bytes") + dt_num(mem, "activation_bytes"));
    ck_assert_int_eq(json_array_size(json_object_get(res, "history")), 2);
    ck_assert_int_gt(json_array_size(json_object_get(res, "layers")), 0);
    ck_assert_int_eq((int)dt_num(j, "attempts"), 1);
    json_t *tr = json_object_get(j, "transitions");
    ck_assert_int_eq(json_array_size(tr), 3);
    const char *states[] = {"queued", "running", "succeeded"};
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(dt_str(json_array_get(tr, (size_t)i), "state"), states[i]);
    ck_assert_int_eq(json_array_size(json_object_get(j, "errors")), 0);
    ck_assert_str_eq(dt_str(json_object_get(j, "spec"), "dataset"), "synthetic");
    json_decref(j);
    dt_resp_free(&r);
}
END_TEST

START_TEST(list_filters_and_pages_newest_first)
{
    char ids[5][32], spec[256];
    for (int i = 0; i < 5; i++) {
        snprintf(spec, sizeof spec,
                 "{\"name\": \"page\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "
                 "\"epochs\": 1, \"subset\": {\"train\": 256, \"test\": 128}, \"seed\": %d}",
                 i + 1);
        dt_submit(&D, spec, NULL, ids[i]);
    }
    /* pages of two, by name: the five jobs, newest first, each once */
    char path[256], cursor[64] = "";
    int seen = 0;
    for (int page = 0; page < 4; page++) {
        snprintf(path, sizeof path, "/api/v1/jobs?name=page&limit=2%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        json_t *l = dt_get(&D, path, NULL, 200);
        json_t *jobs = json_object_get(l, "jobs"), *next = json_object_get(l, "next_cursor");
        for (size_t i = 0; i < json_array_size(jobs); i++, seen++)
            ck_assert_str_eq(dt_str(json_array_get(jobs, i), "id"), ids[4 - seen]);
        ck_assert(json_object_get(json_array_get(jobs, 0), "result") == NULL);
        int more = json_is_string(next);
        if (more)
            snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(l);
        if (!more)
            break;
    }
    ck_assert_int_eq(seen, 5);
    for (int i = 0; i < 5; i++)
        json_decref(dt_wait(&D, ids[i], NULL, "succeeded", 60));
    json_t *l = dt_get(&D, "/api/v1/jobs?state=succeeded&kind=train&name=page", NULL, 200);
    ck_assert_int_eq(json_array_size(json_object_get(l, "jobs")), 5);
    json_decref(l);
    l = dt_get(&D, "/api/v1/jobs?state=queued&name=page", NULL, 200);
    ck_assert_int_eq(json_array_size(json_object_get(l, "jobs")), 0);
    ck_assert(json_is_null(json_object_get(l, "next_cursor")));
    json_decref(l);
}
END_TEST

/* ---- cancel ---- */

START_TEST(cancel_in_each_state)
{
    char running[32], queued[32], done[32];
    dt_submit(&D, DT_SMALL_JOB, NULL, done);
    json_decref(dt_wait(&D, done, NULL, "succeeded", 60));
    dt_submit(&D, DT_LONG_JOB, NULL, running);
    dt_submit(&D, DT_SMALL_JOB, NULL, queued);
    json_decref(dt_wait(&D, running, NULL, "running", 60));
    json_t *o;
    /* queued: cancelled at once and never starts */
    ck_assert_int_eq(cancel(queued, &o), 200);
    ck_assert_str_eq(dt_str(o, "state"), "cancelled");
    json_decref(o);
    /* running: accepted, stops at the next step */
    ck_assert_int_eq(cancel(running, &o), 202);
    ck_assert(json_is_true(json_object_get(o, "cancel_requested")));
    json_decref(o);
    json_t *j = dt_wait(&D, running, NULL, "cancelled", 60);
    ck_assert(json_is_null(json_object_get(j, "result")));
    json_decref(j);
    /* finished: a conflict */
    ck_assert_int_eq(cancel(running, &o), 409);
    ck_assert_str_eq(dt_str(json_object_get(o, "error"), "code"), "conflict");
    json_decref(o);
    ck_assert_int_eq(cancel(done, NULL), 409);
    ck_assert_int_eq(cancel("0123456789abcdef", NULL), 404);
    usleep(300000);
    j = dt_job(&D, queued);
    ck_assert_str_eq(dt_str(j, "state"), "cancelled");
    ck_assert(json_is_null(json_object_get(j, "started_at")));
    ck_assert_int_eq((int)dt_num(j, "attempts"), 0);
    json_decref(j);
}
END_TEST

/* ---- events ---- */

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

START_TEST(events_stream_the_run_and_end_with_its_state)
{
    char blocker[32], id[32];
    dt_submit(&D, DT_LONG_JOB, NULL, blocker);
    json_decref(dt_wait(&D, blocker, NULL, "running", 60));
    dt_submit(&D, DT_SMALL_JOB, NULL, id);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/events", id);
    dt_stream s;
    /* the stream is open, and has said "queued", before the job can start */
    dt_stream_open(&s, &D, path, NULL, "\"state\":\"queued\"");
    ck_assert_int_eq(cancel(blocker, NULL), 202);
    dt_stream_join(&s);
    ck_assert_ptr_nonnull(s.text);
    ck_assert_msg(strncmp(s.text, "retry: ", 7) == 0, "stream: %s", s.text);
    ck_assert_int_eq(count(s.text, "event: epoch\n"), 2);
    ck_assert_int_eq(count(s.text, "event: artifact\n"), 1);
    ck_assert_int_ge(count(s.text, "event: state\n"), 3); /* queued, running, succeeded */
    ck_assert_ptr_nonnull(strstr(s.text, "\"state\":\"queued\""));
    ck_assert_ptr_nonnull(strstr(s.text, "\"state\":\"running\""));
    const char *last = strstr(s.text, "\"state\":\"succeeded\"");
    ck_assert_ptr_nonnull(last);
    ck_assert_ptr_null(strstr(last, "event: "));  /* nothing after the final state */
    dt_stream_free(&s);
    /* a finished job: its state, then the end */
    dt_resp f = dt_request(&D, "GET", path, NULL, NULL, 0);
    ck_assert_int_eq(f.status, 200);
    ck_assert_int_eq(count(f.body, "event: "), 1);
    ck_assert_ptr_nonnull(strstr(f.body, "\"state\":\"succeeded\""));
    dt_resp_free(&f);
}
END_TEST

/* ---- metrics ---- */

START_TEST(epoch_metrics_match_the_result_history)
{
    char id[32], path[128];
    dt_submit(&D, DT_SMALL_JOB, NULL, id);
    json_t *j = dt_wait(&D, id, NULL, "succeeded", 60);
    snprintf(path, sizeof path, "/api/v1/jobs/%s/metrics", id);
    json_t *m = dt_get(&D, path, NULL, 200);
    json_t *epochs = json_object_get(m, "epochs");
    json_t *hist = json_object_get(json_object_get(j, "result"), "history");
    ck_assert_int_eq(json_array_size(epochs), 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq((int)dt_num(json_array_get(epochs, i), "epoch"), (int)i + 1);
        ck_assert_double_eq(dt_num(json_array_get(epochs, i), "train_loss"),
                            dt_num(json_array_get(hist, i), "train_loss"));
    }
    json_decref(m);
    json_decref(j);
}
END_TEST

static int valid_sample(const char *line, char *family, size_t cap)
{
    regex_t re;
    regmatch_t mt[2];
    regcomp(&re, "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\",?)*\\})? "
                 "[-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)$",
            REG_EXTENDED);
    int ok = regexec(&re, line, 2, mt, 0) == 0;
    regfree(&re);
    if (ok)
        snprintf(family, cap, "%.*s", (int)(mt[1].rm_eo - mt[1].rm_so), line + mt[1].rm_so);
    return ok;
}

START_TEST(prometheus_metrics_parse_and_count_the_jobs)
{
    char id[32];
    dt_submit(&D, DT_SMALL_JOB, NULL, id);
    json_decref(dt_wait(&D, id, NULL, "succeeded", 60));
    dt_resp r = dt_request(&D, "GET", "/metrics", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.ctype, "text/plain"));
    char typed[4096] = " ", *save = NULL, family[128];
    int samples = 0;
    for (char *line = strtok_r(r.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], type[32];
        if (sscanf(line, "# TYPE %127s %31s", name, type) == 2) {
            ck_assert_msg(strstr("counter gauge histogram", type), "type %s", type);
            strncat(typed, name, sizeof typed - strlen(typed) - 2);
            strcat(typed, " ");
            continue;
        }
        if (line[0] == '#')
            continue;
        ck_assert_msg(valid_sample(line, family, sizeof family), "bad sample line: %s", line);
        char *suffix = strstr(family, "_bucket");
        if (!suffix)
            suffix = strstr(family, "_sum");
        if (!suffix)
            suffix = strstr(family, "_count");
        char key[140];
        snprintf(key, sizeof key, " %.*s ", (int)(suffix ? suffix - family : (long)strlen(family)),
                 family);
        ck_assert_msg(strstr(typed, key) || strstr(typed, family), "no TYPE before %s", line);
        samples++;
    }
    ck_assert_int_gt(samples, 10);
    dt_resp_free(&r);
    r = dt_request(&D, "GET", "/metrics", NULL, NULL, 0);
    json_t *l = dt_get(&D, "/api/v1/jobs?state=succeeded&limit=1000", NULL, 200);
    char want[128];
    snprintf(want, sizeof want, "quantd_jobs{state=\"succeeded\"} %zu\n",
             json_array_size(json_object_get(l, "jobs")));
    ck_assert_msg(strstr(r.body, want), "no \"%s\" in /metrics", want);
    ck_assert_ptr_nonnull(
        strstr(r.body, "quantd_http_requests_total{method=\"POST\",route=\"/api/v1/jobs\",code=\"201\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "quantd_job_duration_seconds_count{kind=\"train\","
                                         "state=\"succeeded\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "quantd_queue_depth 0\n"));
    json_decref(l);
    dt_resp_free(&r);
}
END_TEST

/* ---- artifacts ---- */

START_TEST(artifacts_have_size_and_sha256_of_their_bytes)
{
    char id[32], path[160];
    dt_submit(&D, DT_SMALL_JOB, NULL, id);
    json_decref(dt_wait(&D, id, NULL, "succeeded", 60));
    snprintf(path, sizeof path, "/api/v1/jobs/%s/artifacts", id);
    json_t *l = dt_get(&D, path, NULL, 200);
    json_t *a = json_array_get(json_object_get(l, "artifacts"), 0);
    ck_assert_str_eq(dt_str(a, "name"), "model.qdc");
    snprintf(path, sizeof path, "/api/v1/jobs/%s/artifacts/model.qdc", id);
    ck_assert_str_eq(dt_str(a, "url"), path);
    dt_resp r = dt_request(&D, "GET", path, NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((long)r.len, (long)dt_num(a, "size"));
    unsigned char md[32];
    unsigned int n;
    char hex[65];
    EVP_Digest(r.body, r.len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    ck_assert_str_eq(hex, dt_str(a, "sha256"));
    dt_resp_free(&r);
    json_decref(l);
}
END_TEST

/* ---- idempotency and priorities ---- */

START_TEST(idempotency_key_returns_the_same_job)
{
    const char *h1[] = {"Content-Type: application/json", "Idempotency-Key: key-1", NULL};
    const char *h2[] = {"Content-Type: application/json", "Idempotency-Key: key-2", NULL};
    json_t *a, *b;
    ck_assert_int_eq(post("/api/v1/jobs", h1, DT_SMALL_JOB, &a), 201);
    /* the same request again, spaced differently: the same job, 200 */
    char spaced[512];
    snprintf(spaced, sizeof spaced, "  %s\n", DT_SMALL_JOB);
    ck_assert_int_eq(post("/api/v1/jobs", h1, spaced, &b), 200);
    ck_assert_str_eq(dt_str(a, "id"), dt_str(b, "id"));
    json_decref(b);
    /* another body, or the same body with another priority, under the same key: 422 */
    ck_assert_int_eq(post("/api/v1/jobs", h1, "{\"dataset\": \"synthetic\", \"model\": \"mlp\"}",
                          &b), 422);
    ck_assert_str_eq(dt_str(json_object_get(b, "error"), "code"), "idempotency_key_reused");
    json_decref(b);
    ck_assert_int_eq(post("/api/v1/jobs?priority=3", h1, DT_SMALL_JOB, NULL), 422);
    /* another key: another job */
    ck_assert_int_eq(post("/api/v1/jobs", h2, DT_SMALL_JOB, &b), 201);
    ck_assert_str_ne(dt_str(a, "id"), dt_str(b, "id"));
    json_decref(a);
    json_decref(b);
}
END_TEST

START_TEST(jobs_start_by_priority_then_age)
{
    char blocker[32], low1[32], high[32], low2[32];
    dt_submit(&D, DT_LONG_JOB, NULL, blocker);
    json_decref(dt_wait(&D, blocker, NULL, "running", 60));
    dt_submit(&D, DT_SMALL_JOB, NULL, low1);
    json_t *o;
    ck_assert_int_eq(post("/api/v1/jobs?priority=5", JSON_CT, DT_SMALL_JOB, &o), 201);
    snprintf(high, sizeof high, "%s", dt_str(o, "id"));
    ck_assert_int_eq((int)dt_num(o, "priority"), 5);
    json_decref(o);
    dt_submit(&D, DT_SMALL_JOB, NULL, low2);
    ck_assert_int_eq(cancel(blocker, NULL), 202);
    json_t *jl1 = dt_wait(&D, low1, NULL, "succeeded", 60),
           *jh = dt_wait(&D, high, NULL, "succeeded", 60),
           *jl2 = dt_wait(&D, low2, NULL, "succeeded", 60);
    /* RFC 3339 times of one format compare as strings */
    ck_assert_str_lt(dt_str(jh, "started_at"), dt_str(jl1, "started_at"));
    ck_assert_str_lt(dt_str(jl1, "started_at"), dt_str(jl2, "started_at"));
    json_decref(jl1);
    json_decref(jh);
    json_decref(jl2);
}
END_TEST

/* ---- retries and deadlines (own daemon) ---- */

START_TEST(failing_attempts_retry_with_backoff_then_fail)
{
    char *dir = dt_tempdir(), sets[300], broken[340], id[32];
    snprintf(sets, sizeof sets, "%s/sets", dir);
    snprintf(broken, sizeof broken, "%s/sets/broken", dir);
    ck_assert_int_eq(mkdir(sets, 0755), 0);
    ck_assert_int_eq(mkdir(broken, 0755), 0);
    const char *args[] = {"--datasets", sets, "--retry-backoff", "0.2", "--max-attempts", "3",
                          NULL};
    dt_daemon d;
    dt_start(&d, dir, args);
    dt_submit(&d, "{\"dataset\": \"broken\", \"model\": \"mlp\"}", NULL, id);
    json_t *j = dt_wait(&d, id, NULL, "final", 60);
    ck_assert_str_eq(dt_str(j, "state"), "failed");
    ck_assert_int_eq((int)dt_num(j, "attempts"), 3);
    json_t *errors = json_object_get(j, "errors");
    ck_assert_int_eq(json_array_size(errors), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq((int)dt_num(json_array_get(errors, i), "attempt"), (int)i + 1);
    int retries = 0;
    json_t *tr = json_object_get(j, "transitions"), *t;
    size_t i;
    json_array_foreach(tr, i, t) retries += strcmp(dt_str(t, "reason"), "retry") == 0;
    ck_assert_int_eq(retries, 2);
    /* the back-off doubles: 0.2 s then 0.4 s between the attempts */
    json_decref(j);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

START_TEST(deadline_fails_running_and_queued_jobs)
{
    char *dir = dt_tempdir();
    const char *args[] = {"--workers", "1", NULL};
    dt_daemon d;
    dt_start(&d, dir, args);
    /* a running job with a 3 s deadline; behind it a queued job with a 1 s deadline */
    const char *long_job = "{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 500, "
                           "\"subset\": {\"train\": 4096, \"test\": 256}}";
    dt_resp a = dt_request(&d, "POST", "/api/v1/jobs?deadline=3", JSON_CT, long_job, -1);
    ck_assert_int_eq(a.status, 201);
    json_decref(dt_wait(&d, dt_str(a.json, "id"), NULL, "running", 60));
    dt_resp b = dt_request(&d, "POST", "/api/v1/jobs?deadline=1", JSON_CT, DT_SMALL_JOB, -1);
    ck_assert_int_eq(b.status, 201);
    ck_assert(json_is_string(json_object_get(a.json, "deadline")));
    json_t *jb = dt_wait(&d, dt_str(b.json, "id"), NULL, "final", 60);
    json_t *ja = dt_wait(&d, dt_str(a.json, "id"), NULL, "final", 60);
    ck_assert_str_eq(dt_str(ja, "state"), "failed");
    ck_assert_str_eq(dt_str(jb, "state"), "failed");
    ck_assert_str_eq(dt_str(json_array_get(json_object_get(ja, "errors"), 0), "code"),
                     "deadline_exceeded");
    ck_assert_str_eq(dt_str(json_array_get(json_object_get(jb, "errors"), 0), "code"),
                     "deadline_exceeded");
    ck_assert(json_is_string(json_object_get(ja, "started_at")));
    ck_assert(json_is_null(json_object_get(jb, "started_at")));
    json_decref(ja);
    json_decref(jb);
    dt_resp_free(&a);
    dt_resp_free(&b);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

/* ---- the other resources ---- */

START_TEST(models_datasets_health_and_pareto)
{
    json_t *m = dt_get(&D, "/api/v1/models", NULL, 200);
    int mlp = 0;
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(m, "models"), i, v) mlp |= !strcmp(dt_str(v, "name"), "mlp");
    ck_assert(mlp);
    json_decref(m);
    json_t *ds = dt_get(&D, "/api/v1/datasets", NULL, 200);
    json_t *syn = json_array_get(json_object_get(ds, "datasets"), 0);
    ck_assert_str_eq(dt_str(syn, "name"), "synthetic");
    ck_assert(json_is_true(json_object_get(syn, "available")));
    json_decref(ds);
    json_t *h = dt_get(&D, "/healthz", NULL, 200);
    ck_assert_str_eq(dt_str(h, "status"), "ok");
    ck_assert_int_eq((int)dt_num(h, "schema_version"), 3);
    json_decref(h);
    char a[32], b[32];
    dt_submit(&D, DT_SMALL_JOB, NULL, a);
    dt_submit(&D, "{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 1, \"subset\": "
                  "{\"train\": 256, \"test\": 128}, \"quant\": {\"method\": \"qat\", "
                  "\"weights\": {\"bits\": 4}, \"activations\": {\"bits\": 4}}}",
              NULL, b);
    json_decref(dt_wait(&D, a, NULL, "succeeded", 60));
    json_decref(dt_wait(&D, b, NULL, "succeeded", 60));
    json_t *p = dt_get(&D, "/api/v1/pareto?dataset=synthetic", NULL, 200);
    json_t *pts = json_object_get(p, "points"), *front = json_object_get(p, "front");
    size_t n = json_array_size(pts);
    ck_assert_int_ge(n, 2);
    ck_assert_int_ge(json_array_size(front), 1);
    /* no point on the front is dominated by any point */
    json_array_foreach(front, i, v)
    {
        json_t *f = json_array_get(pts, (size_t)json_integer_value(v));
        double fm = dt_num(json_object_get(f, "memory"), "total_bytes"), fa = dt_num(f, "test_accuracy");
        for (size_t k = 0; k < n; k++) {
            json_t *q = json_array_get(pts, k);
            double qm = dt_num(json_object_get(q, "memory"), "total_bytes"), qa = dt_num(q, "test_accuracy");
            ck_assert(!(qm <= fm && qa >= fa && (qm < fm || qa > fa)));
        }
    }
    json_decref(p);
}
END_TEST

static Suite *daemon_suite(void)
{
    Suite *s = suite_create("daemon");
    TCase *api = tcase_create("api");
    tcase_add_unchecked_fixture(api, start_default, stop_default);
    tcase_set_timeout(api, 120);
    tcase_add_test(api, submitted_job_runs_and_reports_its_result);
    tcase_add_test(api, list_filters_and_pages_newest_first);
    tcase_add_test(api, cancel_in_each_state);
    tcase_add_test(api, events_stream_the_run_and_end_with_its_state);
    tcase_add_test(api, epoch_metrics_match_the_result_history);
    tcase_add_test(api, prometheus_metrics_parse_and_count_the_jobs);
    tcase_add_test(api, artifacts_have_size_and_sha256_of_their_bytes);
    tcase_add_test(api, idempotency_key_returns_the_same_job);
    tcase_add_test(api, jobs_start_by_priority_then_age);
    tcase_add_test(api, models_datasets_health_and_pareto);
    suite_add_tcase(s, api);
    TCase *own = tcase_create("own daemon");
    tcase_set_timeout(own, 120);
    tcase_add_test(own, failing_attempts_retry_with_backoff_then_fail);
    tcase_add_test(own, deadline_fails_running_and_queued_jobs);
    suite_add_tcase(s, own);
    return s;
}

QD_CHECK_MAIN(daemon_suite)
