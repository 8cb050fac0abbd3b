/*
 * fuzz_modelfile.c: libFuzzer target for model files (jobs/modelfile.c, modelfile_parse) and
 * for what the train job does next with a file that parses: build the model for a data set's
 * input shape (core/model.c, model_create), and when it is small enough, run one forward and
 * backward pass. The parser leaves shapes to the core, so the two are fuzzed as one contract:
 * whatever the parser accepts, the core must either build and run or refuse with an error.
 *
 * Invariants checked beyond the sanitizers: a parsed description has 1..MODEL_MAX_LAYERS
 * layers of known kinds, unique NUL-terminated names and inputs that are earlier layers (or
 * the model's input); every refusal is QD_EMODEL (parser) or QD_EMODEL / QD_ENOMEM (core) with a
 * message. Allocations over 1 GiB fail (ASan's max_allocation_size_mb, below) instead of
 * exhausting the machine, so an absurd model meets the core's out-of-memory path.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "jobs/modelfile.h"
#include "tests/fuzz/fuzz_util.h"

#define FORWARD_MAX_BYTES (8L << 20)

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=1024";
}

static void check_desc(const model_desc *d)
{
    FUZZ_CHECK(d->n_layers >= 1 && d->n_layers <= MODEL_MAX_LAYERS);
    FUZZ_CHECK(memchr(d->name, 0, sizeof d->name));
    for (int i = 0; i < d->n_layers; i++) {
        const layer_desc *l = &d->layers[i];
        FUZZ_CHECK(l->kind >= 0 && l->kind < LK_COUNT);
        FUZZ_CHECK(memchr(l->name, 0, sizeof l->name) && l->name[0]);
        FUZZ_CHECK(l->nin == (l->kind == LK_ADD ? 2 : 1));
        for (int k = 0; k < l->nin; k++)
            FUZZ_CHECK(l->in[k] >= -1 && l->in[k] < i);
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(l->name, d->layers[j].name) != 0);
    }
}

/* Build the model for the file's input shape (or 1x28x28, the data sets' own) and run it. */
static void build_and_run(const model_desc *d)
{
    int c = d->in_c ? d->in_c : 1, h = d->in_h ? d->in_h : 28, w = d->in_w ? d->in_w : 28;
    const layer_desc *last = &d->layers[d->n_layers - 1];
    int classes = last->out > 0 ? last->out : 10, batch = 2;
    model *m = NULL;
    qd_err err = {0};
    int rc = model_create(&m, d, c, h, w, classes, batch, 1, &err);
    if (rc < 0) {
        FUZZ_CHECK(!m && (rc == QD_EMODEL || rc == QD_ENOMEM) && err.msg[0]);
        return;
    }
    FUZZ_CHECK(m && m->n_compute >= 0 && m->n_params >= 0);
    if (m->bytes <= (size_t)FORWARD_MAX_BYTES && (size_t)c * h * w <= (1u << 20)) {
        size_t in = (size_t)batch * c * h * w;
        float *x = malloc(sizeof(float) * in), *dl = malloc(sizeof(float) * batch * classes);
        if (x && dl) {
            model_init_params(m, 1);
            for (size_t i = 0; i < in; i++)
                x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
            model_forward(m, x, batch, 1);
            for (int i = 0; i < batch * classes; i++)
                dl[i] = 1.0f / (float)(batch * classes);
            model_zero_grads(m);
            model_backward(m, dl, batch);
        }
        free(x);
        free(dl);
    }
    model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    model_desc *d = malloc(sizeof *d);
    qd_err err = {0};
    if (!d)
        return 0;
    int rc = modelfile_parse(d, (const char *)data, (long)size, &err);
    if (rc == 0) {
        check_desc(d);
        build_and_run(d);
    } else {
        FUZZ_CHECK(rc == QD_EMODEL && err.code == rc && err.msg[0]);
        FUZZ_CHECK(memchr(err.msg, 0, sizeof err.msg) && memchr(err.field, 0, sizeof err.field));
    }
    free(d);
    return 0;
}
