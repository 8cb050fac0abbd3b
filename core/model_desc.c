/*
 * model_desc.c: the names of layer kinds as model files write them ("conv", "linear", ...), in
 * the order of enum layer_kind, and the structural check of a description. jobs/modelfile.c
 * maps names to kinds when it reads a file; the core and the exporters map kinds back to names
 * when they print or write a model. model_create checks every description it is given, and the
 * checkpoint reader every one it reads back, so a description from a damaged file is refused
 * before any index or size in it is used.
 */
#include "model_desc.h"

#include <stdio.h>
#include <string.h>

static const char *const kind_names[LK_COUNT] = {
    [LK_CONV] = "conv",          [LK_LINEAR] = "linear",   [LK_BN] = "batchnorm",
    [LK_RELU] = "relu",          [LK_MAXPOOL] = "maxpool", [LK_AVGPOOL] = "avgpool",
    [LK_GAP] = "global_avgpool", [LK_ADD] = "add",         [LK_FLATTEN] = "flatten",
};

const char *layer_kind_name(int kind)
{
    if (kind < 0 || kind >= LK_COUNT)
        return NULL;
    return kind_names[kind];
}

int layer_kind_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < LK_COUNT; k++)
        if (strcmp(kind_names[k], name) == 0)
            return k;
    return -1;
}

static int in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

static int layer_fail(qd_err *err, int i, const char *field, const char *what)
{
    char path[48];
    snprintf(path, sizeof path, "layers[%d].%s", i, field);
    return qd_fail(err, QD_EMODEL, path, "layer %d: %s", i, what);
}

static int check_layer(const model_desc *d, int i, qd_err *err)
{
    const layer_desc *l = &d->layers[i];
    if (!in_range(l->kind, 0, LK_COUNT - 1))
        return layer_fail(err, i, "type", "unknown layer kind");
    if (!memchr(l->name, '\0', sizeof l->name))
        return layer_fail(err, i, "name", "name not terminated");
    if (l->nin != (l->kind == LK_ADD ? 2 : 1))
        return layer_fail(err, i, "inputs", "wrong number of inputs");
    for (int k = 0; k < l->nin; k++)
        if (!in_range(l->in[k], -1, i - 1))
            return layer_fail(err, i, "input", "an input that is not an earlier layer");
    int pool = l->kind == LK_MAXPOOL || l->kind == LK_AVGPOOL;
    if ((l->kind == LK_CONV || l->kind == LK_LINEAR) && !in_range(l->out, 1, MODEL_MAX_OUT))
        return layer_fail(err, i, "out", "out of range");
    if ((l->kind == LK_CONV || pool) &&
        (!in_range(l->kernel, 1, MODEL_MAX_KERNEL) || !in_range(l->pad, 0, l->kernel - 1) ||
         !in_range(l->stride, 1, pool ? MODEL_MAX_POOL_STRIDE : MODEL_MAX_CONV_STRIDE)))
        return layer_fail(err, i, "kernel", "kernel, stride or padding out of range");
    if (!in_range(l->bias, 0, 1))
        return layer_fail(err, i, "bias", "bias is neither true nor false");
    return 0;
}

int model_desc_check(const model_desc *d, qd_err *err)
{
    if (!in_range(d->n_layers, 1, MODEL_MAX_LAYERS))
        return qd_fail(err, QD_EMODEL, "layers", "%d layers (1 to %d)", d->n_layers,
                       MODEL_MAX_LAYERS);
    if (!memchr(d->name, '\0', sizeof d->name))
        return qd_fail(err, QD_EMODEL, "name", "model name not terminated");
    if (!in_range(d->in_c, 0, MODEL_MAX_INPUT_DIM) || !in_range(d->in_h, 0, MODEL_MAX_INPUT_DIM) ||
        !in_range(d->in_w, 0, MODEL_MAX_INPUT_DIM))
        return qd_fail(err, QD_EMODEL, "input", "input dims out of range (0 to %d)",
                       MODEL_MAX_INPUT_DIM);
    for (int i = 0; i < d->n_layers; i++) {
        int rc = check_layer(d, i, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}
