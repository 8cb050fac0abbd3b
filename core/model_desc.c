/*
 * model_desc.c: the names of layer kinds as model files write them ("conv", "linear", ...), in
 * the order of enum layer_kind. jobs/modelfile.c maps names to kinds when it reads a file; the
 * core and the exporters map kinds back to names when they print or write a model.
 */
#include "model_desc.h"

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
