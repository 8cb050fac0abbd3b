/*
 * check_layers.c: every layer kernel against its definition. Convolution and linear against
 * their direct-loop references on odd shapes (stride 2, padding, 1x1, non-square) with one and
 * two threads; every backward against central finite differences of its forward.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/layers.h"
#include "core/rng.h"
#include "tests/check_main.h"

#define REF_TOL 1e-4f  /* optimised vs reference, relative to the magnitude */
#define FD_EPS 1e-2f   /* finite-difference step */
#define FD_TOL 2e-2    /* |analytic - numeric| / max(1e-2, |analytic| + |numeric|) */

static float *randv(rng *r, size_t n)
{
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        v[i] = rng_normal(r);
    return v;
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static void assert_close(const float *a, const float *b, size_t n, float tol, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]), s = fabsf(a[i]) + fabsf(b[i]) + 1.0f;
        ck_assert_msg(d <= tol * s, "%s[%zu]: %g vs %g", what, i, a[i], b[i]);
    }
}

static const conv_dims conv_cases[] = {
    /* n, c, h, w, oc, oh, ow, k, stride, pad (oh/ow filled in by the test) */
    {2, 3, 7, 5, 4, 0, 0, 3, 2, 1}, {1, 2, 6, 6, 3, 0, 0, 1, 1, 0}, {3, 1, 5, 9, 2, 0, 0, 3, 1, 0},
    {2, 4, 8, 8, 5, 0, 0, 5, 2, 2}, {1, 3, 4, 4, 2, 0, 0, 3, 3, 1}, {3, 2, 9, 4, 3, 0, 0, 1, 2, 0},
    {5, 3, 6, 7, 4, 0, 0, 3, 1, 1},
};

START_TEST(conv2d_matches_reference)
{
    conv_dims d = conv_cases[_i / 4];
    int nthreads = 1 + _i % 2;
    d.oh = conv_out_size(d.h, d.k, d.stride, d.pad);
    d.ow = conv_out_size(d.w, d.k, d.stride, d.pad);
    rng r;
    rng_seed(&r, (uint64_t)_i);
    size_t nin = (size_t)d.n * d.c * d.h * d.w, nw = (size_t)d.oc * d.c * d.k * d.k;
    size_t nout = (size_t)d.n * d.oc * d.oh * d.ow;
    float *in = randv(&r, nin), *w = randv(&r, nw), *b = randv(&r, d.oc), *g = randv(&r, nout);
    float *out = zeros(nout), *ref = zeros(nout);
    float *scratch = zeros(conv2d_scratch_floats(d, nthreads));
    /* half the cases keep the im2col columns between forward and backward */
    float *cols = _i % 4 >= 2 ? zeros(conv2d_cols_floats(d) * d.n) : NULL;
    conv2d_forward(out, cols, in, w, b, d, scratch, nthreads);
    conv2d_forward_ref(ref, in, w, b, d);
    assert_close(out, ref, nout, REF_TOL, "conv out");
    float *din = zeros(nin), *dw = zeros(nw), *db = zeros(d.oc);
    float *rdin = zeros(nin), *rdw = zeros(nw), *rdb = zeros(d.oc);
    conv2d_backward(din, dw, db, g, in, w, cols, d, scratch, nthreads);
    conv2d_backward_ref(rdin, rdw, rdb, g, in, w, d);
    free(cols);
    assert_close(din, rdin, nin, REF_TOL, "conv din");
    assert_close(dw, rdw, nw, REF_TOL, "conv dw");
    assert_close(db, rdb, d.oc, REF_TOL, "conv db");
    float *ptrs[] = {in, w, b, g, out, ref, scratch, din, dw, db, rdin, rdw, rdb};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
        free(ptrs[i]);
}
END_TEST

/* Loss for finite differences: sum(out * g) for a fixed random g. */
static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

typedef void (*fwd_fn)(float *out, float *const *vars, void *cfg);

/* Check d(sum(out*g))/d(var[k][j]) against the analytic gradient for every entry. */
static void fd_check(fwd_fn f, float *const *vars, const size_t *lens, const float *const *grads,
                     int nvars, size_t nout, const float *g, void *cfg, const char *what)
{
    float *out = zeros(nout);
    for (int k = 0; k < nvars; k++)
        for (size_t j = 0; j < lens[k]; j++) {
            float keep = vars[k][j];
            vars[k][j] = keep + FD_EPS;
            f(out, vars, cfg);
            double up = dot(out, g, nout);
            vars[k][j] = keep - FD_EPS;
            f(out, vars, cfg);
            double down = dot(out, g, nout);
            vars[k][j] = keep;
            double num = (up - down) / (2.0 * FD_EPS), ana = grads[k][j];
            double rel = fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana));
            ck_assert_msg(rel < FD_TOL, "%s var %d [%zu]: analytic %g numeric %g", what, k, j,
                          ana, num);
        }
    free(out);
}

static void conv_fwd(float *out, float *const *v, void *cfg)
{
    conv_dims *d = cfg;
    float *scratch = zeros(conv2d_scratch_floats(*d, 1));
    conv2d_forward(out, NULL, v[0], v[1], v[2], *d, scratch, 1);
    free(scratch);
}

START_TEST(conv2d_gradient_finite_differences)
{
    conv_dims d = {2, 2, 5, 4, 3, 0, 0, 3, 2, 1};
    d.oh = conv_out_size(d.h, d.k, d.stride, d.pad);
    d.ow = conv_out_size(d.w, d.k, d.stride, d.pad);
    rng r;
    rng_seed(&r, 7);
    size_t nin = (size_t)d.n * d.c * d.h * d.w, nw = (size_t)d.oc * d.c * d.k * d.k;
    size_t nout = (size_t)d.n * d.oc * d.oh * d.ow;
    float *in = randv(&r, nin), *w = randv(&r, nw), *b = randv(&r, d.oc), *g = randv(&r, nout);
    float *din = zeros(nin), *dw = zeros(nw), *db = zeros(d.oc);
    float *scratch = zeros(conv2d_scratch_floats(d, 2));
    conv2d_backward(din, dw, db, g, in, w, NULL, d, scratch, 2);
    float *vars[] = {in, w, b};
    size_t lens[] = {nin, nw, (size_t)d.oc};
    const float *grads[] = {din, dw, db};
    fd_check(conv_fwd, vars, lens, grads, 3, nout, g, &d, "conv2d");
    float *ptrs[] = {in, w, b, g, din, dw, db, scratch};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
        free(ptrs[i]);
}
END_TEST

typedef struct lin_cfg {
    int n, in_f, out_f;
} lin_cfg;

static void lin_fwd(float *out, float *const *v, void *cfg)
{
    lin_cfg *c = cfg;
    linear_forward(out, v[0], v[1], v[2], c->n, c->in_f, c->out_f, 2);
}

START_TEST(linear_matches_reference_and_gradients)
{
    lin_cfg c = {5, 7, 3};
    rng r;
    rng_seed(&r, 3);
    size_t nin = (size_t)c.n * c.in_f, nw = (size_t)c.out_f * c.in_f, nout = (size_t)c.n * c.out_f;
    float *in = randv(&r, nin), *w = randv(&r, nw), *b = randv(&r, c.out_f), *g = randv(&r, nout);
    float *out = zeros(nout), *ref = zeros(nout);
    linear_forward(out, in, w, b, c.n, c.in_f, c.out_f, 2);
    linear_forward_ref(ref, in, w, b, c.n, c.in_f, c.out_f);
    assert_close(out, ref, nout, REF_TOL, "linear out");
    float *din = zeros(nin), *dw = zeros(nw), *db = zeros(c.out_f);
    linear_backward(din, dw, db, g, in, w, c.n, c.in_f, c.out_f, 2);
    float *vars[] = {in, w, b};
    size_t lens[] = {nin, nw, (size_t)c.out_f};
    const float *grads[] = {din, dw, db};
    fd_check(lin_fwd, vars, lens, grads, 3, nout, g, &c, "linear");
    float *ptrs[] = {in, w, b, g, out, ref, din, dw, db};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
        free(ptrs[i]);
}
END_TEST

typedef struct bn_cfg {
    int n, c, hw;
    float *rm, *rv, *xhat, *invstd;
} bn_cfg;

static void bn_fwd(float *out, float *const *v, void *cfg)
{
    bn_cfg *c = cfg;
    batchnorm_forward_train(out, c->xhat, c->invstd, v[0], v[1], v[2], c->rm, c->rv, c->n, c->c,
                            c->hw, 0.1f, 1e-5f, 2);
}

START_TEST(batchnorm_gradient_and_statistics)
{
    bn_cfg c = {4, 3, 5, NULL, NULL, NULL, NULL};
    rng r;
    rng_seed(&r, 11);
    size_t len = (size_t)c.n * c.c * c.hw;
    float *in = randv(&r, len), *gamma = randv(&r, c.c), *beta = randv(&r, c.c);
    float *g = randv(&r, len), *out = zeros(len);
    c.rm = zeros(c.c), c.rv = zeros(c.c), c.xhat = zeros(len), c.invstd = zeros(c.c);
    bn_fwd(out, (float *[]){in, gamma, beta}, &c);
    /* each channel of xhat has mean 0 and variance 1 */
    for (int ch = 0; ch < c.c; ch++) {
        double s = 0, ss = 0;
        for (int i = 0; i < c.n; i++)
            for (int p = 0; p < c.hw; p++) {
                double x = c.xhat[((size_t)i * c.c + ch) * c.hw + p];
                s += x, ss += x * x;
            }
        ck_assert_double_eq_tol(s / (c.n * c.hw), 0.0, 1e-5);
        ck_assert_double_eq_tol(ss / (c.n * c.hw), 1.0, 1e-3);
    }
    float *din = zeros(len), *dg = zeros(c.c), *dbeta = zeros(c.c);
    batchnorm_backward(din, dg, dbeta, g, gamma, c.xhat, c.invstd, c.n, c.c, c.hw, 2);
    float *vars[] = {in, gamma, beta};
    size_t lens[] = {len, (size_t)c.c, (size_t)c.c};
    const float *grads[] = {din, dg, dbeta};
    fd_check(bn_fwd, vars, lens, grads, 3, len, g, &c, "batchnorm");
    float *ptrs[] = {in, gamma, beta, g, out, c.rm, c.rv, c.xhat, c.invstd, din, dg, dbeta};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
        free(ptrs[i]);
}
END_TEST

typedef struct pool_cfg {
    int nc, h, w, oh, ow, k, s, p, max;
    int *argmax;
} pool_cfg;

static void pool_fwd(float *out, float *const *v, void *cfg)
{
    pool_cfg *c = cfg;
    if (c->max)
        maxpool_forward(out, c->argmax, v[0], c->nc, c->h, c->w, c->oh, c->ow, c->k, c->s, c->p, 2);
    else
        avgpool_forward(out, v[0], c->nc, c->h, c->w, c->oh, c->ow, c->k, c->s, c->p, 2);
}

START_TEST(pooling_gradients)
{
    for (int max = 0; max <= 1; max++) {
        pool_cfg c = {3, 7, 6, 0, 0, 3, 2, 1, max, NULL};
        c.oh = conv_out_size(c.h, c.k, c.s, c.p), c.ow = conv_out_size(c.w, c.k, c.s, c.p);
        rng r;
        rng_seed(&r, 5);
        size_t nin = (size_t)c.nc * c.h * c.w, nout = (size_t)c.nc * c.oh * c.ow;
        float *in = randv(&r, nin), *g = randv(&r, nout), *out = zeros(nout), *din = zeros(nin);
        /* distinct values 0.05 apart, so a finite-difference step never changes a window's max */
        int *perm = malloc(sizeof(int) * nin);
        for (size_t i = 0; i < nin; i++)
            perm[i] = (int)i;
        rng_shuffle(&r, perm, (int)nin);
        for (size_t i = 0; i < nin; i++)
            in[i] = 0.05f * (float)perm[i] - 3.0f;
        free(perm);
        c.argmax = calloc(nout, sizeof(int));
        pool_fwd(out, (float *[]){in}, &c);
        if (max)
            maxpool_backward(din, g, c.argmax, c.nc, c.h, c.w, c.oh, c.ow, 2);
        else
            avgpool_backward(din, g, c.nc, c.h, c.w, c.oh, c.ow, c.k, c.s, c.p, 2);
        float *vars[] = {in};
        size_t lens[] = {nin};
        const float *grads[] = {din};
        fd_check(pool_fwd, vars, lens, grads, 1, nout, g, &c, max ? "maxpool" : "avgpool");
        free(in), free(g), free(out), free(din), free(c.argmax);
    }
}
END_TEST

START_TEST(relu_add_and_loss_gradients)
{
    rng r;
    rng_seed(&r, 9);
    const size_t n = 64;
    float *x = randv(&r, n), *y = randv(&r, n), *g = randv(&r, n), *out = zeros(n);
    float *dx = zeros(n), *dy = zeros(n);
    relu_forward(out, x, n, 2);
    relu_backward(dx, g, out, n, 2);
    for (size_t i = 0; i < n; i++) {
        ck_assert_float_eq(out[i], x[i] > 0 ? x[i] : 0.0f);
        ck_assert_float_eq(dx[i], x[i] > 0 ? g[i] : 0.0f);
    }
    memset(dx, 0, sizeof(float) * n);
    add_forward(out, x, y, n, 2);
    add_backward(dx, dy, g, n, 2);
    for (size_t i = 0; i < n; i++) {
        ck_assert_float_eq(out[i], x[i] + y[i]);
        ck_assert_float_eq(dx[i], g[i]);
        ck_assert_float_eq(dy[i], g[i]);
    }
    /* softmax cross-entropy: 4 rows of 16 classes */
    int labels[4] = {0, 5, 15, 7};
    float *dl = zeros(n);
    softmax_xent(dl, x, labels, 4, 16);
    for (size_t j = 0; j < n; j++) {
        float keep = x[j];
        x[j] = keep + 1e-2f;
        double up = softmax_xent(NULL, x, labels, 4, 16);
        x[j] = keep - 1e-2f;
        double down = softmax_xent(NULL, x, labels, 4, 16);
        x[j] = keep;
        double num = (up - down) / 2e-2;
        ck_assert_msg(fabs(num - dl[j]) < 1e-3, "xent [%zu]: %g vs %g", j, dl[j], num);
    }
    free(x), free(y), free(g), free(out), free(dx), free(dy), free(dl);
}
END_TEST

START_TEST(split_range_covers_everything)
{
    for (long total = 0; total < 20; total++)
        for (int nt = 1; nt <= 5; nt++) {
            long next = 0;
            for (int t = 0; t < nt; t++) {
                long lo, hi;
                split_range(total, nt, t, &lo, &hi);
                ck_assert_int_eq(lo, next);
                ck_assert_int_ge(hi, lo);
                next = hi;
            }
            ck_assert_int_eq(next, total);
        }
}
END_TEST

Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 60);
    int ncases = (int)(sizeof conv_cases / sizeof *conv_cases);
    tcase_add_loop_test(tc, conv2d_matches_reference, 0, 4 * ncases);
    tcase_add_test(tc, conv2d_gradient_finite_differences);
    tcase_add_test(tc, linear_matches_reference_and_gradients);
    tcase_add_test(tc, batchnorm_gradient_and_statistics);
    tcase_add_test(tc, pooling_gradients);
    tcase_add_test(tc, relu_add_and_loss_gradients);
    tcase_add_test(tc, split_range_covers_everything);
    suite_add_tcase(s, tc);
    return s;
}

QD_CHECK_MAIN(layers_suite)
