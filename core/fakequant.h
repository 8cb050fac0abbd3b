/*
 * fakequant.h: applies a compute layer's quantizers (its quant_fmt and learned steps) to its
 * weights and input during forward, and the straight-through / learned-step gradients during
 * backward. The glue between the model's layers and the element kernels of quant.h.
 * Steps are initialised on first use (LSQ: 2 mean|x| / sqrt(Qp); minifloat: max|x| / max).
 * The LSQ gradient scale is 1 / sqrt(N * Qp) with N the number of values one step quantizes:
 * the weights of a channel (or tensor), or the whole activation tensor of a batch.
 */
#ifndef QD_FAKEQUANT_H
#define QD_FAKEQUANT_H

#include <stddef.h>

#include "model.h"

/* L->wq_buf = Q(L->w); initialises the weight steps if needed. */
void fq_weights_forward(layer *L, int train);
/* L->xq = Q(in) for n examples; initialises the activation step if needed. r: stochastic
 * rounding stream (used in train mode only). */
void fq_input_forward(layer *L, const float *in, int n, int train, rng *r);
/* dw += STE(dwq); dw_step += scaled step gradient. */
void fq_weights_backward(layer *L, const float *dwq);
/* din (may be NULL) += STE(dxq); da_step += scaled step gradient. */
void fq_input_backward(layer *L, float *din, const float *dxq, const float *in, int n);
/* HFP8 backward: round the gradient tensor to E5M2 with a per-tensor scale, in place. */
void fq_grad_e5m2(float *g, size_t len);

/* Fake-quantize n values with one step under fmt (int or minifloat); r for stochastic rounding.
 * Used by the model and by post-training quantization. */
void fq_apply(float *out, const float *x, long n, float step, const quant_fmt *fmt, rng *r);
/* The initial step for values x under fmt: LSQ's rule for integers, max-abs for minifloats. */
float fq_init_step(const float *x, long n, const quant_fmt *fmt);
/* The step minimising the quantization MSE of x under fmt (PTQ's choice, and QAT's start from a
 * trained model). */
float fq_mmse_step(const float *x, long n, const quant_fmt *fmt);
/* Largest quantized magnitude in units of the step (qp for integers, max for minifloats). */
float fq_max_units(const quant_fmt *fmt);

#endif
