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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon/http.h"
#include "tests/check_main.h"
#include "tests/daemon_util.h"

static char *state_dir;
static dt_daemon D;
static char tok_alpha[64], tok_beta[64], tok_admin[64], tok_revoked[64];
static char done_alpha[32], done_beta[32], running_alpha[32], queued_alpha[32];

static void make_token(char *out, const char *team, int admin)
{
    const char *args[] = {"token", "create", "--team", team, "--state", state_dir,
                          admin ? "--admin" : NULL, NULL};
    ck_assert_int_eq(dt_quantd(out, 64, args), 0);
    ck_assert_int_eq(strlen(out), 52);
}

#define LONG_ALPHA                                                                                 \
    "{\"kind\": \"train\", \"name\": \"long\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "   \
    "\"epochs\": 200, \"subset\": {\"train\": 4096, \"test\": 256}}"

static void start(void)
{
    state_dir = dt_tempdir();
    make_token(tok_alpha, "alpha", 0);
    make_token(tok_beta, "beta", 0);
    make_token(tok_admin, "ops", 1);
    make_token(tok_revoked, "alpha", 0);
    char id[16], out[64];
    snprintf(id, sizeof id, "%.12s", tok_revoked + 4);
    const char *rev[] = {"token", "revoke", id, "--state", state_dir, NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, rev), 0);
    const char *one[] = {"--workers", "1", NULL};
    dt_start(&D, state_dir, one);
    dt_submit(&D, DT_SMALL_JOB, tok_alpha, done_alpha);
    dt_submit(&D, DT_SMALL_JOB, tok_beta, done_beta);
    json_decref(dt_wait(&D, done_alpha, tok_alpha, "succeeded", 60));
    json_decref(dt_wait(&D, done_beta, tok_beta, "succeeded", 60));
    dt_submit(&D, LONG_ALPHA, tok_alpha, running_alpha);
    dt_submit(&D, DT_SMALL_JOB, tok_alpha, queued_alpha);
    json_decref(dt_wait(&D, running_alpha, tok_alpha, "running", 60));
}

static void stop(void)
{
    ck_assert_int_eq(dt_stop(&D, SIGTERM), 0);
    dt_rmdir(state_dir);
}

/* ---- requests ---- */

typedef struct reply {
    long status;
    char text[65536]; /* the start of the body */
    size_t len;
    int www_auth;     /* a WWW-Authenticate header came */
} reply;

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    reply *r = ctx;
    size_t k = size * n, room = sizeof r->text - 1 - r->len;
    memcpy(r->text + r->len, p, k < room ? k : room);
    r->len += k < room ? k : room;
    r->text[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    reply *r = ctx;
    if (size * n > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
        r->www_auth = 1;
    return size * n;
}

/* method path with the Authorization header auth (NULL: none); event streams are read for
 * stream_ms and then dropped (status 200 kept). */
static reply *call(const char *method, const char *path, const char *auth, const char *body,
                   long stream_ms)
{
    reply *r = calloc(1, sizeof *r);
    char url[1024];
    struct curl_slist *h = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", D.port, path);
    if (auth)
        h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, stream_ms > 0 ? stream_ms : 30000L);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    else if (!strcmp(method, "POST"))
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    ck_assert_msg(rc == CURLE_OK || (rc == CURLE_OPERATION_TIMEDOUT && stream_ms > 0),
                  "%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
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
    const char *bad[] = {NULL, bearer(tok_revoked, buf, sizeof buf), "Authorization: Bearer abc",
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
            reply *a = call(r.method, r.path, bad[k], body_for(&r), r.stream ? 1500 : 0);
            cases_tried++;
            if (r.needs_token) {
                ck_assert_msg(a->status == 401, "%s %s with %s: %ld, expected 401: %s", r.method,
                              r.pattern, why[k], a->status, a->text);
                ck_assert_msg(strstr(a->text, "\"code\":\"unauthorized\""), "%s %s: %s",
                              r.method, r.pattern, a->text);
                ck_assert_msg(a->www_auth, "%s %s: no WWW-Authenticate", r.method, r.pattern);
            } else {
                ck_assert_msg(a->status != 401 && a->status != 403, "public %s %s with %s: %ld",
                              r.method, r.pattern, why[k], a->status);
            }
            free(a);
        }
        if (r.needs_token && !strcmp(r.method, "GET")) {
            reply *a = call("HEAD", r.path, NULL, NULL, r.stream ? 1500 : 0);
            cases_tried++;
            ck_assert_msg(a->status == 401, "HEAD %s: %ld", r.pattern, a->status);
            free(a);
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
        const char *who[] = {bearer(tok_alpha, buf, sizeof buf), NULL};
        char admin[128];
        who[1] = bearer(tok_admin, admin, sizeof admin);
        for (int k = 0; k < 2; k++) {
            reply *a = call("GET", r.path, who[k], NULL, r.stream ? 1500 : 0);
            long want = strstr(r.pattern, "/static/") ? a->status : 200; /* any asset name */
            if (!strcmp(r.pattern, "/metrics") && k == 0)
                want = 403; /* every team's jobs: admins only */
            ck_assert_msg(a->status == want, "%s %s as %s: %ld, expected %ld: %.300s", r.method,
                          r.pattern, k ? "admin" : "alpha", a->status, want, a->text);
            free(a);
        }
    }
}
END_TEST

/* beta's token on every route that names alpha's job: 404, as for a job that does not exist. */
START_TEST(another_team_gets_404_on_every_route_of_a_job)
{
    char buf[128], path[sizeof ((rt *)0)->path];
    int n = n_routes(), tried = 0;
    const char *beta = bearer(tok_beta, buf, sizeof buf);
    for (int i = 0; i < n; i++) {
        rt r = route(i);
        if (!r.has_id)
            continue;
        reply *a = call(r.method, r.path, beta, body_for(&r), r.stream ? 1500 : 0);
        tried++;
        ck_assert_msg(a->status == 404, "beta: %s %s: %ld, expected 404: %.300s", r.method,
                      r.path, a->status, a->text);
        ck_assert_msg(strstr(a->text, "\"code\":\"not_found\""), "%s %s: %s", r.method, r.path,
                      a->text);
        /* nothing of alpha's job leaks into the answer but the id beta sent */
        ck_assert_msg(!strstr(a->text, "alpha") && !strstr(a->text, "\"state\""),
                      "beta: %s %s: %s", r.method, r.path, a->text);
        free(a);
        /* and the same call on a job that does not exist answers alike */
        snprintf(path, sizeof path, "%s", r.path);
        char *id = strstr(path, strstr(r.pattern, "/cancel") ? queued_alpha : done_alpha);
        memcpy(id, "0123456789abcdef", 16);
        a = call(r.method, path, beta, body_for(&r), r.stream ? 1500 : 0);
        ck_assert_int_eq(a->status, 404);
        free(a);
    }
    ck_assert_int_ge(tried, 6);
    /* beta's cancel left alpha's queued job queued */
    snprintf(path, sizeof path, "/api/v1/jobs/%s", queued_alpha);
    json_t *j = dt_get(&D, path, tok_alpha, 200);
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
    reply *x = call("GET", "/api/v1/jobs?limit=1000", bearer(tok_beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x->status, 200);
    ck_assert(lists_id(x->text, done_beta) && !lists_id(x->text, done_alpha) &&
              !lists_id(x->text, running_alpha) && !lists_id(x->text, queued_alpha));
    free(x);
    x = call("GET", "/api/v1/jobs?team=alpha", bearer(tok_beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x->status, 403);
    free(x);
    x = call("GET", "/api/v1/jobs?limit=1000", bearer(tok_alpha, a, sizeof a), NULL, 0);
    ck_assert(lists_id(x->text, done_alpha) && !lists_id(x->text, done_beta));
    free(x);
    (void)r;
}

static void check_submit(const rt *r)
{
    char b[128], spec[512];
    snprintf(spec, sizeof spec,
             "{\"kind\": \"train\", \"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 1, "
             "\"init\": {\"job\": \"%s\"}}", done_alpha);
    reply *x = call("POST", r->path, bearer(tok_beta, b, sizeof b), spec, 0);
    ck_assert_msg(x->status == 422 && strstr(x->text, "\"field\":\"init.job\""),
                  "beta fine-tuning from alpha's job: %ld %s", x->status, x->text);
    free(x);
}

static void check_pareto(const rt *r)
{
    char b[128], a[128];
    reply *x = call("GET", r->path, bearer(tok_beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x->status, 200);
    ck_assert(lists_id(x->text, done_beta) && !lists_id(x->text, done_alpha));
    free(x);
    x = call("GET", "/api/v1/pareto?team=alpha", bearer(tok_beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x->status, 403);
    free(x);
    x = call("GET", r->path, bearer(tok_alpha, a, sizeof a), NULL, 0);
    ck_assert(lists_id(x->text, done_alpha) && !lists_id(x->text, done_beta));
    free(x);
}

static void check_shared_catalog(const rt *r)
{
    char b[128];
    reply *x = call("GET", r->path, bearer(tok_beta, b, sizeof b), NULL, 0);
    ck_assert_int_eq(x->status, 200); /* data sets and models are the server's, not a team's */
    ck_assert(!lists_id(x->text, done_alpha));
    free(x);
}

static void check_metrics(const rt *r)
{
    char b[128];
    reply *x = call("GET", r->path, bearer(tok_beta, b, sizeof b), NULL, 0);
    ck_assert_msg(x->status == 403, "beta on /metrics: %ld", x->status);
    ck_assert(!lists_id(x->text, running_alpha));
    free(x);
}

/* The stream of every job's events: beta's holds none of alpha's, while alpha's (read at the
 * same time) holds the progress of alpha's running job. */
static void check_all_events(const rt *r)
{
    char a[128], b[128];
    reply *xb = call("GET", r->path, bearer(tok_beta, b, sizeof b), NULL, 2500);
    reply *xa = call("GET", r->path, bearer(tok_alpha, a, sizeof a), NULL, 2500);
    ck_assert_int_eq(xb->status, 200);
    ck_assert_int_eq(xa->status, 200);
    ck_assert_msg(lists_id(xa->text, running_alpha), "alpha's own stream: %.300s", xa->text);
    ck_assert_msg(!lists_id(xb->text, running_alpha) && !lists_id(xb->text, done_alpha),
                  "beta's stream shows alpha's job: %.300s", xb->text);
    free(xa);
    free(xb);
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
    reply *x = call("POST", path, bearer(tok_alpha, a, sizeof a), NULL, 0);
    ck_assert_msg(x->status == 200, "alpha cancels its queued job: %ld %s", x->status, x->text);
    free(x);
    snprintf(path, sizeof path, "/api/v1/jobs/%s/cancel", running_alpha);
    x = call("POST", path, bearer(tok_alpha, a, sizeof a), NULL, 0);
    ck_assert_msg(x->status == 202, "alpha cancels its running job: %ld %s", x->status, x->text);
    free(x);
    json_decref(dt_wait(&D, running_alpha, tok_alpha, "cancelled", 60));
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
