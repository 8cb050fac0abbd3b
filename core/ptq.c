/*
 * ptq.c: post-training quantization (see ptq.h). Called by the train job when the spec's
 * method is "ptq", after the (zero or more) training epochs.
 */
#include "ptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fakequant.h"

/* ---- batch-norm folding ---- */

void ptq_fold_bn(model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        layer *bn = &m->layers[i];
        if (bn->d.kind != LK_BN || bn->d.in[0] < 0)
            continue;
        layer *L = &m->layers[bn->d.in[0]];
        if (L->compute_index < 0 || L->consumers != 1)
            continue;
        long per = L->nw / L->c;
        for (int ch = 0; ch < L->c; ch++) {
            float k = bn->gamma[ch] / sqrtf(bn->run_var[ch] + BN_EPS);
            for (long j = 0; j < per; j++)
                L->weight[ch * per + j] *= k;
            if (L->bias)
                L->bias[ch] *= k;
            bn->beta[ch] -= bn->run_mean[ch] * k;
            bn->gamma[ch] = 1.0f;
            bn->run_mean[ch] = 0.0f;
            bn->run_var[ch] = 1.0f - BN_EPS;
        }
    }
}

/* ---- weights ---- */

static double sq_norm(const float *x, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

static double sq_diff(const float *a, const float *b, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

/* The scale for n values under fmt: MMSE, or max-abs when asked. */
static float choose_scale(const float *x, long n, const quant_fmt *f, int maxabs)
{
    if (!maxabs)
        return fq_mmse_step(x, n, f);
    if (f->format == QFMT_INT)
        return maxabs_int_scale(x, n, int_levels_make(f->bits, f->is_signed));
    return fq_init_step(x, n, f);
}

/* Quantize one layer's weights per channel into q (and a residual when needed). */
static void quantize_weights(layer *L, const ptq_cfg *cfg, const quant_fmt *wf, float *q,
                             float *r, ptq_report *rep)
{
    const int g = wf->per_channel ? L->c : 1;
    const long per = L->nw / g;
    quant_fmt f = *wf;
    f.is_signed = 1;
    for (int k = 0; k < g; k++) {
        L->w_step[k] = choose_scale(L->weight + k * per, per, &f, cfg->maxabs);
        fq_apply(q + k * per, L->weight + k * per, per, L->w_step[k], &f, NULL);
    }
    double norm = sq_norm(L->weight, L->nw);
    norm = norm > 0 ? norm : 1.0;
    rep->w_rel_error = (float)(sq_diff(L->weight, q, L->nw) / norm);
    rep->w_rel_error_final = rep->w_rel_error;
    rep->residual = 0;
    if (cfg->residual_bits <= 0 || rep->w_rel_error <= cfg->residual_threshold)
        return;
    quant_fmt rf = {.format = QFMT_INT, .bits = cfg->residual_bits, .is_signed = 1};
    for (long i = 0; i < L->nw; i++)
        r[i] = L->weight[i] - q[i];
    for (int k = 0; k < g; k++) {
        float s2 = choose_scale(r + k * per, per, &rf, cfg->maxabs);
        fq_apply(r + k * per, r + k * per, per, s2, &rf, NULL);
    }
    for (long i = 0; i < L->nw; i++)
        q[i] += r[i];
    rep->w_rel_error_final = (float)(sq_diff(L->weight, q, L->nw) / norm);
    rep->residual = 1;
}

/* ---- activations ---- */

/* Forward the calibration batches and gather compute layer ci's input into buf. */
static long gather_inputs(model *m, int ci, const dataset *calib, int batches, float *xbuf,
                          int *ybuf, float *buf)
{
    const layer *L = &m->layers[m->compute[ci]];
    long at = 0;
    int idx[4096];
    for (int b = 0; b < batches; b++) {
        int start = b * m->batch, n = calib->n - start < m->batch ? calib->n - start : m->batch;
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++)
            idx[i] = start + i;
        dataset_batch(calib, idx, n, xbuf, ybuf, NULL);
        model_forward(m, xbuf, n, 0);
        const float *in = L->d.in[0] >= 0 ? m->layers[L->d.in[0]].out : xbuf;
        memcpy(buf + at, in, sizeof(float) * n * L->in_len);
        at += (long)n * L->in_len;
    }
    return at;
}

static int calibrate(model *m, const ptq_cfg *cfg, const quant_fmt *af, const dataset *calib,
                     float *xbuf, int *ybuf, ptq_report *rep, qd_err *err)
{
    size_t cap = 0;
    for (int ci = 0; ci < m->n_compute; ci++) {
        size_t need = m->layers[m->compute[ci]].in_len * (size_t)m->batch;
        cap = need > cap ? need : cap;
    }
    float *buf = malloc(sizeof(float) * cap * cfg->calibration_batches);
    float *q = buf ? malloc(sizeof(float) * cap * cfg->calibration_batches) : NULL;
    if (!q) {
        free(buf);
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for calibration");
    }
    for (int ci = 0; ci < m->n_compute; ci++) {
        layer *L = &m->layers[m->compute[ci]];
        if (af[ci].format == QFMT_FLOAT)
            continue;
        long n = gather_inputs(m, ci, calib, cfg->calibration_batches, xbuf, ybuf, buf);
        quant_fmt wkeep = L->wq;
        model_set_quant(m, ci, &wkeep, &af[ci]); /* resolves signedness from the producer */
        L->a_step[0] = choose_scale(buf, n, &L->aq, cfg->maxabs);
        L->q_init[0] = L->q_init[1] = 1.0f;
        fq_apply(q, buf, n, L->a_step[0], &L->aq, NULL);
        double norm = sq_norm(buf, n);
        rep[ci].a_rel_error = (float)(sq_diff(buf, q, n) / (norm > 0 ? norm : 1.0));
    }
    free(buf);
    free(q);
    return 0;
}

int ptq_run(model *m, const ptq_cfg *cfg, const quant_fmt *wf, const quant_fmt *af,
            const dataset *calib, float *xbuf, int *ybuf, ptq_report *rep, qd_err *err)
{
    size_t maxw = 0;
    for (int ci = 0; ci < m->n_compute; ci++)
        maxw = (size_t)m->layers[m->compute[ci]].nw > maxw ? (size_t)m->layers[m->compute[ci]].nw
                                                            : maxw;
    float *q = malloc(sizeof(float) * maxw), *r = malloc(sizeof(float) * maxw);
    if (!q || !r) {
        free(q), free(r);
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for quantization");
    }
    ptq_fold_bn(m);
    for (int ci = 0; ci < m->n_compute; ci++) {
        layer *L = &m->layers[m->compute[ci]];
        memset(&rep[ci], 0, sizeof rep[ci]);
        model_set_quant(m, ci, NULL, NULL);
        if (wf[ci].format == QFMT_FLOAT)
            continue;
        quantize_weights(L, cfg, &wf[ci], q, r, &rep[ci]);
        memcpy(L->weight, q, sizeof(float) * L->nw);
        quant_fmt f = wf[ci];
        f.frozen = 1;
        f.residual_bits = rep[ci].residual ? cfg->residual_bits : 0;
        model_set_quant(m, ci, &f, NULL);
        L->q_init[0] = 1.0f;
    }
    free(q), free(r);
    return calibrate(m, cfg, af, calib, xbuf, ybuf, rep, err);
}
