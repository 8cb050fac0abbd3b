/*
 * result.h: the parts of a job result that describe a model: memory and BitOPs from the cost
 * model, per-layer bits and formats. One builder so that train, search and export results
 * always carry the same fields (schema/result.schema.json).
 * Ownership: every function returns a new reference.
 */
#ifndef QD_RESULT_H
#define QD_RESULT_H

#include <jansson.h>

#include "core/cost.h"
#include "core/model.h"

/* "float", "int", "e3m2", "hfp8" */
const char *result_format_name(const quant_fmt *f, char *buf, size_t cap);
/* {"weight_bytes", "activation_bytes", "total_bytes"} */
json_t *result_memory_json(const model_cost *c);
/* [{name, type, params, macs, w_bits, a_bits, w_format, a_format, weight_bytes}] */
json_t *result_layers_json(const model *m, const model_cost *c);
/* Adds memory, bitops and layers of m to obj. */
void result_add_model(json_t *obj, const model *m);
/*
 * A model's format at a glance, from a result's layers[]: "float", "int4" (weights and
 * activations int at 4 bits), "w4a8" (int at different widths), "e3m2" or "hfp8" (both sides),
 * "w:e3m2 a:int8" (any other pair), "mixed" (the layers differ). skip_edges leaves the first
 * and last layers out (set apart by first_last_bits) when there are more than two. Returns buf,
 * or a constant string.
 */
const char *result_format_label(const json_t *layers, int skip_edges, char *buf, size_t cap);

#endif
