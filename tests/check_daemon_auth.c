/*
 * check_daemon_auth.c: who may call what. Every route of the daemon's route table (read from
 * the linked daemon code through http_route, so a route added there is tried here without a
 * word in this file) is called
 *   - without a token, with a revoked one, a malformed one, a Basic credential, and as HEAD for
 *     a GET route: 401 unauthorized with WWW-Authenticate (public routes: never 401);
 *   - with team beta's token on team alpha's job (every {id} route): 404, exactly as a job that
 *     does not exist, and alpha's job unchanged (a cancel from beta leaves it queued);
 *   - by alpha itself and by an admin: answered (the positive control of each denial).
 * Routes without a job in their path answer per team in their own way (a listing, the Pareto
 * front, /metrics, the event stream of every job); each has its check in cross_team[], and a
 * route of that kind that is not listed there fails the suite with its name.
 *
 * The daemon runs with tokens for alpha, beta, an admin and a revoked alpha token; alpha and
 * beta each have a finished job with an artifact, and alpha has a long job running and one
 * queued behind it (for the cancel route and the event streams).
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/http.h"
#include "tests/check_main.h"
#include "tests/daemon_util.h"

static dt_daemon D;
static dt_tokens T;
static char done_alpha[32], done_beta[32], running_alpha[32], queued_alpha[32];

#define LONG_ALPHA                                                                                 \
    "{\"kind\": \"train\", \"name\": \"long\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "   \
    "\"epochs\": 200, \"subset\": {\"train\": 4096, \"test\": 256}}"

static void start(void)
{
    const char *one[] = {"--workers", "1", NULL};
    dt_start_two_teams(&D, &T, one, done_alpha, done_beta);
    dt_submit(&D, LONG_ALPHA, T.alpha, running_alpha);
    dt_submit(&D, DT_SMALL_JOB, T.alpha, queued_alpha);
    json_decref(dt_wait(&D, running_alpha, T.alpha, "running", 60));
}

static void stop(void) { dt_finish(&D); }

/* ---- requests ---- */

/* method path with the Authorization header auth (NULL: none) and a JSON body (POST: "" when
 * NULL); event streams are read for stream_ms and then dropped (their status kept). */
static dt_resp call(const char *method, const char *path, const char *auth, const char *body,
                    long stream_ms)
{
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    dt_opts o = {.timeout_ms = stream_ms, .stream = stream_ms > 0};
    if (!body && !strcmp(method, "POST"))
        body = "";
    dt_resp r = dt_request_opts(&D, method, path, h, body, -1, &o);
    ck_assert_msg(r.status != 0, "%s %s: no answer", method, path);
    return r;
}

static int www_auth(const dt_resp *r)
{
    char v[256];
    return dt_header(r, "WWW-Authenticate", v, sizeof v)[0] != '\0';
}

static const char *bearer(const char *tok, char *buf, size_t cap)
{
    snprintf(buf, cap, "Authorization: Bearer %s", tok);
    return buf;
}

/* ---- the routes ---- */

typedef struct rt {
    const char *method, *pattern;
    int needs_token, has_id, stream;
    char path[512]; /* the pattern filled with alpha's job (cancel: the queued one) */
} rt;

static int n_routes(void)
{
    const char *p;
    int t, n = 0;
    while (http_route(n, &p, &t))
        n++;
    return n;
}

/* Route i with its path filled in for team alpha. */
static rt route(int i)
{
    rt r = {0};
    r.method = http_route(i, &r.pattern, &r.needs_token);
    ck_assert_ptr_nonnull(r.method);
    r.has_id = strstr(r.pattern, "{id}") != NULL;
    r.stream = strstr(r.pattern, "events") != NULL;
    const char *id = strstr(r.pattern, "/cancel") ? queued_alpha : done_alpha;
    size_t n = 0;
    for (const char *s = r.pattern; *s && n + 40 < sizeof r.path;) {
        const char *fill = !strncmp(s, "{id}", 4) ? id : !strncmp(s, "{name}", 6) ? "model.qdc" : NULL;
        if (fill) {
            n += (size_t)snprintf(r.path + n, sizeof r.path - n, "%s", fill);
            s = strchr(s, '}') + 1;
        } else {
            r.path[n++] = *s++;
        }
    }
    r.path[n] = '\0';
    return r;
}

static const char *body_for(const rt *r)
{
    return !strcmp(r->method, "POST") && !r->has_id ? DT_SMALL_JOB : NULL;
}

static int routes_tried, cases_tried;

/* Each way of calling without a valid token. */
START_TEST(every_route_denies_a_caller_without_a_valid_token)
{
    char buf[128];
    const char *bad[] = {NULL, bearer(T.revoked, buf, sizeof buf), "Authorization: Bearer abc",
                         "Authorization: Basic YWxwaGE6cHc=",
                         "Authorization: Bearer qdt_000000000000000000000000000000000000000000000000",
                         "Authorization: Bearer"};
    const char *why[] = {"no token", "a revoked token", "a malformed token", "Basic",
                         "an unknown token", "an empty Bearer"};
    int n = n_routes();
    for (int i = 0; i < n; i++) {
        rt r = route(i);
        routes_tried++;
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            dt_resp a = call(r.method, r.path, bad[k], body_for(&r), r.stream ? 1500 : 0);
            cases_tried++;
            if (r.needs_token) {
                ck_assert_msg(a.status == 401, "%s %s with %s: %ld, expected 401: %s", r.method,
                              r.pattern, why[k], a.status, a.body);
                ck_assert_msg(strstr(a.body, "\"code\":\"unauthorized\""), "%s %s: %s",
                              r.method, r.pattern, a.body);
                ck_assert_msg(www_auth(&a), "%s %s: no WWW-Authenticate", r.method, r.pattern);
            } else {
                ck_assert_msg(a.status != 401 && a.status != 403, "public %s %s with %s: %ld",
                              r.method, r.pattern, why[k], a.status);
            }
            dt_resp_free(&a);
        }
        if (r.needs_token && !strcmp(r.method, "GET")) {
            dt_resp a = call("HEAD", r.path, NULL, NULL, r.stream ? 1500 : 0);
            cases_tried++;
            ck_assert_msg(a.status == 401, "HEAD %s: %ld", r.pattern, a.status);
            dt_resp_free(&a);
        }
    }
    printf("auth: %d routes tried without a valid token, %d requests\n", routes_tried,
           cases_tried);
}
END_TEST

/* alpha's own token and an admin's are answered on every GET route: the denials above and
 * below are about the token, not a broken path. */
START_TEST(the_owner_and_an_admin_are_answered)
{
    char buf[128];
    int n = n_routes();
    for (int i = 0; i < n; i++) {
        rt r = route(i);
        if (strcmp(r.method, "GET") != 0)
            continue;
        const char *who[] = {bearer(T.alpha, buf, sizeof buf), NULL};
        char admin[128];
        who[1] = bearer(T.admin, admin, sizeof admin);
        for (int k = 0; k < 2; k++) {
            dt_resp a = call("GET", r.path, who[k], NULL, r.stream ? 1500 : 0);
            long want = strstr(r.pattern, "/static/") ? a.status : 200; /* any asset name */
            if (!strcmp(r.pattern, "/metrics") && k == 0)
                want = 403; /* every team's jobs: admins only */
            ck_assert_msg(a.status == want, "%s %s as %s: %ld, expected %ld: %.300s", r.method,
                          r.pattern, k ? "admin" : "alpha", a.status, want, a.body);
            dt_resp_free(&a);
        }
    }
}
END_TEST

/* beta's token on every route that names alpha's job: 404, as for a job that does not exist. */
START_TEST(another_team_gets_404_on_every_route_of_a_job)
{
    char buf[128], path[sizeof ((rt *)0)->path];
    int n = n_routes(), tried = 0;
    const char *beta = bearer(T.beta, buf, sizeof buf);
    for (int i = 0; i < n; i++) {
        rt r = route(i);
        if (!r.has_id)
            continue;
        dt_resp a = call(r.method, r.path, beta, body_for(&r), r.stream ? 1500 : 0);
        tried++;
        ck_assert_msg(a.status == 404, "beta: %s %s: %ld, expected 404: %.300s", r.method,
                      r.path, a.status, a.body);
        ck_assert_msg(strstr(a.body, "\"code\":\"not_found\""), "%s %s: %s", r.method, r.path,
                      a.body);
        /* nothing of alpha's job leaks into the answer but the id beta sent */
        ck_assert_msg(!strstr(a.body, "alpha") && !strstr(a.body, "\"state\""),
                      "beta: %s %s: %s", r.method, r.path, a.body);
        dt_resp_free(&a);
        /* and the same call on a job that does not exist answers alike */
        snprintf(path, sizeof path, "%s", r.path);
        char *id = strstr(path, strstr(r.pattern, "/cancel") ? queued_alpha : done_alpha);
        memcpy(id, "0123456789abcdef", 16);
        a = call(r.method, path, beta, body_for(&r), r.stream ? 1500 : 0);
        ck_assert_int_eq(a.status, 404);
        dt_resp_free(&a);
    }
    ck_assert_int_ge(tried, 6);
    /* beta's cancel left alpha's queued job queued */
    snprintf(path, sizeof path, "/api/v1/jobs/%s", queued_alpha);
    json_t *j = dt_get(&D, path, T.alpha, 200);
    ck_assert_str_eq(dt_str(j, "state"), "queued");
    ck_assert(!json_is_true(json_object_get(j, "cancel_requested")));
    json_decref(j);
    printf("auth: %d job routes tried with another team's token\n", tried);
}
END_TEST

/* ---- routes without a job in their path: each shows a team its own ---- */

static int lists_id(const char *text, const char *id) { return strstr(text, id) != NULL; }

static void check_list(const rt *r)
{
    char a[128], b[128];
    dt_resp x = call("GET", "/api/v1/jobs?limit=1000", bearer(T.beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x.status, 200);
    ck_assert(lists_id(x.body, done_beta) && !lists_id(x.body, done_alpha) &&
              !lists_id(x.body, running_alpha) && !lists_id(x.body, queued_alpha));
    dt_resp_free(&x);
    x = call("GET", "/api/v1/jobs?team=alpha", bearer(T.beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x.status, 403);
    dt_resp_free(&x);
    x = call("GET", "/api/v1/jobs?limit=1000", bearer(T.alpha, a, sizeof a), NULL, 0);
    ck_assert(lists_id(x.body, done_alpha) && !lists_id(x.body, done_beta));
    dt_resp_free(&x);
    (void)r;
}

static void check_submit(const rt *r)
{
    char b[128], spec[512];
    snprintf(spec, sizeof spec,
             "{\"kind\": \"train\", \"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 1, "
             "\"init\": {\"job\": \"%s\"}}", done_alpha);
    dt_resp x = call("POST", r->path, bearer(T.beta, b, sizeof b), spec, 0);
    ck_assert_msg(x.status == 422 && strstr(x.body, "\"field\":\"init.job\""),
                  "beta fine-tuning from alpha's job: %ld %s", x.status, x.body);
    dt_resp_free(&x);
}

static void check_pareto(const rt *r)
{
    char b[128], a[128];
    dt_resp x = call("GET", r->path, bearer(T.beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x.status, 200);
    ck_assert(lists_id(x.body, done_beta) && !lists_id(x.body, done_alpha));
    dt_resp_free(&x);
    x = call("GET", "/api/v1/pareto?team=alpha", bearer(T.beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x.status, 403);
    dt_resp_free(&x);
    x = call("GET", r->path, bearer(T.alpha, a, sizeof a), NULL, 0);
    ck_assert(lists_id(x.body, done_alpha) && !lists_id(x.body, done_beta));
    dt_resp_free(&x);
}

static void check_shared_catalog(const rt *r)
{
    char b[128];
    dt_resp x = call("GET", r->path, bearer(T.beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x.status, 200); /* data sets and models are the server's, not a team's */
    ck_assert(!lists_id(x.body, done_alpha));
    dt_resp_free(&x);
}

static void check_metrics(const rt *r)
{
    char b[128];
    dt_resp x = call("GET", r->path, bearer(T.beta, b, sizeof b), NULL, 0);
    ck_assert_msg(x.status == 403, "beta on /metrics: %ld", x.status);
    ck_assert(!lists_id(x.body, running_alpha));
    dt_resp_free(&x);
}

/* The stream of every job's events: beta's holds none of alpha's, while alpha's (read at the
 * same time) holds the progress of alpha's running job. */
static void check_all_events(const rt *r)
{
    char a[128], b[128];
    dt_resp xb = call("GET", r->path, bearer(T.beta, b, sizeof b), NULL, 2500);
    dt_resp xa = call("GET", r->path, bearer(T.alpha, a, sizeof a), NULL, 2500);
    ck_assert_int_eq(xb.status, 200);
    ck_assert_int_eq(xa.status, 200);
    ck_assert_msg(lists_id(xa.body, running_alpha), "alpha's own stream: %.300s", xa.body);
    ck_assert_msg(!lists_id(xb.body, running_alpha) && !lists_id(xb.body, done_alpha),
                  "beta's stream shows alpha's job: %.300s", xb.body);
    dt_resp_free(&xa);
    dt_resp_free(&xb);
}

typedef struct cross {
    const char *method, *pattern;
    void (*check)(const rt *r);
} cross;

static const cross cross_team[] = {
    {"GET", "/api/v1/jobs", check_list},
    {"POST", "/api/v1/jobs", check_submit},
    {"GET", "/api/v1/pareto", check_pareto},
    {"GET", "/api/v1/models", check_shared_catalog},
    {"GET", "/api/v1/datasets", check_shared_catalog},
    {"GET", "/metrics", check_metrics},
    {"GET", "/api/v1/events", check_all_events},
};

START_TEST(every_other_route_shows_a_team_only_its_own)
{
    int n = n_routes(), tried = 0;
    for (int i = 0; i < n; i++) {
        rt r = route(i);
        if (r.has_id || !r.needs_token)
            continue;
        const cross *c = NULL;
        for (size_t k = 0; k < sizeof cross_team / sizeof *cross_team; k++)
            if (!strcmp(cross_team[k].method, r.method) && !strcmp(cross_team[k].pattern, r.pattern))
                c = &cross_team[k];
        ck_assert_msg(c != NULL, "route %s %s has no cross-team check: add one to cross_team[] "
                      "in tests/check_daemon_auth.c", r.method, r.pattern);
        c->check(&r);
        tried++;
    }
    printf("auth: %d team-wide routes checked for another team's jobs\n", tried);
}
END_TEST

START_TEST(the_running_job_is_still_alpha_s_and_running)
{
    /* beta's calls changed nothing: alpha cancels its own jobs, which answers 202 and 200 */
    char a[128], path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/cancel", queued_alpha);
    dt_resp x = call("POST", path, bearer(T.alpha, a, sizeof a), NULL, 0);
    ck_assert_msg(x.status == 200, "alpha cancels its queued job: %ld %s", x.status, x.body);
    dt_resp_free(&x);
    snprintf(path, sizeof path, "/api/v1/jobs/%s/cancel", running_alpha);
    x = call("POST", path, bearer(T.alpha, a, sizeof a), NULL, 0);
    ck_assert_msg(x.status == 202, "alpha cancels its running job: %ld %s", x.status, x.body);
    dt_resp_free(&x);
    json_decref(dt_wait(&D, running_alpha, T.alpha, "cancelled", 60));
}
END_TEST

static Suite *auth_suite(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("daemon auth");
    TCase *t = tcase_create("auth");
    tcase_add_unchecked_fixture(t, start, stop);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, every_route_denies_a_caller_without_a_valid_token);
    tcase_add_test(t, the_owner_and_an_admin_are_answered);
    tcase_add_test(t, another_team_gets_404_on_every_route_of_a_job);
    tcase_add_test(t, every_other_route_shows_a_team_only_its_own);
    tcase_add_test(t, the_running_job_is_still_alpha_s_and_running);
    suite_add_tcase(s, t);
    return s;
}

QD_CHECK_MAIN(auth_suite)
