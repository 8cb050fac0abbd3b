/*
 * fuzz_http.c: libFuzzer target for the daemon's HTTP side: the route table, the dispatcher's
 * checks (daemon/http.c) and every handler behind it, with request bodies. The harness builds
 * the app as `quantd serve` does (settings from config_load, the SQLite store in a temporary
 * state directory, tokens, the event hub, metrics, the scheduler with no workers) and starts the
 * daemon's own server, http_start, on a loopback port; each input becomes one HTTP request sent
 * over a fresh connection, and the whole answer is read back. No seam is cut into http.c: the
 * handlers talk to libmicrohttpd directly, so the real server is the honest harness.
 *
 * An input is a request in a relaxed text form:
 *     METHOD TARGET\n
 *     Name: value\n            (any number of header lines)
 *     \n
 *     body                     (the rest, sent with its Content-Length)
 * The harness makes it well-framed HTTP/1.1, so the fuzzer's effort goes into what quantd
 * parses rather than into libmicrohttpd's own request-line parser (which has its own fuzzers;
 * hostile framing is tests/stress's business): bytes of TARGET outside printable ASCII, and
 * spaces, are percent-encoded; CR, LF and NUL leave header lines; Host, Content-Length,
 * Transfer-Encoding and Connection are the harness's. Placeholders give the fuzzer what it
 * cannot guess: $A $C $R (team-a's queued, succeeded and running jobs), $B $F (team-b's queued
 * and failed jobs), and tokens $a (team-a), $b (team-b), $o (an admin), $x (revoked).
 *
 * Event streams end at once: the event hub is shut down at start, so a stream sends what it
 * has and closes instead of waiting for events (which no input can cause).
 *
 * Checked for every answer, beyond the sanitizers:
 *   - there is one, within 10 s (a hang or a dropped connection is a bug);
 *   - no 5xx (the contract: bad input never gets one; the store here is healthy);
 *   - an error answered as JSON has the one body {"error": {"code", "message", "field"}};
 *   - a JSON answer parses;
 *   - isolation: a request made with team-b's token, or with no valid token, that does not
 *     itself name a job of team-a never gets an answer that does (and the same with the
 *     teams swapped).
 * Run from the repository root (make fuzz does): the zoo in ./models is the daemon's.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/auth.h"
#include "daemon/digest.h"
#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/qtime.h"
#include "daemon/sched.h"
#include "tests/fuzz/fuzz_util.h"

#define ANSWER_MS 10000
#define REQ_MAX (64 * 1024)
#define RESP_MAX (4 << 20)

static serve_config cfg;
static qd_app app;
static uv_loop_t loop;
static http_server *server;
static int port;
static char state_dir[64];

enum { J_A, J_C, J_R, J_B, J_F, N_JOBS };
static const char job_keys[N_JOBS] = {'A', 'C', 'R', 'B', 'F'};
static const int job_team_b[N_JOBS] = {0, 0, 0, 1, 1};
static char job_ids[N_JOBS][STORE_ID_LEN];
enum { T_A, T_B, T_ADMIN, T_REVOKED, N_TOKENS };
static const char token_keys[N_TOKENS] = {'a', 'b', 'o', 'x'};
static char tokens[N_TOKENS][AUTH_TOKEN_LEN];

/* ---- the fixture: a state directory with tokens and jobs in every state ---- */

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* State directories of earlier runs that died (their pid is gone) are removed. */
static void remove_stale(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d))) {
        int pid;
        if (sscanf(e->d_name, "quantd-fuzz-%d", &pid) != 1 || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        remove_tree(path);
    }
    if (d)
        closedir(d);
}

static void cleanup(void) { remove_tree(state_dir); }

static int64_t submit(const char *team, int priority, const char *key, char id[STORE_ID_LEN])
{
    static const char spec[] = "{\"kind\":\"train\",\"dataset\":\"synthetic\",\"model\":\"mlp\"}";
    char hash[DIGEST_HEX_LEN];
    digest_sha256_hex(key ? key : "", key ? strlen(key) : 0, hash);
    store_submit_req rq = {.team = team,
                           .kind = "train",
                           .name = "fixture",
                           .spec = spec,
                           .idem_key = key,
                           .idem_hash = key ? hash : NULL,
                           .priority = priority,
                           .max_attempts = 1};
    FUZZ_CHECK(store_submit(app.st, &rq, NULL) == 0);
    memcpy(id, rq.id, STORE_ID_LEN);
    return 0;
}

static int64_t claim(const char *id)
{
    store_job j;
    FUZZ_CHECK(store_claim(app.st, qtime_now_ms(), &j, NULL) == 1 && strcmp(j.id, id) == 0);
    int64_t seq = j.seq;
    store_job_clear(&j);
    return seq;
}

/* team-a's succeeded job, with an epoch, a result and an artifact on disk. */
static void finish_job(const char *id)
{
    static const char result[] =
        "{\"test_accuracy\":0.9,\"memory\":{\"weight_bytes\":1000,\"activation_bytes\":200,"
        "\"total_bytes\":1200},\"bitops\":12345,\"layers\":[{\"w_bits\":4,\"a_bits\":4}],"
        "\"history\":[{\"epoch\":1,\"train_loss\":0.5,\"test_accuracy\":0.9}]}";
    static const char artifact[] = "not really a model, but bytes with a checksum";
    char dir[256], path[300], sha[DIGEST_HEX_LEN];
    int64_t seq = claim(id), now = qtime_now_ms();
    snprintf(dir, sizeof dir, "%s/jobs/%s", state_dir, id);
    snprintf(path, sizeof path, "%s/model.qdc", dir);
    FUZZ_CHECK(mkdir(dir, 0755) == 0);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f && fwrite(artifact, 1, sizeof artifact - 1, f) == sizeof artifact - 1);
    fclose(f);
    digest_sha256_hex(artifact, sizeof artifact - 1, sha);
    FUZZ_CHECK(store_put_epoch(app.st, seq, 1, "{\"epoch\":1,\"train_loss\":0.5}", NULL) == 0);
    FUZZ_CHECK(store_put_artifact(app.st, seq, "model.qdc", (int64_t)sizeof artifact - 1, sha, now,
                                  NULL) == 0);
    FUZZ_CHECK(store_succeed(app.st, seq, result, now, NULL) == 0);
}

static void make_fixture(void)
{
    char id[AUTH_ID_LEN];
    FUZZ_CHECK(auth_token_create(app.st, "team-a", 0, tokens[T_A], id, NULL) == 0);
    FUZZ_CHECK(auth_token_create(app.st, "team-b", 0, tokens[T_B], id, NULL) == 0);
    FUZZ_CHECK(auth_token_create(app.st, "ops", 1, tokens[T_ADMIN], id, NULL) == 0);
    FUZZ_CHECK(auth_token_create(app.st, "team-a", 0, tokens[T_REVOKED], id, NULL) == 0);
    FUZZ_CHECK(store_token_revoke(app.st, id, qtime_now_ms(), NULL) == 0);
    /* claims take the highest priority first: C, then F, then R */
    submit("team-a", 100, NULL, job_ids[J_C]);
    finish_job(job_ids[J_C]);
    submit("team-b", 90, NULL, job_ids[J_F]);
    qd_err e = {0};
    qd_fail(&e, QD_EDATASET, "dataset", "the fixture's failed attempt");
    FUZZ_CHECK(store_fail(app.st, claim(job_ids[J_F]), 1, &e, 0, qtime_now_ms(), NULL) == 0);
    submit("team-a", 80, NULL, job_ids[J_R]);
    claim(job_ids[J_R]);
    submit("team-a", 0, "key-a", job_ids[J_A]);
    submit("team-b", 0, "key-b", job_ids[J_B]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    remove_stale(base);
    snprintf(state_dir, sizeof state_dir, "%s/quantd-fuzz-%d", base, (int)getpid());
    char *args[] = {"serve",     "--listen", "127.0.0.1:0", "--state", state_dir,
                    "--workers", "0",        "--log-level", "error",   NULL};
    int status;
    FUZZ_CHECK(config_load(&cfg, 9, args, &status) == 0);
    log_set_level(log_level_parse(cfg.log_level));
    signal(SIGPIPE, SIG_IGN);
    char path[300];
    snprintf(path, sizeof path, "%s/jobs", state_dir);
    FUZZ_CHECK(mkdir(state_dir, 0755) == 0 && mkdir(path, 0755) == 0);
    atexit(cleanup);
    snprintf(path, sizeof path, "%s/quantd.db", state_dir);
    qd_err err = {0};
    app.cfg = &cfg;
    app.threads = 1;
    app.started_ms = qtime_now_ms();
    FUZZ_CHECK(store_open(&app.st, path, &err) == 0);
    make_fixture();
    FUZZ_CHECK((app.ev = events_create()) && (app.mx = http_metrics_create()));
    events_shutdown(app.ev);
    uv_loop_init(&loop);
    FUZZ_CHECK(http_start(&server, &app, &err) == 0);
    FUZZ_CHECK(sched_create(&app.sc, &loop, &app, &err) == 0);
    port = http_port(server);
    return 0;
}

/* ---- an input as a request ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap)
        n = b->cap - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

enum { IN_HEADER, IN_TARGET, IN_BODY };

/* Appends s[0..n) with placeholders replaced; in a target, bytes that may not stand in a URL
 * are percent-encoded; in a header, control characters are dropped; a body is kept as is. */
static void put_text(buf *b, const char *s, size_t n, int where)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '$' && i + 1 < n) {
            const char *rep = NULL;
            for (int k = 0; k < N_JOBS; k++)
                rep = s[i + 1] == job_keys[k] ? job_ids[k] : rep;
            for (int k = 0; k < N_TOKENS; k++)
                rep = s[i + 1] == token_keys[k] ? tokens[k] : rep;
            if (rep) {
                put(b, rep, strlen(rep));
                i++;
                continue;
            }
        }
        if (where == IN_TARGET && (c <= ' ' || c >= 0x7f || c == '#')) {
            char esc[4];
            snprintf(esc, sizeof esc, "%%%02X", c);
            put(b, esc, 3);
        } else if (where == IN_HEADER && (c < ' ' || c == 0x7f) && c != '\t') {
            continue;
        } else {
            put(b, &s[i], 1);
        }
    }
}

static int harness_header(const char *line, size_t n)
{
    static const char *const own[] = {
        "host:", "content-length:", "transfer-encoding:", "connection:"};
    for (size_t k = 0; k < sizeof own / sizeof *own; k++)
        if (n >= strlen(own[k]) && strncasecmp(line, own[k], strlen(own[k])) == 0)
            return 1;
    return 0;
}

/* Whose tokens the header lines name: a set of bits, 1 << index in token_keys. */
static int tokens_named(const char *line, size_t n)
{
    int set = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (int k = 0; k < N_TOKENS; k++)
            if (line[i] == '$' && line[i + 1] == token_keys[k])
                set |= 1 << k;
    return set;
}

/* The HTTP request for an input; returns its length. *tok gets the tokens its headers name. */
static size_t build_request(const uint8_t *data, size_t size, buf *req, int *tok)
{
    const char *s = (const char *)data, *end = s + size;
    const char *eol = memchr(s, '\n', size);
    const char *line_end = eol ? eol : end;
    const char *sp = memchr(s, ' ', (size_t)(line_end - s));
    buf body = {malloc(REQ_MAX), 0, REQ_MAX};
    *tok = 0;
    /* request line: the method as given (minus spaces and controls), then the target */
    const char *m_end = sp ? sp : line_end;
    for (const char *c = s; c < m_end; c++)
        if (*c > ' ' && *c < 0x7f)
            put(req, c, 1);
    if (req->len == 0)
        put(req, "GET", 3);
    put(req, " ", 1);
    size_t t0 = req->len;
    if (sp)
        put_text(req, sp + 1, (size_t)(line_end - sp - 1), IN_TARGET);
    if (req->len == t0 || req->p[t0] != '/')
        put(req, "/", 1); /* a target must start with '/'; an empty one is "/" */
    static const char version[] = " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    put(req, version, sizeof version - 1);
    /* header lines up to an empty line */
    const char *p = eol ? eol + 1 : end;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le == p || (le == p + 1 && *p == '\r')) {
            p = nl ? nl + 1 : end;
            break;
        }
        /* a line starting with a space or tab would continue the harness's own header
         * (obsolete line folding), and the harness's headers frame the exchange: framing is
         * not what this target tries. What counts is the line as sent, control characters
         * dropped: "\x15 x: y" folds too, and "\x01Connection: keep-alive" is the harness's. */
        size_t at = req->len;
        put_text(req, p, (size_t)(le - p), IN_HEADER);
        const char *line = req->p + at, *colon = memchr(line, ':', req->len - at);
        if (!colon || colon == line || *line == ' ' || *line == '\t' ||
            harness_header(line, req->len - at)) {
            req->len = at; /* dropped */
        } else {
            put(req, "\r\n", 2);
            *tok |= tokens_named(p, (size_t)(le - p));
        }
        p = nl ? nl + 1 : end;
    }
    /* the body, with placeholders, and its length */
    put_text(&body, p, (size_t)(end - p), IN_BODY);
    char cl[64];
    int n = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", body.len);
    put(req, cl, (size_t)n);
    put(req, body.p, body.len);
    free(body.p);
    return req->len;
}

/* ---- sending and reading back ---- */

/* A connection from a source address that changes every time (127.1.0.0/16): the server
 * closes first, so each exchange leaves a TIME_WAIT on its 4-tuple, and one source address
 * would run out of ports after some 28000 exchanges a minute. */
static int connect_loopback(void)
{
    static unsigned n;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in from = {.sin_family = AF_INET};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int attempt = 0;; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        FUZZ_CHECK(fd >= 0);
        from.sin_addr.s_addr = htonl(0x7f010000u | (n++ & 0xffff));
        if (bind(fd, (struct sockaddr *)&from, sizeof from) == 0 &&
            connect(fd, (struct sockaddr *)&to, sizeof to) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (attempt == 50) {
            fprintf(stderr, "fuzz_http: cannot connect to the server: %s\n", strerror(e));
            abort();
        }
        usleep(100000);
    }
}

/* Sends req and reads until the server closes; returns the bytes read (0: no answer). */
static size_t exchange(const buf *req, char *resp, size_t cap)
{
    int fd = connect_loopback();
    size_t sent = 0, got = 0;
    double until = qtime_mono() + ANSWER_MS / 1000.0;
    while (sent < req->len) {
        ssize_t w = send(fd, req->p + sent, req->len - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the server may answer (413, 4xx) and close before the body is sent */
        sent += (size_t)w;
    }
    for (;;) {
        int left = (int)((until - qtime_mono()) * 1000.0);
        if (left <= 0) {
            fprintf(stderr, "fuzz_http: no complete answer within %d ms\n", ANSWER_MS);
            abort();
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int rc = poll(&pfd, 1, left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue;
        ssize_t r = recv(fd, resp + got, cap - 1 - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || got + (size_t)r >= cap - 1) {
            got += r > 0 ? (size_t)r : 0;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    resp[got] = '\0';
    return got;
}

/* ---- the checks ---- */

static int contains(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static void check_error_body(const char *body)
{
    json_t *o = json_loads(body, JSON_DISABLE_EOF_CHECK, NULL), *e = json_object_get(o, "error");
    FUZZ_CHECK(json_is_object(e));
    FUZZ_CHECK(json_is_string(json_object_get(e, "code")));
    FUZZ_CHECK(json_is_string(json_object_get(e, "message")));
    FUZZ_CHECK(json_is_string(json_object_get(e, "field")));
    json_decref(o);
}

/* tok: the tokens the request's headers name. Only the admin's token, or both teams' (the
 * server reads the first Authorization header), may see both teams' jobs; one team's token
 * sees its own; no valid token sees none. */
static void check_isolation(const buf *req, const char *resp, size_t n, int tok)
{
    int a = tok & 1 << T_A, b = tok & 1 << T_B;
    if ((tok & 1 << T_ADMIN) || (a && b))
        return;
    int other_team = a ? 1 : b ? 0 : -1; /* whose jobs may not be seen; -1: everyone's */
    for (int k = 0; k < N_JOBS; k++) {
        if ((other_team >= 0 && job_team_b[k] != other_team) ||
            contains(req->p, req->len, job_ids[k]))
            continue;
        if (contains(resp, n, job_ids[k])) {
            fprintf(stderr, "fuzz_http: a request with token \"%c\" saw job %s (%s's)\n",
                    a   ? 'a'
                    : b ? 'b'
                        : '-',
                    job_ids[k], job_team_b[k] ? "team-b" : "team-a");
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > REQ_MAX / 2)
        return 0;
    buf req = {malloc(REQ_MAX), 0, REQ_MAX};
    char *resp = malloc(RESP_MAX);
    int tok;
    build_request(data, size, &req, &tok);
    size_t n = exchange(&req, resp, RESP_MAX);
    int status = 0;
    if (n == 0 || sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        fprintf(stderr, "fuzz_http: no answer to:\n%.*s\n", (int)(req.len < 2000 ? req.len : 2000),
                req.p);
        abort();
    }
    FUZZ_CHECK(status >= 100 && status < 500);
    const char *body = strstr(resp, "\r\n\r\n");
    body = body ? body + 4 : resp + n;
    int json = contains(resp, (size_t)(body - resp), "Content-Type: application/json") &&
               strncmp(req.p, "HEAD ", 5) != 0; /* HEAD: the headers of GET, no body */
    if (json && status >= 400)
        check_error_body(body);
    if (json && status < 400) {
        json_error_t je;
        json_t *o = json_loads(body, 0, &je);
        if (!o)
            fprintf(stderr, "fuzz_http: a %d answer's JSON does not parse: %s\n", status, je.text);
        FUZZ_CHECK(o);
        json_decref(o);
    }
    check_isolation(&req, resp, n, tok);
    free(req.p);
    free(resp);
    return 0;
}
