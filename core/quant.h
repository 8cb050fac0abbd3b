/*
 * quant.h: fake-quantization kernels on float arrays: uniform integer with a learned step size
 * (LSQ), minifloat ExMy, and MMSE clipping search. Pure functions; no allocation except where
 * stated. The model's layers call these; tests check them against their definitions.
 *
 * Integer: q(x) = clamp(round(x / s), -qn, qp) * s, round half to even (rintf, default mode).
 *   signed b bits: qn = 2^(b-1), qp = 2^(b-1) - 1; unsigned b bits: qn = 0, qp = 2^b - 1.
 *   b = 1 signed is binary {-s, +s}: q(x) = s * sign(x) (qn = qp = 1 with no zero level is
 *   handled by int_levels_t.binary).
 * LSQ step gradient (Esser et al.), per element with v = x / s:
 *   dq/ds = -qn if v <= -qn; qp if v >= qp; round(v) - v otherwise; scaled by g = 1/sqrt(N*qp).
 *   dq/dx = 1 inside [-qn, qp], 0 outside (straight-through estimator).
 *
 * Minifloat ExMy: 1 sign bit, E exponent bits, M mantissa bits, bias (default 2^(E-1) - 1).
 *   Normal: (-1)^s * 2^(e - bias) * (1 + m / 2^M) for e >= 1; subnormal (e = 0):
 *   (-1)^s * 2^(1 - bias) * (m / 2^M).
 *   Saturating ("short float", OCP-like with no inf): every exponent code is finite. In the OCP
 *   variant for E4M3 (ocp = 1) only the all-ones exponent with all-ones mantissa is NaN, so the
 *   largest finite is 448; E5M2 under ieee has max 57344.
 *   IEEE-like (ieee = 1): the top exponent code is reserved (inf/NaN), largest finite uses
 *   e = 2^E - 2.
 *   Values beyond the largest finite saturate to it (we never produce inf/NaN).
 */
#ifndef QD_QUANT_H
#define QD_QUANT_H

#include <stdint.h>

#include "rng.h"

/* ---- integer (LSQ) ---- */

typedef struct int_levels {
    int qn, qp;   /* clamp range in steps: [-qn, qp] */
    int binary;   /* 1-bit signed: values {-1, +1} * s */
} int_levels;

int_levels int_levels_make(int bits, int is_signed);

/* out[i] = q(x[i]) with step s; out may equal x. */
void int_fake_quant(float *out, const float *x, long n, float s, int_levels l);

/*
 * Backward of out = q(x; s): dx[i] += dout[i] * (x inside range); returns
 * sum_i dout[i] * dq/ds(x[i]) (unscaled; the caller multiplies by the LSQ gradient scale).
 * dx may be NULL (only the step gradient is wanted).
 */
double int_fake_quant_backward(float *dx, const float *dout, const float *x, long n, float s,
                               int_levels l);

/* LSQ initial step: 2 * mean|x| / sqrt(qp) (guarded against 0). */
float lsq_init_step(const float *x, long n, int_levels l);
/* LSQ gradient scale 1 / sqrt(n * qp). */
float lsq_grad_scale(long n, int_levels l);

/* ---- minifloat ---- */

typedef struct minifloat_fmt {
    int e, m;      /* exponent bits 1..5, mantissa bits 0..7 */
    int bias;      /* exponent bias */
    int ieee;      /* 1: top exponent reserved for inf/NaN; 0: saturating short float */
    int ocp;       /* 1: OCP E4M3 style, only S.1111.111 is NaN (saturating) */
} minifloat_fmt;

/* Default bias 2^(e-1)-1, saturating. Returns 0, or QD_EINVAL for e/m out of range. */
int minifloat_fmt_make(minifloat_fmt *f, int e, int m);
/* "e4m3" (ocp, max 448), "e5m2" (ieee, max 57344), "e3m2", "e2m3", "e2m1" (saturating). */
int minifloat_preset(minifloat_fmt *f, const char *name);

float minifloat_max(minifloat_fmt f);           /* largest finite value */
int minifloat_bits(minifloat_fmt f);            /* 1 + e + m */
int minifloat_code_count(minifloat_fmt f);      /* 2^(1+e+m) */
int minifloat_code_is_valid(minifloat_fmt f, uint32_t code);  /* not inf/NaN */
float minifloat_decode(minifloat_fmt f, uint32_t code);
/* Round to nearest, ties to even; saturates; -0 encodes as +0 code. */
uint32_t minifloat_encode(minifloat_fmt f, float x);
/* Nearest representable value (RNE); same as decode(encode(x)) but faster. */
float minifloat_round(minifloat_fmt f, float x);
/* Stochastic rounding: one of the two neighbouring representable values, unbiased; u in [0,1). */
float minifloat_round_stochastic(minifloat_fmt f, float x, float u);

/*
 * Scaled minifloat fake quantization: out[i] = s * round(x[i] / s). r != NULL selects stochastic
 * rounding. Backward: STE inside [-max*s, max*s]; the scale gradient is
 * sum dout * (round(v) - v) inside and sum dout * (+-max) outside, v = x/s.
 */
void minifloat_fake_quant(float *out, const float *x, long n, float s, minifloat_fmt f, rng *r);
double minifloat_fake_quant_backward(float *dx, const float *dout, const float *x, long n, float s,
                                     minifloat_fmt f);

/* ---- MMSE clipping ---- */

/*
 * Scale a (step for integers: q = a * clamp(round(x/a))) minimising sum (x - q(x))^2 over n values,
 * searched over a grid of clipping ratios of max|x| followed by a local refinement.
 * Returns the scale; *mse (may be NULL) receives the mean squared error at it.
 */
float mmse_int_scale(const float *x, long n, int_levels l, double *mse);
float mmse_minifloat_scale(const float *x, long n, minifloat_fmt f, double *mse);
/* Max-abs scale for comparison: max|x| / qp (integers). */
float maxabs_int_scale(const float *x, long n, int_levels l);

/* ---- a quantizer's configuration, as a train spec states it ---- */
enum quant_format { QFMT_FLOAT = 0, QFMT_INT = 1, QFMT_MINIFLOAT = 2, QFMT_HFP8 = 3 };

typedef struct quant_fmt {
    int format;          /* enum quant_format */
    int bits;            /* INT: 1..8 (weights) or 2..8 (activations); MINIFLOAT: 1+e+m; HFP8: 8;
                            FLOAT: 32 */
    int per_channel;     /* weights: one step per output channel */
    int is_signed;       /* activations: 1 signed, 0 unsigned, -1 decide from the layer input */
    minifloat_fmt mf;    /* MINIFLOAT: the format; HFP8: E4M3 forward (E5M2 backward is implied) */
    int stochastic;      /* MINIFLOAT: stochastic rounding instead of round-to-nearest-even */
    int residual_bits;   /* weights after PTQ: bits of the residual tensor (0 = none) */
    int frozen;          /* weights after PTQ: the layer's weights already hold their quantized
                            values (w ~ a1*Q1 + a2*Q2), so forward uses them as they are */
} quant_fmt;

/* Whether the kernels can run f: a known format with bits, minifloat parameters and flags in
 * the ranges above (what the spec parser produces). For formats read back from files. */
int quant_fmt_valid(const quant_fmt *f);

/* ---- plain references of the optimised kernels (tests compare them) ---- */

/* int_fake_quant written as the definition reads (branches, rintf); the same values. */
void int_fake_quant_ref(float *out, const float *x, long n, float s, int_levels l);
/* int_fake_quant_backward as a plain loop; the same dx, the same sum up to summation order. */
double int_fake_quant_backward_ref(float *dx, const float *dout, const float *x, long n, float s,
                                   int_levels l);
/* minifloat_fake_quant_backward as a plain loop on decode(encode(v)); the same up to
 * summation order. */
double minifloat_fake_quant_backward_ref(float *dx, const float *dout, const float *x, long n,
                                         float s, minifloat_fmt f);

#endif
