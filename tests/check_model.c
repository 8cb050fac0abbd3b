/*
 * check_model.c: a whole model against its definition: finite-difference gradients of the loss
 * through conv, batch norm, ReLU, pooling, a residual add and linear layers; the checkpoint
 * round trip (bits equal, corruption detected); the cost model against hand-computed values.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/cost.h"
#include "core/model.h"
#include "core/optim.h"
#include "tests/check_main.h"

#define FD_TOL 2e-2  /* relative */
#define FD_ATOL 1.5e-3 /* absolute: the float loss is exact to ~1e-6, divided by 2 * 5e-4 */

static layer_desc L(int kind, int out, int k, int s, int p, int in0, int in1)
{
    layer_desc d = {.kind = kind, .out = out, .kernel = k, .stride = s, .pad = p, .bias = 1};
    d.nin = in1 == -2 ? 1 : 2;
    d.in[0] = in0, d.in[1] = in1 == -2 ? 0 : in1;
    snprintf(d.name, sizeof d.name, "%s%d", layer_kind_name(kind), in0 + 1);
    return d;
}

/* conv -> bn -> relu -> conv1x1 -> add(relu) -> maxpool -> avgpool -> gap -> flatten -> linear */
static void small_resnet(model_desc *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "fd-net");
    int i = 0;
    d->layers[i++] = L(LK_CONV, 4, 3, 1, 1, -1, -2);    /* 0 */
    d->layers[i++] = L(LK_BN, 0, 0, 0, 0, 0, -2);        /* 1 */
    d->layers[i++] = L(LK_RELU, 0, 0, 0, 0, 1, -2);      /* 2 */
    d->layers[i++] = L(LK_CONV, 4, 1, 1, 0, 2, -2);      /* 3 */
    d->layers[i++] = L(LK_ADD, 0, 0, 0, 0, 3, 2);        /* 4 */
    d->layers[i++] = L(LK_MAXPOOL, 0, 2, 2, 0, 4, -2);   /* 5: 3x3 */
    d->layers[i++] = L(LK_AVGPOOL, 0, 2, 1, 0, 5, -2);   /* 6: 2x2 */
    d->layers[i++] = L(LK_GAP, 0, 0, 0, 0, 6, -2);       /* 7 */
    d->layers[i++] = L(LK_FLATTEN, 0, 0, 0, 0, 7, -2);   /* 8 */
    d->layers[i++] = L(LK_LINEAR, 3, 0, 0, 0, 8, -2);    /* 9 */
    d->n_layers = i;
}

static double loss_of(model *m, const float *x, const int *y, int n)
{
    const float *logits = model_forward(m, x, n, 1);
    return softmax_xent(NULL, logits, y, n, m->classes);
}

START_TEST(whole_model_gradient_finite_differences)
{
    model_desc d;
    small_resnet(&d);
    model *m = NULL;
    qd_err err = {0};
    ck_assert_int_eq(model_create(&m, &d, 2, 6, 6, 3, 4, 2, &err), 0);
    model_init_params(m, 1);
    rng r;
    rng_seed(&r, 2);
    float x[4 * 2 * 36], dl[12];
    int y[4] = {0, 1, 2, 1};
    for (int i = 0; i < 4 * 2 * 36; i++)
        x[i] = rng_normal(&r);
    model_zero_grads(m);
    softmax_xent(dl, model_forward(m, x, 4, 1), y, 4, 3);
    model_backward(m, dl, 4);
    float *g = malloc(sizeof(float) * m->n_params);
    memcpy(g, m->grads, sizeof(float) * m->n_params);
    /* An entry agrees when some step size in FD_STEPS agrees: a kink of ReLU or max-pool
     * within +-eps spoils one step size, a wrong gradient spoils them all. */
    static const float FD_STEPS[] = {1e-2f, 2e-3f, 5e-4f};
    int bad = 0;
    for (long j = 0; j < m->n_params; j++) {
        double best = INFINITY, num = 0.0;
        for (int k = 0; k < 3; k++) {
            float keep = m->params[j], e = FD_STEPS[k];
            m->params[j] = keep + e;
            double up = loss_of(m, x, y, 4);
            m->params[j] = keep - e;
            double down = loss_of(m, x, y, 4);
            m->params[j] = keep;
            double nk = (up - down) / (2 * e);
            double rel = fabs(nk - g[j]) / fmax(1e-2, fabs(nk) + fabs(g[j]));
            if (fabs(nk - g[j]) < FD_ATOL)
                rel = 0.0;
            if (rel < best)
                best = rel, num = nk;
        }
        if (best > FD_TOL)
            bad++, fprintf(stderr, "param %ld: analytic %g numeric %g\n", j, g[j], num);
    }
    ck_assert_int_eq(bad, 0);
    free(g);
    model_free(m);
}
END_TEST

START_TEST(checkpoint_round_trip_and_corruption)
{
    model_desc d;
    small_resnet(&d);
    model *a = NULL, *b = NULL;
    optim *oa = NULL, *ob = NULL;
    optim_cfg oc = {.kind = OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f};
    ck_assert_int_eq(model_create(&a, &d, 2, 6, 6, 3, 4, 1, NULL), 0);
    ck_assert_int_eq(model_create(&b, &d, 2, 6, 6, 3, 4, 1, NULL), 0);
    ck_assert_int_eq(optim_create(&oa, &oc, a->n_params, NULL), 0);
    ck_assert_int_eq(optim_create(&ob, &oc, b->n_params, NULL), 0);
    model_init_params(a, 3);
    for (long i = 0; i < oa->n_state; i++)
        oa->state[i] = (float)i * 0.5f;
    char path[] = "/tmp/qd-ckpt-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ckpt_meta meta = {.epoch = 3, .step = 42, .extra = "[1,2]", .extra_len = 5};
    rng_seed(&meta.data_rng, 77);
    ck_assert_int_eq(checkpoint_save(path, a, oa, &meta, NULL), 0);
    ckpt_meta back = {0};
    qd_err err = {0};
    ck_assert_int_eq(checkpoint_load(path, b, ob, &back, &err), 0);
    ck_assert_mem_eq(a->params, b->params, sizeof(float) * a->n_params);
    ck_assert_mem_eq(a->state, b->state, sizeof(float) * a->n_state);
    ck_assert_mem_eq(oa->state, ob->state, sizeof(float) * oa->n_state);
    ck_assert_int_eq(back.epoch, 3);
    ck_assert_int_eq(back.step, 42);
    ck_assert_mem_eq(&back.data_rng, &meta.data_rng, sizeof meta.data_rng);
    ck_assert_str_eq(back.extra, "[1,2]");
    free(back.extra);
    /* flip one byte in the middle: checksum mismatch */
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 2, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);
    ck_assert_int_eq(checkpoint_load(path, b, ob, NULL, &err), QD_ECHECKSUM);
    /* truncated and missing files */
    ck_assert_int_eq(truncate(path, 10), 0);
    ck_assert_int_eq(checkpoint_load(path, b, ob, NULL, &err), QD_EFORMAT);
    unlink(path);
    ck_assert_int_eq(checkpoint_load(path, b, ob, NULL, &err), QD_ENOENT);
    model_free(a), model_free(b), optim_free(oa), optim_free(ob);
}
END_TEST

START_TEST(cost_model_hand_computed)
{
    /* conv 1->2 k3 pad1 (bias) on 1x4x4, bn, relu, flatten, linear 32->3 */
    model_desc d = {.name = "cost"};
    d.layers[0] = L(LK_CONV, 2, 3, 1, 1, -1, -2);
    d.layers[1] = L(LK_BN, 0, 0, 0, 0, 0, -2);
    d.layers[2] = L(LK_RELU, 0, 0, 0, 0, 1, -2);
    d.layers[3] = L(LK_FLATTEN, 0, 0, 0, 0, 2, -2);
    d.layers[4] = L(LK_LINEAR, 3, 0, 0, 0, 3, -2);
    d.n_layers = 5;
    model *m = NULL;
    ck_assert_int_eq(model_create(&m, &d, 1, 4, 4, 3, 2, 1, NULL), 0);
    model_cost c;
    int wb[2] = {4, 8}, ab[2] = {8, 4}, pc[2] = {1, 0};
    cost_eval(&c, m, wb, ab, pc, NULL);
    /* conv: ceil(18*4/8)=9 + 2 scales*4 + 2 biases*4 + act scale 4 = 29
     * linear: 96*8/8=96 + 1 scale*4 + 3 biases*4 + 4 = 116 */
    ck_assert_int_eq(c.layers[0].weight_bytes, 29);
    ck_assert_int_eq(c.layers[1].weight_bytes, 116);
    ck_assert_int_eq(c.weight_bytes, 145);
    /* conv: (16*8 + 32*4)/8 = 32; linear: (32*4 + 3*32)/8 = 28 */
    ck_assert_int_eq(c.activation_bytes, 32);
    ck_assert_int_eq(c.total_bytes, 177);
    /* 288 MACs * 4 * 8 + 96 MACs * 8 * 4 */
    ck_assert_double_eq(c.bitops, 288.0 * 32 + 96.0 * 32);
    /* float: 4 bytes per weight, biases, no scales */
    int f32[2] = {32, 32};
    cost_eval(&c, m, f32, f32, NULL, NULL);
    ck_assert_int_eq(c.weight_bytes, 18 * 4 + 8 + 96 * 4 + 12);
    /* a 2-bit residual on the conv adds ceil(18*2/8) = 5 bytes and its 2 scales */
    int rb[2] = {2, 0};
    cost_eval(&c, m, wb, ab, pc, rb);
    ck_assert_int_eq(c.layers[0].weight_bytes, 29 + 5 + 8);
    model_free(m);
}
END_TEST

START_TEST(model_rejects_bad_shapes)
{
    model_desc d = {.name = "bad"};
    d.layers[0] = L(LK_CONV, 2, 5, 1, 0, -1, -2);
    d.layers[1] = L(LK_FLATTEN, 0, 0, 0, 0, 0, -2);
    d.layers[2] = L(LK_LINEAR, 10, 0, 0, 0, 1, -2);
    d.n_layers = 3;
    model *m = NULL;
    qd_err err = {0};
    /* kernel 5 on a 3x3 input */
    ck_assert_int_eq(model_create(&m, &d, 1, 3, 3, 10, 2, 1, &err), QD_EMODEL);
    ck_assert_str_eq(err.field, "layers[0].kernel");
    /* wrong number of classes */
    ck_assert_int_eq(model_create(&m, &d, 1, 8, 8, 5, 2, 1, &err), QD_EMODEL);
    ck_assert_str_eq(err.field, "layers[2].out");
    /* linear without flatten */
    d.layers[1] = L(LK_RELU, 0, 0, 0, 0, 0, -2);
    ck_assert_int_eq(model_create(&m, &d, 1, 8, 8, 10, 2, 1, &err), QD_EMODEL);
    ck_assert_ptr_null(m);
}
END_TEST

/* A flatten of a flatten of the model input is the input itself: the model computes what one
 * flatten does. (fuzz_modelfile: the second flatten's output was NULL, a segfault in linear.) */
START_TEST(a_flatten_of_a_flatten_of_the_input_runs)
{
    model_desc twice = {.name = "ff"}, once = {.name = "f"};
    twice.layers[0] = L(LK_FLATTEN, 0, 0, 0, 0, -1, -2);
    twice.layers[1] = L(LK_FLATTEN, 0, 0, 0, 0, 0, -2);
    twice.layers[2] = L(LK_LINEAR, 3, 0, 0, 0, 1, -2);
    twice.n_layers = 3;
    once.layers[0] = L(LK_FLATTEN, 0, 0, 0, 0, -1, -2);
    once.layers[1] = L(LK_LINEAR, 3, 0, 0, 0, 0, -2);
    once.n_layers = 2;
    model *a = NULL, *b = NULL;
    ck_assert_int_eq(model_create(&a, &twice, 2, 3, 3, 3, 2, 1, NULL), 0);
    ck_assert_int_eq(model_create(&b, &once, 2, 3, 3, 3, 2, 1, NULL), 0);
    ck_assert_int_eq(a->n_params, b->n_params);
    model_init_params(b, 7);
    memcpy(a->params, b->params, sizeof(float) * (size_t)b->n_params);
    float x[2 * 18], dl[2 * 3];
    for (int i = 0; i < 2 * 18; i++)
        x[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    for (int i = 0; i < 2 * 3; i++)
        dl[i] = (float)(i + 1) / 6.0f;
    const float *la = model_forward(a, x, 2, 1), *lb = model_forward(b, x, 2, 1);
    ck_assert_ptr_nonnull(la);
    ck_assert_int_eq(memcmp(la, lb, sizeof(float) * 2 * 3), 0);
    model_zero_grads(a), model_zero_grads(b);
    model_backward(a, dl, 2);
    model_backward(b, dl, 2);
    ck_assert_int_eq(memcmp(a->grads, b->grads, sizeof(float) * (size_t)b->n_params), 0);
    model_free(a), model_free(b);
}
END_TEST

Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, whole_model_gradient_finite_differences);
    tcase_add_test(tc, checkpoint_round_trip_and_corruption);
    tcase_add_test(tc, cost_model_hand_computed);
    tcase_add_test(tc, model_rejects_bad_shapes);
    tcase_add_test(tc, a_flatten_of_a_flatten_of_the_input_runs);
    suite_add_tcase(s, tc);
    return s;
}

QD_CHECK_MAIN(model_suite)
