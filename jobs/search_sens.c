/*
 * search_sens.c: the sensitivity method of search jobs.
 *
 * Sensitivity: the base model is loaded once; for every compute layer and every option of the
 * space (a weight side and an activation side), the model is put back to the base, only that
 * layer is quantized by MMSE post-training quantization (core/ptq.c: weight scales per channel,
 * the input's scale calibrated), and the mean loss on the calibration examples (the first
 * calibration_batches * batch_size training examples, also used for the calibration) is measured;
 * the option's sensitivity is that loss minus the base model's. Layers fixed by first_last_bits
 * have one option and are not measured.
 *
 * Choice: per budget, the exact multiple-choice knapsack (core/knapsack.c) of one option per
 * layer with the least summed sensitivity within the budget. Weight bytes and BitOPs add up over
 * layers. Total bytes add the activation working set, a maximum over layers of a term that
 * depends on a layer's input bits and the next layer's: it is solved exactly by taking each
 * possible value T of that maximum in turn, allowing only neighbouring activation sides whose
 * term is at most T (the knapsack's chain constraint, links = activation sides) and giving the
 * weights the budget minus T; the best over all T is the optimum. Costs come from the one cost
 * model (core/cost.c), so a chosen configuration's predicted bytes are the bytes its result
 * reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/cost.h"
#include "core/dataset.h"
#include "core/fakequant.h"
#include "core/knapsack.h"
#include "core/layers.h"
#include "core/ptq.h"
#include "modelfile.h"
#include "search_int.h"
#include "search_util.h"

typedef struct sens_run {
    const search_spec *s;
    const job_env *env;
    const search_space *sp;
    dataset train, test, calib;
    model *m;
    float *xbuf, *params0, *state0;
    int *ybuf;
    ptq_report *rep;
    quant_fmt *wf, *af;
} sens_run;

/* ---- the base model ---- */

static int base_path(const search_spec *s, const job_env *env, char *path, size_t cap,
                     qd_err *err)
{
    if (s->base_checkpoint[0]) {
        snprintf(path, cap, "%s", s->base_checkpoint);
        return 0;
    }
    if (!env->resolve_job || env->resolve_job(env->ctx, s->base_job, path, cap) < 0)
        return qd_fail(err, QD_ESPEC, "base.job", "job %s has no finished model to start from",
                       s->base_job);
    return 0;
}

static int load_model(sens_run *r, int batch, qd_err *err)
{
    char path[4096];
    model_desc *d = malloc(sizeof *d);
    int rc = d ? modelfile_load(d, r->s->model, r->env->models, err) : QD_ENOMEM;
    if (rc == 0)
        rc = model_create(&r->m, d, r->train.c, r->train.h, r->train.w, r->train.classes, batch,
                          r->env->nthreads, err);
    free(d);
    if (rc < 0) {
        if (!err->field[0])
            snprintf(err->field, sizeof err->field, "model");
        return rc;
    }
    if ((rc = base_path(r->s, r->env, path, sizeof path, err)) < 0)
        return rc;
    if ((rc = checkpoint_load(path, r->m, NULL, NULL, err)) < 0) {
        snprintf(err->field, sizeof err->field, "%s", r->s->base_job[0] ? "base.job"
                                                                        : "base.checkpoint");
        return rc;
    }
    return 0;
}

static int setup(sens_run *r, qd_err *err)
{
    const search_spec *s = r->s;
    int rc = dataset_load(&r->train, &r->test, s->dataset, r->env->datasets, s->subset_train, 1,
                          err);
    if (rc < 0) {
        snprintf(err->field, sizeof err->field, "dataset");
        return rc;
    }
    int batch = s->batch_size < r->train.n ? s->batch_size : r->train.n;
    r->calib = r->train;
    r->calib.augment = 0;
    if ((long)s->calibration_batches * batch < r->calib.n)
        r->calib.n = s->calibration_batches * batch;
    if ((rc = load_model(r, batch, err)) < 0)
        return rc;
    model *m = r->m;
    size_t in_len = (size_t)r->train.c * r->train.h * r->train.w;
    r->xbuf = malloc(sizeof(float) * in_len * (size_t)batch);
    r->ybuf = malloc(sizeof(int) * (size_t)batch);
    r->params0 = malloc(sizeof(float) * (size_t)m->n_params);
    r->state0 = malloc(sizeof(float) * (size_t)(m->n_state ? m->n_state : 1));
    r->rep = calloc((size_t)m->n_compute, sizeof *r->rep);
    r->wf = calloc((size_t)m->n_compute, sizeof *r->wf);
    r->af = calloc((size_t)m->n_compute, sizeof *r->af);
    if (!r->xbuf || !r->ybuf || !r->params0 || !r->state0 || !r->rep || !r->wf || !r->af)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for the sensitivity pass");
    memcpy(r->params0, m->params, sizeof(float) * (size_t)m->n_params);
    memcpy(r->state0, m->state, sizeof(float) * (size_t)m->n_state);
    return 0;
}

/* The base model again, every layer float. */
static void restore(sens_run *r)
{
    model *m = r->m;
    memcpy(m->params, r->params0, sizeof(float) * (size_t)m->n_params);
    memcpy(m->state, r->state0, sizeof(float) * (size_t)m->n_state);
    for (int ci = 0; ci < m->n_compute; ci++) {
        model_set_quant(m, ci, NULL, NULL);
        r->wf[ci] = r->af[ci] = (quant_fmt){.format = QFMT_FLOAT, .bits = 32};
    }
}

static void run_free(sens_run *r)
{
    dataset_free(&r->train);
    dataset_free(&r->test);
    model_free(r->m);
    free(r->xbuf), free(r->ybuf), free(r->params0), free(r->state0);
    free(r->rep), free(r->wf), free(r->af);
}

/* ---- the table ---- */

void sens_table_free(sens_table *t)
{
    if (!t)
        return;
    for (int i = 0; t->layers && i < t->n; i++) {
        sens_layer *L = &t->layers[i];
        free(L->w), free(L->a), free(L->delta), free(L->weight_bytes);
    }
    free(t->layers);
    free(t);
}

static int fixed_layer(const search_space *sp, int ci, int n)
{
    return sp->fixed && (ci == 0 || ci == n - 1);
}

/* Layer ci's options and their weight bytes (cost_eval with every layer at the option). */
static int table_layer(sens_layer *L, const model *m, const search_space *sp, int ci)
{
    int fixed = fixed_layer(sp, ci, m->n_compute), n = fixed ? 1 : sp->n_w * sp->n_a;
    const layer *ly = &m->layers[m->compute[ci]];
    snprintf(L->name, sizeof L->name, "%s", ly->d.name);
    L->in_elems = (long)ly->in_len;
    L->out_elems = (long)ly->out_len;
    L->macs = model_layer_macs(m, ci);
    L->n_opts = n;
    L->w = calloc((size_t)n, sizeof *L->w);
    L->a = calloc((size_t)n, sizeof *L->a);
    L->delta = calloc((size_t)n, sizeof *L->delta);
    L->weight_bytes = calloc((size_t)n, sizeof *L->weight_bytes);
    if (!L->w || !L->a || !L->delta || !L->weight_bytes)
        return QD_ENOMEM;
    int wb[MODEL_MAX_LAYERS], ab[MODEL_MAX_LAYERS], pc[MODEL_MAX_LAYERS];
    for (int o = 0; o < n; o++) {
        L->w[o] = fixed ? sp->n_w : o / sp->n_a;
        L->a[o] = fixed ? sp->n_a : o % sp->n_a;
        for (int k = 0; k < m->n_compute; k++) {
            wb[k] = sp->w[L->w[o]].f.bits;
            ab[k] = sp->a[L->a[o]].f.bits;
            pc[k] = sp->w[L->w[o]].f.per_channel;
        }
        model_cost *c = malloc(sizeof *c);
        if (!c)
            return QD_ENOMEM;
        cost_eval(c, m, wb, ab, pc, NULL);
        L->weight_bytes[o] = c->layers[ci].weight_bytes;
        free(c);
    }
    return 0;
}

/* One option of one layer: quantize it alone, return the loss increase in *delta. */
static int measure(sens_run *r, const sens_layer *L, int ci, int o, double base, double *delta,
                   qd_err *err)
{
    ptq_cfg cfg = {.calibration_batches = r->s->calibration_batches};
    restore(r);
    r->wf[ci] = r->sp->w[L->w[o]].f;
    r->af[ci] = r->sp->a[L->a[o]].f;
    int rc = ptq_run(r->m, &cfg, r->wf, r->af, &r->calib, r->xbuf, r->ybuf, r->rep, err);
    if (rc < 0)
        return rc;
    *delta = model_evaluate(r->m, &r->calib, r->xbuf, r->ybuf).loss - base;
    return 0;
}

static int measure_all(sens_run *r, sens_table *t, qd_err *err)
{
    const job_env *env = r->env;
    int total = 0, done = 0;
    for (int ci = 0; ci < t->n; ci++)
        total += fixed_layer(r->sp, ci, t->n) ? 0 : t->layers[ci].n_opts;
    for (int ci = 0; ci < t->n; ci++) {
        sens_layer *L = &t->layers[ci];
        for (int o = 0; !fixed_layer(r->sp, ci, t->n) && o < L->n_opts; o++, done++) {
            if (env->cancelled && env->cancelled(env->ctx))
                return qd_fail(err, QD_ECANCELLED, NULL, "cancelled while measuring sensitivity");
            int rc = measure(r, L, ci, o, t->base_loss, &L->delta[o], err);
            if (rc < 0)
                return rc;
            if (env->on_progress) {
                char line[160];
                snprintf(line, sizeof line, "sensitivity: layer %d/%d (%s) option %d/%d", ci + 1,
                         t->n, L->name, o + 1, L->n_opts);
                /* the pass is one share of the progress, each candidate (at most one per
                 * budget) another */
                env->on_progress(env->ctx,
                                 (double)(done + 1) / total / (1 + r->s->n_budgets), line);
            }
        }
    }
    return 0;
}

/* ---- the Fisher estimate (measure "fisher") ----
 *
 * The second-order estimate of the same loss increase, with the diagonal of the empirical
 * Fisher information standing in for the Hessian (as FIT, Zandonati et al. 2022, and HAWQ with
 * the Hessian's trace): quantizing layer l's weights by delta_w and its input by delta_x raises
 * the mean loss by about 1/2 sum_i F_ii delta_w,i^2 + 1/2 E_n[sum_j (dl_n/dx_nj)^2 delta_nj^2].
 * One pass of forward and backward over the calibration batches in training mode gives the
 * squared gradients; the weight Fisher uses batch gradients G (E[g^2] ~ B E[G^2] at a trained
 * point, B the batch), the input's are per example (B times the batch-mean loss's). Each
 * option's error uses the MMSE scale of its format (per channel for weights; for inputs, from a
 * subsample of the first batch). The two parts add up per option. */

#define FISHER_SAMPLE 65536

typedef struct fisher {
    float **fw;          /* [layer][weight]: summed G^2 */
    double **fa;         /* [layer][activation side]: summed (B g)^2 delta^2 */
    float **ascale;      /* [layer][activation side] */
    float *q, *din0, *dw0, *db0;
    int batches;
} fisher;

static float side_scale(const float *x, long n, const quant_fmt *f)
{
    if (f->format == QFMT_INT)
        return mmse_int_scale(x, n, int_levels_make(f->bits, f->is_signed), NULL);
    minifloat_fmt mf = f->mf;
    if (f->format == QFMT_HFP8)
        minifloat_preset(&mf, "e4m3");
    return mmse_minifloat_scale(x, n, mf, NULL);
}

/* The input activation side a of compute layer ci, signedness resolved as the model would. */
static quant_fmt act_fmt(const model *m, int ci, const search_side *a)
{
    const layer *L = &m->layers[m->compute[ci]];
    quant_fmt f = a->f;
    if (f.is_signed < 0)
        f.is_signed = !(L->d.in[0] >= 0 && m->layers[L->d.in[0]].nonneg);
    return f;
}

static void fisher_free(fisher *f, int n)
{
    for (int ci = 0; ci < n; ci++) {
        free(f->fw ? f->fw[ci] : NULL);
        free(f->fa ? f->fa[ci] : NULL);
        free(f->ascale ? f->ascale[ci] : NULL);
    }
    free(f->fw), free(f->fa), free(f->ascale);
    free(f->q), free(f->din0), free(f->dw0), free(f->db0);
}

static int fisher_alloc(fisher *f, const model *m, const search_space *sp)
{
    size_t maxin = 0, maxw = 0, maxc = 0, n = (size_t)m->n_compute, na = (size_t)sp->n_a + 1;
    f->fw = calloc(n, sizeof *f->fw);
    f->fa = calloc(n, sizeof *f->fa);
    f->ascale = calloc(n, sizeof *f->ascale);
    if (!f->fw || !f->fa || !f->ascale)
        return QD_ENOMEM;
    for (size_t ci = 0; ci < n; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        maxin = L->in_len > maxin ? L->in_len : maxin;
        maxw = (size_t)L->nw > maxw ? (size_t)L->nw : maxw;
        maxc = (size_t)L->c > maxc ? (size_t)L->c : maxc;
        f->fw[ci] = calloc((size_t)L->nw, sizeof **f->fw);
        f->fa[ci] = calloc(na, sizeof **f->fa);
        f->ascale[ci] = calloc(na, sizeof **f->ascale);
        if (!f->fw[ci] || !f->fa[ci] || !f->ascale[ci])
            return QD_ENOMEM;
    }
    f->q = malloc(sizeof(float) * maxin * (size_t)m->batch);
    f->din0 = malloc(sizeof(float) * maxin * (size_t)m->batch);
    f->dw0 = malloc(sizeof(float) * maxw);
    f->db0 = malloc(sizeof(float) * maxc);
    return f->q && f->din0 && f->dw0 && f->db0 ? 0 : QD_ENOMEM;
}

/* The gradient of compute layer ci's input where the model keeps none (the model's input, and
 * what aliases it: a flatten of the input). */
static const float *input_grad(model *m, fisher *f, int ci, const float *x, int n)
{
    layer *L = &m->layers[m->compute[ci]];
    memset(f->din0, 0, sizeof(float) * L->in_len * (size_t)n);
    memset(f->dw0, 0, sizeof(float) * (size_t)L->nw);
    memset(f->db0, 0, sizeof(float) * (size_t)L->c);
    if (L->d.kind == LK_CONV) {
        conv_dims cd = L->cd;
        cd.n = n;
        conv2d_backward(f->din0, f->dw0, f->db0, L->grad, x, L->weight, L->cols, cd, m->scratch,
                        m->nthreads);
    } else {
        linear_backward(f->din0, f->dw0, f->db0, L->grad, x, L->weight, n, L->in_c, L->c,
                        m->nthreads);
    }
    return f->din0;
}

/* Layer ci's input: its error under every activation side, weighted by the squared gradient. */
static void fisher_inputs(sens_run *r, fisher *f, const sens_layer *Ls, int ci, const float *x,
                          const float *g, int n)
{
    model *m = r->m;
    const layer *L = &m->layers[m->compute[ci]];
    long len = (long)n * (long)L->in_len, step = len / FISHER_SAMPLE + 1;
    int na = r->sp->n_a + (r->sp->fixed ? 1 : 0);
    for (int ai = 0; ai < na; ai++) {
        int used = 0;
        for (int o = 0; o < Ls->n_opts && !used; o++)
            used = Ls->a[o] == ai;
        if (!used)
            continue;
        quant_fmt fmt = act_fmt(m, ci, &r->sp->a[ai]);
        if (f->batches == 0) {
            long k = 0;
            for (long i = 0; i < len; i += step)
                f->q[k++] = x[i];
            f->ascale[ci][ai] = side_scale(f->q, k, &fmt);
        }
        fq_apply(f->q, x, len, f->ascale[ci][ai], &fmt, NULL);
        double sum = 0.0;
        for (long i = 0; i < len; i++) {
            double d = (double)f->q[i] - x[i], gg = (double)g[i] * n;
            sum += gg * gg * d * d;
        }
        f->fa[ci][ai] += sum;
    }
}

static void fisher_batch(sens_run *r, fisher *f, const sens_table *t, int start, int n)
{
    model *m = r->m;
    int idx[4096];
    for (int i = 0; i < n; i++)
        idx[i] = start + i;
    dataset_batch(&r->calib, idx, n, r->xbuf, r->ybuf, NULL);
    model_zero_grads(m);
    const float *logits = model_forward(m, r->xbuf, n, 1);
    float *dlogits = f->q; /* free until the inputs are visited */
    softmax_xent(dlogits, logits, r->ybuf, n, m->classes);
    model_backward(m, dlogits, n);
    for (int ci = 0; ci < m->n_compute; ci++) {
        layer *L = &m->layers[m->compute[ci]];
        for (long i = 0; i < L->nw; i++)
            f->fw[ci][i] += L->dweight[i] * L->dweight[i];
        const float *x = L->d.in[0] >= 0 ? m->layers[L->d.in[0]].out : r->xbuf;
        const float *g = L->d.in[0] >= 0 ? m->layers[L->d.in[0]].grad : NULL;
        if (!g)
            g = input_grad(m, f, ci, x, n);
        fisher_inputs(r, f, &t->layers[ci], ci, x, g, n);
    }
    f->batches++;
}

/* 1/2 sum_i F_ii delta_i^2 for layer ci's weights under weight side ws. */
static double fisher_weights(sens_run *r, fisher *f, int ci, const search_side *ws, float *q)
{
    const layer *L = &r->m->layers[r->m->compute[ci]];
    quant_fmt fmt = ws->f;
    fmt.is_signed = 1;
    int groups = fmt.per_channel ? L->c : 1;
    long per = L->nw / groups;
    double sum = 0.0, scale = (double)r->m->batch / f->batches;
    for (int k = 0; k < groups; k++) {
        const float *w = L->weight + k * per;
        fq_apply(q, w, per, side_scale(w, per, &fmt), &fmt, NULL);
        for (long i = 0; i < per; i++) {
            double d = (double)q[i] - w[i];
            sum += f->fw[ci][k * per + i] * scale * d * d;
        }
    }
    return 0.5 * sum;
}

static int fisher_all(sens_run *r, sens_table *t, qd_err *err)
{
    fisher f = {0};
    model *m = r->m;
    int rc = fisher_alloc(&f, m, r->sp);
    float *wq = NULL;
    size_t maxw = 0;
    for (int ci = 0; ci < m->n_compute; ci++)
        maxw = (size_t)m->layers[m->compute[ci]].nw > maxw ? (size_t)m->layers[m->compute[ci]].nw
                                                            : maxw;
    if (rc == 0 && !(wq = malloc(sizeof(float) * maxw)))
        rc = QD_ENOMEM;
    if (rc < 0) {
        fisher_free(&f, m->n_compute);
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for the Fisher pass");
    }
    restore(r);
    for (int at = 0; at + m->batch <= r->calib.n || (at == 0 && r->calib.n > 0); at += m->batch) {
        if (r->env->cancelled && r->env->cancelled(r->env->ctx)) {
            rc = qd_fail(err, QD_ECANCELLED, NULL, "cancelled while measuring sensitivity");
            break;
        }
        fisher_batch(r, &f, t, at, r->calib.n - at < m->batch ? r->calib.n - at : m->batch);
    }
    for (int ci = 0; rc == 0 && ci < t->n; ci++) {
        sens_layer *L = &t->layers[ci];
        if (fixed_layer(r->sp, ci, t->n))
            continue;
        double ow[SEARCH_SIDES];
        for (int wi = 0; wi < r->sp->n_w; wi++)
            ow[wi] = fisher_weights(r, &f, ci, &r->sp->w[wi], wq);
        for (int o = 0; o < L->n_opts; o++)
            L->delta[o] = ow[L->w[o]] + 0.5 * f.fa[ci][L->a[o]] / ((double)f.batches * m->batch);
    }
    free(wq);
    fisher_free(&f, m->n_compute);
    restore(r);
    return rc;
}

int search_sensitivity(const search_spec *s, const job_env *env, const search_space *sp,
                       sens_table **out, qd_err *err)
{
    sens_run r = {.s = s, .env = env, .sp = sp};
    double t0 = search_now();
    sens_table *t = calloc(1, sizeof *t);
    int rc = t ? setup(&r, err) : qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    if (rc == 0) {
        t->n = r.m->n_compute;
        t->examples = r.calib.n;
        t->fisher = s->measure == MEASURE_FISHER;
        if (!(t->layers = calloc((size_t)t->n, sizeof *t->layers)))
            rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    }
    for (int ci = 0; rc == 0 && ci < t->n; ci++)
        if (table_layer(&t->layers[ci], r.m, sp, ci) < 0)
            rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    if (rc == 0) {
        restore(&r);
        t->base_loss = model_evaluate(r.m, &r.calib, r.xbuf, r.ybuf).loss;
        rc = s->measure == MEASURE_FISHER ? fisher_all(&r, t, err) : measure_all(&r, t, err);
    }
    run_free(&r);
    if (rc < 0) {
        sens_table_free(t);
        return rc;
    }
    t->seconds = search_now() - t0;
    *out = t;
    return 0;
}

json_t *sens_table_json(const sens_table *t, const search_space *sp)
{
    json_t *layers = json_array();
    for (int ci = 0; ci < t->n; ci++) {
        const sens_layer *L = &t->layers[ci];
        json_t *opts = json_array();
        for (int o = 0; o < L->n_opts; o++)
            json_array_append_new(opts, json_pack("{s:s, s:s, s:f, s:I}", "weights",
                                                  sp->w[L->w[o]].name, "activations",
                                                  sp->a[L->a[o]].name, "delta_loss", L->delta[o],
                                                  "weight_bytes", (json_int_t)L->weight_bytes[o]));
        json_array_append_new(layers, json_pack("{s:s, s:b, s:o}", "name", L->name, "fixed",
                                                fixed_layer(sp, ci, t->n), "options", opts));
    }
    return json_pack("{s:s, s:f, s:i, s:f, s:o}", "measure",
                     t->fisher ? "fisher" : "loss", "base_loss", t->base_loss, "examples",
                     t->examples, "seconds", t->seconds, "layers", layers);
}
