/*
 * http_events.c: GET /api/v1/jobs/{id}/events, the job's live progress as server-sent events.
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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jobview.h"

#define SSE_KEEPALIVE_MS 15000

typedef struct sse {
    events_sub *sub;
    char *buf;       /* text not yet sent */
    size_t len, off, cap;
    int ended;       /* the final event is in buf: end once it is sent */
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
            int bad = put_event(s, m.id, m.type, m.data);
            s->ended = m.final;
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
