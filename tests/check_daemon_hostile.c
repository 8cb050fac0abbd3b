/*
 * check_daemon_hostile.c: what the daemon does with hostile HTTP clients, over raw sockets (a
 * library such as libcurl would refuse to send most of these). A table of malformed requests,
 * each with the status it gets (or that the connection is closed without an answer) and, where
 * the daemon rather than libmicrohttpd answers, the JSON error code: request smuggling through
 * duplicate or conflicting Content-Length and Transfer-Encoding, oversize and chunked bodies,
 * huge headers and URLs, bad request lines and methods, JSON bombs (flat, wide, deep) and
 * invalid UTF-8. Then clients that misbehave in time and number: slowloris (a request a byte
 * at a time, headers or body), more idle connections than the limits allow, and a burst of
 * the table's largest bodies at once. Throughout, the daemon stays up, answers /healthz from
 * another address, and its resident memory stays bounded.
 *
 * One daemon (API only, small limits so that the slow cases take seconds) serves the suite.
 * Clients bind other loopback addresses (127.0.0.2, ...) where a case fills the per-address
 * connection limit of 127.0.0.1.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/check_main.h"
#include "tests/daemon_util.h"

#define REQUEST_TIMEOUT "2" /* --request-timeout of the daemon under test, seconds */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_FACTOR 10 /* make asan / make tsan: the daemon runs sanitized too */
#else
#define SANITIZER_FACTOR 1
#endif
#define IDLE_TIMEOUT "3"    /* --timeout */
#define PER_IP 16
#define MAX_CONN 40

static dt_daemon D;
static long rss_start_kb;

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "the daemon is gone");
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Whether the daemon runs (it is the fixture's child, not the test's: no waitpid here). */
static int alive(pid_t pid)
{
    char path[64], state = 'Z';
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f && fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
        state = 'Z';
    if (f)
        fclose(f);
    return f && state != 'Z';
}

static void start(void)
{
    const char *args[] = {"--workers", "0", "--timeout", IDLE_TIMEOUT, "--request-timeout",
                          REQUEST_TIMEOUT, "--per-ip-connections", "16", "--max-connections",
                          "40", NULL};
    dt_start_fresh(&D, args);
    rss_start_kb = rss_kb(D.pid);
}

static void stop(void) { dt_finish(&D); }

/* ---- raw connections ---- */

/* A connection to the daemon from source address 127.0.0.src. */
static int dial(int src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in me = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    me.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)src);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons((unsigned short)D.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    ck_assert_msg(connect(fd, (struct sockaddr *)&to, sizeof to) == 0, "connect: %s",
                  strerror(errno));
    return fd;
}

/* Sends all of buf; 0, or -1 when the daemon closed the connection first. */
static int send_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        buf += k, n -= (size_t)k;
    }
    return 0;
}

typedef struct answer {
    int status;      /* of the first response; 0 when none came */
    int closed;      /* the daemon closed the connection within the wait */
    int responses;   /* status lines seen ("HTTP/1.1 " at a line start) */
    char text[8192]; /* the start of what came back */
} answer;

/* Reads until the daemon closes the connection or wait_s passes. */
static void read_answer(int fd, double wait_s, answer *a)
{
    size_t got = 0;
    char buf[16384];
    memset(a, 0, sizeof *a);
    for (double t0 = dt_now(); dt_now() - t0 < wait_s;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k <= 0) {
            a->closed = 1;
            break;
        }
        size_t keep = got + (size_t)k < sizeof a->text - 1 ? (size_t)k : sizeof a->text - 1 - got;
        memcpy(a->text + got, buf, keep);
        got += keep;
    }
    a->text[got] = '\0';
    sscanf(a->text, "HTTP/1.%*d %d", &a->status);
    for (const char *p = a->text; (p = strstr(p, "HTTP/1.1 ")); p++)
        a->responses += p == a->text || p[-1] == '\n';
}

/* Whether /healthz answers 200 to a client at 127.0.0.src within wait_s (the daemon frees a
 * closed connection's slot a moment after the client sees it closed). */
static int healthy_within(int src, double wait_s);

static int healthy_from(int src)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int fd = dial(src);
    answer a;
    int ok = send_all(fd, req, sizeof req - 1) == 0;
    read_answer(fd, 5.0, &a);
    close(fd);
    return ok && a.status == 200;
}

static int healthy_within(int src, double wait_s)
{
    for (double t0 = dt_now(); dt_now() - t0 < wait_s; usleep(100000))
        if (healthy_from(src))
            return 1;
    return 0;
}

/* ---- the table ---- */

enum gen { RAW = 0, BIG_HEADER, MANY_HEADERS, LONG_URL, MANY_PARAMS, LONG_METHOD, FLAT_ARRAY,
           WIDE_OBJECT, DEEP_ARRAY, DEEP_OBJECT, BIG_CHUNKED, SPACES_1MB };

typedef struct hostile {
    const char *name;
    enum gen gen;
    const char *raw;  /* RAW: the request; otherwise the body or NULL ("%s": where it goes) */
    int status;       /* 0: the connection is closed without an answer */
    const char *code; /* the daemon's JSON error code; NULL when libmicrohttpd answers */
    int closes;       /* the daemon closes the connection though the client did not ask */
} hostile;

#define H11 " HTTP/1.1\r\nHost: t\r\n"
#define CLOSE "Connection: close\r\n"
#define JSON_POST "POST /api/v1/jobs" H11 "Content-Type: application/json\r\n"

static const hostile cases[] = {
    /* request smuggling: the body's length must be read one way only */
    {"two different Content-Lengths", RAW, JSON_POST "Content-Length: 2\r\nContent-Length: 12\r\n"
     "\r\n{}GET /x HTTP/1.1\r\n", 400, "invalid_argument", 1},
    {"two equal Content-Lengths", RAW, JSON_POST "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
     400, "invalid_argument", 1},
    {"smuggled request behind Content-Length 0", RAW, JSON_POST "Content-Length: 0\r\n"
     "Content-Length: 44\r\n\r\nGET /api/v1/jobs/../../etc HTTP/1.1\r\nHost: t\r\n\r\n", 400,
     "invalid_argument", 1},
    {"Transfer-Encoding and Content-Length", RAW, JSON_POST "Content-Length: 4\r\n"
     "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400, "invalid_argument", 1},
    {"Transfer-Encoding gzip", RAW, JSON_POST "Transfer-Encoding: gzip\r\n\r\n{}", 400,
     "invalid_argument", 1},
    {"Transfer-Encoding gzip, chunked", RAW, JSON_POST "Transfer-Encoding: gzip, chunked\r\n\r\n"
     "2\r\n{}\r\n0\r\n\r\n", 400, "invalid_argument", 1},
    {"Transfer-Encoding xchunked", RAW, JSON_POST "Transfer-Encoding: xchunked\r\n\r\n"
     "2\r\n{}\r\n0\r\n\r\n", 400, "invalid_argument", 1},
    {"Transfer-Encoding chunked twice", RAW, JSON_POST "Transfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400, "invalid_argument", 1},
    {"chunked, with extension and trailer: framed, then judged", RAW, JSON_POST CLOSE
     "transfer-encoding: Chunked\r\n\r\n2;x=1\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n", 422,
     "invalid_spec", 1},
    {"chunk size not hex", RAW, JSON_POST CLOSE "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n"
     "0\r\n\r\n", 400, NULL, 1},
    {"chunk size overflowing", RAW, JSON_POST CLOSE "Transfer-Encoding: chunked\r\n\r\n"
     "ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n", 413, NULL, 1},
    {"Content-Length negative", RAW, JSON_POST "Content-Length: -1\r\n\r\n{}", 400, NULL, 1},
    {"Content-Length not a number", RAW, JSON_POST "Content-Length: 2x\r\n\r\n{}", 400, NULL, 1},
    {"Content-Length list", RAW, JSON_POST "Content-Length: 2, 2\r\n\r\n{}", 400, NULL, 1},
    {"Content-Length past 64 bits", RAW, JSON_POST "Content-Length: 99999999999999999999999\r\n"
     "\r\n{}", 413, NULL, 1},
    /* oversize bodies: refused on the header, or once read */
    {"Content-Length of 2 MiB, body never sent", RAW, JSON_POST "Content-Length: 2097152\r\n\r\n",
     413, "too_large", 1},
    {"Expect: 100-continue with 5 MB", RAW, JSON_POST "Content-Length: 5000000\r\n"
     "Expect: 100-continue\r\n\r\n", 413, "too_large", 1},
    {"chunked body of 1.25 MiB", BIG_CHUNKED, NULL, 413, "too_large", 1},
    {"1 MiB + 1 of spaces", SPACES_1MB, NULL, 413, "too_large", 1},
    /* headers, URLs, request lines */
    {"one header of 100 kB", BIG_HEADER, NULL, 431, NULL, 1},
    {"20000 headers", MANY_HEADERS, NULL, 431, NULL, 1},
    {"URL of 100 kB", LONG_URL, NULL, 414, NULL, 1},
    {"1000 query parameters (over the header memory)", MANY_PARAMS, NULL, 0, NULL, 1},
    {"HTTP/1.1 without Host", RAW, "GET /healthz HTTP/1.1\r\n" CLOSE "\r\n", 400, NULL, 1},
    {"HTTP/0.9 request line", RAW, "GET /healthz\r\n\r\n", 400, NULL, 1},
    {"HTTP/2.0 request line", RAW, "GET /healthz HTTP/2.0\r\nHost: t\r\n" CLOSE "\r\n", 505,
     NULL, 1},
    {"space in the URL", RAW, "GET /heal thz" H11 CLOSE "\r\n", 0, NULL, 1},
    {"header line without a colon", RAW, "GET /healthz" H11 "Broken\r\n" CLOSE "\r\n", 400, NULL,
     1},
    {"empty request line", RAW, "\r\n\r\n\r\n", 0, NULL, 1},
    {"binary garbage", RAW, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 0, NULL, 1},
    {"unknown method", RAW, "FOO /api/v1/jobs" H11 CLOSE "\r\n", 405, "method_not_allowed", 1},
    {"method in lower case", RAW, "get /healthz" H11 CLOSE "\r\n", 405, "method_not_allowed", 1},
    {"method of 5000 letters", LONG_METHOD, NULL, 405, "method_not_allowed", 1},
    {"CONNECT", RAW, "CONNECT example.org:443" H11 CLOSE "\r\n", 404, "not_found", 1},
    {"OPTIONS *", RAW, "OPTIONS *" H11 CLOSE "\r\n", 404, "not_found", 1},
    {"absolute URI", RAW, "GET http://example.org/healthz" H11 CLOSE "\r\n", 404, "not_found", 1},
    {"TRACE", RAW, "TRACE /healthz" H11 CLOSE "\r\n", 405, "method_not_allowed", 1},
    /* JSON bombs and bad text */
    {"flat array of 524k numbers (1 MiB)", FLAT_ARRAY, NULL, 413, "too_large", 1},
    {"object of 90k keys", WIDE_OBJECT, NULL, 413, "too_large", 1},
    {"100k nested arrays", DEEP_ARRAY, NULL, 400, "malformed_json", 1},
    {"5000 nested objects", DEEP_OBJECT, NULL, 400, "malformed_json", 1},
    {"invalid UTF-8 (overlong)", RAW, "{\"name\": \"\xc0\xaf\"}", 400, "malformed_json", 1},
    {"invalid UTF-8 (truncated)", RAW, "{\"name\": \"\xe2\x82\"}", 400, "malformed_json", 1},
    {"lone surrogate escape", RAW, "{\"name\": \"\\ud800x\"}", 400, "malformed_json", 1},
    {"NUL in a key", RAW, "{\"a\\u0000\": 1}", 400, "malformed_json", 1},
    {"number of a million digits' exponent", RAW, "{\"epochs\": 1e999999}", 400,
     "malformed_json", 1},
};
#define N_CASES ((int)(sizeof cases / sizeof *cases))

/* A growing request text. */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_n(buf *b, const char *s, long times)
{
    for (long i = 0; i < times; i++)
        put(b, s, strlen(s));
}

static void put_json_post(buf *b, const buf *body)
{
    char head[256];
    snprintf(head, sizeof head, JSON_POST CLOSE "Content-Length: %zu\r\n\r\n", body->n);
    put(b, head, strlen(head));
    put(b, body->p, body->n);
}

/* The bytes of case c. */
static buf build(const hostile *c)
{
    buf b = {0}, body = {0};
    switch (c->gen) {
    case RAW:
        if (c->raw[0] == '{') {
            put(&body, c->raw, strlen(c->raw));
            put_json_post(&b, &body);
        } else {
            put(&b, c->raw, strlen(c->raw));
        }
        break;
    case BIG_HEADER:
        put(&b, "GET /healthz" H11 CLOSE "X-Big: ", strlen("GET /healthz" H11 CLOSE "X-Big: "));
        puts_n(&b, "a", 100000);
        put(&b, "\r\n\r\n", 4);
        break;
    case MANY_HEADERS:
        put(&b, "GET /healthz" H11 CLOSE, strlen("GET /healthz" H11 CLOSE));
        puts_n(&b, "X-A: a\r\n", 20000);
        put(&b, "\r\n", 2);
        break;
    case LONG_URL:
        put(&b, "GET /healthz?", 13);
        puts_n(&b, "a", 100000);
        put(&b, H11 CLOSE "\r\n", strlen(H11 CLOSE "\r\n"));
        break;
    case MANY_PARAMS:
        put(&b, "GET /api/v1/jobs?p=1", 20);
        puts_n(&b, "&p=1", 1000);
        put(&b, H11 CLOSE "\r\n", strlen(H11 CLOSE "\r\n"));
        break;
    case LONG_METHOD:
        puts_n(&b, "G", 5000);
        put(&b, " /healthz" H11 CLOSE "\r\n", strlen(" /healthz" H11 CLOSE "\r\n"));
        break;
    case FLAT_ARRAY:
        put(&body, "[", 1);
        puts_n(&body, "1,", 524000);
        put(&body, "1]", 2);
        put_json_post(&b, &body);
        break;
    case WIDE_OBJECT:
        put(&body, "{", 1);
        for (int i = 0; i < 90000; i++) {
            char kv[32];
            put(&body, kv, (size_t)snprintf(kv, sizeof kv, "%s\"k%d\":1", i ? "," : "", i));
        }
        put(&body, "}", 1);
        put_json_post(&b, &body);
        break;
    case DEEP_ARRAY:
        puts_n(&body, "[", 100000);
        put_json_post(&b, &body);
        break;
    case DEEP_OBJECT:
        puts_n(&body, "{\"a\":", 5000);
        put(&body, "1", 1);
        puts_n(&body, "}", 5000);
        put_json_post(&b, &body);
        break;
    case SPACES_1MB:
        put(&body, "{", 1);
        puts_n(&body, " ", 1L << 20);
        put(&body, "}", 1);
        put_json_post(&b, &body);
        break;
    case BIG_CHUNKED:
        put(&b, JSON_POST CLOSE "Transfer-Encoding: chunked\r\n\r\n",
            strlen(JSON_POST CLOSE "Transfer-Encoding: chunked\r\n\r\n"));
        for (int i = 0; i < 20; i++) {
            put(&b, "10000\r\n", 7);
            puts_n(&b, " ", 65536);
            put(&b, "\r\n", 2);
        }
        put(&b, "0\r\n\r\n", 5);
        break;
    }
    free(body.p);
    return b;
}

/* Runs case c from source address src; fills a. */
static void run_case(const hostile *c, int src, answer *a)
{
    buf b = build(c);
    int fd = dial(src);
    send_all(fd, b.p, b.n); /* the daemon may refuse and close before it is all sent */
    read_answer(fd, 6.0, a);
    close(fd);
    free(b.p);
}

START_TEST(hostile_request_is_refused_or_closed)
{
    const hostile *c = &cases[_i];
    answer a;
    double t0 = dt_now();
    run_case(c, 1, &a);
    double took = dt_now() - t0;
    ck_assert_msg(a.status == c->status, "%s: status %d, expected %d: %.300s", c->name, a.status,
                  c->status, a.text);
    if (c->code) {
        char want[96];
        snprintf(want, sizeof want, "\"code\":\"%s\"", c->code);
        ck_assert_msg(strstr(a.text, want), "%s: no %s in %.300s", c->name, want, a.text);
        ck_assert_msg(strstr(a.text, "Content-Type: application/json"), "%s: not JSON", c->name);
    }
    /* nothing smuggled through: one answer, and the connection closed promptly (libmicrohttpd
     * 0.9.75 repeats the status line and headers of some of its own refusals inside their
     * body, so only the daemon's answers are counted) */
    if (c->code)
        ck_assert_msg(a.responses == 1, "%s: %d responses to one request", c->name,
                      a.responses);
    if (c->closes)
        ck_assert_msg(a.closed && took < 3.0, "%s: connection %s after %.1f s", c->name,
                      a.closed ? "closed" : "still open", took);
}
END_TEST

START_TEST(the_daemon_survives_the_table)
{
    ck_assert(alive(D.pid));
    ck_assert(healthy_from(1));
    json_t *l = dt_get(&D, "/api/v1/jobs", NULL, 200);
    ck_assert_int_eq(json_array_size(json_object_get(l, "jobs")), 0); /* no job was made */
    json_decref(l);
}
END_TEST

/* ---- clients that misbehave in time and number ---- */

/* Sends text one byte at a time, a byte every step_s, until it is sent or the daemon closes the
 * connection; returns the seconds until it was closed, or -1 when it never was. */
static double trickle(int fd, const char *text, double step_s)
{
    double t0 = dt_now();
    for (size_t i = 0; text[i]; i++) {
        if (send(fd, text + i, 1, MSG_NOSIGNAL) != 1)
            return dt_now() - t0;
        usleep((useconds_t)(step_s * 1e6));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char c;
        if (poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
            return dt_now() - t0;
    }
    return -1;
}

typedef struct slow_client {
    const char *text;
    int src;
    double closed_after;
} slow_client;

static void *slow_main(void *arg)
{
    slow_client *s = arg;
    int fd = dial(s->src);
    s->closed_after = trickle(fd, s->text, 0.25);
    close(fd);
    return NULL;
}

START_TEST(slowloris_headers_and_bodies_are_cut_at_the_request_timeout)
{
    /* 40 bytes of headers and 40 of body at 4 bytes a second: 10 s each, far past the 2 s
     * request timeout though never idle for the 3 s idle timeout */
    static const char head[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaa";
    static const char body[] = JSON_POST "Content-Length: 40\r\n\r\n"
                               "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    slow_client cl[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        cl[i] = (slow_client){i % 2 ? body : head, 3, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_main, &cl[i]), 0);
    }
    usleep(500000);
    ck_assert(healthy_from(2)); /* served meanwhile */
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(cl[i].closed_after > 0, "slow client %d was never cut", i);
        ck_assert_msg(cl[i].closed_after < 2.0 + 2.0, "slow client %d cut after %.1f s", i,
                      cl[i].closed_after);
    }
    /* the body case: the headers went fast, so the body's trickle is what was cut */
    ck_assert(healthy_from(3));
}
END_TEST

START_TEST(idle_connections_past_the_limits_are_refused_then_timed_out)
{
    int fds[2 * MAX_CONN], n = 0, refused = 0;
    /* 20 from 127.0.0.4: the per-address limit (16) takes 16 */
    for (int i = 0; i < PER_IP + 4; i++)
        fds[n++] = dial(4);
    /* then 30 more from three other addresses: 10 each, past the total (40) */
    for (int i = 0; i < 30; i++)
        fds[n++] = dial(5 + i % 3);
    usleep(300000);
    for (int i = 0; i < n; i++) {
        char c;
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        refused += poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0;
    }
    /* at most 16 from .4 and 40 in all are kept; the rest closed at once */
    ck_assert_msg(refused >= n - MAX_CONN && refused >= 4, "%d of %d refused", refused, n);
    /* the daemon is alive; after the request timeout every idle connection is closed */
    ck_assert(alive(D.pid));
    double t0 = dt_now();
    int open_left = n;
    while (open_left > 0 && dt_now() - t0 < 6.0) {
        usleep(100000);
        open_left = 0;
        for (int i = 0; i < n; i++) {
            char c;
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            open_left += !(poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0);
        }
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    ck_assert_msg(open_left == 0, "%d idle connections still open after %.1f s", open_left,
                  dt_now() - t0);
    ck_assert(healthy_within(4, 3.0));
}
END_TEST

typedef struct burst {
    int gen_case, src;
    int status;
} burst;

static void *burst_main(void *arg)
{
    burst *b = arg;
    answer a;
    run_case(&cases[b->gen_case], b->src, &a);
    b->status = a.status;
    return NULL;
}

static int case_index(enum gen g)
{
    for (int i = 0; i < N_CASES; i++)
        if (cases[i].gen == g)
            return i;
    ck_abort_msg("no case of kind %d", g);
    return -1;
}

START_TEST(memory_stays_bounded_under_a_burst_of_bombs)
{
    /* 3 rounds of 36 of the largest bodies at once (9 from each of 4 addresses) */
    enum gen kinds[] = {FLAT_ARRAY, WIDE_OBJECT, SPACES_1MB, BIG_CHUNKED};
    long peak = 0;
    for (int round = 0; round < 3; round++) {
        burst b[36];
        pthread_t th[36];
        for (int i = 0; i < 36; i++) {
            b[i] = (burst){case_index(kinds[i % 4]), 10 + i % 4, 0};
            ck_assert_int_eq(pthread_create(&th[i], NULL, burst_main, &b[i]), 0);
        }
        for (int i = 0; i < 36; i++) {
            long r = rss_kb(D.pid);
            peak = r > peak ? r : peak;
            pthread_join(th[i], NULL);
            ck_assert_msg(b[i].status == 413, "burst request %d: %d", i, b[i].status);
        }
    }
    long end = rss_kb(D.pid);
    printf("hostile: daemon RSS %ld kB at start, %ld kB peak during the bursts, %ld kB after\n",
           rss_start_kb, peak, end);
    /* 36 bodies of 1 MiB are in memory at once at worst; nothing accumulates across rounds
     * (a sanitizer's quarantine and shadow memory multiply all of it) */
    ck_assert_msg(peak - rss_start_kb < SANITIZER_FACTOR * (36 * 1024 + 64 * 1024),
                  "peak %ld kB over start %ld kB", peak, rss_start_kb);
    ck_assert_msg(end - rss_start_kb < SANITIZER_FACTOR * 96 * 1024, "RSS grew from %ld to %ld kB",
                  rss_start_kb, end);
    ck_assert(healthy_from(1));
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("daemon hostile clients");
    TCase *t = tcase_create("hostile");
    tcase_add_unchecked_fixture(t, start, stop);
    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, hostile_request_is_refused_or_closed, 0, N_CASES);
    tcase_add_test(t, the_daemon_survives_the_table);
    tcase_add_test(t, slowloris_headers_and_bodies_are_cut_at_the_request_timeout);
    tcase_add_test(t, idle_connections_past_the_limits_are_refused_then_timed_out);
    tcase_add_test(t, memory_stays_bounded_under_a_burst_of_bombs);
    suite_add_tcase(s, t);
    return s;
}

QD_CHECK_MAIN(hostile_suite)
