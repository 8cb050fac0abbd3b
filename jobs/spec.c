/*
 * spec.c: the one parser and validator of job specs (spec.h), shared by the daemon's
 * POST /api/v1/jobs and by `quantd run`.
 *
 * The JSON is read with jansson (duplicate keys rejected), then walked field by field in the
 * order the defaults depend on each other: quant.method before epochs (ptq defaults to 0 epochs),
 * epochs before the schedule (step_epochs defaults to epochs/3), the optimizer's name before its
 * learning rate, quant.weights before adaqat and ptq (their bit defaults follow the weights).
 * Every object is checked against the list of fields it may hold, and an object whose fields
 * depend on a name (optimizer, schedule, format) is checked against that name's list.
 *
 * Invariant: when spec_parse returns 0 every field of the spec is set and in range; when it
 * fails, err->field is the JSON path of the first bad field ("" for the whole document) and
 * err->msg says what is allowed.
 */
#include "spec.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "spec_json.h"

#define PATH_LEN 128

/* ---- field helpers: each reads obj[key] when present and leaves *out alone when absent ---- */

/* out = "base.key", or "key" when base is empty; cut at PATH_LEN - 1 bytes. */
static void path_join(char *out, const char *base, const char *key)
{
    size_t n = 0;
    for (const char *s = base; *s && n < PATH_LEN - 1; s++)
        out[n++] = *s;
    if (base[0] && n < PATH_LEN - 1)
        out[n++] = '.';
    for (const char *s = key; *s && n < PATH_LEN - 1; s++)
        out[n++] = *s;
    out[n] = '\0';
}

static int in_list(const char *s, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return i;
    return -1;
}

/* "a, b, c", or with quotes "\"a\", \"b\"" when quoted is set. */
static void join_list(char *out, size_t cap, const char *const *list, int quoted)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; list[i] && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s%s%s", i ? ", " : "", quoted ? "\"" : "",
                         list[i], quoted ? "\"" : "");
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Refuses fields not in allowed; owner (may be NULL) names the variant: "optimizer \"adamw\"". */
static int check_fields_for(json_t *obj, const char *path, const char *const *allowed,
                            const char *owner, qd_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (in_list(key, allowed) >= 0)
            continue;
        char p[PATH_LEN], list[256];
        path_join(p, path, key);
        join_list(list, sizeof list, allowed, 0);
        return qd_fail(err, QD_ESPEC, p, "unknown field \"%s\"%s%s; allowed: %s", key,
                       owner ? " for " : "", owner ? owner : "", list);
    }
    return 0;
}

static int check_fields(json_t *obj, const char *path, const char *const *allowed, qd_err *err)
{
    return check_fields_for(obj, path, allowed, NULL, err);
}

static int get_obj(json_t *obj, const char *path, const char *key, json_t **out, qd_err *err)
{
    char p[PATH_LEN];
    *out = json_object_get(obj, key);
    if (!*out || json_is_object(*out))
        return 0;
    path_join(p, path, key);
    return qd_fail(err, QD_ESPEC, p, "must be an object");
}

static int get_int(json_t *obj, const char *path, const char *key, long long lo, long long hi,
                   int *out, qd_err *err)
{
    char p[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    path_join(p, path, key);
    if (!json_is_integer(v))
        return qd_fail(err, QD_ESPEC, p, "must be an integer in %lld..%lld", lo, hi);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return qd_fail(err, QD_ESPEC, p, "must be an integer in %lld..%lld (got %lld)", lo, hi, x);
    *out = (int)x;
    return 0;
}

/* A real range: lo and hi are excluded when the matching *_open flag is set; hi may be INFINITY. */
typedef struct range {
    double lo, hi;
    int lo_open, hi_open;
} range;

static void range_text(char *out, size_t cap, range r)
{
    if (isinf(r.hi))
        snprintf(out, cap, "%s %g", r.lo_open ? ">" : ">=", r.lo);
    else
        snprintf(out, cap, "in %c%g, %g%c", r.lo_open ? '(' : '[', r.lo, r.hi,
                 r.hi_open ? ')' : ']');
}

static int get_num(json_t *obj, const char *path, const char *key, range r, double *out,
                   qd_err *err)
{
    char p[PATH_LEN], rt[64];
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    path_join(p, path, key);
    range_text(rt, sizeof rt, r);
    if (!json_is_number(v))
        return qd_fail(err, QD_ESPEC, p, "must be a number %s", rt);
    double x = json_number_value(v);
    int below = r.lo_open ? x <= r.lo : x < r.lo;
    int above = r.hi_open ? x >= r.hi : x > r.hi;
    if (below || above || !isfinite(x))
        return qd_fail(err, QD_ESPEC, p, "must be a number %s (got %g)", rt, x);
    *out = x;
    return 0;
}

static int get_bool(json_t *obj, const char *path, const char *key, int *out, qd_err *err)
{
    char p[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        path_join(p, path, key);
        return qd_fail(err, QD_ESPEC, p, "must be true or false");
    }
    *out = json_is_true(v);
    return 0;
}

/* Copies a string of at most cap - 1 bytes; an empty string is refused. */
static int get_str(json_t *obj, const char *path, const char *key, char *out, size_t cap,
                   qd_err *err)
{
    char p[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    path_join(p, path, key);
    if (!json_is_string(v))
        return qd_fail(err, QD_ESPEC, p, "must be a string");
    size_t n = json_string_length(v);
    if (n >= cap)
        return qd_fail(err, QD_ESPEC, p, "too long: at most %zu bytes (got %zu)", cap - 1, n);
    if (n == 0)
        return qd_fail(err, QD_ESPEC, p, "must not be empty");
    memcpy(out, json_string_value(v), n + 1);
    return 0;
}

static int enum_value(json_t *v, const char *p, const char *const *names, int *out, qd_err *err)
{
    char list[256];
    int k = json_is_string(v) ? in_list(json_string_value(v), names) : -1;
    if (k >= 0) {
        *out = k;
        return 0;
    }
    join_list(list, sizeof list, names, 1);
    return qd_fail(err, QD_ESPEC, p, "must be one of %s", list);
}

static int get_enum(json_t *obj, const char *path, const char *key, const char *const *names,
                    int *out, qd_err *err)
{
    char p[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    path_join(p, path, key);
    return enum_value(v, p, names, out, err);
}

/* ---- quantizer formats ---- */

static const char *const preset_names[] = {"e4m3", "e5m2", "e3m2", "e2m3", "e2m1", NULL};

/* A format named without parameters; returns 0, or -1 for an unknown name. */
static int fmt_from_name(quant_fmt *f, const char *name)
{
    memset(f, 0, sizeof *f);
    f->is_signed = -1;
    if (strcmp(name, "int") == 0) {
        f->format = QFMT_INT;
        f->bits = 8;
    } else if (strcmp(name, "float") == 0) {
        f->format = QFMT_FLOAT;
        f->bits = 32;
    } else if (strcmp(name, "hfp8") == 0) {
        f->format = QFMT_HFP8;
        f->bits = 8;
        if (minifloat_preset(&f->mf, "e4m3"))
            return -1;
    } else if (in_list(name, preset_names) >= 0) {
        f->format = QFMT_MINIFLOAT;
        if (minifloat_preset(&f->mf, name))
            return -1;
        f->bits = 1 + f->mf.e + f->mf.m;
    } else {
        return -1;
    }
    return 0;
}

int spec_parse_format_name(quant_fmt *f, const char *name, qd_err *err)
{
    if (name && strcmp(name, "minifloat") == 0)
        return qd_fail(err, QD_ESPEC, "format",
                       "\"minifloat\" needs exponent and mantissa; name a preset instead: "
                       "e4m3, e5m2, e3m2, e2m3, e2m1");
    if (!name || fmt_from_name(f, name))
        return qd_fail(err, QD_ESPEC, "format",
                       "unknown format \"%s\"; allowed: int, float, hfp8, e4m3, e5m2, e3m2, "
                       "e2m3, e2m1",
                       name ? name : "");
    return 0;
}

static int parse_fmt_int(quant_fmt *f, json_t *o, const char *path, int weights, qd_err *err)
{
    static const char *const w_fields[] = {"format", "bits", "per_channel", "signed", NULL};
    static const char *const a_fields[] = {"format", "bits", "signed", NULL};
    int rc = check_fields_for(o, path, weights ? w_fields : a_fields, "format \"int\"", err);
    if (!rc)
        rc = get_int(o, path, "bits", weights ? 1 : 2, 8, &f->bits, err);
    if (!rc)
        rc = get_bool(o, path, "per_channel", &f->per_channel, err);
    if (!rc)
        rc = get_bool(o, path, "signed", &f->is_signed, err);
    return rc;
}

static int parse_fmt_minifloat(quant_fmt *f, json_t *o, const char *path, qd_err *err)
{
    static const char *const fields[] = {"format", "exponent",    "mantissa",   "bias",
                                         "ieee",   "per_channel", "stochastic", NULL};
    char p[PATH_LEN];
    int e = 0, m = -1, rc = check_fields_for(o, path, fields, "format \"minifloat\"", err);
    if (!rc && (!json_object_get(o, "exponent") || !json_object_get(o, "mantissa")))
        return qd_fail(err, QD_ESPEC, path,
                       "minifloat needs \"exponent\" (1..5) and "
                       "\"mantissa\" (0..7)");
    if (!rc)
        rc = get_int(o, path, "exponent", 1, 5, &e, err);
    if (!rc)
        rc = get_int(o, path, "mantissa", 0, 7, &m, err);
    if (rc)
        return rc;
    if (1 + e + m > 8)
        return qd_fail(err, QD_ESPEC, path,
                       "1 + exponent + mantissa must be at most 8 bits (got 1 + %d + %d = %d)", e,
                       m, 1 + e + m);
    if (minifloat_fmt_make(&f->mf, e, m))
        return qd_fail(err, QD_ESPEC, path, "unsupported minifloat E%dM%d", e, m);
    f->bits = 1 + e + m;
    rc = get_int(o, path, "bias", -64, 64, &f->mf.bias, err);
    if (!rc)
        rc = get_bool(o, path, "ieee", &f->mf.ieee, err);
    if (!rc && f->mf.ieee && e < 2) {
        path_join(p, path, "ieee");
        return qd_fail(err, QD_ESPEC, p, "an IEEE-like minifloat needs exponent >= 2");
    }
    if (!rc)
        rc = get_bool(o, path, "per_channel", &f->per_channel, err);
    if (!rc)
        rc = get_bool(o, path, "stochastic", &f->stochastic, err);
    return rc;
}

static int parse_fmt_named(quant_fmt *f, json_t *o, const char *path, const char *name, qd_err *err)
{
    static const char *const preset_fields[] = {"format", "per_channel", "stochastic", NULL};
    static const char *const hfp8_fields[] = {"format", "per_channel", NULL};
    static const char *const float_fields[] = {"format", NULL};
    int per_channel = f->per_channel, is_signed = f->is_signed;
    char p[PATH_LEN];
    path_join(p, path, "format");
    if (fmt_from_name(f, name))
        return qd_fail(err, QD_ESPEC, p,
                       "unknown format \"%s\"; allowed: int, minifloat, float, hfp8, e4m3, e5m2, "
                       "e3m2, e2m3, e2m1",
                       name);
    f->per_channel = f->format == QFMT_FLOAT ? 0 : per_channel;
    f->is_signed = is_signed;
    const char *const *fields = f->format == QFMT_FLOAT  ? float_fields
                                : f->format == QFMT_HFP8 ? hfp8_fields
                                                         : preset_fields;
    char owner[64];
    snprintf(owner, sizeof owner, "format \"%.32s\"", name);
    int rc = check_fields_for(o, path, fields, owner, err);
    if (!rc)
        rc = get_bool(o, path, "per_channel", &f->per_channel, err);
    if (!rc)
        rc = get_bool(o, path, "stochastic", &f->stochastic, err);
    return rc;
}

/* base.key (quant.weights, quant.layers[2].activations); *f holds the role's defaults on entry. */
static int parse_fmt_at(quant_fmt *f, json_t *parent, const char *base, const char *key,
                        int weights, qd_err *err)
{
    char path[PATH_LEN], p[PATH_LEN];
    json_t *o, *fv;
    int rc = get_obj(parent, base, key, &o, err);
    if (rc || !o)
        return rc;
    path_join(path, base, key);
    if (!weights && json_object_get(o, "per_channel")) {
        path_join(p, path, "per_channel");
        return qd_fail(err, QD_ESPEC, p, "per_channel applies to weights only");
    }
    fv = json_object_get(o, "format");
    if (fv && !json_is_string(fv)) {
        path_join(p, path, "format");
        return qd_fail(err, QD_ESPEC, p,
                       "must be a string: int, minifloat, float, hfp8, e4m3, "
                       "e5m2, e3m2, e2m3, e2m1");
    }
    const char *name = fv ? json_string_value(fv) : "int";
    if (strcmp(name, "int") == 0) {
        f->format = QFMT_INT;
        f->bits = 8;
        return parse_fmt_int(f, o, path, weights, err);
    }
    memset(&f->mf, 0, sizeof f->mf);
    f->stochastic = 0;
    if (strcmp(name, "minifloat") == 0) {
        f->format = QFMT_MINIFLOAT;
        return parse_fmt_minifloat(f, o, path, err);
    }
    return parse_fmt_named(f, o, path, name, err);
}

static int parse_fmt(quant_fmt *f, json_t *parent, const char *key, int weights, qd_err *err)
{
    return parse_fmt_at(f, parent, "quant", key, weights, err);
}

/* ---- quant: method, formats, adaqat, ptq ---- */

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

static int adaqat_bits(json_t *o, const char *key, adaqat_spec *a, double *out, qd_err *err)
{
    char p[PATH_LEN];
    range r = {a->min_bits, a->max_bits, 0, 0};
    int rc = get_num(o, "quant.adaqat", key, r, out, err);
    if (rc) {
        path_join(p, "quant.adaqat", key);
        return qd_fail(err, QD_ESPEC, p, "must be a number in %d..%d (min_bits..max_bits)",
                       a->min_bits, a->max_bits);
    }
    return 0;
}

static int parse_adaqat(quant_spec *q, json_t *o, qd_err *err)
{
    static const char *const fields[] = {"granularity", "init_w_bits", "init_a_bits", "eta",
                                         "lambda",      "cost",        "interval",    "min_bits",
                                         "max_bits",    NULL};
    static const char *const grans[] = {"network", "layer", NULL};
    static const char *const costs[] = {"bitops", "memory", NULL};
    adaqat_spec *a = &q->adaqat;
    int rc = check_fields(o, "quant.adaqat", fields, err);
    if (!rc)
        rc = get_enum(o, "quant.adaqat", "granularity", grans, &a->granularity, err);
    if (!rc)
        rc = get_enum(o, "quant.adaqat", "cost", costs, &a->cost, err);
    if (!rc)
        rc = get_num(o, "quant.adaqat", "eta", (range){0, 10, 1, 0}, &a->eta, err);
    if (!rc)
        rc = get_num(o, "quant.adaqat", "lambda", (range){0, INFINITY, 0, 0}, &a->lambda, err);
    if (!rc)
        rc = get_int(o, "quant.adaqat", "interval", 1, 1000000, &a->interval, err);
    if (!rc)
        rc = get_int(o, "quant.adaqat", "min_bits", 1, 8, &a->min_bits, err);
    if (!rc)
        rc = get_int(o, "quant.adaqat", "max_bits", 1, 8, &a->max_bits, err);
    if (!rc && a->min_bits > a->max_bits)
        return qd_fail(err, QD_ESPEC, "quant.adaqat.min_bits",
                       "min_bits (%d) must be at most max_bits (%d)", a->min_bits, a->max_bits);
    if (rc)
        return rc;
    a->init_w_bits = clampi(q->weights.bits, a->min_bits, a->max_bits);
    a->init_a_bits = clampi(q->activations.bits, a->min_bits, a->max_bits);
    rc = adaqat_bits(o, "init_w_bits", a, &a->init_w_bits, err);
    if (!rc)
        rc = adaqat_bits(o, "init_a_bits", a, &a->init_a_bits, err);
    return rc;
}

static int parse_ptq(quant_spec *q, json_t *o, qd_err *err)
{
    static const char *const fields[] = {"calibration_batches", "clipping",      "residual",
                                         "residual_threshold",  "residual_bits", NULL};
    static const char *const clippings[] = {"mmse", "maxabs", NULL};
    ptq_spec *p = &q->ptq;
    int rc = check_fields(o, "quant.ptq", fields, err);
    if (!rc)
        rc = get_int(o, "quant.ptq", "calibration_batches", 1, 1000, &p->calibration_batches, err);
    if (!rc)
        rc = get_enum(o, "quant.ptq", "clipping", clippings, &p->clipping, err);
    if (!rc)
        rc = get_bool(o, "quant.ptq", "residual", &p->residual, err);
    if (!rc)
        rc = get_num(o, "quant.ptq", "residual_threshold", (range){0, INFINITY, 0, 0},
                     &p->residual_threshold, err);
    if (!rc)
        rc = get_int(o, "quant.ptq", "residual_bits", 2, 8, &p->residual_bits, err);
    return rc;
}

static void quant_defaults(quant_spec *q)
{
    memset(q, 0, sizeof *q);
    q->method = QM_NONE;
    q->weights = (quant_fmt){.format = QFMT_INT, .bits = 8, .per_channel = 1, .is_signed = 1};
    q->activations = (quant_fmt){.format = QFMT_INT, .bits = 8, .is_signed = -1};
    q->adaqat = (adaqat_spec){.granularity = ADAQAT_NETWORK,
                              .eta = 0.02,
                              .lambda = 0.1,
                              .cost = ADAQAT_COST_BITOPS,
                              .interval = 20,
                              .min_bits = 2,
                              .max_bits = 8};
    q->ptq = (ptq_spec){
        .calibration_batches = 4, .clipping = 0, .residual = 1, .residual_threshold = 0.01};
}

/* Options that only one method reads are refused under the others rather than ignored. */
static int check_method_fields(const quant_spec *q, json_t *o, qd_err *err)
{
    static const char *const quantized[] = {"weights", "activations", "first_last_bits",
                                            "layers", NULL};
    char p[PATH_LEN];
    for (int i = 0; q->method == QM_NONE && quantized[i]; i++) {
        if (!json_object_get(o, quantized[i]))
            continue;
        path_join(p, "quant", quantized[i]);
        return qd_fail(err, QD_ESPEC, p,
                       "quant.method is \"none\" (no quantization); set it to \"qat\", "
                       "\"adaqat\" or \"ptq\" to use %s",
                       quantized[i]);
    }
    if (q->method != QM_ADAQAT && json_object_get(o, "adaqat"))
        return qd_fail(err, QD_ESPEC, "quant.adaqat", "only allowed with quant.method \"adaqat\"");
    if (q->method != QM_PTQ && json_object_get(o, "ptq"))
        return qd_fail(err, QD_ESPEC, "quant.ptq", "only allowed with quant.method \"ptq\"");
    return 0;
}

static int check_adaqat_formats(const quant_spec *q, qd_err *err)
{
    if (q->method != QM_ADAQAT)
        return 0;
    if (q->weights.format != QFMT_INT)
        return qd_fail(err, QD_ESPEC, "quant.weights.format",
                       "adaqat learns integer bit-widths: the format must be \"int\"");
    if (q->activations.format != QFMT_INT)
        return qd_fail(err, QD_ESPEC, "quant.activations.format",
                       "adaqat learns integer bit-widths: the format must be \"int\"");
    return 0;
}

/* One quant.layers entry: {"weights": FORMAT, "activations": FORMAT}, or the integer shorthand
 * {"w_bits": B, "a_bits": B}; a side not given keeps quant.weights / quant.activations. */
static int parse_layer_entry(quant_spec *q, json_t *e, int i, qd_err *err)
{
    static const char *const fields[] = {"weights", "activations", "w_bits", "a_bits", NULL};
    char path[PATH_LEN];
    snprintf(path, sizeof path, "quant.layers[%d]", i);
    quant_fmt *w = &q->layer_w[i], *a = &q->layer_a[i];
    *w = q->weights;
    *a = q->activations;
    if (!json_is_object(e))
        return qd_fail(err, QD_ESPEC, path,
                       "must be an object {\"weights\": FORMAT, \"activations\": FORMAT} or "
                       "{\"w_bits\": B, \"a_bits\": B}");
    int rc = check_fields(e, path, fields, err);
    for (int k = 0; !rc && k < 2; k++) {
        const char *full = k ? "activations" : "weights", *bits = k ? "a_bits" : "w_bits";
        quant_fmt *f = k ? a : w;
        if (json_object_get(e, full) && json_object_get(e, bits)) {
            char p[PATH_LEN];
            path_join(p, path, bits);
            return qd_fail(err, QD_ESPEC, p, "give either \"%s\" or \"%s\", not both", full,
                           bits);
        }
        if (json_object_get(e, bits)) {
            *f = (quant_fmt){.format = QFMT_INT, .per_channel = k ? 0 : q->weights.per_channel,
                             .is_signed = k ? q->activations.is_signed : 1};
            rc = get_int(e, path, bits, k ? 2 : 1, 8, &f->bits, err);
        } else {
            rc = parse_fmt_at(f, e, path, full, !k, err);
        }
    }
    return rc;
}

static int parse_layers(quant_spec *q, json_t *o, qd_err *err)
{
    json_t *arr = json_object_get(o, "layers"), *e;
    size_t i;
    if (!arr)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) < 1 ||
        json_array_size(arr) > SPEC_MAX_LAYERS)
        return qd_fail(err, QD_ESPEC, "quant.layers",
                       "must be an array of 1..%d entries, one per compute layer (conv, linear) "
                       "in order",
                       SPEC_MAX_LAYERS);
    if (q->method != QM_QAT && q->method != QM_PTQ)
        return qd_fail(err, QD_ESPEC, "quant.layers",
                       "per-layer formats need quant.method \"qat\" or \"ptq\"");
    if (q->first_last_bits)
        return qd_fail(err, QD_ESPEC, "quant.first_last_bits",
                       "quant.layers gives every layer's format: drop first_last_bits");
    json_array_foreach(arr, i, e)
    {
        int rc = parse_layer_entry(q, e, (int)i, err);
        if (rc)
            return rc;
    }
    q->n_layers = (int)json_array_size(arr);
    return 0;
}

static int parse_quant(quant_spec *q, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"method", "weights", "activations", "first_last_bits",
                                         "adaqat", "ptq",     "layers",      "step_init", NULL};
    static const char *const step_inits[] = {"auto", "lsq", "mmse", NULL};
    static const char *const methods[] = {"none", "qat", "adaqat", "ptq", NULL};
    json_t *o, *sub;
    quant_defaults(q);
    int rc = get_obj(root, "", "quant", &o, err);
    if (!rc && o)
        rc = check_fields(o, "quant", fields, err);
    if (!rc && o)
        rc = get_enum(o, "quant", "method", methods, &q->method, err);
    if (!rc && o)
        rc = check_method_fields(q, o, err);
    if (!rc && o)
        rc = parse_fmt(&q->weights, o, "weights", 1, err);
    if (!rc && o)
        rc = parse_fmt(&q->activations, o, "activations", 0, err);
    if (!rc && o)
        rc = get_int(o, "quant", "first_last_bits", 0, 8, &q->first_last_bits, err);
    if (!rc && q->first_last_bits == 1)
        rc = qd_fail(err, QD_ESPEC, "quant.first_last_bits",
                     "must be 0 (same as the rest) or an integer in 2..8 (got 1)");
    if (!rc && o)
        rc = get_enum(o, "quant", "step_init", step_inits, &q->step_init, err);
    if (!rc && o && json_object_get(o, "step_init") && q->method != QM_QAT &&
        q->method != QM_ADAQAT)
        rc = qd_fail(err, QD_ESPEC, "quant.step_init",
                     "only for learned steps: quant.method \"qat\" or \"adaqat\"");
    if (!rc)
        rc = check_adaqat_formats(q, err);
    if (!rc && o)
        rc = parse_layers(q, o, err);
    if (rc)
        return rc;
    q->ptq.residual_bits = clampi(q->weights.bits, 2, 8);
    q->adaqat.init_w_bits = clampi(q->weights.bits, q->adaqat.min_bits, q->adaqat.max_bits);
    q->adaqat.init_a_bits = clampi(q->activations.bits, q->adaqat.min_bits, q->adaqat.max_bits);
    if (o && (rc = get_obj(o, "quant", "adaqat", &sub, err)) == 0 && sub)
        rc = parse_adaqat(q, sub, err);
    if (!rc && o && (rc = get_obj(o, "quant", "ptq", &sub, err)) == 0 && sub)
        rc = parse_ptq(q, sub, err);
    return rc;
}

/* ---- optimizer and schedule ---- */

static int parse_optimizer(optim_spec *opt, json_t *root, qd_err *err)
{
    static const char *const names[] = {"sgd", "adamw", NULL};
    static const char *const sgd_fields[] = {"name",     "lr",           "momentum",
                                             "nesterov", "weight_decay", NULL};
    static const char *const adamw_fields[] = {"name", "lr", "weight_decay", "beta1", "beta2",
                                               "eps",  NULL};
    static const range unit_open = {0, 1, 0, 1};
    json_t *o;
    *opt = (optim_spec){.kind = OPT_SGD,
                        .lr = 0.05,
                        .momentum = 0.9,
                        .weight_decay = 5e-4,
                        .beta1 = 0.9,
                        .beta2 = 0.999,
                        .eps = 1e-8};
    int rc = get_obj(root, "", "optimizer", &o, err);
    if (rc || !o)
        return rc;
    if ((rc = get_enum(o, "optimizer", "name", names, &opt->kind, err)))
        return rc;
    if (opt->kind == OPT_ADAMW) {
        opt->lr = 0.001;
        opt->weight_decay = 0.01;
    }
    rc = check_fields_for(o, "optimizer", opt->kind == OPT_SGD ? sgd_fields : adamw_fields,
                          opt->kind == OPT_SGD ? "optimizer \"sgd\"" : "optimizer \"adamw\"", err);
    if (!rc)
        rc = get_num(o, "optimizer", "lr", (range){0, 10, 1, 0}, &opt->lr, err);
    if (!rc)
        rc = get_num(o, "optimizer", "momentum", unit_open, &opt->momentum, err);
    if (!rc)
        rc = get_bool(o, "optimizer", "nesterov", &opt->nesterov, err);
    if (!rc)
        rc = get_num(o, "optimizer", "weight_decay", (range){0, 1, 0, 0}, &opt->weight_decay, err);
    if (!rc)
        rc = get_num(o, "optimizer", "beta1", unit_open, &opt->beta1, err);
    if (!rc)
        rc = get_num(o, "optimizer", "beta2", unit_open, &opt->beta2, err);
    if (!rc)
        rc = get_num(o, "optimizer", "eps", (range){0, 1, 1, 0}, &opt->eps, err);
    if (!rc && opt->nesterov && opt->momentum == 0)
        rc = qd_fail(err, QD_ESPEC, "optimizer.nesterov", "nesterov needs momentum > 0");
    return rc;
}

static const char *const sched_names[] = {"constant", "step", "cosine", "one-cycle", NULL};

static int parse_schedule_object(sched_spec *s, json_t *o, qd_err *err)
{
    static const char *const plain_fields[] = {"name", NULL};
    static const char *const step_fields[] = {"name", "step_epochs", "gamma", NULL};
    static const char *const cycle_fields[] = {"name", "warmup_frac", NULL};
    json_t *nv = json_object_get(o, "name");
    if (!nv)
        return qd_fail(err, QD_ESPEC, "schedule.name",
                       "required: one of \"constant\", \"step\", \"cosine\", \"one-cycle\"");
    int rc = enum_value(nv, "schedule.name", sched_names, &s->kind, err);
    if (rc)
        return rc;
    char owner[64];
    snprintf(owner, sizeof owner, "schedule \"%s\"", sched_names[s->kind]);
    rc = check_fields_for(o, "schedule",
                          s->kind == SCHED_STEP        ? step_fields
                          : s->kind == SCHED_ONE_CYCLE ? cycle_fields
                                                       : plain_fields,
                          owner, err);
    if (!rc)
        rc = get_int(o, "schedule", "step_epochs", 1, 1000, &s->step_epochs, err);
    if (!rc)
        rc = get_num(o, "schedule", "gamma", (range){0, 1, 1, 0}, &s->gamma, err);
    if (!rc)
        rc = get_num(o, "schedule", "warmup_frac", (range){0, 1, 0, 1}, &s->warmup_frac, err);
    return rc;
}

static int parse_schedule(sched_spec *s, json_t *root, int epochs, qd_err *err)
{
    json_t *v = json_object_get(root, "schedule");
    *s = (sched_spec){.kind = SCHED_ONE_CYCLE,
                      .step_epochs = epochs / 3 > 1 ? epochs / 3 : 1,
                      .gamma = 0.1,
                      .warmup_frac = 0.3};
    if (!v)
        return 0;
    if (json_is_string(v))
        return enum_value(v, "schedule", sched_names, &s->kind, err);
    if (json_is_object(v))
        return parse_schedule_object(s, v, err);
    return qd_fail(err, QD_ESPEC, "schedule",
                   "must be a name (\"constant\", \"step\", \"cosine\", \"one-cycle\") or an "
                   "object {\"name\", \"step_epochs\", \"gamma\", \"warmup_frac\"}");
}

/* ---- the train spec ---- */

static int parse_init(train_spec *t, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"job", "checkpoint", NULL};
    json_t *o;
    int rc = get_obj(root, "", "init", &o, err);
    if (!rc && o)
        rc = check_fields(o, "init", fields, err);
    if (!rc && o && !json_object_get(o, "job") == !json_object_get(o, "checkpoint"))
        rc = qd_fail(err, QD_ESPEC, "init", "give exactly one of \"job\" and \"checkpoint\"");
    if (!rc && o)
        rc = get_str(o, "init", "job", t->init_job, sizeof t->init_job, err);
    if (!rc && o)
        rc = get_str(o, "init", "checkpoint", t->init_checkpoint, sizeof t->init_checkpoint, err);
    if (!rc && t->quant.method == QM_PTQ && !t->init_job[0] && !t->init_checkpoint[0])
        rc = qd_fail(err, QD_ESPEC, "init",
                     "quant.method \"ptq\" quantizes a trained model: give init.job or "
                     "init.checkpoint");
    return rc;
}

static int parse_subset(train_spec *t, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"train", "test", NULL};
    json_t *o;
    int rc = get_obj(root, "", "subset", &o, err);
    if (!rc && o)
        rc = check_fields(o, "subset", fields, err);
    if (!rc && o)
        rc = get_int(o, "subset", "train", 0, INT_MAX, &t->subset_train, err);
    if (!rc && o)
        rc = get_int(o, "subset", "test", 0, INT_MAX, &t->subset_test, err);
    return rc;
}

static int parse_required(json_t *root, const char *key, char *out, size_t cap, const char *what,
                          qd_err *err)
{
    if (!json_object_get(root, key))
        return qd_fail(err, QD_ESPEC, key, "required: %s", what);
    return get_str(root, "", key, out, cap, err);
}

static int parse_run(train_spec *t, json_t *root, qd_err *err)
{
    json_t *v = json_object_get(root, "seed");
    t->epochs = t->quant.method == QM_PTQ ? 0 : 1;
    t->batch_size = 128;
    t->seed = 1;
    int rc = get_int(root, "", "epochs", 0, 1000, &t->epochs, err);
    if (!rc && t->epochs == 0 && t->quant.method != QM_PTQ)
        rc = qd_fail(err, QD_ESPEC, "epochs",
                     "must be an integer in 1..1000 (0 only with quant.method \"ptq\")");
    if (!rc)
        rc = get_int(root, "", "batch_size", 1, 4096, &t->batch_size, err);
    if (!rc && v && (!json_is_integer(v) || json_integer_value(v) < 0))
        rc = qd_fail(err, QD_ESPEC, "seed", "must be an integer in 0..%lld", (long long)INT64_MAX);
    if (!rc && v)
        t->seed = (uint64_t)json_integer_value(v);
    if (!rc)
        rc = get_bool(root, "", "augment", &t->augment, err);
    return rc;
}

static int parse_train(train_spec *t, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"kind",       "name",    "dataset",   "model",    "epochs",
                                         "batch_size", "seed",    "optimizer", "schedule", "quant",
                                         "subset",     "augment", "init",      NULL};
    memset(t, 0, sizeof *t);
    t->augment = -1;
    int rc = check_fields(root, "", fields, err);
    if (!rc)
        rc = parse_required(root, "dataset", t->dataset, sizeof t->dataset,
                            "a data set name (\"fashion-mnist\", \"synthetic\", ...) or path", err);
    if (!rc)
        rc = parse_required(root, "model", t->model, sizeof t->model,
                            "a zoo model name (\"mlp\", \"cnn-s\", ...) or a model file path", err);
    if (!rc)
        rc = get_str(root, "", "name", t->name, sizeof t->name, err);
    if (!rc)
        rc = parse_quant(&t->quant, root, err);
    if (!rc)
        rc = parse_run(t, root, err);
    if (!rc)
        rc = parse_optimizer(&t->optimizer, root, err);
    if (!rc)
        rc = parse_schedule(&t->schedule, root, t->epochs, err);
    if (!rc)
        rc = parse_subset(t, root, err);
    if (!rc)
        rc = parse_init(t, root, err);
    return rc;
}

static int parse_kind(json_t *root, int *kind, qd_err *err)
{
    json_t *v = json_object_get(root, "kind");
    *kind = JOB_TRAIN;
    if (!v || (json_is_string(v) && strcmp(json_string_value(v), "train") == 0))
        return 0;
    if (json_is_string(v) && strcmp(json_string_value(v), "search") == 0) {
        *kind = JOB_SEARCH;
        return 0;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "export") == 0) {
        *kind = JOB_EXPORT;
        return 0;
    }
    return qd_fail(err, QD_ESPEC, "kind", "must be \"train\", \"search\" or \"export\"");
}

int spec_parse(job_spec *spec, const char *json, long len, qd_err *err)
{
    json_error_t je;
    json_t *root = NULL;
    int rc;
    if (!spec || len < 0 || (!json && len > 0))
        return qd_fail(err, QD_EINVAL, "", "spec_parse: no spec text");
    memset(spec, 0, sizeof *spec);
    root = json_loadb(json ? json : "", (size_t)len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return qd_fail(err, QD_EJSON, "", "line %d, column %d: %s", je.line, je.column, je.text);
    if (!json_is_object(root)) {
        rc = qd_fail(err, QD_ESPEC, "", "spec must be a JSON object");
        goto out;
    }
    rc = parse_kind(root, &spec->kind, err);
    if (!rc && spec->kind == JOB_SEARCH)
        rc = spec_parse_search(&spec->search, root, err);
    else if (!rc && spec->kind == JOB_EXPORT)
        rc = spec_parse_export(&spec->export_, root, err);
    else if (!rc)
        rc = parse_train(&spec->train, root, err);
out:
    json_decref(root);
    return rc;
}

/* ---- the field readers for the other kinds' parsers (spec_json.h) ---- */

void spec_path_join(char *out, const char *base, const char *key) { path_join(out, base, key); }

int spec_check_fields(json_t *obj, const char *path, const char *const *allowed, qd_err *err)
{
    return check_fields(obj, path, allowed, err);
}

int spec_get_obj(json_t *obj, const char *path, const char *key, json_t **out, qd_err *err)
{
    return get_obj(obj, path, key, out, err);
}

int spec_get_int(json_t *obj, const char *path, const char *key, long long lo, long long hi,
                 int *out, qd_err *err)
{
    return get_int(obj, path, key, lo, hi, out, err);
}

int spec_get_num(json_t *obj, const char *path, const char *key, double lo, int lo_open,
                 double hi, double *out, qd_err *err)
{
    return get_num(obj, path, key, (range){lo, hi, lo_open, 0}, out, err);
}

int spec_get_bool(json_t *obj, const char *path, const char *key, int *out, qd_err *err)
{
    return get_bool(obj, path, key, out, err);
}

int spec_get_str(json_t *obj, const char *path, const char *key, char *out, size_t cap,
                 qd_err *err)
{
    return get_str(obj, path, key, out, cap, err);
}

int spec_get_enum(json_t *obj, const char *path, const char *key, const char *const *names,
                  int *out, qd_err *err)
{
    return get_enum(obj, path, key, names, out, err);
}
