/*
 * quant.c: the fake-quantization kernels of quant.h: uniform integers with a learned step (LSQ),
 * minifloat ExMy, and the MMSE clipping search used by post-training quantization. The layers'
 * quantizer glue (fakequant.c) calls the kernels on every weight and activation tensor of every
 * training step; the job layer calls the format constructors and the MMSE search.
 *
 * Conventions shared by every kernel:
 * - x / s is computed as x * (1 / s), with the reciprocal taken once per call. The two differ by
 *   at most one ulp of v = x / s, so only inputs within an ulp of a rounding boundary can land on
 *   the other side; for power-of-two steps they are identical. The `_ref` versions use the same
 *   convention so that tests compare them bit for bit.
 * - Rounding is to nearest, ties to even (rintf in the default rounding mode). The hot loops get
 *   it from the 1.5 * 2^23 addition trick, which equals rintf for |v| <= 2^22 in every rounding
 *   mode and vectorises with plain SSE2; inputs are clamped into that range first. Builds with
 *   -ffast-math (which would fold the trick away) or with excess float precision use rintf.
 * - NaN inputs propagate through the float paths (the binary quantizer maps them to +s);
 *   minifloat_encode maps NaN to the +0 code, since it never produces an inf/NaN code.
 * - The sign of a zero result is not specified for integers; minifloat zeros are +0.
 *
 * Integer levels: 1-bit signed is binary, q = s * (x < 0 ? -1 : +1), with qn = qp = 1. Its step
 * gradient follows the same LSQ rule as the other widths with round(v) replaced by the binary
 * level: -1 for v <= -1, +1 for v >= 1, level(v) - v between.
 *
 * Minifloat ties: the tie between two neighbours goes to the one that is an even multiple of
 * their distance, which is the even-mantissa neighbour when M >= 1 (with M = 0, the larger power
 * of two, as hardware rounding the implicit bit gives). Encoding works in double arithmetic per
 * value; minifloat_round is the fast path on the float's bits and agrees with decode(encode(x))
 * bit for bit for every non-NaN x; decode(encode(x)) is its plain reference.
 */
#include "quant.h"

#include <assert.h>
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "err.h"

/* Smallest scale the init and search functions return (all-zero or vanishing input). */
static const float quant_min_scale = 1e-8f;

/* Elements per block of the hot loops: a fixed trip count lets the compiler vectorise the inner
 * loops at -O2, and loading a block into a local array before storing it spares it alias checks
 * (out == x stays correct). Where a block accumulates in double, "#pragma GCC unroll 1" keeps
 * the lane loops loops: -O3 would otherwise unroll them completely before the loop vectoriser
 * runs, and the basic-block vectoriser gives up on the double accumulators. */
#define QUANT_BLOCK 8

/* Round to nearest integer, ties to even, for |v| <= 2^22 (larger values stay >= 2^22). */
#if defined(__FAST_MATH__) || FLT_EVAL_METHOD != 0
static inline float round_small(float v) { return rintf(v); }
#else
static inline float round_small(float v)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: its ulp is 1 on both sides of v */
    return (v + magic) - magic;
}
#endif

static inline uint32_t f2u(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float u2f(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static float max_abs(const float *x, long n)
{
    float m = 0.0f;
    for (long i = 0; i < n; i++)
        m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

/* x where cond holds, else +0, as a bit mask: no control flow for the vectoriser. */
static inline float keep_if(float x, int cond) { return u2f(f2u(x) & (0u - (uint32_t)cond)); }

/* The common tail of a backward block: per-lane double sums of dout * dq/ds, and dx += the
 * straight-through gradient (dx may be NULL). */
static inline void lanes_accumulate(double *acc, float *dx, const float *dout, const float *dqds,
                                    const float *pass)
{
#pragma GCC unroll 1
    for (int j = 0; j < QUANT_BLOCK; j++)
        acc[j] += (double)dout[j] * (double)dqds[j];
    if (!dx)
        return;
#pragma GCC unroll 1
    for (int j = 0; j < QUANT_BLOCK; j++)
        dx[j] += pass[j];
}

static double lanes_sum(const double *acc)
{
    double s = 0.0;
    for (int j = 0; j < QUANT_BLOCK; j++)
        s += acc[j];
    return s;
}

/* ---- integer (LSQ) ---- */

int_levels int_levels_make(int bits, int is_signed)
{
    assert(bits >= 1 && bits <= 8);
    bits = bits < 1 ? 1 : bits > 8 ? 8 : bits;
    int_levels l = {0, 0, 0};
    if (is_signed && bits == 1) {
        l.qn = 1;
        l.qp = 1;
        l.binary = 1;
    } else if (is_signed) {
        l.qn = 1 << (bits - 1);
        l.qp = l.qn - 1;
    } else {
        l.qn = 0;
        l.qp = (1 << bits) - 1;
    }
    return l;
}

/* The integer level of v = x / s, written as the definition reads. */
static inline float int_level_ref(float v, int_levels l)
{
    if (l.binary)
        return v < 0.0f ? -1.0f : 1.0f;
    if (v < (float)-l.qn)
        return (float)-l.qn;
    if (v > (float)l.qp)
        return (float)l.qp;
    return rintf(v);
}

void int_fake_quant_ref(float *out, const float *x, long n, float s, int_levels l)
{
    /* out[n], x[n] */
    assert(n >= 0 && s > 0.0f);
    const float inv = 1.0f / s;
    for (long i = 0; i < n; i++)
        out[i] = int_level_ref(x[i] * inv, l) * s;
}

static inline float int_q_fast(float x, float inv, float s, float lo, float hi)
{
    float v = x * inv;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return round_small(v) * s; /* clamp then round: same as round then clamp (integer bounds) */
}

void int_fake_quant(float *out, const float *x, long n, float s, int_levels l)
{
    /* out[n], x[n]; out may equal x */
    assert(n >= 0 && s > 0.0f);
    const float inv = 1.0f / s, lo = (float)-l.qn, hi = (float)l.qp;
    long i = 0;
    if (l.binary) {
        for (; i < n; i++)
            out[i] = x[i] * inv < 0.0f ? -s : s;
        return;
    }
    for (; i + QUANT_BLOCK <= n; i += QUANT_BLOCK) {
        float t[QUANT_BLOCK];
        for (int j = 0; j < QUANT_BLOCK; j++)
            t[j] = x[i + j];
        for (int j = 0; j < QUANT_BLOCK; j++)
            out[i + j] = int_q_fast(t[j], inv, s, lo, hi);
    }
    for (; i < n; i++)
        out[i] = int_q_fast(x[i], inv, s, lo, hi);
}

double int_fake_quant_backward_ref(float *dx, const float *dout, const float *x, long n, float s,
                                   int_levels l)
{
    /* dx[n] (or NULL), dout[n], x[n] */
    assert(n >= 0 && s > 0.0f);
    const float inv = 1.0f / s, lo = (float)-l.qn, hi = (float)l.qp;
    double gs = 0.0;
    for (long i = 0; i < n; i++) {
        float v = x[i] * inv, d;
        if (v <= lo)
            d = lo;
        else if (v >= hi)
            d = hi;
        else
            d = int_level_ref(v, l) - v;
        gs += (double)dout[i] * (double)d;
        if (dx && v >= lo && v <= hi)
            dx[i] += dout[i];
    }
    return gs;
}

/* dq/ds of one element (quant.h) for multi-level integers: round(clamp(v)) is the clamp value
 * outside (lo, hi), so subtracting v only inside gives -qn, round(v) - v, qp. */
static inline float int_dqds_fast(float v, float lo, float hi)
{
    float c = v < lo ? lo : v;
    c = c > hi ? hi : c;
    return round_small(c) - keep_if(v, (v > lo) & (v < hi));
}

double int_fake_quant_backward(float *dx, const float *dout, const float *x, long n, float s,
                               int_levels l)
{
    /* dx[n] (or NULL), dout[n], x[n] */
    assert(n >= 0 && s > 0.0f);
    const float inv = 1.0f / s, lo = (float)-l.qn, hi = (float)l.qp;
    double acc[QUANT_BLOCK] = {0}; /* one partial sum per lane, added in lane order */
    long i = 0;
    if (l.binary)
        return int_fake_quant_backward_ref(dx, dout, x, n, s, l);
    for (; i + QUANT_BLOCK <= n; i += QUANT_BLOCK) {
        float d[QUANT_BLOCK], pass[QUANT_BLOCK];
#pragma GCC unroll 1
        for (int j = 0; j < QUANT_BLOCK; j++) {
            float v = x[i + j] * inv;
            d[j] = int_dqds_fast(v, lo, hi);
            pass[j] = keep_if(dout[i + j], (v >= lo) & (v <= hi));
        }
        lanes_accumulate(acc, dx ? dx + i : NULL, dout + i, d, pass);
    }
    return lanes_sum(acc) +
           int_fake_quant_backward_ref(dx ? dx + i : NULL, dout + i, x + i, n - i, s, l);
}

float lsq_init_step(const float *x, long n, int_levels l)
{
    double sum = 0.0;
    for (long i = 0; i < n; i++)
        sum += fabs((double)x[i]);
    float st = n > 0 ? (float)(2.0 * sum / (double)n / sqrt((double)l.qp)) : 0.0f;
    return st >= quant_min_scale ? st : quant_min_scale;
}

float lsq_grad_scale(long n, int_levels l)
{
    double nq = (double)n * (double)l.qp;
    return nq > 0.0 ? (float)(1.0 / sqrt(nq)) : 1.0f;
}

/* ---- minifloat: formats ---- */

/* Exponent and mantissa widths as documented; the bias range keeps every quantum and the
 * largest value normal floats (the spec accepts biases in [-64, 64]). */
static int mf_fmt_ok(minifloat_fmt f)
{
    return f.e >= 1 && f.e <= 5 && f.m >= 0 && f.m <= 7 && f.bias >= -64 && f.bias <= 64;
}

int quant_fmt_valid(const quant_fmt *f)
{
    const minifloat_fmt *mf = &f->mf;
    int flags = (mf->ieee == 0 || mf->ieee == 1) && (mf->ocp == 0 || mf->ocp == 1) &&
                !(mf->ieee && mf->ocp) && (!mf->ieee || mf->e >= 2) &&
                (!mf->ocp || (mf->e == 4 && mf->m == 3));
    int residual = f->residual_bits >= 0 && f->residual_bits <= 8;
    switch (f->format) {
    case QFMT_FLOAT:
        return 1;
    case QFMT_INT:
        return f->bits >= 1 && f->bits <= 8 && residual;
    case QFMT_MINIFLOAT:
        return mf_fmt_ok(*mf) && flags && f->bits == 1 + mf->e + mf->m && residual;
    case QFMT_HFP8:
        return f->bits == 8 && residual;
    default:
        return 0;
    }
}

int minifloat_fmt_make(minifloat_fmt *f, int e, int m)
{
    if (!f || e < 1 || e > 5 || m < 0 || m > 7)
        return QD_EINVAL;
    f->e = e;
    f->m = m;
    f->bias = (1 << (e - 1)) - 1;
    f->ieee = 0;
    f->ocp = 0;
    return 0;
}

static int name_is(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

int minifloat_preset(minifloat_fmt *f, const char *name)
{
    static const struct {
        const char *name;
        int e, m, ieee, ocp;
    } presets[] = {
        {"e4m3", 4, 3, 0, 1}, {"e5m2", 5, 2, 1, 0}, {"e3m2", 3, 2, 0, 0},
        {"e2m3", 2, 3, 0, 0}, {"e2m1", 2, 1, 0, 0},
    };
    if (!f || !name)
        return QD_EINVAL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (!name_is(name, presets[i].name))
            continue;
        minifloat_fmt_make(f, presets[i].e, presets[i].m);
        f->ieee = presets[i].ieee;
        f->ocp = presets[i].ocp;
        return 0;
    }
    return QD_EINVAL;
}

/* Largest finite positive code: positive codes [0, max] are all valid, those above are not. */
static uint32_t mf_max_code(minifloat_fmt f)
{
    uint32_t pos = 1u << (f.e + f.m);
    if (f.ieee)
        return (((1u << f.e) - 1u) << f.m) - 1u;
    if (f.ocp)
        return pos - 2u;
    return pos - 1u;
}

int minifloat_bits(minifloat_fmt f) { return 1 + f.e + f.m; }

int minifloat_code_count(minifloat_fmt f) { return 1 << (1 + f.e + f.m); }

int minifloat_code_is_valid(minifloat_fmt f, uint32_t code)
{
    if (!mf_fmt_ok(f) || code >= (uint32_t)minifloat_code_count(f))
        return 0;
    return (code & ((1u << (f.e + f.m)) - 1u)) <= mf_max_code(f);
}

float minifloat_decode(minifloat_fmt f, uint32_t code)
{
    assert(mf_fmt_ok(f));
    if (code >= (uint32_t)minifloat_code_count(f))
        return NAN;
    uint32_t mag = code & ((1u << (f.e + f.m)) - 1u), man = mag & ((1u << f.m) - 1u);
    int ex = (int)(mag >> f.m), neg = (int)(code >> (f.e + f.m));
    double v;
    if (mag > mf_max_code(f))
        v = (f.ieee && man == 0) ? INFINITY : NAN;
    else if (ex == 0)
        v = ldexp((double)man, 1 - f.bias - f.m);
    else
        v = ldexp((double)((1u << f.m) + man), ex - f.bias - f.m);
    return (float)(neg ? -v : v);
}

float minifloat_max(minifloat_fmt f) { return minifloat_decode(f, mf_max_code(f)); }

/* ---- minifloat: rounding ---- */

uint32_t minifloat_encode(minifloat_fmt f, float x)
{
    assert(mf_fmt_ok(f));
    if (isnan(x))
        return 0;
    uint32_t max_code = mf_max_code(f), mag;
    double a = fabs((double)x);
    if (a >= (double)minifloat_max(f)) {
        mag = max_code;
    } else {
        /* a = t * 2^(ee - m) with t rounded to an integer; ee is a's binade, at least the
         * smallest normal one. t in [2^m, 2^(m+1)] carries into the exponent field on its
         * own, and below the normal range t is the subnormal mantissa. */
        int k, emin = 1 - f.bias;
        frexp(a, &k);
        int ee = (a == 0.0 || k - 1 < emin) ? emin : k - 1;
        double t = rint(ldexp(a, f.m - ee));
        mag = ((uint32_t)(ee + f.bias) << f.m) + (uint32_t)t - (1u << f.m);
        mag = mag > max_code ? max_code : mag;
    }
    if (mag != 0 && signbit(x))
        mag |= 1u << (f.e + f.m);
    return mag;
}

/* What the rounding loops need of a format, computed once per call. */
typedef struct mf_params {
    int m;          /* mantissa bits */
    int emin, emax; /* binade range of the quanta: smallest normal, and the largest value's */
    float max;      /* largest finite value */
    float vcap;     /* x / quantum beyond this always saturates: 2^(m+2) */
} mf_params;

static mf_params mf_params_of(minifloat_fmt f)
{
    assert(mf_fmt_ok(f));
    mf_params p;
    uint32_t max_code = mf_max_code(f), ex = max_code >> f.m;
    uint32_t man = max_code & ((1u << f.m) - 1u);
    p.m = f.m;
    p.emin = 1 - f.bias;
    p.emax = (ex == 0 ? 1 : (int)ex) - f.bias;
    /* the largest value as float bits: normal, or (E1 IEEE-like) subnormal or zero */
    if (ex > 0)
        p.max = u2f(((uint32_t)(p.emax + 127) << 23) | (man << (23 - f.m)));
    else
        p.max = (float)man * u2f((uint32_t)(p.emin - f.m + 127) << 23);
    p.vcap = (float)(1 << (f.m + 2));
    return p;
}

/* |x| / quantum, where the quantum is that of x's binade clamped to the format's binades, a
 * power of two built from bits; capped at vcap (beyond it everything saturates). */
static inline float mf_scaled(const mf_params *p, uint32_t ab, float *q)
{
    int e = (int)(ab >> 23) - 127;
    e = e < p->emin ? p->emin : e;
    e = e > p->emax ? p->emax : e;
    int qe = e - p->m;
    *q = u2f((uint32_t)(127 + qe) << 23);
    float v = u2f(ab) * u2f((uint32_t)(127 - qe) << 23);
    return v > p->vcap ? p->vcap : v;
}

/* Saturate a magnitude and give it x's sign, unless it is zero (+0, as encode gives). */
static inline float mf_finish(const mf_params *p, float r, uint32_t sign)
{
    r = r > p->max ? p->max : r;
    uint32_t mag = f2u(r);
    return u2f(mag | (sign & (0u - (uint32_t)(mag != 0))));
}

static inline float mf_round_fast(const mf_params *p, float x)
{
    uint32_t b = f2u(x), sign = b & 0x80000000u;
    float q, v = mf_scaled(p, b ^ sign, &q);
    return mf_finish(p, round_small(v) * q, sign);
}

float minifloat_round(minifloat_fmt f, float x)
{
    mf_params p = mf_params_of(f);
    return mf_round_fast(&p, x);
}

static inline float mf_round_stochastic(const mf_params *p, float x, float u)
{
    uint32_t b = f2u(x), sign = b & 0x80000000u;
    float q, v = mf_scaled(p, b ^ sign, &q), t = round_small(v);
    float lo = t - keep_if(1.0f, t > v); /* floor, v >= 0 */
    /* up with probability v - lo (exact): the mean is v, so the rounding is unbiased below the
     * largest value, where both neighbours are representable. Arithmetic on the comparisons
     * rather than branches: the branch on u would be mispredicted half the time. */
    return mf_finish(p, (lo + keep_if(1.0f, u < v - lo)) * q, sign);
}

float minifloat_round_stochastic(minifloat_fmt f, float x, float u)
{
    mf_params p = mf_params_of(f);
    return mf_round_stochastic(&p, x, u);
}

/* ---- minifloat: scaled fake quantization ---- */

void minifloat_fake_quant(float *out, const float *x, long n, float s, minifloat_fmt f, rng *r)
{
    /* out[n], x[n]; out may equal x */
    assert(n >= 0 && s > 0.0f);
    const mf_params p = mf_params_of(f);
    const float inv = 1.0f / s;
    long i = 0;
    if (r) {
        for (; i < n; i++)
            out[i] = mf_round_stochastic(&p, x[i] * inv, rng_uniform(r)) * s;
        return;
    }
    for (; i + QUANT_BLOCK <= n; i += QUANT_BLOCK) {
        float t[QUANT_BLOCK];
        for (int j = 0; j < QUANT_BLOCK; j++)
            t[j] = x[i + j];
        for (int j = 0; j < QUANT_BLOCK; j++)
            out[i + j] = mf_round_fast(&p, t[j] * inv) * s;
    }
    for (; i < n; i++)
        out[i] = mf_round_fast(&p, x[i] * inv) * s;
}

double minifloat_fake_quant_backward_ref(float *dx, const float *dout, const float *x, long n,
                                         float s, minifloat_fmt f)
{
    /* dx[n] (or NULL), dout[n], x[n] */
    assert(n >= 0 && s > 0.0f);
    const float inv = 1.0f / s, max = minifloat_max(f);
    double gs = 0.0;
    for (long i = 0; i < n; i++) {
        float v = x[i] * inv, d;
        if (v < -max)
            d = -max;
        else if (v > max)
            d = max;
        else
            d = minifloat_decode(f, minifloat_encode(f, v)) - v;
        gs += (double)dout[i] * (double)d;
        if (dx && fabsf(v) <= max)
            dx[i] += dout[i];
    }
    return gs;
}

double minifloat_fake_quant_backward(float *dx, const float *dout, const float *x, long n, float s,
                                     minifloat_fmt f)
{
    /* dx[n] (or NULL), dout[n], x[n] */
    assert(n >= 0 && s > 0.0f);
    const mf_params p = mf_params_of(f);
    const float inv = 1.0f / s;
    double acc[QUANT_BLOCK] = {0}; /* one partial sum per lane, added in lane order */
    long i = 0;
    for (; i + QUANT_BLOCK <= n; i += QUANT_BLOCK) {
        float d[QUANT_BLOCK], pass[QUANT_BLOCK];
        /* round(v) is +-max beyond the range: subtracting v only inside gives the +-max terms */
#pragma GCC unroll 1
        for (int j = 0; j < QUANT_BLOCK; j++) {
            float v = x[i + j] * inv;
            int inside = fabsf(v) <= p.max;
            d[j] = mf_round_fast(&p, v) - keep_if(v, inside);
            pass[j] = keep_if(dout[i + j], inside);
        }
        lanes_accumulate(acc, dx ? dx + i : NULL, dout + i, d, pass);
    }
    return lanes_sum(acc) +
           minifloat_fake_quant_backward_ref(dx ? dx + i : NULL, dout + i, x + i, n - i, s, f);
}

/* ---- MMSE clipping ---- */

/* Above this many values the search runs on every k-th value; the reported error uses all. */
#define MMSE_FULL_N (1L << 20)
#define MMSE_GRID 100
#define MMSE_C_LO 0.05
#define MMSE_C_HI 1.0
#define MMSE_GOLDEN_ITERS 30

/* Sum of squared errors of quantizing x[0], x[stride], ... with scale a. */
typedef double (*sq_err_fn)(const void *ctx, const float *x, long n, long stride, float a);

typedef struct mmse_problem {
    sq_err_fn err;
    const void *ctx;
    const float *x;
    long n, stride;
    float a1; /* the scale at clipping ratio 1 */
} mmse_problem;

static double mmse_eval(const mmse_problem *pb, double c, double *best_c, double *best_e)
{
    double e = pb->err(pb->ctx, pb->x, pb->n, pb->stride, (float)(c * pb->a1));
    if (e < *best_e) {
        *best_e = e;
        *best_c = c;
    }
    return e;
}

/* Grid over c in [MMSE_C_LO, MMSE_C_HI], then golden-section search between the best point's
 * grid neighbours; returns the best ratio seen. */
static double mmse_search(const mmse_problem *pb)
{
    const double dc = (MMSE_C_HI - MMSE_C_LO) / (MMSE_GRID - 1), g = 0.6180339887498949;
    double best_c = MMSE_C_HI, best_e = INFINITY;
    for (int k = 0; k < MMSE_GRID; k++)
        mmse_eval(pb, MMSE_C_LO + dc * k, &best_c, &best_e);
    double lo = fmax(best_c - dc, MMSE_C_LO), hi = fmin(best_c + dc, MMSE_C_HI);
    double c1 = hi - g * (hi - lo), c2 = lo + g * (hi - lo);
    double e1 = mmse_eval(pb, c1, &best_c, &best_e), e2 = mmse_eval(pb, c2, &best_c, &best_e);
    for (int it = 0; it < MMSE_GOLDEN_ITERS; it++) {
        if (e1 <= e2) {
            hi = c2;
            c2 = c1;
            e2 = e1;
            c1 = hi - g * (hi - lo);
            e1 = mmse_eval(pb, c1, &best_c, &best_e);
        } else {
            lo = c1;
            c1 = c2;
            e1 = e2;
            c2 = lo + g * (hi - lo);
            e2 = mmse_eval(pb, c2, &best_c, &best_e);
        }
    }
    return best_c;
}

static float mmse_run(sq_err_fn err, const void *ctx, const float *x, long n, float units,
                      double *mse)
{
    float amax = max_abs(x, n);
    if (n <= 0 || !(amax > 0.0f) || !(units > 0.0f)) {
        if (mse)
            *mse = n > 0 ? err(ctx, x, n, 1, quant_min_scale) / (double)n : 0.0;
        return quant_min_scale;
    }
    long stride = n > MMSE_FULL_N ? (n + MMSE_FULL_N - 1) / MMSE_FULL_N : 1;
    mmse_problem pb = {err, ctx, x, n, stride, amax / units};
    float a = (float)(mmse_search(&pb) * pb.a1);
    a = a >= quant_min_scale ? a : quant_min_scale;
    if (mse)
        *mse = err(ctx, x, n, 1, a) / (double)n;
    return a;
}

static double int_sq_err(const void *ctx, const float *x, long n, long stride, float a)
{
    const int_levels l = *(const int_levels *)ctx;
    const float inv = 1.0f / a;
    double e = 0.0;
    for (long i = 0; i < n; i += stride) {
        double d = (double)x[i] - (double)(int_level_ref(x[i] * inv, l) * a);
        e += d * d;
    }
    return e;
}

static double mf_sq_err(const void *ctx, const float *x, long n, long stride, float a)
{
    const mf_params *p = ctx;
    const float inv = 1.0f / a;
    double e = 0.0;
    for (long i = 0; i < n; i += stride) {
        double d = (double)x[i] - (double)(mf_round_fast(p, x[i] * inv) * a);
        e += d * d;
    }
    return e;
}

float mmse_int_scale(const float *x, long n, int_levels l, double *mse)
{
    return mmse_run(int_sq_err, &l, x, n, (float)l.qp, mse);
}

float mmse_minifloat_scale(const float *x, long n, minifloat_fmt f, double *mse)
{
    mf_params p = mf_params_of(f);
    return mmse_run(mf_sq_err, &p, x, n, p.max, mse);
}

float maxabs_int_scale(const float *x, long n, int_levels l)
{
    float a = l.qp > 0 ? max_abs(x, n) / (float)l.qp : 0.0f;
    return a >= quant_min_scale ? a : quant_min_scale;
}
