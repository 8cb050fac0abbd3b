/*
 * modelfile.h: model files (the zoo in models/ and users' own) read into a model_desc.
 *
 * A model file is a JSON object:
 *   {"name": "cnn-s", "description": "...", "input": [C, H, W],
 *    "layers": [{"type": "conv", "name": "c1", "out": 32, "kernel": 3, "padding": 1}, ...]}
 * "name" (at most 63 bytes), "description" and "input" are optional; "layers" holds 1 to
 * MODEL_MAX_LAYERS objects, run in order. Every layer has "type" and may have "name" (unique, at
 * most 31 bytes of letters, digits, '_', '-' and '.'; default "<type><index>", e.g. "conv0").
 * A layer reads the layer before it (the model's input for the first one) unless it names
 * "input": an earlier layer's name, or "@input" for the model's input. Per type:
 *   conv            out 1..65536, kernel 1..11, stride 1..8 (1), padding 0..kernel-1 (0),
 *                   bias (true)
 *   linear          out 1..65536, bias (true)
 *   maxpool/avgpool kernel 1..11, stride 1..11 (= kernel), padding 0..kernel-1 (0)
 *   add             "inputs": [a, b], exactly two earlier layers (or "@input"); no "input"
 *   batchnorm, relu, global_avgpool, flatten: nothing else
 * Unknown fields are refused. Shapes are not checked here: the core checks them when it builds
 * the model for a data set.
 *
 * Errors: QD_EMODEL with err->field the JSON path ("layers[3].kernel") and a message naming the
 * layer ("layer 3 (conv3): kernel must be an integer in 1..11"); malformed JSON is QD_EMODEL too,
 * with line and column. Ownership: the caller owns the model_desc; nothing here allocates past
 * a call.
 */
#ifndef QD_MODELFILE_H
#define QD_MODELFILE_H

#include "core/err.h"
#include "core/model_desc.h"

#define MODELFILE_MAX_BYTES (1L << 20)
#define MODELFILE_NAME_LEN 64

/* Parse a model file's text (len bytes, need not be NUL-terminated). Returns 0 or QD_EMODEL. */
int modelfile_parse(model_desc *d, const char *json, long len, qd_err *err);

/*
 * Load a model by zoo name or by path. A name containing '/' or ending in ".json" is a path;
 * any other name is looked up as NAME.json in each directory of the colon-separated models_dirs
 * (may be NULL), then in ./models, then in the models directory beside the executable's
 * directory (bin/../models). A model whose file has no "name" takes the file's base name.
 * Returns 0, QD_ENOENT (no such model or file: err->msg lists where it looked), QD_EIO (the file
 * exists but cannot be read) or QD_EMODEL (not a regular file, larger than MODELFILE_MAX_BYTES or
 * invalid; err->msg starts with the file's path). On failure *d is zeroed or partly filled.
 */
int modelfile_load(model_desc *d, const char *name_or_path, const char *models_dirs, qd_err *err);

/*
 * Names of the zoo models found in the directories modelfile_load searches (files NAME.json),
 * sorted, each once (the first directory that holds a name wins, as for loading). Fills at most
 * cap names and returns how many it filled.
 */
int modelfile_list(const char *models_dirs, char names[][MODELFILE_NAME_LEN], int cap);

#endif
