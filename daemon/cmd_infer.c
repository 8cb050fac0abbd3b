/*
 * cmd_infer.c: `quantd infer MODEL.qmodel --dataset NAME`, an exported model run through the
 * inference runtime (core/qrt.h) on a data set's test split: accuracy and images/s.
 *
 * The images are normalised as the model was trained: the data set is normalised with its own
 * training split's statistics, and when the qmodel records different ones (a train job that
 * used subset.train), the images are brought to the model's. Timing covers qrt_run only, after
 * one warm-up pass over a few images; --rounds repeats the timed pass.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/dataset.h"
#include "core/qrt.h"

static const char INFER_USAGE[] =
    "usage: quantd infer MODEL.qmodel --dataset NAME [options]\n"
    "\n"
    "Run an exported model (the model.qmodel artifact of an export job) through the inference\n"
    "runtime on a data set's test split: integer layers on int8 GEMMs with int32 accumulation\n"
    "(AVX2 where the machine has it), minifloat layers through their lookup tables. Prints the\n"
    "accuracy and images/s.\n"
    "\n"
    "  --dataset NAME   synthetic, fashion-mnist, mnist, cifar10, or a directory (required)\n"
    "  --datasets DIRS  extra data set directories, colon-separated\n"
    "  --threads N      threads (default: all cores)\n"
    "  --limit N        only the first N test images\n"
    "  --rounds N       time N passes over the images, one line each (default 1)\n"
    "  --ref            the portable kernels instead of the AVX2 ones\n"
    "  --json           print one JSON object\n"
    "  -v, --verbose    how each conv/linear layer runs\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0 done, 1 the model or the data set could not be used, 2 usage error.\n";

typedef struct infer_opts {
    const char *model, *dataset, *datasets;
    int threads, limit, rounds, ref, json, verbose;
} infer_opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int positive(const char *arg, const char *name, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || v < 1 || v > 1000000000) {
        fprintf(stderr, "quantd infer: %s must be a positive integer, not '%s'\n", name, arg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, infer_opts *o)
{
    static const struct option longs[] = {
        {"dataset", 1, 0, 'D'}, {"datasets", 1, 0, 'd'}, {"threads", 1, 0, 't'},
        {"limit", 1, 0, 'l'},   {"rounds", 1, 0, 'r'},   {"ref", 0, 0, 'R'},
        {"json", 0, 0, 'j'},    {"verbose", 0, 0, 'v'},  {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    cli_opts co;
    cli_opts_defaults(&co);
    *o = (infer_opts){.threads = co.threads, .rounds = 1};
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "hv", longs, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(INFER_USAGE, stdout);
            return 1;
        case 'D': o->dataset = optarg; break;
        case 'd': o->datasets = optarg; break;
        case 't': rc = positive(optarg, "--threads", &o->threads); break;
        case 'l': rc = positive(optarg, "--limit", &o->limit); break;
        case 'r': rc = positive(optarg, "--rounds", &o->rounds); break;
        case 'R': o->ref = 1; break;
        case 'j': o->json = 1; break;
        case 'v': o->verbose = 1; break;
        default: rc = -1;
        }
    }
    if (rc == 0 && (optind != argc - 1 || !o->dataset)) {
        fputs(optind == argc - 1 ? "quantd infer: --dataset is required\n\n" : "", stderr);
        fputs(INFER_USAGE, stderr);
        rc = -1;
    }
    o->model = rc == 0 ? argv[optind] : NULL;
    return rc;
}

/* Bring images normalised with the data set's statistics to the model's. */
static void renormalise(dataset *d, const qmodel *qm)
{
    const size_t hw = (size_t)d->h * d->w;
    for (int c = 0; c < d->c; c++) {
        if (d->mean[c] == qm->mean[c] && d->std[c] == qm->std[c])
            continue;
        for (int i = 0; i < d->n; i++) {
            float *x = d->x + ((size_t)i * d->c + c) * hw;
            for (size_t p = 0; p < hw; p++)
                x[p] = (x[p] * d->std[c] + d->mean[c] - qm->mean[c]) / qm->std[c];
        }
    }
}

static int load(const infer_opts *o, qmodel **qm, dataset *train, dataset *test, qd_err *err)
{
    int rc = qmodel_load(o->model, qm, err);
    if (rc == 0)
        rc = dataset_load(train, test, o->dataset, o->datasets, 0, o->limit, err);
    if (rc == 0 && (test->c != (*qm)->in_c || test->h != (*qm)->in_h || test->w != (*qm)->in_w))
        rc = qd_fail(err, QD_EINVAL, "dataset",
                     "the model takes %dx%dx%d images, data set %s has %dx%dx%d", (*qm)->in_c,
                     (*qm)->in_h, (*qm)->in_w, o->dataset, test->c, test->h, test->w);
    if (rc == 0 && (*qm)->has_norm)
        renormalise(test, *qm);
    return rc;
}

static void print_layers(const qrt *rt, const qmodel *qm)
{
    static const char *const kern[] = {"u8 x s8 (vpmaddubsw)", "s16 x s16 (vpmaddwd)",
                                       "u8 x s8 (vpmaddubsw, int16 sums)"};
    for (int ci = 0; ci < qm->n_compute; ci++) {
        int path, k, fused;
        char w[16], a[16];
        const qm_compute *c = &qm->compute[ci];
        qrt_layer_info(rt, ci, &path, &k, &fused);
        printf("  %-12s w %-6s a %-6s %s%s\n", qm->layers[c->layer].name,
               qm_quant_name(&c->wq, w, sizeof w), qm_quant_name(&c->aq, a, sizeof a),
               path == QRT_PATH_INT ? kern[k] : "decoded (lookup table, float GEMM)",
               fused ? ", input codes from the layer before" : "");
    }
}

static int correct(const float *logits, const dataset *d, int classes)
{
    int ok = 0;
    for (int i = 0; i < d->n; i++) {
        const float *l = logits + (size_t)i * classes;
        int best = 0;
        for (int c = 1; c < classes; c++)
            best = l[c] > l[best] ? c : best;
        ok += best == d->y[i];
    }
    return ok;
}

static void report(const infer_opts *o, const qmodel *qm, const dataset *d, int ok,
                   const double *secs)
{
    json_t *rounds = json_array();
    for (int r = 0; r < o->rounds; r++) {
        json_array_append_new(rounds, json_real(d->n / secs[r]));
        if (!o->json)
            printf("round %d: %.0f images/s (%.3f s, %d threads)\n", r + 1, d->n / secs[r],
                   secs[r], o->threads);
    }
    if (o->json) {
        json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:f, s:i, s:b, s:o}", "model", o->model,
                              "dataset", o->dataset, "images", d->n, "correct", ok, "accuracy",
                              d->n ? (double)ok / d->n : 0.0, "threads", o->threads, "avx2",
                              qrt_have_avx2() && !o->ref, "images_per_second", rounds);
        json_dumpf(j, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(j);
        return;
    }
    json_decref(rounds);
    printf("accuracy %.4f (%d/%d) of model %s on %s\n", d->n ? (double)ok / d->n : 0.0, ok, d->n,
           qm->name, o->dataset);
}

int cmd_infer(int argc, char **argv)
{
    infer_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    qd_err err = {0};
    qmodel *qm = NULL;
    qrt *rt = NULL;
    dataset train = {0}, test = {0};
    float *logits = NULL;
    double *secs = calloc((size_t)o.rounds, sizeof *secs);
    int rc = secs ? load(&o, &qm, &train, &test, &err) : QD_ENOMEM;
    if (rc == 0)
        rc = qrt_create(&rt, qm, o.threads, o.ref, &err);
    if (rc == 0 && !(logits = malloc(sizeof(float) * (size_t)test.n * qm->classes)))
        rc = qd_fail(&err, QD_ENOMEM, NULL, "out of memory");
    if (rc == 0) {
        if (o.verbose && !o.json)
            print_layers(rt, qm);
        qrt_run(rt, test.x, test.n < 256 ? test.n : 256, logits); /* warm-up */
        for (int r = 0; r < o.rounds; r++) {
            double t0 = now_s();
            qrt_run(rt, test.x, test.n, logits);
            secs[r] = now_s() - t0;
        }
        report(&o, qm, &test, correct(logits, &test, qm->classes), secs);
    } else {
        fprintf(stderr, "quantd infer: %s%s%s: %s\n", qd_err_name(rc), err.field[0] ? " at " : "",
                err.field, err.msg[0] ? err.msg : qd_err_message(rc));
    }
    qrt_free(rt);
    qmodel_free(qm);
    dataset_free(&train);
    dataset_free(&test);
    free(logits);
    free(secs);
    return rc == 0 ? 0 : 1;
}
