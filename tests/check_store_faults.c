/*
 * check_store_faults.c: the job store when SQLite runs out of memory, the way SQLite tests
 * itself. SQLite's allocator is replaced (sqlite3_config SQLITE_CONFIG_MALLOC) by one that
 * counts every allocation and fails the Nth, either that one only or every one from the Nth on;
 * a script that calls every public store function runs once for each N, from the first
 * allocation to past the last the script makes. For every N:
 *   - nothing crashes, and every call either succeeds or returns a negative code with its
 *     message (out_of_memory, io_error or internal); a team never reads another's job;
 *   - after store_close, every byte SQLite allocated is freed again (no leak; under `make asan`
 *     LeakSanitizer checks the rest of the process);
 *   - the database is intact (PRAGMA integrity_check), holds every submission that returned 0
 *     and no other, and the store opens and works again once memory returns.
 * QD_STORE_SWEEP=full (make stress) tries every N; otherwise every 17th N of the one-shot sweep
 * and every 53rd of the persistent one, to keep `make test` to seconds.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/store.h"
#include "tests/check_main.h"

/* ---- the counting, failing allocator ---- */

static long calls, script_calls, fail_at, trying, live, live_bytes;
static int persistent, failed_any;

static int fail_now(void)
{
    long k = ++calls;
    int f = fail_at > 0 && (k == fail_at || (persistent && k > fail_at));
    failed_any |= f;
    return f;
}

/* Each block carries its size in 16 bytes before it (SQLite needs 8-byte alignment). */
static void *m_malloc(int n)
{
    if (fail_now())
        return NULL;
    char *p = malloc((size_t)n + 16);
    if (!p)
        return NULL;
    *(long *)p = n;
    live++, live_bytes += n;
    return p + 16;
}

static void m_free(void *q)
{
    if (!q)
        return;
    char *p = (char *)q - 16;
    live--, live_bytes -= *(long *)p;
    free(p);
}

static int m_size(void *q) { return q ? (int)*(long *)((char *)q - 16) : 0; }

static void *m_realloc(void *q, int n)
{
    if (fail_now())
        return NULL;
    char *p = (char *)q - 16;
    long old = *(long *)p;
    char *r = realloc(p, (size_t)n + 16);
    if (!r)
        return NULL;
    *(long *)r = n;
    live_bytes += n - old;
    return r + 16;
}

static int m_roundup(int n) { return (n + 7) & ~7; }
static int m_init(void *app) { return (void)app, SQLITE_OK; }
static void m_shutdown(void *app) { (void)app; }

static const sqlite3_mem_methods METHODS = {m_malloc, m_free, m_realloc, m_size, m_roundup,
                                            m_init, m_shutdown, NULL};

static void install(void)
{
    ck_assert_int_eq(sqlite3_config(SQLITE_CONFIG_MALLOC, &METHODS), SQLITE_OK);
    ck_assert_int_eq(sqlite3_initialize(), SQLITE_OK);
    log_set_level(-1); /* the store logs failed statements: thousands here */
}

/* QD_STORE_SWEEP=N: that N only, with the store's log on (to see a failure found by a sweep). */
static long only_n(void)
{
    const char *v = getenv("QD_STORE_SWEEP");
    return v ? atol(v) : 0;
}

/* ---- the script ---- */

typedef struct tally {
    int ok, nomem, io, internal, other;
    int acked;
    char ids[8][STORE_ID_LEN];
} tally;

/* Records a call's outcome; fails the test on a code an allocation failure cannot explain. */
static int outcome(tally *t, int rc, const qd_err *e, const char *what)
{
    if (rc >= 0) {
        t->ok++;
        return rc;
    }
    ck_assert_msg(e->code == rc && e->msg[0], "%s: code %d without its message (N=%ld)", what,
                  rc, fail_at);
    if (only_n())
        fprintf(stderr, "N=%ld: %s: %s: %s\n", trying, what, qd_err_name(rc), e->msg);
    if (rc == QD_ENOMEM)
        t->nomem++;
    else if (rc == QD_EIO)
        t->io++;
    else if (rc == QD_EINTERNAL)
        t->internal++;
    else
        ck_abort_msg("%s: %s (%s) at N=%ld", what, qd_err_name(rc), e->msg, fail_at);
    return rc;
}

/* A call's rc, where the code `fine` (a not-found, say) counts as an answer, not an error. */
static int step(tally *t, const char *what, int rc, const qd_err *e, int fine)
{
    return outcome(t, rc == fine && fine ? 0 : rc, e, what);
}

static void expired(void *ctx, const char *id) { (void)ctx, (void)id; }

/* Three jobs of team t (the third with an Idempotency-Key), one of team u. */
static void submit_four(store *st, tally *t)
{
    for (int i = 0; i < 4; i++) {
        store_submit_req rq = {.team = i == 3 ? "u" : "t", .kind = "train", .name = "n",
                               .spec = "{\"a\": 1}",
                               .max_attempts = 3, .idem_key = i == 2 ? "k" : NULL,
                               .idem_hash = i == 2 ? "h" : NULL};
        qd_err e = {0};
        if (step(t, "submit", store_submit(st, &rq, &e), &e, 0) == 0 && !rq.replayed)
            snprintf(t->ids[t->acked++], STORE_ID_LEN, "%s", rq.id);
    }
}

static void read_jobs(store *st, tally *t, const char *id)
{
    store_job j, rows[4];
    json_t *a, *b;
    int64_t counts[JS_COUNT];
    int n;
    qd_err e = {0};
    if (step(t, "get", store_get(st, id, "t", &j, &e), &e, QD_ENOENT) == 0 && e.code == 0)
        store_job_clear(&j);
    /* team u's job is never team t's, whatever failed on the way */
    for (int i = 0; i < t->acked; i++) {
        e = (qd_err){0};
        int rc = store_get(st, t->ids[i], "t", &j, &e);
        if (rc == 0 && strcmp(j.team, "t") != 0)
            ck_abort_msg("N=%ld: team t read team %s's job %s", trying, j.team, t->ids[i]);
        if (rc == 0)
            store_job_clear(&j);
        step(t, "get", rc, &e, QD_ENOENT);
    }
    e = (qd_err){0};
    if (step(t, "history", store_get_history(st, id, NULL, &j, &a, &b, &e), &e, QD_ENOENT) == 0 &&
        e.code == 0) {
        store_job_clear(&j);
        json_decref(a);
        json_decref(b);
    }
    store_filter f = {.team = "t", .state = -1, .limit = 4};
    e = (qd_err){0};
    if (step(t, "list", store_list(st, &f, rows, &n, &e), &e, 0) == 0)
        for (int i = 0; i < n; i++)
            store_job_clear(&rows[i]);
    e = (qd_err){0};
    step(t, "counts", store_counts(st, counts, &e), &e, 0);
}

/* A job through its life: claimed, progress, an epoch, an artifact, succeeded. */
static void run_one(store *st, tally *t, int64_t now)
{
    store_job j;
    json_t *a;
    int64_t size;
    char sha[65];
    qd_err e = {0};
    if (step(t, "claim", store_claim(st, now, &j, &e), &e, 0) != 1)
        return;
    e = (qd_err){0};
    step(t, "progress", store_set_progress(st, j.seq, "{\"f\": 0.5}", now, &e), &e, 0);
    e = (qd_err){0};
    step(t, "epoch", store_put_epoch(st, j.seq, 1, "{\"epoch\": 1}", &e), &e, 0);
    e = (qd_err){0};
    if (step(t, "epochs", store_epochs(st, j.seq, &a, &e), &e, 0) == 0)
        json_decref(a);
    e = (qd_err){0};
    step(t, "put artifact", store_put_artifact(st, j.seq, "m.qdc", 10, "ab", now, &e), &e, 0);
    e = (qd_err){0};
    if (step(t, "artifacts", store_artifacts(st, j.seq, &a, &e), &e, 0) == 0)
        json_decref(a);
    e = (qd_err){0};
    step(t, "artifact", store_artifact(st, j.seq, "m.qdc", &size, sha, &e), &e, QD_ENOENT);
    e = (qd_err){0};
    step(t, "succeed", store_succeed(st, j.seq, "{\"test_accuracy\": 0.5}", now, &e), &e, 0);
    store_job_clear(&j);
}

/* Others: failed with a retry, deferred; then cancel, requeue, recovery, deadlines, Pareto. */
static void fail_and_recover(store *st, tally *t, const char *id, int64_t now)
{
    store_job j;
    json_t *a;
    int state, requeued, failed;
    qd_err e = {0}, fe = {.code = QD_EIO, .msg = "x"}, full = {.code = QD_ENOSPC, .msg = "full"};
    if (step(t, "claim clean", store_claim_next(st, now, 1, &j, &e), &e, 0) == 1) {
        e = (qd_err){0};
        step(t, "fail", store_fail(st, j.seq, 1, &fe, now + 1, now, &e), &e, 0);
        store_job_clear(&j);
    }
    e = (qd_err){0};
    if (step(t, "claim", store_claim(st, now + 5, &j, &e), &e, 0) == 1) {
        e = (qd_err){0};
        step(t, "defer", store_defer(st, j.seq, 1, &full, now + 6, "r", now + 5, &e), &e, 0);
        store_job_clear(&j);
    }
    e = (qd_err){0};
    int rc = store_cancel(st, id, NULL, &state, &e);
    step(t, "cancel", rc, &e, rc == QD_ENOENT ? QD_ENOENT : QD_ECONFLICT);
    e = (qd_err){0};
    step(t, "requeue running", store_requeue_running(st, "stop", now, &e), &e, 0);
    e = (qd_err){0};
    step(t, "recover", store_recover(st, 3, now, &requeued, &failed, &e), &e, 0);
    e = (qd_err){0};
    step(t, "expire", store_expire(st, now + 10, expired, NULL, &e), &e, 0);
    store_next_retry(st, now);
    e = (qd_err){0};
    if (step(t, "pareto", store_pareto(st, "t", NULL, NULL, NULL, &a, &e), &e, 0) == 0)
        json_decref(a);
}

static void tokens(store *st, tally *t, int64_t now)
{
    json_t *a;
    int admin;
    char team[STORE_TEAM_LEN];
    qd_err e = {0};
    step(t, "token add", store_token_add(st, "id1", "t", 0, "hash1", now, &e), &e, 0);
    e = (qd_err){0};
    step(t, "token find", store_token_find(st, "hash1", team, &admin, &e), &e, QD_EAUTH);
    e = (qd_err){0};
    step(t, "token active", store_token_active(st, &e), &e, 0);
    e = (qd_err){0};
    if (step(t, "token list", store_token_list(st, &a, &e), &e, 0) == 0)
        json_decref(a);
    e = (qd_err){0};
    step(t, "token revoke", store_token_revoke(st, "id1", now, &e), &e, QD_ENOENT);
}

/* Every public store function, on the database at path. */
static void script(const char *path, tally *t)
{
    store *st = NULL;
    qd_err e = {0};
    if (step(t, "open", store_open(&st, path, &e), &e, 0) < 0)
        return;
    submit_four(st, t);
    read_jobs(st, t, t->acked ? t->ids[0] : "0000000000000000");
    run_one(st, t, 1000);
    fail_and_recover(st, t, t->acked ? t->ids[0] : "0000000000000000", 1000);
    tokens(st, t, 1000);
    store_close(st);
}

/* After a run: the database is sound and holds every acknowledged submission, and the store
 * opens and works on it with memory back. */
static void check_after(const char *path, const tally *t)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    char sql[128];
    if (access(path, F_OK) != 0) {
        ck_assert_int_eq(t->acked, 0);
        return;
    }
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_msg(!strcmp((const char *)sqlite3_column_text(s, 0), "ok"),
                  "integrity_check after N=%ld: %s", trying, sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    for (int i = 0; i < t->acked; i++) {
        snprintf(sql, sizeof sql, "SELECT 1 FROM jobs WHERE id = '%s'", t->ids[i]);
        ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        ck_assert_msg(sqlite3_step(s) == SQLITE_ROW, "submission %s lost (N=%ld)", t->ids[i],
                      trying);
        sqlite3_finalize(s);
    }
    /* and nothing else: no submission reported failed was committed after all */
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM jobs", -1, &s, NULL) != SQLITE_OK) {
        ck_assert_int_eq(t->acked, 0); /* opened before its migrations had run */
    } else {
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        ck_assert_msg(sqlite3_column_int(s, 0) == t->acked, "N=%ld: %d jobs stored, %d "
                      "acknowledged", trying, sqlite3_column_int(s, 0), t->acked);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    store *st;
    qd_err e = {0};
    ck_assert_msg(store_open(&st, path, &e) == 0, "reopen after N=%ld: %s", trying, e.msg);
    store_submit_req rq = {.team = "t", .kind = "train", .name = "n", .spec = "{}",
                           .max_attempts = 1};
    ck_assert_int_eq(store_submit(st, &rq, &e), 0);
    store_close(st);
}

static const char *scratch(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/qd-storefault-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
    }
    return dir;
}

static void remove_db(const char *path)
{
    char p[300];
    const char *ext[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, ext[i]);
        unlink(p);
    }
}

/* One run of the script with allocation N failing; returns whether any allocation failed. */
static int run_once(long n, int persist, tally *t)
{
    char path[256];
    snprintf(path, sizeof path, "%s/q.db", scratch());
    remove_db(path);
    memset(t, 0, sizeof *t);
    long before = live;
    calls = 0, fail_at = trying = n, persistent = persist, failed_any = 0;
    script(path, t);
    fail_at = 0;
    script_calls = calls;
    ck_assert_msg(live == before, "N=%ld%s: %ld SQLite allocations (%ld bytes) not freed", n,
                  persist ? " on" : "", live - before, live_bytes);
    check_after(path, t);
    remove_db(path);
    return failed_any;
}

static int full_sweep(void)
{
    const char *v = getenv("QD_STORE_SWEEP");
    return v && !strcmp(v, "full");
}

static void sweep(int persist, int stride_quick)
{
    install();
    tally t, sum = {0};
    run_once(0, 0, &t);
    long total = script_calls;
    ck_assert_int_gt(total, 100);
    ck_assert_int_eq(t.nomem + t.io + t.internal, 0);
    int stride = full_sweep() ? 1 : stride_quick, runs = 0;
    if (only_n())
        log_set_level(LOG_DEBUG);
    for (long n = only_n() ? only_n() : 1; n <= (only_n() ? only_n() : total + 1); n += stride) {
        int failed = run_once(n, persist, &t);
        runs++;
        ck_assert_msg(failed || n > total, "allocation %ld of %ld never came", n, total);
        sum.ok += t.ok, sum.nomem += t.nomem, sum.io += t.io, sum.internal += t.internal;
    }
    printf("store alloc-failure sweep (%s): %ld allocations in the script, %d runs, no crash, no "
           "leak, integrity ok after each; calls answered %d ok, %d out_of_memory, %d io_error, "
           "%d internal\n", persist ? "every allocation from the Nth" : "the Nth allocation",
           total, runs, sum.ok, sum.nomem, sum.io, sum.internal);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch());
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(the_nth_allocation_failing_is_a_clean_error)
{
    sweep(0, 17);
}
END_TEST

START_TEST(every_allocation_from_the_nth_failing_is_a_clean_error)
{
    sweep(1, 53);
}
END_TEST

static Suite *store_faults_suite(void)
{
    Suite *s = suite_create("store faults");
    TCase *t = tcase_create("alloc");
    tcase_set_timeout(t, full_sweep() ? 3600 : 120);
    tcase_add_test(t, the_nth_allocation_failing_is_a_clean_error);
    tcase_add_test(t, every_allocation_from_the_nth_failing_is_a_clean_error);
    suite_add_tcase(s, t);
    return s;
}

QD_CHECK_MAIN(store_faults_suite)
