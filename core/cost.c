/*
 * cost.c: memory and BitOPs of a model under a bit-width assignment, as defined in cost.h.
 * Used for every result, by AdaQAT's cost gradient and by the search's knapsack (whose
 * per-layer costs come from cost_eval and cost_activation_bytes, so they add up to the same
 * figures a result reports).
 */
#include "cost.h"

#include <string.h>

/* does a batch norm read this layer's output (so folding gives the layer a bias)? */
static int bn_follows(const model *m, int li)
{
    for (int j = li + 1; j < m->n_layers; j++)
        if (m->layers[j].d.kind == LK_BN && m->layers[j].d.in[0] == li)
            return 1;
    return 0;
}

void cost_eval(model_cost *c, const model *m, const int *w_bits, const int *a_bits,
               const int *per_channel, const int *res_bits)
{
    memset(c, 0, sizeof *c);
    c->n = m->n_compute;
    for (int ci = 0; ci < m->n_compute; ci++) {
        int li = m->compute[ci];
        const layer *L = &m->layers[li];
        layer_cost *lc = &c->layers[ci];
        lc->params = L->nw;
        lc->macs = model_layer_macs(m, ci);
        lc->in_elems = (long)L->in_len;
        lc->out_elems = (long)L->out_len;
        lc->w_bits = w_bits[ci];
        lc->a_bits = a_bits[ci];
        lc->scales = lc->w_bits < 32 ? (per_channel && per_channel[ci] ? L->c : 1) : 0;
        lc->folded_bias = L->d.bias || bn_follows(m, li);
        lc->res_bits = res_bits ? res_bits[ci] : 0;
        lc->weight_bytes = (lc->params * lc->w_bits + 7) / 8 + 4L * lc->scales +
                           (lc->folded_bias ? 4L * L->c : 0) + (lc->a_bits < 32 ? 4 : 0);
        if (lc->res_bits > 0)
            lc->weight_bytes += (lc->params * lc->res_bits + 7) / 8 + 4L * lc->scales;
        c->weight_bytes += lc->weight_bytes;
        c->bitops += (double)lc->macs * lc->w_bits * lc->a_bits;
    }
    for (int ci = 0; ci < c->n; ci++) {
        const layer_cost *lc = &c->layers[ci];
        int next = ci + 1 < c->n ? c->layers[ci + 1].a_bits : 32;
        long bytes = cost_activation_bytes(lc->in_elems, lc->a_bits, lc->out_elems, next);
        c->activation_bytes = bytes > c->activation_bytes ? bytes : c->activation_bytes;
    }
    c->total_bytes = c->weight_bytes + c->activation_bytes;
}

long cost_activation_bytes(long in_elems, int a_bits, long out_elems, int a_next)
{
    return (in_elems * a_bits + out_elems * a_next + 7) / 8;
}

void cost_of_model(model_cost *c, const model *m)
{
    int wb[MODEL_MAX_LAYERS], ab[MODEL_MAX_LAYERS], pc[MODEL_MAX_LAYERS], rb[MODEL_MAX_LAYERS];
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        wb[ci] = L->wq.format == QFMT_FLOAT ? 32 : L->wq.bits;
        ab[ci] = L->aq.format == QFMT_FLOAT ? 32 : L->aq.bits;
        pc[ci] = L->wq.per_channel;
        rb[ci] = L->wq.format == QFMT_FLOAT ? 0 : L->wq.residual_bits;
    }
    cost_eval(c, m, wb, ab, pc, rb);
}
