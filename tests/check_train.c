/*
 * check_train.c: the train job end to end on the built-in synthetic data set: it learns, a run
 * interrupted after an epoch and resumed ends bit-identical to an uninterrupted one (float and
 * QAT with augmentation), AdaQAT moves the bits the way lambda says within their bounds, PTQ
 * reports and keeps accuracy, and `quantd run` names the failing field of a bad spec.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "jobs/job.h"
#include "tests/check_main.h"

/* the quantd of this build (bin/ or bin-asan/ ...): the Makefile says which */
#ifndef QD_BIN_DIR
#define QD_BIN_DIR "bin"
#endif

typedef struct test_ctx {
    int stop_after;   /* cancel once this many epochs have finished (0 = never) */
    int epochs_seen;
} test_ctx;

static void on_epoch(void *vctx, const json_t *e, int epoch, int epochs)
{
    (void)e, (void)epochs;
    ((test_ctx *)vctx)->epochs_seen = epoch;
}

static int cancelled(void *vctx)
{
    test_ctx *c = vctx;
    return c->stop_after && c->epochs_seen >= c->stop_after;
}

static char *make_dir(void)
{
    char *d = strdup("/tmp/qd-train-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void remove_dir(char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    free(d);
}

/* Run spec text in dir; returns the job's code and the result in *out (NULL on failure). */
static int run_spec(const char *text, const char *dir, test_ctx *ctx, json_t **out)
{
    job_spec spec;
    qd_err err = {0};
    int rc = spec_parse(&spec, text, (long)strlen(text), &err);
    ck_assert_msg(rc == 0, "spec: %s: %s", err.field, err.msg);
    test_ctx none = {0};
    job_env env = {.dir = dir, .nthreads = 2, .ctx = ctx ? ctx : &none, .on_epoch = on_epoch,
                   .cancelled = cancelled};
    return job_run(&spec, &env, out, &err);
}

static double num(const json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

START_TEST(synthetic_trains_to_95_percent)
{
    char *dir = make_dir();
    json_t *r = NULL;
    ck_assert_int_eq(run_spec("{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 3}",
                              dir, NULL, &r),
                     0);
    ck_assert_double_ge(num(r, "test_accuracy"), 0.95);
    ck_assert_int_eq(json_array_size(json_object_get(r, "history")), 3);
    ck_assert_int_eq((long)num(r, "params"), 784 * 256 + 256 + 256 * 256 + 256 + 2570);
    json_t *mem = json_object_get(r, "memory");
    /* float mlp: 4 bytes per weight and bias */
    ck_assert_int_eq((long)num(mem, "weight_bytes"), 4L * (784 * 256 + 256 + 256 * 256 + 256 + 2570));
    ck_assert_int_eq((long)num(mem, "total_bytes"),
                     (long)num(mem, "weight_bytes") + (long)num(mem, "activation_bytes"));
    json_decref(r);
    remove_dir(dir);
}
END_TEST

/* Same spec: uninterrupted, and cancelled after epoch 1 then resumed. */
static void check_resume(const char *spec)
{
    char *a = make_dir(), *b = make_dir();
    json_t *ra = NULL, *rb = NULL;
    ck_assert_int_eq(run_spec(spec, a, NULL, &ra), 0);
    test_ctx stop = {.stop_after = 1};
    ck_assert_int_eq(run_spec(spec, b, &stop, &rb), QD_ECANCELLED);
    ck_assert_ptr_null(rb);
    ck_assert_int_eq(run_spec(spec, b, NULL, &rb), 0);
    ck_assert_double_eq(num(ra, "test_accuracy"), num(rb, "test_accuracy"));
    ck_assert_double_eq(num(ra, "test_loss"), num(rb, "test_loss"));
    json_t *ha = json_object_get(ra, "history"), *hb = json_object_get(rb, "history");
    ck_assert_int_eq(json_array_size(ha), json_array_size(hb));
    for (size_t i = 0; i < json_array_size(ha); i++)
        ck_assert_double_eq(num(json_array_get(ha, i), "train_loss"),
                            num(json_array_get(hb, i), "train_loss"));
    /* the final parameters, bit for bit */
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", a, JOB_MODEL);
    snprintf(pb, sizeof pb, "%s/%s", b, JOB_MODEL);
    ckpt_info *info = malloc(sizeof *info);
    ck_assert_int_eq(checkpoint_info(pa, info, NULL), 0);
    model *ma = NULL, *mb = NULL;
    ck_assert_int_eq(model_create(&ma, &info->desc, info->in_c, info->in_h, info->in_w,
                                  info->classes, 8, 1, NULL), 0);
    ck_assert_int_eq(model_create(&mb, &info->desc, info->in_c, info->in_h, info->in_w,
                                  info->classes, 8, 1, NULL), 0);
    ck_assert_int_eq(checkpoint_load(pa, ma, NULL, NULL, NULL), 0);
    ck_assert_int_eq(checkpoint_load(pb, mb, NULL, NULL, NULL), 0);
    ck_assert_mem_eq(ma->params, mb->params, sizeof(float) * ma->n_params);
    ck_assert_mem_eq(ma->state, mb->state, sizeof(float) * ma->n_state);
    model_free(ma), model_free(mb), free(info);
    json_decref(ra), json_decref(rb);
    remove_dir(a), remove_dir(b);
}

START_TEST(resume_after_interruption_is_bit_identical)
{
    check_resume("{\"dataset\": \"synthetic\", \"model\": \"lenet5\", \"epochs\": 3, "
                 "\"batch_size\": 50, \"subset\": {\"train\": 600, \"test\": 200}}");
}
END_TEST

START_TEST(resume_of_qat_with_augmentation_is_bit_identical)
{
    check_resume("{\"dataset\": \"synthetic\", \"model\": \"lenet5\", \"epochs\": 3, "
                 "\"batch_size\": 50, \"augment\": true, \"subset\": {\"train\": 600, \"test\": 200},"
                 "\"quant\": {\"method\": \"qat\", \"weights\": {\"format\": \"int\", \"bits\": 4},"
                 " \"activations\": {\"format\": \"e3m2\", \"stochastic\": true}}}");
}
END_TEST

START_TEST(qat_w2a2_learns_and_reports_its_bits)
{
    char *dir = make_dir();
    json_t *r = NULL;
    ck_assert_int_eq(
        run_spec("{\"dataset\": \"synthetic\", \"model\": \"lenet5\", \"epochs\": 3,"
                 " \"batch_size\": 64, \"subset\": {\"train\": 2000, \"test\": 500},"
                 " \"quant\": {\"method\": \"qat\", \"weights\": {\"format\": \"int\", \"bits\": 2},"
                 " \"activations\": {\"format\": \"int\", \"bits\": 2}, \"first_last_bits\": 8}}",
                 dir, NULL, &r),
        0);
    ck_assert_double_ge(num(r, "test_accuracy"), 0.9);
    json_t *layers = json_object_get(r, "layers");
    size_t n = json_array_size(layers);
    ck_assert_int_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        int edge = i == 0 || i == n - 1;
        ck_assert_int_eq(num(json_array_get(layers, i), "w_bits"), edge ? 8 : 2);
        ck_assert_int_eq(num(json_array_get(layers, i), "a_bits"), edge ? 8 : 2);
    }
    json_decref(r);
    remove_dir(dir);
}
END_TEST

/* AdaQAT from 6 bits with the given lambda; returns the result. */
static json_t *adaqat_run(double lambda, char *dir)
{
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"dataset\": \"synthetic\", \"model\": \"lenet5\", \"epochs\": 2,"
             " \"batch_size\": 64, \"subset\": {\"train\": 1280, \"test\": 200},"
             " \"quant\": {\"method\": \"adaqat\", \"weights\": {\"format\": \"int\", \"bits\": 6},"
             " \"activations\": {\"format\": \"int\", \"bits\": 6},"
             " \"adaqat\": {\"granularity\": \"network\", \"lambda\": %g, \"eta\": 2,"
             " \"interval\": 2, \"min_bits\": 3, \"max_bits\": 7}}}",
             lambda);
    json_t *r = NULL;
    ck_assert_int_eq(run_spec(spec, dir, NULL, &r), 0);
    return r;
}

START_TEST(adaqat_lambda_moves_bits_within_bounds)
{
    char *d1 = make_dir(), *d2 = make_dir();
    json_t *hi = adaqat_run(20.0, d1), *zero = adaqat_run(0.0, d2);
    json_t *ah = json_object_get(hi, "adaqat"), *az = json_object_get(zero, "adaqat");
    ck_assert_int_gt(num(ah, "updates"), 0);
    /* a large lambda drives bits down, to the lower bound and not past it */
    ck_assert_double_lt(num(ah, "mean_w_bits"), 6.0);
    ck_assert_double_lt(num(ah, "mean_a_bits"), 6.0);
    ck_assert_double_ge(num(ah, "mean_w_bits"), 3.0);
    /* lambda = 0 keeps or raises them */
    ck_assert_double_ge(num(az, "mean_w_bits"), 6.0);
    ck_assert_double_ge(num(az, "mean_a_bits"), 6.0);
    /* every layer uses N = ceil(n), within the bounds */
    json_t *objs[2] = {ah, az};
    for (int k = 0; k < 2; k++) {
        json_t *nw = json_object_get(objs[k], "n_w"), *wb = json_object_get(objs[k], "w_bits");
        for (size_t i = 0; i < json_array_size(nw); i++) {
            double n = json_real_value(json_array_get(nw, i));
            ck_assert_double_ge(n, 3.0);
            ck_assert_double_le(n, 7.0);
            ck_assert_int_eq(json_integer_value(json_array_get(wb, i)), (int)ceil(n - 1e-6));
        }
    }
    /* the trajectory is in every epoch's history entry */
    json_t *h = json_object_get(hi, "history");
    ck_assert_ptr_nonnull(json_object_get(json_array_get(h, 0), "n_w"));
    json_decref(hi), json_decref(zero);
    remove_dir(d1), remove_dir(d2);
}
END_TEST

START_TEST(ptq_quantizes_a_trained_model_without_retraining)
{
    char *dir = make_dir(), *qdir = make_dir();
    json_t *f = NULL, *q = NULL;
    ck_assert_int_eq(run_spec("{\"dataset\": \"synthetic\", \"model\": \"lenet5\", \"epochs\": 2,"
                              " \"subset\": {\"train\": 2000, \"test\": 500}}",
                              dir, NULL, &f),
                     0);
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"dataset\": \"synthetic\", \"model\": \"lenet5\", \"subset\": {\"train\": 2000,"
             " \"test\": 500}, \"quant\": {\"method\": \"ptq\", \"weights\": {\"format\": \"int\","
             " \"bits\": 4}, \"activations\": {\"format\": \"int\", \"bits\": 8}, \"ptq\":"
             " {\"residual_threshold\": 0.005}}, \"init\": {\"checkpoint\": \"%s/%s\"}}",
             dir, JOB_MODEL);
    ck_assert_int_eq(run_spec(spec, qdir, NULL, &q), 0);
    ck_assert_double_ge(num(q, "test_accuracy"), num(f, "test_accuracy") - 0.03);
    json_t *layers = json_object_get(json_object_get(q, "ptq"), "layers");
    ck_assert_int_eq(json_array_size(layers), 5);
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *l = json_array_get(layers, i);
        if (json_is_true(json_object_get(l, "residual")))
            ck_assert_double_lt(num(l, "weight_rel_error_final"), num(l, "weight_rel_error"));
    }
    /* 4-bit weights: the model is far smaller than the float one */
    ck_assert_double_lt(num(json_object_get(q, "memory"), "weight_bytes"),
                        0.3 * num(json_object_get(f, "memory"), "weight_bytes"));
    json_decref(f), json_decref(q);
    remove_dir(dir), remove_dir(qdir);
}
END_TEST

START_TEST(quantd_run_names_the_failing_field)
{
    char *dir = make_dir();
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    FILE *fp = fopen(path, "w");
    fputs("{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"optimizer\": {\"lr\": -1}}", fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, QD_BIN_DIR "/quantd run %s --state %s 2>%s/err.txt >/dev/null",
             path, dir, dir);
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 1);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    fp = fopen(path, "r");
    char buf[1024] = {0};
    ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, fp), 0);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, "invalid_spec"));
    ck_assert_ptr_nonnull(strstr(buf, "optimizer.lr"));
    /* usage errors exit 2 */
    snprintf(cmd, sizeof cmd, QD_BIN_DIR "/quantd run >/dev/null 2>&1");
    st = system(cmd);
    ck_assert_int_eq(WEXITSTATUS(st), 2);
    remove_dir(dir);
}
END_TEST

Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, synthetic_trains_to_95_percent);
    tcase_add_test(tc, resume_after_interruption_is_bit_identical);
    tcase_add_test(tc, resume_of_qat_with_augmentation_is_bit_identical);
    tcase_add_test(tc, qat_w2a2_learns_and_reports_its_bits);
    tcase_add_test(tc, adaqat_lambda_moves_bits_within_bounds);
    tcase_add_test(tc, ptq_quantizes_a_trained_model_without_retraining);
    tcase_add_test(tc, quantd_run_names_the_failing_field);
    suite_add_tcase(s, tc);
    return s;
}

QD_CHECK_MAIN(train_suite)
