/*
 * cmd_run.c: `quantd run SPEC.json`, one job in the foreground without the daemon.
 *
 * The job's directory is STATE/runs/<hash of the spec text>, so running the same spec again
 * after a crash or Ctrl-C resumes from its last epoch checkpoint (--fresh starts over).
 * Progress goes to stderr (one line per epoch, and per finished candidate of a search; a live
 * status line when stderr is a terminal);
 * the result JSON goes to stdout. init.job names a job of the daemon (STATE/jobs/ID) or an
 * earlier foreground run (STATE/runs/ID).
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "jobs/job.h"

typedef struct run_ctx {
    const char *state;
    int tty;
} run_ctx;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int run_cancelled(void *ctx)
{
    (void)ctx;
    return interrupted;
}

static int run_resolve(void *vctx, const char *id, char *path, size_t cap)
{
    run_ctx *c = vctx;
    const char *where[] = {"jobs", "runs"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, cap, "%s/%s/%s/%s", c->state, where[i], id, JOB_MODEL);
        if (access(path, R_OK) == 0)
            return 0;
    }
    return QD_ENOENT;
}

static void run_epoch(void *vctx, const json_t *e, int epoch, int epochs)
{
    run_ctx *c = vctx;
    fprintf(stderr, "%sepoch %d/%d  loss %.4f  test_acc %.4f  %.0f img/s  %.1f s",
            c->tty ? "\r\033[K" : "", epoch, epochs,
            json_real_value(json_object_get(e, "train_loss")),
            json_real_value(json_object_get(e, "test_accuracy")),
            json_real_value(json_object_get(e, "train_images_per_second")),
            json_real_value(json_object_get(e, "seconds")));
    json_t *wb = json_object_get(e, "mean_w_bits"), *ab = json_object_get(e, "mean_a_bits");
    if (wb && ab)
        fprintf(stderr, "  bits w %.2f a %.2f", json_real_value(wb), json_real_value(ab));
    fputc('\n', stderr);
}

/* A search's finished candidate: one line with its configuration and figures. */
static void run_partial(void *vctx, const json_t *p)
{
    run_ctx *c = vctx;
    json_t *cands = json_object_get(p, "candidates");
    json_t *last = json_array_get(cands, json_array_size(cands) - 1);
    json_t *mem = json_object_get(last, "memory");
    fprintf(stderr, "%scandidate %d/%d  %-20s  test_acc %.4f  total %lld B  weights %lld B  "
                    "bitops %.4g  %.1f s\n",
            c->tty ? "\r\033[K" : "", (int)json_integer_value(json_object_get(p, "done")),
            (int)json_integer_value(json_object_get(p, "total")),
            json_string_value(json_object_get(last, "label")),
            json_number_value(json_object_get(last, "test_accuracy")),
            (long long)json_integer_value(json_object_get(mem, "total_bytes")),
            (long long)json_integer_value(json_object_get(mem, "weight_bytes")),
            json_number_value(json_object_get(last, "bitops")),
            json_number_value(json_object_get(last, "seconds")));
}

static void run_progress(void *vctx, double fraction, const char *status)
{
    run_ctx *c = vctx;
    if (c->tty)
        fprintf(stderr, "\r\033[K[%5.1f%%] %s", 100.0 * fraction, status);
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

static const char RUN_USAGE[] =
    "usage: quantd run SPEC.json [options]\n"
    "\n"
    "Run one job in the foreground: progress on stderr, result JSON on stdout.\n"
    "Running the same spec again resumes from its last epoch checkpoint.\n"
    "\n"
    "  --state DIR      state directory (default ./var); the run lives in DIR/runs/<hash>\n"
    "  --threads N      threads for this job (default: all cores)\n"
    "  --datasets DIRS  extra data set directories, colon-separated\n"
    "  --models DIRS    extra model directories, colon-separated\n"
    "  --fresh          ignore an earlier checkpoint of the same spec and start over (a\n"
    "                   search also forgets its plan and finished candidates)\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0 the job succeeded, 1 it failed, 2 usage error, 130 interrupted.\n";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* --fresh: the run's checkpoint and, for a search, its plan and candidates. */
static void forget(const char *dir)
{
    static const char *const names[] = {JOB_CHECKPOINT, "plan.json", "candidates", NULL};
    char path[4200];
    for (int i = 0; names[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
            fprintf(stderr, "quantd run: cannot remove %s: %s\n", path, strerror(errno));
    }
}

static int run_job(const char *text, size_t len, const cli_opts *o, int fresh)
{
    job_spec *spec = calloc(1, sizeof *spec);
    qd_err err = {0};
    json_t *result = NULL;
    int rc = spec ? spec_parse(spec, text, (long)len, &err) : QD_ENOMEM;
    char dir[4096];
    if (rc < 0)
        goto out;
    snprintf(dir, sizeof dir, "%s/runs/%016llx", o->state,
             (unsigned long long)fnv1a(text, len));
    if ((rc = cli_mkdirs(dir, &err)) < 0)
        goto out;
    if (fresh)
        forget(dir);
    fprintf(stderr, "quantd run: job directory %s\n", dir);
    run_ctx ctx = {.state = o->state, .tty = isatty(2)};
    job_env env = {.dir = dir, .datasets = o->datasets, .models = o->models,
                   .nthreads = o->threads, .ctx = &ctx, .resolve_job = run_resolve,
                   .on_epoch = run_epoch, .on_progress = run_progress,
                   .cancelled = run_cancelled, .on_partial = run_partial};
    rc = job_run(spec, &env, &result, &err);
    if (rc == 0) {
        json_dumpf(result, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
        fputc('\n', stdout);
    }
out:
    if (rc < 0)
        fprintf(stderr, "%squantd run: %s%s%s: %s\n", isatty(2) ? "\n" : "", qd_err_name(rc),
                err.field[0] ? " at " : "", err.field, err.msg[0] ? err.msg : qd_err_message(rc));
    json_decref(result);
    free(spec);
    return rc == 0 ? 0 : rc == QD_ECANCELLED ? 130 : 1;
}

int cmd_run(int argc, char **argv)
{
    cli_opts o;
    cli_opts_defaults(&o);
    int fresh = 0;
    static const struct option longs[] = {{"state", 1, 0, 's'},  {"threads", 1, 0, 't'},
                                          {"datasets", 1, 0, 'd'}, {"models", 1, 0, 'm'},
                                          {"fresh", 0, 0, 'f'}, {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'h') {
            fputs(RUN_USAGE, stdout);
            return 0;
        }
        if (c == 'f')
            fresh = 1;
        else if (cli_opt(&o, c, optarg) < 0)
            return 2;
    }
    if (optind != argc - 1) {
        fputs(RUN_USAGE, stderr);
        return 2;
    }
    size_t len = 0;
    char *text = cli_read_file(argv[optind], &len);
    if (!text)
        return 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = run_job(text, len, &o, fresh);
    free(text);
    return rc;
}
