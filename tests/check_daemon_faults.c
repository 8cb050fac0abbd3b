/*
 * check_daemon_faults.c: the daemon under faults, end to end, with the real binary.
 *
 *   kill -9 rounds: train jobs of four kinds (float, int4 QAT, AdaQAT, minifloat) and qmodel
 *     exports of a finished int4 QAT job are submitted while the daemon is killed at random
 *     moments (a fifth of the rounds during its start-up),
 *     QD_STRESS_ROUNDS times in a row (3 here; `make stress` runs 50). After every kill: PRAGMA
 *     integrity_check is ok, every job acknowledged with 201 is in the database, no job has
 *     succeeded twice, no succeeded job lacks its result. At the end every job has succeeded
 *     with the result, field for field (timings aside), of an uninterrupted run of its spec, and
 *     its per-epoch metrics match its history; an export's artifacts have the uninterrupted
 *     export's sizes and SHA-256. With QD_STRESS_SEARCH=1 (make stress) sensitivity
 *     searches from a float job are submitted and killed too.
 *   SIGTERM under load: two jobs running, clients reading and submitting; the daemon exits 0
 *     within its grace, no request got a 5xx, the running jobs are queued again without an
 *     attempt spent and later end with the uninterrupted result. A second signal exits at once.
 *   A full disk: the state directory on a small tmpfs (or, where mounting is not permitted,
 *     writes failed by the LD_PRELOAD shim libqdfault.so; QD_FAULT_FORCE_PRELOAD=1 forces that)
 *     filled while a job writes its checkpoints: submissions get 507 no_space, reads still
 *     answer, the job is not failed and spends no attempt, the database stays intact, and once
 *     space returns the job ends with the uninterrupted result.
 *   A crash loop: a job whose data set kills the process when read (the shim's QD_FAULT_CRASH)
 *     takes the daemon down at each start; restarted like systemd would, the daemon fails that
 *     job after --max-crashes crashes and goes on with the rest. With two workers, the job that
 *     ran beside it at the first crash is run alone afterwards and succeeds, not failed with it.
 *
 * Each test prints one line of figures (make stress collects them).
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/check_main.h"
#include "tests/daemon_util.h"

/* ---- the specs, and results compared without their timings ---- */

#define LONG_HEAD                                                                                  \
    "{\"kind\": \"train\", \"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 8, "        \
    "\"batch_size\": 64, \"subset\": {\"train\": 4096, \"test\": 256}, "
#define SPEC_HEAD                                                                                  \
    "{\"kind\": \"train\", \"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 8, "        \
    "\"batch_size\": 64, \"subset\": {\"train\": 1024, \"test\": 256}, "

static const char *SPECS[] = {
    SPEC_HEAD "\"name\": \"s0\", \"seed\": 1}",
    SPEC_HEAD "\"name\": \"s1\", \"seed\": 2, \"quant\": {\"method\": \"qat\", \"weights\": "
              "{\"format\": \"int\", \"bits\": 4}, \"activations\": {\"format\": \"int\", "
              "\"bits\": 4}}}",
    SPEC_HEAD "\"name\": \"s2\", \"seed\": 3, \"quant\": {\"method\": \"adaqat\", \"weights\": "
              "{\"format\": \"int\", \"bits\": 8}, \"activations\": {\"format\": \"int\", "
              "\"bits\": 8}, \"adaqat\": {\"lambda\": 5, \"eta\": 0.5, \"interval\": 4}}}",
    SPEC_HEAD "\"name\": \"s3\", \"seed\": 4, \"quant\": {\"method\": \"qat\", \"weights\": "
              "{\"format\": \"minifloat\", \"exponent\": 3, \"mantissa\": 2}, \"activations\": "
              "{\"format\": \"e3m2\"}}}",
    /* s1 and s2 on four times the data: long enough to be caught running by a signal */
    LONG_HEAD "\"name\": \"s4\", \"seed\": 2, \"quant\": {\"method\": \"qat\", \"weights\": "
              "{\"format\": \"int\", \"bits\": 4}, \"activations\": {\"format\": \"int\", "
              "\"bits\": 4}}}",
    LONG_HEAD "\"name\": \"s5\", \"seed\": 3, \"quant\": {\"method\": \"adaqat\", \"weights\": "
              "{\"format\": \"int\", \"bits\": 8}, \"activations\": {\"format\": \"int\", "
              "\"bits\": 8}, \"adaqat\": {\"lambda\": 5, \"eta\": 0.5, \"interval\": 4}}}",
    NULL, /* s6: a sensitivity search from s0's reference run (search_spec) */
    NULL, /* s7: a qmodel export of s1's reference run (export_spec) */
};
#define N_SPECS ((int)(sizeof SPECS / sizeof *SPECS))
#define N_ROUND_SPECS 4 /* the kill -9 rounds submit the short ones, s0..s3 */
#define SEARCH 6
#define EXPORT 7
#define EXPORT_BASE 1 /* the int4 QAT job: an export of every layer's integer path */

/* s6, the search, once the float job it starts from (s0's reference run) is known. */
static void search_spec(const char *base)
{
    static char text[1024];
    snprintf(text, sizeof text,
             "{\"kind\": \"search\", \"name\": \"s6\", \"dataset\": \"synthetic\", \"model\": "
             "\"mlp\", \"subset\": {\"train\": 1024, \"test\": 256}, \"base\": {\"job\": \"%s\"}, "
             "\"method\": \"sensitivity\", \"space\": {\"weight_bits\": [2, 4, 8], "
             "\"activation_bits\": [8]}, \"calibration_batches\": 1, \"budgets\": "
             "{\"weight_bytes\": [70000, 140000, 300000]}, \"finetune_epochs\": 2}", base);
    SPECS[SEARCH] = text;
}

/* s7, the export, once the train job it exports (s1's reference run) is known. */
static void export_spec(const char *base)
{
    static char text[256];
    snprintf(text, sizeof text,
             "{\"kind\": \"export\", \"name\": \"s7\", \"job\": \"%s\", \"format\": \"qmodel\"}",
             base);
    SPECS[EXPORT] = text;
}

static int spec_of(const char *name)
{
    return name[0] == 's' && name[1] >= '0' && name[1] < '0' + N_SPECS && !name[2] ? name[1] - '0'
                                                                                  : -1;
}

/* v without the keys that measure time (a copy). */
static json_t *untimed(const json_t *v)
{
    json_t *c = json_deep_copy(v), *x;
    const char *k;
    size_t i;
    if (json_is_object(c)) {
        json_object_del(c, "seconds");
        json_object_del(c, "train_images_per_second");
        json_object_del(c, "choose_seconds");
        json_object_del(c, "images_per_second"); /* an export's runtime speed */
        void *tmp;
        json_object_foreach_safe(c, tmp, k, x) json_object_set_new(c, k, untimed(x));
    } else if (json_is_array(c)) {
        json_array_foreach(c, i, x) json_array_set_new(c, i, untimed(x));
    }
    return c;
}

static int same_result(const json_t *a, const json_t *b)
{
    json_t *x = untimed(a), *y = untimed(b);
    int same = json_equal(x, y);
    if (!same) {
        char *sx = json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT);
        char *sy = json_dumps(y, JSON_SORT_KEYS | JSON_COMPACT);
        size_t d = 0;
        while (sx[d] && sx[d] == sy[d])
            d++;
        fprintf(stderr, "results differ at byte %zu:\n  %.200s\n  %.200s\n", d,
                sx + (d > 60 ? d - 60 : 0), sy + (d > 60 ? d - 60 : 0));
        free(sx);
        free(sy);
    }
    json_decref(x);
    json_decref(y);
    return same;
}

/* Submits spec; 1 with the id when the daemon acknowledged it with 201, 0 otherwise (killed). */
static int try_submit(const dt_daemon *d, const char *spec, int priority, char id[32])
{
    static const char *const h[] = {"Content-Type: application/json", NULL};
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs?priority=%d", priority);
    dt_resp r = dt_request(d, "POST", path, h, spec, -1);
    int ok = r.status == 201 && r.json;
    if (ok)
        snprintf(id, 32, "%s", dt_str(r.json, "id"));
    long st = r.status;
    dt_resp_free(&r);
    ck_assert_msg(ok || st == 0, "submit answered %ld", st);
    return ok;
}

/* The reference export's id: an export must end with its artifacts, byte for byte. */
static char export_ref[32];

/* Uninterrupted results of the specs in mask (bit i: SPECS[i]; others NULL), run on d. The
 * jobs the search (bit SEARCH) and the export (bit EXPORT) start from, s0 and s1, run first:
 * their runs are those specs' references too. */
static void reference_results(const dt_daemon *d, json_t *ref[N_SPECS], unsigned mask)
{
    char ids[N_SPECS][32];
    unsigned bases = (mask & 1u << SEARCH ? 1u : 0) | (mask & 1u << EXPORT ? 1u << EXPORT_BASE : 0);
    for (int phase = 0; phase < 2; phase++) {
        unsigned now = phase == 0 ? bases : mask & ~bases;
        for (int i = 0; i < N_SPECS; i++)
            if (now & 1u << i)
                dt_submit(d, SPECS[i], NULL, ids[i]);
        for (int i = 0; i < N_SPECS; i++) {
            if (!(now & 1u << i))
                continue;
            json_t *j = dt_wait(d, ids[i], NULL, "succeeded", 300);
            ck_assert_int_eq((int)dt_num(j, "crashes"), 0);
            ref[i] = json_incref(json_object_get(j, "result"));
            json_decref(j);
        }
        if (phase == 0 && (mask & 1u << SEARCH))
            search_spec(ids[0]);
        if (phase == 0 && (mask & 1u << EXPORT))
            export_spec(ids[EXPORT_BASE]);
    }
    for (int i = 0; i < N_SPECS; i++)
        if (!(mask & (1u << i) || bases & (1u << i)))
            ref[i] = NULL;
    if (mask & 1u << EXPORT)
        snprintf(export_ref, sizeof export_ref, "%s", ids[EXPORT]);
}

/* ---- the database, read directly between runs ---- */

typedef struct acked {
    char id[32];
    int spec;
} acked;

typedef struct db_report {
    int integrity_ok, missing, double_success, success_without_result, jobs;
} db_report;

static db_report check_db(const char *state, const acked *ids, int n)
{
    char path[512], sql[256];
    sqlite3 *db;
    sqlite3_stmt *s;
    db_report r = {0};
    snprintf(path, sizeof path, "%s/quantd.db", state);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    r.integrity_ok = sqlite3_step(s) == SQLITE_ROW &&
                     !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    const char *counts[] = {
        "SELECT count(*) FROM jobs",
        /* one literal in two lines (parenthesised: clang warns of a missing comma otherwise) */
        ("SELECT count(*) FROM (SELECT job_seq FROM job_transitions WHERE state = 'succeeded' "
         "GROUP BY job_seq HAVING count(*) > 1)"),
        "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND result IS NULL"};
    int *outs[] = {&r.jobs, &r.double_success, &r.success_without_result};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(sqlite3_prepare_v2(db, counts[k], -1, &s, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        *outs[k] = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    for (int i = 0; i < n; i++) {
        snprintf(sql, sizeof sql, "SELECT 1 FROM jobs WHERE id = '%s'", ids[i].id);
        ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        r.missing += sqlite3_step(s) != SQLITE_ROW;
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return r;
}

static void assert_db_sound(const char *state, const acked *ids, int n, const char *when)
{
    db_report r = check_db(state, ids, n);
    ck_assert_msg(r.integrity_ok, "%s: PRAGMA integrity_check failed", when);
    ck_assert_msg(r.missing == 0, "%s: %d acknowledged job(s) missing", when, r.missing);
    ck_assert_msg(r.double_success == 0, "%s: %d job(s) succeeded twice", when, r.double_success);
    ck_assert_msg(r.success_without_result == 0, "%s: %d succeeded job(s) without a result",
                  when, r.success_without_result);
}

/* Waits until every job in the daemon is final (at most timeout_s). */
static void wait_all_final(const dt_daemon *d, double timeout_s)
{
    for (double t0 = dt_now(); dt_now() - t0 < timeout_s; usleep(100000)) {
        json_t *q = dt_get(d, "/api/v1/jobs?state=queued&limit=1", NULL, 200);
        json_t *r = dt_get(d, "/api/v1/jobs?state=running&limit=1", NULL, 200);
        int busy = json_array_size(json_object_get(q, "jobs")) +
                   json_array_size(json_object_get(r, "jobs"));
        json_decref(q);
        json_decref(r);
        if (!busy)
            return;
    }
    ck_abort_msg("jobs still queued or running after %.0f s", timeout_s);
}

typedef struct tally {
    int checked, resumed, crashes, searches, exports, exports_resumed;
} tally;

/* Every job of d has succeeded with its spec's reference result (an export with the reference
 * export's artifacts, byte for byte): how many, how many resumed after a crash, the crashes
 * they ran through, the searches and exports among them. */
static tally assert_all_match(const dt_daemon *d, json_t *ref[N_SPECS])
{
    json_t *l = dt_get(d, "/api/v1/jobs?limit=1000", NULL, 200), *row;
    size_t i;
    tally t = {0};
    json_array_foreach(json_object_get(l, "jobs"), i, row)
    {
        const char *id = dt_str(row, "id");
        int k = spec_of(dt_str(row, "name"));
        if (k < 0)
            continue;
        ck_assert_msg(ref[k] != NULL, "no reference run of spec s%d", k);
        json_t *j = dt_job(d, id);
        ck_assert_msg(!strcmp(dt_str(j, "state"), "succeeded"), "job %s (s%d) ended %s: %s", id,
                      k, dt_str(j, "state"),
                      json_dumps(json_object_get(j, "errors"), 0));
        json_t *res = json_object_get(j, "result");
        ck_assert_msg(same_result(res, ref[k]), "job %s (spec s%d, %d crashes) differs from the "
                      "uninterrupted run", id, k, (int)dt_num(j, "crashes"));
        if (k != SEARCH) /* a search stores every candidate's epochs */
            ck_assert_int_eq(dt_epochs(d, id),
                             (int)json_array_size(json_object_get(res, "history")));
        if (k == EXPORT) {
            json_t *mine = dt_artifacts(d, id), *want = dt_artifacts(d, export_ref);
            ck_assert_msg(json_object_size(want) > 0 && json_equal(mine, want),
                          "export %s (%d crashes): artifacts %s, the uninterrupted run's %s", id,
                          (int)dt_num(j, "crashes"), json_dumps(mine, JSON_COMPACT),
                          json_dumps(want, JSON_COMPACT));
            json_decref(mine);
            json_decref(want);
            t.exports_resumed += dt_num(j, "crashes") > 0;
        }
        t.resumed += dt_num(j, "crashes") > 0;
        t.crashes += (int)dt_num(j, "crashes");
        t.searches += k == SEARCH;
        t.exports += k == EXPORT;
        t.checked++;
        json_decref(j);
    }
    json_decref(l);
    return t;
}

/* ---- kill -9 rounds ---- */

typedef struct submitter {
    dt_daemon *d;
    atomic_int stop;
    int budget;          /* jobs to submit this round */
    unsigned seed;
    acked *ids;
    int *n;
    pthread_mutex_t *mu;
} submitter;

static void *submit_main(void *arg)
{
    submitter *s = arg;
    for (int i = 0; i < s->budget && !atomic_load(&s->stop); i++) {
        /* the short train specs, and the search and the export where they are set */
        int pool[N_SPECS], m = 0;
        for (int i = 0; i < N_SPECS; i++)
            if (SPECS[i] && (i < N_ROUND_SPECS || i == SEARCH || i == EXPORT))
                pool[m++] = i;
        int k = pool[rand_r(&s->seed) % (unsigned)m];
        char id[32];
        /* exports first: claimed at the next start, they run in the window the kills aim at
         * (behind a search they would wait for minutes) */
        if (!try_submit(s->d, SPECS[k], k == EXPORT ? 10 : 0, id))
            break; /* the daemon is gone */
        pthread_mutex_lock(s->mu);
        snprintf(s->ids[*s->n].id, sizeof s->ids[*s->n].id, "%s", id);
        s->ids[(*s->n)++].spec = k;
        pthread_mutex_unlock(s->mu);
        usleep((useconds_t)(rand_r(&s->seed) % 300000));
    }
    return NULL;
}

/* Whether a job listing holds a job of this kind. */
static int runs_kind(const json_t *list, const char *kind)
{
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(list, "jobs"), i, r) if (!strcmp(dt_str(r, "kind"), kind))
        return 1;
    return 0;
}

/* Whether an export that no kill has caught yet (no crash) is queued or running. */
static int export_uncaught(const dt_daemon *d)
{
    json_t *l = dt_get(d, "/api/v1/jobs?kind=export&limit=1000", NULL, 200), *r;
    size_t i;
    int found = 0;
    json_array_foreach(json_object_get(l, "jobs"), i, r)
    {
        const char *st = dt_str(r, "state");
        found |= (!strcmp(st, "queued") || !strcmp(st, "running")) && dt_num(r, "crashes") == 0;
    }
    json_decref(l);
    return found;
}

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

START_TEST(kill_9_at_random_moments_loses_nothing)
{
    int rounds = env_int("QD_STRESS_ROUNDS", 3);
    unsigned seed = (unsigned)env_int("QD_STRESS_SEED", (int)time(NULL));
    char *dir = dt_tempdir();
    const char *args[] = {"--workers", "2", "--max-crashes", "100", "--retry-backoff", "0.2",
                          NULL};
    json_t *ref[N_SPECS];
    dt_daemon d;
    dt_start(&d, dir, args);
    int search = env_int("QD_STRESS_SEARCH", 0);
    reference_results(&d, ref,
                      ((1u << N_ROUND_SPECS) - 1) | 1u << EXPORT | (search ? 1u << SEARCH : 0));
    ck_assert_int_eq(dt_stop(&d, SIGKILL), 128 + SIGKILL);
    acked *ids = calloc(64 + (size_t)rounds * 4, sizeof *ids);
    int n = 0, in_startup = 0, killed_running = 0, killed_kind[3] = {0};
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    double t0 = dt_now();
    for (int round = 0; round < rounds; round++) {
        int st;
        dt_spawn(&d, dir, args);
        if (rand_r(&seed) % 5 == 0) { /* during start-up: recovery, migrations, first claims */
            usleep((useconds_t)(rand_r(&seed) % 60000));
            in_startup++;
        } else {
            if (!dt_ready(&d, 30, &st))
                ck_abort_msg("round %d: the daemon exited by itself (%d); see %s", round, st,
                             d.log);
            submitter s = {.d = &d, .budget = (int)(rand_r(&seed) % 3), .seed = rand_r(&seed),
                           .ids = ids, .n = &n, .mu = &mu};
            pthread_t th;
            ck_assert_int_eq(pthread_create(&th, NULL, submit_main, &s), 0);
            /* the kill comes 0.1 to 2 s on, or as soon as an export runs in a third of the
             * rounds and in every round with an export no kill has caught yet (exports take a
             * fraction of a second: left to chance, few would be caught) */
            double until = dt_now() + 0.1 + (double)(rand_r(&seed) % 1900000) / 1e6;
            int hunt = rand_r(&seed) % 3 == 0;
            hunt |= export_uncaught(&d);
            json_t *running = NULL, *r;
            do {
                json_decref(running);
                double left = until - dt_now();
                usleep(left <= 0 ? 0 : hunt && left > 0.01 ? 10000 : (useconds_t)(left * 1e6));
                running = dt_get(&d, "/api/v1/jobs?state=running&limit=10", NULL, 200);
            } while (dt_now() < until && !(hunt && runs_kind(running, "export")));
            size_t i;
            json_array_foreach(json_object_get(running, "jobs"), i, r)
            {
                const char *kind = dt_str(r, "kind");
                killed_kind[!strcmp(kind, "search") ? 1 : !strcmp(kind, "export") ? 2 : 0]++;
                killed_running++;
            }
            json_decref(running);
            kill(d.pid, SIGKILL);
            atomic_store(&s.stop, 1);
            pthread_join(th, NULL);
        }
        if (d.pid) {
            kill(d.pid, SIGKILL);
            waitpid(d.pid, &st, 0);
            d.pid = 0;
        }
        char when[64];
        snprintf(when, sizeof when, "after kill %d", round + 1);
        assert_db_sound(dir, ids, n, when);
    }
    double rounds_s = dt_now() - t0;
    dt_start(&d, dir, args);
    wait_all_final(&d, 600);
    assert_db_sound(dir, ids, n, "at the end");
    tally t = assert_all_match(&d, ref);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    int acked_kind[3] = {0};
    for (int i = 0; i < n; i++)
        acked_kind[ids[i].spec == SEARCH ? 1 : ids[i].spec == EXPORT ? 2 : 0]++;
    printf("kill9: %d rounds (%d during start-up) in %.0f s, seed %u: %d jobs acknowledged "
           "(%d train, %d search, %d export), 0 lost, 0 succeeded twice, integrity ok after "
           "every kill; %d jobs running at the kills (%d train, %d search, %d export; a job once "
           "per kill that caught it); %d jobs resumed after %d crashes in all (%d exports); all "
           "%d jobs (%d searches, %d "
           "exports) match their uninterrupted run (exports: artifacts byte for byte)\n",
           rounds, in_startup, rounds_s, seed, n, acked_kind[0], acked_kind[1], acked_kind[2],
           killed_running, killed_kind[0], killed_kind[1], killed_kind[2], t.resumed, t.crashes,
           t.exports_resumed, t.checked, t.searches, t.exports);
    for (int i = 0; i < N_SPECS; i++)
        json_decref(ref[i]);
    free(ids);
    dt_rmdir(dir);
}
END_TEST

/* ---- SIGTERM under load ---- */

typedef struct loader {
    dt_daemon *d;
    atomic_int stop;
    int requests, errors_5xx, refused;
    long last_bad;
    acked ids[64];
    int n;
} loader;

static void *load_main(void *arg)
{
    loader *l = arg;
    const char *paths[] = {"/api/v1/jobs", "/api/v1/pareto", "/metrics", "/healthz"};
    for (int i = 0; !atomic_load(&l->stop); i++) {
        long st;
        if (i % 8 == 7 && l->n < 3) { /* a few submissions among the reads */
            char id[32];
            if (try_submit(l->d, SPECS[0], 0, id)) {
                snprintf(l->ids[l->n].id, sizeof l->ids[l->n].id, "%s", id);
                l->ids[l->n++].spec = 0;
                st = 201;
            } else {
                st = 0;
            }
        } else {
            dt_resp r = dt_request(l->d, "GET", paths[i % 4], NULL, NULL, 0);
            st = r.status;
            dt_resp_free(&r);
        }
        l->requests++;
        if (st >= 500)
            l->errors_5xx++, l->last_bad = st;
        l->refused += st == 0;
        usleep(5000);
    }
    return NULL;
}

START_TEST(sigterm_under_load_requeues_and_exits_0)
{
    char *dir = dt_tempdir(), a[32], b[32];
    const char *args[] = {"--workers", "2", "--grace", "20", NULL};
    json_t *ref[N_SPECS];
    dt_daemon d;
    dt_start(&d, dir, args);
    reference_results(&d, ref, 1u | 1u << 4 | 1u << 5);
    dt_submit(&d, SPECS[4], NULL, a);
    dt_submit(&d, SPECS[5], NULL, b);
    json_decref(dt_wait(&d, a, NULL, "running", 60));
    json_decref(dt_wait(&d, b, NULL, "running", 60));
    loader l[2] = {{.d = &d}, {.d = &d}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_main, &l[i]), 0);
    while (dt_epochs(&d, a) < 1 || dt_epochs(&d, b) < 1)
        usleep(20000);
    usleep(300000);
    double t0 = dt_now();
    int status = dt_stop(&d, SIGTERM);
    double took = dt_now() - t0;
    for (int i = 0; i < 2; i++) {
        atomic_store(&l[i].stop, 1);
        pthread_join(th[i], NULL);
    }
    ck_assert_int_eq(status, 0);
    int requests = l[0].requests + l[1].requests, bad = l[0].errors_5xx + l[1].errors_5xx;
    ck_assert_msg(bad == 0, "%d answers were 5xx (last %ld)", bad, l[0].last_bad + l[1].last_bad);
    acked all[130];
    int n = 0;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < l[i].n; k++)
            all[n++] = l[i].ids[k];
    snprintf(all[n].id, sizeof all[n].id, "%s", a), all[n++].spec = 4;
    snprintf(all[n].id, sizeof all[n].id, "%s", b), all[n++].spec = 5;
    assert_db_sound(dir, all, n, "after SIGTERM");
    /* the two running jobs: queued again, the attempt not spent, no crash counted */
    const char *api_only[] = {"--workers", "0", NULL};
    dt_start(&d, dir, api_only);
    const char *both[] = {a, b};
    for (int i = 0; i < 2; i++) {
        json_t *j = dt_job(&d, both[i]);
        ck_assert_str_eq(dt_str(j, "state"), "queued");
        ck_assert_int_eq((int)dt_num(j, "attempts"), 0);
        ck_assert_int_eq((int)dt_num(j, "crashes"), 0);
        ck_assert(dt_has_reason(j, "daemon shutting down"));
        json_decref(j);
    }
    /* a second signal while it closes is no kill: still exit status 0 */
    kill(d.pid, SIGTERM);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    /* a second signal while jobs run ends it at once, the jobs requeued */
    dt_start(&d, dir, args);
    json_decref(dt_wait(&d, a, NULL, "running", 60));
    json_decref(dt_wait(&d, b, NULL, "running", 60));
    kill(d.pid, SIGTERM);
    t0 = dt_now();
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    double took2 = dt_now() - t0;
    dt_start(&d, dir, api_only);
    for (int i = 0; i < 2; i++) {
        json_t *j = dt_job(&d, both[i]);
        ck_assert_str_eq(dt_str(j, "state"), "queued");
        ck_assert_int_eq((int)dt_num(j, "attempts"), 0);
        ck_assert_int_eq((int)dt_num(j, "crashes"), 0);
        json_decref(j);
    }
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_start(&d, dir, args);
    wait_all_final(&d, 600);
    tally t = assert_all_match(&d, ref);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    printf("sigterm: exit status 0 after %.2f s with 2 jobs running and %d requests from 2 "
           "clients (0 answered 5xx, %d refused once the daemon had closed); both jobs requeued "
           "without spending an attempt; a second signal: exit 0 after %.2f s, jobs requeued; "
           "then %d jobs matched their uninterrupted runs\n",
           took, requests, l[0].refused + l[1].refused, took2, t.checked);
    for (int i = 0; i < N_SPECS; i++)
        json_decref(ref[i]);
    dt_rmdir(dir);
}
END_TEST

/* ---- a full disk ---- */

typedef struct disk {
    char root[256], state[300], flag[300];
    int tmpfs; /* 1: a tmpfs mounted at root; 0: the preload shim fails writes */
} disk;

/* When the test fails half-way, Check ends its process: the daemon and the mount go too. */
static const disk *disk_now;
static const dt_daemon *disk_daemon;

static void disk_atexit(void)
{
    if (disk_daemon && disk_daemon->pid > 0)
        kill(disk_daemon->pid, SIGKILL);
    if (disk_now && disk_now->tmpfs) {
        usleep(200000);
        umount2(disk_now->root, MNT_DETACH);
    }
}

static void disk_setup(disk *k, const char *dir)
{
    snprintf(k->root, sizeof k->root, "%s/mnt", dir);
    snprintf(k->state, sizeof k->state, "%s/state", k->root);
    snprintf(k->flag, sizeof k->flag, "%s/disk-full", dir);
    ck_assert_int_eq(mkdir(k->root, 0755), 0);
    k->tmpfs = !getenv("QD_FAULT_FORCE_PRELOAD") &&
               mount("tmpfs", k->root, "tmpfs", 0, "size=64m") == 0;
    if (!k->tmpfs) {
        setenv("LD_PRELOAD", QD_FAULT_LIB, 1);
        setenv("QD_FAULT_ENOSPC", k->root, 1);
        setenv("QD_FAULT_ENOSPC_FLAG", k->flag, 1);
        setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 0);
    }
}

/* Fills the disk (what is left of the tmpfs, or the shim's flag). */
static void disk_fill(const disk *k)
{
    char path[400];
    snprintf(path, sizeof path, "%s/filler", k->root);
    if (!k->tmpfs) {
        FILE *f = fopen(k->flag, "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
        return;
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    static char block[65536];
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    fclose(f);
    f = fopen(path, "a"); /* and the last few bytes */
    while (fputc(0, f) != EOF && fflush(f) == 0)
        ;
    fclose(f);
}

static void disk_free(const disk *k)
{
    char path[400];
    snprintf(path, sizeof path, "%s/filler", k->root);
    unlink(k->tmpfs ? path : k->flag);
}

static void disk_teardown(disk *k)
{
    if (k->tmpfs)
        ck_assert_int_eq(umount(k->root), 0);
    else
        unsetenv("LD_PRELOAD");
}

START_TEST(a_full_disk_is_waited_out)
{
    char *dir = dt_tempdir(), id[32];
    disk k;
    disk_setup(&k, dir);
    const char *args[] = {"--workers", "1", "--retry-backoff", "0.3", NULL};
    json_t *ref[N_SPECS];
    dt_daemon d = {0};
    disk_now = &k, disk_daemon = &d;
    atexit(disk_atexit);
    dt_start(&d, k.state, args);
    reference_results(&d, ref, 1u << 3);
    dt_submit(&d, SPECS[3], NULL, id);
    while (dt_epochs(&d, id) < 2)
        usleep(10000);
    disk_fill(&k);
    /* submissions are refused with 507 and the named code; reads go on */
    static const char *const h[] = {"Content-Type: application/json", NULL};
    int refused = 0;
    for (int i = 0; i < 5; i++) {
        dt_resp r = dt_request(&d, "POST", "/api/v1/jobs", h, SPECS[0], -1);
        ck_assert_msg(r.status == 507 || r.status == 201, "submit on a full disk: %ld %s",
                      r.status, r.body ? r.body : "");
        if (r.status == 507) {
            refused++;
            ck_assert_str_eq(dt_str(json_object_get(r.json, "error"), "code"), "no_space");
        }
        dt_resp_free(&r);
        usleep(100000);
    }
    ck_assert_int_ge(refused, 4);
    json_decref(dt_get(&d, "/healthz", NULL, 200));
    json_decref(dt_get(&d, "/api/v1/jobs", NULL, 200));
    /* the job hits the wall at its next checkpoint and waits, without failing */
    double t0 = dt_now();
    for (; dt_now() - t0 < 2.0; usleep(50000)) {
        json_t *j = dt_job(&d, id);
        ck_assert_msg(strcmp(dt_str(j, "state"), "failed") != 0, "failed on a full disk: %s",
                      json_dumps(json_object_get(j, "errors"), 0));
        ck_assert_msg(strcmp(dt_str(j, "state"), "succeeded") != 0,
                      "the job finished on a full disk (the disk was not full?)");
        json_decref(j);
    }
    assert_db_sound(k.state, NULL, 0, "with the disk full");
    disk_free(&k);
    json_t *j = dt_wait(&d, id, NULL, "succeeded", 120);
    json_t *errs = json_object_get(j, "errors");
    int nospace = 0;
    for (size_t i = 0; i < json_array_size(errs); i++)
        nospace += !strcmp(dt_str(json_array_get(errs, i), "code"), "no_space");
    ck_assert_int_ge(nospace, 1);
    ck_assert_int_eq((int)dt_num(j, "attempts"), 1); /* waiting spent no attempt */
    ck_assert(same_result(json_object_get(j, "result"), ref[3]));
    ck_assert_int_eq(dt_epochs(&d, id),
                     (int)json_array_size(json_object_get(json_object_get(j, "result"), "history")));
    json_decref(j);
    char after[32];
    dt_submit(&d, SPECS[0], NULL, after);
    json_decref(dt_wait(&d, after, NULL, "succeeded", 120));
    acked mine[2];
    snprintf(mine[0].id, sizeof mine[0].id, "%s", id);
    snprintf(mine[1].id, sizeof mine[1].id, "%s", after);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    assert_db_sound(k.state, mine, 2, "after the disk was freed");
    printf("diskfull (%s): %d of 5 submissions answered 507 no_space while full, reads 200; the "
           "running job waited (%d no_space retries, not counted) and ended with the "
           "uninterrupted result; integrity ok\n",
           k.tmpfs ? "64 MB tmpfs" : "LD_PRELOAD write failures", refused, nospace);
    for (int i = 0; i < N_SPECS; i++)
        json_decref(ref[i]);
    disk_teardown(&k);
    disk_now = NULL, disk_daemon = NULL;
    dt_rmdir(dir);
}
END_TEST

/* ---- a crash loop ---- */

/* An IDX data set of n images of 28x28 and its labels, in dir. */
static void write_idx(const char *dir, const char *prefix, int n)
{
    char path[512];
    unsigned char h[16];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint32_t img[4] = {0x803, (uint32_t)n, 28, 28};
    for (int i = 0; i < 4; i++)
        h[4 * i] = (unsigned char)(img[i] >> 24), h[4 * i + 1] = (unsigned char)(img[i] >> 16),
        h[4 * i + 2] = (unsigned char)(img[i] >> 8), h[4 * i + 3] = (unsigned char)img[i];
    fwrite(h, 1, 16, f);
    for (int i = 0; i < n * 784; i++)
        fputc(i % 251, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    f = fopen(path, "wb");
    uint32_t lab[2] = {0x801, (uint32_t)n};
    for (int i = 0; i < 2; i++)
        h[4 * i] = (unsigned char)(lab[i] >> 24), h[4 * i + 1] = (unsigned char)(lab[i] >> 16),
        h[4 * i + 2] = (unsigned char)(lab[i] >> 8), h[4 * i + 3] = (unsigned char)lab[i];
    fwrite(h, 1, 8, f);
    for (int i = 0; i < n; i++)
        fputc(i % 10, f);
    fclose(f);
}

/*
 * The crash loop: a poisoned job (its data set kills the process when read) and a train job
 * queued while nothing runs (innocent first or not), then the daemon restarted after each crash
 * with `workers` workers and --max-crashes 3, as systemd's Restart=on-failure would. Returns
 * the crashes; the two job ids in poison and innocent.
 */
static int crash_loop(int workers, int innocent_first, char poison[32], char innocent[32],
                      dt_daemon *d, char **dir_out)
{
    char *dir = dt_tempdir(), state[300], sets[300], poison_dir[400], nw[8];
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(sets, sizeof sets, "%s/datasets", dir);
    snprintf(poison_dir, sizeof poison_dir, "%s/poison", sets);
    snprintf(nw, sizeof nw, "%d", workers);
    ck_assert_int_eq(mkdir(sets, 0755), 0);
    ck_assert_int_eq(mkdir(poison_dir, 0755), 0);
    write_idx(poison_dir, "train", 64);
    write_idx(poison_dir, "t10k", 32);
    const char *args[] = {"--workers", nw, "--max-crashes", "3", "--datasets", sets, NULL};
    const char *api_only[] = {"--workers", "0", "--datasets", sets, NULL};
    static const char spec[] = "{\"kind\": \"train\", \"name\": \"poison\", \"dataset\": "
                               "\"poison\", \"model\": \"mlp\", \"epochs\": 1}";
    /* queued while nothing runs; submitting the poisoned job is safe (its data set is only
     * read when it runs) */
    dt_start(d, state, api_only);
    dt_submit(d, innocent_first ? SPECS[0] : spec, NULL, innocent_first ? innocent : poison);
    dt_submit(d, innocent_first ? spec : SPECS[0], NULL, innocent_first ? poison : innocent);
    ck_assert_int_eq(dt_stop(d, SIGTERM), 0);
    setenv("LD_PRELOAD", QD_FAULT_LIB, 1);
    setenv("QD_FAULT_CRASH", "/poison/", 1);
    setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 0);
    dt_spawn(d, state, args);
    int crashes = 0, sig = 0, st;
    for (;;) {
        /* runs until the job kills it, or for good once the job is failed */
        for (double t0 = dt_now(); d->pid && dt_now() - t0 < 60; usleep(20000))
            if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
                d->pid = 0;
                sig = WIFSIGNALED(st) ? WTERMSIG(st) : -WEXITSTATUS(st);
            }
        if (d->pid)
            break; /* up for a minute */
        ck_assert_msg(sig == SIGSEGV, "the daemon ended with %d, not the injected SIGSEGV", sig);
        ck_assert_int_le(++crashes, 6);
        dt_spawn(d, state, args);
        if (!dt_ready(d, 30, &st)) {
            sig = st > 128 ? st - 128 : -st; /* the job crashed it before it answered */
            continue;
        }
        /* the job may kill it between /healthz and this request: then round again */
        char path[64];
        snprintf(path, sizeof path, "/api/v1/jobs/%s", poison);
        dt_resp r = dt_request(d, "GET", path, NULL, NULL, 0);
        int failed = r.status == 200 && !strcmp(dt_str(r.json, "state"), "failed");
        dt_resp_free(&r);
        if (failed)
            break;
    }
    unsetenv("LD_PRELOAD");
    ck_assert_msg(d->pid != 0, "the daemon is not up after %d crashes", crashes);
    json_t *j = dt_job(d, poison);
    ck_assert_str_eq(dt_str(j, "state"), "failed");
    json_t *errs = json_object_get(j, "errors");
    ck_assert_str_eq(dt_str(json_array_get(errs, json_array_size(errs) - 1), "code"), "crashed");
    ck_assert_int_eq((int)dt_num(j, "crashes"), 3);
    json_decref(j);
    *dir_out = dir;
    return crashes;
}

START_TEST(a_job_that_crashes_the_daemon_is_failed_after_max_crashes)
{
    char poison[32], fine[32], *dir;
    dt_daemon d;
    int crashes = crash_loop(1, 0, poison, fine, &d, &dir);
    ck_assert_int_eq(crashes, 3);
    json_t *j = dt_wait(&d, fine, NULL, "succeeded", 120); /* and the queue goes on */
    ck_assert_int_eq((int)dt_num(j, "crashes"), 0);
    json_decref(j);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    printf("crashloop: the job whose data set kills the process crashed the daemon %d times, "
           "was failed (crashed) at the next start, and the job behind it succeeded\n", crashes);
    dt_rmdir(dir);
}
END_TEST

START_TEST(the_job_running_beside_a_crashing_one_is_not_failed_with_it)
{
    /* two workers: both jobs run when the first crash comes, so both are suspects; run alone
     * afterwards, the innocent one succeeds and only the poisoned one spends its crashes */
    char poison[32], fine[32], *dir;
    dt_daemon d;
    int crashes = crash_loop(2, 1, poison, fine, &d, &dir);
    ck_assert_int_eq(crashes, 3);
    json_t *j = dt_wait(&d, fine, NULL, "succeeded", 120);
    ck_assert_int_eq((int)dt_num(j, "crashes"), 1);
    json_decref(j);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    printf("crashloop, 2 workers: the job running beside the poisoned one at the first crash "
           "then ran alone and succeeded; the poisoned one failed after %d crashes\n", crashes);
    dt_rmdir(dir);
}
END_TEST

static Suite *faults_suite(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("daemon faults");
    /* one case each, so that CK_RUN_CASE=kill9 (make stress) runs one alone */
    struct {
        const char *name;
        const TTest *test;
        int timeout;
    } cases[] = {
        {"kill9", kill_9_at_random_moments_loses_nothing,
         300 + 30 * env_int("QD_STRESS_ROUNDS", 3)},
        {"sigterm", sigterm_under_load_requeues_and_exits_0, 300},
        {"diskfull", a_full_disk_is_waited_out, 300},
        {"crashloop", a_job_that_crashes_the_daemon_is_failed_after_max_crashes, 300},
        {"crashloop2", the_job_running_beside_a_crashing_one_is_not_failed_with_it, 300},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        TCase *t = tcase_create(cases[i].name);
        tcase_set_timeout(t, cases[i].timeout);
        tcase_add_test(t, cases[i].test);
        suite_add_tcase(s, t);
    }
    return s;
}

QD_CHECK_MAIN(faults_suite)
