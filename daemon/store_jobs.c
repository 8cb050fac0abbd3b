/*
 * store_jobs.c: the job rows of the store (store.h): reading them (one job with its history,
 * listings, counts, Pareto points, epochs, artifacts) and moving them between states, each move
 * in one transaction on the writer that also records the transition. The statements are named
 * by enum q; their SQL is in store.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qtime.h"
#include "store_db.h"

/* ---- reading jobs ---- */

int store_get(store *st, const char *id, const char *team, store_job *out, qd_err *err)
{
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_bind(c, Q_GET, "tt", id, team);
    int rc = s ? sqlite3_step(s) : store_prep_failure(c);
    if (rc == SQLITE_ROW)
        store_read_job(s, out, 1);
    store_done(s);
    store_reader_put(st, c);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return qd_fail(err, QD_ENOENT, NULL, "no job %s", id);
    return store_db_fail(NULL, rc, err, "reading a job");
}

static json_t *history_row(sqlite3_stmt *s, int errors)
{
    char at[QTIME_ISO_LEN];
    if (!errors)
        return json_pack("{s:s, s:s, s:s}", "state", sqlite3_column_text(s, 0), "at",
                         qtime_iso(sqlite3_column_int64(s, 1), at), "reason",
                         sqlite3_column_text(s, 2));
    return json_pack("{s:i, s:s, s:s, s:s, s:s}", "attempt", sqlite3_column_int(s, 0), "at",
                     qtime_iso(sqlite3_column_int64(s, 1), at), "code", sqlite3_column_text(s, 2),
                     "message", sqlite3_column_text(s, 3), "field", sqlite3_column_text(s, 4));
}

static int history(conn *c, int64_t seq, json_t **transitions, json_t **errors)
{
    json_t **outs[2] = {transitions, errors};
    int qs[2] = {Q_TRANSITIONS, Q_ERRORS}, rc = SQLITE_DONE;
    for (int k = 0; k < 2 && rc == SQLITE_DONE; k++) {
        *outs[k] = json_array();
        sqlite3_stmt *s = store_bind(c, qs[k], "i", seq);
        while (s && (rc = sqlite3_step(s)) == SQLITE_ROW)
            json_array_append_new(*outs[k], history_row(s, k));
        store_done(s);
    }
    return rc;
}

int store_get_history(store *st, const char *id, const char *team, store_job *out,
                      json_t **transitions, json_t **errors, qd_err *err)
{
    conn *c = store_reader(st);
    int rc = store_run(c, store_bind(c, Q_BEGIN_READ, ""), NULL, err, "begin");
    sqlite3_stmt *s = rc ? NULL : store_bind(c, Q_GET, "tt", id, team);
    int e = s ? sqlite3_step(s) : store_prep_failure(c), found = e == SQLITE_ROW;
    if (found)
        store_read_job(s, out, 1);
    store_done(s);
    *transitions = *errors = NULL;
    if (found)
        e = history(c, out->seq, transitions, errors);
    if (!rc)
        store_run(c, store_bind(c, Q_COMMIT, ""), NULL, NULL, "end");
    store_reader_put(st, c);
    if (rc || (found && e == SQLITE_DONE))
        return rc;
    if (found) {
        store_job_clear(out);
        json_decref(*transitions);
        json_decref(*errors);
        *transitions = *errors = NULL;
    }
    if (e == SQLITE_DONE)
        return qd_fail(err, QD_ENOENT, NULL, "no job %s", id);
    return store_db_fail(NULL, e, err, "reading a job");
}

int store_list(store *st, const store_filter *f, store_job *rows, int *n, qd_err *err)
{
    int mask = (f->team ? 1 : 0) | (f->state >= 0 ? 2 : 0) | (f->kind ? 4 : 0) |
               (f->name ? 8 : 0) | (f->before > 0 ? 16 : 0);
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_list_stmt(c, mask);
    int rc = store_prep_failure(c);
    *n = 0;
    if (s && !store_bind_stmt(s, "ttttzi", f->team,
                              f->state >= 0 ? store_state_name(f->state) : NULL, f->kind,
                              f->name, f->before, (int64_t)f->limit))
        s = NULL, rc = store_prep_failure(c); /* a filter left unbound: no listing at all */
    if (s) {
        while (*n < f->limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
            store_job *j = &rows[(*n)++];
            store_read_job(s, j, 0);
            j->has_summary = sqlite3_column_type(s, 18) != SQLITE_NULL ||
                             sqlite3_column_type(s, 19) != SQLITE_NULL;
            j->test_accuracy = sqlite3_column_double(s, 18);
            j->total_bytes = sqlite3_column_double(s, 19);
            j->candidates = sqlite3_column_int(s, 20);
        }
        store_done(s);
    }
    store_reader_put(st, c);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    while (*n > 0)
        store_job_clear(&rows[--*n]);
    return store_db_fail(NULL, rc, err, "listing jobs");
}

int store_counts(store *st, int64_t counts[JS_COUNT], qd_err *err)
{
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_bind(c, Q_COUNTS, "");
    int rc = store_prep_failure(c);
    memset(counts, 0, sizeof(int64_t) * JS_COUNT);
    while (s && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int k = store_state_parse((const char *)sqlite3_column_text(s, 0));
        if (k >= 0)
            counts[k] = sqlite3_column_int64(s, 1);
    }
    store_done(s);
    store_reader_put(st, c);
    return rc == SQLITE_DONE ? 0 : store_db_fail(NULL, rc, err, "counting jobs");
}

/* ---- state changes ---- */

int store_cancel(store *st, const char *id, const char *team, int *state, qd_err *err)
{
    int64_t now = qtime_now_ms();
    int rc = store_wbegin(st, err);
    if (rc < 0)
        return rc;
    conn *c = &st->w;
    sqlite3_stmt *s = store_bind(c, Q_FIND, "tt", id, team);
    int e = s ? sqlite3_step(s) : store_prep_failure(c);
    int64_t seq = e == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    *state = e == SQLITE_ROW ? store_state_parse((const char *)sqlite3_column_text(s, 1)) : -1;
    store_done(s);
    if (e == SQLITE_DONE)
        rc = qd_fail(err, QD_ENOENT, NULL, "no job %s", id);
    else if (e != SQLITE_ROW)
        rc = store_db_fail(c->db, e, err, "finding a job");
    else if (*state == JS_QUEUED) {
        rc = store_run(c, store_bind(c, Q_CANCEL_QUEUED, "ii", seq, now), NULL, err, "cancel");
        if (!rc)
            rc = store_run(c, store_bind(c, Q_TRANSITION, "iit", seq, now, "cancelled while queued"), NULL,
                     err, "transition");
        *state = JS_CANCELLED;
    } else if (*state == JS_RUNNING) {
        rc = store_run(c, store_bind(c, Q_CANCEL_REQUEST, "ii", seq, now), NULL, err, "cancel");
    } else {
        rc = qd_fail(err, QD_ECONFLICT, NULL, "job %s has already %s", id,
                     store_state_name(*state));
    }
    return store_wend(st, rc, err);
}

int store_claim(store *st, int64_t now, store_job *out, qd_err *err)
{
    return store_claim_next(st, now, 0, out, err);
}

int store_claim_next(store *st, int64_t now, int clean_only, store_job *out, qd_err *err)
{
    int rc = store_wbegin(st, err), got = 0;
    if (rc < 0)
        return rc;
    conn *c = &st->w;
    sqlite3_stmt *s = store_bind(c, Q_CLAIM, "ii", now, (int64_t)(clean_only != 0));
    int e = s ? sqlite3_step(s) : store_prep_failure(c);
    if (e == SQLITE_ROW) {
        store_read_job(s, out, 1);
        got = 1;
        e = sqlite3_step(s);
    }
    store_done(s);
    if (e != SQLITE_DONE)
        rc = store_db_fail(c->db, e, err, "claiming a job");
    else if (got)
        rc = store_run(c, store_bind(c, Q_TRANSITION, "iit", out->seq, now, "started"), NULL, err,
                 "transition");
    rc = store_wend(st, rc, err);
    if (rc < 0 && got)
        store_job_clear(out);
    return rc < 0 ? rc : got;
}

/* Runs statement q (bound by fmt) and, when it changed the job, records the transition. */
static int move(store *st, int64_t seq, int64_t now, const char *reason, qd_err *err, int q,
                const char *fmt, ...)
{
    int changes = 0, rc = store_wbegin(st, err);
    if (rc < 0)
        return rc;
    conn *c = &st->w;
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = store_bindv(c, store_stmt(c, q), fmt, ap);
    va_end(ap);
    rc = store_run(c, s, &changes, err, "changing a job's state");
    if (!rc && changes)
        rc = store_run(c, store_bind(c, Q_TRANSITION, "iit", seq, now, reason), NULL, err, "transition");
    return store_wend(st, rc, err);
}

int store_succeed(store *st, int64_t seq, const char *result, int64_t now, qd_err *err)
{
    return move(st, seq, now, "succeeded", err, Q_SUCCEED, "iti", seq, result, now);
}

int store_cancelled(store *st, int64_t seq, int64_t now, qd_err *err)
{
    return move(st, seq, now, "cancelled while running", err, Q_CANCELLED, "ii", seq, now);
}

int store_requeue(store *st, int64_t seq, const char *reason, int64_t now, qd_err *err)
{
    return move(st, seq, now, reason, err, Q_REQUEUE, "ii", seq, now);
}

/* The end of a failed attempt by statement q (Q_FAIL or Q_DEFER): state, error, transition. */
static int attempt_failed(store *st, int q, int64_t seq, int attempt, const qd_err *e,
                          int64_t retry_at, const char *reason, int64_t now, qd_err *err)
{
    int rc = store_wbegin(st, err), changes = 0;
    if (rc < 0)
        return rc;
    conn *c = &st->w;
    rc = store_run(c, store_bind(c, q, "iii", seq, retry_at, now), &changes, err, "failing a job");
    if (!rc && changes)
        rc = store_run(c, store_bind(c, Q_ERROR_ADD, "iiittt", seq, (int64_t)attempt, now,
                         qd_err_name(e->code), e->msg[0] ? e->msg : qd_err_message(e->code),
                         e->field),
                 NULL, err, "error history");
    if (!rc && changes)
        rc = store_run(c, store_bind(c, Q_TRANSITION, "iit", seq, now, reason), NULL, err,
                       "transition");
    return store_wend(st, rc, err);
}

int store_fail(store *st, int64_t seq, int attempt, const qd_err *e, int64_t retry_at,
               int64_t now, qd_err *err)
{
    return attempt_failed(st, Q_FAIL, seq, attempt, e, retry_at,
                          retry_at ? "retry" : qd_err_name(e->code), now, err);
}

int store_defer(store *st, int64_t seq, int attempt, const qd_err *e, int64_t retry_at,
                const char *reason, int64_t now, qd_err *err)
{
    return attempt_failed(st, Q_DEFER, seq, attempt, e, retry_at, reason, now, err);
}

int store_requeue_running(store *st, const char *reason, int64_t now, qd_err *err)
{
    int rc = store_wbegin(st, err), n = 0;
    if (rc < 0)
        return rc;
    conn *c = &st->w;
    int64_t seqs[256];
    sqlite3_stmt *s = store_bind(c, Q_RUNNING, "");
    int e = SQLITE_ROW;
    while (n < 256 && (e = s ? sqlite3_step(s) : store_prep_failure(c)) == SQLITE_ROW)
        seqs[n++] = sqlite3_column_int64(s, 0);
    store_done(s);
    if (e != SQLITE_ROW && e != SQLITE_DONE)
        rc = store_db_fail(c->db, e, err, "listing running jobs");
    for (int i = 0; i < n && !rc; i++) {
        rc = store_run(c, store_bind(c, Q_REQUEUE, "ii", seqs[i], now), NULL, err, "requeue");
        if (!rc)
            rc = store_run(c, store_bind(c, Q_TRANSITION, "iit", seqs[i], now, reason), NULL, err, "transition");
    }
    rc = store_wend(st, rc, err);
    return rc < 0 ? rc : n;
}

typedef struct crashed {
    int64_t seq;
    int crashes, cancel, attempts;
} crashed;

static int recover_one(conn *c, const crashed *j, int max_crashes, int64_t now, int *failed,
                       qd_err *err)
{
    const char *to = j->cancel ? "cancelled" : j->crashes + 1 >= max_crashes ? "failed" : "queued";
    int rc = store_run(c, store_bind(c, Q_RECOVER, "iti", j->seq, to, now), NULL, err, "recover");
    if (!rc && strcmp(to, "failed") == 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "the daemon stopped unexpectedly %d times while this job ran",
                 j->crashes + 1);
        rc = store_run(c, store_bind(c, Q_ERROR_ADD, "iiittt", j->seq, (int64_t)j->attempts, now,
                         qd_err_name(QD_ECRASHED), msg, ""),
                 NULL, err, "error history");
        (*failed)++;
    }
    if (!rc)
        rc = store_run(c, store_bind(c, Q_TRANSITION, "iit", j->seq, now, "the daemon restarted after a crash"),
                 NULL, err, "transition");
    return rc;
}

int store_recover(store *st, int max_crashes, int64_t now, int *requeued, int *failed,
                  qd_err *err)
{
    int rc = store_wbegin(st, err), n = 0;
    if (rc < 0)
        return rc;
    conn *c = &st->w;
    crashed jobs[256];
    sqlite3_stmt *s = store_bind(c, Q_RUNNING, "");
    int e = SQLITE_ROW;
    while (n < 256 && (e = s ? sqlite3_step(s) : store_prep_failure(c)) == SQLITE_ROW)
        jobs[n++] = (crashed){sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1),
                              sqlite3_column_int(s, 2), sqlite3_column_int(s, 3)};
    store_done(s);
    if (e != SQLITE_ROW && e != SQLITE_DONE)
        rc = store_db_fail(c->db, e, err, "listing running jobs");
    *requeued = *failed = 0;
    for (int i = 0; i < n && !rc; i++)
        rc = recover_one(c, &jobs[i], max_crashes, now, failed, err);
    *requeued = n - *failed;
    return store_wend(st, rc, err);
}

int store_expire(store *st, int64_t now, void (*cb)(void *ctx, const char *id), void *ctx,
                 qd_err *err)
{
    int rc = store_wbegin(st, err), n = 0;
    if (rc < 0)
        return rc;
    conn *c = &st->w;
    struct { int64_t seq; int attempts; char id[STORE_ID_LEN]; } jobs[64];
    sqlite3_stmt *s = store_bind(c, Q_EXPIRE_LIST, "i", now);
    int e = SQLITE_ROW;
    while (n < 64 && (e = s ? sqlite3_step(s) : store_prep_failure(c)) == SQLITE_ROW) {
        jobs[n].seq = sqlite3_column_int64(s, 0);
        store_col_copy(s, 1, jobs[n].id, sizeof jobs[n].id);
        jobs[n++].attempts = sqlite3_column_int(s, 2);
    }
    store_done(s);
    if (e != SQLITE_ROW && e != SQLITE_DONE)
        rc = store_db_fail(c->db, e, err, "listing expired jobs");
    for (int i = 0; i < n && !rc; i++) {
        rc = store_run(c, store_bind(c, Q_EXPIRE, "ii", jobs[i].seq, now), NULL, err, "expire");
        if (!rc)
            rc = store_run(c, store_bind(c, Q_ERROR_ADD, "iiittt", jobs[i].seq, (int64_t)jobs[i].attempts,
                             now, qd_err_name(QD_EDEADLINE),
                             "the deadline passed before the job could finish", ""),
                     NULL, err, "error history");
        if (!rc)
            rc = store_run(c, store_bind(c, Q_TRANSITION, "iit", jobs[i].seq, now, "deadline_exceeded"), NULL,
                     err, "transition");
    }
    rc = store_wend(st, rc, err);
    for (int i = 0; rc == 0 && cb && i < n; i++)
        cb(ctx, jobs[i].id);
    return rc < 0 ? rc : n;
}

int64_t store_next_retry(store *st, int64_t now)
{
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_bind(c, Q_NEXT_RETRY, "i", now);
    int64_t t = s && sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    store_done(s);
    store_reader_put(st, c);
    return t;
}

/* ---- progress, epochs, artifacts ---- */

int store_set_progress(store *st, int64_t seq, const char *progress, int64_t now, qd_err *err)
{
    return store_write1(st, Q_PROGRESS, err, "iti", seq, progress, now);
}

int store_set_partial(store *st, int64_t seq, const char *partial, int64_t now, qd_err *err)
{
    return store_write1(st, Q_PARTIAL, err, "iti", seq, partial, now);
}

int store_put_epoch(store *st, int64_t seq, int epoch, const char *entry, qd_err *err)
{
    return store_write1(st, Q_EPOCH_PUT, err, "iit", seq, (int64_t)epoch, entry);
}

int store_put_artifact(store *st, int64_t seq, const char *name, int64_t size,
                       const char *sha256, int64_t now, qd_err *err)
{
    return store_write1(st, Q_ART_PUT, err, "ititi", seq, name, size, sha256, now);
}

static json_t *epoch_row(sqlite3_stmt *s)
{
    json_t *v = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
    return v ? v : json_null();
}

static json_t *artifact_row(sqlite3_stmt *s)
{
    char at[QTIME_ISO_LEN];
    return json_pack("{s:s, s:I, s:s, s:s}", "name", sqlite3_column_text(s, 0), "size",
                     (json_int_t)sqlite3_column_int64(s, 1), "sha256", sqlite3_column_text(s, 2),
                     "created_at", qtime_iso(sqlite3_column_int64(s, 3), at));
}

int store_epochs(store *st, int64_t seq, json_t **out, qd_err *err)
{
    return store_read_rows(st, Q_EPOCHS, seq, epoch_row, out, err);
}

int store_artifacts(store *st, int64_t seq, json_t **out, qd_err *err)
{
    return store_read_rows(st, Q_ARTS, seq, artifact_row, out, err);
}

int store_artifact(store *st, int64_t seq, const char *name, int64_t *size, char sha256[65],
                   qd_err *err)
{
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_bind(c, Q_ART, "it", seq, name);
    int rc = s ? sqlite3_step(s) : store_prep_failure(c);
    if (rc == SQLITE_ROW) {
        *size = sqlite3_column_int64(s, 0);
        store_col_copy(s, 1, sha256, 65);
    }
    store_done(s);
    store_reader_put(st, c);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return qd_fail(err, QD_ENOENT, NULL, "no artifact %s", name);
    return store_db_fail(NULL, rc, err, "reading an artifact");
}

static json_t *col_json(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    json_t *v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

static json_t *pareto_row(sqlite3_stmt *s)
{
    json_t *p = json_pack("{s:s, s:s?, s:s?, s:s?, s:f, s:I, s:I, s:I, s:f, s:s?, s:s?, s:o, s:i}",
                          "job", sqlite3_column_text(s, 0), "name", sqlite3_column_text(s, 2),
                          "dataset", sqlite3_column_text(s, 3), "model", sqlite3_column_text(s, 4),
                          "test_accuracy", sqlite3_column_double(s, 5), "weight_bytes",
                          (json_int_t)sqlite3_column_int64(s, 6), "activation_bytes",
                          (json_int_t)sqlite3_column_int64(s, 7), "total_bytes",
                          (json_int_t)sqlite3_column_int64(s, 8), "bitops",
                          sqlite3_column_double(s, 9), "method", sqlite3_column_text(s, 10),
                          "format", sqlite3_column_text(s, 11), "layers", col_json(s, 12),
                          "first_last_bits", sqlite3_column_int(s, 13));
    if (p)
        json_object_set_new(p, "candidate", sqlite3_column_type(s, 1) == SQLITE_NULL
                                                ? json_null()
                                                : json_integer(sqlite3_column_int(s, 1)));
    return p;
}

int store_pareto(store *st, const char *team, const char *dataset, const char *model,
                 const char *job, json_t **out, qd_err *err)
{
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_bind(c, Q_PARETO, "tttt", team, dataset, model, job);
    int rc = store_prep_failure(c);
    *out = json_array();
    while (s && (rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(*out, pareto_row(s));
    store_done(s);
    store_reader_put(st, c);
    if (rc == SQLITE_DONE)
        return 0;
    json_decref(*out);
    *out = NULL;
    return store_db_fail(NULL, rc, err, "reading Pareto points");
}

