/*
 * check_daemon_search.c: search jobs through the daemon. A uniform search from a float train
 * job shows its finished candidates while it runs (the job's "partial", progress "candidates
 * done of total", the Pareto points); killed with the daemon (kill -9) mid-search, it resumes
 * at the next start without redoing its finished candidates and ends with every candidate; the
 * Pareto API lists train jobs and candidates with their method and format, filters by data
 * set, model and job, marks the front for each x, and refuses an unknown x. The daemon refuses
 * a search whose base is a file or a job it does not know.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/check_main.h"
#include "tests/daemon_util.h"

static const char *const ONE_WORKER[] = {"--workers", "1", NULL};

#define FLOAT_JOB                                                                                  \
    "{\"kind\": \"train\", \"name\": \"base\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "   \
    "\"epochs\": 2, \"subset\": {\"train\": 1024, \"test\": 256}}"

/* four candidates, two epochs each: long enough to be caught between candidates */
#define SEARCH_JOB                                                                                 \
    "{\"kind\": \"search\", \"name\": \"s\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "     \
    "\"method\": \"uniform\", \"base\": {\"job\": \"%s\"}, \"space\": {\"weight_bits\": [2, 8], "  \
    "\"activation_bits\": [4, 8]}, \"budgets\": {\"total_bytes\": [100000, 300000]}, "             \
    "\"finetune_epochs\": 2, \"subset\": {\"train\": 2048, \"test\": 256}}"

/* Waits until the running search reports at least n finished candidates; returns the job. */
static json_t *wait_candidates(const dt_daemon *d, const char *id, int n)
{
    for (int i = 0; i < 6000; i++, usleep(10000)) {
        json_t *j = dt_job(d, id);
        json_t *p = json_object_get(j, "partial");
        if (strcmp(dt_str(j, "state"), "running") == 0 && json_is_object(p) &&
            json_integer_value(json_object_get(p, "done")) >= n)
            return j;
        ck_assert_msg(strcmp(dt_str(j, "state"), "succeeded") != 0,
                      "the search ended before it was caught running");
        json_decref(j);
    }
    ck_abort_msg("search %s did not finish %d candidates", id, n);
    return NULL;
}

static json_t *pareto(const dt_daemon *d, const char *query, long status)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/pareto%s", query);
    return dt_get(d, path, NULL, status);
}

/* Every point marked front is undominated over x, and every other point is dominated. */
static void check_front(json_t *p, const char *x)
{
    json_t *pts = json_object_get(p, "points");
    size_t n = json_array_size(pts), marked = 0;
    ck_assert_str_eq(dt_str(p, "x"), x);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(pts, i);
        double ca = strcmp(x, "bitops") ? dt_num(json_object_get(a, "memory"), x)
                                        : dt_num(a, "bitops");
        int dominated = 0;
        for (size_t j = 0; j < n && !dominated; j++) {
            json_t *b = json_array_get(pts, j);
            double cb = strcmp(x, "bitops") ? dt_num(json_object_get(b, "memory"), x)
                                            : dt_num(b, "bitops");
            double aa = dt_num(a, "test_accuracy"), ab = dt_num(b, "test_accuracy");
            dominated = j != i && cb <= ca && ab >= aa && (cb < ca || ab > aa);
        }
        ck_assert_int_eq(json_is_true(json_object_get(a, "front")), !dominated);
        marked += !dominated;
    }
    ck_assert_int_eq(json_array_size(json_object_get(p, "front")), marked);
}

START_TEST(search_survives_kill9_and_feeds_the_pareto_api)
{
    char *dir = dt_tempdir(), base[32], id[32], spec[1024];
    dt_daemon d;
    dt_start(&d, dir, ONE_WORKER);
    dt_submit(&d, FLOAT_JOB, NULL, base);
    json_decref(dt_wait(&d, base, NULL, "succeeded", 120));
    snprintf(spec, sizeof spec, SEARCH_JOB, base);
    dt_submit(&d, spec, NULL, id);

    /* running: a finished candidate is visible in the job, its progress and the points */
    json_t *j = wait_candidates(&d, id, 1);
    json_t *partial = json_object_get(j, "partial");
    ck_assert_int_eq((int)dt_num(partial, "total"), 4);
    int done = (int)dt_num(partial, "done");
    double first_secs = dt_num(json_array_get(json_object_get(partial, "candidates"), 0), "seconds");
    char q[128];
    snprintf(q, sizeof q, "?job=%s", id);
    json_t *p = pareto(&d, q, 200);
    ck_assert_int_ge(json_array_size(json_object_get(p, "points")), 1);
    json_decref(p);
    json_decref(j);

    ck_assert_int_eq(dt_stop(&d, SIGKILL), 128 + SIGKILL);
    dt_start(&d, dir, ONE_WORKER);
    j = dt_wait(&d, id, NULL, "succeeded", 240);
    json_t *res = json_object_get(j, "result"), *cands = json_object_get(res, "candidates");
    ck_assert_int_eq(json_array_size(cands), 4);
    ck_assert_int_eq((int)dt_num(j, "crashes"), 1);
    ck_assert(json_is_null(json_object_get(j, "partial")));
    /* not redone: the first candidate is the one timed before the crash */
    ck_assert_double_eq(dt_num(json_array_get(cands, 0), "seconds"), first_secs);
    ck_assert_int_ge(done, 1);
    json_t *bs = json_object_get(res, "budgets");
    ck_assert_int_eq(json_array_size(bs), 2);
    ck_assert(json_is_integer(json_object_get(json_array_get(bs, 1), "recommended")));
    json_decref(j);

    /* every point of the team: the train job and the four candidates */
    p = pareto(&d, "?dataset=synthetic&model=mlp", 200);
    json_t *pts = json_object_get(p, "points");
    ck_assert_int_eq(json_array_size(pts), 5);
    json_t *t = json_array_get(pts, 0), *c3 = json_array_get(pts, 4);
    ck_assert_str_eq(dt_str(t, "job"), base);
    ck_assert(json_is_null(json_object_get(t, "candidate")));
    ck_assert_str_eq(dt_str(t, "method"), "float");
    ck_assert_str_eq(dt_str(t, "format"), "float");
    ck_assert_str_eq(dt_str(c3, "job"), id);
    ck_assert_int_eq((int)dt_num(c3, "candidate"), 3);
    ck_assert_str_eq(dt_str(c3, "method"), "search:uniform");
    ck_assert_str_eq(dt_str(c3, "format"), "int8");
    ck_assert_str_eq(dt_str(json_array_get(pts, 1), "format"), "w2a4");
    ck_assert_str_eq(dt_str(c3, "dataset"), "synthetic");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(c3, "memory"), "activation_bytes"));
    check_front(p, "total_bytes");
    json_decref(p);
    static const char *const xs[] = {"weight_bytes", "bitops"};
    for (int i = 0; i < 2; i++) {
        snprintf(q, sizeof q, "?dataset=synthetic&x=%s", xs[i]);
        p = pareto(&d, q, 200);
        check_front(p, xs[i]);
        json_decref(p);
    }
    /* filters */
    snprintf(q, sizeof q, "?job=%s", id);
    p = pareto(&d, q, 200);
    ck_assert_int_eq(json_array_size(json_object_get(p, "points")), 4);
    json_decref(p);
    snprintf(q, sizeof q, "?job=%s", base);
    p = pareto(&d, q, 200);
    ck_assert_int_eq(json_array_size(json_object_get(p, "points")), 1);
    json_decref(p);
    p = pareto(&d, "?model=lenet5", 200);
    ck_assert_int_eq(json_array_size(json_object_get(p, "points")), 0);
    json_decref(p);
    p = pareto(&d, "?dataset=cifar10", 200);
    ck_assert_int_eq(json_array_size(json_object_get(p, "points")), 0);
    json_decref(p);
    dt_resp r = dt_request(&d, "GET", "/api/v1/pareto?x=params", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(dt_str(json_object_get(r.json, "error"), "field"), "x");
    dt_resp_free(&r);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

START_TEST(bad_bases_are_refused)
{
    char *dir = dt_tempdir();
    dt_daemon d;
    dt_start(&d, dir, ONE_WORKER);
    static const struct {
        const char *base, *field;
    } cases[] = {{"{\"checkpoint\": \"/etc/passwd\"}", "base.checkpoint"},
                 {"{\"job\": \"0123456789abcdef\"}", "base.job"},
                 {"{\"job\": \"../x\"}", "base.job"}};
    for (int i = 0; i < 3; i++) {
        char spec[512];
        snprintf(spec, sizeof spec,
                 "{\"kind\": \"search\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "
                 "\"method\": \"uniform\", \"base\": %s}",
                 cases[i].base);
        dt_resp r = dt_request(&d, "POST", "/api/v1/jobs", (const char *const[]){
                                   "Content-Type: application/json", NULL}, spec,
                               (long)strlen(spec));
        ck_assert_int_eq(r.status, 422);
        ck_assert_str_eq(dt_str(json_object_get(r.json, "error"), "field"), cases[i].field);
        dt_resp_free(&r);
    }
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

static Suite *daemon_search_suite(void)
{
    Suite *s = suite_create("daemon_search");
    TCase *t = tcase_create("search");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, search_survives_kill9_and_feeds_the_pareto_api);
    tcase_add_test(t, bad_bases_are_refused);
    suite_add_tcase(s, t);
    return s;
}

QD_CHECK_MAIN(daemon_search_suite)
