/*
 * sched.c: worker threads and their dispatch (sched.h).
 *
 * Invariants: a worker is idle, pending (the loop thread claimed a job for it in the store and
 * handed it over) or busy (its thread runs the job); the flags and w->job change only under
 * s->mu. Only the loop thread claims jobs, so jobs start in the store's order.
 *
 * Suspects run alone: a job that was running when the daemon crashed (crashes > 0) may be the
 * one whose input kills the process. It starts only when no other job runs, and nothing else
 * starts beside it; while one is next in the queue the other workers wait. So a job that crashes
 * the daemon again spends only its own crash budget (--max-crashes), not its neighbours'. A worker's
 * stop reason only moves away from STOP_NONE, and a user's cancel wins over the others.
 *
 * What becomes of a job when job_run returns: 0 -> succeeded; cancelled by the user ->
 * cancelled; by a shutdown -> queued again (the attempt does not count; it resumes from its
 * checkpoint); by its deadline -> failed (deadline_exceeded); any other error -> failed, or
 * queued again after a back-off of retry_backoff * 2^(attempt-1) seconds when the error may
 * pass (I/O, memory, a data set being written) and attempts remain; no space left on the
 * device -> queued again after the same back-off without spending an attempt (the disk, not
 * the job, failed), however often. When the store cannot record the outcome (its disk is full
 * too) the worker keeps the job and tries again every second until it can, or until shutdown.
 */
#include "sched.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "digest.h"
#include "jobs/job.h"
#include "jobview.h"
#include "log.h"
#include "qtime.h"

enum stop { STOP_NONE = 0, STOP_USER, STOP_SHUTDOWN, STOP_DEADLINE };

typedef struct worker {
    struct sched *s;
    int index;
    uv_thread_t thread;
    int pending, busy;       /* under s->mu */
    store_job job;           /* valid while pending or busy */
    atomic_int stop;
    pthread_mutex_t pmu;     /* guards progress, dirty, ips */
    json_t *progress;
    int dirty;
    double ips;
    char dir[CONFIG_PATH + 64];
} worker;

struct sched {
    uv_loop_t *loop;
    qd_app *app;
    uv_async_t wake;
    uv_timer_t tick, retry;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit, draining;
    void (*drained)(void *ctx);
    void *drained_ctx;
    int n;
    worker *w;
};

static void set_stop(worker *w, int reason)
{
    if (reason == STOP_USER) {
        atomic_store(&w->stop, STOP_USER);
        return;
    }
    int none = STOP_NONE;
    atomic_compare_exchange_strong(&w->stop, &none, reason);
}

/* ---- the job's callbacks (worker thread) ---- */

static int cb_cancelled(void *ctx) { return atomic_load(&((worker *)ctx)->stop) != STOP_NONE; }

static int cb_resolve(void *ctx, const char *id, char *path, size_t cap)
{
    worker *w = ctx;
    store_job j;
    if (store_get(w->s->app->st, id, NULL, &j, NULL) < 0)
        return QD_ENOENT;
    int ok = j.state == JS_SUCCEEDED;
    store_job_clear(&j);
    snprintf(path, cap, "%s/jobs/%s/%s", w->s->app->cfg->state, id, JOB_MODEL);
    return ok && access(path, R_OK) == 0 ? 0 : QD_ENOENT;
}

/* Publishes the progress object as an SSE event; called with w->pmu held. */
static void publish_progress(worker *w)
{
    char *text = json_dumps(w->progress, JSON_COMPACT);
    if (text)
        events_publish(w->s->app->ev, w->job.id, "progress", text, 0);
    free(text);
}

static void cb_epoch(void *ctx, const json_t *e, int epoch, int epochs)
{
    static const char *const copied[] = {"train_loss", "test_loss", "test_accuracy",
                                         "train_images_per_second", "w_bits", "a_bits",
                                         "mean_w_bits", "mean_a_bits", NULL};
    worker *w = ctx;
    char *text = json_dumps(e, JSON_COMPACT);
    qd_err err = {0};
    if (text && store_put_epoch(w->s->app->st, w->job.seq, epoch, text, &err) < 0)
        log_msg(LOG_WARN, "job %s: epoch %d not stored: %s", w->job.id, epoch, err.msg);
    if (text)
        events_publish(w->s->app->ev, w->job.id, "epoch", text, 0);
    free(text);
    pthread_mutex_lock(&w->pmu);
    json_object_set_new(w->progress, "fraction", json_real(epochs ? (double)epoch / epochs : 1.0));
    json_object_set_new(w->progress, "epoch", json_integer(epoch));
    json_object_set_new(w->progress, "epochs", json_integer(epochs));
    for (int i = 0; copied[i]; i++) {
        json_t *v = json_object_get(e, copied[i]);
        if (v)
            json_object_set(w->progress, copied[i], v);
    }
    w->ips = json_number_value(json_object_get(e, "train_images_per_second"));
    w->dirty = 1;
    pthread_mutex_unlock(&w->pmu);
}

static void cb_progress(void *ctx, double fraction, const char *status)
{
    worker *w = ctx;
    long step, steps;
    const char *at = strstr(status, "step ");
    pthread_mutex_lock(&w->pmu);
    json_object_set_new(w->progress, "fraction", json_real(fraction));
    json_object_set_new(w->progress, "status", json_string(status));
    if (at && sscanf(at, "step %ld/%ld", &step, &steps) == 2) {
        json_object_set_new(w->progress, "step", json_integer(step));
        json_object_set_new(w->progress, "steps", json_integer(steps));
    }
    w->dirty = 1;
    publish_progress(w);
    pthread_mutex_unlock(&w->pmu);
}

/* A search finished a candidate: its result so far goes to the store (the job's "partial", the
 * Pareto points), the candidate to the job's events, the count to the progress object. */
static void cb_partial(void *ctx, const json_t *p)
{
    worker *w = ctx;
    char *text = json_dumps(p, JSON_COMPACT);
    qd_err err = {0};
    if (!text || store_set_partial(w->s->app->st, w->job.seq, text, qtime_now_ms(), &err) < 0)
        log_msg(LOG_WARN, "job %s: candidates so far not stored: %s", w->job.id,
                text ? err.msg : "out of memory");
    free(text);
    json_t *cands = json_object_get(p, "candidates");
    text = json_dumps(json_array_get(cands, json_array_size(cands) - 1), JSON_COMPACT);
    if (text)
        events_publish(w->s->app->ev, w->job.id, "candidate", text, 0);
    free(text);
    pthread_mutex_lock(&w->pmu);
    json_object_set(w->progress, "candidates_done", json_object_get(p, "done"));
    json_object_set(w->progress, "candidates_total", json_object_get(p, "total"));
    w->dirty = 1;
    pthread_mutex_unlock(&w->pmu);
}

static void cb_artifact(void *ctx, const char *name)
{
    worker *w = ctx;
    char path[sizeof w->dir + 256], sha[DIGEST_HEX_LEN];
    int64_t size = 0;
    qd_err err = {0};
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    if (digest_file(path, &size, sha, &err) < 0 ||
        store_put_artifact(w->s->app->st, w->job.seq, name, size, sha, qtime_now_ms(), &err) < 0) {
        log_msg(LOG_WARN, "job %s: artifact %s not recorded: %s", w->job.id, name, err.msg);
        return;
    }
    json_t *o = json_pack("{s:s, s:I, s:s}", "name", name, "size", (json_int_t)size, "sha256", sha);
    char *text = json_dumps(o, JSON_COMPACT);
    if (text)
        events_publish(w->s->app->ev, w->job.id, "artifact", text, 0);
    free(text);
    json_decref(o);
}

/* ---- running one job (worker thread) ---- */

/* The progress object as text when it changed since the last call, else NULL. */
static char *take_progress(worker *w)
{
    pthread_mutex_lock(&w->pmu);
    char *text = w->dirty ? json_dumps(w->progress, JSON_COMPACT) : NULL;
    w->dirty = 0;
    pthread_mutex_unlock(&w->pmu);
    return text;
}

static void write_progress(qd_app *a, int64_t seq, char *text)
{
    qd_err err = {0};
    if (text && store_set_progress(a->st, seq, text, qtime_now_ms(), &err) < 0)
        log_msg(LOG_WARN, "progress not stored: %s", err.msg);
    free(text);
}

/* Publishes the job's state as the store has it now; returns that state. */
static int publish_state(qd_app *a, const char *id)
{
    store_job j;
    if (store_get(a->st, id, NULL, &j, NULL) < 0)
        return -1;
    json_t *o = jobview_state(&j);
    char *text = json_dumps(o, JSON_COMPACT);
    if (text)
        events_publish(a->ev, id, "state", text, store_state_final(j.state));
    free(text);
    json_decref(o);
    int state = j.state;
    store_job_clear(&j);
    return state;
}

static int retryable(int code)
{
    return code != QD_ESPEC && code != QD_EMODEL && code != QD_EINVAL && code != QD_EJSON &&
           code != QD_EFORMAT && code != QD_ECHECKSUM;
}

static int record_end(worker *w, int rc, qd_err *e, const json_t *result, int64_t now)
{
    qd_app *a = w->s->app;
    const store_job *j = &w->job;
    int stop = atomic_load(&w->stop);
    qd_err err = {0};
    if (rc == 0) {
        char *text = json_dumps(result, JSON_COMPACT);
        rc = text ? store_succeed(a->st, j->seq, text, now, &err) : QD_ENOMEM;
        free(text);
        return rc;
    }
    if (rc == QD_ECANCELLED && stop == STOP_USER)
        return store_cancelled(a->st, j->seq, now, &err);
    if (rc == QD_ECANCELLED && stop == STOP_SHUTDOWN)
        return store_requeue(a->st, j->seq, "daemon shutting down", now, &err);
    if (rc == QD_ECANCELLED && stop == STOP_DEADLINE)
        qd_fail(e, QD_EDEADLINE, NULL, "the deadline passed while the job ran");
    if (e->code == QD_ENOSPC) {
        double delay = a->cfg->retry_backoff * pow(2.0, j->attempts - 1);
        int64_t at = now + (int64_t)(fmin(delay, 3600.0) * 1000.0) + 1;
        return store_defer(a->st, j->seq, j->attempts, e, at, "retry (not counted): no_space",
                           now, &err);
    }
    int64_t retry_at = 0;
    if (e->code != QD_EDEADLINE && retryable(e->code) && j->attempts < j->max_attempts) {
        double delay = a->cfg->retry_backoff * pow(2.0, j->attempts - 1);
        retry_at = now + (int64_t)(fmin(delay, 3600.0) * 1000.0) + 1;
    }
    return store_fail(a->st, j->seq, j->attempts, e, retry_at, now, &err);
}

static void finish(worker *w, int rc, qd_err *e, const json_t *result, double secs)
{
    qd_app *a = w->s->app;
    write_progress(a, w->job.seq, take_progress(w));
    if (rc < 0 && !e->code)
        e->code = rc;
    int wrc = record_end(w, rc, e, result, qtime_now_ms());
    for (int tries = 1; wrc < 0 && atomic_load(&w->stop) != STOP_SHUTDOWN; tries++) {
        if (tries == 1 || tries % 60 == 0)
            log_msg(LOG_ERROR, "job %s: the outcome could not be stored (%s); trying again "
                    "every second", w->job.id, qd_err_name(wrc));
        sleep(1);
        wrc = record_end(w, rc, e, result, qtime_now_ms());
    }
    if (wrc < 0)
        log_msg(LOG_ERROR, "job %s: the outcome could not be stored (%s); it will be recovered "
                "at the next start", w->job.id, qd_err_name(wrc));
    int state = publish_state(a, w->job.id);
    if (store_state_final(state))
        metrics_job(a->mx, w->job.kind, store_state_name(state), secs);
    if (rc == 0)
        log_msg(LOG_INFO, "job %s succeeded in %.1f s", w->job.id, secs);
    else
        log_msg(state == JS_FAILED ? LOG_WARN : LOG_INFO, "job %s %s after %.1f s: %s%s%s: %s",
                w->job.id, store_state_name(state), secs, qd_err_name(e->code),
                e->field[0] ? " at " : "", e->field, e->msg);
}

static void worker_run(worker *w)
{
    qd_app *a = w->s->app;
    const serve_config *cfg = a->cfg;
    double t0 = qtime_mono();
    qd_err err = {0};
    json_t *result = NULL;
    job_spec *spec = calloc(1, sizeof *spec);
    pthread_mutex_lock(&w->pmu);
    json_decref(w->progress);
    w->progress = json_pack("{s:f, s:s}", "fraction", 0.0, "status", "starting");
    w->dirty = 0;
    w->ips = 0;
    pthread_mutex_unlock(&w->pmu);
    publish_state(a, w->job.id);
    log_msg(LOG_INFO, "job %s started (attempt %d, worker %d, %d threads)", w->job.id,
            w->job.attempts, w->index, a->threads);
    snprintf(w->dir, sizeof w->dir, "%s/jobs/%s", cfg->state, w->job.id);
    int rc = spec ? spec_parse(spec, w->job.spec, (long)strlen(w->job.spec), &err) : QD_ENOMEM;
    if (rc == 0)
        rc = cli_mkdirs(w->dir, &err);
    if (rc == 0 && cb_cancelled(w))
        rc = qd_fail(&err, QD_ECANCELLED, NULL, "stopped before it started");
    if (rc == 0) {
        job_env env = {.dir = w->dir, .datasets = cfg->datasets[0] ? cfg->datasets : NULL,
                       .models = cfg->models[0] ? cfg->models : NULL, .nthreads = a->threads,
                       .ctx = w, .resolve_job = cb_resolve, .on_epoch = cb_epoch,
                       .on_progress = cb_progress, .on_artifact = cb_artifact,
                       .cancelled = cb_cancelled, .on_partial = cb_partial};
        rc = job_run(spec, &env, &result, &err);
    }
    free(spec);
    finish(w, rc, &err, result, qtime_mono() - t0);
    json_decref(result);
}

static void worker_main(void *arg)
{
    worker *w = arg;
    sched *s = w->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!w->pending && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!w->pending)
            break;
        w->pending = 0;
        w->busy = 1;
        pthread_mutex_unlock(&s->mu);
        worker_run(w);
        pthread_mutex_lock(&s->mu);
        w->busy = 0;
        store_job_clear(&w->job);
        uv_async_send(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- dispatch (loop thread) ---- */

static void on_retry(uv_timer_t *t);

static void arm_retry(sched *s, int64_t now)
{
    int64_t next = store_next_retry(s->app->st, now);
    if (next > now)
        uv_timer_start(&s->retry, on_retry, (uint64_t)(next - now), 0);
}

static void dispatch(sched *s)
{
    if (s->draining)
        return;
    int64_t now = qtime_now_ms();
    int running = 0, suspect = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++)
        if (s->w[i].pending || s->w[i].busy)
            running = 1, suspect |= s->w[i].job.crashes > 0;
    for (int i = 0; i < s->n && !suspect; i++) {
        worker *w = &s->w[i];
        if (w->pending || w->busy)
            continue;
        qd_err err = {0};
        int got = store_claim_next(s->app->st, now, running, &w->job, &err);
        if (got < 0)
            log_msg(LOG_ERROR, "cannot take a job from the store: %s", err.msg);
        if (got <= 0)
            break;
        running = 1, suspect = w->job.crashes > 0;
        atomic_store(&w->stop, STOP_NONE);
        w->pending = 1;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    arm_retry(s, now);
}

static int any_busy(sched *s)
{
    int busy = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++)
        busy |= s->w[i].pending || s->w[i].busy;
    pthread_mutex_unlock(&s->mu);
    return busy;
}

static void check_drained(sched *s)
{
    if (!s->draining || !s->drained || any_busy(s))
        return;
    void (*cb)(void *) = s->drained;
    s->drained = NULL;
    cb(s->drained_ctx);
}

static void on_wake(uv_async_t *h)
{
    sched *s = h->data;
    dispatch(s);
    check_drained(s);
}

static void on_retry(uv_timer_t *t) { dispatch(t->data); }

static void expired(void *ctx, const char *id)
{
    sched *s = ctx;
    log_msg(LOG_INFO, "job %s failed: its deadline passed while it was queued", id);
    publish_state(s->app, id);
}

static void on_tick(uv_timer_t *t)
{
    sched *s = t->data;
    int64_t now = qtime_now_ms();
    for (int i = 0; i < s->n; i++) {
        worker *w = &s->w[i];
        pthread_mutex_lock(&s->mu);
        int64_t seq = w->job.seq;
        if (w->busy && w->job.deadline && now >= w->job.deadline)
            set_stop(w, STOP_DEADLINE);
        char *text = w->busy ? take_progress(w) : NULL;
        pthread_mutex_unlock(&s->mu);
        write_progress(s->app, seq, text);
    }
    qd_err err = {0};
    if (store_expire(s->app->st, now, expired, s, &err) < 0)
        log_msg(LOG_ERROR, "deadline check failed: %s", err.msg);
    dispatch(s);
}

/* ---- life cycle ---- */

int sched_create(sched **out, uv_loop_t *loop, qd_app *app, qd_err *err)
{
    sched *s = calloc(1, sizeof *s);
    int n = app->cfg->workers;
    if (!s || !(s->w = calloc((size_t)(n ? n : 1), sizeof *s->w))) {
        free(s);
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    }
    *s = (sched){.loop = loop, .app = app, .n = n, .w = s->w};
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    uv_async_init(loop, &s->wake, on_wake);
    uv_timer_init(loop, &s->tick);
    uv_timer_init(loop, &s->retry);
    s->wake.data = s->tick.data = s->retry.data = s;
    for (int i = 0; i < n; i++) {
        worker *w = &s->w[i];
        w->s = s;
        w->index = i;
        pthread_mutex_init(&w->pmu, NULL);
        w->progress = json_object();
        if (uv_thread_create(&w->thread, worker_main, w) != 0) {
            s->n = i;
            sched_close(s);
            uv_run(loop, UV_RUN_NOWAIT);
            sched_free(s);
            return qd_fail(err, QD_ENOMEM, NULL, "cannot start worker thread %d", i);
        }
    }
    uv_timer_start(&s->tick, on_tick, 1000, 1000);
    app->sc = s;
    *out = s;
    uv_async_send(&s->wake);
    return 0;
}

void sched_wake(sched *s) { uv_async_send(&s->wake); }

void sched_cancel(sched *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++)
        if ((s->w[i].pending || s->w[i].busy) && strcmp(s->w[i].job.id, id) == 0)
            set_stop(&s->w[i], STOP_USER);
    pthread_mutex_unlock(&s->mu);
}

void sched_drain(sched *s, void (*drained)(void *ctx), void *ctx)
{
    s->draining = 1;
    s->drained = drained;
    s->drained_ctx = ctx;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++)
        if (s->w[i].pending || s->w[i].busy)
            set_stop(&s->w[i], STOP_SHUTDOWN);
    pthread_mutex_unlock(&s->mu);
    check_drained(s);
}

void sched_close(sched *s)
{
    uv_close((uv_handle_t *)&s->wake, NULL);
    uv_close((uv_handle_t *)&s->tick, NULL);
    uv_close((uv_handle_t *)&s->retry, NULL);
}

void sched_free(sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n; i++) {
        uv_thread_join(&s->w[i].thread);
        json_decref(s->w[i].progress);
        pthread_mutex_destroy(&s->w[i].pmu);
        store_job_clear(&s->w[i].job);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->w);
    free(s);
}

int sched_running(sched *s, sched_job_rate *out, int cap)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n && n < cap; i++) {
        worker *w = &s->w[i];
        if (!w->busy)
            continue;
        snprintf(out[n].id, sizeof out[n].id, "%s", w->job.id);
        out[n].worker = i;
        pthread_mutex_lock(&w->pmu);
        out[n++].images_per_second = w->ips;
        pthread_mutex_unlock(&w->pmu);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

int sched_workers(sched *s) { return s->n; }
