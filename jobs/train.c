/*
 * train.c: runs a train job (see train.h).
 *
 * Order of work: load the data set and the model, build the model for the batch size, apply
 * the quant section, start from the init job or checkpoint if any, resume from this job's own
 * checkpoint if one exists, then run the epochs. Each epoch shuffles with the data stream,
 * steps through n/batch full batches, evaluates on the test split, appends a history entry and
 * writes a checkpoint. Everything random comes from streams that the checkpoint stores, and the
 * step count drives the schedule, so resuming from epoch k replays the same numbers.
 */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/checkpoint.h"
#include "core/dataset.h"
#include "core/model.h"
#include "core/optim.h"
#include "modelfile.h"
#include "result.h"
#include "tquant.h"

typedef struct trainer {
    const train_spec *sp;
    const job_env *env;
    dataset train, test;
    model *m;
    optim *o;
    lr_schedule sched;
    float *xbuf;
    int *ybuf, *perm;
    long steps_per_epoch;
    int batch;
    json_t *history;
    tquant *tq;
    ckpt_meta meta;
    char ckpt_path[4096], model_path[4096];
    double progress_at;
} trainer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- setup ---- */

static int setup_data(trainer *t, qd_err *err)
{
    const train_spec *sp = t->sp;
    int rc = dataset_load(&t->train, &t->test, sp->dataset, t->env->datasets, sp->subset_train,
                          sp->subset_test, err);
    if (rc < 0) {
        snprintf(err->field, sizeof err->field, "dataset");
        return rc;
    }
    if (sp->augment >= 0)
        t->train.augment = sp->augment;
    t->batch = sp->batch_size < t->train.n ? sp->batch_size : t->train.n;
    t->steps_per_epoch = t->train.n / t->batch;
    return 0;
}

static int setup_model(trainer *t, qd_err *err)
{
    const train_spec *sp = t->sp;
    model_desc *d = malloc(sizeof *d);
    if (!d)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    int rc = modelfile_load(d, sp->model, t->env->models, err);
    if (rc == 0)
        rc = model_create(&t->m, d, t->train.c, t->train.h, t->train.w, t->train.classes,
                          t->batch, t->env->nthreads, err);
    free(d);
    if (rc < 0) {
        if (!err->field[0])
            snprintf(err->field, sizeof err->field, "model");
        return rc;
    }
    model_init_params(t->m, sp->seed);
    optim_cfg oc = {.kind = sp->optimizer.kind == OPT_ADAMW ? OPTIM_ADAMW : OPTIM_SGD,
                    .lr = (float)sp->optimizer.lr,
                    .momentum = (float)sp->optimizer.momentum,
                    .weight_decay = (float)sp->optimizer.weight_decay,
                    .nesterov = sp->optimizer.nesterov,
                    .beta1 = (float)sp->optimizer.beta1,
                    .beta2 = (float)sp->optimizer.beta2,
                    .eps = (float)sp->optimizer.eps};
    if ((rc = optim_create(&t->o, &oc, t->m->n_params, err)) < 0)
        return rc;
    static const int kinds[] = {[SCHED_CONSTANT] = LRS_CONSTANT, [SCHED_STEP] = LRS_STEP,
                                [SCHED_COSINE] = LRS_COSINE, [SCHED_ONE_CYCLE] = LRS_ONE_CYCLE};
    t->sched = (lr_schedule){.kind = kinds[sp->schedule.kind],
                             .lr = oc.lr,
                             .momentum = oc.kind == OPTIM_ADAMW ? oc.beta1 : oc.momentum,
                             .total_steps = t->steps_per_epoch * sp->epochs,
                             .steps_per_epoch = t->steps_per_epoch,
                             .step_epochs = sp->schedule.step_epochs,
                             .gamma = (float)sp->schedule.gamma,
                             .warmup_frac = (float)sp->schedule.warmup_frac};
    size_t in_len = (size_t)t->train.c * t->train.h * t->train.w;
    t->xbuf = malloc(sizeof(float) * in_len * t->batch);
    t->ybuf = malloc(sizeof(int) * t->batch);
    t->perm = malloc(sizeof(int) * (size_t)t->train.n);
    if (!t->xbuf || !t->ybuf || !t->perm)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for batches");
    return 0;
}

/* Start from init.job or init.checkpoint: parameters and state only. */
static int load_init(trainer *t, qd_err *err)
{
    const train_spec *sp = t->sp;
    char path[4096];
    if (sp->init_job[0]) {
        if (!t->env->resolve_job ||
            t->env->resolve_job(t->env->ctx, sp->init_job, path, sizeof path) < 0)
            return qd_fail(err, QD_ESPEC, "init.job",
                           "job %s has no finished model to start from", sp->init_job);
    } else if (sp->init_checkpoint[0]) {
        snprintf(path, sizeof path, "%s", sp->init_checkpoint);
    } else {
        return 0;
    }
    int rc = checkpoint_load(path, t->m, NULL, NULL, err);
    if (rc < 0)
        snprintf(err->field, sizeof err->field, "%s",
                 sp->init_job[0] ? "init.job" : "init.checkpoint");
    return rc;
}

/* Resume from this job's own checkpoint; returns 1 when resumed. */
static int resume(trainer *t, qd_err *err)
{
    FILE *f = fopen(t->ckpt_path, "rb");
    if (!f)
        return 0;
    fclose(f);
    int rc = checkpoint_load(t->ckpt_path, t->m, t->o, &t->meta, err);
    if (rc < 0)
        return rc;
    json_t *h = t->meta.extra ? json_loads(t->meta.extra, 0, NULL) : NULL;
    free(t->meta.extra);
    t->meta.extra = NULL;
    if (!json_is_array(h)) {
        json_decref(h);
        return qd_fail(err, QD_EFORMAT, NULL, "checkpoint %s has no history", t->ckpt_path);
    }
    json_decref(t->history);
    t->history = h;
    return 1;
}

/* ---- the epoch loop ---- */

static void report(trainer *t, long step, int epoch, float loss)
{
    double now = now_s();
    if (!t->env->on_progress || now - t->progress_at < 1.0)
        return;
    t->progress_at = now;
    long total = t->steps_per_epoch * t->sp->epochs;
    char line[160];
    snprintf(line, sizeof line, "epoch %d/%d step %ld/%ld loss %.4f", epoch + 1, t->sp->epochs,
             step % t->steps_per_epoch + 1, t->steps_per_epoch, loss);
    t->env->on_progress(t->env->ctx, total ? (double)(step + 1) / total : 1.0, line);
}

static float train_step(trainer *t, const int *idx, float *dlogits)
{
    model *m = t->m;
    float lr, mom;
    dataset_batch(&t->train, idx, t->batch, t->xbuf, t->ybuf,
                  t->train.augment ? &t->meta.data_rng : NULL);
    lr_schedule_at(&t->sched, t->meta.step, &lr, &mom);
    model_zero_grads(m);
    const float *logits = model_forward(m, t->xbuf, t->batch, 1);
    float loss = softmax_xent(dlogits, logits, t->ybuf, t->batch, m->classes);
    model_backward(m, dlogits, t->batch);
    tquant_after_backward(t->tq, m, t->meta.step, loss, t->xbuf, t->ybuf, t->batch);
    optim_step(t->o, m->params, m->grads, lr, mom);
    t->meta.step++;
    return loss;
}

static int run_epoch(trainer *t, int epoch, float *dlogits, qd_err *err)
{
    double t0 = now_s(), loss_sum = 0.0;
    for (int i = 0; i < t->train.n; i++)
        t->perm[i] = i;
    rng_shuffle(&t->meta.data_rng, t->perm, t->train.n);
    for (long s = 0; s < t->steps_per_epoch; s++) {
        if (t->env->cancelled && t->env->cancelled(t->env->ctx))
            return qd_fail(err, QD_ECANCELLED, NULL, "cancelled during epoch %d", epoch + 1);
        float loss = train_step(t, t->perm + s * t->batch, dlogits);
        if (!isfinite(loss))
            return qd_fail(err, QD_EINVAL, "optimizer.lr",
                           "training diverged (loss is %f at epoch %d): lower the learning rate",
                           loss, epoch + 1);
        loss_sum += loss;
        report(t, t->meta.step - 1, epoch, loss);
    }
    double train_s = now_s() - t0;
    eval_result ev = model_evaluate(t->m, &t->test, t->xbuf, t->ybuf);
    double secs = now_s() - t0;
    json_t *e = json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "epoch", epoch + 1, "train_loss",
                          loss_sum / (double)t->steps_per_epoch, "test_loss", ev.loss,
                          "test_accuracy", ev.total ? (double)ev.correct / ev.total : 0.0,
                          "seconds", secs, "train_images_per_second",
                          (double)t->steps_per_epoch * t->batch / train_s);
    tquant_epoch_entry(t->tq, t->m, e);
    json_array_append_new(t->history, e);
    t->meta.epoch = epoch + 1;
    if (t->env->on_epoch)
        t->env->on_epoch(t->env->ctx, e, epoch + 1, t->sp->epochs);
    return 0;
}

static int save_checkpoint(trainer *t, const char *path, qd_err *err)
{
    char *hist = json_dumps(t->history, JSON_COMPACT);
    if (!hist)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    t->meta.extra = hist;
    t->meta.extra_len = strlen(hist);
    int rc = checkpoint_save(path, t->m, t->o, &t->meta, err);
    t->meta.extra = NULL;
    free(hist);
    return rc;
}

/* ---- result ---- */

static json_t *build_result(trainer *t)
{
    const train_spec *sp = t->sp;
    static const char *methods[] = {"none", "qat", "adaqat", "ptq"};
    eval_result ev = model_evaluate(t->m, &t->test, t->xbuf, t->ybuf);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:I, s:i, s:i}", "kind", "train",
                          "name", sp->name, "dataset", sp->dataset, "model", sp->model, "method",
                          methods[sp->quant.method], "test_accuracy",
                          ev.total ? (double)ev.correct / ev.total : 0.0, "test_loss", ev.loss,
                          "params", (json_int_t)model_param_count(t->m), "threads", t->m->nthreads,
                          "batch_size", t->batch);
    result_add_model(r, t->m);
    char fmt[64];
    json_object_set_new(r, "format",
                        json_string(result_format_label(json_object_get(r, "layers"),
                                                        sp->quant.first_last_bits > 0, fmt,
                                                        sizeof fmt)));
    double secs = 0.0, ips = 0.0;
    size_t i;
    json_t *e;
    json_array_foreach(t->history, i, e)
    {
        secs += json_real_value(json_object_get(e, "seconds"));
        ips += json_real_value(json_object_get(e, "train_images_per_second"));
    }
    size_t n = json_array_size(t->history);
    json_object_set_new(r, "seconds", json_real(secs));
    json_object_set_new(r, "train_images_per_second", json_real(n ? ips / n : 0.0));
    json_object_set(r, "history", t->history);
    json_object_set_new(r, "artifacts", json_pack("[s]", JOB_MODEL));
    tquant_result(t->tq, t->m, r);
    return r;
}

static void trainer_free(trainer *t)
{
    dataset_free(&t->train);
    dataset_free(&t->test);
    tquant_free(t->tq);
    model_free(t->m);
    optim_free(t->o);
    free(t->xbuf);
    free(t->ybuf);
    free(t->perm);
    free(t->meta.extra);
    json_decref(t->history);
}

static int train_epochs(trainer *t, qd_err *err)
{
    int rc = 0;
    float *dlogits = malloc(sizeof(float) * t->batch * t->m->classes);
    if (!dlogits)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    for (int ep = (int)t->meta.epoch; ep < t->sp->epochs; ep++) {
        if ((rc = run_epoch(t, ep, dlogits, err)) < 0)
            break;
        if ((rc = save_checkpoint(t, t->ckpt_path, err)) < 0)
            break;
    }
    free(dlogits);
    return rc;
}

int train_run(const train_spec *sp, const job_env *env, json_t **result, qd_err *err)
{
    trainer t = {.sp = sp, .env = env, .history = json_array()};
    int rc;
    *result = NULL;
    snprintf(t.ckpt_path, sizeof t.ckpt_path, "%s/%s", env->dir, JOB_CHECKPOINT);
    snprintf(t.model_path, sizeof t.model_path, "%s/%s", env->dir, JOB_MODEL);
    rng_seed(&t.meta.data_rng, sp->seed ^ 0xda7a5eedULL);
    if ((rc = setup_data(&t, err)) < 0 || (rc = setup_model(&t, err)) < 0 ||
        (rc = load_init(&t, err)) < 0 || (rc = tquant_setup(&t.tq, t.m, sp, err)) < 0)
        goto out;
    if ((rc = resume(&t, err)) < 0)
        goto out;
    if ((rc = train_epochs(&t, err)) < 0)
        goto out;
    if ((rc = tquant_finish(t.tq, t.m, &t.train, t.xbuf, t.ybuf, err)) < 0)
        goto out;
    if ((rc = save_checkpoint(&t, t.model_path, err)) < 0)
        goto out;
    if (env->on_artifact)
        env->on_artifact(env->ctx, JOB_MODEL);
    *result = build_result(&t);
out:
    trainer_free(&t);
    return rc;
}
