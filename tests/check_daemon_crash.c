/*
 * check_daemon_crash.c: nothing is lost. A job killed with the daemon (kill -9) mid-run is
 * requeued at the next start, resumes from its checkpoint and ends with the same result as an
 * uninterrupted run (test accuracy and every epoch's losses, bit for bit), and an export killed
 * mid-run ends with the uninterrupted export's artifacts, byte for byte; SIGTERM requeues the
 * running job and exits cleanly; a job that keeps crashing the daemon is failed; the store
 * migrates an empty and a version-1 database and refuses a newer or a foreign one; one daemon
 * per state directory; settings come from file, environment and arguments in that order.
 */
#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/check_main.h"
#include "tests/daemon_util.h"

static const char *const ONE_WORKER[] = {"--workers", "1", NULL};

/* Waits until the running job has finished `epochs` epochs; fails if it ended first. */
static void wait_epochs(const dt_daemon *d, const char *id, int epochs)
{
    for (int i = 0; i < 6000; i++, usleep(5000)) {
        if (dt_epochs(d, id) >= epochs)
            return;
    }
    ck_abort_msg("job %s did not reach epoch %d", id, epochs);
}

static json_t *result(json_t *job) { return json_object_get(job, "result"); }

static void assert_same_result(json_t *a, json_t *b)
{
    ck_assert_double_eq(dt_num(result(a), "test_accuracy"), dt_num(result(b), "test_accuracy"));
    ck_assert_double_eq(dt_num(result(a), "test_loss"), dt_num(result(b), "test_loss"));
    json_t *ha = json_object_get(result(a), "history"), *hb = json_object_get(result(b), "history");
    ck_assert_int_eq(json_array_size(ha), 8);
    ck_assert_int_eq(json_array_size(hb), 8);
    for (size_t i = 0; i < 8; i++) {
        json_t *ea = json_array_get(ha, i), *eb = json_array_get(hb, i);
        ck_assert_double_eq(dt_num(ea, "train_loss"), dt_num(eb, "train_loss"));
        ck_assert_double_eq(dt_num(ea, "test_accuracy"), dt_num(eb, "test_accuracy"));
    }
}

START_TEST(kill9_mid_run_resumes_to_the_same_result)
{
    char *dir = dt_tempdir(), ref[32], id[32];
    dt_daemon d;
    dt_start(&d, dir, ONE_WORKER);
    dt_submit(&d, DT_LONG_JOB, NULL, ref);
    json_t *uninterrupted = dt_wait(&d, ref, NULL, "succeeded", 120);
    dt_submit(&d, DT_LONG_JOB, NULL, id);
    wait_epochs(&d, id, 2);
    ck_assert_int_eq(dt_stop(&d, SIGKILL), 128 + SIGKILL);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/metrics", id);
    dt_start(&d, dir, ONE_WORKER);
    json_t *before = dt_get(&d, path, NULL, 200);
    double first_epoch_s = dt_num(json_array_get(json_object_get(before, "epochs"), 0), "seconds");
    json_decref(before);
    json_t *resumed = dt_wait(&d, id, NULL, "succeeded", 120);
    assert_same_result(uninterrupted, resumed);
    /* resumed, not run again: epoch 1 is the one timed before the crash */
    json_t *h0 = json_array_get(json_object_get(result(resumed), "history"), 0);
    ck_assert_double_eq(dt_num(h0, "seconds"), first_epoch_s);
    ck_assert_int_eq((int)dt_num(resumed, "crashes"), 1);
    ck_assert_int_eq((int)dt_num(resumed, "attempts"), 1);
    ck_assert(dt_has_reason(resumed, "the daemon restarted after a crash"));
    json_decref(uninterrupted);
    json_decref(resumed);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

START_TEST(sigterm_requeues_the_running_job)
{
    char *dir = dt_tempdir(), id[32];
    dt_daemon d;
    dt_start(&d, dir, ONE_WORKER);
    dt_submit(&d, DT_LONG_JOB, NULL, id);
    wait_epochs(&d, id, 1);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    const char *api_only[] = {"--workers", "0", NULL};
    dt_start(&d, dir, api_only);
    json_t *j = dt_job(&d, id);
    ck_assert_str_eq(dt_str(j, "state"), "queued");
    ck_assert_int_eq((int)dt_num(j, "attempts"), 0);
    ck_assert_int_eq((int)dt_num(j, "crashes"), 0);
    ck_assert(dt_has_reason(j, "daemon shutting down"));
    json_decref(j);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_start(&d, dir, ONE_WORKER);
    j = dt_wait(&d, id, NULL, "succeeded", 120);
    ck_assert_int_eq(json_array_size(json_object_get(result(j), "history")), 8);
    json_decref(j);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

START_TEST(a_job_that_keeps_crashing_the_daemon_is_failed)
{
    char *dir = dt_tempdir(), id[32];
    const char *args[] = {"--workers", "1", "--max-crashes", "1", NULL};
    dt_daemon d;
    dt_start(&d, dir, args);
    dt_submit(&d, DT_LONG_JOB, NULL, id);
    wait_epochs(&d, id, 1);
    ck_assert_int_eq(dt_stop(&d, SIGKILL), 128 + SIGKILL);
    dt_start(&d, dir, args);
    json_t *j = dt_job(&d, id);
    ck_assert_str_eq(dt_str(j, "state"), "failed");
    ck_assert_str_eq(dt_str(json_array_get(json_object_get(j, "errors"), 0), "code"), "crashed");
    json_decref(j);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

#define QAT_JOB                                                                                    \
    "{\"kind\": \"train\", \"name\": \"int4\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "   \
    "\"epochs\": 2, \"subset\": {\"train\": 512, \"test\": 256}, \"quant\": {\"method\": \"qat\", "  \
    "\"weights\": {\"format\": \"int\", \"bits\": 4}, \"activations\": {\"format\": \"int\", "      \
    "\"bits\": 4}}}"

/* An export killed while it runs is run again from the start at the next start-up (it has no
 * checkpoint): the same result, timings aside, and the same artifacts, byte for byte. */
START_TEST(kill9_mid_export_ends_with_the_same_artifacts)
{
    char *dir = dt_tempdir(), base[32], ref[32], id[32], spec[256];
    dt_daemon d;
    dt_start(&d, dir, ONE_WORKER);
    dt_submit(&d, QAT_JOB, NULL, base);
    json_decref(dt_wait(&d, base, NULL, "succeeded", 120));
    snprintf(spec, sizeof spec,
             "{\"kind\": \"export\", \"job\": \"%s\", \"format\": \"qmodel\"}", base);
    dt_submit(&d, spec, NULL, ref);
    json_t *want = dt_wait(&d, ref, NULL, "succeeded", 60);
    /* a fresh export, caught running (it takes a tenth of a second or more: polled every few
     * ms; one that ended first is tried again) */
    int caught = 0;
    for (int tries = 0; tries < 5 && !caught; tries++) {
        dt_submit(&d, spec, NULL, id);
        for (;;) {
            json_t *j = dt_job(&d, id);
            const char *st = dt_str(j, "state");
            caught = !strcmp(st, "running");
            int over = !caught && strcmp(st, "queued") != 0;
            json_decref(j);
            if (caught || over)
                break;
            usleep(2000);
        }
    }
    ck_assert_msg(caught, "no export was caught running in 5 tries");
    ck_assert_int_eq(dt_stop(&d, SIGKILL), 128 + SIGKILL);
    dt_start(&d, dir, ONE_WORKER);
    json_t *got = dt_wait(&d, id, NULL, "succeeded", 60);
    ck_assert_int_eq((int)dt_num(got, "crashes"), 1);
    ck_assert(dt_has_reason(got, "the daemon restarted after a crash"));
    json_t *a = json_object_get(got, "result"), *b = json_object_get(want, "result");
    ck_assert_double_eq(dt_num(a, "test_accuracy"), dt_num(b, "test_accuracy"));
    ck_assert_double_eq(dt_num(a, "source_test_accuracy"), dt_num(b, "source_test_accuracy"));
    const char *same[] = {"comparison", "sizes", "files", "memory", "layers", "source"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        ck_assert_msg(json_equal(json_object_get(a, same[i]), json_object_get(b, same[i])),
                      "result.%s differs from the uninterrupted export's", same[i]);
    json_t *fa = dt_artifacts(&d, id), *fb = dt_artifacts(&d, ref);
    ck_assert_int_ge(json_object_size(fb), 1);
    ck_assert_msg(json_equal(fa, fb), "artifacts %s, the uninterrupted export's %s",
                  json_dumps(fa, JSON_COMPACT), json_dumps(fb, JSON_COMPACT));
    json_decref(fa), json_decref(fb), json_decref(got), json_decref(want);
    dt_finish(&d);
    free(dir);
}
END_TEST

/* ---- the store ---- */

static int user_version(const char *db_path)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void exec_file(sqlite3 *db, const char *path)
{
    size_t len = 0;
    char *sql = NULL;
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s (run from the repository root)", path);
    ck_assert_int_ne(getdelim(&sql, &len, '\0', f), -1);
    fclose(f);
    char *err = NULL;
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", path, err);
    free(sql);
}

START_TEST(an_empty_state_directory_gets_the_latest_schema)
{
    char *dir = dt_tempdir(), db[300];
    dt_daemon d;
    dt_start(&d, dir, NULL);
    json_t *h = dt_get(&d, "/healthz", NULL, 200);
    ck_assert_int_eq((int)dt_num(h, "schema_version"), 3);
    json_decref(h);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    snprintf(db, sizeof db, "%s/quantd.db", dir);
    ck_assert_int_eq(user_version(db), 3);
    dt_rmdir(dir);
}
END_TEST

START_TEST(a_version_1_database_is_migrated_with_its_jobs)
{
    char *dir = dt_tempdir(), db_path[300], out[128];
    snprintf(db_path, sizeof db_path, "%s/quantd.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    exec_file(db, "schema/001_jobs.sql");
    exec_file(db, "tests/daemon_v1.sql");
    sqlite3_close(db);
    ck_assert_int_eq(user_version(db_path), 1);
    dt_daemon d;
    dt_start(&d, dir, ONE_WORKER);
    ck_assert_int_eq(user_version(db_path), 3);
    json_t *old = dt_get(&d, "/api/v1/jobs/00000000000000a1", NULL, 200);
    ck_assert_str_eq(dt_str(old, "name"), "from v1");
    ck_assert_double_eq(dt_num(result(old), "test_accuracy"), 0.5);
    json_decref(old);
    json_decref(dt_wait(&d, "00000000000000a2", NULL, "succeeded", 60));
    /* the tables of migration 2 work */
    const char *create[] = {"token", "create", "--team", "t", "--state", dir, NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, create), 0);
    usleep(1100000); /* the daemon rereads whether tokens exist once a second */
    json_decref(dt_get(&d, "/api/v1/jobs", NULL, 401));
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

START_TEST(a_newer_or_foreign_database_is_refused)
{
    char *dir = dt_tempdir(), db_path[300];
    snprintf(db_path, sizeof db_path, "%s/quantd.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(dt_start_fails(dir, NULL), 1);
    ck_assert_int_eq(user_version(db_path), 99);
    unlink(db_path);
    FILE *f = fopen(db_path, "w");
    fputs("this is not a database, and it is long enough to have a header of sorts\n", f);
    fclose(f);
    ck_assert_int_eq(dt_start_fails(dir, NULL), 1);
    dt_rmdir(dir);
}
END_TEST

START_TEST(one_daemon_per_state_directory)
{
    char *dir = dt_tempdir();
    dt_daemon d;
    dt_start(&d, dir, NULL);
    ck_assert_int_eq(dt_start_fails(dir, NULL), 1);
    ck_assert_int_eq(dt_stop(&d, SIGTERM), 0);
    dt_rmdir(dir);
}
END_TEST

/* ---- settings ---- */

static const char *setting(const char *printed, const char *name, char *buf, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "\n%s = ", name);
    const char *p = strstr(printed, key);
    ck_assert_msg(p != NULL, "no %s in:\n%s", name, printed);
    p += strlen(key);
    snprintf(buf, cap, "%.*s", (int)strcspn(p, "\n"), p);
    return buf;
}

START_TEST(settings_come_from_file_then_environment_then_arguments)
{
    char *dir = dt_tempdir(), conf[300], out[4096], v[64];
    snprintf(conf, sizeof conf, "%s/quantd.conf", dir);
    FILE *f = fopen(conf, "w");
    fputs("# a comment\nworkers = 3\nthreads = 2\n\nlisten = 127.0.0.1:1111  # trailing\n", f);
    fclose(f);
    setenv("QUANTD_CONFIG", conf, 1);
    setenv("QUANTD_WORKERS", "5", 1);
    const char *print[] = {"serve", "--print-config", NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, print), 0);
    ck_assert_str_eq(setting(out, "workers", v, sizeof v), "5");
    ck_assert_str_eq(setting(out, "threads", v, sizeof v), "2");
    ck_assert_str_eq(setting(out, "listen", v, sizeof v), "127.0.0.1:1111");
    ck_assert_str_eq(setting(out, "grace", v, sizeof v), "30");
    const char *args[] = {"serve", "--workers", "7", "--print-config", NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, args), 0);
    ck_assert_str_eq(setting(out, "workers", v, sizeof v), "7");
    setenv("QUANTD_WORKERS", "many", 1);
    ck_assert_int_eq(dt_quantd(out, sizeof out, print), 2);
    unsetenv("QUANTD_WORKERS");
    f = fopen(conf, "w");
    fputs("wrokers = 3\n", f);
    fclose(f);
    ck_assert_int_eq(dt_quantd(out, sizeof out, print), 2);
    unsetenv("QUANTD_CONFIG");
    const char *help[] = {"serve", "--help", NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, help), 0);
    const char *names[] = {"listen", "state", "workers", "threads", "datasets", "models",
                           "max-connections", "per-ip-connections", "timeout",
                           "connection-memory", "grace", "max-attempts", "retry-backoff",
                           "max-crashes", "log-level", "config", "print-config"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", names[i]);
        ck_assert_msg(strstr(out, opt), "--help does not list %s", opt);
    }
    ck_assert_ptr_nonnull(strstr(out, "QUANTD_MAX_CRASHES"));
    dt_rmdir(dir);
}
END_TEST

static Suite *crash_suite(void)
{
    Suite *s = suite_create("daemon crash safety");
    TCase *c = tcase_create("crash");
    tcase_set_timeout(c, 240);
    tcase_add_test(c, kill9_mid_run_resumes_to_the_same_result);
    tcase_add_test(c, sigterm_requeues_the_running_job);
    tcase_add_test(c, a_job_that_keeps_crashing_the_daemon_is_failed);
    tcase_add_test(c, kill9_mid_export_ends_with_the_same_artifacts);
    suite_add_tcase(s, c);
    TCase *st = tcase_create("store");
    tcase_set_timeout(st, 120);
    tcase_add_test(st, an_empty_state_directory_gets_the_latest_schema);
    tcase_add_test(st, a_version_1_database_is_migrated_with_its_jobs);
    tcase_add_test(st, a_newer_or_foreign_database_is_refused);
    tcase_add_test(st, one_daemon_per_state_directory);
    tcase_add_test(st, settings_come_from_file_then_environment_then_arguments);
    suite_add_tcase(s, st);
    return s;
}

QD_CHECK_MAIN(crash_suite)
