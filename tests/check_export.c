/*
 * check_export.c: export jobs end to end on the synthetic set. A small CNN is trained through
 * job_run as W4A4 QAT (int8 first and last layers), W8A8 QAT (the int16 GEMM kernel) and E3M2
 * minifloat QAT (the decoded path), then exported:
 * - the runtime against the fake-quantized float model: predictions agree on >= 99.8% of the
 *   1000 synthetic test images and logits stay within LOGIT_TOL of the logit range (they differ
 *   only where an activation lands on the other side of a rounding boundary: the runtime
 *   requantizes in fixed point from exact int32 sums, the model in float from float sums);
 * - the AVX2 kernels against the portable ones: the same logits, bit for bit, and the GEMMs and
 *   the requantizing epilogue against their references on random data, tails included;
 * - format "c": the generated file compiles with `cc -std=c11 -Wall -Wextra -Werror -pedantic`
 *   (and clang's, where installed), and the program built from it gives the runtime's logits
 *   (bit for bit for integer models);
 * - format "onnx": onnx.checker accepts the model, and tests/onnx_eval.py (NumPy) computes the
 *   runtime's predictions from it (skipped, saying so, without python3-onnx);
 * - the job's errors: sources, candidates of a search job, the data set, spec fields.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/dataset.h"
#include "core/qrt.h"
#include "core/qrt_kern.h"
#include "jobs/export.h"
#include "jobs/job.h"
#include "tests/check_main.h"

#define LOGIT_TOL 0.05     /* max |logit difference| / (max |logit|), runtime vs fake quant */
#define AGREE_MIN 0.998    /* prediction agreement, runtime vs fake quant */
#define MF_REL_TOL 1e-4    /* generated C vs runtime on float sums (decoded layers) */
#define C_IMAGES 100

static char g_dir[64], g_model[128];

static const char TINY_MODEL[] =
    "{\"name\": \"tiny\", \"layers\": ["
    "{\"type\": \"conv\", \"out\": 8, \"kernel\": 3, \"padding\": 1}, {\"type\": \"batchnorm\"},"
    "{\"type\": \"relu\"}, {\"type\": \"maxpool\", \"kernel\": 2},"
    "{\"type\": \"conv\", \"out\": 12, \"kernel\": 3, \"padding\": 1}, {\"type\": \"batchnorm\"},"
    "{\"type\": \"relu\"}, {\"type\": \"maxpool\", \"kernel\": 2}, {\"type\": \"flatten\"},"
    "{\"type\": \"linear\", \"out\": 24}, {\"type\": \"relu\"}, {\"type\": \"linear\", \"out\": 10}]}";

static const char *const QUANT[] = {
    "\"weights\": {\"bits\": 4}, \"activations\": {\"bits\": 4}, \"first_last_bits\": 8",
    "\"weights\": {\"bits\": 8}, \"activations\": {\"bits\": 8}",
    "\"weights\": {\"format\": \"e3m2\"}, \"activations\": {\"format\": \"e3m2\"}, "
    "\"first_last_bits\": 8",
};
enum { M_W4A4 = 0, M_W8A8, M_E3M2, N_MODELS };

/* ---- fixtures ---- */

static void ckpt_path(char *out, size_t cap, int k)
{
    snprintf(out, cap, "%s/m%d/%s", g_dir, k, JOB_MODEL);
}

static int run_train(int k)
{
    char text[1024], dir[128];
    snprintf(dir, sizeof dir, "%s/m%d", g_dir, k);
    snprintf(text, sizeof text,
             "{\"dataset\": \"synthetic\", \"model\": \"%s\", \"epochs\": 2, \"seed\": 5, "
             "\"batch_size\": 32, "
             "\"subset\": {\"train\": 1000}, \"quant\": {\"method\": \"qat\", %s}}",
             g_model, QUANT[k]);
    job_spec *spec = malloc(sizeof *spec);
    qd_err err = {0};
    json_t *r = NULL;
    job_env env = {.dir = dir, .nthreads = 2};
    int rc = mkdir(dir, 0755) == 0 && spec && spec_parse(spec, text, (long)strlen(text), &err) == 0
                 ? job_run(spec, &env, &r, &err)
                 : -1;
    if (rc)
        fprintf(stderr, "check_export: training model %d: %s\n", k, err.msg);
    json_decref(r);
    free(spec);
    return rc;
}

/* In a child: OpenMP's pool must not exist in the process Check forks the tests from. */
static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/qd-export-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_model, sizeof g_model, "%s/tiny.json", g_dir);
    FILE *f = fopen(g_model, "w");
    ck_assert_ptr_nonnull(f);
    fputs(TINY_MODEL, f);
    fclose(f);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int rc = 0;
        for (int k = 0; k < N_MODELS && rc == 0; k++)
            rc = run_train(k);
        _exit(rc ? 1 : 0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "training the models failed");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- running export jobs ---- */

typedef struct env_ctx {
    const char *resolved;   /* what resolve_job answers, or NULL: no such job */
    int artifacts;
} env_ctx;

static int resolve(void *vctx, const char *id, char *path, size_t cap)
{
    env_ctx *c = vctx;
    (void)id;
    if (!c->resolved)
        return QD_ENOENT;
    snprintf(path, cap, "%s", c->resolved);
    return 0;
}

static void on_artifact(void *vctx, const char *name)
{
    (void)name;
    ((env_ctx *)vctx)->artifacts++;
}

/* Runs the export spec text in a fresh directory dir; the result in *out (NULL on failure). */
static int run_export(const char *text, char *dir, size_t cap, env_ctx *ctx, json_t **out,
                      qd_err *err)
{
    job_spec *spec = malloc(sizeof *spec);
    snprintf(dir, cap, "%s/export-XXXXXX", g_dir); /* tests run in forked children */
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_msg(spec_parse(spec, text, (long)strlen(text), err) == 0, "%s: %s", err->field,
                  err->msg);
    env_ctx none = {0};
    job_env env = {.dir = dir, .nthreads = 2, .ctx = ctx ? ctx : &none, .resolve_job = resolve,
                   .on_artifact = on_artifact};
    int rc = job_run(spec, &env, out, err);
    free(spec);
    return rc;
}

static json_t *export_ok(int k, const char *format, char *dir, size_t cap)
{
    char ck[256], text[512];
    ckpt_path(ck, sizeof ck, k);
    snprintf(text, sizeof text,
             "{\"kind\": \"export\", \"checkpoint\": \"%s\", \"format\": \"%s\", "
             "\"dataset\": \"synthetic\", \"subset\": {\"train\": 1000}}",
             ck, format);
    json_t *r = NULL;
    qd_err err = {0};
    env_ctx ctx = {0};
    ck_assert_msg(run_export(text, dir, cap, &ctx, &r, &err) == 0, "export: %s", err.msg);
    ck_assert_int_eq(ctx.artifacts, (int)json_array_size(json_object_get(r, "files")));
    return r;
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* The test split as the export job saw it (normalised by the 1000 training images). */
static void load_data(dataset *train, dataset *test)
{
    ck_assert_int_eq(dataset_load(train, test, "synthetic", NULL, 1000, 0, NULL), 0);
}

static qmodel *load_qmodel(const char *dir)
{
    char path[300];
    qmodel *qm = NULL;
    qd_err err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, EXPORT_QMODEL_FILE);
    ck_assert_msg(qmodel_load(path, &qm, &err) == 0, "%s", err.msg);
    return qm;
}

static float *run_runtime(const qmodel *qm, const dataset *d, int n, int ref)
{
    qrt *rt;
    ck_assert_int_eq(qrt_create(&rt, qm, 2, ref, NULL), 0);
    float *logits = malloc(sizeof(float) * (size_t)n * qm->classes);
    qrt_run(rt, d->x, n, logits);
    qrt_free(rt);
    return logits;
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        b = v[i] > v[b] ? i : b;
    return b;
}

/* ---- the runtime against the fake-quantized model ---- */

START_TEST(runtime_agrees_with_the_fake_quantized_model)
{
    char dir[128], ck[256];
    json_t *r = export_ok(_i, "qmodel", dir, sizeof dir);
    const json_t *cmp = json_object_get(r, "comparison");
    ck_assert_double_ge(num(cmp, "agreement"), AGREE_MIN);
    ck_assert_double_le(fabs(num(r, "test_accuracy") - num(r, "source_test_accuracy")), 0.002);
    /* the same, measured here: the checkpoint's model in float against the written file */
    dataset train, test;
    load_data(&train, &test);
    ckpt_path(ck, sizeof ck, _i);
    ckpt_info *info = malloc(sizeof *info);
    model *m;
    ck_assert_int_eq(checkpoint_info(ck, info, NULL), 0);
    ck_assert_int_eq(model_create(&m, &info->desc, 1, 28, 28, 10, 100, 2, NULL), 0);
    ck_assert_int_eq(checkpoint_load(ck, m, NULL, NULL, NULL), 0);
    qmodel *qm = load_qmodel(dir);
    float *rt = run_runtime(qm, &test, test.n, 0);
    double maxd = 0.0, range = 0.0;
    int agree = 0;
    for (int at = 0; at < test.n; at += 100) {
        const float *l = model_forward(m, test.x + (size_t)at * 784, 100, 0);
        for (int i = 0; i < 100 * 10; i++) {
            maxd = fmax(maxd, fabs((double)l[i] - rt[(size_t)at * 10 + i]));
            range = fmax(range, fabs((double)l[i]));
        }
        for (int i = 0; i < 100; i++)
            agree += argmax(l + i * 10, 10) == argmax(rt + (size_t)(at + i) * 10, 10);
    }
    ck_assert_msg((double)agree / test.n >= AGREE_MIN, "agreement %d/%d", agree, test.n);
    ck_assert_msg(maxd <= LOGIT_TOL * range, "max logit difference %g of %g", maxd, range);
    ck_assert_double_eq_tol(num(cmp, "max_logit_diff"), maxd, 1e-6);
    free(rt);
    qmodel_free(qm);
    model_free(m);
    free(info);
    dataset_free(&train);
    dataset_free(&test);
    json_decref(r);
}
END_TEST

START_TEST(avx2_and_portable_kernels_give_the_same_logits)
{
    char dir[128];
    json_t *r = export_ok(_i, "qmodel", dir, sizeof dir);
    dataset train, test;
    load_data(&train, &test);
    qmodel *qm = load_qmodel(dir);
    float *fast = run_runtime(qm, &test, 200, 0), *ref = run_runtime(qm, &test, 200, 1);
    ck_assert_mem_eq(fast, ref, sizeof(float) * 200 * 10);
    const json_t *layers = json_object_get(json_object_get(r, "runtime"), "layers");
    const char *kern = json_string_value(json_object_get(json_array_get(layers, 1), "kernel"));
    if (_i == M_E3M2) /* minifloat: the decoded path, no integer kernel */
        ck_assert_ptr_null(kern);
    else
        ck_assert(!strcmp(kern, "u8s8") || !strcmp(kern, "s16") || !strcmp(kern, "u8s8_acc16"));
    if (_i == M_W8A8) { /* two large 8-bit weights side by side: pairs pass int16, vpmaddwd */
        qm_compute *c = &qm->compute[1];
        qm_code_put(c->codes, 0, 8, 127);
        qm_code_put(c->codes, 1, 8, 127);
        qrt *rt;
        int path, k, fused;
        ck_assert_int_eq(qrt_create(&rt, qm, 1, 0, NULL), 0);
        qrt_layer_info(rt, 1, &path, &k, &fused);
        ck_assert_int_eq(k, QRT_KERN_S16);
        ck_assert(fused);
        qrt_free(rt);
        free(fast), free(ref);
        fast = run_runtime(qm, &test, 200, 0), ref = run_runtime(qm, &test, 200, 1);
        ck_assert_mem_eq(fast, ref, sizeof(float) * 200 * 10);
    }
    free(fast), free(ref);
    qmodel_free(qm);
    dataset_free(&train);
    dataset_free(&test);
    json_decref(r);
}
END_TEST

static unsigned lcg(unsigned *s) { return *s = *s * 1103515245u + 12345u; }

START_TEST(gemm_kernels_match_their_references)
{
    unsigned s = 7;
    for (int t = 0; t < 60; t++) {
        int m = 1 + (int)(lcg(&s) >> 16) % 9, n = 1 + (int)(lcg(&s) >> 16) % 40;
        int k = 1 + (int)(lcg(&s) >> 16) % 70, kp = (k + 3) / 4 * 4, np = (n + 7) / 8 * 8;
        int32_t *w = malloc(sizeof(int32_t) * (size_t)n * k), *c1 = malloc(4 * (size_t)m * np);
        int32_t *c2 = malloc(4 * (size_t)m * np);
        uint8_t *a = malloc((size_t)m * kp);
        int16_t *a16 = malloc(2 * (size_t)m * kp);
        int8_t *p8 = malloc(qrt_pack_len(n, k));
        int16_t *p16 = malloc(2 * qrt_pack_len(n, k));
        for (int i = 0; i < n * k; i++)
            w[i] = (int)(lcg(&s) >> 16) % 256 - 128;
        for (int i = 0; i < m * kp; i++)
            a16[i] = a[i] = (uint8_t)(lcg(&s) >> 16);
        qrt_pack_s16(p16, w, n, k);
        qrt_gemm_s16(c1, a16, p16, m, n, k);
        qrt_gemm_s16_ref(c2, a16, p16, m, n, k);
        ck_assert_mem_eq(c1, c2, 4 * (size_t)m * np);
        for (int i = 0; i < n * k; i++) /* pairs that fit int16 for vpmaddubsw */
            w[i] /= 4;
        qrt_pack_u8s8(p8, w, n, k);
        qrt_gemm_u8s8(c1, a, p8, m, n, k);
        qrt_gemm_u8s8_ref(c2, a, p8, m, n, k);
        ck_assert_mem_eq(c1, c2, 4 * (size_t)m * np);
        /* int16 sums over spans: 4-bit-sized codes, so that long spans are allowed */
        for (int i = 0; i < m * kp; i++)
            a[i] &= 15;
        for (int i = 0; i < n * k; i++)
            w[i] = w[i] % 8;
        int span = qrt_acc16_span(w, n, k, 15);
        ck_assert_int_ge(span, 32767 / (15 * 14));
        qrt_pack_u8s8(p8, w, n, k);
        qrt_gemm_u8s8_ref(c2, a, p8, m, n, k);
        for (int sp = 1; sp <= span; sp = sp * 3 + 1) {
            memset(c1, 0x55, 4 * (size_t)m * np);
            qrt_gemm_u8s8_acc16(c1, a, p8, m, n, k, sp);
            ck_assert_mem_eq(c1, c2, 4 * (size_t)m * np);
        }
        for (int o = 0; o < n; o++) { /* and the reference is the plain sum */
            int32_t sum = 0;
            for (int kk = 0; kk < k; kk++)
                sum += a[kk] * w[o * k + kk];
            ck_assert_int_eq(c2[o], sum);
        }
        free(w), free(c1), free(c2), free(a), free(a16), free(p8), free(p16);
    }
}
END_TEST

START_TEST(requantizing_epilogue_matches_its_reference)
{
    unsigned s = 11;
    enum { M = 5, OC = 21, NP = 24 };
    int32_t acc[M * NP], corr[OC], mult[NP], rsh[NP];
    int64_t off2[NP];
    qrt_requant rq[OC];
    uint8_t a[M * OC], b[M * OC];
    for (int t = 0; t < 40; t++) {
        for (int i = 0; i < M * NP; i++)
            acc[i] = (int32_t)lcg(&s) >> (t % 20);
        for (int o = 0; o < OC; o++) {
            corr[o] = (int32_t)lcg(&s) >> 12;
            double scale = ldexp(1.0 + (lcg(&s) >> 16) / 65536.0, -2 - (int)(lcg(&s) >> 16) % 28);
            ck_assert_int_eq(qrt_requant_make(&rq[o], o % 3 ? scale : -scale,
                                              (double)((int)(lcg(&s) >> 16) % 2001 - 1000) / 7),
                             0);
        }
        qrt_requant_soa(rq, OC, mult, rsh, off2);
        qrt_epilogue_codes(a, acc, M, NP, OC, corr, mult, rsh, off2, -100, 120, 128);
        qrt_epilogue_codes_ref(b, acc, M, NP, OC, corr, rq, -100, 120, 128);
        ck_assert_mem_eq(a, b, sizeof a);
    }
    /* the definition: acc * a + b rounded half up */
    qrt_requant q;
    ck_assert_int_eq(qrt_requant_make(&q, 0.25, 0.0), 0);
    ck_assert_int_eq(qrt_requant_apply(6, &q), 2);  /* 1.5 -> 2 */
    ck_assert_int_eq(qrt_requant_apply(-6, &q), -1); /* -1.5 -> -1 */
    ck_assert_int_eq(qrt_requant_apply(5, &q), 1);
    ck_assert_int_eq(qrt_requant_make(&q, 0.75, 0.0), -1); /* |a| >= 1/2: floats instead */
}
END_TEST

/* ---- format "c" ---- */

static const char HARNESS[] =
    "#include <stdio.h>\n#include <stdlib.h>\n#include \"qd_model.h\"\n"
    "int main(int argc, char **argv)\n{\n"
    "    static float x[QD_MODEL_IN_C * QD_MODEL_IN_H * QD_MODEL_IN_W], l[QD_MODEL_CLASSES];\n"
    "    FILE *in = fopen(argv[1], \"rb\"), *out = fopen(argv[2], \"wb\");\n"
    "    if (argc != 4 || !in || !out)\n        return 2;\n"
    "    for (int i = 0; i < atoi(argv[3]); i++) {\n"
    "        if (fread(x, sizeof x, 1, in) != 1)\n            return 3;\n"
    "        int best = qd_model_infer(x, l);\n"
    "        if (best < 0 || best >= QD_MODEL_CLASSES || fwrite(l, sizeof l, 1, out) != 1)\n"
    "            return 4;\n    }\n    return fclose(out) != 0;\n}\n";

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(generated_c_compiles_warning_free_and_matches_the_runtime)
{
    const int k = _i ? M_E3M2 : M_W4A4;
    char dir[128], cmd[1200], path[300];
    json_t *r = export_ok(k, "c", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/harness.c", dir);
    write_file(path, HARNESS, strlen(HARNESS));
    /* clang too, where installed: it warns about unused static functions that gcc lets by */
    snprintf(cmd, sizeof cmd,
             "(! command -v clang >/dev/null || clang -std=c11 -Wall -Wextra -Werror -pedantic "
             "-fsyntax-only -I'%s' '%s/qd_model.c') && cc -std=c11 -Wall -Wextra -Werror "
             "-pedantic -O2 -I'%s' -o '%s/harness' '%s/harness.c' '%s/qd_model.c' 2>&1",
             dir, dir, dir, dir, dir, dir);
    ck_assert_msg(system(cmd) == 0, "the generated C does not compile: %s", cmd);
    dataset train, test;
    load_data(&train, &test);
    snprintf(path, sizeof path, "%s/images.f32", dir);
    write_file(path, test.x, sizeof(float) * C_IMAGES * 784);
    snprintf(cmd, sizeof cmd, "cd '%s' && ./harness images.f32 logits.f32 %d", dir, C_IMAGES);
    ck_assert_int_eq(system(cmd), 0);
    float c_logits[C_IMAGES * 10];
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fread(c_logits, sizeof c_logits, 1, f), 1);
    fclose(f);
    qmodel *qm = load_qmodel(dir);
    float *rt = run_runtime(qm, &test, C_IMAGES, 0);
    if (k == M_W4A4) { /* integers all the way: the same bits */
        ck_assert_mem_eq(c_logits, rt, sizeof c_logits);
    } else {
        double range = 0.0, maxd = 0.0;
        for (int i = 0; i < C_IMAGES * 10; i++) {
            range = fmax(range, fabs((double)rt[i]));
            maxd = fmax(maxd, fabs((double)rt[i] - c_logits[i]));
        }
        ck_assert_msg(maxd <= MF_REL_TOL * range, "C vs runtime: %g of %g", maxd, range);
    }
    free(rt);
    qmodel_free(qm);
    dataset_free(&train);
    dataset_free(&test);
    json_decref(r);
}
END_TEST

/* ---- format "onnx" ---- */

static int have_python_onnx(void)
{
    return system("/usr/bin/python3 -c 'import onnx, numpy' >/dev/null 2>&1") == 0;
}

START_TEST(onnx_passes_the_checker_and_computes_the_model)
{
    char dir[128], cmd[1200], path[300];
    if (!export_onnx_available()) {
        fprintf(stderr, "check_export: SKIPPED the ONNX export: this build has no protobuf-c "
                        "or onnx.proto (make deps installs them)\n");
        return;
    }
    json_t *r = export_ok(_i, "onnx", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, EXPORT_ONNX_FILE);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    if (!have_python_onnx()) {
        fprintf(stderr, "check_export: SKIPPED the ONNX checks: python3-onnx (or numpy) is not "
                        "installed (make deps installs it)\n");
        json_decref(r);
        return;
    }
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import onnx, sys; m = onnx.load(sys.argv[1]); "
             "onnx.checker.check_model(m, full_check=True)\" '%s'", path);
    ck_assert_msg(system(cmd) == 0, "onnx.checker refuses %s", path);
    dataset train, test;
    load_data(&train, &test);
    char images[200], logits[200], ops[200];
    snprintf(images, sizeof images, "%s/images.f32", dir);
    snprintf(logits, sizeof logits, "%s/onnx_logits.f32", dir);
    snprintf(ops, sizeof ops, "%s/ops.txt", dir);
    write_file(images, test.x, sizeof(float) * C_IMAGES * 784);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/onnx_eval.py '%s' '%s' %d '%s' > '%s'",
             path, images, C_IMAGES, logits, ops);
    ck_assert_msg(system(cmd) == 0, "tests/onnx_eval.py failed on %s", path);
    char line[512] = "";
    FILE *f = fopen(ops, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_msg(strstr(line, "QuantizeLinear") && strstr(line, "DequantizeLinear") &&
                      strstr(line, "Conv") && strstr(line, "Gemm"),
                  "operators: %s", line);
    if (_i == M_E3M2) /* the exact minifloat rounding */
        ck_assert_msg(strstr(line, "Round") && strstr(line, "Where"), "operators: %s", line);
    float o[C_IMAGES * 10];
    f = fopen(logits, "rb");
    ck_assert_int_eq(fread(o, sizeof o, 1, f), 1);
    fclose(f);
    qmodel *qm = load_qmodel(dir);
    float *rt = run_runtime(qm, &test, C_IMAGES, 0);
    int agree = 0;
    double maxd = 0.0, range = 0.0;
    for (int i = 0; i < C_IMAGES; i++) {
        agree += argmax(o + i * 10, 10) == argmax(rt + i * 10, 10);
        for (int c = 0; c < 10; c++) {
            maxd = fmax(maxd, fabs((double)o[i * 10 + c] - rt[i * 10 + c]));
            range = fmax(range, fabs((double)rt[i * 10 + c]));
        }
    }
    ck_assert_msg(agree >= C_IMAGES - 1 && maxd <= LOGIT_TOL * range,
                  "ONNX vs runtime: %d/%d agree, max difference %g of %g", agree, C_IMAGES, maxd,
                  range);
    free(rt);
    qmodel_free(qm);
    dataset_free(&train);
    dataset_free(&test);
    json_decref(r);
}
END_TEST

/* ---- sources and errors ---- */

typedef struct spec_err {
    const char *json, *field;
} spec_err;

static const spec_err spec_errs[] = {
    {"{'kind': 'export', 'job': 'a'}", "format"},
    {"{'kind': 'export', 'job': 'a', 'format': 'tflite'}", "format"},
    {"{'kind': 'export', 'format': 'qmodel'}", "job"},
    {"{'kind': 'export', 'job': 'a', 'checkpoint': 'b', 'format': 'qmodel'}", "job"},
    {"{'kind': 'export', 'job': 'a', 'format': 'qmodel', 'candidate': -1}", "candidate"},
    {"{'kind': 'export', 'job': 'a', 'format': 'c', 'prefix': '9lives'}", "prefix"},
    {"{'kind': 'export', 'job': 'a', 'format': 'qmodel', 'prefix': 'm'}", "prefix"},
    {"{'kind': 'export', 'job': 'a', 'format': 'qmodel', 'subset': {'test': -2}}", "subset.test"},
    {"{'kind': 'export', 'job': 'a', 'format': 'qmodel', 'epochs': 3}", "epochs"},
};

START_TEST(bad_export_specs_name_their_field)
{
    char text[256];
    size_t n = 0;
    for (const char *c = spec_errs[_i].json; *c && n < sizeof text - 1; c++)
        text[n++] = *c == '\'' ? '"' : *c;
    text[n] = '\0';
    job_spec spec;
    qd_err err = {0};
    ck_assert_int_eq(spec_parse(&spec, text, (long)n, &err), QD_ESPEC);
    ck_assert_str_eq(err.field, spec_errs[_i].field);
}
END_TEST

START_TEST(sources_that_cannot_be_exported_say_why)
{
    char dir[128], text[512], ck[256];
    json_t *r = NULL;
    qd_err err = {0};
    ckpt_path(ck, sizeof ck, M_W4A4);
    env_ctx ctx = {.resolved = ck};
    struct {
        const char *fmt, *field, *needle;
    } cases[] = {
        {"{'kind': 'export', 'checkpoint': '/nonexistent.qdc', 'format': 'qmodel'}",
         "checkpoint", "no checkpoint file"},
        {"{'kind': 'export', 'checkpoint': '%s', 'format': 'qmodel', 'candidate': 0}",
         "candidate", "no candidates"},
        {"{'kind': 'export', 'job': 'j1', 'format': 'qmodel', 'candidate': 0}", "candidate",
         "train job"},
        {"{'kind': 'export', 'checkpoint': '%s', 'format': 'qmodel'}", "dataset",
         "does not say which data set"},
        {"{'kind': 'export', 'checkpoint': '%s', 'format': 'qmodel', 'dataset': 'nope'}",
         "dataset", ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char fmt[256];
        size_t n = 0;
        for (const char *c = cases[k].fmt; *c; c++)
            fmt[n++] = *c == '\'' ? '"' : *c;
        fmt[n] = '\0';
        snprintf(text, sizeof text, fmt, ck);
        memset(&err, 0, sizeof err);
        int rc = run_export(text, dir, sizeof dir, &ctx, &r, &err);
        ck_assert_msg(rc < 0 && !strcmp(err.field, cases[k].field) &&
                          strstr(err.msg, cases[k].needle),
                      "case %zu: rc %d field '%s' msg '%s'", k, rc, err.field, err.msg);
        ck_assert_ptr_null(r);
    }
    ctx.resolved = NULL;
    ck_assert_int_eq(run_export("{\"kind\": \"export\", \"job\": \"gone\", \"format\": "
                                "\"qmodel\"}",
                                dir, sizeof dir, &ctx, &r, &err),
                     QD_ESPEC);
    ck_assert_str_eq(err.field, "job");
}
END_TEST

/* A search job's directory as jobs/search.c leaves it: model.qdc (its best candidate), and
 * candidates/<k>/ with model.qdc and result.json (holding the candidate's train spec). */
START_TEST(search_candidates_are_exported_by_index)
{
    char sdir[100], cmd[1200], model[200], text[256], dir[128];
    char ck[256];
    ckpt_path(ck, sizeof ck, M_W4A4);
    snprintf(sdir, sizeof sdir, "%s/search", g_dir);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/candidates/0' && cp '%s' '%s/model.qdc' && cp '%s' "
             "'%s/candidates/0/model.qdc' && echo '{\"test_accuracy\": 0.5, \"spec\": "
             "{\"dataset\": \"synthetic\", \"subset\": {\"train\": 1000}}}' > "
             "'%s/candidates/0/result.json'",
             sdir, ck, sdir, ck, sdir, sdir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(model, sizeof model, "%s/model.qdc", sdir);
    env_ctx ctx = {.resolved = model};
    json_t *r = NULL;
    qd_err err = {0};
    const char *no_cand = "{\"kind\": \"export\", \"job\": \"s1\", \"format\": \"qmodel\"}";
    ck_assert_int_eq(run_export(no_cand, dir, sizeof dir, &ctx, &r, &err), QD_ESPEC);
    ck_assert_str_eq(err.field, "candidate");
    ck_assert_ptr_nonnull(strstr(err.msg, "search job"));
    snprintf(text, sizeof text,
             "{\"kind\": \"export\", \"job\": \"s1\", \"candidate\": 3, \"format\": "
             "\"qmodel\"}");
    ck_assert_int_eq(run_export(text, dir, sizeof dir, &ctx, &r, &err), QD_ESPEC);
    ck_assert_ptr_nonnull(strstr(err.msg, "no finished candidate 3"));
    text[strlen("{\"kind\": \"export\", \"job\": \"s1\", \"candidate\": ")] = '0';
    ck_assert_msg(run_export(text, dir, sizeof dir, &ctx, &r, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(r, "dataset")), "synthetic");
    const json_t *src = json_object_get(r, "source");
    ck_assert_int_eq(json_integer_value(json_object_get(src, "candidate")), 0);
    ck_assert_double_eq(num(src, "test_accuracy"), 0.5);
    ck_assert_double_ge(num(json_object_get(r, "comparison"), "agreement"), AGREE_MIN);
    ck_assert_double_ge(num(r, "test_accuracy"), 0.9); /* the model learned */
    json_decref(r);
}
END_TEST

static Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *t = tcase_create("export");
    tcase_add_unchecked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, runtime_agrees_with_the_fake_quantized_model, 0, N_MODELS);
    tcase_add_loop_test(t, avx2_and_portable_kernels_give_the_same_logits, 0, N_MODELS);
    tcase_add_test(t, gemm_kernels_match_their_references);
    tcase_add_test(t, requantizing_epilogue_matches_its_reference);
    tcase_add_loop_test(t, generated_c_compiles_warning_free_and_matches_the_runtime, 0, 2);
    tcase_add_loop_test(t, onnx_passes_the_checker_and_computes_the_model, 0, N_MODELS);
    tcase_add_loop_test(t, bad_export_specs_name_their_field, 0,
                        sizeof spec_errs / sizeof spec_errs[0]);
    tcase_add_test(t, sources_that_cannot_be_exported_say_why);
    tcase_add_test(t, search_candidates_are_exported_by_index);
    suite_add_tcase(s, t);
    return s;
}

QD_CHECK_MAIN(export_suite)
