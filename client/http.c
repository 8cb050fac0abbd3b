/*
 * http.c: quantctl's requests to quantd on one reused libcurl handle: JSON calls, downloads and
 * the server-sent event stream of a job.
 *
 * Each call resets the handle (keeping its connection cache), sets the URL, the bearer token and
 * the timeouts, and turns any outcome other than a 2xx answer into a qcerr: transport failures
 * name the URL, error bodies ({"error": {"code", "message", "field"}}) keep the server's words.
 * Bodies are collected in a growing buffer capped at HTTP_BODY_MAX. The event parser follows the
 * text/event-stream rules quantd uses: "event:" and "data:" lines, a blank line ends an event,
 * lines starting with ':' are comments (keep-alives).
 */
#include "http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CONNECT_TIMEOUT_MS 5000L
#define CALL_TIMEOUT_S 120L
#define STALL_SECONDS 60L

/* ---- growing buffers ---- */

typedef struct buf {
    char *p;
    size_t n, cap;
    int overflow;
} buf;

static int buf_add(buf *b, const char *d, size_t n)
{
    if (b->n + n + 1 > HTTP_BODY_MAX) {
        b->overflow = 1;
        return -1;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->overflow = 1;
            return -1;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static size_t on_body(char *d, size_t size, size_t n, void *vb)
{
    return buf_add(vb, d, size * n) ? 0 : size * n;
}

/* ---- client and request set-up ---- */

int http_init(http_client *c, const char *url, const char *token, qcerr *e)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    const char *scheme = strstr(url, "://");
    int web = !scheme || (scheme - url == 4 && !strncasecmp(url, "http", 4)) ||
              (scheme - url == 5 && !strncasecmp(url, "https", 5));
    if (n == 0 || n >= sizeof c->url || !web)
        return qcerr_set(e, QC_USAGE, NULL, NULL,
                         "bad quantd URL '%s' (--url or QUANTD_URL): http://HOST:PORT expected",
                         url);
    memcpy(c->url, url, n);
    c->url[n] = '\0';
    c->token = token && *token ? token : NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init()))
        return qcerr_set(e, QC_LOCAL, NULL, NULL, "cannot initialise libcurl");
    return 0;
}

void http_close(http_client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
    curl_global_cleanup();
}

void http_reply_free(http_reply *r)
{
    free(r->body);
    json_decref(r->json);
    *r = (http_reply){0};
}

static struct curl_slist *setup(http_client *c, const char *method, const char *path,
                                const char *body, const char *accept, char *errbuf)
{
    CURL *h = c->curl;
    char url[2048], auth[1024];
    curl_easy_reset(h);
    snprintf(url, sizeof url, "%s%s", c->url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "quantctl/0.1");
    struct curl_slist *hd = curl_slist_append(NULL, accept);
    hd = curl_slist_append(hd, "Expect:");
    if (c->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        hd = curl_slist_append(hd, auth);
    }
    if (!strcmp(method, "POST")) {
        hd = curl_slist_append(hd, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    return hd;
}

/* ---- errors a person can act on ---- */

static int transport_error(http_client *c, CURLcode rc, const char *errbuf, qcerr *e)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    long os_errno = 0;
    curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    if (rc == CURLE_COULDNT_CONNECT && os_errno)
        why = strerror((int)os_errno);
    e->status = 0;
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        return qcerr_set(e, QC_USAGE, NULL, NULL, "bad quantd URL '%s' (--url or QUANTD_URL): %s",
                         c->url, why);
    return qcerr_set(e, QC_CONNECT, NULL, NULL,
                     "cannot connect to quantd at %s: %s\n"
                     "  is `quantd serve` running there? set the address with --url or QUANTD_URL",
                     c->url, why);
}

static int auth_error(http_client *c, long status, const char *code, const char *msg, qcerr *e)
{
    if (status == 403 || !strcmp(code, "forbidden"))
        return qcerr_set(e, QC_AUTH, code, NULL, "not allowed with this token: %s", msg);
    if (!c->token)
        return qcerr_set(e, QC_AUTH, code, NULL,
                         "quantd at %s needs a token (%s): set QUANTD_TOKEN or pass --token\n"
                         "  an administrator creates one with `quantd token create --team NAME`",
                         c->url, msg);
    return qcerr_set(e, QC_AUTH, code, NULL,
                     "quantd at %s refused the token (%s): check QUANTD_TOKEN or --token", c->url,
                     msg);
}

/* The error of a non-2xx answer, from its {"error": {...}} body when it has one. */
static int answer_error(http_client *c, long status, const char *body, qcerr *e)
{
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    json_t *err = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *field = json_string_value(json_object_get(err, "field"));
    char text[256];
    if (!code)
        code = qcerr_code_for_status(status);
    if (!msg) {
        snprintf(text, sizeof text, "%.200s", body && *body ? body : "no details");
        msg = text;
    }
    int exit = qcerr_classify(status, code);
    if (exit == QC_AUTH)
        auth_error(c, status, code, msg, e);
    else if (exit == QC_REJECTED && field && *field && strncmp(msg, field, strlen(field)))
        qcerr_set(e, exit, code, field, "%s: %s (%s, HTTP %ld)", field, msg, code, status);
    else if (exit == QC_REJECTED)
        qcerr_set(e, exit, code, field, "%s (%s, HTTP %ld)", msg, code, status);
    else
        qcerr_set(e, exit, code, field, "quantd at %s answered HTTP %ld %s: %s", c->url, status,
                  code, msg);
    e->status = status;
    json_decref(j);
    return exit;
}

/* ---- JSON calls ---- */

int http_call(http_client *c, const char *method, const char *path, const char *body, http_reply *r,
              qcerr *e)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    buf b = {0};
    *r = (http_reply){0};
    struct curl_slist *hd = setup(c, method, path, body, "Accept: application/json", errbuf);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, CALL_TIMEOUT_S);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_slist_free_all(hd);
    int ret = 0;
    if (rc != CURLE_OK && !b.overflow) {
        ret = transport_error(c, rc, errbuf, e);
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (b.overflow) {
        ret = qcerr_set(e, QC_SERVER, NULL, NULL, "answer to %s is larger than %u bytes", path,
                        HTTP_BODY_MAX);
        goto out;
    }
    if (r->status < 200 || r->status > 299) {
        ret = answer_error(c, r->status, b.p, e);
        goto out;
    }
    json_error_t je;
    if (b.n && !(r->json = json_loadb(b.p, b.n, 0, &je)))
        ret = qcerr_set(e, QC_SERVER, NULL, NULL, "answer to %s %s is not JSON: %s", method, path,
                        je.text);
out:
    r->body = b.p, r->len = b.n;
    return ret;
}

/* ---- downloads ---- */

typedef struct sink {
    CURL *h;
    FILE *out;
    long long bytes;
    int failed_write;
    buf err; /* the body of a non-2xx answer */
} sink;

static size_t on_file(char *d, size_t size, size_t n, void *vs)
{
    sink *s = vs;
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return buf_add(&s->err, d, size * n) ? 0 : size * n;
    if (fwrite(d, 1, size * n, s->out) != size * n) {
        s->failed_write = 1;
        return 0;
    }
    s->bytes += (long long)(size * n);
    return size * n;
}

int http_download(http_client *c, const char *path, FILE *out, long long *bytes, qcerr *e)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    sink s = {.h = c->curl, .out = out};
    struct curl_slist *hd = setup(c, "GET", path, NULL, "Accept: */*", errbuf);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_file);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_slist_free_all(hd);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    int ret = 0;
    if (s.failed_write)
        ret = qcerr_set(e, QC_LOCAL, NULL, NULL, "cannot write the download of %s", path);
    else if (rc != CURLE_OK && !s.err.overflow)
        ret = transport_error(c, rc, errbuf, e);
    else if (status < 200 || status > 299)
        ret = answer_error(c, status, s.err.p, e);
    *bytes = s.bytes;
    free(s.err.p);
    return ret;
}

/* ---- server-sent events ---- */

typedef struct sse {
    CURL *h;
    http_stream *st;
    buf line, data, err;
    char event[64];
    int has_data, stopped, idle;
    time_t last_event;
} sse;

static void sse_line(sse *s, char *l)
{
    size_t n = strlen(l);
    if (n && l[n - 1] == '\r')
        l[--n] = '\0';
    if (n == 0) {
        if (s->has_data && !s->stopped)
            s->stopped = s->st->fn(s->st->ctx, s->event[0] ? s->event : "message", s->data.p);
        s->data.n = 0, s->has_data = 0, s->event[0] = '\0';
        s->last_event = time(NULL);
        return;
    }
    char *colon = strchr(l, ':');
    char *val = colon ? colon + 1 + (colon[1] == ' ') : l + n;
    if (colon)
        *colon = '\0';
    if (!strcmp(l, "event"))
        snprintf(s->event, sizeof s->event, "%s", val);
    else if (!strcmp(l, "id"))
        snprintf(s->st->last_id, sizeof s->st->last_id, "%s", val);
    else if (!strcmp(l, "data")) {
        if (s->has_data)
            buf_add(&s->data, "\n", 1);
        buf_add(&s->data, val, strlen(val));
        s->has_data = 1;
    }
}

static size_t on_events(char *d, size_t size, size_t n, void *vs)
{
    sse *s = vs;
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return buf_add(&s->err, d, size * n) ? 0 : size * n;
    for (size_t i = 0; i < size * n && !s->stopped; i++) {
        if (d[i] != '\n') {
            if (buf_add(&s->line, d + i, 1))
                return 0;
            continue;
        }
        buf_add(&s->line, "", 0);
        if (s->line.p)
            sse_line(s, s->line.p);
        s->line.n = 0;
    }
    return s->stopped ? 0 : size * n;
}

/* Called by libcurl about once a second: ends a stream that has been idle too long. */
static int on_tick(void *vs, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    sse *s = vs;
    (void)a, (void)b, (void)c, (void)d;
    if (s->st->idle_s > 0 && time(NULL) - s->last_event >= s->st->idle_s)
        s->idle = 1;
    return s->idle;
}

int http_events(http_client *c, http_stream *st, qcerr *e)
{
    char errbuf[CURL_ERROR_SIZE] = "", resume[64];
    sse s = {.h = c->curl, .st = st, .last_event = time(NULL)};
    struct curl_slist *hd = setup(c, "GET", st->path, NULL, "Accept: text/event-stream", errbuf);
    if (st->last_id[0]) {
        snprintf(resume, sizeof resume, "Last-Event-ID: %s", st->last_id);
        hd = curl_slist_append(hd, resume);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hd);
    }
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_events);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_tick);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &s);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_slist_free_all(hd);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    int ret = 0;
    if (status && (status < 200 || status > 299))
        ret = answer_error(c, status, s.err.p, e);
    else if (rc != CURLE_OK && !s.stopped && !s.idle)
        ret = transport_error(c, rc, errbuf, e);
    free(s.line.p), free(s.data.p), free(s.err.p);
    return ret;
}

int http_query_add(char *buf, size_t cap, const char *key, const char *value)
{
    if (!value)
        return 0;
    char *esc = curl_easy_escape(NULL, value, 0);
    if (!esc)
        return -1;
    size_t n = strlen(buf);
    int w = snprintf(buf + n, cap - n, "%c%s=%s", strchr(buf, '?') ? '&' : '?', key, esc);
    curl_free(esc);
    return w < 0 || (size_t)w >= cap - n ? -1 : 0;
}
