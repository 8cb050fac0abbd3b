/*
 * fuzz_qmodel.c: libFuzzer target for the reader of exported models (core/qmodel.c,
 * qmodel_read_mem) and for what a reader's success promises: the inference runtime
 * (core/qrt.c) builds and runs the model it returned, and the model writes back out.
 *
 * The first input byte picks how the rest is read:
 *   0  the bytes are a qmodel file, as is;
 *   1  the same with the trailing CRC-32 recomputed, so mutations reach the fields behind it;
 *   2  patches to a valid qmodel made at start-up from tests/fuzz/qmodel_model.json (conv,
 *      folded batch norm, ReLU, a residual add, pooling, linear; int4 weights with uint4
 *      inputs, e3m2 minifloat, int8), CRC recomputed: each patch is a 3-byte little-endian
 *      offset (modulo the size), a count byte (1 + low 4 bits) and that many bytes.
 * Invariants beyond the sanitizers: a refusal is QD_EFORMAT or QD_ECHECKSUM with a message; an
 * accepted model writes out and reads back, and writing that again gives the same bytes; when
 * it is small enough to run, the runtime builds and its portable and AVX2 kernels give the same
 * logits (the runtime's promise: the same int32 sums).
 * Run from the repository root (make fuzz does), where the model file is.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/qmodel.h"
#include "core/qrt.h"
#include "jobs/modelfile.h"
#include "tests/fuzz/fuzz_util.h"

#define MODEL_FILE "tests/fuzz/qmodel_model.json"
#define RUN_MAX_ELEMS 65536 /* run the runtime only on models this small (per layer) */
#define IMAGES 2

static uint8_t *valid;
static size_t valid_len;

/* The tiny model, quantized, its steps initialised by one forward pass, as a qmodel file. */
static void make_valid(void)
{
    model_desc d;
    model *m;
    qd_err err = {0};
    if (modelfile_load(&d, MODEL_FILE, NULL, &err) < 0) {
        fprintf(stderr, "fuzz_qmodel: %s (run from the repository root)\n", err.msg);
        exit(1);
    }
    FUZZ_CHECK(model_create(&m, &d, 1, 28, 28, 10, IMAGES, 1, &err) == 0);
    model_init_params(m, 3);
    quant_fmt w4 = {.format = QFMT_INT, .bits = 4, .per_channel = 1, .is_signed = 1};
    quant_fmt a4 = {.format = QFMT_INT, .bits = 4, .is_signed = -1};
    quant_fmt e3m2 = {.format = QFMT_MINIFLOAT, .bits = 6, .is_signed = 1};
    quant_fmt w8 = {.format = QFMT_INT, .bits = 8, .is_signed = 1};
    quant_fmt a8 = {.format = QFMT_INT, .bits = 8, .is_signed = -1};
    FUZZ_CHECK(minifloat_preset(&e3m2.mf, "e3m2") == 0);
    model_set_quant(m, 0, &w4, &a8);
    model_set_quant(m, 1, &e3m2, &a4);
    model_set_quant(m, 2, &w8, &a8);
    float x[IMAGES * 28 * 28];
    for (int i = 0; i < IMAGES * 28 * 28; i++)
        x[i] = (float)((i * 7919) % 255) / 255.0f;
    model_forward(m, x, IMAGES, 1);
    qmodel *qm;
    if (qmodel_from_model(&qm, m, NULL, NULL, &err) < 0) {
        fprintf(stderr, "fuzz_qmodel: cannot export the model: %s\n", err.msg);
        exit(1);
    }
    FUZZ_CHECK(qmodel_write_mem(qm, &valid, &valid_len, &err) == 0);
    qmodel_free(qm);
    model_free(m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    make_valid();
    return 0;
}

static void fix_crc(uint8_t *p, size_t n)
{
    if (n < 4)
        return;
    uint32_t crc = (uint32_t)crc32(0L, p, (uInt)(n - 4));
    for (int i = 0; i < 4; i++)
        p[n - 4 + i] = (uint8_t)(crc >> (8 * i)); /* the file is little-endian */
}

static uint8_t *input_file(const uint8_t *data, size_t size, size_t *len)
{
    int mode = data[0] % 3;
    data++, size--;
    if (mode < 2) {
        uint8_t *p = malloc(size ? size : 1);
        memcpy(p, data, size);
        if (mode == 1)
            fix_crc(p, size);
        *len = size;
        return p;
    }
    uint8_t *p = malloc(valid_len);
    memcpy(p, valid, valid_len);
    for (size_t at = 0; at + 4 <= size;) {
        size_t off =
            (data[at] | (size_t)data[at + 1] << 8 | (size_t)data[at + 2] << 16) % valid_len;
        size_t n = (size_t)(data[at + 3] & 15) + 1;
        at += 4;
        for (size_t k = 0; k < n && at < size && off + k < valid_len; k++, at++)
            p[off + k] = data[at];
    }
    fix_crc(p, valid_len);
    *len = valid_len;
    return p;
}

static int small_enough(const qmodel *qm)
{
    if ((long)qm->in_c * qm->in_h * qm->in_w > RUN_MAX_ELEMS)
        return 0;
    for (int i = 0; i < qm->n_layers; i++)
        if ((long)qm->layers[i].c * qm->layers[i].h * qm->layers[i].w > RUN_MAX_ELEMS)
            return 0;
    return 1;
}

/* Builds the runtime with the portable kernels and, where the machine has them, AVX2; both
 * must give the same logits. */
static void run(const qmodel *qm)
{
    qrt *ref = NULL, *fast = NULL;
    qd_err err = {0};
    int rc = qrt_create(&ref, qm, 1, 1, &err);
    if (rc < 0) {
        FUZZ_CHECK(rc == QD_ENOMEM && err.msg[0]); /* what the reader accepted runs */
        return;
    }
    size_t in = qrt_input_len(ref) * IMAGES, nl = (size_t)qrt_classes(ref) * IMAGES;
    float *x = malloc(sizeof(float) * in), *a = malloc(sizeof(float) * nl);
    float *b = malloc(sizeof(float) * nl);
    for (size_t i = 0; i < in; i++)
        x[i] = (float)((int)(i * 2654435761u % 2001) - 1000) / 500.0f;
    qrt_run(ref, x, IMAGES, a);
    if (qrt_have_avx2() && qrt_create(&fast, qm, 1, 0, &err) == 0) {
        qrt_run(fast, x, IMAGES, b);
        for (size_t i = 0; i < nl; i++)
            FUZZ_CHECK(memcmp(&a[i], &b[i], sizeof a[i]) == 0 || (isnan(a[i]) && isnan(b[i])));
    }
    qrt_free(fast);
    qrt_free(ref);
    free(x);
    free(a);
    free(b);
}

/* Written out, read back and written again: the same bytes. */
static void round_trip(const qmodel *qm)
{
    uint8_t *one = NULL, *two = NULL;
    size_t n1 = 0, n2 = 0;
    qmodel *back = NULL;
    qd_err err = {0};
    FUZZ_CHECK(qmodel_write_mem(qm, &one, &n1, &err) == 0);
    if (qmodel_read_mem(one, n1, &back, &err) < 0) {
        fprintf(stderr, "fuzz_qmodel: a model the reader accepted, written out, is refused: %s\n",
                err.msg);
        abort();
    }
    FUZZ_CHECK(qmodel_write_mem(back, &two, &n2, &err) == 0);
    FUZZ_CHECK(n1 == n2 && memcmp(one, two, n1) == 0);
    qmodel_free(back);
    free(one);
    free(two);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len;
    uint8_t *file = input_file(data, size, &len);
    qmodel *qm = NULL;
    qd_err err = {0};
    int rc = qmodel_read_mem(file, len, &qm, &err);
    if (rc == 0) {
        FUZZ_CHECK(qm && qm->n_layers >= 1 && qm->n_compute >= 0 && qm->classes >= 1);
        round_trip(qm);
        if (small_enough(qm))
            run(qm);
        qmodel_free(qm);
    } else {
        FUZZ_CHECK(!qm && (rc == QD_EFORMAT || rc == QD_ECHECKSUM) && err.msg[0]);
    }
    free(file);
    return 0;
}
