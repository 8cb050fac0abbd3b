/*
 * check_daemon_web.c: what the web page needs from `quantd serve`, against the real daemon on a
 * loopback port: the page and its files (/, /static/NAME) embedded in the binary with their
 * Content-Type, ETag and 304 on If-None-Match, the gzip copy for clients that take it, a
 * Content-Security-Policy that allows this origin only, no token needed for them when the API
 * needs one; the page referring to nothing but its own files; the all-jobs event stream
 * (GET /api/v1/events) with each event's job, that a team sees only its own jobs in; and the
 * summary (accuracy, memory; a search's best candidate's) that job listings carry.
 *
 * The browser side (the page in Chromium) is tests/browser/web.test.mjs (make test-browser).
 */
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/check_main.h"
#include "tests/daemon_util.h"

static char *state_dir;
static dt_daemon D;

static void start_default(void)
{
    state_dir = dt_tempdir();
    dt_start(&D, state_dir, NULL);
}

static void stop_default(void)
{
    ck_assert_int_eq(dt_stop(&D, SIGTERM), 0);
    dt_rmdir(state_dir);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- a GET with every header kept ---- */

typedef struct page {
    long status;
    char *body, *headers;
    size_t len, hlen;
} page;

static size_t grow(char **buf, size_t *len, const char *p, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    page *g = ctx;
    return grow(&g->body, &g->len, p, size * n);
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    page *g = ctx;
    return grow(&g->headers, &g->hlen, p, size * n);
}

/* method "GET" or "POST"; headers NULL-terminated or NULL; decode: let curl gunzip */
static page fetch(const char *method, const char *path, const char *const *headers, int decode)
{
    page g = {0};
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", D.port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &g);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (decode)
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return g;
}

static void page_free(page *g)
{
    free(g->body);
    free(g->headers);
}

/* The value of header name (case-insensitive), trimmed, into out; "" when absent. */
static const char *header(const page *g, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = g->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t m = strcspn(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)m, v);
            break;
        }
    }
    return out;
}

/* ---- the page and its files ---- */

static const struct {
    const char *path, *type, *contains;
} ASSETS[] = {
    {"/", "text/html; charset=utf-8", "<script src=\"/static/app.js\""},
    {"/static/app.js", "text/javascript; charset=utf-8", "/api/v1/events"},
    {"/static/style.css", "text/css; charset=utf-8", "@media"},
    {"/static/icon.svg", "image/svg+xml", "<svg"},
    {"/static/chart.min.js", "text/javascript; charset=utf-8", "Chart.js v"},
};
#define N_ASSETS (sizeof ASSETS / sizeof *ASSETS)

START_TEST(page_and_files_are_served_with_type_etag_and_csp)
{
    for (size_t i = 0; i < N_ASSETS; i++) {
        page g = fetch("GET", ASSETS[i].path, NULL, 0);
        char v[512];
        ck_assert_msg(g.status == 200, "%s: %ld", ASSETS[i].path, g.status);
        ck_assert_str_eq(header(&g, "Content-Type", v, sizeof v), ASSETS[i].type);
        ck_assert_msg(g.body && strstr(g.body, ASSETS[i].contains), "%s lacks \"%s\"",
                      ASSETS[i].path, ASSETS[i].contains);
        ck_assert_int_eq(strlen(header(&g, "ETag", v, sizeof v)), 18); /* "16 hex digits" */
        ck_assert_str_eq(header(&g, "Cache-Control", v, sizeof v), "no-cache");
        ck_assert_str_eq(header(&g, "X-Content-Type-Options", v, sizeof v), "nosniff");
        header(&g, "Content-Security-Policy", v, sizeof v);
        ck_assert_msg(strstr(v, "default-src 'none'") && strstr(v, "script-src 'self'") &&
                          strstr(v, "connect-src 'self'") && strstr(v, "style-src 'self'") &&
                          !strstr(v, "unsafe") && !strstr(v, "http"),
                      "CSP of %s: %s", ASSETS[i].path, v);
        page_free(&g);
    }
    page g = fetch("GET", "/static/nope.js", NULL, 0);
    ck_assert_int_eq(g.status, 404);
    ck_assert_ptr_nonnull(strstr(g.body, "\"not_found\""));
    page_free(&g);
    g = fetch("GET", "/static/index.html", NULL, 0); /* the page lives at / only */
    ck_assert_int_eq(g.status, 404);
    page_free(&g);
    g = fetch("POST", "/", NULL, 0);
    char v[64];
    ck_assert_int_eq(g.status, 405);
    ck_assert_str_eq(header(&g, "Allow", v, sizeof v), "GET");
    page_free(&g);
}
END_TEST

START_TEST(if_none_match_answers_304)
{
    page g = fetch("GET", "/static/app.js", NULL, 0);
    char etag[64], h[128], v[64];
    header(&g, "ETag", etag, sizeof etag);
    page_free(&g);
    const char *const tags[] = {"%s", "W/%s", "\"0000000000000000\", %s", "*"};
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
        char t[96];
        snprintf(t, sizeof t, tags[i], etag);
        snprintf(h, sizeof h, "If-None-Match: %s", t);
        const char *hs[] = {h, NULL};
        g = fetch("GET", "/static/app.js", hs, 0);
        ck_assert_msg(g.status == 304, "If-None-Match: %s answered %ld", t, g.status);
        ck_assert_int_eq(g.len, 0);
        ck_assert_str_eq(header(&g, "ETag", v, sizeof v), etag);
        page_free(&g);
    }
    const char *const other[] = {"If-None-Match: \"0000000000000000\"", NULL};
    g = fetch("GET", "/static/app.js", other, 0);
    ck_assert_int_eq(g.status, 200);
    ck_assert_int_gt(g.len, 1000);
    page_free(&g);
    /* another file's tag does not match */
    g = fetch("GET", "/static/style.css", NULL, 0);
    char css[64];
    header(&g, "ETag", css, sizeof css);
    page_free(&g);
    ck_assert_str_ne(css, etag);
}
END_TEST

START_TEST(gzip_only_for_clients_that_take_it)
{
    page plain = fetch("GET", "/static/chart.min.js", NULL, 0);
    ck_assert_int_eq(plain.status, 200);
    char v[64], etag[64];
    ck_assert_str_eq(header(&plain, "Content-Encoding", v, sizeof v), "");
    header(&plain, "ETag", etag, sizeof etag);
    ck_assert_str_eq(header(&plain, "Vary", v, sizeof v), "Accept-Encoding");
    /* curl asks for gzip and inflates: the same bytes, a smaller transfer, another tag */
    page gz = fetch("GET", "/static/chart.min.js", NULL, 1);
    ck_assert_int_eq(gz.status, 200);
    ck_assert_str_eq(header(&gz, "Content-Encoding", v, sizeof v), "gzip");
    ck_assert_int_eq(gz.len, plain.len);
    ck_assert_int_eq(memcmp(gz.body, plain.body, plain.len), 0);
    ck_assert_str_ne(header(&gz, "ETag", v, sizeof v), etag);
    page_free(&gz);
    const char *const refused[] = {"Accept-Encoding: gzip;q=0, identity", NULL};
    gz = fetch("GET", "/static/chart.min.js", refused, 0);
    ck_assert_str_eq(header(&gz, "Content-Encoding", v, sizeof v), "");
    ck_assert_int_eq(gz.len, plain.len);
    page_free(&gz);
    page_free(&plain);
}
END_TEST

/* Every src= and href= of the page and every url( of its style sheet is a path on this server
 * (or a #fragment): the page loads nothing from another host. */
START_TEST(the_page_refers_only_to_its_own_files)
{
    const char *const paths[] = {"/", "/static/style.css"};
    const char *const attrs[] = {"src=\"", "href=\"", "url("};
    int refs = 0;
    for (size_t p = 0; p < 2; p++) {
        page g = fetch("GET", paths[p], NULL, 0);
        for (size_t a = 0; a < 3; a++)
            for (const char *s = g.body; (s = strstr(s, attrs[a])); s++) {
                const char *v = s + strlen(attrs[a]);
                ck_assert_msg(v[0] == '#' || (v[0] == '/' && v[1] != '/'),
                              "%s refers to %.40s", paths[p], v);
                refs++;
            }
        page_free(&g);
    }
    ck_assert_int_ge(refs, 4);
    /* each file the page names is served */
    page g = fetch("GET", "/", NULL, 0);
    for (const char *s = g.body; (s = strstr(s, "/static/")); s++) {
        char path[128];
        snprintf(path, sizeof path, "%.*s", (int)strcspn(s, "\""), s);
        page f = fetch("GET", path, NULL, 0);
        ck_assert_msg(f.status == 200, "%s: %ld", path, f.status);
        page_free(&f);
    }
    page_free(&g);
}
END_TEST

/* ---- the all-jobs event stream ---- */

typedef struct stream {
    char path[64], auth[128];
    char *text;
    size_t len;
    pthread_mutex_t mu;
    int stop;
    long status;
} stream;

static size_t on_chunk(char *p, size_t size, size_t n, void *ctx)
{
    stream *s = ctx;
    pthread_mutex_lock(&s->mu);
    grow(&s->text, &s->len, p, size * n);
    pthread_mutex_unlock(&s->mu);
    return size * n;
}

static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    stream *s = ctx;
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

static void *read_stream(void *arg)
{
    stream *s = arg;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", D.port, s->path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = s->auth[0] ? curl_slist_append(NULL, s->auth) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_chunk);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static void stream_open(stream *s, pthread_t *t, const char *token)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->path, sizeof s->path, "/api/v1/events");
    if (token)
        snprintf(s->auth, sizeof s->auth, "Authorization: Bearer %s", token);
    ck_assert_int_eq(pthread_create(t, NULL, read_stream, s), 0);
    /* subscribed once the opening comment has come */
    for (double t0 = now_s(); now_s() - t0 < 10; usleep(10000)) {
        pthread_mutex_lock(&s->mu);
        int open = s->text && strstr(s->text, ": subscribed");
        pthread_mutex_unlock(&s->mu);
        if (open)
            return;
    }
    ck_abort_msg("the event stream did not open");
}

/* Waits until the stream holds needle; returns whether it came within timeout_s. */
static int stream_wait(stream *s, const char *needle, double timeout_s)
{
    for (double t0 = now_s(); now_s() - t0 < timeout_s; usleep(20000)) {
        pthread_mutex_lock(&s->mu);
        int hit = s->text && strstr(s->text, needle);
        pthread_mutex_unlock(&s->mu);
        if (hit)
            return 1;
    }
    return 0;
}

static void stream_close(stream *s, pthread_t t)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    pthread_mutex_destroy(&s->mu);
}

START_TEST(all_jobs_stream_carries_every_jobs_events_and_stays_open)
{
    stream s;
    pthread_t t;
    stream_open(&s, &t, NULL);
    char id[32], ev[160];
    dt_submit(&D, DT_SMALL_JOB, NULL, id);
    const char *const want[] = {"\"state\":\"queued\"", "\"state\":\"running\"",
                                "\"state\":\"succeeded\""};
    for (int i = 0; i < 3; i++) {
        snprintf(ev, sizeof ev, "event: state\ndata: {\"job\":\"%s\",\"id\":\"%s\",%s", id, id,
                 want[i]);
        ck_assert_msg(stream_wait(&s, ev, 60), "no %s event for %s: %s", want[i], id, s.text);
    }
    snprintf(ev, sizeof ev, "event: epoch\ndata: {\"job\":\"%s\",\"epoch\":", id);
    ck_assert_msg(stream_wait(&s, ev, 1), "no epoch event with the job: %s", s.text);
    snprintf(ev, sizeof ev, "event: artifact\ndata: {\"job\":\"%s\",\"name\":\"model.qdc\"", id);
    ck_assert(stream_wait(&s, ev, 1));
    /* the stream goes on after a job's end: a second job comes through it too */
    char id2[32];
    dt_submit(&D, DT_SMALL_JOB, NULL, id2);
    snprintf(ev, sizeof ev, "data: {\"job\":\"%s\",\"id\":\"%s\",\"state\":\"succeeded\"", id2,
             id2);
    ck_assert_msg(stream_wait(&s, ev, 60), "the stream did not carry the second job");
    ck_assert_int_eq(s.status, 0); /* still open */
    stream_close(&s, t);
    ck_assert_int_eq(s.status, 200);
    ck_assert(strncmp(s.text, "retry: 3000\n", 12) == 0);
    free(s.text);
}
END_TEST

START_TEST(listing_summarises_each_result)
{
    char id[32];
    dt_submit(&D, DT_SMALL_JOB, NULL, id);
    json_t *j = dt_wait(&D, id, NULL, "succeeded", 60);
    json_t *r = json_object_get(j, "result");
    json_t *l = dt_get(&D, "/api/v1/jobs?state=succeeded", NULL, 200);
    json_t *row = NULL, *v;
    size_t i;
    json_array_foreach(json_object_get(l, "jobs"), i, v) if (!strcmp(dt_str(v, "id"), id)) row = v;
    ck_assert_ptr_nonnull(row);
    json_t *sum = json_object_get(row, "summary");
    ck_assert_msg(json_is_object(sum), "no summary in %s", json_dumps(row, 0));
    ck_assert_double_eq(dt_num(sum, "test_accuracy"), dt_num(r, "test_accuracy"));
    ck_assert_double_eq(dt_num(sum, "total_bytes"),
                        dt_num(json_object_get(r, "memory"), "total_bytes"));
    ck_assert_ptr_null(json_object_get(sum, "candidates")); /* a train job's */
    json_decref(l);
    json_decref(j);
    /* a search's: its best candidate's, and how many it tried */
    char spec[512], sid[32];
    snprintf(spec, sizeof spec,
             "{\"kind\": \"search\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "
             "\"method\": \"uniform\", \"base\": {\"job\": \"%s\"}, \"space\": "
             "{\"weight_bits\": [2, 8], \"activation_bits\": [8]}, \"finetune_epochs\": 1, "
             "\"subset\": {\"train\": 512, \"test\": 256}}", id);
    dt_submit(&D, spec, NULL, sid);
    j = dt_wait(&D, sid, NULL, "succeeded", 90);
    r = json_object_get(j, "result");
    l = dt_get(&D, "/api/v1/jobs?kind=search", NULL, 200);
    sum = json_object_get(json_array_get(json_object_get(l, "jobs"), 0), "summary");
    ck_assert_msg(json_is_object(sum), "no summary for the search");
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "candidates")), 2);
    json_t *best = json_array_get(json_object_get(r, "candidates"),
                                  (size_t)json_integer_value(json_object_get(r, "best")));
    ck_assert_double_eq(dt_num(sum, "test_accuracy"), dt_num(best, "test_accuracy"));
    ck_assert_double_eq(dt_num(sum, "total_bytes"),
                        dt_num(json_object_get(best, "memory"), "total_bytes"));
    json_decref(l);
    json_decref(j);
    /* a job without a result: null */
    char q[32];
    dt_submit(&D, DT_LONG_JOB, NULL, q);
    l = dt_get(&D, "/api/v1/jobs?limit=1", NULL, 200);
    row = json_array_get(json_object_get(l, "jobs"), 0);
    ck_assert_str_eq(dt_str(row, "id"), q);
    ck_assert(json_is_null(json_object_get(row, "summary")));
    json_decref(l);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/cancel", q);
    page g = fetch("POST", path, NULL, 0);
    ck_assert(g.status == 200 || g.status == 202);
    page_free(&g);
    json_decref(dt_wait(&D, q, NULL, "cancelled", 60));
}
END_TEST

/* ---- tokens ---- */

static void make_token(const char *team, int admin, char tok[64])
{
    char out[256];
    const char *args[] = {"token", "create", "--team", team, "--state", D.state,
                          admin ? "--admin" : NULL, NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, args), 0);
    ck_assert_int_eq(strlen(out), 52);
    snprintf(tok, 64, "%.63s", out);
}

START_TEST(with_tokens_the_page_loads_and_a_team_sees_its_own_events)
{
    char a[64], b[64];
    make_token("alpha", 0, a);
    make_token("beta", 0, b);
    usleep(1200 * 1000); /* tokens are enforced within a second */
    for (size_t i = 0; i < N_ASSETS; i++) {
        page g = fetch("GET", ASSETS[i].path, NULL, 0);
        ck_assert_msg(g.status == 200, "%s without a token: %ld", ASSETS[i].path, g.status);
        page_free(&g);
    }
    page g = fetch("GET", "/api/v1/events", NULL, 0);
    ck_assert_int_eq(g.status, 401);
    ck_assert_ptr_nonnull(strstr(g.body, "\"unauthorized\""));
    page_free(&g);
    stream s;
    pthread_t t;
    stream_open(&s, &t, a);
    char ida[32], idb[32], ev[128];
    dt_submit(&D, DT_SMALL_JOB, b, idb);
    dt_submit(&D, DT_SMALL_JOB, a, ida);
    snprintf(ev, sizeof ev, "{\"job\":\"%s\",\"id\":\"%s\",\"state\":\"succeeded\"", ida, ida);
    ck_assert_msg(stream_wait(&s, ev, 90), "alpha's stream lacks its job: %s", s.text);
    /* beta's job ran first: had alpha seen any of its events, they would be there by now */
    json_decref(dt_wait(&D, idb, b, "succeeded", 30));
    ck_assert_msg(!strstr(s.text, idb), "alpha saw beta's job: %s", s.text);
    stream_close(&s, t);
    free(s.text);
}
END_TEST

static Suite *web_suite(void)
{
    Suite *s = suite_create("daemon_web");
    TCase *tc = tcase_create("web");
    tcase_add_checked_fixture(tc, start_default, stop_default);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, page_and_files_are_served_with_type_etag_and_csp);
    tcase_add_test(tc, if_none_match_answers_304);
    tcase_add_test(tc, gzip_only_for_clients_that_take_it);
    tcase_add_test(tc, the_page_refers_only_to_its_own_files);
    tcase_add_test(tc, all_jobs_stream_carries_every_jobs_events_and_stays_open);
    tcase_add_test(tc, listing_summarises_each_result);
    tcase_add_test(tc, with_tokens_the_page_loads_and_a_team_sees_its_own_events);
    suite_add_tcase(s, tc);
    return s;
}

QD_CHECK_MAIN(web_suite)
