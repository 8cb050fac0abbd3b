/*
 * watch.c: `quantctl watch ID` and the waiting half of `submit --wait`.
 *
 * A watcher reads the job once (its spec gives the bits it trains at), then reads the job's
 * event stream: every event's data is a JSON object whose known fields (state, progress,
 * epoch, epochs, train_loss, test_accuracy, mean_w_bits, mean_a_bits, status) update one view.
 * The stream ends when an event carries a final state or the server closes it; either way the
 * job is read again, and a stream that closed early, or stayed silent for IDLE_S seconds, is
 * reopened from the last event id it delivered (Last-Event-ID). A daemon without the events
 * route (404 before any event) is polled once a second instead. Time left is extrapolated from
 * the progress made since the watch began.
 */
#include "watch.h"

#include <string.h>
#include <time.h>

#include "jobinfo.h"
#include "render.h"

#define POLL_MS 1000
#define PLAIN_EVERY_S 5.0
#define IDLE_S 10 /* a stream without events this long is closed and the job read again */

typedef struct watcher {
    qc_ctx *c;
    const char *id;
    const watch_view *v;
    char job_path[256], events_path[256];
    double t0, f0, fraction; /* start time, progress at the start, progress now */
    int epoch, epochs, events, ended, drawn;
    double loss, acc, last_plain;
    char bits[64], state[16];
} watcher;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- what the events say ---- */

static double num(const json_t *o, const char *a, const char *b, double def)
{
    json_t *v = json_object_get(o, a);
    return render_number(v ? v : b ? json_object_get(o, b) : NULL, def);
}

static void absorb_bits(watcher *w, const json_t *o)
{
    double wb = num(o, "mean_w_bits", "w_bits", -1), ab = num(o, "mean_a_bits", "a_bits", -1);
    if (wb > 0 && ab > 0)
        snprintf(w->bits, sizeof w->bits, "w%.2f a%.2f bits", wb, ab);
}

static void absorb(watcher *w, const json_t *o)
{
    if (!json_is_object(o))
        return;
    const char *state = json_string_value(json_object_get(o, "state"));
    const char *status = json_string_value(json_object_get(o, "status"));
    if (state && *state) {
        snprintf(w->state, sizeof w->state, "%s", state);
        w->ended |= jobinfo_terminal(state);
        if (!strcmp(state, "succeeded"))
            w->fraction = 1.0;
    }
    double f = jobinfo_fraction(o);
    if (f < 0)
        f = num(o, "fraction", NULL, -1);
    if (f >= 0 && w->fraction < 1.0)
        w->fraction = f;
    if (w->f0 < 0 && f >= 0)
        w->f0 = f, w->t0 = now_s();
    /* epochs finished, or the epoch under way that the status names; a stale status (the job
     * object keeps the last one) never moves the count back */
    int epoch = (int)num(o, "epoch", NULL, 0), now = 0, of = 0;
    w->epochs = (int)num(o, "epochs", NULL, w->epochs);
    if (status && sscanf(status, "epoch %d/%d", &now, &of) == 2)
        epoch = now > epoch ? now : epoch, w->epochs = of;
    w->epoch = epoch > w->epoch ? epoch : w->epoch;
    w->loss = num(o, "train_loss", "loss", w->loss);
    w->acc = num(o, "test_accuracy", "accuracy", w->acc);
    absorb_bits(w, o);
    if (json_is_object(json_object_get(o, "progress")))
        absorb(w, json_object_get(o, "progress"));
}

/* ---- drawing ---- */

static void progress_line(const watcher *w, char *line, size_t cap)
{
    char bar[64], left[32];
    size_t n = 0;
    double f = w->fraction < 0 ? 0 : w->fraction, dt = now_s() - w->t0;
#define PUT(...) (n += n < cap ? (size_t)snprintf(line + n, cap - n, __VA_ARGS__) : 0)
    PUT("%s %3.0f%%", render_bar(bar, sizeof bar, f, 24), 100.0 * f);
    if (w->epochs > 0)
        PUT("  epoch %d/%d", w->epoch, w->epochs);
    if (w->loss >= 0)
        PUT("  loss %.4f", w->loss);
    if (w->acc >= 0)
        PUT("  acc %.2f%%", 100.0 * w->acc);
    if (w->bits[0])
        PUT("  %s", w->bits);
    if (w->f0 >= 0 && f > w->f0 + 1e-6 && f < 1.0 && dt > 0.5)
        PUT("  %s left", render_duration(left, sizeof left, dt * (1.0 - f) / (f - w->f0)));
    PUT("  %s", w->state[0] ? w->state : "queued");
#undef PUT
}

static void draw(watcher *w, int force)
{
    const watch_view *v = w->v;
    char line[512];
    if (!v->out || v->jsonl)
        return;
    if (!v->tty && !force && now_s() - w->last_plain < PLAIN_EVERY_S)
        return;
    progress_line(w, line, sizeof line);
    if (v->tty) {
        fprintf(v->out, "\r\033[K%s", line);
        w->drawn = 1;
    } else {
        fprintf(v->out, "%s\n", line);
        w->last_plain = now_s();
    }
    fflush(v->out);
}

/* A finished epoch gets a line of its own, above the redrawn bar. */
static void epoch_line(watcher *w, const json_t *o)
{
    if (!w->v->out || w->v->jsonl)
        return;
    fprintf(w->v->out, "%sepoch %d/%d  loss %.4f  test acc %.2f%%  %.1f s  %.0f img/s%s%s\n",
            w->drawn ? "\r\033[K" : "", (int)num(o, "epoch", NULL, 0), w->epochs,
            num(o, "train_loss", "loss", 0), 100.0 * num(o, "test_accuracy", NULL, 0),
            num(o, "seconds", NULL, 0), num(o, "train_images_per_second", NULL, 0),
            w->bits[0] ? "  " : "", w->bits);
    w->drawn = 0;
    w->last_plain = now_s();
}

/* ---- following ---- */

static int on_event(void *vw, const char *event, const char *data)
{
    watcher *w = vw;
    json_t *o = json_loads(data, JSON_DECODE_ANY, NULL);
    char state_before[16];
    snprintf(state_before, sizeof state_before, "%s", w->state);
    w->events++;
    if (w->v->jsonl && w->v->out) {
        json_t *line = json_pack("{s:s, s:O?}", "event", event, "data", o);
        json_dumpf(line, w->v->out, JSON_COMPACT);
        fputc('\n', w->v->out);
        fflush(w->v->out);
        json_decref(line);
    }
    absorb(w, o);
    if (!strcmp(event, "epoch") && w->epochs > 0) {
        double f = (double)w->epoch / w->epochs; /* progress events come about once a second */
        w->fraction = f > w->fraction ? f : w->fraction;
        epoch_line(w, o);
    }
    draw(w, strcmp(state_before, w->state) != 0);
    json_decref(o);
    return w->ended;
}

/* GET the job into *job (replacing it) and absorb it. */
static int refresh(watcher *w, json_t **job, qcerr *e)
{
    http_reply r;
    int rc = http_call(&w->c->http, "GET", w->job_path, NULL, &r, e);
    if (!rc) {
        json_decref(*job);
        *job = json_incref(r.json);
        absorb(w, r.json);
        w->ended = jobinfo_terminal(jobinfo_state(r.json));
    }
    http_reply_free(&r);
    return rc;
}

static int poll_until_end(watcher *w, json_t **job, qcerr *e)
{
    int rc = 0;
    while (!w->ended && !rc) {
        sleep_ms(POLL_MS);
        if (!(rc = refresh(w, job, e)))
            w->events++, draw(w, 0);
    }
    return rc;
}

static int stream_until_end(watcher *w, json_t **job, qcerr *e)
{
    http_stream st = {.path = w->events_path, .fn = on_event, .ctx = w, .idle_s = IDLE_S};
    while (!w->ended) {
        int before = w->events;
        int rc = http_events(&w->c->http, &st, e);
        if (rc == QC_REJECTED && e->status == 404 && w->events == 0)
            return poll_until_end(w, job, e);
        if (rc)
            return rc;
        w->ended = 0; /* the job object, not the stream, says when it is over */
        if ((rc = refresh(w, job, e)))
            return rc;
        if (!w->ended && w->events == before)
            sleep_ms(POLL_MS);
    }
    return 0;
}

static void finish(watcher *w, const json_t *job)
{
    char id[128], line[256], took[32];
    const watch_view *v = w->v;
    if (!v->out || v->jsonl) {
        if (v->out && v->jsonl) {
            json_t *o = json_pack("{s:s, s:O}", "event", "end", "job", job);
            json_dumpf(o, v->out, JSON_COMPACT);
            fputc('\n', v->out);
            json_decref(o);
        }
        return;
    }
    if (w->drawn)
        draw(w, 1), fputc('\n', v->out);
    jobinfo_id(job, id, sizeof id);
    const char *err = jobinfo_error(job);
    render_duration(took, sizeof took, now_s() - w->t0);
    fprintf(v->out, "job %s %s%s%s%s%s\n", id, jobinfo_state(job), w->events ? " after " : "",
            w->events ? took : "", err ? ": " : "", err ? err : "");
    jobinfo_result_line(line, sizeof line, json_object_get(job, "result"));
    if (line[0])
        fprintf(v->out, "  %s\n", line);
    fflush(v->out);
}

int watch_follow(qc_ctx *c, const char *id, const watch_view *v, json_t **final, qcerr *e)
{
    watcher w = {.c = c, .id = id, .v = v, .f0 = -1, .fraction = -1, .loss = -1, .acc = -1};
    json_t *job = NULL;
    w.t0 = now_s();
    *final = NULL;
    int rc = cmd_job_path(w.job_path, sizeof w.job_path, id, "", e);
    if (rc || (rc = cmd_job_path(w.events_path, sizeof w.events_path, id, "/events", e)))
        return rc;
    if ((rc = refresh(&w, &job, e)))
        goto out;
    jobinfo_bits(w.bits, sizeof w.bits, json_object_get(job, "spec"));
    absorb_bits(&w, json_object_get(job, "progress"));
    if (!w.ended) {
        draw(&w, 1);
        rc = stream_until_end(&w, &job, e);
    }
    if (!rc)
        finish(&w, job);
out:
    if (rc)
        json_decref(job);
    else
        *final = job;
    return rc;
}

/* ---- the command ---- */

int cmd_watch(qc_ctx *c, const qc_args *a, qcerr *e)
{
    json_t *final = NULL;
    watch_view v = {.out = stdout, .tty = c->tty_out, .jsonl = c->json};
    int rc = watch_follow(c, a->pos[0], &v, &final, e);
    if (!rc)
        rc = jobinfo_outcome(final, e);
    json_decref(final);
    return rc;
}
