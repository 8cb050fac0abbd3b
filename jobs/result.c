/*
 * result.c: JSON for the model-describing fields of a result (see result.h), built from the one
 * cost model in core/cost.c.
 */
#include "result.h"

#include <stdio.h>
#include <string.h>

const char *result_format_name(const quant_fmt *f, char *buf, size_t cap)
{
    switch (f->format) {
    case QFMT_INT:
        return "int";
    case QFMT_HFP8:
        return "hfp8";
    case QFMT_MINIFLOAT:
        snprintf(buf, cap, "e%dm%d", f->mf.e, f->mf.m);
        return buf;
    }
    return "float";
}

json_t *result_memory_json(const model_cost *c)
{
    return json_pack("{s:I, s:I, s:I}", "weight_bytes", (json_int_t)c->weight_bytes,
                     "activation_bytes", (json_int_t)c->activation_bytes, "total_bytes",
                     (json_int_t)c->total_bytes);
}

json_t *result_layers_json(const model *m, const model_cost *c)
{
    json_t *arr = json_array();
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        const layer_cost *lc = &c->layers[ci];
        char wb[16], ab[16];
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:I, s:I, s:i, s:i, s:s, s:s, s:b, s:I}", "name", L->d.name,
                           "type", layer_kind_name(L->d.kind), "params", (json_int_t)lc->params,
                           "macs", (json_int_t)lc->macs, "w_bits", lc->w_bits, "a_bits",
                           lc->a_bits, "w_format", result_format_name(&L->wq, wb, sizeof wb),
                           "a_format", result_format_name(&L->aq, ab, sizeof ab), "per_channel",
                           L->wq.format != QFMT_FLOAT && L->wq.per_channel, "weight_bytes",
                           (json_int_t)lc->weight_bytes));
    }
    return arr;
}

void result_add_model(json_t *obj, const model *m)
{
    model_cost c;
    cost_of_model(&c, m);
    json_object_set_new(obj, "memory", result_memory_json(&c));
    json_object_set_new(obj, "bitops", json_real(c.bitops));
    json_object_set_new(obj, "layers", result_layers_json(m, &c));
}

/* "int4", "float", "e3m2", "hfp8": one side of a result's layer entry. */
static void side_label(const json_t *layer, int weights, char *buf, size_t cap)
{
    const char *f = json_string_value(json_object_get(layer, weights ? "w_format" : "a_format"));
    long bits = (long)json_integer_value(json_object_get(layer, weights ? "w_bits" : "a_bits"));
    if (f && strcmp(f, "int") == 0)
        snprintf(buf, cap, "int%ld", bits);
    else
        snprintf(buf, cap, "%s", f ? f : "float");
}

const char *result_format_label(const json_t *layers, int skip_edges, char *buf, size_t cap)
{
    size_t n = json_array_size(layers), lo = 0, hi = n;
    char w0[24] = "", a0[24] = "", w[24], a[24];
    if (skip_edges && n > 2)
        lo = 1, hi = n - 1;
    for (size_t i = lo; i < hi; i++) {
        side_label(json_array_get(layers, i), 1, w, sizeof w);
        side_label(json_array_get(layers, i), 0, a, sizeof a);
        if (i == lo) {
            memcpy(w0, w, sizeof w0);
            memcpy(a0, a, sizeof a0);
        } else if (strcmp(w, w0) || strcmp(a, a0)) {
            return "mixed";
        }
    }
    if (lo >= hi)
        return "float";
    if (strcmp(w0, a0) == 0)
        snprintf(buf, cap, "%s", w0);
    else if (strncmp(w0, "int", 3) == 0 && strncmp(a0, "int", 3) == 0)
        snprintf(buf, cap, "w%sa%s", w0 + 3, a0 + 3);
    else
        snprintf(buf, cap, "w:%s a:%s", w0, a0);
    return buf;
}
