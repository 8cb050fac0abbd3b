/*
 * adaqat.c: the AdaQAT bit-width updates (see adaqat.h). Called by the train job after each
 * backward pass. Costs two extra forward passes per update for the network granularity, two
 * per adapted layer for the layer granularity.
 */
#include "adaqat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"

static layer *compute_layer(model *m, int ci) { return &m->layers[m->compute[ci]]; }

float adaqat_bits(const model *m, int ci, int activations)
{
    return m->layers[m->compute[ci]].q_init[activations ? 3 : 2];
}

/* Set a layer's bits for weights or activations, rescaling its step(s) by sqrt(Qp(old)/Qp(new)),
 * the ratio of LSQ's initial steps 2<|x|>/sqrt(Qp): fewer bits clip tighter. Keeping the clipping
 * range instead (Qp(old)/Qp(new)) leaves most weights at zero below 4 bits, and the loss at N - 1
 * then overstates what training at N - 1 costs (cnn-s at w5/a3: +2.1 instead of +0.13 for w3). */
static void set_bits(layer *L, int activations, int bits)
{
    quant_fmt *f = activations ? &L->aq : &L->wq;
    if (f->bits == bits)
        return;
    float old_qp = (float)int_levels_make(f->bits, activations ? f->is_signed : 1).qp;
    float new_qp = (float)int_levels_make(bits, activations ? f->is_signed : 1).qp;
    float k = sqrtf(old_qp / new_qp);
    if (activations) {
        L->a_step[0] *= k;
    } else {
        int g = L->wq.per_channel ? L->c : 1;
        for (int j = 0; j < g; j++)
            L->w_step[j] *= k;
    }
    f->bits = bits;
}

static int ceil_bits(float n) { return (int)ceilf(n - 1e-6f); }

void adaqat_sync(const adaqat *a, model *m)
{
    for (int ci = a->cfg.first; ci <= a->cfg.last; ci++) {
        layer *L = compute_layer(m, ci);
        set_bits(L, 0, ceil_bits(L->q_init[2]));
        set_bits(L, 1, ceil_bits(L->q_init[3]));
    }
}

/* The cost with the adapted layers at their current N, optionally one group lowered by 1. */
static double cost_at(const adaqat *a, const model *m, int lower_ci, int lower_act)
{
    int wb[MODEL_MAX_LAYERS], ab[MODEL_MAX_LAYERS], pc[MODEL_MAX_LAYERS];
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        wb[ci] = L->wq.format == QFMT_FLOAT ? 32 : L->wq.bits;
        ab[ci] = L->aq.format == QFMT_FLOAT ? 32 : L->aq.bits;
        pc[ci] = L->wq.per_channel;
        int hit = ci >= a->cfg.first && ci <= a->cfg.last && (lower_ci < 0 || lower_ci == ci);
        if (hit && lower_ci != -2) {
            if (lower_act)
                ab[ci] = ab[ci] > 1 ? ab[ci] - 1 : 1;
            else
                wb[ci] = wb[ci] > 1 ? wb[ci] - 1 : 1;
        }
    }
    model_cost c;
    cost_eval(&c, m, wb, ab, pc, NULL);
    return a->cfg.cost == ADAQAT_MEMORY ? (double)c.total_bytes : c.bitops;
}

int adaqat_create(adaqat **out, model *m, const adaqat_cfg *cfg, float init_w, float init_a,
                  qd_err *err)
{
    adaqat *a = calloc(1, sizeof *a);
    if (!a || !(a->saved_state = malloc(sizeof(float) * (m->n_state + 1))) ||
        !(a->dlogits = malloc(sizeof(float) * m->batch * m->classes))) {
        adaqat_free(a);
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for AdaQAT");
    }
    a->cfg = *cfg;
    for (int ci = cfg->first; ci <= cfg->last; ci++) {
        layer *L = compute_layer(m, ci);
        L->q_init[2] = init_w;
        L->q_init[3] = init_a;
    }
    adaqat_sync(a, m);
    /* reference cost: every adapted layer at 8 bits */
    int wb[MODEL_MAX_LAYERS], ab[MODEL_MAX_LAYERS];
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = compute_layer(m, ci);
        int in = ci >= cfg->first && ci <= cfg->last;
        wb[ci] = in ? 8 : (L->wq.format == QFMT_FLOAT ? 32 : L->wq.bits);
        ab[ci] = in ? 8 : (L->aq.format == QFMT_FLOAT ? 32 : L->aq.bits);
    }
    model_cost c;
    cost_eval(&c, m, wb, ab, NULL, NULL);
    a->cost_ref = cfg->cost == ADAQAT_MEMORY ? (double)c.total_bytes : c.bitops;
    *out = a;
    return 0;
}

void adaqat_free(adaqat *a)
{
    if (!a)
        return;
    free(a->saved_state);
    free(a->dlogits);
    free(a);
}

/* Loss on the batch with one group (layer ci, or all adapted layers when ci < 0) at N - 1. */
static float loss_lowered(adaqat *a, model *m, int ci, int act, const float *x, const int *y,
                          int n)
{
    int lo = ci < 0 ? a->cfg.first : ci, hi = ci < 0 ? a->cfg.last : ci;
    int keep[MODEL_MAX_LAYERS];
    rng keep_rng = m->q_rng;
    memcpy(a->saved_state, m->state, sizeof(float) * m->n_state);
    for (int k = lo; k <= hi; k++) {
        layer *L = compute_layer(m, k);
        keep[k] = act ? L->aq.bits : L->wq.bits;
        set_bits(L, act, keep[k] > 1 ? keep[k] - 1 : 1);
    }
    const float *logits = model_forward(m, x, n, 1);
    float loss = softmax_xent(NULL, logits, y, n, m->classes);
    for (int k = lo; k <= hi; k++)
        set_bits(compute_layer(m, k), act, keep[k]);
    memcpy(m->state, a->saved_state, sizeof(float) * m->n_state);
    m->q_rng = keep_rng;
    return loss;
}

static void update_group(adaqat *a, model *m, int ci, int act, float loss, const float *x,
                         const int *y, int n)
{
    float dl = loss - loss_lowered(a, m, ci, act, x, y, n);
    double dc = (cost_at(a, m, -2, 0) - cost_at(a, m, ci, act)) / a->cost_ref;
    float g = dl + a->cfg.lambda * (float)dc;
    int lo = ci < 0 ? a->cfg.first : ci, hi = ci < 0 ? a->cfg.last : ci;
    for (int k = lo; k <= hi; k++) {
        float *nb = &compute_layer(m, k)->q_init[act ? 3 : 2];
        float v = *nb - a->cfg.eta * g;
        *nb = fminf(fmaxf(v, (float)a->cfg.min_bits), (float)a->cfg.max_bits);
    }
}

void adaqat_step(adaqat *a, model *m, long step, float loss, const float *x, const int *y, int n)
{
    if ((step + 1) % a->cfg.interval != 0)
        return;
    if (a->cfg.per_layer) {
        for (int ci = a->cfg.first; ci <= a->cfg.last; ci++) {
            update_group(a, m, ci, 0, loss, x, y, n);
            update_group(a, m, ci, 1, loss, x, y, n);
        }
    } else {
        update_group(a, m, -1, 0, loss, x, y, n);
        update_group(a, m, -1, 1, loss, x, y, n);
    }
    a->updates = (step + 1) / a->cfg.interval; /* from the step, so a resumed run counts all */
    adaqat_sync(a, m);
}
