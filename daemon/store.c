/*
 * store.c: the job store on SQLite (store.h). All of the daemon's SQL is here and in schema/:
 * the table SQL[] names every statement, which store_jobs.c (jobs' reads and state changes)
 * runs by name. This file holds the machinery: connections, statements, migrations, the group
 * commit of submissions, and tokens.
 *
 * Connections: one writer, used under wmu for every change, and STORE_READERS readers handed
 * out from a pool; all in WAL mode, so reads never wait for the writer. Statements are prepared
 * once per connection from the table SQL[] (listings: one statement per combination of
 * filters) and reset after use.
 *
 * Group commit: store_submit appends its request to a queue; the first caller that finds no
 * commit in progress becomes the leader, takes the whole queue, inserts it in one transaction
 * and one fsync, and wakes the others. Under load many submissions share one fsync; alone, a
 * submission costs one.
 *
 * Migrations (schema/NNN_name.sql, embedded at build time by schema/embed.sh) run at open, each
 * in its own BEGIN IMMEDIATE transaction that also sets PRAGMA user_version, so a crash leaves
 * the database at one version or the next, and two processes opening it at once apply each
 * migration once.
 */
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "log.h"
#include "qtime.h"
#include "schema_sql.h"
#include "store_db.h"

#define N_MIGRATIONS ((int)(sizeof store_migrations / sizeof *store_migrations))


static const char *const SQL[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_BEGIN_READ] = "BEGIN",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_VERSION] = "PRAGMA user_version",
    [Q_IDEM_FIND] = "SELECT id, idem_hash FROM jobs WHERE team = ?1 AND idem_key = ?2",
    [Q_INSERT] = "INSERT INTO jobs (id, team, kind, name, spec, priority, max_attempts, deadline, "
                 "idem_key, idem_hash, created_at, updated_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
    [Q_TRANSITION] = "INSERT INTO job_transitions (job_seq, at, state, reason) "
                     "SELECT seq, ?2, state, ?3 FROM jobs WHERE seq = ?1",
    [Q_ERROR_ADD] = "INSERT INTO job_errors (job_seq, attempt, at, code, message, field) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_GET] = "SELECT " JOB_COLS ", spec, result, partial FROM jobs WHERE id = ?1 AND (?2 IS NULL OR "
              "team = ?2)",
    [Q_TRANSITIONS] = "SELECT state, at, reason FROM job_transitions WHERE job_seq = ?1 "
                      "ORDER BY rowid",
    [Q_ERRORS] = "SELECT attempt, at, code, message, field FROM job_errors WHERE job_seq = ?1 "
                 "ORDER BY rowid",
    [Q_COUNTS] = "SELECT state, count(*) FROM jobs GROUP BY state",
    [Q_FIND] = "SELECT seq, state FROM jobs WHERE id = ?1 AND (?2 IS NULL OR team = ?2)",
    [Q_CANCEL_QUEUED] = "UPDATE jobs SET state = 'cancelled', finished_at = ?2, updated_at = ?2 "
                        "WHERE seq = ?1 AND state = 'queued'",
    [Q_CANCEL_REQUEST] = "UPDATE jobs SET cancel_requested = 1, updated_at = ?2 "
                         "WHERE seq = ?1 AND state = 'running'",
    [Q_CLAIM] = "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?1, "
                "updated_at = ?1, progress = NULL WHERE seq = (SELECT seq FROM jobs "
                "WHERE state = 'queued' AND not_before <= ?1 ORDER BY priority DESC, seq "
                "LIMIT 1) AND (?2 = 0 OR crashes = 0) RETURNING " JOB_COLS ", spec, result, partial",
    [Q_SUCCEED] = "UPDATE jobs SET state = 'succeeded', result = ?2, partial = NULL, finished_at = ?3, "
                  "updated_at = ?3 WHERE seq = ?1 AND state = 'running'",
    [Q_FAIL] = "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' "
               "WHEN ?2 > 0 THEN 'queued' ELSE 'failed' END, not_before = ?2, "
               "finished_at = CASE WHEN cancel_requested OR ?2 = 0 THEN ?3 END, updated_at = ?3 "
               "WHERE seq = ?1 AND state = 'running'",
    [Q_CANCELLED] = "UPDATE jobs SET state = 'cancelled', finished_at = ?2, updated_at = ?2 "
                    "WHERE seq = ?1 AND state = 'running'",
    [Q_REQUEUE] = "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' "
                  "ELSE 'queued' END, attempts = max(attempts - 1, 0), finished_at = CASE "
                  "WHEN cancel_requested THEN ?2 END, updated_at = ?2 "
                  "WHERE seq = ?1 AND state = 'running'",
    [Q_DEFER] = "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' "
                "ELSE 'queued' END, attempts = max(attempts - 1, 0), not_before = ?2, "
                "finished_at = CASE WHEN cancel_requested THEN ?3 END, updated_at = ?3 "
                "WHERE seq = ?1 AND state = 'running'",
    [Q_RUNNING] = "SELECT seq, crashes, cancel_requested, attempts FROM jobs "
                  "WHERE state = 'running'",
    [Q_RECOVER] = "UPDATE jobs SET crashes = crashes + 1, state = ?2, attempts = CASE WHEN "
                  "?2 = 'queued' THEN max(attempts - 1, 0) ELSE attempts END, finished_at = "
                  "CASE WHEN ?2 <> 'queued' THEN ?3 END, updated_at = ?3 WHERE seq = ?1",
    [Q_EXPIRE_LIST] = "SELECT seq, id, attempts FROM jobs WHERE state = 'queued' AND "
                      "deadline IS NOT NULL AND deadline <= ?1",
    [Q_EXPIRE] = "UPDATE jobs SET state = 'failed', finished_at = ?2, updated_at = ?2 "
                 "WHERE seq = ?1 AND state = 'queued'",
    [Q_NEXT_RETRY] = "SELECT min(not_before) FROM jobs WHERE state = 'queued' AND "
                     "not_before > ?1",
    [Q_PARTIAL] = "UPDATE jobs SET partial = ?2, updated_at = ?3 WHERE seq = ?1 AND "
                  "state = 'running'",
    [Q_PROGRESS] = "UPDATE jobs SET progress = ?2, updated_at = ?3 WHERE seq = ?1 AND "
                   "state = 'running'",
    [Q_EPOCH_PUT] = "INSERT OR REPLACE INTO job_epochs (job_seq, epoch, data) VALUES (?1, ?2, ?3)",
    [Q_EPOCHS] = "SELECT data FROM job_epochs WHERE job_seq = ?1 ORDER BY epoch",
    [Q_ART_PUT] = "INSERT OR REPLACE INTO artifacts (job_seq, name, size, sha256, created_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_ARTS] = "SELECT name, size, sha256, created_at FROM artifacts WHERE job_seq = ?1 "
               "ORDER BY name",
    [Q_ART] = "SELECT size, sha256 FROM artifacts WHERE job_seq = ?1 AND name = ?2",
    /* Pareto points: succeeded train jobs, then every finished candidate of search jobs that
     * succeeded (their result) or are still to finish (what they reported so far) */
    [Q_PARETO] = "SELECT id, NULL AS cand, name, json_extract(spec, '$.dataset'), "
                 "json_extract(spec, '$.model'), json_extract(result, '$.test_accuracy'), "
                 "json_extract(result, '$.memory.weight_bytes'), "
                 "json_extract(result, '$.memory.activation_bytes'), "
                 "json_extract(result, '$.memory.total_bytes'), json_extract(result, '$.bitops'), "
                 "json_extract(result, '$.method'), json_extract(result, '$.format'), "
                 "json_extract(result, '$.layers'), json_extract(spec, '$.quant.first_last_bits'), "
                 "seq FROM jobs WHERE state = 'succeeded' AND kind = 'train' AND "
                 "(?1 IS NULL OR team = ?1) AND (?2 IS NULL OR json_extract(spec, '$.dataset') = ?2) "
                 "AND (?3 IS NULL OR json_extract(spec, '$.model') = ?3) AND (?4 IS NULL OR id = ?4) "
                 "UNION ALL SELECT j.id, json_extract(c.value, '$.index'), "
                 "json_extract(c.value, '$.name'), json_extract(j.spec, '$.dataset'), "
                 "json_extract(j.spec, '$.model'), json_extract(c.value, '$.test_accuracy'), "
                 "json_extract(c.value, '$.memory.weight_bytes'), "
                 "json_extract(c.value, '$.memory.activation_bytes'), "
                 "json_extract(c.value, '$.memory.total_bytes'), json_extract(c.value, '$.bitops'), "
                 "'search:' || json_extract(j.spec, '$.method'), json_extract(c.value, '$.format'), "
                 "json_extract(c.value, '$.layers'), "
                 "json_extract(c.value, '$.spec.quant.first_last_bits'), j.seq "
                 "FROM jobs AS j, json_each(coalesce(j.result, j.partial), '$.candidates') AS c "
                 "WHERE j.kind = 'search' AND j.state IN ('succeeded', 'running', 'queued') AND "
                 "(?1 IS NULL OR j.team = ?1) AND "
                 "(?2 IS NULL OR json_extract(j.spec, '$.dataset') = ?2) AND "
                 "(?3 IS NULL OR json_extract(j.spec, '$.model') = ?3) AND (?4 IS NULL OR j.id = ?4) "
                 "ORDER BY 15, 2",
    [Q_TOK_ADD] = "INSERT INTO tokens (id, team, admin, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_TOK_FIND] = "SELECT team, admin FROM tokens WHERE hash = ?1 AND revoked_at IS NULL",
    [Q_TOK_ACTIVE] = "SELECT count(*) FROM tokens WHERE revoked_at IS NULL",
    [Q_TOK_REVOKE] = "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    [Q_TOK_GET] = "SELECT revoked_at FROM tokens WHERE id = ?1",
    [Q_TOK_LIST] = "SELECT id, team, admin, created_at, revoked_at FROM tokens "
                   "ORDER BY created_at, id",
};

static const char *const state_names[JS_COUNT] = {"queued", "running", "succeeded", "failed",
                                                  "cancelled"};

const char *store_state_name(int s) { return s >= 0 && s < JS_COUNT ? state_names[s] : "unknown"; }

int store_state_parse(const char *name)
{
    for (int i = 0; i < JS_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

int store_state_final(int s) { return s == JS_SUCCEEDED || s == JS_FAILED || s == JS_CANCELLED; }

int store_latest_version(void) { return N_MIGRATIONS; }

void store_job_clear(store_job *j)
{
    free(j->spec);
    free(j->progress);
    free(j->result);
    free(j->partial);
    j->spec = j->progress = j->result = j->partial = NULL;
}

/* ---- statements ---- */

int store_prep_failure(conn *c)
{
    return sqlite3_errcode(c->db) == SQLITE_NOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
}

int store_db_fail(sqlite3 *db, int rc, qd_err *err, const char *what)
{
    if (rc == SQLITE_ERROR && db && sqlite3_errcode(db) == SQLITE_NOMEM)
        rc = SQLITE_NOMEM; /* a statement that could not be prepared */
    int code = rc == SQLITE_FULL ? QD_ENOSPC
               : rc == SQLITE_NOMEM ? QD_ENOMEM
               : rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? QD_EFORMAT
                                                            : QD_EIO;
    return qd_fail(err, code, NULL, "store: %s: %s", what,
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static sqlite3_stmt *prep(conn *c, sqlite3_stmt **slot, const char *sql)
{
    if (!*slot && sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL)) {
        log_msg(LOG_ERROR, "store: cannot prepare \"%s\": %s", sql, sqlite3_errmsg(c->db));
        return NULL;
    }
    return *slot;
}

/*
 * Prepares statement q on c and binds its parameters ?1, ?2, ... from the arguments by the
 * letters of fmt: 't' text (NULL binds NULL), 'i' int64, 'z' int64 with 0 bound as NULL.
 */
sqlite3_stmt *store_bindv(conn *c, sqlite3_stmt *s, const char *fmt, va_list ap)
{
    if (!s)
        return NULL;
    for (int i = 1; *fmt; fmt++, i++) {
        int rc;
        if (*fmt == 't') {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
        } else {
            int64_t v = va_arg(ap, int64_t);
            rc = *fmt == 'z' && !v ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, v);
        }
        if (rc != SQLITE_OK) {
            /* out of memory copying a text: the statement must not run with that parameter
             * NULL (in "?2 IS NULL OR team = ?2" it would drop the team filter) */
            sqlite3_clear_bindings(s);
            return NULL;
        }
    }
    (void)c;
    return s;
}

sqlite3_stmt *store_bind_stmt(sqlite3_stmt *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s = store_bindv(NULL, s, fmt, ap);
    va_end(ap);
    return s;
}

sqlite3_stmt *store_stmt(conn *c, int q) { return prep(c, &c->st[q], SQL[q]); }

sqlite3_stmt *store_bind(conn *c, int q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = store_bindv(c, store_stmt(c, q), fmt, ap);
    va_end(ap);
    return s;
}

void store_done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

/* Runs a statement that returns no rows; returns 0 or the error, and the rows changed in
 * *changes (may be NULL). */
int store_run(conn *c, sqlite3_stmt *s, int *changes, qd_err *err, const char *what)
{
    if (!s && store_prep_failure(c) == SQLITE_NOMEM)
        return store_db_fail(c->db, SQLITE_NOMEM, err, what);
    if (!s)
        return qd_fail(err, QD_EINTERNAL, NULL, "store: %s: statement unavailable", what);
    int rc = sqlite3_step(s);
    store_done(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_db_fail(c->db, rc, err, what);
    if (changes)
        *changes = sqlite3_changes(c->db);
    return 0;
}

char *store_col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

void store_col_copy(sqlite3_stmt *s, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

/* A row of JOB_COLS (and spec, result, partial when full) into j. */
void store_read_job(sqlite3_stmt *s, store_job *j, int full)
{
    memset(j, 0, sizeof *j);
    j->seq = sqlite3_column_int64(s, 0);
    store_col_copy(s, 1, j->id, sizeof j->id);
    store_col_copy(s, 2, j->team, sizeof j->team);
    store_col_copy(s, 3, j->kind, sizeof j->kind);
    store_col_copy(s, 4, j->name, sizeof j->name);
    j->state = store_state_parse((const char *)sqlite3_column_text(s, 5));
    j->priority = sqlite3_column_int(s, 6);
    j->attempts = sqlite3_column_int(s, 7);
    j->max_attempts = sqlite3_column_int(s, 8);
    j->crashes = sqlite3_column_int(s, 9);
    j->cancel_requested = sqlite3_column_int(s, 10);
    int64_t *times[] = {&j->created_at, &j->started_at, &j->finished_at, &j->updated_at,
                        &j->not_before, &j->deadline};
    for (int i = 0; i < 6; i++)
        *times[i] = sqlite3_column_int64(s, 11 + i);
    j->progress = store_col_dup(s, 17);
    if (full) {
        j->spec = store_col_dup(s, 18);
        j->result = store_col_dup(s, 19);
        j->partial = store_col_dup(s, 20);
    }
}

sqlite3_stmt *store_list_stmt(conn *c, int mask)
{
    static const char *const conds[] = {" AND team = ?1", " AND state = ?2", " AND kind = ?3",
                                        " AND name = ?4", " AND seq < ?5"};
    char sql[1024];
    if (c->list[mask])
        return c->list[mask];
    /* the summary columns after JOB_COLS: accuracy, total bytes and candidates of the result */
    snprintf(sql, sizeof sql, "SELECT " JOB_COLS ", coalesce(json_extract(result, "
             "'$.test_accuracy'), (SELECT max(json_extract(value, '$.test_accuracy')) FROM "
             "json_each(result, '$.candidates'))), coalesce(json_extract(result, "
             "'$.memory.total_bytes'), (SELECT min(json_extract(value, '$.memory.total_bytes')) "
             "FROM json_each(result, '$.candidates'))), json_array_length(result, '$.candidates') "
             "FROM jobs WHERE 1");
    for (int i = 0; i < 5; i++)
        if (mask & (1 << i))
            strncat(sql, conds[i], sizeof sql - strlen(sql) - 1);
    strncat(sql, " ORDER BY seq DESC LIMIT ?6", sizeof sql - strlen(sql) - 1);
    return prep(c, &c->list[mask], sql);
}

/* ---- connections ---- */

static void conn_close(conn *c)
{
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    for (int i = 0; i < LIST_VARIANTS; i++)
        sqlite3_finalize(c->list[i]);
    sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

static int conn_open(conn *c, const char *path, int writer, qd_err *err)
{
    static const char setup[] = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; "
                                "PRAGMA synchronous = FULL;";
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                               SQLITE_OPEN_NOMUTEX, NULL);
    if (rc)
        return store_db_fail(c->db, rc, err, path);
    if ((rc = sqlite3_exec(c->db, setup, NULL, NULL, NULL)))
        return store_db_fail(c->db, rc, err, path);
    if (!writer)
        return 0;
    /* prepared now, so that ending a transaction never needs memory it may not get */
    if (!store_stmt(c, Q_BEGIN) || !store_stmt(c, Q_COMMIT) || !store_stmt(c, Q_ROLLBACK))
        return store_db_fail(c->db, store_prep_failure(c), err, path);
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (!rc && (rc = sqlite3_step(s)) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(s, 0), "wal") != 0)
        rc = SQLITE_CANTOPEN;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_OK ? 0 : store_db_fail(c->db, rc, err, path);
}

conn *store_reader(store *st)
{
    pthread_mutex_lock(&st->rmu);
    while (st->nfree == 0)
        pthread_cond_wait(&st->rcv, &st->rmu);
    conn *c = st->rfree[--st->nfree];
    pthread_mutex_unlock(&st->rmu);
    return c;
}

void store_reader_put(store *st, conn *c)
{
    pthread_mutex_lock(&st->rmu);
    st->rfree[st->nfree++] = c;
    pthread_cond_signal(&st->rcv);
    pthread_mutex_unlock(&st->rmu);
}

int store_wbegin(store *st, qd_err *err)
{
    pthread_mutex_lock(&st->wmu);
    if (!sqlite3_get_autocommit(st->w.db)) /* a ROLLBACK that failed: finish it now */
        store_run(&st->w, store_bind(&st->w, Q_ROLLBACK, ""), NULL, NULL, "rollback");
    int rc = store_run(&st->w, store_bind(&st->w, Q_BEGIN, ""), NULL, err, "begin");
    if (rc < 0)
        pthread_mutex_unlock(&st->wmu);
    return rc;
}

/* Commits when rc is 0, rolls back otherwise; releases the writer. Returns the outcome. */
int store_wend(store *st, int rc, qd_err *err)
{
    if (rc == 0)
        rc = store_run(&st->w, store_bind(&st->w, Q_COMMIT, ""), NULL, err, "commit");
    if (rc < 0)
        store_run(&st->w, store_bind(&st->w, Q_ROLLBACK, ""), NULL, NULL, "rollback");
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

/* One statement in its own transaction on the writer. */
int store_write1(store *st, int q, qd_err *err, const char *fmt, ...)
{
    int rc = store_wbegin(st, err);
    if (rc < 0)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = store_bindv(&st->w, store_stmt(&st->w, q), fmt, ap);
    va_end(ap);
    rc = store_run(&st->w, s, NULL, err, "write");
    return store_wend(st, rc, err);
}

/* Reads every row of q (bound to seq) through row() into a new array. */
int store_read_rows(store *st, int q, int64_t seq, json_t *(*row)(sqlite3_stmt *), json_t **out,
                     qd_err *err)
{
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_stmt(c, q); /* some take the job (seq), the token list nothing */
    if (s && sqlite3_bind_parameter_count(s) > 0)
        s = store_bind_stmt(s, "i", seq);
    int rc = store_prep_failure(c);
    *out = json_array();
    while (s && (rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(*out, row(s));
    store_done(s);
    store_reader_put(st, c);
    if (rc == SQLITE_DONE)
        return 0;
    json_decref(*out);
    *out = NULL;
    return store_db_fail(NULL, rc, err, "reading rows");
}

/* ---- migrations ---- */

static int migrate_one(store *st, int *applied, qd_err *err)
{
    conn *c = &st->w;
    int rc = store_wbegin(st, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *s = store_bind(c, Q_VERSION, "");
    int v = s && sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    store_done(s);
    *applied = 0;
    if (v < 0) {
        rc = store_db_fail(c->db, sqlite3_errcode(c->db), err, "reading the schema version");
    } else if (v > N_MIGRATIONS) {
        rc = qd_fail(err, QD_EFORMAT, NULL,
                     "the database is at schema version %d, newer than this quantd (%d)", v,
                     N_MIGRATIONS);
    } else if (v < N_MIGRATIONS) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        int e = sqlite3_exec(c->db, store_migrations[v].sql, NULL, NULL, NULL);
        if (!e)
            e = sqlite3_exec(c->db, pragma, NULL, NULL, NULL);
        if (e)
            rc = store_db_fail(c->db, e, err, store_migrations[v].name);
        else
            *applied = v + 1;
    }
    st->version = *applied ? *applied : v;
    return store_wend(st, rc, err);
}

static int migrate(store *st, qd_err *err)
{
    for (int i = 0; i < N_MIGRATIONS; i++)
        if (store_migrations[i].version != i + 1)
            return qd_fail(err, QD_EINTERNAL, NULL, "migration %s is out of sequence",
                           store_migrations[i].name);
    for (;;) {
        int applied, rc = migrate_one(st, &applied, err);
        if (rc < 0)
            return rc;
        if (!applied)
            return 0;
        log_msg(LOG_INFO, "store: applied migration %s", store_migrations[applied - 1].name);
    }
}

int store_open(store **out, const char *path, qd_err *err)
{
    store *st = calloc(1, sizeof *st);
    int rc = 0;
    *out = NULL;
    if (!st)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&st->wmu, NULL);
    pthread_mutex_init(&st->rmu, NULL);
    pthread_cond_init(&st->rcv, NULL);
    pthread_mutex_init(&st->gmu, NULL);
    pthread_cond_init(&st->gcv, NULL);
    st->gtail = &st->ghead;
    if ((rc = conn_open(&st->w, path, 1, err)) < 0 || (rc = migrate(st, err)) < 0)
        goto out;
    for (int i = 0; i < STORE_READERS; i++) {
        if ((rc = conn_open(&st->r[i], path, 0, err)) < 0)
            goto out;
        st->rfree[st->nfree++] = &st->r[i];
    }
out:
    if (rc < 0)
        store_close(st);
    else
        *out = st;
    return rc;
}

void store_close(store *st)
{
    if (!st)
        return;
    conn_close(&st->w);
    for (int i = 0; i < STORE_READERS; i++)
        conn_close(&st->r[i]);
    pthread_mutex_destroy(&st->wmu);
    pthread_mutex_destroy(&st->rmu);
    pthread_cond_destroy(&st->rcv);
    pthread_mutex_destroy(&st->gmu);
    pthread_cond_destroy(&st->gcv);
    free(st);
}

int store_schema_version(store *st) { return st->version; }

/* ---- submission (group commit) ---- */

static int insert_one(conn *c, store_submit_req *rq, int64_t now, qd_err *err)
{
    rq->replayed = 0;
    if (rq->idem_key) {
        sqlite3_stmt *s = store_bind(c, Q_IDEM_FIND, "tt", rq->team, rq->idem_key);
        int e = s ? sqlite3_step(s) : store_prep_failure(c), found = e == SQLITE_ROW;
        if (e != SQLITE_ROW && e != SQLITE_DONE) {
            store_done(s);
            return store_db_fail(c->db, e, err, "finding an Idempotency-Key");
        }
        int same = found && strcmp((const char *)sqlite3_column_text(s, 1), rq->idem_hash) == 0;
        if (found)
            store_col_copy(s, 0, rq->id, sizeof rq->id);
        store_done(s);
        if (found && !same)
            return qd_fail(err, QD_EIDEMPOTENCY, "Idempotency-Key",
                           "this Idempotency-Key was used for another request (job %s)", rq->id);
        if (found) {
            rq->replayed = 1;
            return 0;
        }
    }
    for (int tries = 0; tries < 3; tries++) {
        if (digest_random_hex(rq->id, 8) < 0)
            return qd_fail(err, QD_EIO, NULL, "no random numbers for a job id");
        sqlite3_stmt *s = store_bind(c, Q_INSERT, "tttttiiztti", rq->id, rq->team, rq->kind, rq->name,
                               rq->spec, (int64_t)rq->priority, (int64_t)rq->max_attempts,
                               rq->deadline, rq->idem_key, rq->idem_hash, now);
        int e = s ? sqlite3_step(s) : store_prep_failure(c);
        store_done(s);
        if (e == SQLITE_CONSTRAINT)
            continue; /* an id collision: draw another */
        if (e != SQLITE_DONE)
            return store_db_fail(c->db, e, err, "inserting a job");
        int64_t seq = sqlite3_last_insert_rowid(c->db);
        return store_run(c, store_bind(c, Q_TRANSITION, "iit", seq, now, "submitted"), NULL, err, "transition");
    }
    return qd_fail(err, QD_EIO, NULL, "could not draw a unique job id");
}

static void commit_batch(store *st, gc_req *batch)
{
    qd_err cerr = {0};
    int64_t now = qtime_now_ms();
    int rc = store_wbegin(st, &cerr);
    if (rc == 0) {
        for (gc_req *r = batch; r && rc == 0; r = r->next) {
            r->rc = insert_one(&st->w, r->rq, now, r->err);
            /* a store failure (out of memory, disk full) may have left half a job (its row,
             * not its transition) or, SQLite rolling the transaction back, let the next
             * inserts commit one by one: the batch fails as one instead, nothing kept */
            if (r->rc < 0 && r->rc != QD_EIDEMPOTENCY)
                rc = qd_fail(&cerr, r->rc, NULL, "%s",
                             r->err ? r->err->msg : "store: a submission of the batch failed");
        }
        rc = store_wend(st, rc, &cerr);
    }
    if (rc < 0)
        for (gc_req *r = batch; r; r = r->next) {
            if (r->err)
                *r->err = cerr;
            r->rc = rc;
        }
}

int store_submit(store *st, store_submit_req *rq, qd_err *err)
{
    gc_req me = {.rq = rq, .err = err};
    pthread_mutex_lock(&st->gmu);
    *st->gtail = &me;
    st->gtail = &me.next;
    while (!me.done) {
        if (st->gleader) {
            pthread_cond_wait(&st->gcv, &st->gmu);
            continue;
        }
        st->gleader = 1;
        gc_req *batch = st->ghead;
        st->ghead = NULL;
        st->gtail = &st->ghead;
        pthread_mutex_unlock(&st->gmu);
        commit_batch(st, batch);
        pthread_mutex_lock(&st->gmu);
        for (gc_req *r = batch, *next; r; r = next) {
            next = r->next;
            r->done = 1;
        }
        st->gleader = 0;
        pthread_cond_broadcast(&st->gcv);
    }
    pthread_mutex_unlock(&st->gmu);
    return me.rc;
}

/* ---- tokens ---- */

int store_token_add(store *st, const char *id, const char *team, int admin, const char *hash,
                    int64_t now, qd_err *err)
{
    return store_write1(st, Q_TOK_ADD, err, "ttiti", id, team, (int64_t)admin, hash, now);
}

int store_token_find(store *st, const char *hash, char team[STORE_TEAM_LEN], int *admin,
                     qd_err *err)
{
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_bind(c, Q_TOK_FIND, "t", hash);
    int rc = s ? sqlite3_step(s) : store_prep_failure(c);
    if (rc == SQLITE_ROW) {
        store_col_copy(s, 0, team, STORE_TEAM_LEN);
        *admin = sqlite3_column_int(s, 1);
    }
    store_done(s);
    store_reader_put(st, c);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return qd_fail(err, QD_EAUTH, NULL, "unknown or revoked token");
    return store_db_fail(NULL, rc, err, "reading tokens");
}

int store_token_active(store *st, qd_err *err)
{
    conn *c = store_reader(st);
    sqlite3_stmt *s = store_bind(c, Q_TOK_ACTIVE, "");
    int rc = s ? sqlite3_step(s) : store_prep_failure(c);
    int n = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    store_done(s);
    store_reader_put(st, c);
    return rc == SQLITE_ROW ? n : store_db_fail(NULL, rc, err, "reading tokens");
}

int store_token_revoke(store *st, const char *id, int64_t now, qd_err *err)
{
    int rc = store_wbegin(st, err), changes = 0;
    if (rc < 0)
        return rc;
    conn *c = &st->w;
    sqlite3_stmt *s = store_bind(c, Q_TOK_GET, "t", id);
    int e = s ? sqlite3_step(s) : store_prep_failure(c);
    store_done(s);
    if (e == SQLITE_DONE)
        rc = qd_fail(err, QD_ENOENT, NULL, "no token %s", id);
    else if (e != SQLITE_ROW)
        rc = store_db_fail(c->db, e, err, "reading tokens");
    else if (!(rc = store_run(c, store_bind(c, Q_TOK_REVOKE, "ti", id, now), &changes, err, "revoke")) &&
             !changes)
        rc = qd_fail(err, QD_ECONFLICT, NULL, "token %s is already revoked", id);
    return store_wend(st, rc, err);
}

static json_t *token_row(sqlite3_stmt *s)
{
    char at[QTIME_ISO_LEN], rev[QTIME_ISO_LEN];
    int revoked = sqlite3_column_type(s, 4) != SQLITE_NULL;
    return json_pack("{s:s, s:s, s:b, s:s, s:s?}", "id", sqlite3_column_text(s, 0), "team",
                     sqlite3_column_text(s, 1), "admin", sqlite3_column_int(s, 2), "created_at",
                     qtime_iso(sqlite3_column_int64(s, 3), at), "revoked_at",
                     revoked ? qtime_iso(sqlite3_column_int64(s, 4), rev) : NULL);
}

int store_token_list(store *st, json_t **out, qd_err *err)
{
    return store_read_rows(st, Q_TOK_LIST, 0, token_row, out, err);
}
