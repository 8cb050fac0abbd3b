/*
 * store.h: the daemon's job store, the only place that speaks SQL.
 *
 * One SQLite database (STATE/quantd.db) in WAL mode with synchronous=FULL, so every change of
 * state is on disk when its call returns. The schema is the numbered migrations in schema/,
 * applied at open, one transaction each, tracked by PRAGMA user_version. One write connection
 * (serialised by a mutex) and a small pool of read connections; submissions from concurrent
 * requests share one transaction and one fsync (group commit).
 *
 * A job moves queued -> running -> succeeded | failed | cancelled. Every move is guarded by the
 * state it leaves (a worker's late report about a job that is no longer running changes
 * nothing) and recorded in the job's transitions.
 *
 * Ownership: store_open allocates the store and store_close frees it (NULL is a no-op). A
 * store_job owns its text fields (spec, progress, result): store_job_clear frees them. Functions
 * returning json_t give a new reference.
 */
#ifndef QD_STORE_H
#define QD_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"

typedef struct store store;

enum job_state { JS_QUEUED = 0, JS_RUNNING, JS_SUCCEEDED, JS_FAILED, JS_CANCELLED, JS_COUNT };

#define STORE_ID_LEN 17    /* 16 hex digits and the NUL */
#define STORE_TEAM_LEN 65  /* team names: 1..64 of [A-Za-z0-9._-] */
#define STORE_NAME_LEN 256

typedef struct store_job {
    int64_t seq;
    char id[STORE_ID_LEN];
    char team[STORE_TEAM_LEN];
    char kind[16];
    char name[STORE_NAME_LEN];
    int state;
    int priority, attempts, max_attempts, crashes, cancel_requested;
    int64_t created_at, started_at, finished_at, updated_at; /* 0 when not yet */
    int64_t not_before, deadline;                             /* 0 when none */
    char *spec, *progress, *result;                           /* JSON text or NULL */
    char *partial;            /* a running search's result so far, JSON text or NULL */
    /* store_list only, read from the result (a search's: its best candidate's, which its result
     * carries; else the best accuracy and the smallest total bytes among its candidates);
     * has_summary is 0 when the job has no result */
    int has_summary, candidates;
    double test_accuracy, total_bytes;
} store_job;

const char *store_state_name(int state);
int store_state_parse(const char *name); /* -1 when unknown */
int store_state_final(int state);        /* succeeded, failed or cancelled */
void store_job_clear(store_job *j);

/* Opens (creating) the database and migrates it. QD_EFORMAT when it is not a quantd database
 * or is newer than this build; QD_EIO otherwise. */
int store_open(store **out, const char *path, qd_err *err);
void store_close(store *st);
int store_schema_version(store *st);
int store_latest_version(void);

/* ---- jobs: submission and reading ---- */

typedef struct store_submit_req {
    const char *team, *kind, *name, *spec; /* spec: compact JSON */
    const char *idem_key, *idem_hash;      /* both NULL without an Idempotency-Key */
    int priority, max_attempts;
    int64_t deadline;                      /* 0: none */
    char id[STORE_ID_LEN];                 /* out: the new job, or the earlier one */
    int replayed;                          /* out: the key matched an earlier submission */
} store_submit_req;

/* Durable when it returns 0. QD_EIDEMPOTENCY when the key was used with another request. */
int store_submit(store *st, store_submit_req *rq, qd_err *err);

/* The job with this id, owned by team (NULL: any team). QD_ENOENT when none. */
int store_get(store *st, const char *id, const char *team, store_job *out, qd_err *err);
/* The same with, read in the same transaction, its transitions [{state, at, reason}] and
 * failed attempts [{attempt, at, code, message, field}], oldest first. */
int store_get_history(store *st, const char *id, const char *team, store_job *out,
                      json_t **transitions, json_t **errors, qd_err *err);

typedef struct store_filter {
    const char *team;   /* NULL: every team */
    int state;          /* -1: any */
    const char *kind;   /* NULL: any */
    const char *name;   /* NULL: any */
    int64_t before;     /* only jobs with seq < before; 0: from the newest */
    int limit;
} store_filter;

/* Newest first, at most f->limit rows into rows (without spec and result, with the summary of
 * the result); *n is the count. */
int store_list(store *st, const store_filter *f, store_job *rows, int *n, qd_err *err);
/* Jobs per state. */
int store_counts(store *st, int64_t counts[JS_COUNT], qd_err *err);

/* Queued: cancelled at once. Running: cancel_requested set, the worker stops it. Otherwise
 * QD_ECONFLICT. *state is the job's state after the call. QD_ENOENT when not visible. */
int store_cancel(store *st, const char *id, const char *team, int *state, qd_err *err);

/* ---- jobs: the scheduler's side ---- */

/* The next queued job (highest priority, then oldest) whose back-off has passed, now running.
 * Returns 1 and fills out, 0 when there is none. */
int store_claim(store *st, int64_t now, store_job *out, qd_err *err);
/* The same, but with clean_only the next job is taken only if no daemon crash has caught it
 * running (crashes = 0); otherwise none is (0), so that the scheduler can run it alone. */
int store_claim_next(store *st, int64_t now, int clean_only, store_job *out, qd_err *err);
int store_succeed(store *st, int64_t seq, const char *result, int64_t now, qd_err *err);
/* A failed attempt: recorded in the error history; queued again at retry_at when retry_at > 0,
 * otherwise failed (cancel_requested turns both into cancelled). */
int store_fail(store *st, int64_t seq, int attempt, const qd_err *e, int64_t retry_at,
               int64_t now, qd_err *err);
/* An attempt that failed for want of a resource of the machine (a full disk), not through the
 * job: recorded in the error history like store_fail's, queued again at retry_at with reason,
 * and not counted against max_attempts (cancel_requested turns it into cancelled). */
int store_defer(store *st, int64_t seq, int attempt, const qd_err *e, int64_t retry_at,
                const char *reason, int64_t now, qd_err *err);
int store_cancelled(store *st, int64_t seq, int64_t now, qd_err *err);
/* An interrupted attempt (shutdown): queued again; the attempt does not count. */
int store_requeue(store *st, int64_t seq, const char *reason, int64_t now, qd_err *err);
/* Every running job queued again (shutdown past its grace period). Returns how many. */
int store_requeue_running(store *st, const char *reason, int64_t now, qd_err *err);
/* At start-up: jobs left running by a crash are queued again, or failed once they have been
 * running through max_crashes crashes. */
int store_recover(store *st, int max_crashes, int64_t now, int *requeued, int *failed,
                  qd_err *err);
/* Queued jobs whose deadline passed are failed; each id goes to cb. Returns how many. */
int store_expire(store *st, int64_t now, void (*cb)(void *ctx, const char *id), void *ctx,
                 qd_err *err);
/* The earliest back-off end after now among queued jobs, 0 when none. */
int64_t store_next_retry(store *st, int64_t now);

int store_set_progress(store *st, int64_t seq, const char *progress, int64_t now, qd_err *err);
/* A running search's result so far (JSON text), shown with the job until it finishes. */
int store_set_partial(store *st, int64_t seq, const char *partial, int64_t now, qd_err *err);
int store_put_epoch(store *st, int64_t seq, int epoch, const char *entry, qd_err *err);
/* [history entries], by epoch */
int store_epochs(store *st, int64_t seq, json_t **out, qd_err *err);
int store_put_artifact(store *st, int64_t seq, const char *name, int64_t size,
                       const char *sha256, int64_t now, qd_err *err);
/* [{name, size, sha256, created_at}], by name */
int store_artifacts(store *st, int64_t seq, json_t **out, qd_err *err);
/* One artifact's size and checksum; QD_ENOENT when the job has no artifact of that name. */
int store_artifact(store *st, int64_t seq, const char *name, int64_t *size,
                   char sha256[65], qd_err *err);

/* Pareto points, in order of submission: succeeded train jobs (candidate null) and every
 * finished candidate of search jobs that succeeded, run or wait to run again (from their result
 * or what they reported so far): [{job, candidate, name, dataset, model, test_accuracy,
 * weight_bytes, activation_bytes, total_bytes, bitops, method ("none", "qat", ... or
 * "search:<method>"), format (NULL in results older than the field), layers,
 * first_last_bits}]. NULL filters match anything. */
int store_pareto(store *st, const char *team, const char *dataset, const char *model,
                 const char *job, json_t **out, qd_err *err);

/* ---- tokens ---- */

int store_token_add(store *st, const char *id, const char *team, int admin, const char *hash,
                    int64_t now, qd_err *err);
/* The team of the token with this hash, if not revoked; QD_EAUTH otherwise. */
int store_token_find(store *st, const char *hash, char team[STORE_TEAM_LEN], int *admin,
                     qd_err *err);
/* Tokens not revoked. */
int store_token_active(store *st, qd_err *err);
/* QD_ENOENT when no token has this id; QD_ECONFLICT when already revoked. */
int store_token_revoke(store *st, const char *id, int64_t now, qd_err *err);
/* [{id, team, admin, created_at, revoked_at}] */
int store_token_list(store *st, json_t **out, qd_err *err);

#endif
