/*
 * adaqat.h: AdaQAT, bit-widths learned by gradient descent during quantization-aware training.
 *
 * Each adapted compute layer has real-valued bit-widths n_w, n_a (one pair for the network, or
 * one per layer) kept in the model's state, so checkpoints carry them. Quantizers use
 * N = ceil(n). Every `interval` steps, on the current batch:
 *   g_w = [L(N_w, N_a) - L(N_w - 1, N_a)] + lambda * [C(N_w) - C(N_w - 1)] / C_ref
 * (likewise g_a), n <- clamp(n - eta * g, min_bits, max_bits). C is the cost model's BitOPs or
 * total bytes, C_ref its value with every adapted layer at 8 bits. The loss at N - 1 comes
 * from an extra forward pass whose side effects (batch-norm running statistics, the stochastic
 * rounding stream) are undone. When N changes, the learned step is rescaled by
 * sqrt(Qp(old)/Qp(new)), as LSQ's initial step scales with the bits.
 * Ownership: adaqat_create allocates, adaqat_free releases (NULL is a no-op).
 */
#ifndef QD_ADAQAT_H
#define QD_ADAQAT_H

#include "model.h"

enum { ADAQAT_BITOPS = 0, ADAQAT_MEMORY = 1 };

typedef struct adaqat_cfg {
    int per_layer;         /* 0: one (n_w, n_a) for the network */
    float eta, lambda;
    int cost;              /* ADAQAT_BITOPS or ADAQAT_MEMORY */
    int interval;          /* steps between updates */
    int min_bits, max_bits;
    int first, last;       /* adapted compute layers: [first, last] */
} adaqat_cfg;

typedef struct adaqat {
    adaqat_cfg cfg;
    float *saved_state;    /* the model's state around the extra forwards */
    float *dlogits;        /* unused scratch for the extra forwards' logits */
    double cost_ref;
    long updates;          /* updates made since step 0, resumed runs included */
} adaqat;

/* Start: n_w = init_w, n_a = init_a in every adapted layer (its formats must be int). */
int adaqat_create(adaqat **out, model *m, const adaqat_cfg *cfg, float init_w, float init_a,
                  qd_err *err);
void adaqat_free(adaqat *a);
/* Call after each backward pass with the batch and its loss; updates every interval steps. */
void adaqat_step(adaqat *a, model *m, long step, float loss, const float *x, const int *y, int n);
/* Set every adapted quantizer to ceil(n), rescaling steps that change. */
void adaqat_sync(const adaqat *a, model *m);
/* Real-valued bits of compute layer ci. */
float adaqat_bits(const model *m, int ci, int activations);

#endif
