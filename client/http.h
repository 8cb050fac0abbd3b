/*
 * http.h: quantctl's HTTP on libcurl: JSON requests, file downloads and server-sent events
 * against one quantd base URL, with the bearer token in Authorization.
 *
 * Every call returns 0 on a 2xx answer or a quantctl exit code with the qcerr filled in with
 * something a person can act on: a refused connection names the URL, a 401 says how to set a
 * token, a refused request carries the server's code, message and field.
 * Ownership: http_client owns one CURL handle (reused, so calls share a connection); http_close
 * frees it. An http_reply owns its body and parsed JSON; http_reply_free releases both and is a
 * no-op on a zeroed reply. Bodies are capped at HTTP_BODY_MAX bytes.
 */
#ifndef QC_HTTP_H
#define QC_HTTP_H

#include <jansson.h>
#include <stdio.h>

#include "qcerr.h"

#define HTTP_BODY_MAX (64u << 20)

typedef struct http_client {
    char url[1024];    /* base URL, no trailing slash */
    const char *token; /* bearer token or NULL */
    void *curl;        /* CURL * */
} http_client;

typedef struct http_reply {
    long status;
    char *body; /* NUL-terminated, may be NULL when empty */
    size_t len;
    json_t *json; /* parsed body, NULL when empty */
} http_reply;

int http_init(http_client *c, const char *url, const char *token, qcerr *e);
void http_close(http_client *c);
void http_reply_free(http_reply *r);

/* method "GET" or "POST"; path starts with '/' and may carry a query; body may be NULL.
 * A 2xx answer whose body is not JSON is QC_SERVER. */
int http_call(http_client *c, const char *method, const char *path, const char *body, http_reply *r,
              qcerr *e);

/* GET path and write the body to out; *bytes counts what was written. */
int http_download(http_client *c, const char *path, FILE *out, long long *bytes, qcerr *e);

/* Called for each server-sent event (event defaults to "message"); nonzero stops the stream. */
typedef int (*http_event_fn)(void *ctx, const char *event, const char *data);

typedef struct http_stream {
    const char *path;
    http_event_fn fn;
    void *ctx;
    int idle_s;       /* give up on the stream after this many seconds without an event; 0: never */
    char last_id[32]; /* in: sent as Last-Event-ID unless empty; out: the last event id seen */
} http_stream;

/* GET s->path as text/event-stream until the server closes it, fn returns nonzero or the
 * stream stays idle for idle_s seconds; all three return 0. */
int http_events(http_client *c, http_stream *s, qcerr *e);

/* Append "&key=value" (or "?key=value" for the first) with value URL-escaped; skips NULL values.
 * Returns 0, or -1 when buf is too small. */
int http_query_add(char *buf, size_t cap, const char *key, const char *value);

#endif
