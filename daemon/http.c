/*
 * http.c: the HTTP server and its dispatcher (http.h).
 *
 * libmicrohttpd runs one thread per connection (handlers may block: on the store's group
 * commit, on an event stream), with limits on connections in all and per address, an idle
 * timeout and a memory pool per connection. The access handler is called first with the
 * headers (begin: route, method, token, Content-Length, Content-Type, query parameters; any
 * refusal is queued at once, before the body is read), then with each piece of the body
 * (collected up to HTTP_MAX_BODY), then once more to run the handler (finish).
 *
 * Hostile clients: libmicrohttpd runs in strict mode (HTTP/1.1 needs Host; no spaces in the
 * URL) and refuses what it cannot frame (a bad Content-Length, headers over the connection's
 * memory, an unknown version). begin() refuses what it frames one way and another server could
 * frame another (two Content-Lengths, Transfer-Encoding other than one "chunked", or with a
 * Content-Length: request smuggling) and closes that connection. The idle timeout does not stop
 * a client that sends a byte now and then (slowloris), so each connection is also tracked
 * (tracked, the watchdog thread): while it waits for a request, the whole request must arrive
 * within --request-timeout of the connection's start or of the previous answer, or the
 * watchdog shuts its socket down. Answers (event streams, downloads) have no such deadline.
 * The watchdog shuts down its own dup() of the socket, so it never acts on a descriptor number
 * that libmicrohttpd has closed and the system has given to another file.
 */
#include "http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "qtime.h"

enum { R_BODY = 1, R_PUBLIC = 2 };

#define HTTP_DISCARD (16L << 20)

typedef struct route {
    const char *method, *pattern;
    enum MHD_Result (*fn)(http_req *r);
    int flags;
    const char *const query[8]; /* allowed query parameters */
} route;

static const route ROUTES[] = {
    {"POST", "/api/v1/jobs", http_jobs_submit, R_BODY, {"priority", "deadline"}},
    {"GET", "/api/v1/jobs", http_jobs_list, 0, {"state", "kind", "name", "team", "limit", "cursor"}},
    {"GET", "/api/v1/jobs/{id}", http_jobs_get, 0, {0}},
    {"POST", "/api/v1/jobs/{id}/cancel", http_jobs_cancel, 0, {0}},
    {"GET", "/api/v1/jobs/{id}/events", http_events_stream, 0, {0}},
    {"GET", "/api/v1/jobs/{id}/metrics", http_jobs_metrics, 0, {0}},
    {"GET", "/api/v1/jobs/{id}/artifacts", http_jobs_artifacts, 0, {0}},
    {"GET", "/api/v1/jobs/{id}/artifacts/{name}", http_jobs_artifact, 0, {0}},
    {"GET", "/api/v1/pareto", http_info_pareto, 0, {"dataset", "model", "team", "job", "x"}},
    {"GET", "/api/v1/models", http_info_models, 0, {0}},
    {"GET", "/api/v1/datasets", http_info_datasets, 0, {0}},
    {"GET", "/healthz", http_info_health, R_PUBLIC, {0}},
    {"GET", "/metrics", http_info_metrics, 0, {0}},
    {"GET", "/api/v1/events", http_events_all, 0, {0}},
    {"GET", "/", http_web_asset, R_PUBLIC, {0}},
    {"GET", "/static/{name}", http_web_asset, R_PUBLIC, {0}},
};
#define N_ROUTES ((int)(sizeof ROUTES / sizeof *ROUTES))

/* A connection as the watchdog sees it; lives from libmicrohttpd's STARTED to CLOSED. */
typedef struct tracked {
    http_server *h;
    int fd;           /* a dup() of the connection's socket; -1 when none could be made */
    double since;     /* when the request now awaited began to be awaited (qtime_mono) */
    int answering;    /* a request is being answered: no deadline */
    int cut;          /* shut down by the watchdog */
    struct tracked *prev, *next;
} tracked;

struct http_server {
    struct MHD_Daemon *d;
    qd_app *app;
    pthread_mutex_t tmu;     /* guards the tracked list and the watchdog's fields */
    pthread_cond_t tcv;
    pthread_t watchdog;
    int watching, stopping;
    tracked *conns;
    double request_timeout;
    unsigned long cuts, cuts_logged;
    double logged_at;
};

/* ---- replies ---- */

enum MHD_Result http_send(http_req *r, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    if (r->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    metrics_http(r->app->mx, r->route, status, qtime_mono() - r->t0);
    return ok;
}

struct MHD_Response *http_json_response(json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return http_json_text(text);
}

struct MHD_Response *http_json_text(char *text)
{
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *full = realloc(text, n + 2);
    if (!full) {
        free(text);
        return NULL;
    }
    full[n] = '\n';
    full[n + 1] = '\0';
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(n + 1, full, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(full);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return resp;
}

enum MHD_Result http_json(http_req *r, int status, json_t *body)
{
    return http_send(r, status, http_json_response(body));
}

/* Length of the UTF-8 sequence at s (1 to 4), or 0 when it is not one (RFC 3629). */
static int utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    int n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
          : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    for (int i = 1; i < n; i++)
        if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
            return 0;
    return n;
}

/* in as valid UTF-8 (JSON strings must be): a byte that starts no valid sequence becomes '?'.
 * Messages echo the client's bytes (a path, a query parameter) and may be cut mid-character. */
static const char *utf8_clean(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)in; *s && o + 1 < cap;) {
        int n = utf8_len(s);
        if (n == 0 || o + (size_t)n >= cap) {
            out[o++] = '?';
            s++;
            continue;
        }
        memcpy(out + o, s, (size_t)n);
        o += (size_t)n, s += n;
    }
    out[o] = '\0';
    return out;
}

static enum MHD_Result error_body(http_req *r, int code, const char *field, const char *msg,
                                  const char *hname, const char *hvalue)
{
    int status = qd_err_http_status(code);
    char m[600], f[300];
    json_t *b = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", qd_err_name(code), "message",
                          utf8_clean(m, sizeof m, msg && *msg ? msg : qd_err_message(code)),
                          "field", utf8_clean(f, sizeof f, field ? field : ""));
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!text)
        return MHD_NO;
    size_t n = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (hname)
        MHD_add_response_header(resp, hname, hvalue);
    return http_send(r, status, resp);
}

enum MHD_Result http_error(http_req *r, int code, const char *field, const char *fmt, ...)
{
    char msg[600] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    const char *hname = code == QD_EAUTH ? "WWW-Authenticate" : NULL;
    return error_body(r, code, field, msg, hname, "Bearer realm=\"quantd\"");
}

enum MHD_Result http_error_from(http_req *r, const qd_err *e)
{
    int code = e->code ? e->code : QD_EINTERNAL;
    if (qd_err_http_status(code) >= 500)
        log_msg(LOG_ERROR, "%s %s: %s: %s", r->method, ROUTES[r->route].pattern,
                qd_err_name(code), e->msg);
    return http_error(r, code, e->field, "%s", e->msg);
}

const char *http_query(http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

const char *http_visible_team(http_req *r) { return r->admin ? NULL : r->team; }

/* ---- request deadlines ---- */

static tracked *tracked_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The connection starts answering a request (1), or has answered it and awaits the next (0). */
static void track_answering(struct MHD_Connection *conn, int answering)
{
    tracked *t = tracked_of(conn);
    if (!t)
        return;
    pthread_mutex_lock(&t->h->tmu);
    t->answering = answering;
    if (!answering)
        t->since = qtime_mono();
    pthread_mutex_unlock(&t->h->tmu);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *h = cls;
    tracked *t = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!(t = calloc(1, sizeof *t)))
            return;
        *t = (tracked){.h = h, .since = qtime_mono(),
                       .fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1};
        pthread_mutex_lock(&h->tmu);
        if ((t->next = h->conns))
            t->next->prev = t;
        h->conns = t;
        pthread_mutex_unlock(&h->tmu);
        *socket_context = t;
        return;
    }
    if (!t)
        return;
    pthread_mutex_lock(&h->tmu);
    if (t->prev)
        t->prev->next = t->next;
    else
        h->conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&h->tmu);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
    *socket_context = NULL;
}

/* Cuts the connections late with their request; called with h->tmu held. */
static void cut_late(http_server *h, double now)
{
    for (tracked *t = h->conns; t; t = t->next)
        if (!t->answering && !t->cut && t->fd >= 0 && now - t->since > h->request_timeout) {
            shutdown(t->fd, SHUT_RDWR);
            t->cut = 1;
            h->cuts++;
        }
    if (h->cuts > h->cuts_logged && now - h->logged_at >= 10.0) {
        log_msg(LOG_WARN, "http: closed %lu connection(s) that took over %.0f s to send a "
                "request (%lu since the start)", h->cuts - h->cuts_logged, h->request_timeout,
                h->cuts);
        h->cuts_logged = h->cuts;
        h->logged_at = now;
    }
}

static void *watchdog_main(void *arg)
{
    http_server *h = arg;
    pthread_mutex_lock(&h->tmu);
    while (!h->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&h->tcv, &h->tmu, &ts);
        cut_late(h, qtime_mono());
    }
    pthread_mutex_unlock(&h->tmu);
    return NULL;
}

static int watchdog_start(http_server *h)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->tcv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&h->tmu, NULL);
    h->watching = pthread_create(&h->watchdog, NULL, watchdog_main, h) == 0;
    return h->watching ? 0 : -1;
}

static void watchdog_stop(http_server *h)
{
    if (h->watching) {
        pthread_mutex_lock(&h->tmu);
        h->stopping = 1;
        pthread_cond_signal(&h->tcv);
        pthread_mutex_unlock(&h->tmu);
        pthread_join(h->watchdog, NULL);
        h->watching = 0;
    }
}

/* ---- dispatch ---- */

/* Matches path against pattern; fills params. */
static int match(const char *pattern, const char *path, http_req *r)
{
    int np = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return 0;
        pattern++, path++;
        size_t pl = strcspn(pattern, "/"), sl = strcspn(path, "/");
        if (*pattern == '{') {
            if (sl == 0 || sl >= sizeof r->param[0] || np >= 2)
                return 0;
            memcpy(r->param[np], path, sl);
            r->param[np++][sl] = '\0';
        } else if (pl != sl || strncmp(pattern, path, sl) != 0) {
            return 0;
        }
        pattern += pl, path += sl;
    }
    return !*pattern && !*path;
}

/* The route for method and path; -1 with *allow listing the methods the path takes. */
static int find_route(http_req *r, const char *method, const char *path, char *allow, size_t cap)
{
    int is_head = strcmp(method, "HEAD") == 0;
    allow[0] = '\0';
    for (int i = 0; i < N_ROUTES; i++) {
        if (!match(ROUTES[i].pattern, path, r))
            continue;
        if (strcmp(ROUTES[i].method, method) == 0 ||
            (is_head && strcmp(ROUTES[i].method, "GET") == 0))
            return i;
        size_t n = strlen(allow);
        snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", ROUTES[i].method);
    }
    return -1;
}

typedef struct query_check {
    const route *rt;
    const char *bad;
} query_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind, (void)value;
    query_check *q = cls;
    for (int i = 0; i < 8 && q->rt->query[i]; i++)
        if (strcmp(key, q->rt->query[i]) == 0)
            return MHD_YES;
    q->bad = key;
    return MHD_NO;
}

static int json_media_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; ");
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

typedef struct framing {
    int cl, te;
    const char *te_value;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    framing *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->cl++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        f->te++, f->te_value = value;
    return MHD_YES;
}

static int is_chunked(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

/* A request whose length one server could read one way and another server another way (request
 * smuggling) is refused and its connection closed: 1 with the refusal queued in *ret. */
static int ambiguous_length(http_req *r, enum MHD_Result *ret)
{
    framing f = {0};
    const char *field = NULL, *why = NULL;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.cl > 1)
        field = "Content-Length", why = "a request carries at most one Content-Length";
    else if (f.te > 1 || (f.te && !is_chunked(f.te_value ? f.te_value : "")))
        field = "Transfer-Encoding", why = "the only transfer coding taken is one \"chunked\"";
    else if (f.te && f.cl)
        field = "Transfer-Encoding",
        why = "send Content-Length or Transfer-Encoding: chunked, not both";
    if (!field)
        return 0;
    r->close = 1;
    *ret = http_error(r, QD_EINVAL, field, "%s", why);
    return 1;
}

/* The checks on the headers; returns MHD_YES with nothing queued when the request may go on. */
static enum MHD_Result begin(http_req *r, const char *url, const char *method)
{
    char allow[64];
    enum MHD_Result ret;
    if (ambiguous_length(r, &ret))
        return ret;
    int rt = find_route(r, method, url, allow, sizeof allow);
    if (rt < 0 && allow[0])
        return error_body(r, QD_EMETHOD, "", "this path takes only: see the Allow header",
                          "Allow", allow);
    if (rt < 0)
        return http_error(r, QD_ENOENT, "", "no route %s %s", method, url);
    r->route = rt;
    const route *R = &ROUTES[rt];
    qd_err err = {0};
    int rc = R->flags & R_PUBLIC ? 0
                                 : auth_request(r->app, http_header(r, "Authorization"), r->team,
                                                &r->admin, &err);
    if (rc < 0)
        return http_error_from(r, &err);
    const char *cl = http_header(r, "Content-Length");
    if (cl && strtoll(cl, NULL, 10) > HTTP_MAX_BODY)
        return http_error(r, QD_ETOOBIG, "", "request bodies are limited to %ld bytes",
                          HTTP_MAX_BODY);
    if ((R->flags & R_BODY) && !json_media_type(http_header(r, "Content-Type")))
        return http_error(r, QD_EMEDIA, "Content-Type", "send the body as application/json");
    query_check q = {R, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &q);
    if (q.bad)
        return http_error(r, QD_EINVAL, q.bad, "unknown query parameter \"%s\"", q.bad);
    return MHD_YES;
}

static int append(http_req *r, const char *data, size_t n)
{
    if (r->len + n > (size_t)HTTP_MAX_BODY)
        return -1;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        if (cap > (size_t)HTTP_MAX_BODY + 1)
            cap = (size_t)HTTP_MAX_BODY + 1;
        char *b = realloc(r->body, cap);
        if (!b)
            return -1;
        r->body = b, r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return 0;
}

/* Items of a JSON text (commas outside strings): a bound, read before parsing, on the size of
 * the tree it would parse into. */
static long json_items(const char *s, size_t n)
{
    long items = 0;
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_string && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            in_string = !in_string;
        else if (!in_string && s[i] == ',')
            items++;
    }
    return items;
}

static enum MHD_Result finish(http_req *r)
{
    track_answering(r->conn, 1);
    if (r->too_big)
        return http_error(r, QD_ETOOBIG, "", "request bodies are limited to %ld bytes",
                          HTTP_MAX_BODY);
    if (ROUTES[r->route].flags & R_BODY) {
        json_error_t je;
        if (r->len == 0)
            return http_error(r, QD_EJSON, "", "the request has no body; send a JSON document");
        if (json_items(r->body, r->len) > HTTP_MAX_JSON_ITEMS)
            return http_error(r, QD_ETOOBIG, "", "a JSON body holds at most %d items",
                              HTTP_MAX_JSON_ITEMS);
        r->json = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!r->json)
            return http_error(r, QD_EJSON, "", "line %d, column %d: %s", je.line, je.column,
                              je.text);
    }
    return ROUTES[r->route].fn(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        *r = (http_req){.conn = conn, .app = cls, .route = -1, .method = method,
                        .t0 = qtime_mono()};
        *con_cls = r;
        enum MHD_Result ret = begin(r, url, method);
        if (r->status) /* refused: answering now */
            track_answering(conn, 1);
        return ret;
    }
    if (r->status) { /* refused already: drop the body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        /* libmicrohttpd answers only once the body is read: an oversize body without
         * Content-Length is read and dropped up to HTTP_DISCARD bytes, then the connection is
         * closed without an answer */
        size_t n = *upload_size;
        *upload_size = 0;
        if (!r->too_big && append(r, upload, n) < 0)
            r->too_big = 1;
        r->seen += n;
        return r->seen > HTTP_DISCARD ? MHD_NO : MHD_YES;
    }
    return finish(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)toe;
    track_answering(conn, 0);
    http_req *r = *con_cls;
    if (!r)
        return;
    json_decref(r->json);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_msg(LOG_WARN, "http: %s", line);
}

/* ---- the server ---- */

static int split_host_port(const char *s, char *host, size_t cap, long *port)
{
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= cap)
            return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        if (!(colon = strrchr(s, ':')) || (size_t)(colon - s) >= cap)
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    char *end;
    *port = strtol(colon + 1, &end, 10);
    return colon[1] && !*end && *port >= 0 && *port <= 65535 ? 0 : -1;
}

int http_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len,
                      int *loopback, qd_err *err)
{
    char host[256];
    long port;
    if (split_host_port(listen, host, sizeof host, &port) < 0)
        return qd_fail(err, QD_EINVAL, "listen",
                       "listen address \"%s\" is not HOST:PORT, [IPV6]:PORT or :PORT", listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, NULL, &hints, &res);
    if (gai || !res)
        return qd_fail(err, QD_EINVAL, "listen", "cannot resolve \"%s\": %s", host,
                       gai_strerror(gai));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    if (addr->ss_family == AF_INET) {
        struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
        a4->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    } else {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        a6->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) ||
                    (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) && a6->sin6_addr.s6_addr[12] == 127);
    }
    return 0;
}

const char *http_route(int i, const char **pattern, int *needs_token)
{
    if (i < 0 || i >= N_ROUTES)
        return NULL;
    *pattern = ROUTES[i].pattern;
    *needs_token = !(ROUTES[i].flags & R_PUBLIC);
    return ROUTES[i].method;
}

metrics *http_metrics_create(void)
{
    static const char *methods[N_ROUTES], *patterns[N_ROUTES];
    for (int i = 0; i < N_ROUTES; i++)
        methods[i] = ROUTES[i].method, patterns[i] = ROUTES[i].pattern;
    return metrics_create(methods, patterns, N_ROUTES);
}

int http_start(http_server **out, qd_app *app, qd_err *err)
{
    const serve_config *c = app->cfg;
    struct sockaddr_storage addr;
    socklen_t len;
    int loopback, rc = http_parse_listen(c->listen, &addr, &len, &loopback, err);
    if (rc < 0)
        return rc;
    http_server *h = calloc(1, sizeof *h);
    if (!h)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    h->app = app;
    h->request_timeout = c->request_timeout;
    if (watchdog_start(h) < 0) {
        free(h);
        return qd_fail(err, QD_ENOMEM, NULL, "cannot start the HTTP watchdog thread");
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG |
                     (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, app, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->per_ip_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)c->connection_memory, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_STRICT_FOR_CLIENT, 1,
        MHD_OPTION_END);
    if (!h->d) {
        watchdog_stop(h);
        free(h);
        return qd_fail(err, QD_EIO, "listen", "cannot listen on %s (in use, or not an address "
                       "of this machine?)", c->listen);
    }
    *out = h;
    return 0;
}

int http_port(http_server *h)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void http_stop(http_server *h)
{
    if (!h)
        return;
    watchdog_stop(h);
    MHD_stop_daemon(h->d); /* every connection's CLOSED notice frees its tracked entry */
    pthread_mutex_destroy(&h->tmu);
    pthread_cond_destroy(&h->tcv);
    free(h);
}
