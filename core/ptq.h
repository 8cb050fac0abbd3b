/*
 * ptq.h: MMSE post-training quantization of a trained float model, without retraining.
 *
 * 1. Fold batch norm into the conv or linear layer before it: w' = w * k, b' = b * k with
 *    k = gamma / sqrt(var + eps) per channel; the batch norm keeps only its shift
 *    beta - mean * k, so eval outputs are unchanged.
 * 2. Weights: per output channel, the scale minimising ||W - a Q(W / a)||^2 (or max-abs).
 *    A layer whose relative error ||W - Q(W)||^2 / ||W||^2 stays above the threshold gets a
 *    second tensor: W ~ a1 Q1(W) + a2 Q2(W - a1 Q1(W)) with residual_bits.
 * 3. Activations: layer by layer in order, the inputs of a few calibration batches (with the
 *    layers before already quantized) give the MSE-minimising scale.
 * The quantized weights are written into the model's weights and the layer's weight format is
 * marked frozen, so the model (and its checkpoint) computes exactly the quantized network.
 */
#ifndef QD_PTQ_H
#define QD_PTQ_H

#include "dataset.h"
#include "model.h"

typedef struct ptq_cfg {
    int maxabs;               /* 1: max-abs scales instead of MMSE (for comparison) */
    int residual_bits;        /* 0: never add residual tensors */
    float residual_threshold; /* relative weight error above which a layer gets one */
    int calibration_batches;
} ptq_cfg;

typedef struct ptq_report {
    float w_rel_error;        /* after the first tensor */
    float w_rel_error_final;  /* after the residual, if any */
    float a_rel_error;        /* input activations on the calibration batches */
    int residual;
} ptq_report;

/* Fold every batch norm that directly follows a compute layer read by nothing else. */
void ptq_fold_bn(model *m);

/* Quantize m in place with weight format wf[ci] and activation format af[ci] per compute layer
 * (FLOAT leaves that side unquantized); rep[ci] receives the errors. calib: the data to
 * calibrate on (its first calibration_batches * batch examples). */
int ptq_run(model *m, const ptq_cfg *cfg, const quant_fmt *wf, const quant_fmt *af,
            const dataset *calib, float *xbuf, int *ybuf, ptq_report *rep, qd_err *err);

#endif
