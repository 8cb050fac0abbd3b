/*
 * qmodel_build.c: qmodel_from_model, the exported model of a trained (fake-quantized) model.
 *
 * The layer graph is copied with every batch norm that follows a compute layer read by nothing
 * else removed and folded into that layer: with a = gamma / sqrt(var + eps) and
 * b = beta - a * mean (the eval-mode batch norm of core/layers.c), the layer computes
 * a * (W x + bias) + b, which the qmodel keeps as post_scale = a and a folded bias a * bias + b.
 * The weights are not touched: their codes stay on the quantizer's grid and decode exactly to the
 * fake-quantized weights (code * step for integers, decode(code) * step for minifloats), which is
 * what the round-trip test checks. Codes are computed the way core/quant.c rounds: v = w * (1/s),
 * clamped, rounded to nearest even. Weights that PTQ froze on their grid must come back exactly
 * from their codes; a layer with a PTQ residual tensor cannot (the checkpoint does not keep its
 * second scale) and is refused. Called by the export job.
 */
#include "qmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_MIN 1e-8f /* as core/fakequant.c: steps below it are used as it */

static float step_of(float s) { return s > STEP_MIN ? s : STEP_MIN; }

/* The batch norm folded into compute layer li, or -1. */
static int folded_bn(const model *m, int li)
{
    if (m->layers[li].compute_index < 0 || m->layers[li].consumers != 1)
        return -1;
    for (int j = li + 1; j < m->n_layers; j++)
        if (m->layers[j].d.kind == LK_BN && m->layers[j].d.in[0] == li)
            return j;
    return -1;
}

static int quant_of(qm_quant *q, const quant_fmt *f)
{
    memset(q, 0, sizeof *q);
    switch (f->format) {
    case QFMT_FLOAT:
        q->format = QM_FLOAT, q->bits = 32;
        return 0;
    case QFMT_INT:
        q->format = QM_INT, q->bits = f->bits, q->is_signed = f->is_signed != 0;
        return 0;
    case QFMT_HFP8:
        q->format = QM_MINIFLOAT;
        minifloat_preset(&q->mf, "e4m3");
        q->bits = minifloat_bits(q->mf);
        return 0;
    case QFMT_MINIFLOAT:
        q->format = QM_MINIFLOAT, q->mf = f->mf, q->bits = minifloat_bits(f->mf);
        return 0;
    }
    return -1;
}

/* ---- the graph ---- */

static int map_layers(qmodel *qm, const model *m, int *map, qd_err *err)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = &m->layers[i];
        if (L->d.kind == LK_BN) {
            int p = L->d.in[0];
            if (p < 0 || folded_bn(m, p) != i)
                return qd_fail(err, QD_EINVAL, "model",
                               "batchnorm layer %d (%s) does not directly follow a conv or linear "
                               "layer read by nothing else, so it cannot be folded for export",
                               i, L->d.name);
            map[i] = map[p];
            continue;
        }
        map[i] = n++;
    }
    qm->n_layers = n;
    return 0;
}

static void copy_layer(qm_layer *q, const layer *L, const int *map)
{
    const layer_desc *d = &L->d;
    int spatial = d->kind == LK_CONV || d->kind == LK_MAXPOOL || d->kind == LK_AVGPOOL;
    q->kind = d->kind;
    snprintf(q->name, sizeof q->name, "%.31s", d->name);
    q->nin = d->kind == LK_ADD ? 2 : 1;
    q->in[0] = d->in[0] >= 0 ? map[d->in[0]] : -1;
    q->in[1] = q->nin > 1 && d->in[1] >= 0 ? map[d->in[1]] : -1;
    q->out = L->compute_index >= 0 ? d->out : 0;
    q->bias = L->compute_index >= 0 && d->bias;
    q->kernel = spatial ? d->kernel : 0;
    q->stride = spatial ? d->stride : 0;
    q->pad = spatial ? d->pad : 0;
    q->c = L->c, q->h = L->h, q->w = L->w;
    q->in_c = L->in_c, q->in_h = L->in_h, q->in_w = L->in_w;
    q->compute = L->compute_index;
}

/* ---- compute layers ---- */

static int describe_compute(qm_compute *q, const model *m, int ci, const int *map, qd_err *err)
{
    const int li = m->compute[ci];
    const layer *L = &m->layers[li];
    if (quant_of(&q->wq, &L->wq) < 0 || quant_of(&q->aq, &L->aq) < 0)
        return qd_fail(err, QD_EINVAL, "model", "layer %s: unknown quantizer format", L->d.name);
    if (L->wq.format != QFMT_FLOAT && L->wq.residual_bits > 0)
        return qd_fail(err, QD_EINVAL, "model",
                       "layer %s has a PTQ residual tensor: the checkpoint does not keep its "
                       "second scale, so it cannot be exported (run the PTQ job with "
                       "\"ptq\": {\"residual\": false})",
                       L->d.name);
    if ((L->wq.format != QFMT_FLOAT && L->q_init[0] == 0.0f) ||
        (L->aq.format != QFMT_FLOAT && L->q_init[1] == 0.0f))
        return qd_fail(err, QD_EINVAL, "model",
                       "layer %s: its quantizer steps were never initialised (evaluate the "
                       "model once before exporting it)",
                       L->d.name);
    q->layer = map[li];
    q->oc = L->c;
    q->k = (int)(L->nw / L->c);
    q->per_channel = L->wq.format != QFMT_FLOAT && L->wq.per_channel;
    int bn = folded_bn(m, li);
    q->bias = (L->bias || bn >= 0) ? (float *)1 : NULL;
    q->post_scale = NULL;
    for (int c = 0; bn >= 0 && c < L->c; c++) {
        const layer *B = &m->layers[bn];
        if (B->gamma[c] / sqrtf(B->run_var[c] + BN_EPS) != 1.0f)
            q->post_scale = (float *)1;
    }
    return 0;
}

static void fill_affine(qm_compute *q, const model *m, int li)
{
    const layer *L = &m->layers[li];
    int bn = folded_bn(m, li);
    for (int c = 0; c < q->oc; c++) {
        float a = 1.0f, b = 0.0f, bias = L->bias ? L->bias[c] : 0.0f;
        if (bn >= 0) {
            const layer *B = &m->layers[bn];
            a = B->gamma[c] / sqrtf(B->run_var[c] + BN_EPS);
            b = B->beta[c] - a * B->run_mean[c];
        }
        if (q->post_scale)
            q->post_scale[c] = a;
        if (q->bias)
            q->bias[c] = q->post_scale ? a * bias + b : bias + b;
    }
}

/* The code of weight w under step s, as core/quant.c rounds it. */
static uint32_t weight_code(float w, float s, const qm_quant *q)
{
    const float v = w * (1.0f / s);
    if (q->format == QM_MINIFLOAT)
        return minifloat_encode(q->mf, v);
    int lo, hi;
    qm_int_range(q, &lo, &hi);
    if (q->bits == 1)
        return v < 0.0f ? 0u : 1u; /* binary: bit 0 is -1, bit 1 is +1 */
    float c = v < (float)lo ? (float)lo : v > (float)hi ? (float)hi : v;
    return (uint32_t)(int)rintf(c) & ((1u << q->bits) - 1u);
}

static int fill_codes(qm_compute *q, const layer *L)
{
    const size_t n = (size_t)q->oc * q->k;
    float lut[256];
    if (q->wq.format == QM_MINIFLOAT)
        for (int j = 0; j < (1 << q->wq.bits); j++)
            lut[j] = minifloat_decode(q->wq.mf, (uint32_t)j);
    for (int g = 0; g < (q->per_channel ? q->oc : q->wq.format != QM_FLOAT); g++)
        q->w_scale[g] = step_of(L->w_step[g]);
    for (size_t i = 0; i < n; i++) {
        uint32_t code;
        float w = L->weight[i], back;
        if (q->wq.format == QM_FLOAT) {
            memcpy(&code, &w, sizeof code);
            qm_code_put(q->codes, i, 32, code);
            continue;
        }
        float s = q->w_scale[q->per_channel ? i / (size_t)q->k : 0];
        code = weight_code(w, s, &q->wq);
        qm_code_put(q->codes, i, q->wq.bits, code);
        back = q->wq.format == QM_INT ? (float)qm_int_value(code, &q->wq) * s : lut[code] * s;
        if (L->wq.frozen && back != w)
            return -1;
    }
    return 0;
}

static int build_compute(qmodel *qm, const model *m, qd_err *err)
{
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        qm_compute *q = &qm->compute[ci];
        fill_affine(q, m, m->compute[ci]);
        if (fill_codes(q, L) < 0)
            return qd_fail(err, QD_EINVAL, "model",
                           "layer %s: its frozen (PTQ) weights are not on the grid of their "
                           "step, so they cannot be coded exactly",
                           L->d.name);
        if (q->aq.format != QM_FLOAT) {
            q->a_scale = step_of(L->a_step[0]);
            q->a_zp = 0;
        }
    }
    return 0;
}

int qmodel_from_model(qmodel **out, const model *m, const float *mean, const float *std,
                      qd_err *err)
{
    *out = NULL;
    qmodel *qm = calloc(1, sizeof *qm);
    int *map = malloc(sizeof(int) * (size_t)m->n_layers);
    int rc = qm && map ? 0 : qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    if (rc == 0)
        rc = map_layers(qm, m, map, err);
    if (rc == 0) {
        qm->layers = calloc((size_t)qm->n_layers, sizeof *qm->layers);
        qm->compute = calloc((size_t)m->n_compute, sizeof *qm->compute);
        rc = qm->layers && qm->compute ? 0 : qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    }
    if (rc < 0)
        goto out;
    snprintf(qm->name, sizeof qm->name, "%.31s", m->desc.name);
    qm->in_c = m->in_c, qm->in_h = m->in_h, qm->in_w = m->in_w, qm->classes = m->classes;
    qm->has_norm = mean && std && m->in_c <= 4;
    for (int c = 0; qm->has_norm && c < m->in_c; c++)
        qm->mean[c] = mean[c], qm->std[c] = std[c];
    qm->n_compute = m->n_compute;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].d.kind != LK_BN)
            copy_layer(&qm->layers[map[i]], &m->layers[i], map);
    for (int ci = 0; ci < m->n_compute && rc == 0; ci++)
        rc = describe_compute(&qm->compute[ci], m, ci, map, err);
    if (rc == 0)
        rc = qmodel_alloc_arrays(qm, err);
    if (rc == 0)
        rc = build_compute(qm, m, err);
out:
    free(map);
    if (rc < 0)
        qmodel_free(qm);
    else
        *out = qm;
    return rc;
}
