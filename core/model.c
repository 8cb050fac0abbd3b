/*
 * model.c: builds a trainable network from a model_desc and runs its forward and backward passes.
 *
 * Creation is two passes over the layers: the first infers every shape and counts, per kind, the
 * floats each layer needs (the size table); the second carves one block per kind. Forward runs
 * the layers in file order; backward runs them in reverse, each consumer accumulating into its
 * producers' gradients. Compute layers (conv, linear) fake-quantize their weights and their input
 * through fakequant.h, so QAT costs a few elementwise passes on top of the float step.
 * Called by the train, search and export jobs.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "fakequant.h"

/* ---- shape inference ---- */

typedef struct sizes {
    long params, state, acts, ints, cols;
    size_t conv_scratch, max_in, max_w;
} sizes;

static int shape_fail(qd_err *err, int i, const layer_desc *d, const char *field, const char *why)
{
    char path[64];
    snprintf(path, sizeof path, "layers[%d].%s", i, field);
    return qd_fail(err, QD_EMODEL, path, "layer %d (%s): %s", i, d->name, why);
}

static int infer_conv(layer *L, int i, qd_err *err)
{
    const layer_desc *d = &L->d;
    if (L->in_h + 2 * d->pad < d->kernel || L->in_w + 2 * d->pad < d->kernel)
        return shape_fail(err, i, d, "kernel", "kernel larger than the padded input");
    L->c = d->kind == LK_CONV ? d->out : L->in_c;
    L->h = conv_out_size(L->in_h, d->kernel, d->stride, d->pad);
    L->w = conv_out_size(L->in_w, d->kernel, d->stride, d->pad);
    return 0;
}

static int infer_layer(model *m, int i, qd_err *err)
{
    layer *L = &m->layers[i];
    const layer_desc *d = &L->d;
    const layer *p = d->in[0] >= 0 ? &m->layers[d->in[0]] : NULL;
    L->in_c = p ? p->c : m->in_c;
    L->in_h = p ? p->h : m->in_h;
    L->in_w = p ? p->w : m->in_w;
    L->in_len = (size_t)L->in_c * L->in_h * L->in_w;
    L->c = L->in_c, L->h = L->in_h, L->w = L->in_w;
    int in_nonneg = p ? p->nonneg : 0;
    L->nonneg = in_nonneg;
    switch (d->kind) {
    case LK_CONV:
        L->nonneg = 0;
        return infer_conv(L, i, err);
    case LK_MAXPOOL:
    case LK_AVGPOOL:
        return infer_conv(L, i, err);
    case LK_LINEAR:
        if (L->in_h != 1 || L->in_w != 1)
            return shape_fail(err, i, d, "type", "linear needs a flat input: add a flatten layer");
        L->c = d->out;
        L->nonneg = 0;
        return 0;
    case LK_BN:
        L->nonneg = 0;
        return 0;
    case LK_RELU:
        L->nonneg = 1;
        return 0;
    case LK_GAP:
        L->h = L->w = 1;
        return 0;
    case LK_FLATTEN:
        L->c = L->in_c * L->in_h * L->in_w;
        L->h = L->w = 1;
        return 0;
    case LK_ADD: {
        const layer *q = d->in[1] >= 0 ? &m->layers[d->in[1]] : NULL;
        int qc = q ? q->c : m->in_c, qh = q ? q->h : m->in_h, qw = q ? q->w : m->in_w;
        if (qc != L->in_c || qh != L->in_h || qw != L->in_w)
            return shape_fail(err, i, d, "inputs", "add inputs have different shapes");
        L->nonneg = in_nonneg && (q ? q->nonneg : 0);
        return 0;
    }
    }
    return shape_fail(err, i, d, "type", "unknown layer type");
}

/* Count what layer i needs in each block. */
static void count_layer(const model *m, const layer *L, sizes *s)
{
    const long B = m->batch;
    long out = (long)L->c * L->h * L->w;
    if (L->d.kind != LK_FLATTEN)
        s->acts += 2 * B * out; /* out and grad */
    switch (L->d.kind) {
    case LK_CONV:
    case LK_LINEAR: {
        long nw = L->d.kind == LK_CONV ? (long)L->c * L->in_c * L->d.kernel * L->d.kernel
                                       : (long)L->c * L->in_c;
        s->params += nw + (L->d.bias ? L->c : 0) + L->c + 1;
        s->state += 4;
        s->acts += nw + B * (long)L->in_len; /* wq_buf, xq */
        if ((size_t)B * L->in_len > s->max_in)
            s->max_in = (size_t)B * L->in_len;
        if ((size_t)nw > s->max_w)
            s->max_w = (size_t)nw;
        if (L->d.kind == LK_CONV) {
            s->cols += B * (long)conv2d_cols_floats(L->cd);
            size_t cs = conv2d_scratch_floats(L->cd, m->nthreads);
            s->conv_scratch = cs > s->conv_scratch ? cs : s->conv_scratch;
        }
        break;
    }
    case LK_BN:
        s->params += 2 * L->c;
        s->state += 2 * L->c;
        s->acts += B * out + L->c;
        break;
    case LK_MAXPOOL:
        s->ints += B * out;
        break;
    default:
        break;
    }
}

/* ---- creation ---- */

static int resolve_shapes(model *m, qd_err *err)
{
    int rc;
    m->n_compute = 0;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = &m->layers[i];
        L->d = m->desc.layers[i];
        L->nthreads = m->nthreads;
        if ((rc = infer_layer(m, i, err)) < 0)
            return rc;
        /* every later shape is computed in int from this one's: keep them far from overflow */
        if ((long)L->c * L->h * L->w > MODEL_MAX_ELEMS)
            return shape_fail(err, i, &L->d, "out", "output larger than the core takes");
        L->out_len = (size_t)L->c * L->h * L->w;
        L->compute_index = -1;
        if (L->d.kind == LK_CONV || L->d.kind == LK_LINEAR)
            L->compute_index = m->n_compute++;
        if (L->d.kind == LK_CONV || L->d.kind == LK_LINEAR)
            L->cd = (conv_dims){m->batch, L->in_c, L->in_h, L->in_w, L->c, L->h, L->w,
                                L->d.kind == LK_CONV ? L->d.kernel : 1,
                                L->d.kind == LK_CONV ? L->d.stride : 1,
                                L->d.kind == LK_CONV ? L->d.pad : 0};
        for (int k = 0; k < L->d.nin; k++)
            if (L->d.in[k] >= 0)
                m->layers[L->d.in[k]].consumers++;
    }
    const layer *last = &m->layers[m->n_layers - 1];
    if (last->h != 1 || last->w != 1 || last->c != m->classes) {
        char why[160];
        snprintf(why, sizeof why, "the last layer gives %dx%dx%d values, the data set has %d classes",
                 last->c, last->h, last->w, m->classes);
        return shape_fail(err, m->n_layers - 1, &last->d, "out", why);
    }
    return 0;
}

static void carve_compute(model *m, layer *L, float **pp, float **pg, float **ps, float **pa)
{
    long nw = (long)L->c * L->in_c * L->cd.k * L->cd.k;
    L->nw = nw;
    L->weight = *pp, L->dweight = *pg, *pp += nw, *pg += nw;
    if (L->d.bias)
        L->bias = *pp, L->dbias = *pg, *pp += L->c, *pg += L->c;
    L->w_step = *pp, L->dw_step = *pg, *pp += L->c, *pg += L->c;
    L->a_step = *pp, L->da_step = *pg, *pp += 1, *pg += 1;
    L->q_init = *ps, *ps += 4;
    L->wq_buf = *pa, *pa += nw;
    L->xq = *pa, *pa += (long)m->batch * L->in_len;
}

static void carve(model *m, int cache_cols)
{
    float *pp = m->params, *pg = m->grads, *ps = m->state, *pa = m->acts;
    int *pi = m->ints;
    const long B = m->batch;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = &m->layers[i];
        long out = (long)B * L->out_len;
        if (L->d.kind == LK_FLATTEN) {
            const layer *p = L->d.in[0] >= 0 ? &m->layers[L->d.in[0]] : NULL;
            L->out = p ? p->out : NULL; /* set again at forward (the input's is known then) */
            L->grad = p ? p->grad : NULL;
        } else {
            L->out = pa, L->grad = pa + out, pa += 2 * out;
        }
        if (L->compute_index >= 0)
            carve_compute(m, L, &pp, &pg, &ps, &pa);
        if (L->d.kind == LK_CONV && cache_cols && conv2d_cols_floats(L->cd) > 0)
            L->cols = pa, pa += B * (long)conv2d_cols_floats(L->cd);
        if (L->d.kind == LK_BN) {
            L->gamma = pp, L->beta = pp + L->c, L->dgamma = pg, L->dbeta = pg + L->c;
            pp += 2 * L->c, pg += 2 * L->c;
            L->run_mean = ps, L->run_var = ps + L->c, ps += 2 * L->c;
            L->xhat = pa, pa += out;
            L->invstd = pa, pa += L->c;
        }
        if (L->d.kind == LK_MAXPOOL)
            L->argmax = pi, pi += out;
    }
}

int model_create(model **out, const model_desc *d, int c, int h, int w, int classes, int batch,
                 int nthreads, qd_err *err)
{
    int rc = 0;
    *out = NULL;
    if (d->n_layers < 1)
        return qd_fail(err, QD_EMODEL, "layers", "the model has no layers");
    if ((rc = model_desc_check(d, err)) < 0)
        return rc;
    if (c < 1 || h < 1 || w < 1 || classes < 1 || batch < 1 || (long)c * h * w > MODEL_MAX_ELEMS)
        return qd_fail(err, QD_EMODEL, "input",
                       "input %dx%dx%d, %d classes, batch %d: not a shape the core takes", c, h, w,
                       classes, batch);
    if ((d->in_c && d->in_c != c) || (d->in_h && d->in_h != h) || (d->in_w && d->in_w != w))
        return qd_fail(err, QD_EMODEL, "input",
                       "model %s expects input %dx%dx%d, the data set gives %dx%dx%d", d->name,
                       d->in_c, d->in_h, d->in_w, c, h, w);
    model *m = calloc(1, sizeof *m);
    if (!m)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory creating the model");
    m->desc = *d;
    m->in_c = c, m->in_h = h, m->in_w = w, m->classes = classes;
    m->batch = batch, m->nthreads = nthreads < 1 ? 1 : nthreads;
    m->n_layers = d->n_layers;
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    m->compute = calloc((size_t)m->n_layers, sizeof *m->compute);
    if (!m->layers || !m->compute) {
        rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory creating the model");
        goto out;
    }
    if ((rc = resolve_shapes(m, err)) < 0)
        goto out;
    sizes s = {0};
    for (int i = 0; i < m->n_layers; i++) {
        count_layer(m, &m->layers[i], &s);
        if (m->layers[i].compute_index >= 0)
            m->compute[m->layers[i].compute_index] = i;
    }
    int cache_cols = s.cols <= CONV_COLS_CACHE_MAX;
    if (cache_cols)
        s.acts += s.cols;
    m->n_params = s.params, m->n_state = s.state;
    m->scratch_len = s.conv_scratch + s.max_in + s.max_w;
    m->params = calloc((size_t)s.params, sizeof(float));
    m->grads = calloc((size_t)s.params, sizeof(float));
    m->state = calloc((size_t)s.state + 1, sizeof(float));
    m->acts = calloc((size_t)s.acts, sizeof(float));
    m->ints = calloc((size_t)s.ints + 1, sizeof(int));
    m->scratch = calloc(m->scratch_len + 1, sizeof(float));
    if (!m->params || !m->grads || !m->state || !m->acts || !m->ints || !m->scratch) {
        rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory: the model needs %.1f MB at batch %d",
                     (double)(2 * s.params + s.state + s.acts + s.ints + m->scratch_len) * 4e-6,
                     batch);
        goto out;
    }
    m->bytes = 4 * (size_t)(2 * s.params + s.state + s.acts + s.ints + m->scratch_len);
    m->dxq = m->scratch + s.conv_scratch;
    m->dwq = m->dxq + s.max_in;
    carve(m, cache_cols);
    rng_seed(&m->q_rng, 0x5eed);
out:
    if (rc < 0)
        model_free(m);
    else
        *out = m;
    return rc;
}

void model_free(model *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->grads);
    free(m->state);
    free(m->acts);
    free(m->ints);
    free(m->scratch);
    free(m->layers);
    free(m->compute);
    free(m);
}

void model_init_params(model *m, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    memset(m->params, 0, sizeof(float) * m->n_params);
    memset(m->state, 0, sizeof(float) * m->n_state);
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = &m->layers[i];
        if (L->compute_index >= 0) {
            float sd = sqrtf(2.0f / (float)(L->in_c * L->cd.k * L->cd.k));
            for (long j = 0; j < L->nw; j++)
                L->weight[j] = sd * rng_normal(&r);
            for (int j = 0; j < L->c; j++)
                L->w_step[j] = 1.0f;
            L->a_step[0] = 1.0f;
        }
        if (L->d.kind == LK_BN)
            for (int j = 0; j < L->c; j++)
                L->gamma[j] = 1.0f, L->run_var[j] = 1.0f;
    }
}

void model_set_quant(model *m, int ci, const quant_fmt *w, const quant_fmt *a)
{
    layer *L = &m->layers[m->compute[ci]];
    quant_fmt off = {.format = QFMT_FLOAT, .bits = 32};
    L->wq = w ? *w : off;
    L->aq = a ? *a : off;
    if (L->aq.format != QFMT_FLOAT && L->aq.is_signed < 0) {
        const layer *p = L->d.in[0] >= 0 ? &m->layers[L->d.in[0]] : NULL;
        L->aq.is_signed = !(p && p->nonneg);
    }
    L->wq.is_signed = 1;
    L->q_init[0] = L->q_init[1] = 0.0f;
}

long model_layer_macs(const model *m, int ci)
{
    const layer *L = &m->layers[m->compute[ci]];
    return L->nw * (long)L->h * L->w;
}

long model_param_count(const model *m)
{
    long n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = &m->layers[i];
        if (L->compute_index >= 0)
            n += L->nw + (L->bias ? L->c : 0);
        if (L->d.kind == LK_BN)
            n += 2L * L->c;
    }
    return n;
}

/* ---- forward ---- */

static const float *layer_input(const model *m, const layer *L, int k)
{
    return L->d.in[k] >= 0 ? m->layers[L->d.in[k]].out : m->input;
}

static void forward_compute(model *m, layer *L, const float *in, int n)
{
    const float *w = L->weight, *x = in;
    if (L->wq.format != QFMT_FLOAT) {
        fq_weights_forward(L, m->train);
        w = L->wq_buf;
    }
    if (L->aq.format != QFMT_FLOAT) {
        fq_input_forward(L, in, n, m->train, &m->q_rng);
        x = L->xq;
    }
    if (L->d.kind == LK_CONV) {
        conv_dims cd = L->cd;
        cd.n = n;
        conv2d_forward(L->out, L->cols, x, w, L->bias, cd, m->scratch, m->nthreads);
    } else {
        linear_forward(L->out, x, w, L->bias, n, L->in_c, L->c, m->nthreads);
    }
}

static void forward_layer(model *m, layer *L, int n)
{
    const float *in = layer_input(m, L, 0);
    const int nc = n * L->in_c, hw = L->in_h * L->in_w;
    const size_t len = (size_t)n * L->out_len;
    const layer_desc *d = &L->d;
    switch (d->kind) {
    case LK_CONV:
    case LK_LINEAR:
        forward_compute(m, L, in, n);
        break;
    case LK_BN:
        if (m->train)
            batchnorm_forward_train(L->out, L->xhat, L->invstd, in, L->gamma, L->beta, L->run_mean,
                                    L->run_var, n, L->c, hw, BN_MOMENTUM, BN_EPS, m->nthreads);
        else
            batchnorm_forward_eval(L->out, in, L->gamma, L->beta, L->run_mean, L->run_var, n, L->c,
                                   hw, BN_EPS, m->nthreads);
        break;
    case LK_RELU:
        relu_forward(L->out, in, len, m->nthreads);
        break;
    case LK_MAXPOOL:
        maxpool_forward(L->out, L->argmax, in, nc, L->in_h, L->in_w, L->h, L->w, d->kernel,
                        d->stride, d->pad, m->nthreads);
        break;
    case LK_AVGPOOL:
        avgpool_forward(L->out, in, nc, L->in_h, L->in_w, L->h, L->w, d->kernel, d->stride, d->pad,
                        m->nthreads);
        break;
    case LK_GAP:
        avgpool_forward(L->out, in, nc, L->in_h, L->in_w, 1, 1, L->in_h, 1, 0, m->nthreads);
        break;
    case LK_ADD:
        add_forward(L->out, in, layer_input(m, L, 1), len, m->nthreads);
        break;
    case LK_FLATTEN:
        /* a view of its input; where that is the model input, or a flatten of it, the
         * address is known only now (a flatten of a flatten copied NULL at carve time) */
        L->out = (float *)in;
        break;
    }
}

const float *model_forward(model *m, const float *x, int n, int train)
{
    m->train = train;
    m->input = x;
    for (int i = 0; i < m->n_layers; i++)
        forward_layer(m, &m->layers[i], n);
    return m->layers[m->n_layers - 1].out;
}

/* ---- backward ---- */

void model_zero_grads(model *m) { memset(m->grads, 0, sizeof(float) * m->n_params); }

static void backward_compute(model *m, layer *L, int n)
{
    const float *in = layer_input(m, L, 0);
    float *din = L->d.in[0] >= 0 ? m->layers[L->d.in[0]].grad : NULL;
    const int wq = L->wq.format != QFMT_FLOAT, aq = L->aq.format != QFMT_FLOAT;
    const float *w = wq ? L->wq_buf : L->weight, *x = aq ? L->xq : in;
    float *dw = wq ? m->dwq : L->dweight, *dx = aq ? m->dxq : din;
    if (L->wq.format == QFMT_HFP8 || L->aq.format == QFMT_HFP8)
        fq_grad_e5m2(L->grad, (size_t)n * L->out_len);
    if (wq)
        memset(dw, 0, sizeof(float) * L->nw);
    if (aq)
        memset(dx, 0, sizeof(float) * n * L->in_len);
    if (L->d.kind == LK_CONV) {
        conv_dims cd = L->cd;
        cd.n = n;
        conv2d_backward(dx, dw, L->dbias, L->grad, x, w, L->cols, cd, m->scratch, m->nthreads);
    } else {
        linear_backward(dx, dw, L->dbias, L->grad, x, w, n, L->in_c, L->c, m->nthreads);
    }
    if (wq)
        fq_weights_backward(L, m->dwq);
    if (aq)
        fq_input_backward(L, din, m->dxq, in, n);
}

static void backward_layer(model *m, layer *L, int n)
{
    const layer_desc *d = &L->d;
    float *din = d->in[0] >= 0 ? m->layers[d->in[0]].grad : NULL;
    const int nc = n * L->in_c, hw = L->in_h * L->in_w;
    const size_t len = (size_t)n * L->out_len;
    switch (d->kind) {
    case LK_CONV:
    case LK_LINEAR:
        backward_compute(m, L, n);
        break;
    case LK_BN:
        batchnorm_backward(din, L->dgamma, L->dbeta, L->grad, L->gamma, L->xhat, L->invstd, n,
                           L->c, hw, m->nthreads);
        break;
    case LK_RELU:
        if (din)
            relu_backward(din, L->grad, L->out, len, m->nthreads);
        break;
    case LK_MAXPOOL:
        if (din)
            maxpool_backward(din, L->grad, L->argmax, nc, L->in_h, L->in_w, L->h, L->w,
                             m->nthreads);
        break;
    case LK_AVGPOOL:
        if (din)
            avgpool_backward(din, L->grad, nc, L->in_h, L->in_w, L->h, L->w, d->kernel, d->stride,
                             d->pad, m->nthreads);
        break;
    case LK_GAP:
        if (din)
            avgpool_backward(din, L->grad, nc, L->in_h, L->in_w, 1, 1, L->in_h, 1, 0, m->nthreads);
        break;
    case LK_ADD: {
        float *db = d->in[1] >= 0 ? m->layers[d->in[1]].grad : NULL;
        if (din && db)
            add_backward(din, db, L->grad, len, m->nthreads);
        break;
    }
    case LK_FLATTEN:
        break;
    }
}

static void zero_act_grads(model *m, int n)
{
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = &m->layers[i];
        if (L->d.kind != LK_FLATTEN && L->grad)
            memset(L->grad, 0, sizeof(float) * n * L->out_len);
    }
}

void model_backward(model *m, const float *dlogits, int n)
{
    layer *last = &m->layers[m->n_layers - 1];
    zero_act_grads(m, n);
    memcpy(last->grad, dlogits, sizeof(float) * n * m->classes);
    for (int i = m->n_layers - 1; i >= 0; i--)
        backward_layer(m, &m->layers[i], n);
}

/* ---- evaluation ---- */

eval_result model_evaluate(model *m, const dataset *ds, float *xbuf, int *ybuf)
{
    eval_result r = {0};
    int idx[4096];
    double loss = 0.0;
    for (int at = 0; at < ds->n; at += m->batch) {
        int n = ds->n - at < m->batch ? ds->n - at : m->batch;
        for (int i = 0; i < n; i++)
            idx[i] = at + i;
        dataset_batch(ds, idx, n, xbuf, ybuf, NULL);
        const float *logits = model_forward(m, xbuf, n, 0);
        loss += (double)softmax_xent(NULL, logits, ybuf, n, m->classes) * n;
        r.correct += count_correct(logits, ybuf, n, m->classes);
    }
    r.total = ds->n;
    r.loss = ds->n ? loss / ds->n : 0.0;
    return r;
}
