/*
 * export.c: runs an export job (export.h).
 *
 * Order of work: find the source model (env->resolve_job gives a finished job's model.qdc; a
 * search job's candidate k is candidates/<k>/model.qdc beside it, with its result.json), decide
 * the data set (the spec's, else the one the candidate's train spec or the checkpoint names),
 * load the data and the model, evaluate the fake-quantized model on the test split (keeping its
 * logits), build and write the qmodel and the asked format, then read the written qmodel back
 * and run it through the runtime on the same images. The result compares the two: accuracy,
 * agreement of the predictions, the largest logit difference, and the files' sizes beside the
 * cost model's weight bytes.
 */
#include "export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/checkpoint.h"
#include "core/cost.h"
#include "core/dataset.h"
#include "core/qrt.h"
#include "result.h"

#define EVAL_BATCH 100
#define CANDIDATES_DIR "candidates"  /* the layout a search job writes (jobs/search.h) */
#define CANDIDATE_RESULT "result.json"

static const char *const format_names[] = {"qmodel", "c", "onnx"};

typedef struct exporter {
    const export_spec *sp;
    const job_env *env;
    char src[4096];          /* the source checkpoint */
    json_t *src_result;      /* a search candidate's result.json, or NULL */
    char dataset[SPEC_STR];
    int subset_train, subset_test;
    dataset train, test;
    model *m;
    qmodel *qm;
    float *src_logits, *rt_logits;
    json_t *files, *rt_layers;
    double rt_seconds;
} exporter;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress(const exporter *x, double f, const char *status)
{
    if (x->env->on_progress)
        x->env->on_progress(x->env->ctx, f, status);
}

static int cancelled(const exporter *x, qd_err *err)
{
    if (x->env->cancelled && x->env->cancelled(x->env->ctx))
        return qd_fail(err, QD_ECANCELLED, NULL, "cancelled");
    return 0;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- the source ---- */

static int resolve_source(exporter *x, qd_err *err)
{
    const export_spec *sp = x->sp;
    if (sp->checkpoint[0]) {
        if (sp->candidate >= 0)
            return qd_fail(err, QD_ESPEC, "candidate", "a checkpoint file has no candidates");
        snprintf(x->src, sizeof x->src, "%s", sp->checkpoint);
        return exists(x->src) ? 0
                              : qd_fail(err, QD_ESPEC, "checkpoint", "no checkpoint file %s",
                                        sp->checkpoint);
    }
    char path[4096], dir[4096];
    if (!x->env->resolve_job || x->env->resolve_job(x->env->ctx, sp->job, path, sizeof path) < 0)
        return qd_fail(err, QD_ESPEC, "job", "job %s has no finished model to export", sp->job);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    snprintf(slash ? slash : dir, sizeof dir - (size_t)(slash ? slash - dir : 0), "/%s",
             CANDIDATES_DIR);
    int search = exists(dir);
    if (!search && sp->candidate >= 0)
        return qd_fail(err, QD_ESPEC, "candidate", "job %s is a train job: it has no candidates",
                       sp->job);
    if (!search) {
        snprintf(x->src, sizeof x->src, "%s", path);
        return 0;
    }
    if (sp->candidate < 0)
        return qd_fail(err, QD_ESPEC, "candidate",
                       "job %s is a search job: give \"candidate\", the index of one of its "
                       "candidates",
                       sp->job);
    snprintf(x->src, sizeof x->src, "%.4000s/%d/%s", dir, sp->candidate, JOB_MODEL);
    if (!exists(x->src))
        return qd_fail(err, QD_ESPEC, "candidate", "search job %s has no finished candidate %d",
                       sp->job, sp->candidate);
    snprintf(path, sizeof path, "%.4000s/%d/%s", dir, sp->candidate, CANDIDATE_RESULT);
    x->src_result = json_load_file(path, 0, NULL);
    return 0;
}

/* The data set: the spec's, the candidate's train spec's, or a "dataset" in the checkpoint's
 * job data. */
static int choose_dataset(exporter *x, qd_err *err)
{
    const export_spec *sp = x->sp;
    json_t *spec = json_object_get(x->src_result, "spec");
    json_t *subset = json_object_get(spec, "subset");
    x->subset_train = (int)json_integer_value(json_object_get(subset, "train"));
    x->subset_test = (int)json_integer_value(json_object_get(subset, "test"));
    const char *name = json_string_value(json_object_get(spec, "dataset"));
    ckpt_meta meta = {0};
    json_t *extra = NULL;
    if (!name && !sp->dataset[0]) {
        ckpt_info *info = malloc(sizeof *info);
        model *probe = NULL;
        if (info && checkpoint_info(x->src, info, NULL) == 0 &&
            model_create(&probe, &info->desc, info->in_c, info->in_h, info->in_w,
                         info->classes, 1, 1, NULL) == 0 &&
            checkpoint_load(x->src, probe, NULL, &meta, NULL) == 0 && meta.extra)
            extra = json_loads(meta.extra, 0, NULL);
        name = json_string_value(json_object_get(extra, "dataset"));
        model_free(probe);
        free(info);
    }
    if (sp->dataset[0])
        name = sp->dataset;
    if (sp->subset_train || sp->subset_test || sp->dataset[0])
        x->subset_train = sp->subset_train, x->subset_test = sp->subset_test;
    int rc = 0;
    if (!name)
        rc = qd_fail(err, QD_ESPEC, "dataset",
                     "the source model does not say which data set it was trained on: give "
                     "\"dataset\" (and \"subset\" if the train job used one)");
    else
        snprintf(x->dataset, sizeof x->dataset, "%s", name);
    json_decref(extra);
    free(meta.extra);
    return rc;
}

static int load_model(exporter *x, qd_err *err)
{
    ckpt_info *info = malloc(sizeof *info);
    int rc = info ? checkpoint_info(x->src, info, err) : QD_ENOMEM;
    if (rc == 0)
        rc = dataset_load(&x->train, &x->test, x->dataset, x->env->datasets, x->subset_train,
                          x->subset_test, err);
    if (rc < 0 && err && !err->field[0])
        snprintf(err->field, sizeof err->field, "%s", info ? "dataset" : "");
    if (rc == 0)
        rc = model_create(&x->m, &info->desc, x->test.c, x->test.h, x->test.w, x->test.classes,
                          EVAL_BATCH, x->env->nthreads, err);
    if (rc == 0)
        rc = checkpoint_load(x->src, x->m, NULL, NULL, err);
    free(info);
    return rc;
}

/* ---- evaluation ---- */

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = v[i] > v[best] ? i : best;
    return best;
}

/* The fake-quantized model's logits on the test split. */
static int eval_source(exporter *x, qd_err *err)
{
    const int C = x->m->classes, n = x->test.n;
    const size_t in_len = (size_t)x->test.c * x->test.h * x->test.w;
    x->src_logits = malloc(sizeof(float) * (size_t)n * C);
    if (!x->src_logits)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    for (int at = 0; at < n; at += EVAL_BATCH) {
        int b = n - at < EVAL_BATCH ? n - at : EVAL_BATCH;
        const float *l = model_forward(x->m, x->test.x + (size_t)at * in_len, b, 0);
        memcpy(x->src_logits + (size_t)at * C, l, sizeof(float) * (size_t)b * C);
        if (cancelled(x, err) < 0)
            return QD_ECANCELLED;
    }
    return 0;
}

/* What the runtime chose for each compute layer. */
static json_t *runtime_layers(const qrt *rt, const qmodel *qm)
{
    static const char *const paths[] = {"int", "decoded"};
    static const char *const kernels[] = {"u8s8", "s16", "u8s8_acc16"};
    json_t *layers = json_array();
    for (int ci = 0; ci < qm->n_compute; ci++) {
        int path, kern, fused;
        char wq[16], aq[16];
        qrt_layer_info(rt, ci, &path, &kern, &fused);
        const qm_compute *c = &qm->compute[ci];
        json_array_append_new(
            layers, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b}", "name",
                              qm->layers[c->layer].name, "weights",
                              qm_quant_name(&c->wq, wq, sizeof wq), "activations",
                              qm_quant_name(&c->aq, aq, sizeof aq), "path", paths[path],
                              "kernel", path == QRT_PATH_INT ? kernels[kern] : NULL,
                              "fused_input", fused));
    }
    return layers;
}

static int run_exported(exporter *x, const char *path, qd_err *err)
{
    qmodel *back = NULL;
    qrt *rt = NULL;
    int rc = qmodel_load(path, &back, err);
    if (rc == 0)
        rc = qrt_create(&rt, back, x->env->nthreads, 0, err);
    if (rc == 0 && !(x->rt_logits = malloc(sizeof(float) * (size_t)x->test.n * x->m->classes)))
        rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    if (rc == 0) {
        double t0 = now_s();
        qrt_run(rt, x->test.x, x->test.n, x->rt_logits);
        x->rt_seconds = now_s() - t0;
        x->rt_layers = runtime_layers(rt, back);
    }
    qrt_free(rt);
    qmodel_free(back);
    return rc;
}

/* ---- files ---- */

static int add_file(exporter *x, const char *name, qd_err *err)
{
    char path[4400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", x->env->dir, name);
    if (stat(path, &st) < 0)
        return qd_fail(err, QD_EIO, NULL, "the exported file %s is missing", path);
    json_array_append_new(x->files, json_pack("{s:s, s:I}", "name", name, "bytes",
                                              (json_int_t)st.st_size));
    if (x->env->on_artifact)
        x->env->on_artifact(x->env->ctx, name);
    return 0;
}

static int write_files(exporter *x, qd_err *err)
{
    char path[4400], name[128];
    snprintf(path, sizeof path, "%s/%s", x->env->dir, EXPORT_QMODEL_FILE);
    int rc = qmodel_save(path, x->qm, err);
    if (rc == 0)
        rc = add_file(x, EXPORT_QMODEL_FILE, err);
    if (rc == 0 && x->sp->format == EXPORT_C && (rc = export_c_write(x->qm, x->env->dir,
                                                                      x->sp->prefix, err)) == 0) {
        snprintf(name, sizeof name, "%s.c", x->sp->prefix);
        rc = add_file(x, name, err);
        snprintf(name, sizeof name, "%s.h", x->sp->prefix);
        if (rc == 0)
            rc = add_file(x, name, err);
    }
    if (rc == 0 && x->sp->format == EXPORT_ONNX) {
        snprintf(path, sizeof path, "%s/%s", x->env->dir, EXPORT_ONNX_FILE);
        if ((rc = export_onnx_write(x->qm, path, err)) == 0)
            rc = add_file(x, EXPORT_ONNX_FILE, err);
    }
    return rc;
}

/* ---- the result ---- */

static json_t *runtime_json(const exporter *x)
{
    return json_pack("{s:i, s:f, s:b, s:O}", "threads", x->env->nthreads, "images_per_second",
                     x->rt_seconds > 0 ? x->test.n / x->rt_seconds : 0.0, "avx2",
                     qrt_have_avx2(), "layers", x->rt_layers);
}

static json_t *compare_json(const exporter *x, double *acc_src, double *acc_rt)
{
    const int C = x->m->classes, n = x->test.n;
    int ok_src = 0, ok_rt = 0, agree = 0;
    double maxd = 0.0;
    for (int i = 0; i < n; i++) {
        const float *a = x->src_logits + (size_t)i * C, *b = x->rt_logits + (size_t)i * C;
        int pa = argmax(a, C), pb = argmax(b, C);
        ok_src += pa == x->test.y[i], ok_rt += pb == x->test.y[i], agree += pa == pb;
        for (int c = 0; c < C; c++)
            maxd = fmax(maxd, fabs((double)a[c] - b[c]));
    }
    *acc_src = n ? (double)ok_src / n : 0.0;
    *acc_rt = n ? (double)ok_rt / n : 0.0;
    return json_pack("{s:i, s:f, s:f}", "images", n, "agreement", n ? (double)agree / n : 0.0,
                     "max_logit_diff", maxd);
}

static json_t *sizes_json(const exporter *x)
{
    model_cost c, f;
    int wb[MODEL_MAX_LAYERS], ab[MODEL_MAX_LAYERS];
    cost_of_model(&c, x->m);
    for (int ci = 0; ci < x->m->n_compute; ci++)
        wb[ci] = ab[ci] = 32;
    cost_eval(&f, x->m, wb, ab, NULL, NULL);
    size_t qb = qmodel_file_bytes(x->qm);
    return json_pack("{s:I, s:I, s:I, s:f, s:f}", "qmodel_bytes", (json_int_t)qb,
                     "cost_weight_bytes", (json_int_t)c.weight_bytes, "float_weight_bytes",
                     (json_int_t)f.weight_bytes, "qmodel_over_cost",
                     c.weight_bytes ? (double)qb / c.weight_bytes : 0.0, "compression",
                     qb ? (double)f.weight_bytes / qb : 0.0);
}

static json_t *build_result(exporter *x)
{
    const export_spec *sp = x->sp;
    double acc_src, acc_rt;
    json_t *cmp = compare_json(x, &acc_src, &acc_rt);
    json_t *source = sp->job[0] ? json_pack("{s:s}", "job", sp->job)
                                : json_pack("{s:s}", "checkpoint", sp->checkpoint);
    if (sp->candidate >= 0)
        json_object_set_new(source, "candidate", json_integer(sp->candidate));
    json_t *train_acc = json_object_get(x->src_result, "test_accuracy");
    if (train_acc)
        json_object_set(source, "test_accuracy", train_acc);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:o, s:f, s:f, s:o, s:o, s:o, s:o, s:I}",
                          "kind", "export", "name", sp->name, "format", format_names[sp->format],
                          "dataset", x->dataset, "source", source, "test_accuracy", acc_rt,
                          "source_test_accuracy", acc_src, "comparison", cmp, "sizes",
                          sizes_json(x), "runtime", runtime_json(x), "files", json_incref(x->files),
                          "params", (json_int_t)model_param_count(x->m));
    result_add_model(r, x->m);
    json_t *arts = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(x->files, i, f)
        json_array_append(arts, json_object_get(f, "name"));
    json_object_set_new(r, "artifacts", arts);
    return r;
}

static void exporter_free(exporter *x)
{
    json_decref(x->src_result);
    json_decref(x->files);
    json_decref(x->rt_layers);
    dataset_free(&x->train);
    dataset_free(&x->test);
    model_free(x->m);
    qmodel_free(x->qm);
    free(x->src_logits);
    free(x->rt_logits);
}

int export_run(const export_spec *sp, const job_env *env, json_t **result, qd_err *err)
{
    exporter x = {.sp = sp, .env = env, .files = json_array()};
    char path[4400];
    *result = NULL;
    int rc = resolve_source(&x, err);
    if (rc == 0)
        rc = choose_dataset(&x, err);
    if (rc == 0) {
        progress(&x, 0.05, "loading the data set and the model");
        rc = load_model(&x, err);
    }
    if (rc == 0) {
        progress(&x, 0.2, "evaluating the fake-quantized model");
        rc = eval_source(&x, err);
    }
    if (rc == 0)
        rc = qmodel_from_model(&x.qm, x.m, x.train.mean, x.train.std, err);
    if (rc == 0) {
        progress(&x, 0.6, "writing the exported files");
        rc = write_files(&x, err);
    }
    if (rc == 0 && (rc = cancelled(&x, err)) == 0) {
        progress(&x, 0.7, "running the exported model");
        snprintf(path, sizeof path, "%s/%s", env->dir, EXPORT_QMODEL_FILE);
        rc = run_exported(&x, path, err);
    }
    if (rc == 0)
        *result = build_result(&x);
    exporter_free(&x);
    return rc;
}
