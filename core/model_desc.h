/*
 * model_desc.h: the description of a network as a model file states it, before any memory is
 * allocated for it. jobs/modelfile.c fills it from JSON; core/model.c builds a trainable model
 * from it. Plain data: copy it freely; it owns nothing.
 *
 * Layers run in file order. Each layer reads the output of the layer before it unless it names
 * its inputs (an add names two). Linear layers infer their input features from the shape that
 * reaches them, so one file serves any input size that the layers can take.
 */
#ifndef QD_MODEL_DESC_H
#define QD_MODEL_DESC_H

#include "err.h"

#define MODEL_MAX_LAYERS 256
#define MODEL_NAME_LEN 32
/* What the core builds (model files state the same limits, jobs/modelfile.h) */
#define MODEL_MAX_OUT 65536       /* conv channels, linear features */
#define MODEL_MAX_KERNEL 11
#define MODEL_MAX_CONV_STRIDE 8
#define MODEL_MAX_POOL_STRIDE 11
#define MODEL_MAX_INPUT_DIM 4096  /* each of the stated input's C, H, W */

enum layer_kind {
    LK_CONV = 0,   /* "conv": out, kernel, stride (1), padding (0), bias (true) */
    LK_LINEAR,     /* "linear": out, bias (true) */
    LK_BN,         /* "batchnorm" */
    LK_RELU,       /* "relu" */
    LK_MAXPOOL,    /* "maxpool": kernel, stride (= kernel), padding (0) */
    LK_AVGPOOL,    /* "avgpool": kernel, stride (= kernel), padding (0) */
    LK_GAP,        /* "global_avgpool" */
    LK_ADD,        /* "add": inputs [a, b], same shapes */
    LK_FLATTEN,    /* "flatten" */
    LK_COUNT
};

typedef struct layer_desc {
    int kind;                  /* enum layer_kind */
    char name[MODEL_NAME_LEN]; /* unique in the model; default "<type><index>", e.g. "conv0" */
    int nin;                   /* 1, or 2 for add */
    int in[2];                 /* index of the producing layer; -1 = the model's input */
    int out;                   /* conv: output channels; linear: output features */
    int kernel, stride, pad;
    int bias;
} layer_desc;

typedef struct model_desc {
    char name[64];
    int in_c, in_h, in_w;      /* expected input shape; 0 = accept the data set's */
    int n_layers;
    layer_desc layers[MODEL_MAX_LAYERS];
} model_desc;

/*
 * 0 when d is a description the core can build from: 1 to MODEL_MAX_LAYERS layers of known
 * kinds, NUL-terminated names, each input an earlier layer or -1 (the model's input), two for
 * an add and one otherwise, sizes within the limits above, stated input dims 0 (any) or
 * 1..MODEL_MAX_INPUT_DIM. QD_EMODEL otherwise, err->field naming the place ("layers[3].in").
 * The model file parser guarantees all of it; descriptions read back from files are checked.
 */
int model_desc_check(const model_desc *d, qd_err *err);

/* "conv", "linear", ... as written in model files; NULL for an unknown kind. */
const char *layer_kind_name(int kind);
/* Inverse of layer_kind_name; -1 when unknown. */
int layer_kind_from_name(const char *name);

#endif
