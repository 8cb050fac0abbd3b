/*
 * http.h: the HTTP server of `quantd serve` (libmicrohttpd, one thread per connection) and what
 * its route handlers share.
 *
 * The dispatcher (http.c) owns the route table. Before any handler runs it answers: 404 for a
 * path no route has, 405 (with Allow) for a method the path does not take, 401 without a valid
 * token where tokens are needed, 413 for a body over HTTP_MAX_BODY, 415 for a JSON route's
 * body that is not application/json, 400 for unknown query parameters and for a JSON body that
 * does not parse. Every answer, error or not, is JSON (event streams, artifact downloads and
 * the web page aside) and errors have the one body {"error": {"code", "message", "field"}}.
 *
 * Hostile requests: 413 for a JSON body over HTTP_MAX_JSON_ITEMS items, and 400 with
 * Connection: close for a request whose length is ambiguous (two Content-Lengths, a
 * Transfer-Encoding other than one "chunked", or both headers). libmicrohttpd answers what it
 * cannot parse (request line, Content-Length, headers over --connection-memory, HTTP/1.1
 * without Host) with its own 4xx, not in JSON.
 *
 * Handlers return the MHD_Result of queueing their reply; the reply helpers below queue it and
 * count it for /metrics. Ownership: a request's memory is freed when its connection is done
 * with it; http_json takes the reference it is given.
 */
#ifndef QD_HTTP_H
#define QD_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <sys/socket.h>

#include "app.h"

#define HTTP_MAX_BODY (1L << 20)
/* JSON bodies may hold at most this many items (values after a comma): a 1 MiB body of tiny
 * values would otherwise parse into a tree of tens of MiB per connection */
#define HTTP_MAX_JSON_ITEMS 10000

typedef struct http_server http_server;

/* HOST:PORT, [IPV6]:PORT or :PORT into an address; *loopback says whether only this machine can
 * reach it. QD_EINVAL with a message otherwise. */
int http_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len,
                      int *loopback, qd_err *err);
/* The route table, for suites that must cover every route: route i's method, with its path
 * pattern in *pattern and whether it needs a token (when tokens are in use) in *needs_token;
 * NULL past the last route. */
const char *http_route(int i, const char **pattern, int *needs_token);
/* Metrics with one series per route of the table. */
metrics *http_metrics_create(void);
/* Serves app (app->mx must be set) on app->cfg->listen. */
int http_start(http_server **out, qd_app *app, qd_err *err);
/* The port actually bound (the one asked for, or the one chosen for port 0). */
int http_port(http_server *h);
void http_stop(http_server *h);

typedef struct http_req {
    struct MHD_Connection *conn;
    qd_app *app;
    int route;                 /* index in the route table; -1 when none matched */
    const char *method;
    char param[2][256];        /* path parameters in order: {id}, {name} */
    char *body;                /* the request body, NUL-terminated */
    size_t len, cap;
    json_t *json;              /* the parsed body, for routes that take JSON */
    char team[STORE_TEAM_LEN]; /* the caller's team ("" without tokens) */
    int admin;                 /* sees and cancels every team's jobs */
    int status;                /* the status queued */
    int too_big;
    int close;                 /* answer with Connection: close (suspect framing) */
    size_t seen;               /* body bytes received, kept or not */
    double t0;
} http_req;

/* A response holding body as JSON (takes the reference); NULL when out of memory. */
struct MHD_Response *http_json_response(json_t *body);
/* The same from JSON text (takes the malloc'd string). */
struct MHD_Response *http_json_text(char *text);
/* Queues status with body as JSON (takes the reference). */
enum MHD_Result http_json(http_req *r, int status, json_t *body);
/* Queues the error body for code (an enum qd_error) with its HTTP status. */
enum MHD_Result http_error(http_req *r, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
enum MHD_Result http_error_from(http_req *r, const qd_err *e);
/* Queues resp with status (takes resp) and counts the request. */
enum MHD_Result http_send(http_req *r, int status, struct MHD_Response *resp);
const char *http_query(http_req *r, const char *key);
const char *http_header(http_req *r, const char *key);
/* The team whose jobs the caller may see: NULL for an admin (every team). */
const char *http_visible_team(http_req *r);

/* ---- handlers, one file per resource ---- */
enum MHD_Result http_jobs_submit(http_req *r);
enum MHD_Result http_jobs_list(http_req *r);
enum MHD_Result http_jobs_get(http_req *r);
enum MHD_Result http_jobs_cancel(http_req *r);
enum MHD_Result http_jobs_metrics(http_req *r);
enum MHD_Result http_jobs_artifacts(http_req *r);
enum MHD_Result http_jobs_artifact(http_req *r);
enum MHD_Result http_events_stream(http_req *r);
enum MHD_Result http_events_all(http_req *r);
enum MHD_Result http_info_pareto(http_req *r);
enum MHD_Result http_info_models(http_req *r);
enum MHD_Result http_info_datasets(http_req *r);
enum MHD_Result http_info_health(http_req *r);
enum MHD_Result http_info_metrics(http_req *r);
enum MHD_Result http_web_asset(http_req *r);

#endif
