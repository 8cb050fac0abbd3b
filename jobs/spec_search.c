/*
 * spec_search.c: the search spec (schema/search-spec.md), parsed into spec.h's search_spec.
 * spec.c dispatches here on "kind": "search".
 *
 * A search runs candidates that are train jobs, so the fields a candidate takes as given
 * (optimizer, schedule, batch_size, seed, subset, augment) are not parsed here a second time:
 * they are kept as JSON and checked by parsing, with the one train-spec parser, the spec of a
 * sample candidate built from them. Field names are the same in both specs, so its errors name
 * the search spec's own fields ("optimizer.lr").
 *
 * Invariant, as for every spec: when spec_parse_search returns 0 every field is set and in
 * range; the bit lists are ascending without duplicates, the formats distinct.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_json.h"

static const char *const passed_fields[] = {"optimizer", "schedule", "batch_size", "seed",
                                            "subset",    "augment",  NULL};

/* ---- space ---- */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* space.<key>: 1..SEARCH_MAX_BITS distinct integers in lo..hi, kept ascending. */
static int parse_bits(json_t *space, const char *key, int lo, int hi, int *n, int *out,
                      qd_err *err)
{
    char p[SPEC_PATH_LEN];
    json_t *arr = json_object_get(space, key), *v;
    size_t i;
    spec_path_join(p, "space", key);
    if (!arr)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > SEARCH_MAX_BITS)
        return qd_fail(err, QD_ESPEC, p, "must be an array of 1..%d distinct integers in %d..%d",
                       SEARCH_MAX_BITS, lo, hi);
    json_array_foreach(arr, i, v)
    {
        long long b = json_is_integer(v) ? json_integer_value(v) : lo - 1;
        if (b < lo || b > hi)
            return qd_fail(err, QD_ESPEC, p, "entry %zu must be an integer in %d..%d", i, lo, hi);
        for (size_t j = 0; j < i; j++)
            if (out[j] == (int)b)
                return qd_fail(err, QD_ESPEC, p, "%lld is listed twice", b);
        out[i] = (int)b;
    }
    *n = (int)json_array_size(arr);
    qsort(out, (size_t)*n, sizeof *out, cmp_int);
    return 0;
}

/* "eXmY" with one digit each; 0 and the digits, or -1. */
static int exmy(const char *name, int *e, int *m)
{
    if (strlen(name) != 4 || name[0] != 'e' || name[2] != 'm' || !isdigit((unsigned char)name[1]) ||
        !isdigit((unsigned char)name[3]))
        return -1;
    *e = name[1] - '0';
    *m = name[3] - '0';
    return 0;
}

static int parse_format(quant_fmt *f, const char *name, const char *p, qd_err *err)
{
    int e, m;
    qd_err tmp = {0};
    memset(f, 0, sizeof *f);
    f->is_signed = -1;
    if (strcmp(name, "float") == 0)
        return qd_fail(err, QD_ESPEC, p,
                       "\"float\" is not a quantized format: the float model is the search's base");
    if (spec_parse_format_name(f, name, &tmp) == 0)
        return 0;
    if (exmy(name, &e, &m) == 0 && e >= 1 && e <= 5 && m <= 7 && 1 + e + m <= 8 &&
        minifloat_fmt_make(&f->mf, e, m) == 0) {
        f->format = QFMT_MINIFLOAT;
        f->bits = 1 + e + m;
        return 0;
    }
    return qd_fail(err, QD_ESPEC, p,
                   "unknown format \"%s\"; allowed: \"int\", \"hfp8\" or a minifloat \"eXmY\" "
                   "(X 1..5, Y 0..7, 1 + X + Y <= 8), e.g. \"e4m3\", \"e3m2\", \"e2m1\"",
                   name);
}

static int parse_formats(search_spec *s, json_t *space, qd_err *err)
{
    json_t *arr = json_object_get(space, "formats"), *v;
    size_t i;
    if (!arr)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) < 1 ||
        json_array_size(arr) > SEARCH_MAX_FORMATS)
        return qd_fail(err, QD_ESPEC, "space.formats",
                       "must be an array of 1..%d format names (\"int\", \"e3m2\", ...)",
                       SEARCH_MAX_FORMATS);
    json_array_foreach(arr, i, v)
    {
        char p[SPEC_PATH_LEN];
        snprintf(p, sizeof p, "space.formats[%zu]", i);
        if (!json_is_string(v) || json_string_length(v) >= sizeof s->format_names[0])
            return qd_fail(err, QD_ESPEC, p, "must be a format name (\"int\", \"e3m2\", ...)");
        const char *name = json_string_value(v);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->format_names[j], name) == 0)
                return qd_fail(err, QD_ESPEC, p, "\"%s\" is listed twice", name);
        int rc = parse_format(&s->formats[i], name, p, err);
        if (rc)
            return rc;
        snprintf(s->format_names[i], sizeof s->format_names[i], "%s", name);
    }
    s->n_formats = (int)json_array_size(arr);
    return 0;
}

static int has_int(const search_spec *s)
{
    for (int i = 0; i < s->n_formats; i++)
        if (s->formats[i].format == QFMT_INT)
            return 1;
    return 0;
}

static int parse_space(search_spec *s, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"weight_bits", "activation_bits", "formats",
                                         "per_channel", NULL};
    json_t *o;
    int rc = spec_get_obj(root, "", "space", &o, err);
    if (rc || !o)
        return rc;
    if ((rc = spec_check_fields(o, "space", fields, err)) ||
        (rc = parse_bits(o, "weight_bits", 1, 8, &s->n_weight_bits, s->weight_bits, err)) ||
        (rc = parse_bits(o, "activation_bits", 2, 8, &s->n_activation_bits, s->activation_bits,
                         err)) ||
        (rc = parse_formats(s, o, err)) ||
        (rc = spec_get_bool(o, "space", "per_channel", &s->per_channel, err)))
        return rc;
    if (!has_int(s) && (json_object_get(o, "weight_bits") || json_object_get(o, "activation_bits")))
        return qd_fail(err, QD_ESPEC, json_object_get(o, "weight_bits") ? "space.weight_bits"
                                                                        : "space.activation_bits",
                       "the bit lists apply to \"int\", which space.formats does not list");
    return 0;
}

/* ---- base, budgets, adaqat ---- */

static int parse_base(search_spec *s, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"job", "checkpoint", NULL};
    json_t *o;
    int rc = spec_get_obj(root, "", "base", &o, err);
    if (rc || !o)
        return rc;
    if ((rc = spec_check_fields(o, "base", fields, err)))
        return rc;
    if (!json_object_get(o, "job") == !json_object_get(o, "checkpoint"))
        return qd_fail(err, QD_ESPEC, "base",
                       "give exactly one of \"job\" and \"checkpoint\" (leave base out to start "
                       "from scratch)");
    rc = spec_get_str(o, "base", "job", s->base_job, sizeof s->base_job, err);
    if (!rc)
        rc = spec_get_str(o, "base", "checkpoint", s->base_checkpoint,
                          sizeof s->base_checkpoint, err);
    return rc;
}

static int parse_budgets(search_spec *s, json_t *root, qd_err *err)
{
    static const char *const kinds[] = {"total_bytes", "weight_bytes", "bitops", NULL};
    json_t *o, *arr = NULL, *v;
    size_t i;
    int rc = spec_get_obj(root, "", "budgets", &o, err);
    if (rc || !o)
        return rc;
    if ((rc = spec_check_fields(o, "budgets", kinds, err)))
        return rc;
    if (json_object_size(o) != 1)
        return qd_fail(err, QD_ESPEC, "budgets",
                       "give exactly one of \"total_bytes\", \"weight_bytes\" and \"bitops\"");
    for (int k = 0; kinds[k] && !arr; k++)
        if ((arr = json_object_get(o, kinds[k])))
            s->budget_kind = k;
    char p[SPEC_PATH_LEN];
    spec_path_join(p, "budgets", kinds[s->budget_kind]);
    if (!json_is_array(arr) || json_array_size(arr) < 1 ||
        json_array_size(arr) > SEARCH_MAX_BUDGETS)
        return qd_fail(err, QD_ESPEC, p, "must be an array of 1..%d positive integers",
                       SEARCH_MAX_BUDGETS);
    json_array_foreach(arr, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return qd_fail(err, QD_ESPEC, p, "entry %zu must be a positive integer", i);
        s->budgets[i] = (int64_t)json_integer_value(v);
        for (size_t j = 0; j < i; j++)
            if (s->budgets[j] == s->budgets[i])
                return qd_fail(err, QD_ESPEC, p, "%lld is listed twice",
                               (long long)s->budgets[i]);
    }
    s->n_budgets = (int)json_array_size(arr);
    s->has_budgets = 1;
    return 0;
}

static int parse_lambdas(search_spec *s, json_t *o, qd_err *err)
{
    json_t *arr = json_object_get(o, "lambdas"), *v;
    size_t i;
    if (!json_is_array(arr) || json_array_size(arr) < 1 ||
        json_array_size(arr) > SEARCH_MAX_LAMBDAS)
        return qd_fail(err, QD_ESPEC, "adaqat.lambdas",
                       "required: an array of 1..%d numbers >= 0, one AdaQAT run each",
                       SEARCH_MAX_LAMBDAS);
    json_array_foreach(arr, i, v)
    {
        double x = json_is_number(v) ? json_number_value(v) : -1.0;
        if (!(x >= 0.0) || !isfinite(x))
            return qd_fail(err, QD_ESPEC, "adaqat.lambdas", "entry %zu must be a number >= 0", i);
        s->lambdas[i] = x;
    }
    s->n_lambdas = (int)json_array_size(arr);
    return 0;
}

static int parse_adaqat(search_spec *s, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"lambdas", "eta", "interval", "granularity", "cost",
                                         NULL};
    static const char *const grans[] = {"network", "layer", NULL};
    static const char *const costs[] = {"bitops", "memory", NULL};
    adaqat_spec *a = &s->adaqat;
    json_t *o;
    *a = (adaqat_spec){.granularity = ADAQAT_LAYER, .eta = 0.02, .interval = 20,
                       .cost = s->budget_kind == BUDGET_BITOPS ? ADAQAT_COST_BITOPS
                                                               : ADAQAT_COST_MEMORY,
                       .min_bits = s->weight_bits[0] < s->activation_bits[0]
                                       ? s->weight_bits[0]
                                       : s->activation_bits[0],
                       .max_bits = s->weight_bits[s->n_weight_bits - 1] >
                                           s->activation_bits[s->n_activation_bits - 1]
                                       ? s->weight_bits[s->n_weight_bits - 1]
                                       : s->activation_bits[s->n_activation_bits - 1]};
    int rc = spec_get_obj(root, "", "adaqat", &o, err);
    if (rc)
        return rc;
    if (s->method != SM_ADAQAT)
        return o ? qd_fail(err, QD_ESPEC, "adaqat", "only allowed with method \"adaqat\"") : 0;
    if (!o)
        return qd_fail(err, QD_ESPEC, "adaqat",
                       "required with method \"adaqat\": {\"lambdas\": [...], ...}");
    if ((rc = spec_check_fields(o, "adaqat", fields, err)) || (rc = parse_lambdas(s, o, err)) ||
        (rc = spec_get_num(o, "adaqat", "eta", 0, 1, 10, &a->eta, err)) ||
        (rc = spec_get_int(o, "adaqat", "interval", 1, 1000000, &a->interval, err)) ||
        (rc = spec_get_enum(o, "adaqat", "granularity", grans, &a->granularity, err)) ||
        (rc = spec_get_enum(o, "adaqat", "cost", costs, &a->cost, err)))
        return rc;
    if (s->n_formats != 1 || s->formats[0].format != QFMT_INT)
        return qd_fail(err, QD_ESPEC, "space.formats",
                       "adaqat learns integer bit-widths: space.formats must be [\"int\"]");
    return 0;
}

/* ---- the candidates' train fields, checked by the train-spec parser ---- */

static int check_train_fields(search_spec *s, json_t *root, qd_err *err)
{
    json_t *passed = json_object(), *v;
    for (int i = 0; passed_fields[i]; i++)
        if ((v = json_object_get(root, passed_fields[i])))
            json_object_set(passed, passed_fields[i], v);
    char *text = json_dumps(passed, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *sample = json_deep_copy(passed);
    json_decref(passed);
    int rc = 0;
    if (!text || !sample || strlen(text) >= sizeof s->train_json)
        rc = qd_fail(err, QD_ESPEC, "", "the optimizer, schedule and subset fields take more than "
                                        "%d bytes", SEARCH_TRAIN_JSON - 1);
    if (!rc) {
        snprintf(s->train_json, sizeof s->train_json, "%s", text);
        json_object_set_new(sample, "dataset", json_string(s->dataset));
        json_object_set_new(sample, "model", json_string(s->model));
        json_object_set_new(sample, "epochs", json_integer(s->finetune_epochs));
        json_object_set_new(sample, "quant", json_pack("{s:s}", "method",
                                                       s->finetune_epochs ? "qat" : "ptq"));
        if (s->base_job[0] || s->base_checkpoint[0])
            json_object_set_new(sample, "init",
                                json_pack("{s:s}", s->base_job[0] ? "job" : "checkpoint",
                                          s->base_job[0] ? s->base_job : s->base_checkpoint));
        char *st = json_dumps(sample, JSON_COMPACT);
        job_spec *js = st ? malloc(sizeof *js) : NULL;
        rc = js ? spec_parse(js, st, (long)strlen(st), err) : QD_ENOMEM;
        if (rc == 0) {
            s->batch_size = js->train.batch_size;
            s->seed = js->train.seed;
            s->subset_train = js->train.subset_train;
            s->subset_test = js->train.subset_test;
        }
        free(js);
        free(st);
    }
    free(text);
    json_decref(sample);
    return rc;
}

/* ---- the spec ---- */

static void defaults(search_spec *s)
{
    static const int wb[] = {2, 3, 4, 6, 8}, ab[] = {4, 8};
    memset(s, 0, sizeof *s);
    s->n_weight_bits = 5;
    memcpy(s->weight_bits, wb, sizeof wb);
    s->n_activation_bits = 2;
    memcpy(s->activation_bits, ab, sizeof ab);
    s->n_formats = 1;
    s->formats[0] = (quant_fmt){.format = QFMT_INT, .bits = 8, .is_signed = -1};
    snprintf(s->format_names[0], sizeof s->format_names[0], "int");
    s->per_channel = 1;
    s->finetune_epochs = 1;
    s->calibration_batches = 4;
}

static int parse_head(search_spec *s, json_t *root, qd_err *err)
{
    static const char *const methods[] = {"uniform", "sensitivity", "adaqat", NULL};
    if (!json_object_get(root, "dataset"))
        return qd_fail(err, QD_ESPEC, "dataset", "required: a data set name or path");
    if (!json_object_get(root, "model"))
        return qd_fail(err, QD_ESPEC, "model", "required: a zoo model name or a model file path");
    if (!json_object_get(root, "method"))
        return qd_fail(err, QD_ESPEC, "method",
                       "required: \"uniform\", \"sensitivity\" or \"adaqat\"");
    int rc = spec_get_str(root, "", "dataset", s->dataset, sizeof s->dataset, err);
    if (!rc)
        rc = spec_get_str(root, "", "model", s->model, sizeof s->model, err);
    if (!rc)
        rc = spec_get_str(root, "", "name", s->name, sizeof s->name, err);
    if (!rc)
        rc = spec_get_enum(root, "", "method", methods, &s->method, err);
    return rc;
}

/* Cross-field rules: what each method needs. */
static int check_method(search_spec *s, json_t *root, qd_err *err)
{
    int based = s->base_job[0] || s->base_checkpoint[0];
    if (s->method == SM_SENSITIVITY && !based)
        return qd_fail(err, QD_ESPEC, "base",
                       "method \"sensitivity\" measures a trained model: give base.job or "
                       "base.checkpoint");
    if (s->method == SM_SENSITIVITY && !s->has_budgets)
        return qd_fail(err, QD_ESPEC, "budgets",
                       "method \"sensitivity\" chooses one configuration per budget: give "
                       "budgets");
    if (s->finetune_epochs == 0 && !based)
        return qd_fail(err, QD_ESPEC, "finetune_epochs",
                       "0 evaluates candidates by post-training quantization, which needs a "
                       "base model (base.job or base.checkpoint)");
    if (s->finetune_epochs == 0 && s->method == SM_ADAQAT)
        return qd_fail(err, QD_ESPEC, "finetune_epochs",
                       "adaqat learns bit-widths while training: at least 1 epoch");
    if (json_object_get(root, "calibration_batches") && s->method != SM_SENSITIVITY &&
        s->finetune_epochs > 0)
        return qd_fail(err, QD_ESPEC, "calibration_batches",
                       "only used by method \"sensitivity\" and by finetune_epochs 0");
    if (json_object_get(root, "measure") && s->method != SM_SENSITIVITY)
        return qd_fail(err, QD_ESPEC, "measure", "only used by method \"sensitivity\"");
    if (s->first_last_bits == 1)
        return qd_fail(err, QD_ESPEC, "first_last_bits",
                       "must be 0 (searched like the rest) or an integer in 2..8 (got 1)");
    return 0;
}

int spec_parse_search(search_spec *s, json_t *root, qd_err *err)
{
    static const char *const measures[] = {"loss", "fisher", NULL};
    static const char *const fields[] = {
        "kind",           "name",           "dataset",     "model",   "method",
        "base",           "space",          "budgets",     "finetune_epochs",
        "first_last_bits", "calibration_batches", "measure", "adaqat", "optimizer", "schedule",
        "batch_size",     "seed",           "subset",      "augment", NULL};
    defaults(s);
    int rc = spec_check_fields(root, "", fields, err);
    if (!rc)
        rc = parse_head(s, root, err);
    if (!rc)
        rc = parse_base(s, root, err);
    if (!rc)
        rc = parse_space(s, root, err);
    if (!rc)
        rc = parse_budgets(s, root, err);
    if (!rc)
        rc = spec_get_int(root, "", "finetune_epochs", 0, 1000, &s->finetune_epochs, err);
    if (!rc)
        rc = spec_get_int(root, "", "first_last_bits", 0, 8, &s->first_last_bits, err);
    if (!rc)
        rc = spec_get_int(root, "", "calibration_batches", 1, 1000, &s->calibration_batches, err);
    if (!rc)
        rc = spec_get_enum(root, "", "measure", measures, &s->measure, err);
    if (!rc)
        rc = parse_adaqat(s, root, err);
    if (!rc)
        rc = check_method(s, root, err);
    if (!rc)
        rc = check_train_fields(s, root, err);
    return rc;
}
