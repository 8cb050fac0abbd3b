/*
 * model.h: a trainable network built from a model_desc for a fixed input shape and batch size.
 *
 * Memory is carved once at creation from one block per kind: trainable parameters, their
 * gradients, non-trainable state (batch-norm running statistics, quantizer state), activations
 * (outputs, their gradients, caches) and scratch. Nothing is allocated by forward or backward.
 * Trainable parameters are contiguous (model->params, model->n_params), so an optimiser or a
 * checkpoint sees them as one vector; the same holds for model->state.
 *
 * Every conv and linear layer ("compute layer") carries a weight quantizer and an input-activation
 * quantizer (both off = float). Their learned steps live among the parameters; whether each has
 * been initialised lives in the state, so a checkpoint restores them exactly.
 * Ownership: model_create allocates, model_free releases (model_free(NULL) is a no-op).
 */
#ifndef QD_MODEL_H
#define QD_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "layers.h"
#include "model_desc.h"
#include "quant.h"

/* Convolutions keep their im2col columns between forward and backward when all of them fit in
 * this many floats (1 GiB); otherwise backward recomputes them. */
#define CONV_COLS_CACHE_MAX (256L << 20)
/* Values of one example in the input or any layer's output, at most: shapes stay in int. */
#define MODEL_MAX_ELEMS (1L << 28)
#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

typedef struct layer {
    layer_desc d;
    int c, h, w;               /* output shape of one example */
    int in_c, in_h, in_w;      /* shape of the (first) input */
    size_t out_len, in_len;    /* elements per example */
    int nonneg;                /* output is known to be >= 0 (after ReLU) */
    int consumers;             /* how many layers read this output */
    float *out, *grad;         /* [batch * out_len]; flatten aliases its input */
    /* parameters (NULL where the kind has none) and their gradients */
    float *weight, *bias, *dweight, *dbias; /* conv, linear */
    long nw;                   /* weight elements */
    float *gamma, *beta, *dgamma, *dbeta, *run_mean, *run_var; /* batchnorm */
    float *xhat, *invstd;      /* batchnorm cache */
    int *argmax;               /* maxpool cache */
    conv_dims cd;              /* conv */
    float *cols;               /* conv: im2col columns kept from forward for backward, or NULL */
    /* quantizers of compute layers */
    quant_fmt wq, aq;          /* format FLOAT = off */
    float *w_step, *dw_step;   /* [oc] when per-channel, else [1] used */
    float *a_step, *da_step;   /* [1] */
    float *q_init;             /* state: [0] weight step initialised, [1] activation step,
                                  [2] [3] AdaQAT's real-valued weight and activation bits */
    int step_mmse;             /* 1: steps not yet initialised start at the MSE-minimising scale
                                  (a trained model), 0: at LSQ's 2<|x|>/sqrt(Qp) (max-abs for
                                  minifloats); runtime choice, not in checkpoints */
    float *wq_buf;             /* quantized weights used by forward/backward */
    float *xq;                 /* quantized input [batch * in_len] (NULL when float input) */
    int compute_index;         /* index among compute layers, -1 otherwise */
    int nthreads;              /* the model's thread budget */
} layer;

typedef struct model {
    model_desc desc;
    int in_c, in_h, in_w, classes;
    int batch, nthreads;
    int n_layers, n_compute;
    layer *layers;
    int *compute;              /* layer index of each compute layer */
    float *params, *grads;     /* n_params each */
    long n_params;
    float *state;              /* n_state: running stats, quantizer flags */
    long n_state;
    float *acts;               /* activation block */
    int *ints;                 /* argmax block */
    float *scratch;            /* conv scratch, dxq, dwq */
    size_t scratch_len;
    float *dxq, *dwq;
    rng q_rng;                 /* stochastic rounding stream (part of the checkpointed state) */
    int train;                 /* the mode of the last forward */
    const float *input;        /* the input of the last forward */
    size_t bytes;              /* total bytes allocated */
} model;

/* Build for inputs [batch, c, h, w] and `classes` outputs. QD_EMODEL when shapes do not fit,
 * naming the layer. */
int model_create(model **out, const model_desc *d, int c, int h, int w, int classes, int batch,
                 int nthreads, qd_err *err);
void model_free(model *m);

/* He-normal weights, zero biases, BN gamma 1 beta 0, running var 1; quantizers uninitialised. */
void model_init_params(model *m, uint64_t seed);

/* Set compute layer ci's quantizers (NULL or FLOAT = off). Marks their steps uninitialised. */
void model_set_quant(model *m, int ci, const quant_fmt *w, const quant_fmt *a);

/* Forward n <= batch examples; returns the logits [n, classes] (inside the model). */
const float *model_forward(model *m, const float *x, int n, int train);
/* Backward of the last train forward, given dlogits [n, classes]; accumulates parameter grads. */
void model_backward(model *m, const float *dlogits, int n);
void model_zero_grads(model *m);

/* Mean loss and correct count over a whole data set in eval mode. */
typedef struct eval_result {
    double loss;
    int correct, total;
} eval_result;
struct dataset;
eval_result model_evaluate(model *m, const struct dataset *ds, float *xbuf, int *ybuf);

/* Multiply-accumulates of compute layer ci for one example. */
long model_layer_macs(const model *m, int ci);
/* The network's own parameters: weights, biases and batch-norm scales and shifts (not the
 * quantizers' learned steps). */
long model_param_count(const model *m);

#endif
