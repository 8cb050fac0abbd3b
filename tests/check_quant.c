/*
 * check_quant.c: the quantizers of core/quant against their definitions.
 *
 * Integers: the level table, the number of distinct levels, idempotence, clamping, ties to even,
 * the optimised kernels against their plain references, the straight-through mask and the LSQ
 * step gradient (against its formula and against finite differences). Minifloats: every code of
 * every ExMy format with 1 + E + M <= 8 (plus the E4M3/E5M2 presets, formats with a given bias or
 * reserved codes, and wider formats) against the value formula written here with ldexp, encoding
 * against a brute-force nearest search, the fast rounding against decode(encode(x)) on a dense
 * sweep, ties, saturation, unbiased stochastic rounding, and the scaled kernels with their
 * gradients. MMSE: the searched clipping beats max-abs on heavy-tailed data, is as good as a fine
 * independent grid, and stays near max-abs on uniform data.
 */
#include "tests/check_main.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/quant.h"
#include "core/rng.h"

/* Relative slack of the finite-difference step-gradient checks: the differences are taken on
 * exactly representable steps, so only float rounding of v = x / s remains. */
#define FD_REL_TOL 1e-6
/* Stochastic rounding: the mean of SR_DRAWS draws lies within SR_SIGMAS standard errors of x. */
#define SR_DRAWS 200000
#define SR_SIGMAS 4.0
/* MMSE: within this factor of the best error of an independent fine grid of clipping ratios. */
#define MMSE_GRID_SLACK 1.01
/* MMSE on heavy-tailed data: error at most this fraction of the max-abs error. */
#define MMSE_HEAVY_GAIN 0.8
/* MMSE on uniform data: scale within this relative distance of max-abs, error within this
 * fraction of max-abs error. */
#define MMSE_UNIFORM_SCALE_TOL 0.15
#define MMSE_UNIFORM_MSE_FLOOR 0.8

/* ---- helpers ---- */

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float *fbuf(long n)
{
    float *p = calloc((size_t)n, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float laplace(rng *r)
{
    float sign = rng_uniform(r) < 0.5f ? -1.0f : 1.0f;
    return sign * -logf(1.0f - rng_uniform(r));
}

static float student_t3(rng *r)
{
    for (;;) {
        float a = rng_normal(r), b = rng_normal(r), c = rng_normal(r);
        float chi2 = a * a + b * b + c * c;
        if (chi2 > 1e-12f)
            return rng_normal(r) / sqrtf(chi2 / 3.0f);
    }
}

/* ---- integer: levels ---- */

START_TEST(test_int_levels_table)
{
    static const struct {
        int bits, is_signed, qn, qp, binary;
    } t[] = {
        {1, 1, 1, 1, 1},   {1, 0, 0, 1, 0},   {2, 1, 2, 1, 0},     {2, 0, 0, 3, 0},
        {3, 1, 4, 3, 0},   {3, 0, 0, 7, 0},   {4, 1, 8, 7, 0},     {4, 0, 0, 15, 0},
        {5, 1, 16, 15, 0}, {5, 0, 0, 31, 0},  {6, 1, 32, 31, 0},   {6, 0, 0, 63, 0},
        {7, 1, 64, 63, 0}, {7, 0, 0, 127, 0}, {8, 1, 128, 127, 0}, {8, 0, 0, 255, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int_levels l = int_levels_make(t[i].bits, t[i].is_signed);
        ck_assert_int_eq(l.qn, t[i].qn);
        ck_assert_int_eq(l.qp, t[i].qp);
        ck_assert_int_eq(l.binary, t[i].binary);
    }
}
END_TEST

/* A dense ramp across the whole range and beyond hits exactly 2^b distinct values. */
START_TEST(test_int_distinct_levels)
{
    const long n = 20000;
    const float s = 0.1f;
    float *x = fbuf(n), *q = fbuf(n);
    for (int b = 1; b <= 8; b++) {
        for (int sg = 0; sg <= 1; sg++) {
            int_levels l = int_levels_make(b, sg);
            float lo = -(float)(l.qn + 2) * s, hi = (float)(l.qp + 2) * s;
            for (long i = 0; i < n; i++)
                x[i] = lo + (hi - lo) * (float)i / (float)(n - 1);
            int_fake_quant(q, x, n, s, l);
            qsort(q, (size_t)n, sizeof *q, cmp_float);
            long distinct = 1;
            for (long i = 1; i < n; i++)
                distinct += q[i] != q[i - 1];
            ck_assert_msg(distinct == 1L << b, "b=%d signed=%d: %ld levels", b, sg, distinct);
            ck_assert_float_eq(q[0], -(float)l.qn * s);
            ck_assert_float_eq(q[n - 1], (float)l.qp * s);
        }
    }
    free(x);
    free(q);
}
END_TEST

START_TEST(test_int_idempotent)
{
    const long n = 4099;
    float *x = fbuf(n), *q = fbuf(n), *qq = fbuf(n);
    rng r;
    rng_seed(&r, 11);
    for (long i = 0; i < n; i++)
        x[i] = 30.0f * (rng_uniform(&r) - 0.5f);
    for (int b = 1; b <= 8; b++) {
        for (int sg = 0; sg <= 1; sg++) {
            int_levels l = int_levels_make(b, sg);
            int_fake_quant(q, x, n, 0.1f, l);
            int_fake_quant(qq, q, n, 0.1f, l);
            for (long i = 0; i < n; i++)
                if (q[i] != qq[i])
                    ck_abort_msg("b=%d signed=%d x=%g", b, sg, (double)x[i]);
        }
    }
    free(x);
    free(q);
    free(qq);
}
END_TEST

START_TEST(test_int_clamp)
{
    const float s = 0.3f;
    for (int b = 2; b <= 8; b++) {
        for (int sg = 0; sg <= 1; sg++) {
            int_levels l = int_levels_make(b, sg);
            float x[] = {-1e30f, -(float)(l.qn + 0.6) * s, -INFINITY,
                         1e30f,  (float)(l.qp + 0.6) * s,  INFINITY};
            float q[6];
            int_fake_quant(q, x, 6, s, l);
            for (int i = 0; i < 3; i++)
                ck_assert_float_eq(q[i], -(float)l.qn * s);
            for (int i = 3; i < 6; i++)
                ck_assert_float_eq(q[i], (float)l.qp * s);
        }
    }
}
END_TEST

/* With a power-of-two step, x = (k + 1/2) s is an exact tie; it goes to the even level. */
START_TEST(test_int_ties_even)
{
    const float s = 0.25f;
    int_levels l = int_levels_make(8, 1);
    for (int k = -l.qn; k < l.qp; k++) {
        float x = ((float)k + 0.5f) * s, q;
        int even = (k % 2 == 0) ? k : k + 1;
        int_fake_quant(&q, &x, 1, s, l);
        ck_assert_msg(q == (float)even * s, "k=%d: got %g", k, (double)q);
        float above = nextafterf(x, INFINITY), below = nextafterf(x, -INFINITY), qa, qb;
        int_fake_quant(&qa, &above, 1, s, l);
        int_fake_quant(&qb, &below, 1, s, l);
        ck_assert_float_eq(qa, (float)(k + 1) * s);
        ck_assert_float_eq(qb, (float)k * s);
    }
}
END_TEST

START_TEST(test_int_fast_matches_ref)
{
    const long n = 10007; /* not a multiple of the kernel's block */
    const float steps[] = {0.1f, 0.37f, 1.0f / 3.0f, 0.25f, 3.0f};
    float *x = fbuf(n), *q = fbuf(n), *qr = fbuf(n);
    rng r;
    rng_seed(&r, 12);
    for (int b = 1; b <= 8; b++) {
        for (int sg = 0; sg <= 1; sg++) {
            int_levels l = int_levels_make(b, sg);
            for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
                float s = steps[k], span = (float)(l.qn + l.qp + 6) * s;
                for (long i = 0; i < n; i++)
                    x[i] = (i % 3 == 0) ? ((float)((int)(i % 600) - 300) + 0.5f) * s
                                        : span * (rng_uniform(&r) - 0.5f);
                int_fake_quant(q, x, n, s, l);
                int_fake_quant_ref(qr, x, n, s, l);
                for (long i = 0; i < n; i++)
                    if (q[i] != qr[i])
                        ck_abort_msg("b=%d sg=%d s=%g x=%.9g: %g vs %g", b, sg, (double)s,
                                     (double)x[i], (double)q[i], (double)qr[i]);
                memcpy(qr, x, (size_t)n * sizeof *x);
                int_fake_quant(qr, qr, n, s, l); /* in place */
                ck_assert_int_eq(memcmp(q, qr, (size_t)n * sizeof *q), 0);
            }
        }
    }
    free(x);
    free(q);
    free(qr);
}
END_TEST

/* ---- integer: gradients ---- */

/* The step gradient as quant.h states it, per element, with v = x * (1 / s). */
static double lsq_grad_formula(const float *dout, const float *x, long n, float s, int_levels l)
{
    const float inv = 1.0f / s;
    double g = 0.0;
    for (long i = 0; i < n; i++) {
        float v = x[i] * inv, level = l.binary ? (v < 0.0f ? -1.0f : 1.0f) : rintf(v), d;
        if (v <= (float)-l.qn)
            d = (float)-l.qn;
        else if (v >= (float)l.qp)
            d = (float)l.qp;
        else
            d = level - v;
        g += (double)dout[i] * d;
    }
    return g;
}

START_TEST(test_int_ste_mask)
{
    const float s = 0.25f;
    for (int b = 1; b <= 8; b++) {
        for (int sg = 0; sg <= 1; sg++) {
            int_levels l = int_levels_make(b, sg);
            float lo = -(float)l.qn * s, hi = (float)l.qp * s;
            float x[] = {lo - 1.0f, lo, lo + 0.1f, 0.0f, hi - 0.1f, hi, hi + 0.01f, 1e30f};
            int inside[] = {0, 1, 1, 1, 1, 1, 0, 0};
            float dout[8], dx[8];
            for (int i = 0; i < 8; i++) {
                dout[i] = 0.5f + (float)i;
                dx[i] = 1.0f; /* backward accumulates */
            }
            double g = int_fake_quant_backward(dx, dout, x, 8, s, l);
            for (int i = 0; i < 8; i++)
                ck_assert_float_eq(dx[i], 1.0f + (inside[i] ? dout[i] : 0.0f));
            ck_assert_double_eq(g, int_fake_quant_backward(NULL, dout, x, 8, s, l));
            ck_assert_double_eq_tol(g, lsq_grad_formula(dout, x, 8, s, l), 1e-12);
        }
    }
}
END_TEST

START_TEST(test_lsq_grad_formula)
{
    const long n = 5003;
    float *x = fbuf(n), *dout = fbuf(n);
    rng r;
    rng_seed(&r, 13);
    for (int b = 1; b <= 8; b++) {
        for (int sg = 0; sg <= 1; sg++) {
            int_levels l = int_levels_make(b, sg);
            const float s = 0.07f;
            for (long i = 0; i < n; i++) {
                x[i] = (float)(l.qn + l.qp + 4) * s * (rng_uniform(&r) - 0.5f);
                dout[i] = rng_normal(&r);
            }
            double g = int_fake_quant_backward(NULL, dout, x, n, s, l);
            double want = lsq_grad_formula(dout, x, n, s, l);
            ck_assert_double_eq_tol(g, want, 1e-9 * (1.0 + fabs(want)));
        }
    }
    free(x);
    free(dout);
}
END_TEST

/* The blocked backward kernels against their plain loops: the same dx bit for bit, the same
 * step gradient up to summation order. */
#define BWD_SUM_TOL 1e-12

static void check_bwd_matches_ref(double (*fast)(float *, const float *, const float *, long, float,
                                                 const void *),
                                  double (*ref)(float *, const float *, const float *, long, float,
                                                const void *),
                                  const void *cfg, float span, float s, float unit, rng *r)
{
    enum { N = 1003 }; /* not a multiple of the kernels' block */
    float x[N], dout[N], dx[N], dxr[N];
    double mag = 0.0;
    for (int i = 0; i < N; i++) {
        x[i] = span * (rng_uniform(r) - 0.5f);
        dout[i] = rng_normal(r);
        dx[i] = dxr[i] = 0.5f;
        mag += fabs((double)dout[i]) * (fabs((double)x[i]) / s + unit);
    }
    double g = fast(dx, dout, x, N, s, cfg), gr = ref(dxr, dout, x, N, s, cfg);
    ck_assert_int_eq(memcmp(dx, dxr, sizeof dx), 0);
    ck_assert_msg(fabs(g - gr) <= BWD_SUM_TOL * mag, "%.17g vs %.17g", g, gr);
    ck_assert_double_eq(fast(NULL, dout, x, N, s, cfg), g);
}

static double bwd_int_ref(float *dx, const float *dout, const float *x, long n, float s,
                          const void *cfg)
{
    return int_fake_quant_backward_ref(dx, dout, x, n, s, *(const int_levels *)cfg);
}

static double bwd_mf_ref(float *dx, const float *dout, const float *x, long n, float s,
                         const void *cfg)
{
    return minifloat_fake_quant_backward_ref(dx, dout, x, n, s, *(const minifloat_fmt *)cfg);
}

static double bwd_int(float *dx, const float *dout, const float *x, long n, float s,
                      const void *cfg)
{
    return int_fake_quant_backward(dx, dout, x, n, s, *(const int_levels *)cfg);
}

static double bwd_mf(float *dx, const float *dout, const float *x, long n, float s, const void *cfg)
{
    return minifloat_fake_quant_backward(dx, dout, x, n, s, *(const minifloat_fmt *)cfg);
}

START_TEST(test_int_backward_matches_ref)
{
    rng r;
    rng_seed(&r, 15);
    const float steps[] = {0.1f, 0.37f, 0.25f};
    for (int b = 1; b <= 8; b++)
        for (int sg = 0; sg <= 1; sg++)
            for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
                int_levels l = int_levels_make(b, sg);
                float span = (float)(l.qn + l.qp + 6) * steps[k];
                check_bwd_matches_ref(bwd_int, bwd_int_ref, &l, span, steps[k], (float)l.qp, &r);
            }
}
END_TEST

typedef void (*fq_fn)(float *out, const float *x, long n, float s, const void *cfg);

static void fq_int(float *out, const float *x, long n, float s, const void *cfg)
{
    int_fake_quant(out, x, n, s, *(const int_levels *)cfg);
}

static void fq_mf(float *out, const float *x, long n, float s, const void *cfg)
{
    minifloat_fake_quant(out, x, n, s, *(const minifloat_fmt *)cfg, NULL);
}

/* Fill x[n] with values whose quantized level (q / s) is the same at s - h, s and s + h, so that
 * sum(dout * q(x; s)) is linear in s over [s - h, s + h]. */
static void fd_pick_inputs(float *x, long n, float s, float h, float span, fq_fn fq,
                           const void *cfg, rng *r)
{
    for (long i = 0; i < n;) {
        float xi = span * (rng_uniform(r) - 0.5f), q0, q1, q2;
        float s0 = s - h, s2 = s + h;
        fq(&q0, &xi, 1, s0, cfg);
        fq(&q1, &xi, 1, s, cfg);
        fq(&q2, &xi, 1, s2, cfg);
        if (q0 / s0 == q1 / s && q2 / s2 == q1 / s)
            x[i++] = xi;
    }
}

static double dot_q(fq_fn fq, const void *cfg, const float *dout, const float *x, float *q, long n,
                    float s)
{
    double acc = 0.0;
    fq(q, x, n, s, cfg);
    for (long i = 0; i < n; i++)
        acc += (double)dout[i] * q[i];
    return acc;
}

/*
 * Where no element changes level, the derivative of sum(dout * q(x; s)) in s is sum(dout * level)
 * (the finite difference measures it exactly: s +- h are exact and so is every level * s). The
 * LSQ gradient also passes the gradient through round (straight-through, d round(v)/dv = 1),
 * which adds s * dv/ds = -v for every element in range: it is the finite difference minus
 * sum(dx_i * x_i) / s, with dx the straight-through input gradient of the same call.
 */
static void check_step_grad_fd(fq_fn fq, const void *cfg,
                               double (*bwd)(float *, const float *, const float *, long, float,
                                             const void *),
                               float span, float unit, rng *r)
{
    const long n = 256;
    const float s = 0.25f, h = 1.0f / 4096.0f;
    float x[256], dout[256], dx[256], q[256];
    fd_pick_inputs(x, n, s, h, span, fq, cfg, r);
    double ste = 0.0, scale = 0.0;
    for (long i = 0; i < n; i++) {
        dout[i] = rng_normal(r);
        dx[i] = 0.0f;
    }
    double g = bwd(dx, dout, x, n, s, cfg);
    for (long i = 0; i < n; i++) {
        ste += (double)dx[i] * x[i] / s;
        scale += fabs((double)dout[i]) * (fabs((double)x[i]) / s + unit);
    }
    double fd =
        (dot_q(fq, cfg, dout, x, q, n, s + h) - dot_q(fq, cfg, dout, x, q, n, s - h)) / (2.0 * h);
    ck_assert_msg(fabs(g - (fd - ste)) <= FD_REL_TOL * scale, "step gradient %.9g, fd %.9g - %.9g",
                  g, fd, ste);
}

START_TEST(test_lsq_grad_fd)
{
    rng r;
    rng_seed(&r, 14);
    for (int b = 1; b <= 8; b++) {
        for (int sg = 0; sg <= 1; sg++) {
            int_levels l = int_levels_make(b, sg);
            check_step_grad_fd(fq_int, &l, bwd_int, (float)(l.qn + l.qp + 4) * 0.25f, (float)l.qp,
                               &r);
        }
    }
}
END_TEST

START_TEST(test_lsq_init_and_scale)
{
    const float x[] = {1.0f, -2.0f, 3.0f, -4.0f};
    int_levels l4 = int_levels_make(4, 1), b1 = int_levels_make(1, 1);
    ck_assert_float_eq_tol(lsq_init_step(x, 4, l4), 2.0f * 2.5f / sqrtf(7.0f), 1e-6f);
    ck_assert_float_eq_tol(lsq_init_step(x, 4, b1), 5.0f, 1e-6f);
    ck_assert_float_eq_tol(lsq_grad_scale(1000, l4), 1.0f / sqrtf(7000.0f), 1e-9f);
    ck_assert_float_eq_tol(lsq_grad_scale(10, int_levels_make(8, 0)), 1.0f / sqrtf(2550.0f), 1e-9f);
    const float zeros[3] = {0.0f, -0.0f, 0.0f};
    float st = lsq_init_step(zeros, 3, l4);
    ck_assert(st > 0.0f && isfinite(st));
    st = lsq_init_step(zeros, 0, l4);
    ck_assert(st > 0.0f && isfinite(st));
}
END_TEST

/* ---- minifloat: formats and codes ---- */

/* Every saturating ExMy with E in 1..5, M in 0..7, 1 + E + M <= 8, the E4M3 and E5M2 presets,
 * and formats with the spec's other options: a given bias (the spec allows -64..64), IEEE-like
 * or OCP-style reserved codes on other widths. */
static int test_formats(minifloat_fmt *out)
{
    static const minifloat_fmt custom[] = {
        {3, 2, -5, 0, 0}, {2, 2, 10, 1, 0}, {1, 3, 0, 1, 0}, {5, 2, -64, 0, 0},
        {5, 2, 64, 0, 0}, {4, 0, 7, 0, 1},  {3, 4, 0, 1, 0},
    };
    int k = 0;
    for (int e = 1; e <= 5; e++)
        for (int m = 0; m <= 7 && 1 + e + m <= 8; m++)
            ck_assert_int_eq(minifloat_fmt_make(&out[k++], e, m), 0);
    ck_assert_int_eq(minifloat_preset(&out[k++], "e4m3"), 0);
    ck_assert_int_eq(minifloat_preset(&out[k++], "e5m2"), 0);
    for (size_t i = 0; i < sizeof custom / sizeof custom[0]; i++)
        out[k++] = custom[i];
    return k;
}
#define MAX_TEST_FORMATS 40

/* The value of a code, from the definition; valid codes only. */
static double ref_value(minifloat_fmt f, uint32_t code)
{
    uint32_t npos = 1u << (f.e + f.m), mag = code & (npos - 1), ex = mag >> f.m;
    uint32_t man = mag & ((1u << f.m) - 1);
    double v = ex == 0 ? ldexp((double)man / (double)(1u << f.m), 1 - f.bias)
                       : ldexp(1.0 + (double)man / (double)(1u << f.m), (int)ex - f.bias);
    return (code & npos) ? -v : v;
}

static int ref_valid(minifloat_fmt f, uint32_t code)
{
    uint32_t npos = 1u << (f.e + f.m), mag = code & (npos - 1), ex = mag >> f.m;
    uint32_t man = mag & ((1u << f.m) - 1), top = (1u << f.e) - 1, ones = (1u << f.m) - 1;
    if (code >= 2 * npos)
        return 0;
    if (f.ieee && ex == top)
        return 0;
    if (f.ocp && ex == top && man == ones)
        return 0;
    return 1;
}

static uint32_t ref_max_code(minifloat_fmt f)
{
    uint32_t c = (1u << (f.e + f.m)) - 1;
    while (!ref_valid(f, c))
        c--;
    return c;
}

START_TEST(test_mf_make)
{
    static const int bad[][2] = {{0, 3}, {6, 1}, {3, -1}, {3, 8}, {-1, 0}};
    minifloat_fmt f;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(minifloat_fmt_make(&f, bad[i][0], bad[i][1]), QD_EINVAL);
    static const int bias[] = {0, 0, 1, 3, 7, 15};
    for (int e = 1; e <= 5; e++) {
        for (int m = 0; m <= 7; m++) {
            ck_assert_int_eq(minifloat_fmt_make(&f, e, m), 0);
            ck_assert_int_eq(f.bias, bias[e]);
            ck_assert(!f.ieee && !f.ocp);
            ck_assert_int_eq(minifloat_bits(f), 1 + e + m);
            ck_assert_int_eq(minifloat_code_count(f), 1 << (1 + e + m));
        }
    }
}
END_TEST

START_TEST(test_mf_presets)
{
    static const struct {
        const char *name;
        int e, m, bias, ieee, ocp, valid;
        float max;
    } t[] = {
        {"e4m3", 4, 3, 7, 0, 1, 254, 448.0f},    {"E4M3", 4, 3, 7, 0, 1, 254, 448.0f},
        {"e5m2", 5, 2, 15, 1, 0, 248, 57344.0f}, {"e3m2", 3, 2, 3, 0, 0, 64, 28.0f},
        {"e2m3", 2, 3, 1, 0, 0, 64, 7.5f},       {"e2m1", 2, 1, 1, 0, 0, 16, 6.0f},
    };
    minifloat_fmt f;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ck_assert_int_eq(minifloat_preset(&f, t[i].name), 0);
        ck_assert(f.e == t[i].e && f.m == t[i].m && f.bias == t[i].bias);
        ck_assert(f.ieee == t[i].ieee && f.ocp == t[i].ocp);
        ck_assert_float_eq(minifloat_max(f), t[i].max);
        int valid = 0;
        for (uint32_t c = 0; c < (uint32_t)minifloat_code_count(f); c++)
            valid += minifloat_code_is_valid(f, c);
        ck_assert_int_eq(valid, t[i].valid);
    }
    ck_assert_int_eq(minifloat_preset(&f, "fp8"), QD_EINVAL);
    ck_assert_int_eq(minifloat_preset(&f, "e4m3x"), QD_EINVAL);
    ck_assert_int_eq(minifloat_preset(&f, ""), QD_EINVAL);
    ck_assert_int_eq(minifloat_preset(&f, NULL), QD_EINVAL);
    /* the reserved codes */
    minifloat_preset(&f, "e4m3");
    ck_assert(isnan(minifloat_decode(f, 0x7F)) && isnan(minifloat_decode(f, 0xFF)));
    ck_assert_float_eq(minifloat_decode(f, 0x7E), 448.0f);
    minifloat_preset(&f, "e5m2");
    ck_assert(isinf(minifloat_decode(f, 0x7C)) && isnan(minifloat_decode(f, 0x7D)));
    ck_assert_float_eq(minifloat_decode(f, 0x7B), 57344.0f);
}
END_TEST

START_TEST(test_mf_decode_every_code)
{
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        ck_assert_float_eq(minifloat_max(f), (float)ref_value(f, ref_max_code(f)));
        for (uint32_t c = 0; c < (uint32_t)minifloat_code_count(f); c++) {
            ck_assert_int_eq(minifloat_code_is_valid(f, c), ref_valid(f, c));
            if (!ref_valid(f, c))
                continue;
            float v = minifloat_decode(f, c);
            ck_assert_msg(v == (float)ref_value(f, c), "E%dM%d code %u: %g", f.e, f.m, c,
                          (double)v);
        }
        ck_assert(!minifloat_code_is_valid(f, (uint32_t)minifloat_code_count(f)));
    }
}
END_TEST

START_TEST(test_mf_encode_roundtrip)
{
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        uint32_t negzero = 1u << (f.e + f.m);
        for (uint32_t c = 0; c < (uint32_t)minifloat_code_count(f); c++) {
            if (!ref_valid(f, c))
                continue;
            uint32_t got = minifloat_encode(f, minifloat_decode(f, c));
            ck_assert_msg(got == (c == negzero ? 0u : c), "E%dM%d code %u -> %u", f.e, f.m, c, got);
        }
    }
}
END_TEST

/* Wider formats (up to 1 + 5 + 7 = 13 bits): codes, round trips, and rounding on random values. */
START_TEST(test_mf_wide_formats)
{
    static const int em[][2] = {{5, 7}, {4, 7}, {5, 6}, {3, 7}};
    rng r;
    rng_seed(&r, 23);
    for (size_t k = 0; k < sizeof em / sizeof em[0]; k++) {
        minifloat_fmt f;
        ck_assert_int_eq(minifloat_fmt_make(&f, em[k][0], em[k][1]), 0);
        uint32_t negzero = 1u << (f.e + f.m);
        for (uint32_t c = 0; c < (uint32_t)minifloat_code_count(f); c++) {
            float v = minifloat_decode(f, c);
            if (v != (float)ref_value(f, c))
                ck_abort_msg("E%dM%d code %u: %g", f.e, f.m, c, (double)v);
            if (minifloat_encode(f, v) != (c == negzero ? 0u : c))
                ck_abort_msg("E%dM%d code %u does not round-trip", f.e, f.m, c);
        }
        float mx = minifloat_max(f);
        for (int i = 0; i < 20000; i++) {
            float x = (i % 2 ? mx : 1.0f) * 1.2f * (2.0f * rng_uniform(&r) - 1.0f);
            float a = minifloat_round(f, x), b = minifloat_decode(f, minifloat_encode(f, x));
            if (bits_of(a) != bits_of(b))
                ck_abort_msg("E%dM%d x=%.9g: round %.9g, codec %.9g", f.e, f.m, (double)x,
                             (double)a, (double)b);
        }
    }
}
END_TEST

/* ---- minifloat: rounding ---- */

/* The nearest valid code by linear search; ties to the neighbour that is an even multiple of
 * the distance between the two (the even mantissa when M >= 1); saturating. */
static uint32_t brute_encode(minifloat_fmt f, float x)
{
    uint32_t top = ref_max_code(f), best;
    double a = fabs((double)x);
    if (a >= ref_value(f, top)) {
        best = top;
    } else {
        uint32_t lo = 0;
        while (lo + 1 <= top && ref_value(f, lo + 1) <= a)
            lo++;
        double vl = ref_value(f, lo), vh = ref_value(f, lo + 1);
        if (a - vl != vh - a)
            best = a - vl < vh - a ? lo : lo + 1;
        else
            best = fmod(vl / (vh - vl), 2.0) == 0.0 ? lo : lo + 1;
    }
    return (best && signbit(x)) ? best | (1u << (f.e + f.m)) : best;
}

static void push_pm(float *v, int *n, float x)
{
    v[(*n)++] = x;
    v[(*n)++] = -x;
}

/* Every value, its float neighbours, every midpoint and its float neighbours, the specials,
 * and random values spread over the format's range in magnitude and in log-magnitude. */
static int sweep_values(minifloat_fmt f, float *v, rng *r)
{
    uint32_t top = ref_max_code(f);
    int n = 0;
    float mx = (float)ref_value(f, top);
    for (uint32_t c = 0; c <= top; c++) {
        float a = (float)ref_value(f, c);
        push_pm(v, &n, a);
        push_pm(v, &n, nextafterf(a, INFINITY));
        push_pm(v, &n, nextafterf(a, 0.0f));
        if (c == top)
            continue;
        float mid = (float)((ref_value(f, c) + ref_value(f, c + 1)) / 2.0);
        push_pm(v, &n, mid);
        push_pm(v, &n, nextafterf(mid, INFINITY));
        push_pm(v, &n, nextafterf(mid, 0.0f));
    }
    const float specials[] = {0.0f,    FLT_MIN,  1e-45f,       1e-30f,    1e30f,
                              FLT_MAX, INFINITY, mx * 1.0001f, mx * 1.5f, mx * 2.0f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        push_pm(v, &n, specials[i]);
    float lmin = logf((float)ref_value(f, 1)) - 3.0f, lmax = logf(mx) + 3.0f;
    for (int i = 0; i < 2000; i++) {
        push_pm(v, &n, 1.2f * mx * rng_uniform(r));
        push_pm(v, &n, expf(lmin + (lmax - lmin) * rng_uniform(r)));
    }
    return n;
}
#define SWEEP_CAP (12 * 256 + 20 + 8000)

START_TEST(test_mf_encode_nearest)
{
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    static float v[SWEEP_CAP];
    rng r;
    rng_seed(&r, 21);
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        int n = sweep_values(f, v, &r);
        for (int i = 0; i < n; i++) {
            uint32_t c = minifloat_encode(f, v[i]), want = brute_encode(f, v[i]);
            if (c != want)
                ck_abort_msg("E%dM%d x=%.9g: code %u, nearest %u", f.e, f.m, (double)v[i], c, want);
        }
    }
}
END_TEST

START_TEST(test_mf_round_matches_encode)
{
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    static float v[SWEEP_CAP];
    rng r;
    rng_seed(&r, 22);
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        int n = sweep_values(f, v, &r);
        for (int i = 0; i < n; i++) {
            float a = minifloat_round(f, v[i]), b = minifloat_decode(f, minifloat_encode(f, v[i]));
            if (bits_of(a) != bits_of(b))
                ck_abort_msg("E%dM%d x=%.9g: round %.9g, codec %.9g", f.e, f.m, (double)v[i],
                             (double)a, (double)b);
        }
    }
}
END_TEST

/* The exact midpoint of two neighbours goes to the even code (even mantissa) when M >= 1; with
 * no mantissa bits, to the neighbour that is an even multiple of their distance. */
START_TEST(test_mf_ties_even)
{
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        uint32_t top = ref_max_code(f), sign = 1u << (f.e + f.m);
        for (uint32_t c = 0; c < top; c++) {
            double lo = ref_value(f, c), hi = ref_value(f, c + 1);
            float mid = (float)((lo + hi) / 2.0);
            ck_assert((double)mid == (lo + hi) / 2.0);
            uint32_t want = f.m >= 1 ? (c % 2 == 0 ? c : c + 1)
                                     : (fmod(lo / (hi - lo), 2.0) == 0.0 ? c : c + 1);
            ck_assert_msg(minifloat_encode(f, mid) == want, "E%dM%d tie %g", f.e, f.m, (double)mid);
            ck_assert_uint_eq(minifloat_encode(f, -mid), want ? want | sign : 0);
            ck_assert_float_eq(minifloat_round(f, mid), (float)ref_value(f, want));
            ck_assert_float_eq(minifloat_round(f, -mid), -(float)ref_value(f, want));
        }
    }
}
END_TEST

START_TEST(test_mf_saturation)
{
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        uint32_t top = ref_max_code(f), sign = 1u << (f.e + f.m);
        float mx = minifloat_max(f), gap = mx - (float)ref_value(f, top - 1);
        const float big[] = {mx + gap / 2.0f, mx + gap, mx * 1.5f, mx * 4.0f,
                             1e30f,           FLT_MAX,  INFINITY};
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
            ck_assert_float_eq(minifloat_round(f, big[i]), mx);
            ck_assert_float_eq(minifloat_round(f, -big[i]), -mx);
            ck_assert_uint_eq(minifloat_encode(f, big[i]), top);
            ck_assert_uint_eq(minifloat_encode(f, -big[i]), top | sign);
        }
        ck_assert_uint_eq(minifloat_encode(f, NAN), 0);
    }
    minifloat_fmt f;
    minifloat_preset(&f, "e4m3");
    ck_assert_float_eq(minifloat_round(f, 1000.0f), 448.0f);
    ck_assert_float_eq(minifloat_round(f, 464.0f), 448.0f); /* would round to 480 unbounded */
    minifloat_preset(&f, "e5m2");
    ck_assert_float_eq(minifloat_round(f, 1e6f), 57344.0f);
    minifloat_preset(&f, "e2m1");
    ck_assert_float_eq(minifloat_round(f, 7.0f), 6.0f);
    minifloat_preset(&f, "e3m2");
    ck_assert_float_eq(minifloat_round(f, -100.0f), -28.0f);
}
END_TEST

/* Mean of SR_DRAWS stochastic roundings of x = lo + p (hi - lo) is x within SR_SIGMAS standard
 * errors, and every draw is lo or hi. */
static void check_sr_between(minifloat_fmt f, uint32_t c, double p, rng *r)
{
    float lo = (float)ref_value(f, c), hi = (float)ref_value(f, c + 1);
    float x = (float)(lo + p * ((double)hi - lo));
    double sum = 0.0, pe = ((double)x - lo) / ((double)hi - lo);
    for (int i = 0; i < SR_DRAWS; i++) {
        float y = minifloat_round_stochastic(f, x, rng_uniform(r));
        if (y != lo && y != hi)
            ck_abort_msg("E%dM%d x=%g gave %g", f.e, f.m, (double)x, (double)y);
        sum += y;
        float yn = minifloat_round_stochastic(f, -x, rng_uniform(r));
        if (yn != -lo && yn != -hi)
            ck_abort_msg("E%dM%d x=%g gave %g", f.e, f.m, (double)-x, (double)yn);
    }
    double se = ((double)hi - lo) * sqrt(pe * (1.0 - pe) / SR_DRAWS);
    ck_assert_msg(fabs(sum / SR_DRAWS - x) <= SR_SIGMAS * se, "E%dM%d x=%g: mean %.9g, se %.3g",
                  f.e, f.m, (double)x, sum / SR_DRAWS, se);
}

START_TEST(test_mf_stochastic_unbiased)
{
    static const char *const names[] = {"e4m3", "e5m2", "e2m1"};
    static const double ps[] = {0.1, 0.5, 0.8};
    rng r;
    rng_seed(&r, 31);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        minifloat_fmt f;
        minifloat_preset(&f, names[k]);
        uint32_t top = ref_max_code(f);
        uint32_t one = (uint32_t)f.bias << f.m; /* the code of 1.0 */
        const uint32_t pairs[] = {0, one, top - 1};
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
            for (size_t j = 0; j < sizeof ps / sizeof ps[0]; j++)
                check_sr_between(f, pairs[i], ps[j], &r);
    }
}
END_TEST

START_TEST(test_mf_stochastic_edges)
{
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    const float us[] = {0.0f, 0.25f, 0.5f, 0.999999f};
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        float mx = minifloat_max(f);
        for (size_t j = 0; j < sizeof us / sizeof us[0]; j++) {
            for (uint32_t c = 0; c < (uint32_t)minifloat_code_count(f); c++) {
                if (!ref_valid(f, c))
                    continue;
                float v = (float)ref_value(f, c);
                ck_assert_float_eq(minifloat_round_stochastic(f, v, us[j]), v);
            }
            ck_assert_float_eq(minifloat_round_stochastic(f, mx * 1.7f, us[j]), mx);
            ck_assert_float_eq(minifloat_round_stochastic(f, -INFINITY, us[j]), -mx);
        }
    }
}
END_TEST

/* ---- minifloat: scaled fake quantization ---- */

START_TEST(test_mf_fake_quant_scaled)
{
    const long n = 1003;
    const float s = 0.37f, inv = 1.0f / s;
    float *x = fbuf(n), *q = fbuf(n), *q2 = fbuf(n);
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    rng r, r2;
    rng_seed(&r, 41);
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        for (long i = 0; i < n; i++)
            x[i] = 2.5f * s * minifloat_max(f) * (rng_uniform(&r) - 0.5f);
        minifloat_fake_quant(q, x, n, s, f, NULL);
        for (long i = 0; i < n; i++)
            if (q[i] != minifloat_round(f, x[i] * inv) * s)
                ck_abort_msg("E%dM%d x=%g: %g", f.e, f.m, (double)x[i], (double)q[i]);
        memcpy(q2, x, (size_t)n * sizeof *x);
        minifloat_fake_quant(q2, q2, n, s, f, NULL); /* in place */
        ck_assert_int_eq(memcmp(q, q2, (size_t)n * sizeof *q), 0);
        r2 = r;
        minifloat_fake_quant(q, x, n, s, f, &r);
        for (long i = 0; i < n; i++)
            if (q[i] != minifloat_round_stochastic(f, x[i] * inv, rng_uniform(&r2)) * s)
                ck_abort_msg("E%dM%d stochastic x=%g: %g", f.e, f.m, (double)x[i], (double)q[i]);
        ck_assert_int_eq(memcmp(&r, &r2, sizeof r), 0); /* one draw per element */
    }
    free(x);
    free(q);
    free(q2);
}
END_TEST

START_TEST(test_mf_backward)
{
    minifloat_fmt fs[MAX_TEST_FORMATS];
    int nf = test_formats(fs);
    rng r;
    rng_seed(&r, 42);
    const float s = 0.5f;
    for (int k = 0; k < nf; k++) {
        minifloat_fmt f = fs[k];
        float mx = minifloat_max(f), lim = mx * s;
        float x[] = {-lim * 2.0f, -lim, -lim * 0.3f, 0.0f, lim * 0.7f, lim, lim * 1.01f, 1e30f};
        int inside[] = {0, 1, 1, 1, 1, 1, 0, 0};
        float dout[8], dx[8];
        double want = 0.0;
        for (int i = 0; i < 8; i++) {
            dout[i] = 0.25f + (float)i;
            dx[i] = -1.0f;
            float v = x[i] / s;
            want += dout[i] * (double)(inside[i] ? minifloat_round(f, v) - v : (v > 0 ? mx : -mx));
        }
        double g = minifloat_fake_quant_backward(dx, dout, x, 8, s, f);
        for (int i = 0; i < 8; i++)
            ck_assert_float_eq(dx[i], -1.0f + (inside[i] ? dout[i] : 0.0f));
        ck_assert_double_eq_tol(g, want, 1e-9 * (1.0 + fabs(want)));
        ck_assert_double_eq(g, minifloat_fake_quant_backward(NULL, dout, x, 8, s, f));
        check_step_grad_fd(fq_mf, &f, bwd_mf, 2.5f * mx * 0.25f, mx, &r);
        check_bwd_matches_ref(bwd_mf, bwd_mf_ref, &f, 2.5f * mx * 0.37f, 0.37f, mx, &r);
    }
}
END_TEST

/* ---- MMSE ---- */

static double int_mse(const float *x, long n, float a, int_levels l, float *tmp)
{
    int_fake_quant_ref(tmp, x, n, a, l);
    double e = 0.0;
    for (long i = 0; i < n; i++)
        e += ((double)x[i] - tmp[i]) * ((double)x[i] - tmp[i]);
    return e / (double)n;
}

static double mf_mse(const float *x, long n, float a, minifloat_fmt f, float *tmp)
{
    minifloat_fake_quant(tmp, x, n, a, f, NULL);
    double e = 0.0;
    for (long i = 0; i < n; i++)
        e += ((double)x[i] - tmp[i]) * ((double)x[i] - tmp[i]);
    return e / (double)n;
}

static float amax_of(const float *x, long n)
{
    float m = 0.0f;
    for (long i = 0; i < n; i++)
        m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* The best error over 1000 clipping ratios in [0.02, 1], found here independently. */
static double grid_best_int(const float *x, long n, int_levels l, float *tmp)
{
    double best = INFINITY;
    for (int k = 1; k <= 1000; k++) {
        float a = 0.001f * (float)k * amax_of(x, n) / (float)l.qp;
        if (k >= 20)
            best = fmin(best, int_mse(x, n, a, l, tmp));
    }
    return best;
}

START_TEST(test_mmse_int_heavy_tail)
{
    const long n = 10000;
    float *x = fbuf(n), *tmp = fbuf(n);
    rng r;
    rng_seed(&r, 51);
    for (long i = 0; i < n; i++)
        x[i] = laplace(&r);
    int_levels l = int_levels_make(4, 1);
    double mse;
    float a = mmse_int_scale(x, n, l, &mse);
    ck_assert(a > 0.0f && isfinite(a));
    ck_assert_double_eq_tol(mse, int_mse(x, n, a, l, tmp), 1e-12);
    double mse_max = int_mse(x, n, maxabs_int_scale(x, n, l), l, tmp);
    ck_assert_float_eq_tol(maxabs_int_scale(x, n, l), amax_of(x, n) / 7.0f, 1e-6f);
    ck_assert_msg(mse < MMSE_HEAVY_GAIN * mse_max, "mmse %g, maxabs %g", mse, mse_max);
    ck_assert_msg(mse <= MMSE_GRID_SLACK * grid_best_int(x, n, l, tmp), "mmse %g", mse);
    free(x);
    free(tmp);
}
END_TEST

START_TEST(test_mmse_minifloat_heavy_tail)
{
    const long n = 10000;
    /* with 3 or 4 bits for the magnitude the clipped scale wins clearly; with more exponent
     * range the gain is small but never negative */
    static const struct {
        const char *name;
        double gain;
    } t[] = {{"e2m1", MMSE_HEAVY_GAIN}, {"e2m3", 1.0}, {"e3m2", 1.0}};
    float *x = fbuf(n), *tmp = fbuf(n);
    rng r;
    rng_seed(&r, 52);
    for (long i = 0; i < n; i++)
        x[i] = student_t3(&r);
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        minifloat_fmt f;
        minifloat_preset(&f, t[k].name);
        double mse;
        float a = mmse_minifloat_scale(x, n, f, &mse), a1 = amax_of(x, n) / minifloat_max(f);
        ck_assert(a > 0.0f && isfinite(a));
        ck_assert_double_eq_tol(mse, mf_mse(x, n, a, f, tmp), 1e-12);
        double mse_max = mf_mse(x, n, a1, f, tmp), best = INFINITY;
        ck_assert_msg(mse < t[k].gain * mse_max, "%s: mmse %g, maxabs %g", t[k].name, mse, mse_max);
        for (int j = 20; j <= 1000; j++)
            best = fmin(best, mf_mse(x, n, 0.001f * (float)j * a1, f, tmp));
        ck_assert_msg(mse <= MMSE_GRID_SLACK * best, "%s: mmse %g, grid %g", t[k].name, mse, best);
    }
    free(x);
    free(tmp);
}
END_TEST

START_TEST(test_mmse_uniform_close)
{
    const long n = 10000;
    float *x = fbuf(n), *tmp = fbuf(n);
    rng r;
    rng_seed(&r, 53);
    for (long i = 0; i < n; i++)
        x[i] = 2.0f * rng_uniform(&r) - 1.0f;
    int_levels l = int_levels_make(4, 1);
    double mse;
    float a = mmse_int_scale(x, n, l, &mse), am = maxabs_int_scale(x, n, l);
    double mse_max = int_mse(x, n, am, l, tmp);
    ck_assert_msg(fabsf(a / am - 1.0f) < MMSE_UNIFORM_SCALE_TOL, "scale %g vs %g", (double)a,
                  (double)am);
    ck_assert(mse <= mse_max && mse >= MMSE_UNIFORM_MSE_FLOOR * mse_max);
    free(x);
    free(tmp);
}
END_TEST

START_TEST(test_mmse_degenerate)
{
    const float zeros[16] = {0};
    int_levels l = int_levels_make(4, 1);
    minifloat_fmt f;
    minifloat_preset(&f, "e4m3");
    for (long n = 0; n <= 16; n += 16) {
        double mse = -1.0;
        float a = mmse_int_scale(zeros, n, l, &mse);
        ck_assert(a > 0.0f && isfinite(a) && mse == 0.0);
        mse = -1.0;
        a = mmse_minifloat_scale(zeros, n, f, &mse);
        ck_assert(a > 0.0f && isfinite(a) && mse == 0.0);
        a = maxabs_int_scale(zeros, n, l);
        ck_assert(a > 0.0f && isfinite(a));
    }
    ck_assert(mmse_int_scale(zeros, 16, l, NULL) > 0.0f);
}
END_TEST

/* Above 2^20 values the search subsamples; the reported error still covers every value. */
START_TEST(test_mmse_large)
{
    const long n = (1L << 20) + 3;
    float *x = fbuf(n), *tmp = fbuf(n);
    rng r;
    rng_seed(&r, 54);
    for (long i = 0; i < n; i++)
        x[i] = laplace(&r);
    int_levels l = int_levels_make(4, 1);
    double mse;
    float a = mmse_int_scale(x, n, l, &mse);
    ck_assert_double_eq_tol(mse, int_mse(x, n, a, l, tmp), 1e-12);
    ck_assert(mse < MMSE_HEAVY_GAIN * int_mse(x, n, maxabs_int_scale(x, n, l), l, tmp));
    free(x);
    free(tmp);
}
END_TEST

Suite *quant_suite(void)
{
    Suite *s = suite_create("quant");
    TCase *ti = tcase_create("integer");
    tcase_add_test(ti, test_int_levels_table);
    tcase_add_test(ti, test_int_distinct_levels);
    tcase_add_test(ti, test_int_idempotent);
    tcase_add_test(ti, test_int_clamp);
    tcase_add_test(ti, test_int_ties_even);
    tcase_add_test(ti, test_int_fast_matches_ref);
    tcase_add_test(ti, test_int_ste_mask);
    tcase_add_test(ti, test_int_backward_matches_ref);
    tcase_add_test(ti, test_lsq_grad_formula);
    tcase_add_test(ti, test_lsq_grad_fd);
    tcase_add_test(ti, test_lsq_init_and_scale);
    suite_add_tcase(s, ti);
    TCase *tm = tcase_create("minifloat");
    tcase_add_test(tm, test_mf_make);
    tcase_add_test(tm, test_mf_presets);
    tcase_add_test(tm, test_mf_decode_every_code);
    tcase_add_test(tm, test_mf_encode_roundtrip);
    tcase_add_test(tm, test_mf_wide_formats);
    tcase_add_test(tm, test_mf_encode_nearest);
    tcase_add_test(tm, test_mf_round_matches_encode);
    tcase_add_test(tm, test_mf_ties_even);
    tcase_add_test(tm, test_mf_saturation);
    tcase_add_test(tm, test_mf_stochastic_unbiased);
    tcase_add_test(tm, test_mf_stochastic_edges);
    tcase_add_test(tm, test_mf_fake_quant_scaled);
    tcase_add_test(tm, test_mf_backward);
    suite_add_tcase(s, tm);
    TCase *tq = tcase_create("mmse");
    tcase_add_test(tq, test_mmse_int_heavy_tail);
    tcase_add_test(tq, test_mmse_minifloat_heavy_tail);
    tcase_add_test(tq, test_mmse_uniform_close);
    tcase_add_test(tq, test_mmse_degenerate);
    tcase_add_test(tq, test_mmse_large);
    suite_add_tcase(s, tq);
    return s;
}

QD_CHECK_MAIN(quant_suite)
