/*
 * check_ptq.c: post-training quantization and the quantizer glue against their definitions:
 * batch-norm folding leaves the float model's eval outputs unchanged; HFP8's backward rounds
 * activation gradients to scaled E5M2 values; PTQ's MMSE weights beat max-abs and residual
 * tensors lower the error further; frozen (PTQ) weights are used exactly as stored; QAT's steps
 * start at LSQ's rule or, for a trained model, at the MMSE scale.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/fakequant.h"
#include "core/ptq.h"
#include "tests/check_main.h"

#define FOLD_TOL 1e-4f /* relative to the largest logit */

static layer_desc D(int kind, int out, int k, int pad, int in0, int bias)
{
    layer_desc d = {.kind = kind, .out = out, .kernel = k, .stride = 1, .pad = pad, .bias = bias,
                    .nin = 1};
    d.in[0] = in0;
    snprintf(d.name, sizeof d.name, "%s%d", layer_kind_name(kind), in0 + 1);
    return d;
}

/* conv(bias) bn relu conv(no bias) bn relu gap flatten linear */
static model *bn_model(int batch)
{
    static model_desc d;
    memset(&d, 0, sizeof d);
    d.layers[0] = D(LK_CONV, 4, 3, 1, -1, 1);
    d.layers[1] = D(LK_BN, 0, 0, 0, 0, 0);
    d.layers[2] = D(LK_RELU, 0, 0, 0, 1, 0);
    d.layers[3] = D(LK_CONV, 5, 3, 0, 2, 0);
    d.layers[4] = D(LK_BN, 0, 0, 0, 3, 0);
    d.layers[5] = D(LK_RELU, 0, 0, 0, 4, 0);
    d.layers[6] = D(LK_GAP, 0, 0, 0, 5, 0);
    d.layers[7] = D(LK_FLATTEN, 0, 0, 0, 6, 0);
    d.layers[8] = D(LK_LINEAR, 3, 0, 0, 7, 1);
    d.n_layers = 9;
    model *m = NULL;
    ck_assert_int_eq(model_create(&m, &d, 2, 8, 8, 3, batch, 2, NULL), 0);
    model_init_params(m, 4);
    rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = &m->layers[i];
        if (L->d.kind != LK_BN)
            continue;
        for (int c = 0; c < L->c; c++) {
            L->gamma[c] = 0.5f + rng_uniform(&r);
            L->beta[c] = rng_normal(&r) * 0.3f;
            L->run_mean[c] = rng_normal(&r) * 0.5f;
            L->run_var[c] = 0.2f + rng_uniform(&r);
        }
    }
    if (m->layers[0].bias)
        for (int c = 0; c < 4; c++)
            m->layers[0].bias[c] = rng_normal(&r) * 0.1f;
    return m;
}

START_TEST(bn_folding_leaves_outputs_unchanged)
{
    model *m = bn_model(4);
    rng r;
    rng_seed(&r, 1);
    float x[4 * 2 * 64], before[12], after[12];
    for (int i = 0; i < 4 * 2 * 64; i++)
        x[i] = rng_normal(&r);
    memcpy(before, model_forward(m, x, 4, 0), sizeof before);
    ptq_fold_bn(m);
    memcpy(after, model_forward(m, x, 4, 0), sizeof after);
    float mx = 0;
    for (int i = 0; i < 12; i++)
        mx = fmaxf(mx, fabsf(before[i]));
    for (int i = 0; i < 12; i++)
        ck_assert_msg(fabsf(before[i] - after[i]) <= FOLD_TOL * mx, "logit %d: %g vs %g", i,
                      before[i], after[i]);
    /* the batch norms are now shifts only */
    ck_assert_float_eq(m->layers[1].gamma[0], 1.0f);
    ck_assert_float_eq(m->layers[4].run_mean[2], 0.0f);
    model_free(m);
}
END_TEST

START_TEST(hfp8_gradients_are_scaled_e5m2)
{
    rng r;
    rng_seed(&r, 3);
    enum { N = 4096 };
    float *g = malloc(sizeof(float) * N);
    float mx = 0;
    for (int i = 0; i < N; i++) {
        g[i] = rng_normal(&r) * powf(10.0f, (float)(i % 7) - 3.0f);
        mx = fmaxf(mx, fabsf(g[i]));
    }
    fq_grad_e5m2(g, N);
    minifloat_fmt e5m2;
    minifloat_preset(&e5m2, "e5m2");
    float s = mx / minifloat_max(e5m2);
    int changed = 0;
    for (int i = 0; i < N; i++) {
        float v = g[i] / s;
        ck_assert_msg(minifloat_round(e5m2, v) == v || fabsf(minifloat_round(e5m2, v) - v) <=
                      1e-6f * fabsf(v), "g[%d]/s = %g is not an E5M2 value", i, v);
        changed += g[i] != 0.0f;
    }
    ck_assert_int_gt(changed, N / 2);
    free(g);
}
END_TEST

START_TEST(ptq_mmse_and_residual_lower_the_weight_error)
{
    dataset train = {0}, test = {0};
    ck_assert_int_eq(dataset_load(&train, &test, "synthetic", NULL, 256, 64, NULL), 0);
    float *xbuf = malloc(sizeof(float) * 64 * 784);
    int ybuf[64];
    double err[3][2];
    for (int variant = 0; variant < 3; variant++) {
        static model_desc d;
        memset(&d, 0, sizeof d);
        d.layers[0] = D(LK_FLATTEN, 0, 0, 0, -1, 0);
        d.layers[1] = D(LK_LINEAR, 64, 0, 0, 0, 1);
        d.layers[2] = D(LK_RELU, 0, 0, 0, 1, 0);
        d.layers[3] = D(LK_LINEAR, 10, 0, 0, 2, 1);
        d.n_layers = 4;
        model *m = NULL;
        ck_assert_int_eq(model_create(&m, &d, 1, 28, 28, 10, 64, 1, NULL), 0);
        model_init_params(m, 2);
        quant_fmt wf[2] = {{.format = QFMT_INT, .bits = 3, .per_channel = 1},
                           {.format = QFMT_INT, .bits = 3, .per_channel = 1}};
        quant_fmt af[2] = {{.format = QFMT_INT, .bits = 8, .is_signed = -1},
                           {.format = QFMT_INT, .bits = 8, .is_signed = -1}};
        ptq_cfg cfg = {.maxabs = variant == 0, .residual_bits = variant == 2 ? 3 : 0,
                       .residual_threshold = 0.0f, .calibration_batches = 2};
        ptq_report rep[2];
        ck_assert_int_eq(ptq_run(m, &cfg, wf, af, &train, xbuf, ybuf, rep, NULL), 0);
        for (int ci = 0; ci < 2; ci++) {
            err[variant][ci] = rep[ci].w_rel_error_final;
            ck_assert(m->layers[m->compute[ci]].wq.frozen);
            ck_assert_float_gt(m->layers[m->compute[ci]].a_step[0], 0.0f);
        }
        /* the frozen weights are what forward uses, unchanged */
        layer *L = &m->layers[m->compute[0]];
        float keep = L->weight[5];
        model_forward(m, xbuf, 64, 0);
        ck_assert_float_eq(L->wq_buf[5], keep);
        model_free(m);
    }
    for (int ci = 0; ci < 2; ci++) {
        ck_assert_double_lt(err[1][ci], err[0][ci]); /* MMSE below max-abs */
        ck_assert_double_lt(err[2][ci], err[1][ci]); /* the residual lowers it further */
    }
    free(xbuf);
    dataset_free(&train), dataset_free(&test);
}
END_TEST

/* QAT's first steps: LSQ's rule, or (step_mmse, a trained model) the MMSE scale that PTQ would
 * choose, per weight channel and for the first batch's inputs; on heavy-tailed inputs the MMSE
 * start has the lower quantization error. */
START_TEST(qat_steps_start_at_lsq_or_mmse)
{
    rng r;
    rng_seed(&r, 21);
    float x[64 * 2 * 64];
    for (int i = 0; i < 64 * 2 * 64; i++) /* heavy tails: a Student-t-like ratio */
        x[i] = rng_normal(&r) / (0.2f + fabsf(rng_normal(&r)));
    double act_err[2];
    for (int mmse = 0; mmse <= 1; mmse++) {
        model *m = bn_model(64);
        quant_fmt w = {.format = QFMT_INT, .bits = 4, .per_channel = 1, .is_signed = 1};
        quant_fmt a = {.format = QFMT_INT, .bits = 4, .is_signed = -1};
        model_set_quant(m, 0, &w, &a);
        layer *L = &m->layers[m->compute[0]];
        L->step_mmse = mmse;
        model_forward(m, x, 64, 1);
        int_levels lw = int_levels_make(4, 1), la = int_levels_make(4, L->aq.is_signed);
        const long per = L->nw / L->c;
        for (int k = 0; k < L->c; k++) {
            const float *wk = L->weight + k * per;
            ck_assert_float_eq(L->w_step[k],
                               mmse ? mmse_int_scale(wk, per, lw, NULL) : lsq_init_step(wk, per, lw));
        }
        const long n = 64L * L->in_len;
        ck_assert_float_eq(L->a_step[0],
                           mmse ? mmse_int_scale(x, n, la, NULL) : lsq_init_step(x, n, la));
        double e = 0;
        for (long i = 0; i < n; i++)
            e += (double)(L->xq[i] - x[i]) * (L->xq[i] - x[i]);
        act_err[mmse] = e;
        model_free(m);
    }
    ck_assert_double_lt(act_err[1], act_err[0]);
}
END_TEST

Suite *ptq_suite(void)
{
    Suite *s = suite_create("ptq");
    TCase *tc = tcase_create("ptq");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bn_folding_leaves_outputs_unchanged);
    tcase_add_test(tc, hfp8_gradients_are_scaled_e5m2);
    tcase_add_test(tc, ptq_mmse_and_residual_lower_the_weight_error);
    tcase_add_test(tc, qat_steps_start_at_lsq_or_mmse);
    suite_add_tcase(s, tc);
    return s;
}

QD_CHECK_MAIN(ptq_suite)
