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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/check_main.h"
#include "tests/daemon_util.h"

static dt_daemon D;

static void start_default(void) { dt_start_fresh(&D, NULL); }
static void stop_default(void) { dt_finish(&D); }

/* method "GET" or "POST"; headers NULL-terminated or NULL; gunzip: let curl ask for gzip and
 * inflate it */
static dt_resp fetch(const char *method, const char *path, const char *const *headers, int gunzip)
{
    dt_opts o = {.gunzip = gunzip};
    return dt_request_opts(&D, method, path, headers, NULL, 0, &o);
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
        dt_resp g = fetch("GET", ASSETS[i].path, NULL, 0);
        char v[512];
        ck_assert_msg(g.status == 200, "%s: %ld", ASSETS[i].path, g.status);
        ck_assert_str_eq(dt_header(&g, "Content-Type", v, sizeof v), ASSETS[i].type);
        ck_assert_msg(g.body && strstr(g.body, ASSETS[i].contains), "%s lacks \"%s\"",
                      ASSETS[i].path, ASSETS[i].contains);
        ck_assert_int_eq(strlen(dt_header(&g, "ETag", v, sizeof v)), 18); /* "16 hex digits" */
        ck_assert_str_eq(dt_header(&g, "Cache-Control", v, sizeof v), "no-cache");
        ck_assert_str_eq(dt_header(&g, "X-Content-Type-Options", v, sizeof v), "nosniff");
        dt_header(&g, "Content-Security-Policy", v, sizeof v);
        ck_assert_msg(strstr(v, "default-src 'none'") && strstr(v, "script-src 'self'") &&
                          strstr(v, "connect-src 'self'") && strstr(v, "style-src 'self'") &&
                          !strstr(v, "unsafe") && !strstr(v, "http"),
                      "CSP of %s: %s", ASSETS[i].path, v);
        dt_resp_free(&g);
    }
    dt_resp g = fetch("GET", "/static/nope.js", NULL, 0);
    ck_assert_int_eq(g.status, 404);
    ck_assert_ptr_nonnull(strstr(g.body, "\"not_found\""));
    dt_resp_free(&g);
    g = fetch("GET", "/static/index.html", NULL, 0); /* the page lives at / only */
    ck_assert_int_eq(g.status, 404);
    dt_resp_free(&g);
    g = fetch("POST", "/", NULL, 0);
    char v[64];
    ck_assert_int_eq(g.status, 405);
    ck_assert_str_eq(dt_header(&g, "Allow", v, sizeof v), "GET");
    dt_resp_free(&g);
}
END_TEST

START_TEST(if_none_match_answers_304)
{
    dt_resp g = fetch("GET", "/static/app.js", NULL, 0);
    char etag[64], h[128], v[64];
    dt_header(&g, "ETag", etag, sizeof etag);
    dt_resp_free(&g);
    const char *const tags[] = {"%s", "W/%s", "\"0000000000000000\", %s", "*"};
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
        char t[96];
        snprintf(t, sizeof t, tags[i], etag);
        snprintf(h, sizeof h, "If-None-Match: %s", t);
        const char *hs[] = {h, NULL};
        g = fetch("GET", "/static/app.js", hs, 0);
        ck_assert_msg(g.status == 304, "If-None-Match: %s answered %ld", t, g.status);
        ck_assert_int_eq(g.len, 0);
        ck_assert_str_eq(dt_header(&g, "ETag", v, sizeof v), etag);
        dt_resp_free(&g);
    }
    const char *const other[] = {"If-None-Match: \"0000000000000000\"", NULL};
    g = fetch("GET", "/static/app.js", other, 0);
    ck_assert_int_eq(g.status, 200);
    ck_assert_int_gt(g.len, 1000);
    dt_resp_free(&g);
    /* another file's tag does not match */
    g = fetch("GET", "/static/style.css", NULL, 0);
    char css[64];
    dt_header(&g, "ETag", css, sizeof css);
    dt_resp_free(&g);
    ck_assert_str_ne(css, etag);
}
END_TEST

START_TEST(gzip_only_for_clients_that_take_it)
{
    dt_resp plain = fetch("GET", "/static/chart.min.js", NULL, 0);
    ck_assert_int_eq(plain.status, 200);
    char v[64], etag[64];
    ck_assert_str_eq(dt_header(&plain, "Content-Encoding", v, sizeof v), "");
    dt_header(&plain, "ETag", etag, sizeof etag);
    ck_assert_str_eq(dt_header(&plain, "Vary", v, sizeof v), "Accept-Encoding");
    /* curl asks for gzip and inflates: the same bytes, a smaller transfer, another tag */
    dt_resp gz = fetch("GET", "/static/chart.min.js", NULL, 1);
    ck_assert_int_eq(gz.status, 200);
    ck_assert_str_eq(dt_header(&gz, "Content-Encoding", v, sizeof v), "gzip");
    ck_assert_int_eq(gz.len, plain.len);
    ck_assert_int_eq(memcmp(gz.body, plain.body, plain.len), 0);
    ck_assert_str_ne(dt_header(&gz, "ETag", v, sizeof v), etag);
    dt_resp_free(&gz);
    const char *const refused[] = {"Accept-Encoding: gzip;q=0, identity", NULL};
    gz = fetch("GET", "/static/chart.min.js", refused, 0);
    ck_assert_str_eq(dt_header(&gz, "Content-Encoding", v, sizeof v), "");
    ck_assert_int_eq(gz.len, plain.len);
    dt_resp_free(&gz);
    dt_resp_free(&plain);
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
        dt_resp g = fetch("GET", paths[p], NULL, 0);
        for (size_t a = 0; a < 3; a++)
            for (const char *s = g.body; (s = strstr(s, attrs[a])); s++) {
                const char *v = s + strlen(attrs[a]);
                ck_assert_msg(v[0] == '#' || (v[0] == '/' && v[1] != '/'),
                              "%s refers to %.40s", paths[p], v);
                refs++;
            }
        dt_resp_free(&g);
    }
    ck_assert_int_ge(refs, 4);
    /* each file the page names is served */
    dt_resp g = fetch("GET", "/", NULL, 0);
    for (const char *s = g.body; (s = strstr(s, "/static/")); s++) {
        char path[128];
        snprintf(path, sizeof path, "%.*s", (int)strcspn(s, "\""), s);
        dt_resp f = fetch("GET", path, NULL, 0);
        ck_assert_msg(f.status == 200, "%s: %ld", path, f.status);
        dt_resp_free(&f);
    }
    dt_resp_free(&g);
}
END_TEST

/* ---- the all-jobs event stream ---- */

START_TEST(all_jobs_stream_carries_every_jobs_events_and_stays_open)
{
    dt_stream s;
    dt_stream_open(&s, &D, "/api/v1/events", NULL, ": subscribed");
    char id[32], ev[160];
    dt_submit(&D, DT_SMALL_JOB, NULL, id);
    const char *const want[] = {"\"state\":\"queued\"", "\"state\":\"running\"",
                                "\"state\":\"succeeded\""};
    for (int i = 0; i < 3; i++) {
        snprintf(ev, sizeof ev, "event: state\ndata: {\"job\":\"%s\",\"id\":\"%s\",%s", id, id,
                 want[i]);
        ck_assert_msg(dt_stream_wait(&s, ev, 60), "no %s event for %s: %s", want[i], id, s.text);
    }
    snprintf(ev, sizeof ev, "event: epoch\ndata: {\"job\":\"%s\",\"epoch\":", id);
    ck_assert_msg(dt_stream_wait(&s, ev, 1), "no epoch event with the job: %s", s.text);
    snprintf(ev, sizeof ev, "event: artifact\ndata: {\"job\":\"%s\",\"name\":\"model.qdc\"", id);
    ck_assert(dt_stream_wait(&s, ev, 1));
    /* the stream goes on after a job's end: a second job comes through it too */
    char id2[32];
    dt_submit(&D, DT_SMALL_JOB, NULL, id2);
    snprintf(ev, sizeof ev, "data: {\"job\":\"%s\",\"id\":\"%s\",\"state\":\"succeeded\"", id2,
             id2);
    ck_assert_msg(dt_stream_wait(&s, ev, 60), "the stream did not carry the second job");
    pthread_mutex_lock(&s.mu);
    long open_status = s.status; /* set when the transfer ends */
    pthread_mutex_unlock(&s.mu);
    ck_assert_int_eq(open_status, 0); /* still open */
    dt_stream_close(&s);
    ck_assert_int_eq(s.status, 200);
    ck_assert(strncmp(s.text, "retry: 3000\n", 12) == 0);
    dt_stream_free(&s);
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
    dt_resp g = fetch("POST", path, NULL, 0);
    ck_assert(g.status == 200 || g.status == 202);
    dt_resp_free(&g);
    json_decref(dt_wait(&D, q, NULL, "cancelled", 60));
}
END_TEST

/* ---- tokens ---- */

START_TEST(with_tokens_the_page_loads_and_a_team_sees_its_own_events)
{
    char a[64], b[64];
    dt_token(D.state, "alpha", 0, a);
    dt_token(D.state, "beta", 0, b);
    usleep(1200 * 1000); /* tokens are enforced within a second */
    for (size_t i = 0; i < N_ASSETS; i++) {
        dt_resp g = fetch("GET", ASSETS[i].path, NULL, 0);
        ck_assert_msg(g.status == 200, "%s without a token: %ld", ASSETS[i].path, g.status);
        dt_resp_free(&g);
    }
    dt_resp g = fetch("GET", "/api/v1/events", NULL, 0);
    ck_assert_int_eq(g.status, 401);
    ck_assert_ptr_nonnull(strstr(g.body, "\"unauthorized\""));
    dt_resp_free(&g);
    dt_stream s;
    dt_stream_open(&s, &D, "/api/v1/events", a, ": subscribed");
    char ida[32], idb[32], ev[128];
    dt_submit(&D, DT_SMALL_JOB, b, idb);
    dt_submit(&D, DT_SMALL_JOB, a, ida);
    snprintf(ev, sizeof ev, "{\"job\":\"%s\",\"id\":\"%s\",\"state\":\"succeeded\"", ida, ida);
    ck_assert_msg(dt_stream_wait(&s, ev, 90), "alpha's stream lacks its job: %s", s.text);
    /* beta's job ran first: had alpha seen any of its events, they would be there by now */
    json_decref(dt_wait(&D, idb, b, "succeeded", 30));
    dt_stream_close(&s);
    ck_assert_msg(!strstr(s.text, idb), "alpha saw beta's job: %s", s.text);
    dt_stream_free(&s);
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
