/*
 * fuzz_checkpoint.c: libFuzzer target for the checkpoint reader (core/checkpoint.c), through its
 * in-memory entry points: checkpoint_info_mem, then checkpoint_load_mem into a model and an
 * optimiser built as the train job builds them when it resumes, then what the job does with a
 * checkpoint that loaded: one forward, backward and optimiser step with the restored quantizer
 * formats, and the history JSON parsed from the extra blob. And what the export job does with
 * a checkpoint file: a model built from the description and shape the file states, loaded and
 * run forward.
 *
 * The model is tests/fuzz/ckpt_model.json on the synthetic data set's shape (1x28x28, 10
 * classes), SGD with momentum. The first input byte picks how the rest is read:
 *   0  the bytes are a checkpoint file, as is (almost always refused by the checksum);
 *   1  the same with the trailing CRC-32 recomputed, so mutations reach the fields behind it;
 *   2  patches to a valid checkpoint of the model, made at start-up with quantized layers,
 *      optimiser state and a history, CRC recomputed: each patch is a 3-byte little-endian
 *      offset (taken modulo the size), a count byte (1 + low 4 bits) and that many bytes.
 * Run from the repository root (make fuzz does), where the model file is.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/checkpoint.h"
#include "jobs/modelfile.h"
#include "tests/fuzz/fuzz_util.h"

#define MODEL_FILE "tests/fuzz/ckpt_model.json"
#define BATCH 2
#define FORWARD_MAX_BYTES (8L << 20)

/* Allocations over 1 GiB fail instead of exhausting the machine (a corrupt shape can ask for
 * anything), so they meet the core's out-of-memory path. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=1024";
}

static model_desc desc;
static unsigned char *valid; /* a checkpoint of the model, made at start-up */
static size_t valid_len;

static int build(model **m, optim **o)
{
    optim_cfg oc = {.kind = OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f};
    if (model_create(m, &desc, 1, 28, 28, 10, BATCH, 1, NULL) < 0)
        return -1;
    model_init_params(*m, 1);
    return optim_create(o, &oc, (*m)->n_params, NULL);
}

/* One forward, backward and step: what resuming does first. */
static void step(model *m, optim *o)
{
    float x[BATCH * 28 * 28], dl[BATCH * 10];
    for (int i = 0; i < BATCH * 28 * 28; i++)
        x[i] = (float)(i % 17) / 17.0f;
    for (int i = 0; i < BATCH * 10; i++)
        dl[i] = i % 10 == 3 ? -0.5f : 0.05f;
    model_zero_grads(m);
    model_forward(m, x, BATCH, 1);
    model_backward(m, dl, BATCH);
    optim_step(o, m->params, m->grads, 0.05f, 0.9f);
}

/* A checkpoint with int and minifloat quantizers, optimiser state and a history, in memory. */
static void make_valid(void)
{
    model *m;
    optim *o;
    char path[] = "/tmp/fuzz_checkpoint_XXXXXX";
    FUZZ_CHECK(build(&m, &o) == 0);
    quant_fmt w = {.format = QFMT_INT, .bits = 4, .per_channel = 1, .is_signed = 1};
    quant_fmt a = {.format = QFMT_INT, .bits = 4, .is_signed = -1};
    model_set_quant(m, 0, &w, &a);
    quant_fmt mf = {.format = QFMT_MINIFLOAT, .bits = 6, .is_signed = 1};
    FUZZ_CHECK(minifloat_preset(&mf.mf, "e3m2") == 0);
    model_set_quant(m, 1, &mf, &mf);
    step(m, o);
    char hist[] = "[{\"epoch\": 1, \"train_loss\": 2.3, \"test_accuracy\": 0.1}]";
    ckpt_meta meta = {.epoch = 1, .step = 1, .extra = hist, .extra_len = strlen(hist)};
    int fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0);
    close(fd);
    FUZZ_CHECK(checkpoint_save(path, m, o, &meta, NULL) == 0);
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f && fseek(f, 0, SEEK_END) == 0);
    valid_len = (size_t)ftell(f);
    rewind(f);
    valid = malloc(valid_len);
    FUZZ_CHECK(valid && fread(valid, 1, valid_len, f) == valid_len);
    fclose(f);
    unlink(path);
    model_free(m);
    optim_free(o);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    qd_err err = {0};
    if (modelfile_load(&desc, MODEL_FILE, NULL, &err) < 0) {
        fprintf(stderr, "fuzz_checkpoint: %s (run from the repository root)\n", err.msg);
        exit(1);
    }
    make_valid();
    return 0;
}

static void fix_crc(unsigned char *p, size_t n)
{
    if (n < 4)
        return;
    uint32_t crc = (uint32_t)crc32(0L, p, (uInt)(n - 4));
    memcpy(p + n - 4, &crc, 4);
}

/* The checkpoint this input stands for (malloc'd), per the mode byte. */
static unsigned char *input_file(const uint8_t *data, size_t size, size_t *len)
{
    int mode = data[0] % 3;
    data++, size--;
    if (mode < 2) {
        unsigned char *p = malloc(size ? size : 1);
        memcpy(p, data, size);
        if (mode == 1)
            fix_crc(p, size);
        *len = size;
        return p;
    }
    unsigned char *p = malloc(valid_len);
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

/* What an export job does with a checkpoint it is given (jobs/export.c): a model built from
 * the description and input shape the file states, loaded, run. */
static void build_from_info(const ckpt_info *info, const unsigned char *file, size_t len)
{
    model *m = NULL;
    qd_err err = {0};
    /* data sets' shapes are small, and so are the layers worth fuzzing here (model files'
     * sizes are fuzz_modelfile's): a huge model only makes the fuzzer slow */
    if ((long)info->in_c * info->in_h * info->in_w > 3 * 64 * 64)
        return;
    for (int i = 0; i < info->desc.n_layers; i++)
        if (info->desc.layers[i].out > 256)
            return;
    int rc = model_create(&m, &info->desc, info->in_c, info->in_h, info->in_w, info->classes, 1, 1,
                          &err);
    if (rc < 0) {
        FUZZ_CHECK(!m && (rc == QD_EMODEL || rc == QD_ENOMEM) && err.msg[0]);
        return;
    }
    if (checkpoint_load_mem(file, len, "fuzz.qdc", m, NULL, NULL, &err) == 0 &&
        m->bytes <= FORWARD_MAX_BYTES) {
        size_t in = (size_t)m->in_c * m->in_h * m->in_w;
        float *x = calloc(in ? in : 1, sizeof *x);
        if (x)
            model_forward(m, x, 1, 0);
        free(x);
    }
    model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len;
    unsigned char *file = input_file(data, size, &len);
    ckpt_info *info = malloc(sizeof *info);
    qd_err err = {0};
    int rc = checkpoint_info_mem(file, len, "fuzz.qdc", info, &err);
    if (rc == 0) {
        FUZZ_CHECK(info->desc.n_layers >= 1 && info->desc.n_layers <= MODEL_MAX_LAYERS);
        FUZZ_CHECK(info->n_compute >= 0 && info->n_compute <= MODEL_MAX_LAYERS);
        build_from_info(info, file, len);
    } else {
        FUZZ_CHECK((rc == QD_EFORMAT || rc == QD_ECHECKSUM) && err.msg[0]);
    }
    model *m = NULL;
    optim *o = NULL;
    ckpt_meta meta = {0};
    FUZZ_CHECK(build(&m, &o) == 0);
    rc = checkpoint_load_mem(file, len, "fuzz.qdc", m, o, &meta, &err);
    if (rc == 0) {
        FUZZ_CHECK(meta.extra_len == 0 || (meta.extra && meta.extra[meta.extra_len] == '\0'));
        json_t *h = meta.extra ? json_loads(meta.extra, 0, NULL) : NULL;
        json_decref(h);
        step(m, o);
    } else {
        FUZZ_CHECK((rc == QD_EFORMAT || rc == QD_ECHECKSUM) && err.msg[0]);
    }
    free(meta.extra);
    model_free(m);
    optim_free(o);
    free(info);
    free(file);
    return 0;
}
