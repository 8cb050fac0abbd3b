/*
 * sched.h: the scheduler: N worker threads that run jobs from the store, highest priority
 * first, then oldest, each with its thread budget, driven by the libuv loop of `quantd serve`.
 *
 * The loop thread dispatches: when a job arrives (sched_wake, from any thread, through a
 * uv_async), when a worker finishes, when a retry back-off ends (a one-shot timer) and once a
 * second (a timer that also writes progress to the store, enforces deadlines and fails queued
 * jobs whose deadline passed). Workers report progress into memory and the events hub; the
 * timer writes it to the store, so the store sees at most one progress write per job a second.
 *
 * Cancelling is cooperative: a flag the job polls at each step boundary, with a reason (the
 * user, a shutdown, the deadline) that decides what becomes of the job.
 * Ownership: sched_create starts the workers; sched_close (loop thread) closes its handles;
 * sched_free joins the workers and frees the scheduler after the loop has ended.
 */
#ifndef QD_SCHED_H
#define QD_SCHED_H

#include <uv.h>

#include "app.h"

typedef struct sched sched;

int sched_create(sched **out, uv_loop_t *loop, qd_app *app, qd_err *err);
/* Any thread: a job was queued. */
void sched_wake(sched *s);
/* Any thread: the running job with this id stops at its next step boundary and is cancelled. */
void sched_cancel(sched *s, const char *id);
/* Loop thread: take no more jobs, stop the running ones (they are requeued) and call drained
 * once no worker is busy (at once when none is). */
void sched_drain(sched *s, void (*drained)(void *ctx), void *ctx);
/* Loop thread: close the scheduler's loop handles. */
void sched_close(sched *s);
void sched_free(sched *s);

typedef struct sched_job_rate {
    char id[STORE_ID_LEN];
    int worker;
    double images_per_second; /* of the last finished epoch; 0 before the first */
} sched_job_rate;

/* The running jobs (at most cap) and their training speed; returns how many. */
int sched_running(sched *s, sched_job_rate *out, int cap);
int sched_workers(sched *s);

#endif
