/*
 * http_events.c: GET /api/v1/jobs/{id}/events, the job's live progress as server-sent events,
 * and GET /api/v1/events, the same events of every job the caller can see (the web page's live
 * job list).
 *
 * The stream opens with the job's state as the store has it ("event: state"), then carries the
 * events the worker publishes: "state" at each change, "progress" about once a second, "epoch"
 * with each history entry, "artifact" for each file the job records. It ends after the state
 * event of a final state (succeeded, failed, cancelled), at once when the job had already
 * ended. A comment line every SSE_KEEPALIVE_MS keeps proxies from closing a quiet stream and
 * finds clients that left. Events carry ids; a client that reconnects with Last-Event-ID gets
 * the events it missed that are still in the hub's ring.
 *
 * The subscription is made before the store is read, so no event between the two is lost
 * (at worst one is seen twice). The content callback blocks its connection's own thread.
 *
 * The all-jobs stream never ends by itself. Its events are the per-job events with the job's
 * id added as "job" to the data object; a team's token sees only its team's jobs, checked
 * against the store once per job and remembered in a small cache per stream. It opens with a
 * comment, so a client knows it is subscribed before it reads the job list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jobview.h"

#define SSE_KEEPALIVE_MS 15000
#define SSE_SEEN 32 /* jobs whose visibility an all-jobs stream remembers */

typedef struct sse {
    events_sub *sub;
    char *buf;       /* text not yet sent */
    size_t len, off, cap;
    int ended;       /* the final event is in buf: end once it is sent */
    /* the all-jobs stream */
    int all;
    store *st;
    const char *team; /* NULL: every team (admin) */
    char team_buf[STORE_TEAM_LEN];
    struct {
        char id[STORE_ID_LEN];
        int visible;
    } seen[SSE_SEEN];
    unsigned nseen;
} sse;

static int put(sse *s, const char *text, size_t n)
{
    if (s->off == s->len)
        s->off = s->len = 0;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return -1;
        s->buf = b, s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    return 0;
}

static int put_event(sse *s, uint64_t id, const char *type, const char *data)
{
    char head[64];
    int n = id ? snprintf(head, sizeof head, "id: %llu\nevent: %s\ndata: ", (unsigned long long)id,
                          type)
               : snprintf(head, sizeof head, "event: %s\ndata: ", type);
    if (put(s, head, (size_t)n) < 0 || put(s, data, strlen(data)) < 0)
        return -1;
    return put(s, "\n\n", 2);
}

/* Whether the caller of an all-jobs stream may see job id. */
static int visible(sse *s, const char *id)
{
    if (!s->team)
        return 1;
    for (unsigned i = 0; i < SSE_SEEN && i < s->nseen; i++)
        if (strcmp(s->seen[i].id, id) == 0)
            return s->seen[i].visible;
    store_job j;
    int ok = store_get(s->st, id, s->team, &j, NULL) == 0;
    if (ok)
        store_job_clear(&j);
    unsigned k = s->nseen++ % SSE_SEEN;
    snprintf(s->seen[k].id, sizeof s->seen[k].id, "%.16s", id);
    s->seen[k].visible = ok;
    return ok;
}

/* An event of the all-jobs stream: the data object with "job" first. */
static int put_all_event(sse *s, const events_msg *m)
{
    if (!visible(s, m->job))
        return 0;
    const char *d = m->data;
    size_t n = strlen(d);
    char *text = malloc(n + 64);
    if (!text)
        return -1;
    if (n >= 2 && d[0] == '{')
        snprintf(text, n + 64, "{\"job\":\"%s\"%s%s", m->job,
                 strspn(d + 1, " ") == n - 2 ? "" : ",", d + 1);
    else
        snprintf(text, n + 64, "{\"job\":\"%s\",\"data\":%s}", m->job, d);
    int rc = put_event(s, m->id, m->type, text);
    free(text);
    return rc;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse *s = cls;
    while (s->off == s->len) {
        if (s->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        events_msg m;
        int rc = events_next(s->sub, SSE_KEEPALIVE_MS, &m);
        if (rc < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (rc == 0 && put(s, ": keep-alive\n\n", 14) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (rc == 1) {
            int bad = s->all ? put_all_event(s, &m) : put_event(s, m.id, m.type, m.data);
            s->ended = m.final && !s->all;
            free(m.data);
            if (bad)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(buf, s->buf + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void release(void *cls)
{
    sse *s = cls;
    events_unsubscribe(s->sub);
    free(s->buf);
    free(s);
}

enum MHD_Result http_events_stream(http_req *r)
{
    const char *id = r->param[0], *last = http_header(r, "Last-Event-ID");
    qd_err err = {0};
    store_job j;
    sse *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    if (strlen(id) >= STORE_ID_LEN || !(s->sub = events_subscribe(r->app->ev, id,
                                                                 last ? strtoull(last, NULL, 10)
                                                                      : 0))) {
        free(s);
        return http_error(r, QD_ENOENT, "", "no job %s", id);
    }
    if (store_get(r->app->st, id, http_visible_team(r), &j, &err) < 0) {
        release(s);
        return http_error_from(r, &err);
    }
    json_t *o = jobview_state(&j);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    s->ended = store_state_final(j.state);
    store_job_clear(&j);
    json_decref(o);
    int bad = !text || put(s, "retry: 3000\n\n", 13) < 0 || put_event(s, 0, "state", text) < 0;
    free(text);
    struct MHD_Response *resp =
        bad ? NULL : MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, s, release);
    if (!resp) {
        release(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return http_send(r, 200, resp);
}

enum MHD_Result http_events_all(http_req *r)
{
    const char *last = http_header(r, "Last-Event-ID");
    sse *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->all = 1;
    s->st = r->app->st;
    if (http_visible_team(r)) {
        snprintf(s->team_buf, sizeof s->team_buf, "%s", r->team);
        s->team = s->team_buf;
    }
    if (!(s->sub = events_subscribe(r->app->ev, EVENTS_ALL, last ? strtoull(last, NULL, 10) : 0))) {
        free(s);
        return http_error(r, QD_ENOMEM, "", "out of memory");
    }
    static const char open[] = "retry: 3000\n\n: subscribed to every job\n\n";
    struct MHD_Response *resp =
        put(s, open, sizeof open - 1) < 0
            ? NULL
            : MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, s, release);
    if (!resp) {
        release(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return http_send(r, 200, resp);
}
