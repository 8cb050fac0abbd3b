/*
 * check_optim.c: optimiser updates against their formulas (PyTorch's SGD with momentum,
 * Nesterov and weight decay; AdamW) and the schedules at their defining points.
 */
#include <check.h>
#include <math.h>

#include "core/optim.h"
#include "tests/check_main.h"

START_TEST(sgd_nesterov_matches_formula)
{
    optim *o = NULL;
    optim_cfg c = {.kind = OPTIM_SGD, .weight_decay = 0.1f, .nesterov = 1};
    ck_assert_int_eq(optim_create(&o, &c, 1, NULL), 0);
    float w = 1.0f, g = 0.5f;
    /* step 1: gi = 0.5 + 0.1 = 0.6; v = 0.6; w -= 0.1 * (0.6 + 0.9 * 0.6) = 0.114 */
    optim_step(o, &w, &g, 0.1f, 0.9f);
    ck_assert_float_eq_tol(w, 1.0f - 0.114f, 1e-6f);
    /* step 2: gi = 0.5 + 0.0886 = 0.5886; v = 0.54 + 0.5886 = 1.1286;
     * w -= 0.1 * (0.5886 + 0.9 * 1.1286) */
    optim_step(o, &w, &g, 0.1f, 0.9f);
    ck_assert_float_eq_tol(w, 0.886f - 0.1f * (0.5886f + 0.9f * 1.1286f), 1e-5f);
    optim_free(o);
}
END_TEST

START_TEST(sgd_plain_momentum)
{
    optim *o = NULL;
    optim_cfg c = {.kind = OPTIM_SGD};
    ck_assert_int_eq(optim_create(&o, &c, 1, NULL), 0);
    float w = 0.0f, g = 1.0f;
    optim_step(o, &w, &g, 1.0f, 0.5f); /* v = 1, w = -1 */
    optim_step(o, &w, &g, 1.0f, 0.5f); /* v = 1.5, w = -2.5 */
    ck_assert_float_eq_tol(w, -2.5f, 1e-6f);
    optim_free(o);
}
END_TEST

START_TEST(adamw_first_step_is_lr_sized)
{
    optim *o = NULL;
    optim_cfg c = {.kind = OPTIM_ADAMW, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
    ck_assert_int_eq(optim_create(&o, &c, 2, NULL), 0);
    float w[2] = {1.0f, -1.0f}, g[2] = {3.0f, -0.01f};
    optim_step(o, w, g, 0.1f, 0.9f);
    /* bias-corrected first step moves each weight by lr * sign(g), after decay lr*wd*w */
    ck_assert_float_eq_tol(w[0], 1.0f - 0.001f - 0.1f, 1e-5f);
    ck_assert_float_eq_tol(w[1], -1.0f + 0.001f + 0.1f, 1e-5f);
    optim_free(o);
}
END_TEST

START_TEST(schedules_at_their_defining_points)
{
    float lr, mom;
    lr_schedule s = {.kind = LRS_ONE_CYCLE, .lr = 0.05f, .momentum = 0.9f, .total_steps = 1000,
                     .warmup_frac = 0.3f};
    lr_schedule_at(&s, 0, &lr, &mom);
    ck_assert_float_eq_tol(lr, 0.05f / 25, 1e-7f);
    ck_assert_float_eq_tol(mom, 0.95f, 1e-6f);
    lr_schedule_at(&s, 299, &lr, &mom);
    ck_assert_float_eq_tol(lr, 0.05f, 1e-7f);
    ck_assert_float_eq_tol(mom, 0.85f, 1e-6f);
    lr_schedule_at(&s, 999, &lr, &mom);
    ck_assert_float_eq_tol(lr, 0.05f / 25 / 1e4f, 1e-9f);
    ck_assert_float_eq_tol(mom, 0.95f, 1e-6f);
    s = (lr_schedule){.kind = LRS_STEP, .lr = 1.0f, .steps_per_epoch = 10, .step_epochs = 2,
                      .gamma = 0.1f, .momentum = 0.9f};
    lr_schedule_at(&s, 19, &lr, &mom);
    ck_assert_float_eq_tol(lr, 1.0f, 1e-6f);
    lr_schedule_at(&s, 20, &lr, &mom);
    ck_assert_float_eq_tol(lr, 0.1f, 1e-6f);
    ck_assert_float_eq_tol(mom, 0.9f, 1e-6f);
    s = (lr_schedule){.kind = LRS_COSINE, .lr = 1.0f, .total_steps = 100};
    lr_schedule_at(&s, 50, &lr, &mom);
    ck_assert_float_eq_tol(lr, 0.5f, 1e-6f);
    s.kind = LRS_CONSTANT;
    lr_schedule_at(&s, 77, &lr, &mom);
    ck_assert_float_eq(lr, 1.0f);
}
END_TEST

Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, sgd_nesterov_matches_formula);
    tcase_add_test(tc, sgd_plain_momentum);
    tcase_add_test(tc, adamw_first_step_is_lr_sized);
    tcase_add_test(tc, schedules_at_their_defining_points);
    suite_add_tcase(s, tc);
    return s;
}

QD_CHECK_MAIN(optim_suite)
