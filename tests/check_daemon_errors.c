/*
 * check_daemon_errors.c: what the daemon answers to requests it must refuse, and how teams are
 * kept apart. A table of malformed and hostile requests (unknown routes and methods, missing or
 * bad tokens, wrong content types, oversize and malformed bodies, invalid specs, paths in
 * names, bad query parameters and headers, other teams' jobs), each with the documented
 * status, error code and field; every answer must be the JSON error body. Then team
 * isolation with team and admin tokens, token revocation, and the loopback rule.
 *
 * The daemon runs with tokens: team "alpha" (the table's caller), team "beta", an admin, and
 * a revoked token. One job of each team has finished before the table runs.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_main.h"
#include "tests/daemon_util.h"

static dt_daemon D;
static dt_tokens T;
static char job_alpha[32], job_beta[32];

static void start_with_tokens(void)
{
    dt_start_two_teams(&D, &T, NULL, job_alpha, job_beta);
}

static void stop(void) { dt_finish(&D); }

/* ---- the table ---- */

enum who { ALPHA = 0, NOBODY, REVOKED, RAW };        /* RAW: Authorization given in the case */
enum body { TEXT = 0, OVERSIZE, DEEP, NUL_BYTE };

typedef struct bad_request {
    const char *method, *path; /* "{A}" / "{B}" in path: alpha's / beta's job */
    enum who who;
    const char *header;        /* one extra header, or NULL */
    const char *content_type;  /* NULL: none */
    enum body kind;
    const char *body;          /* NULL: no body */
    long status;
    const char *code, *field;  /* field NULL: not checked */
} bad_request;

#define JSON "application/json"
#define SPEC(extra) "{\"dataset\": \"synthetic\", \"model\": \"mlp\"" extra "}"

static const bad_request cases[] = {
    /* routes and methods */
    {"GET", "/nope", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/api/v1", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/api/v1/jobs/", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/API/V1/JOBS", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "//api/v1/jobs", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"DELETE", "/api/v1/jobs", ALPHA, NULL, NULL, TEXT, NULL, 405, "method_not_allowed", ""},
    {"PUT", "/api/v1/jobs/{A}", ALPHA, NULL, NULL, TEXT, NULL, 405, "method_not_allowed", ""},
    {"GET", "/api/v1/jobs/{A}/cancel", ALPHA, NULL, NULL, TEXT, NULL, 405, "method_not_allowed", ""},
    {"POST", "/healthz", ALPHA, NULL, NULL, TEXT, NULL, 405, "method_not_allowed", ""},
    {"PATCH", "/metrics", ALPHA, NULL, NULL, TEXT, NULL, 405, "method_not_allowed", ""},
    /* jobs that are not there, or not the caller's */
    {"GET", "/api/v1/jobs/0123456789abcdef", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/api/v1/jobs/xyz", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/api/v1/jobs/{B}", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/api/v1/jobs/{B}/metrics", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"POST", "/api/v1/jobs/{B}/cancel", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/api/v1/jobs/{B}/events", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/api/v1/jobs/{B}/artifacts", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    {"GET", "/api/v1/jobs/{B}/artifacts/model.qdc", ALPHA, NULL, NULL, TEXT, NULL, 404,
     "not_found", ""},
    {"POST", "/api/v1/jobs/{A}/cancel", ALPHA, NULL, NULL, TEXT, NULL, 409, "conflict", ""},
    /* path traversal in artifact names */
    {"GET", "/api/v1/jobs/{A}/artifacts/..%2F..%2Fquantd.db", ALPHA, NULL, NULL, TEXT, NULL, 404,
     "not_found", ""},
    {"GET", "/api/v1/jobs/{A}/artifacts/../../quantd.db", ALPHA, NULL, NULL, TEXT, NULL, 404,
     "not_found", ""},
    {"GET", "/api/v1/jobs/{A}/artifacts/%2Fetc%2Fpasswd", ALPHA, NULL, NULL, TEXT, NULL, 404,
     "not_found", ""},
    {"GET", "/api/v1/jobs/{A}/artifacts/checkpoint.qdc", ALPHA, NULL, NULL, TEXT, NULL, 404,
     "not_found", ""},
    {"GET", "/api/v1/jobs/{A}/artifacts/..", ALPHA, NULL, NULL, TEXT, NULL, 404, "not_found", ""},
    /* tokens */
    {"GET", "/api/v1/jobs", NOBODY, NULL, NULL, TEXT, NULL, 401, "unauthorized", "Authorization"},
    {"GET", "/api/v1/jobs", REVOKED, NULL, NULL, TEXT, NULL, 401, "unauthorized", "Authorization"},
    {"GET", "/api/v1/jobs", RAW, "Authorization: Basic YWxwaGE6cHc=", NULL, TEXT, NULL, 401,
     "unauthorized", "Authorization"},
    {"GET", "/api/v1/jobs", RAW, "Authorization: Bearer ", NULL, TEXT, NULL, 401, "unauthorized",
     "Authorization"},
    {"GET", "/api/v1/jobs", RAW,
     "Authorization: Bearer qdt_000000000000000000000000000000000000000000000000", NULL, TEXT,
     NULL, 401, "unauthorized", "Authorization"},
    {"GET", "/api/v1/jobs", RAW, "Authorization: Bearer qdt_x'; DROP TABLE tokens; --", NULL,
     TEXT, NULL, 401, "unauthorized", "Authorization"},
    {"POST", "/api/v1/jobs", NOBODY, NULL, JSON, TEXT, SPEC(""), 401, "unauthorized", NULL},
    {"GET", "/metrics", NOBODY, NULL, NULL, TEXT, NULL, 401, "unauthorized", NULL},
    {"GET", "/api/v1/jobs?team=beta", ALPHA, NULL, NULL, TEXT, NULL, 403, "forbidden", "team"},
    {"GET", "/api/v1/pareto?team=beta", ALPHA, NULL, NULL, TEXT, NULL, 403, "forbidden", "team"},
    /* content type and size */
    {"POST", "/api/v1/jobs", ALPHA, NULL, NULL, TEXT, SPEC(""), 415, "unsupported_media_type",
     "Content-Type"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, "text/plain", TEXT, SPEC(""), 415,
     "unsupported_media_type", "Content-Type"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, "application/jsonx", TEXT, SPEC(""), 415,
     "unsupported_media_type", "Content-Type"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, "application/x-www-form-urlencoded", TEXT, "a=b", 415,
     "unsupported_media_type", "Content-Type"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, OVERSIZE, NULL, 413, "too_large", ""},
    /* malformed JSON */
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "", 400, "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "{", 400, "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "{\"dataset\": }", 400, "malformed_json",
     ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT,
     "{\"dataset\": \"a\", \"dataset\": \"b\", \"model\": \"mlp\"}", 400, "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, DEEP, NULL, 400, "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"name\": \"\xff\xfe\""), 400,
     "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"name\": \"a\\u0000b\""), 400,
     "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, NUL_BYTE, NULL, 400, "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "\xef\xbb\xbf" SPEC(""), 400,
     "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC("") " x", 400, "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"epochs\": 1e400"), 400,
     "malformed_json", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT,
     SPEC(", \"epochs\": 99999999999999999999999"), 400, "malformed_json", ""},
    /* specs that parse but are not valid */
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "[1, 2]", 422, "invalid_spec", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "null", 422, "invalid_spec", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "\"train\"", 422, "invalid_spec", ""},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"epochs\": 2147483648"), 422,
     "invalid_spec", "epochs"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"epochs\": -1"), 422,
     "invalid_spec", "epochs"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"epochs\": \"3\""), 422,
     "invalid_spec", "epochs"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"batch_size\": 0"), 422,
     "invalid_spec", "batch_size"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"lr\": 0.1"), 422, "invalid_spec",
     "lr"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"kind\": \"search\""), 422,
     "invalid_spec", "method"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"kind\": \"export\""), 422,
     "invalid_spec", "model"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"kind\": 7"), 422, "invalid_spec",
     "kind"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"quant\": {\"method\": \"qat\", "
     "\"weights\": {\"bits\": 99}}"), 422, "invalid_spec", "quant.weights.bits"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"optimizer\": {\"lr\": -1}"), 422,
     "invalid_spec", "optimizer.lr"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"subset\": {\"train\": \"all\"}"),
     422, "invalid_spec", "subset.train"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "{\"model\": \"mlp\"}", 422, "invalid_spec",
     "dataset"},
    /* names that are paths, or not here */
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT,
     "{\"dataset\": \"../../etc\", \"model\": \"mlp\"}", 422, "invalid_spec", "dataset"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, "{\"dataset\": \"/etc\", \"model\": \"mlp\"}",
     422, "invalid_spec", "dataset"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT,
     "{\"dataset\": \"no-such-set\", \"model\": \"mlp\"}", 422, "invalid_spec", "dataset"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT,
     "{\"dataset\": \"synthetic\", \"model\": \"../models/mlp.json\"}", 422, "invalid_spec",
     "model"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT,
     "{\"dataset\": \"synthetic\", \"model\": \"/etc/passwd\"}", 422, "invalid_spec", "model"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT,
     "{\"dataset\": \"synthetic\", \"model\": \"no-such-model\"}", 422, "invalid_spec", "model"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT,
     SPEC(", \"init\": {\"checkpoint\": \"/etc/passwd\"}"), 422, "invalid_spec",
     "init.checkpoint"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"init\": {\"job\": \"../../x\"}"),
     422, "invalid_spec", "init.job"},
    {"POST", "/api/v1/jobs", ALPHA, NULL, JSON, TEXT, SPEC(", \"init\": {\"job\": \"{B}\"}"), 422,
     "invalid_spec", "init.job"},
    /* query parameters and headers */
    {"POST", "/api/v1/jobs?priority=abc", ALPHA, NULL, JSON, TEXT, SPEC(""), 400,
     "invalid_argument", "priority"},
    {"POST", "/api/v1/jobs?priority=1000", ALPHA, NULL, JSON, TEXT, SPEC(""), 400,
     "invalid_argument", "priority"},
    {"POST", "/api/v1/jobs?priority=1e1", ALPHA, NULL, JSON, TEXT, SPEC(""), 400,
     "invalid_argument", "priority"},
    {"POST", "/api/v1/jobs?deadline=0", ALPHA, NULL, JSON, TEXT, SPEC(""), 400,
     "invalid_argument", "deadline"},
    {"POST", "/api/v1/jobs?deadline=-5", ALPHA, NULL, JSON, TEXT, SPEC(""), 400,
     "invalid_argument", "deadline"},
    {"POST", "/api/v1/jobs?evil=1", ALPHA, NULL, JSON, TEXT, SPEC(""), 400, "invalid_argument",
     "evil"},
    {"POST", "/api/v1/jobs", ALPHA,
     "Idempotency-Key: "
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
     JSON, TEXT, SPEC(""), 400, "invalid_argument", "Idempotency-Key"},
    {"POST", "/api/v1/jobs", ALPHA, "Idempotency-Key: a b", JSON, TEXT, SPEC(""), 400,
     "invalid_argument", "Idempotency-Key"},
    {"GET", "/api/v1/jobs?state=bogus", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "state"},
    {"GET", "/api/v1/jobs?kind=bogus", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "kind"},
    {"GET", "/api/v1/jobs?limit=0", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "limit"},
    {"GET", "/api/v1/jobs?limit=1001", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "limit"},
    {"GET", "/api/v1/jobs?limit=ten", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "limit"},
    {"GET", "/api/v1/jobs?cursor=abc", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "cursor"},
    {"GET", "/api/v1/jobs?cursor=-1", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "cursor"},
    {"GET", "/api/v1/jobs?cursor=99999999999999999999", ALPHA, NULL, NULL, TEXT, NULL, 400,
     "invalid_argument", "cursor"},
    {"GET", "/api/v1/jobs/{A}?verbose=1", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "verbose"},
    {"GET", "/api/v1/pareto?sort=asc", ALPHA, NULL, NULL, TEXT, NULL, 400, "invalid_argument",
     "sort"},
};
#define N_CASES ((int)(sizeof cases / sizeof *cases))

/* s with {A} and {B} replaced by the two teams' job ids. */
static void fill(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    while (*s && n + 20 < cap) {
        if (s[0] == '{' && (s[1] == 'A' || s[1] == 'B') && s[2] == '}') {
            n += (size_t)snprintf(out + n, cap - n, "%s", s[1] == 'A' ? job_alpha : job_beta);
            s += 3;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
}

static char *make_body(const bad_request *c, long *len)
{
    char *b = NULL;
    switch (c->kind) {
    case OVERSIZE:
        *len = (2L << 20);
        b = malloc((size_t)*len);
        memset(b, ' ', (size_t)*len);
        b[0] = '{';
        b[*len - 1] = '}';
        return b;
    case DEEP:
        *len = 100000;
        b = malloc((size_t)*len);
        memset(b, '[', (size_t)*len);
        return b;
    case NUL_BYTE:
        b = strdup(SPEC(", \"name\": \"a#b\""));
        *strchr(b, '#') = '\0';
        *len = (long)strlen(SPEC(", \"name\": \"a#b\""));
        return b;
    case TEXT:
        break;
    }
    if (!c->body)
        return NULL;
    b = malloc(strlen(c->body) + 64);
    fill(b, strlen(c->body) + 64, c->body);
    *len = (long)strlen(b);
    return b;
}

START_TEST(bad_request_gets_its_documented_error)
{
    const bad_request *c = &cases[_i];
    char path[512], auth[128], ct[128];
    const char *headers[4] = {NULL};
    int nh = 0;
    fill(path, sizeof path, c->path);
    const char *tok = c->who == ALPHA ? T.alpha : c->who == REVOKED ? T.revoked : NULL;
    if (tok) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
        headers[nh++] = auth;
    }
    if (c->header)
        headers[nh++] = c->header;
    if (c->content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", c->content_type);
        headers[nh++] = ct;
    } else if (c->body || c->kind != TEXT) {
        headers[nh++] = "Content-Type:"; /* curl: send none */
    }
    long len = 0;
    char *body = make_body(c, &len);
    dt_resp r = dt_request(&D, c->method, path, headers, body, len);
    free(body);
    ck_assert_msg(r.status == c->status, "case %d: %s %s: %ld, expected %ld: %s", _i, c->method,
                  path, r.status, c->status, r.body ? r.body : "");
    json_t *e = json_object_get(r.json, "error");
    ck_assert_msg(json_is_object(e), "case %d: %s %s: no JSON error body: %s", _i, c->method, path,
                  r.body ? r.body : "");
    ck_assert_str_eq(dt_str(e, "code"), c->code);
    ck_assert_int_gt(strlen(dt_str(e, "message")), 0);
    if (c->field)
        ck_assert_msg(!strcmp(dt_str(e, "field"), c->field), "case %d: field \"%s\", expected \"%s\"",
                      _i, dt_str(e, "field"), c->field);
    if (c->status == 405)
        ck_assert_int_gt(strlen(r.allow), 0);
    dt_resp_free(&r);
}
END_TEST

START_TEST(the_daemon_survives_the_table)
{
    json_t *h = dt_get(&D, "/healthz", NULL, 200);
    ck_assert_str_eq(dt_str(h, "status"), "ok");
    json_decref(h);
    /* nothing in the table made a job */
    json_t *l = dt_get(&D, "/api/v1/jobs", T.admin, 200);
    ck_assert_int_eq(json_array_size(json_object_get(l, "jobs")), 2);
    json_decref(l);
}
END_TEST

/* ---- teams ---- */

static int lists(const char *token, const char *id, const char *query)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs%s", query ? query : "");
    json_t *l = dt_get(&D, path, token, 200), *j;
    size_t i;
    int found = 0;
    json_array_foreach(json_object_get(l, "jobs"), i, j) found |= !strcmp(dt_str(j, "id"), id);
    json_decref(l);
    return found;
}

START_TEST(a_team_sees_only_its_own_jobs)
{
    char path[128];
    ck_assert(lists(T.alpha, job_alpha, NULL));
    ck_assert(!lists(T.alpha, job_beta, NULL));
    ck_assert(lists(T.beta, job_beta, NULL));
    ck_assert(!lists(T.beta, job_alpha, NULL));
    snprintf(path, sizeof path, "/api/v1/jobs/%s", job_beta);
    json_decref(dt_get(&D, path, T.alpha, 404));
    json_t *j = dt_get(&D, path, T.beta, 200);
    ck_assert_str_eq(dt_str(j, "team"), "beta");
    json_decref(j);
    /* the Pareto front of a team holds its own jobs only */
    json_t *p = dt_get(&D, "/api/v1/pareto", T.alpha, 200), *pt;
    size_t i;
    json_array_foreach(json_object_get(p, "points"), i, pt)
        ck_assert_str_eq(dt_str(pt, "job"), job_alpha);
    json_decref(p);
}
END_TEST

START_TEST(an_admin_sees_every_team)
{
    ck_assert(lists(T.admin, job_alpha, NULL));
    ck_assert(lists(T.admin, job_beta, NULL));
    ck_assert(lists(T.admin, job_beta, "?team=beta"));
    ck_assert(!lists(T.admin, job_alpha, "?team=beta"));
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/metrics", job_alpha);
    json_decref(dt_get(&D, path, T.admin, 200));
    json_decref(dt_get(&D, "/metrics", T.admin, 200));
}
END_TEST

START_TEST(health_needs_no_token_and_revoking_takes_effect_at_once)
{
    json_decref(dt_get(&D, "/healthz", NULL, 200));
    char tok[64], out[512], id[16];
    dt_token(D.state, "gamma", 0, tok);
    json_decref(dt_get(&D, "/api/v1/jobs", tok, 200));
    snprintf(id, sizeof id, "%.12s", tok + 4);
    const char *rev[] = {"token", "revoke", id, "--state", D.state, NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, rev), 0);
    json_decref(dt_get(&D, "/api/v1/jobs", tok, 401));
    ck_assert_int_eq(dt_quantd(out, sizeof out, rev), 1); /* already revoked */
    const char *list[] = {"token", "list", "--state", D.state, NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, list), 0);
    ck_assert_ptr_nonnull(strstr(out, id));
    ck_assert_ptr_nonnull(strstr(out, "gamma"));
    ck_assert_ptr_null(strstr(out, tok)); /* tokens are never shown again */
    const char *bad[] = {"token", "create", "--team", "no/slash", "--state", D.state, NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, bad), 2);
}
END_TEST

/* ---- the loopback rule ---- */

START_TEST(without_tokens_only_loopback)
{
    char *dir = dt_tempdir(), tok[64];
    const char *any[] = {"--listen", "0.0.0.0:0", NULL};
    /* later arguments win: this overrides the harness's loopback --listen */
    ck_assert_int_eq(dt_start_fails(dir, any), 2);
    dt_token(dir, "alpha", 0, tok);
    dt_daemon d;
    dt_start(&d, dir, NULL); /* with a token, every call needs one, on loopback too */
    json_decref(dt_get(&d, "/api/v1/jobs", NULL, 401));
    json_decref(dt_get(&d, "/api/v1/jobs", tok, 200));
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

static Suite *errors_suite(void)
{
    Suite *s = suite_create("daemon errors");
    TCase *t = tcase_create("table");
    tcase_add_unchecked_fixture(t, start_with_tokens, stop);
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, bad_request_gets_its_documented_error, 0, N_CASES);
    tcase_add_test(t, the_daemon_survives_the_table);
    tcase_add_test(t, a_team_sees_only_its_own_jobs);
    tcase_add_test(t, an_admin_sees_every_team);
    tcase_add_test(t, health_needs_no_token_and_revoking_takes_effect_at_once);
    suite_add_tcase(s, t);
    TCase *l = tcase_create("loopback");
    tcase_set_timeout(l, 120);
    tcase_add_test(l, without_tokens_only_loopback);
    suite_add_tcase(s, l);
    return s;
}

QD_CHECK_MAIN(errors_suite)
