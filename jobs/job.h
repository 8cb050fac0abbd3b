/*
 * job.h: how a job runs, whoever runs it. The daemon's workers and `quantd run` both fill a
 * job_env (where files go, how many threads, how to report progress and how to ask whether the
 * job was cancelled) and call job_run. Jobs know nothing of HTTP or SQL.
 * Ownership: job_run returns a new jansson reference in *result; the caller json_decref()s it.
 */
#ifndef QD_JOB_H
#define QD_JOB_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "spec.h"

typedef struct job_env {
    const char *dir;          /* this job's directory (exists): checkpoints and artifacts */
    const char *datasets;     /* colon-separated extra data set directories, or NULL */
    const char *models;       /* colon-separated extra model directories, or NULL */
    int nthreads;             /* the job's thread budget */
    void *ctx;                /* passed to every callback */
    /* the final checkpoint of a finished job, for init.job; QD_ENOENT when there is none */
    int (*resolve_job)(void *ctx, const char *job_id, char *path, size_t cap);
    /* after each epoch: the history entry just appended (borrowed) */
    void (*on_epoch)(void *ctx, const json_t *entry, int epoch, int epochs);
    /* about once a second: fraction done in [0, 1] and a short status line */
    void (*on_progress)(void *ctx, double fraction, const char *status);
    /* a file the job wrote into dir, to be listed as an artifact */
    void (*on_artifact)(void *ctx, const char *name);
    /* nonzero when the job should stop at the next step boundary */
    int (*cancelled)(void *ctx);
    /* search jobs, after each finished candidate: the result so far (borrowed), {"kind":
     * "search", "done", "total", "candidates": [...], "front": [...], ...}; may be NULL */
    void (*on_partial)(void *ctx, const json_t *partial);
} job_env;

/* Runs the job. QD_ECANCELLED when cancelled (checkpoint kept), other codes with err filled. */
int job_run(const job_spec *spec, const job_env *env, json_t **result, qd_err *err);

/* Checkpoint file names inside a job's directory. */
#define JOB_CHECKPOINT "checkpoint.qdc" /* the latest epoch, for resuming */
#define JOB_MODEL "model.qdc"           /* the finished model */

#endif
