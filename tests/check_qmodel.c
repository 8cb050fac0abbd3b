/*
 * check_qmodel.c: the exported model file (core/qmodel.c, schema/qmodel.md). A small CNN with
 * batch norm is trained on the synthetic set through job_run (float, and W4A4 QAT), then:
 * every weight decoded from the written and re-read qmodel equals the fake-quantized weight the
 * model computes with, for every weight format (int 1..8 bits per channel and per tensor,
 * minifloats, HFP8, float); batch norms fold; the file's payload is the cost model's weight
 * bytes plus the zero points and post-scales it documents; files round-trip byte for byte; and
 * every single-byte corruption, every truncation and a table of structural lies (with the
 * checksum made right) are refused with QD_ECHECKSUM or QD_EFORMAT and a message saying what.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "core/checkpoint.h"
#include "core/cost.h"
#include "core/dataset.h"
#include "core/qmodel.h"
#include "jobs/job.h"
#include "tests/check_main.h"

#define BATCH 64

static char g_dir[64], g_model[128], g_float[256], g_qat[256];

static const char TINY_MODEL[] =
    "{\"name\": \"tiny\", \"layers\": ["
    "{\"type\": \"conv\", \"out\": 8, \"kernel\": 3, \"padding\": 1}, {\"type\": \"batchnorm\"},"
    "{\"type\": \"relu\"}, {\"type\": \"maxpool\", \"kernel\": 2},"
    "{\"type\": \"conv\", \"out\": 12, \"kernel\": 3, \"padding\": 1}, {\"type\": \"batchnorm\"},"
    "{\"type\": \"relu\"}, {\"type\": \"maxpool\", \"kernel\": 2}, {\"type\": \"flatten\"},"
    "{\"type\": \"linear\", \"out\": 25}, {\"type\": \"relu\"}, {\"type\": \"linear\", \"out\": 10}]}";

/* ---- fixtures: two trained models ---- */

static void train(const char *spec_fmt, const char *sub, char *ckpt, size_t cap)
{
    char text[1024], dir[128];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, sub);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(text, sizeof text, spec_fmt, g_model);
    job_spec *spec = malloc(sizeof *spec);
    qd_err err = {0};
    ck_assert_msg(spec_parse(spec, text, (long)strlen(text), &err) == 0, "%s", err.msg);
    job_env env = {.dir = dir, .nthreads = 2};
    json_t *r = NULL;
    ck_assert_msg(job_run(spec, &env, &r, &err) == 0, "train: %s", err.msg);
    json_decref(r);
    free(spec);
    snprintf(ckpt, cap, "%s/%s", dir, JOB_MODEL);
}

/* Trains in a child process: OpenMP's thread pool must not exist in the process Check forks
 * the tests from (a forked child would wait for the parent's pool threads forever). */
static void train_models(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        train("{\"dataset\": \"synthetic\", \"model\": \"%s\", \"epochs\": 1, \"seed\": 3, "
              "\"subset\": {\"train\": 1000, \"test\": 200}}",
              "float", g_float, sizeof g_float);
        train("{\"dataset\": \"synthetic\", \"model\": \"%s\", \"epochs\": 1, \"seed\": 3, "
              "\"subset\": {\"train\": 1000, \"test\": 200}, \"quant\": {\"method\": \"qat\", "
              "\"weights\": {\"bits\": 4}, \"activations\": {\"bits\": 4}, \"first_last_bits\": 8}}",
              "qat", g_qat, sizeof g_qat);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "training the models failed");
    snprintf(g_float, sizeof g_float, "%s/float/%s", g_dir, JOB_MODEL);
    snprintf(g_qat, sizeof g_qat, "%s/qat/%s", g_dir, JOB_MODEL);
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/qd-qmodel-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_model, sizeof g_model, "%s/tiny.json", g_dir);
    FILE *f = fopen(g_model, "w");
    ck_assert_ptr_nonnull(f);
    fputs(TINY_MODEL, f);
    fclose(f);
    train_models();
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The model of a checkpoint, its quantizers' steps initialised by one eval forward pass. */
static model *load(const char *ckpt, dataset *test)
{
    ckpt_info *info = malloc(sizeof *info);
    model *m = NULL;
    ck_assert_int_eq(checkpoint_info(ckpt, info, NULL), 0);
    ck_assert_int_eq(model_create(&m, &info->desc, info->in_c, info->in_h, info->in_w,
                                  info->classes, BATCH, 2, NULL), 0);
    ck_assert_int_eq(checkpoint_load(ckpt, m, NULL, NULL, NULL), 0);
    free(info);
    if (test)
        model_forward(m, test->x, BATCH, 0);
    return m;
}

static void load_data(dataset *train, dataset *test)
{
    ck_assert_int_eq(dataset_load(train, test, "synthetic", NULL, 1000, BATCH, NULL), 0);
}

static void fix_crc(uint8_t *p, size_t n)
{
    uint32_t crc = (uint32_t)crc32(0L, p, (uInt)(n - 4));
    for (int i = 0; i < 4; i++)
        p[n - 4 + i] = (uint8_t)(crc >> (8 * i));
}

/* Exported, written, read back: the read model, and the bytes in *buf. */
static qmodel *export_roundtrip(const model *m, uint8_t **buf, size_t *len)
{
    qmodel *qm = NULL, *back = NULL;
    qd_err err = {0};
    ck_assert_msg(qmodel_from_model(&qm, m, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(qmodel_write_mem(qm, buf, len, &err), 0);
    ck_assert_int_eq(*len, qmodel_file_bytes(qm));
    ck_assert_msg(qmodel_read_mem(*buf, *len, &back, &err) == 0, "%s", err.msg);
    qmodel_free(qm);
    return back;
}

/* Every decoded weight == the fake-quantized weight (wq_buf after an eval forward pass). */
static void check_weights_equal(const model *m, const qmodel *qm)
{
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        const float *want = L->wq.format == QFMT_FLOAT ? L->weight : L->wq_buf;
        float *got = malloc(sizeof(float) * (size_t)L->nw);
        qmodel_decode_weights(qm, ci, got);
        long bad = 0;
        for (long i = 0; i < L->nw; i++)
            bad += !(got[i] == want[i]);
        ck_assert_msg(bad == 0, "layer %s: %ld of %ld weights differ (first: %g vs %g)",
                      L->d.name, bad, L->nw, (double)got[0], (double)want[0]);
        free(got);
    }
}

/* ---- codes ---- */

START_TEST(codes_pack_and_unpack_at_every_width)
{
    static const int widths[] = {1, 2, 3, 4, 5, 6, 7, 8, 32};
    uint8_t buf[200];
    uint32_t want[40];
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        int b = widths[w];
        uint32_t mask = b == 32 ? 0xffffffffu : (1u << b) - 1u;
        memset(buf, 0xa5, sizeof buf); /* put must overwrite, not OR */
        for (int i = 0; i < 40; i++) {
            want[i] = (uint32_t)(i * 2654435761u >> 7) & mask;
            qm_code_put(buf, (size_t)i, b, want[i]);
        }
        for (int i = 0; i < 40; i++)
            ck_assert_uint_eq(qm_code_get(buf, (size_t)i, b), want[i]);
    }
    qm_quant s4 = {.format = QM_INT, .bits = 4, .is_signed = 1}, b1 = {QM_INT, 1, 1, {0}};
    ck_assert_int_eq(qm_int_value(0x8, &s4), -8);
    ck_assert_int_eq(qm_int_value(0x7, &s4), 7);
    ck_assert_int_eq(qm_int_value(0, &b1), -1);
    ck_assert_int_eq(qm_int_value(1, &b1), 1);
}
END_TEST

/* ---- round trips ---- */

typedef struct fmt_case {
    const char *w, *a;   /* weight and activation formats */
    int bits_w, bits_a, per_channel;
} fmt_case;

static const fmt_case fmt_cases[] = {
    {"int", "int", 4, 4, 1},   {"int", "int", 8, 8, 0},  {"int", "int", 2, 4, 1},
    {"int", "int", 1, 8, 1},   {"int", "int", 3, 2, 0},  {"e3m2", "e3m2", 0, 0, 1},
    {"e2m1", "int", 0, 8, 0},  {"hfp8", "hfp8", 0, 0, 1}, {"e5m2", "float", 0, 0, 0},
    {"float", "int", 0, 8, 0}, {"int", "float", 6, 0, 1},
};

static quant_fmt fmt_of(const char *name, int bits, int per_channel)
{
    quant_fmt f;
    ck_assert_int_eq(spec_parse_format_name(&f, name, NULL), 0);
    if (bits)
        f.bits = bits;
    f.per_channel = per_channel;
    return f;
}

START_TEST(decoded_weights_equal_fake_quantized_weights)
{
    const fmt_case *fc = &fmt_cases[_i];
    dataset train, test;
    load_data(&train, &test);
    model *m = load(g_float, NULL);
    quant_fmt w = fmt_of(fc->w, fc->bits_w, fc->per_channel), a = fmt_of(fc->a, fc->bits_a, 0);
    for (int ci = 0; ci < m->n_compute; ci++)
        model_set_quant(m, ci, &w, &a);
    model_forward(m, test.x, BATCH, 0);
    uint8_t *buf;
    size_t len;
    qmodel *qm = export_roundtrip(m, &buf, &len);
    check_weights_equal(m, qm);
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        if (L->aq.format != QFMT_FLOAT)
            ck_assert_float_eq(qm->compute[ci].a_scale, L->a_step[0]);
        ck_assert_int_eq(qm->compute[ci].wq.bits, L->wq.format == QFMT_FLOAT ? 32 : L->wq.bits);
    }
    qmodel_free(qm);
    free(buf);
    model_free(m);
    dataset_free(&train);
    dataset_free(&test);
}
END_TEST

START_TEST(qat_trained_model_round_trips_exactly)
{
    dataset train, test;
    load_data(&train, &test);
    model *m = load(g_qat, &test);
    uint8_t *one, *two;
    size_t n1, n2;
    qmodel *qm = export_roundtrip(m, &one, &n1);
    check_weights_equal(m, qm);
    ck_assert_int_eq(qmodel_write_mem(qm, &two, &n2, NULL), 0); /* read, written: same bytes */
    ck_assert_int_eq(n1, n2);
    ck_assert_mem_eq(one, two, n1);
    ck_assert_int_eq(qm->compute[0].wq.bits, 8); /* first_last_bits */
    ck_assert_int_eq(qm->compute[1].wq.bits, 4);
    ck_assert_int_eq(qm->compute[1].aq.is_signed, 0); /* after ReLU */
    ck_assert_int_eq(qm->compute[0].aq.is_signed, 1); /* the normalised image */
    qmodel_free(qm);
    free(one), free(two);
    model_free(m);
    dataset_free(&train);
    dataset_free(&test);
}
END_TEST

START_TEST(batch_norm_folds_into_the_layer_before)
{
    dataset train, test;
    load_data(&train, &test);
    model *m = load(g_qat, &test);
    qmodel *qm;
    ck_assert_int_eq(qmodel_from_model(&qm, m, train.mean, train.std, NULL), 0);
    ck_assert_int_eq(qm->n_layers, m->n_layers - 2);
    for (int i = 0; i < qm->n_layers; i++)
        ck_assert_int_ne(qm->layers[i].kind, LK_BN);
    const layer *conv = &m->layers[0], *bn = &m->layers[1];
    const qm_compute *c = &qm->compute[0];
    ck_assert_ptr_nonnull(c->post_scale);
    for (int o = 0; o < c->oc; o++) {
        float a = bn->gamma[o] / sqrtf(bn->run_var[o] + BN_EPS);
        ck_assert_float_eq(c->post_scale[o], a);
        ck_assert_float_eq(c->bias[o], a * conv->bias[o] + (bn->beta[o] - a * bn->run_mean[o]));
    }
    ck_assert_ptr_null(qm->compute[3].post_scale); /* the last linear: no batch norm */
    ck_assert(qm->has_norm && qm->mean[0] == train.mean[0] && qm->std[0] == train.std[0]);
    qmodel_free(qm);
    model_free(m);
    dataset_free(&train);
    dataset_free(&test);
}
END_TEST

/* payload = cost model's weight bytes - activation scales (in the layer table) + zero points
 * + post-scales: the documented difference, exactly. */
START_TEST(payload_is_the_cost_models_weight_bytes)
{
    dataset train, test;
    load_data(&train, &test);
    model *m = load(g_qat, &test);
    qmodel *qm;
    model_cost cost;
    ck_assert_int_eq(qmodel_from_model(&qm, m, NULL, NULL, NULL), 0);
    cost_of_model(&cost, m);
    long extra = 0;
    for (int ci = 0; ci < qm->n_compute; ci++) {
        const qm_compute *c = &qm->compute[ci];
        extra += (c->wq.format == QM_INT ? (c->per_channel ? c->oc : 1) : 0) +
                 (c->post_scale ? 4L * c->oc : 0) - (c->aq.format != QM_FLOAT ? 4 : 0);
    }
    ck_assert_int_eq((long)qmodel_payload_bytes(qm), cost.weight_bytes + extra);
    /* the rest of the file is the header, the tables and the checksum */
    ck_assert_int_eq(qmodel_file_bytes(qm) - qmodel_payload_bytes(qm),
                     64 + 64 * qm->n_layers + 48 * qm->n_compute + 4);
    qmodel_free(qm);
    model_free(m);
    dataset_free(&train);
    dataset_free(&test);
}
END_TEST

/* ---- refusals ---- */

/* A qmodel file of the QAT model with its third layer in HFP8 (E4M3 has NaN codes) and its last
 * in int3 (250 codes of 3 bits leave 2 unused bits in the last byte). */
static uint8_t *valid_file(size_t *len)
{
    dataset train, test;
    load_data(&train, &test);
    model *m = load(g_qat, NULL);
    quant_fmt hfp8 = fmt_of("hfp8", 0, 1), w3 = fmt_of("int", 3, 1), a = fmt_of("int", 8, 0);
    model_set_quant(m, 2, &hfp8, &a);
    model_set_quant(m, 3, &w3, &a);
    model_forward(m, test.x, BATCH, 0);
    qmodel *qm;
    uint8_t *buf;
    ck_assert_int_eq(qmodel_from_model(&qm, m, train.mean, train.std, NULL), 0);
    ck_assert_int_eq(qmodel_write_mem(qm, &buf, len, NULL), 0);
    qmodel_free(qm);
    model_free(m);
    dataset_free(&train);
    dataset_free(&test);
    return buf;
}

START_TEST(every_single_byte_corruption_is_a_checksum_error)
{
    size_t len;
    uint8_t *buf = valid_file(&len);
    qd_err err = {0};
    qmodel *qm = NULL;
    for (size_t i = 8; i < len; i++) { /* past the magic (a wrong magic is "not a qmodel") */
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (uint8_t)(1u << bit);
            int rc = qmodel_read_mem(buf, len, &qm, &err);
            buf[i] ^= (uint8_t)(1u << bit);
            if (rc == QD_ECHECKSUM)
                continue;
            /* the version, header size and length fields are checked before the checksum */
            ck_assert_msg(i < 16 && rc == QD_EFORMAT, "byte %zu bit %d: rc %d (%s)", i, bit, rc,
                          err.msg);
        }
    }
    ck_assert_ptr_null(qm);
    ck_assert_int_eq(qmodel_read_mem(buf, len, &qm, &err), 0);
    qmodel_free(qm);
    free(buf);
}
END_TEST

START_TEST(every_truncation_is_refused)
{
    size_t len;
    uint8_t *buf = valid_file(&len);
    qd_err err = {0};
    qmodel *qm = NULL;
    for (size_t n = 0; n < len; n++) {
        ck_assert_int_eq(qmodel_read_mem(buf, n, &qm, &err), QD_EFORMAT);
        ck_assert_msg(strstr(err.msg, n < 68 ? "not a qmodel" : "truncated"), "%zu: %s", n,
                      err.msg);
    }
    uint8_t *longer = calloc(len + 1, 1);
    memcpy(longer, buf, len);
    ck_assert_int_eq(qmodel_read_mem(longer, len + 1, &qm, &err), QD_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "after the end"));
    free(longer);
    free(buf);
}
END_TEST

/* Lies in the structure, with the checksum recomputed: each refused with QD_EFORMAT and a
 * message naming the problem. Offsets follow schema/qmodel.md; LAYER0 is the first layer record,
 * COMPUTE0 the first compute record (the tiny model folds to 10 layers). */
#define HDR 64
#define NORM 8
#define LAYER0 (HDR + NORM)
#define COMPUTE0 (LAYER0 + 64 * 10)

typedef struct lie {
    size_t at;
    uint32_t value;
    int bytes;
    const char *needle;
} lie;

static const lie lies[] = {
    {0, 'X', 1, "bad magic"},
    {8, 2, 2, "version 2"},
    {10, 65, 2, "header size"},
    {16, 0, 2, "layer counts"},
    {18, 11, 2, "layer counts"},
    {20, 0, 2, "input shape"},
    {28, 2, 4, "normalisation flag"},
    {HDR + NORM - 4, 0, 4, "normalisation value"},       /* std = 0 */
    {LAYER0, 99, 1, "not a qmodel layer kind"},
    {LAYER0, LK_BN, 1, "not a qmodel layer kind"},
    {LAYER0 + 64 + 1, 2, 1, "input count"},             /* relu with 2 inputs */
    {LAYER0 + 64 + 4, 5, 4, "not an earlier layer"},
    {LAYER0 + 12, 9, 4, "stored shape"},                 /* conv out 9, shape says 8 */
    {LAYER0 + 16, 0, 2, "bad kernel"},
    {LAYER0 + 22, 3, 2, "compute index"},
    {LAYER0 + 32 + 31, 'x', 1, "NUL-terminated"},
    {COMPUTE0, 1, 2, "does not point back"},
    {COMPUTE0 + 3, 4, 1, "bad flags"},
    {COMPUTE0 + 13, 9, 1, "bad weight format"},
    {COMPUTE0 + 21, 1, 1, "bad activation format"},      /* int activations of 1 bit */
    {COMPUTE0 + 28, 0xbf800000u, 4, "activation scale"},  /* -1.0f */
    {COMPUTE0 + 28, 0x7fc00000u, 4, "activation scale"},  /* NaN */
    {COMPUTE0 + 32, 200, 4, "zero point"},
    {COMPUTE0 + 36, 1000, 4, "expected at"},
    {COMPUTE0 + 40, 3, 4, "data sizes"},
};

START_TEST(structural_lies_are_refused_by_name)
{
    const lie *l = &lies[_i];
    size_t len;
    uint8_t *buf = valid_file(&len);
    for (int b = 0; b < l->bytes; b++)
        buf[l->at + b] = (uint8_t)(l->value >> (8 * b));
    fix_crc(buf, len);
    qd_err err = {0};
    qmodel *qm = NULL;
    int rc = qmodel_read_mem(buf, len, &qm, &err);
    ck_assert_msg(rc == QD_EFORMAT && strstr(err.msg, l->needle), "at %zu: rc %d, \"%s\"", l->at,
                  rc, err.msg);
    ck_assert_ptr_null(qm);
    free(buf);
}
END_TEST

static size_t u32_at(const uint8_t *p)
{
    return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
}

/* Values inside the data blocks, checksum made right: each refused by name. */
START_TEST(bad_values_in_the_data_are_refused)
{
    size_t len;
    uint8_t *buf = valid_file(&len);
    const size_t d2 = u32_at(buf + COMPUTE0 + 48 * 2 + 36), d3 = u32_at(buf + COMPUTE0 + 48 * 3 + 36);
    const size_t n3 = u32_at(buf + COMPUTE0 + 48 * 3 + 40);
    const struct {
        size_t at;
        uint8_t x; /* xor */
        const char *needle;
    } cases[] = {
        {d2 + 3, 0x80, "weight scales must be finite and positive"},  /* negative scale */
        {d2 + 4 * 25 + 4 * 25, 0x7f, "invalid weight codes"},          /* an E4M3 NaN code */
        {d3 + 4 * 10, 100, "weight zero point"},                        /* int3 zero point */
        {d3 + n3 - 1, 0x80, "invalid weight codes"},                    /* a stray bit */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t *bad = malloc(len);
        memcpy(bad, buf, len);
        if (k == 1)
            bad[cases[k].at] = cases[k].x;
        else
            bad[cases[k].at] ^= cases[k].x;
        fix_crc(bad, len);
        qd_err err = {0};
        qmodel *qm = NULL;
        int rc = qmodel_read_mem(bad, len, &qm, &err);
        ck_assert_msg(rc == QD_EFORMAT && strstr(err.msg, cases[k].needle), "case %zu: %d %s", k,
                      rc, err.msg);
        free(bad);
    }
    free(buf);
}
END_TEST

START_TEST(files_load_and_missing_files_say_so)
{
    size_t len;
    uint8_t *buf = valid_file(&len);
    char path[160];
    snprintf(path, sizeof path, "%s/m.qmodel", g_dir);
    qmodel *qm = NULL, *back = NULL;
    qd_err err = {0};
    ck_assert_int_eq(qmodel_read_mem(buf, len, &qm, NULL), 0);
    ck_assert_int_eq(qmodel_save(path, qm, &err), 0);
    ck_assert_int_eq(qmodel_load(path, &back, &err), 0);
    uint8_t *again;
    size_t n;
    ck_assert_int_eq(qmodel_write_mem(back, &again, &n, NULL), 0);
    ck_assert_int_eq(n, len);
    ck_assert_mem_eq(again, buf, len);
    qmodel_free(back);
    snprintf(path, sizeof path, "%s/none.qmodel", g_dir);
    ck_assert_int_eq(qmodel_load(path, &back, &err), QD_ENOENT);
    ck_assert_ptr_null(back);
    qmodel_free(qm);
    free(again);
    free(buf);
}
END_TEST

/* What cannot be exported is refused with the reason. */
START_TEST(unexportable_models_are_refused)
{
    dataset train, test;
    load_data(&train, &test);
    model *m = load(g_qat, NULL);
    qmodel *qm = NULL;
    qd_err err = {0};
    quant_fmt w8 = fmt_of("int", 8, 1), a8 = fmt_of("int", 8, 0);
    model_set_quant(m, 1, &w8, &a8); /* new quantizers, steps not yet set from data */
    ck_assert_int_eq(qmodel_from_model(&qm, m, NULL, NULL, &err), QD_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "never initialised"));
    model_forward(m, test.x, BATCH, 0);
    m->layers[m->compute[1]].wq.residual_bits = 4; /* as PTQ leaves a residual layer */
    ck_assert_int_eq(qmodel_from_model(&qm, m, NULL, NULL, &err), QD_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "residual"));
    ck_assert_ptr_null(qm);
    model_free(m);
    dataset_free(&train);
    dataset_free(&test);
}
END_TEST

static Suite *qmodel_suite(void)
{
    Suite *s = suite_create("qmodel");
    TCase *t = tcase_create("qmodel");
    tcase_add_unchecked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, codes_pack_and_unpack_at_every_width);
    tcase_add_loop_test(t, decoded_weights_equal_fake_quantized_weights, 0,
                        sizeof fmt_cases / sizeof fmt_cases[0]);
    tcase_add_test(t, qat_trained_model_round_trips_exactly);
    tcase_add_test(t, batch_norm_folds_into_the_layer_before);
    tcase_add_test(t, payload_is_the_cost_models_weight_bytes);
    tcase_add_test(t, every_single_byte_corruption_is_a_checksum_error);
    tcase_add_test(t, every_truncation_is_refused);
    tcase_add_loop_test(t, structural_lies_are_refused_by_name, 0, sizeof lies / sizeof lies[0]);
    tcase_add_test(t, bad_values_in_the_data_are_refused);
    tcase_add_test(t, files_load_and_missing_files_say_so);
    tcase_add_test(t, unexportable_models_are_refused);
    suite_add_tcase(s, t);
    return s;
}

QD_CHECK_MAIN(qmodel_suite)
