/*
 * store_db.h: the store's own header, shared by its two files and by nothing else: store.c
 * (the SQL, connections, migrations, submission, tokens) and store_jobs.c (reading jobs and
 * moving them between states). Everything here works on a connection (conn) and a statement
 * named by enum q, whose text is in store.c's table SQL[].
 */
#ifndef QD_STORE_DB_H
#define QD_STORE_DB_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>

#include "store.h"

#define STORE_READERS 4
#define LIST_VARIANTS 32

#define JOB_COLS                                                                                   \
    "seq, id, team, kind, name, state, priority, attempts, max_attempts, crashes, "                \
    "cancel_requested, created_at, started_at, finished_at, updated_at, not_before, deadline, "    \
    "progress"

enum q {
    Q_BEGIN, Q_BEGIN_READ, Q_COMMIT, Q_ROLLBACK, Q_VERSION,
    Q_IDEM_FIND, Q_INSERT, Q_TRANSITION, Q_ERROR_ADD,
    Q_GET, Q_TRANSITIONS, Q_ERRORS, Q_COUNTS, Q_FIND,
    Q_CANCEL_QUEUED, Q_CANCEL_REQUEST, Q_CLAIM, Q_SUCCEED, Q_FAIL, Q_CANCELLED, Q_REQUEUE,
    Q_RUNNING, Q_RECOVER, Q_EXPIRE_LIST, Q_EXPIRE, Q_NEXT_RETRY,
    Q_PROGRESS, Q_EPOCH_PUT, Q_EPOCHS, Q_ART_PUT, Q_ARTS, Q_ART, Q_PARETO,
    Q_TOK_ADD, Q_TOK_FIND, Q_TOK_ACTIVE, Q_TOK_REVOKE, Q_TOK_GET, Q_TOK_LIST,
    Q_PARTIAL,
    Q_DEFER,
    Q_COUNT
};

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[Q_COUNT];
    sqlite3_stmt *list[LIST_VARIANTS];
} conn;

typedef struct gc_req {
    store_submit_req *rq;
    qd_err *err;
    int rc, done;
    struct gc_req *next;
} gc_req;

struct store {
    conn w;
    pthread_mutex_t wmu;
    conn r[STORE_READERS];
    conn *rfree[STORE_READERS];
    int nfree;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;
    pthread_mutex_t gmu;
    pthread_cond_t gcv;
    gc_req *ghead, **gtail;
    int gleader;
    int version;
};

/* What a statement of c that could not be prepared failed of: SQLITE_NOMEM or SQLITE_ERROR. */
int store_prep_failure(conn *c);
/* SQLite's code as a qd error (disk full, out of memory, not a database, ...). */
int store_db_fail(sqlite3 *db, int rc, qd_err *err, const char *what);
/* Statement q on c, prepared on first use. */
sqlite3_stmt *store_stmt(conn *c, int q);
/*
 * Binds s's parameters ?1, ?2, ... from the arguments by the letters of fmt: 't' text (NULL
 * binds NULL), 'i' int64, 'z' int64 with 0 bound as NULL. store_bind prepares q first. NULL
 * when a binding fails (out of memory), never a statement with a parameter left unbound.
 */
sqlite3_stmt *store_bindv(conn *c, sqlite3_stmt *s, const char *fmt, va_list ap);
sqlite3_stmt *store_bind_stmt(sqlite3_stmt *s, const char *fmt, ...);
sqlite3_stmt *store_bind(conn *c, int q, const char *fmt, ...);
/* Resets s for its next use. */
void store_done(sqlite3_stmt *s);
/* Runs a statement to its end; 0 or the error; *changes (may be NULL) the rows changed. */
int store_run(conn *c, sqlite3_stmt *s, int *changes, qd_err *err, const char *what);
char *store_col_dup(sqlite3_stmt *s, int i);
void store_col_copy(sqlite3_stmt *s, int i, char *out, size_t cap);
/* A row of JOB_COLS (then spec, result and partial when full) into j. */
void store_read_job(sqlite3_stmt *s, store_job *j, int full);
/* The listing statement for a combination of filters (bits: team, state, kind, name, cursor). */
sqlite3_stmt *store_list_stmt(conn *c, int mask);
/* One statement q, bound by fmt, in its own transaction on the writer. */
int store_write1(store *st, int q, qd_err *err, const char *fmt, ...);
/* Every row of q (bound to seq) through row() into a new array *out. */
int store_read_rows(store *st, int q, int64_t seq, json_t *(*row)(sqlite3_stmt *), json_t **out,
                    qd_err *err);
/* A read connection from the pool, and back. */
conn *store_reader(store *st);
void store_reader_put(store *st, conn *c);
/* BEGIN IMMEDIATE on the writer, holding it; store_wend commits (rc 0) or rolls back and
 * releases it, returning the outcome. */
int store_wbegin(store *st, qd_err *err);
int store_wend(store *st, int rc, qd_err *err);

#endif
