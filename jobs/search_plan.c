/*
 * search_plan.c: a search's candidates written as train specs, the way a user would submit
 * them (schema/train-spec.md): fine-tuning from the base with quant.method "qat" (or "ptq" when
 * finetune_epochs is 0, "adaqat" for a lambda sweep), the search's optimizer, schedule, batch
 * size, seed, subset and augment taken as given, and the formats spelled out in full. A plan
 * entry is {"label", "spec", "chosen_by"} and, for mixed precision, "config" (the side indices
 * per layer, which tell two budgets that chose the same configuration apart from others).
 */
#include <stdio.h>
#include <string.h>

#include "search_int.h"

/* ---- the space ---- */

void search_side_name(const quant_fmt *f, char *buf, size_t cap)
{
    switch (f->format) {
    case QFMT_INT:
        snprintf(buf, cap, "int%d", f->bits);
        return;
    case QFMT_HFP8:
        snprintf(buf, cap, "hfp8");
        return;
    case QFMT_MINIFLOAT:
        snprintf(buf, cap, "e%dm%d", f->mf.e, f->mf.m);
        return;
    }
    snprintf(buf, cap, "float");
}

static void add_side(search_side *list, int *n, quant_fmt f)
{
    list[*n].f = f;
    search_side_name(&f, list[*n].name, sizeof list[*n].name);
    (*n)++;
}

void search_space_make(search_space *sp, const search_spec *s)
{
    memset(sp, 0, sizeof *sp);
    for (int i = 0; i < s->n_formats; i++) {
        quant_fmt w = s->formats[i], a = s->formats[i];
        w.per_channel = s->per_channel;
        w.is_signed = 1;
        a.per_channel = 0;
        a.is_signed = -1;
        if (w.format != QFMT_INT) {
            add_side(sp->w, &sp->n_w, w);
            add_side(sp->a, &sp->n_a, a);
            continue;
        }
        for (int b = 0; b < s->n_weight_bits; b++) {
            w.bits = s->weight_bits[b];
            add_side(sp->w, &sp->n_w, w);
        }
        for (int b = 0; b < s->n_activation_bits; b++) {
            a.bits = s->activation_bits[b];
            add_side(sp->a, &sp->n_a, a);
        }
    }
    if (s->first_last_bits) {
        sp->fixed = 1;
        sp->w[sp->n_w] = (search_side){.f = {.format = QFMT_INT, .bits = s->first_last_bits,
                                             .per_channel = s->per_channel, .is_signed = 1}};
        sp->a[sp->n_a] = (search_side){.f = {.format = QFMT_INT, .bits = s->first_last_bits,
                                             .is_signed = -1}};
        search_side_name(&sp->w[sp->n_w].f, sp->w[sp->n_w].name, sizeof sp->w[0].name);
        search_side_name(&sp->a[sp->n_a].f, sp->a[sp->n_a].name, sizeof sp->a[0].name);
    }
}

/* ---- formats and specs as JSON ---- */

/* A side as a train spec's format object. */
static json_t *fmt_json(const search_side *side, int weights)
{
    static const char *const presets[] = {"e4m3", "e5m2", "e3m2", "e2m3", "e2m1", NULL};
    const quant_fmt *f = &side->f;
    json_t *o;
    if (f->format == QFMT_INT) {
        o = json_pack("{s:s, s:i}", "format", "int", "bits", f->bits);
    } else if (f->format == QFMT_HFP8) {
        o = json_pack("{s:s}", "format", "hfp8");
    } else {
        minifloat_fmt p;
        int preset = 0;
        for (int i = 0; presets[i] && !preset; i++)
            preset = strcmp(presets[i], side->name) == 0 &&
                     minifloat_preset(&p, presets[i]) == 0 && memcmp(&p, &f->mf, sizeof p) == 0;
        o = preset ? json_pack("{s:s}", "format", side->name)
                   : json_pack("{s:s, s:i, s:i, s:i, s:b}", "format", "minifloat", "exponent",
                               f->mf.e, "mantissa", f->mf.m, "bias", f->mf.bias, "ieee",
                               f->mf.ieee);
    }
    if (weights)
        json_object_set_new(o, "per_channel", json_boolean(f->per_channel));
    return o;
}

/* The fields every candidate shares: kind, name, data, model, epochs, the search's training
 * fields and the base. */
static json_t *spec_head(const search_spec *s, const char *label)
{
    json_t *o = json_loads(s->train_json, 0, NULL);
    char name[SPEC_STR + 64];
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    snprintf(name, sizeof name, "%s: %s", s->name[0] ? s->name : "search", label);
    json_object_set_new(o, "kind", json_string("train"));
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "dataset", json_string(s->dataset));
    json_object_set_new(o, "model", json_string(s->model));
    json_object_set_new(o, "epochs", json_integer(s->finetune_epochs));
    if (s->base_job[0])
        json_object_set_new(o, "init", json_pack("{s:s}", "job", s->base_job));
    else if (s->base_checkpoint[0])
        json_object_set_new(o, "init", json_pack("{s:s}", "checkpoint", s->base_checkpoint));
    return o;
}

/* {"method": "qat"} or, without fine-tuning, {"method": "ptq", "ptq": {...}}. */
static json_t *quant_head(const search_spec *s)
{
    if (s->finetune_epochs > 0)
        return json_pack("{s:s}", "method", "qat");
    return json_pack("{s:s, s:{s:i, s:b}}", "method", "ptq", "ptq", "calibration_batches",
                     s->calibration_batches, "residual", 0);
}

static void append(json_t *plan, const char *label, json_t *spec, json_t *quant, json_t *by)
{
    json_object_set_new(spec, "quant", quant);
    json_array_append_new(plan, json_pack("{s:s, s:o, s:o}", "label", label, "spec", spec,
                                          "chosen_by", by));
}

/* ---- the three kinds of candidate ---- */

void plan_uniform(const search_spec *s, const search_space *sp, json_t *plan)
{
    for (int wi = 0; wi < sp->n_w; wi++)
        for (int ai = 0; ai < sp->n_a; ai++) {
            const search_side *w = &sp->w[wi], *a = &sp->a[ai];
            char label[40];
            snprintf(label, sizeof label, "w:%s a:%s", w->name, a->name);
            json_t *q = quant_head(s);
            json_object_set_new(q, "weights", fmt_json(w, 1));
            json_object_set_new(q, "activations", fmt_json(a, 0));
            if (s->first_last_bits)
                json_object_set_new(q, "first_last_bits", json_integer(s->first_last_bits));
            append(plan, label, spec_head(s, label), q,
                   json_pack("{s:{s:s, s:s}}", "uniform", "weights", w->name, "activations",
                             a->name));
        }
}

void plan_adaqat(const search_spec *s, json_t *plan)
{
    const adaqat_spec *ad = &s->adaqat;
    for (int i = 0; i < s->n_lambdas; i++) {
        char label[48];
        snprintf(label, sizeof label, "adaqat lambda %g", s->lambdas[i]);
        json_t *q = json_pack(
            "{s:s, s:{s:s, s:i, s:b}, s:{s:s, s:i}, s:{s:s, s:f, s:f, s:i, s:s, s:i, s:i}}",
            "method", "adaqat", "weights", "format", "int", "bits",
            s->weight_bits[s->n_weight_bits - 1], "per_channel", s->per_channel, "activations",
            "format", "int", "bits", s->activation_bits[s->n_activation_bits - 1], "adaqat",
            "granularity", ad->granularity == ADAQAT_LAYER ? "layer" : "network", "lambda",
            s->lambdas[i], "eta", ad->eta, "interval", ad->interval, "cost",
            ad->cost == ADAQAT_COST_MEMORY ? "memory" : "bitops", "min_bits", ad->min_bits,
            "max_bits", ad->max_bits);
        if (s->first_last_bits)
            json_object_set_new(q, "first_last_bits", json_integer(s->first_last_bits));
        append(plan, label, spec_head(s, label), q,
               json_pack("{s:f}", "lambda", s->lambdas[i]));
    }
}

int plan_mixed(const search_spec *s, const search_space *sp, int n_layers, const int *w,
               const int *a, json_t *plan)
{
    json_t *config = json_array(), *layers = json_array(), *e;
    for (int ci = 0; ci < n_layers; ci++) {
        json_array_append_new(config, json_pack("[i, i]", w[ci], a[ci]));
        json_array_append_new(layers, json_pack("{s:o, s:o}", "weights", fmt_json(&sp->w[w[ci]], 1),
                                                "activations", fmt_json(&sp->a[a[ci]], 0)));
    }
    size_t k;
    json_array_foreach(plan, k, e)
    {
        if (json_equal(json_object_get(e, "config"), config)) {
            json_decref(config);
            json_decref(layers);
            return (int)k;
        }
    }
    char label[32];
    snprintf(label, sizeof label, "mixed #%zu", json_array_size(plan));
    json_t *q = quant_head(s);
    json_object_set_new(q, "layers", layers);
    append(plan, label, spec_head(s, label), q, json_pack("{s:[]}", "budgets"));
    json_object_set_new(json_array_get(plan, json_array_size(plan) - 1), "config", config);
    return (int)json_array_size(plan) - 1;
}
