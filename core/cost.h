/*
 * cost.h: the one cost model of quantd (schema/cost.md documents it for users).
 *
 * For compute layers (conv, linear) with weight bits w and input-activation bits a (32 = float):
 *   weight bytes   = sum ceil(params * w / 8) + 4 * scales + 4 * folded biases + 4 (activation
 *                    scale, when a < 32); scales = channels (per-channel) or 1, only when w < 32;
 *                    a PTQ residual tensor of r bits adds ceil(params * r / 8) + 4 * scales;
 *                    a folded bias exists when the layer has a bias or a batch norm follows it.
 *   activation bytes = max over compute layers (in_elems * a + out_elems * a_next) / 8, where
 *                    a_next is the input bits of the next compute layer (32 after the last).
 *   total bytes    = weight bytes + activation bytes
 *   BitOPs         = sum MACs * w * a
 * Plain data; nothing to free.
 */
#ifndef QD_COST_H
#define QD_COST_H

#include "model.h"

typedef struct layer_cost {
    long params, macs, in_elems, out_elems;
    int w_bits, a_bits, res_bits, scales, folded_bias;
    long weight_bytes;
} layer_cost;

typedef struct model_cost {
    long weight_bytes, activation_bytes, total_bytes;
    double bitops;
    int n;                      /* compute layers */
    layer_cost layers[MODEL_MAX_LAYERS];
} model_cost;

/* Cost with the given bits per compute layer (w_bits[ci], a_bits[ci]); per_channel (per-tensor
 * when NULL) and res_bits (no residual tensors when NULL) may be NULL. */
void cost_eval(model_cost *c, const model *m, const int *w_bits, const int *a_bits,
               const int *per_channel, const int *res_bits);
/* Cost of the model with its current quantizers. */
void cost_of_model(model_cost *c, const model *m);
/* One compute layer's working set: ceil((in_elems * a_bits + out_elems * a_next) / 8), where
 * a_next is the next compute layer's input bits (32 after the last); activation bytes are the
 * maximum of this over the layers. */
long cost_activation_bytes(long in_elems, int a_bits, long out_elems, int a_next);

#endif
