/*
 * modelfile.c: reads model files (format in modelfile.h) into a model_desc, finds zoo models by
 * name and lists them. Called by the train job and `quantd run` to build a model, and by the
 * daemon's GET /api/v1/models.
 *
 * Parsing runs in three passes over the "layers" array, because a layer may name any earlier
 * layer and a later layer's default name may collide with an earlier explicit one:
 *   1. each layer's type, name and numeric fields, checked against the fields its type allows;
 *   2. names unique;
 *   3. inputs resolved to indices of earlier layers (-1 is the model's input).
 * Every error names the layer by index and name and the field by its JSON path. Shapes are left
 * to the core, which knows the data set's input size.
 */
#include "modelfile.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_LEN 1024
#define MAX_DIRS 16
#define INPUT_NAME "@input"

/* ---- errors and fields ---- */

static int layer_fail(qd_err *err, const model_desc *d, int i, const char *key, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));

/* QD_EMODEL on field "layers[i].key" with the message "layer i (name): ...". */
static int layer_fail(qd_err *err, const model_desc *d, int i, const char *key, const char *fmt,
                      ...)
{
    char field[128], msg[400];
    va_list ap;
    if (key)
        snprintf(field, sizeof field, "layers[%d].%.64s", i, key);
    else
        snprintf(field, sizeof field, "layers[%d]", i);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (d->layers[i].name[0])
        return qd_fail(err, QD_EMODEL, field, "layer %d (%s): %s", i, d->layers[i].name, msg);
    return qd_fail(err, QD_EMODEL, field, "layer %d: %s", i, msg);
}

static int in_list(const char *s, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static void join_list(char *out, size_t cap, const char *const *list)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; list[i] && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", list[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Letters, digits, '_', '-' and '.', not starting with '.'; 1 to cap - 1 bytes. */
static int valid_name(const char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n == 0 || n >= cap || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

static int lay_int(const model_desc *d, int i, json_t *o, const char *key, int lo, int hi,
                   int required, int *out, qd_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v && required)
        return layer_fail(err, d, i, key, "%s is required: an integer in %d..%d", key, lo, hi);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return layer_fail(err, d, i, key, "%s must be an integer in %d..%d", key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int lay_bool(const model_desc *d, int i, json_t *o, const char *key, int *out, qd_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return layer_fail(err, d, i, key, "%s must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* ---- pass 1: one layer's type, name and numbers ---- */

static const char *const *layer_fields(int kind)
{
    static const char *const conv[] = {"type",   "name",    "input", "out", "kernel",
                                       "stride", "padding", "bias",  NULL};
    static const char *const linear[] = {"type", "name", "input", "out", "bias", NULL};
    static const char *const pool[] = {"type",   "name",    "input", "kernel",
                                       "stride", "padding", NULL};
    static const char *const add[] = {"type", "name", "inputs", NULL};
    static const char *const plain[] = {"type", "name", "input", NULL};
    switch (kind) {
    case LK_CONV:
        return conv;
    case LK_LINEAR:
        return linear;
    case LK_MAXPOOL:
    case LK_AVGPOOL:
        return pool;
    case LK_ADD:
        return add;
    default:
        return plain;
    }
}

static int parse_type_and_name(model_desc *d, int i, json_t *o, qd_err *err)
{
    layer_desc *l = &d->layers[i];
    json_t *nv = json_object_get(o, "name"), *tv = json_object_get(o, "type");
    if (nv && (!json_is_string(nv) || !valid_name(json_string_value(nv), sizeof l->name)))
        return layer_fail(err, d, i, "name",
                          "name must be a string of 1..%zu letters, digits, '_', '-' or '.', "
                          "not starting with '.'",
                          sizeof l->name - 1);
    if (nv)
        snprintf(l->name, sizeof l->name, "%s", json_string_value(nv));
    l->kind = tv && json_is_string(tv) ? layer_kind_from_name(json_string_value(tv)) : -1;
    if (l->kind < 0) {
        char names[256];
        const char *list[LK_COUNT + 1];
        for (int k = 0; k < LK_COUNT; k++)
            list[k] = layer_kind_name(k);
        list[LK_COUNT] = NULL;
        join_list(names, sizeof names, list);
        if (!tv)
            return layer_fail(err, d, i, "type", "type is required: one of %s", names);
        return layer_fail(err, d, i, "type", "unknown type %s%.40s%s; allowed: %s",
                          json_is_string(tv) ? "\"" : "",
                          json_is_string(tv) ? json_string_value(tv) : "(not a string)",
                          json_is_string(tv) ? "\"" : "", names);
    }
    if (!nv)
        snprintf(l->name, sizeof l->name, "%s%d", layer_kind_name(l->kind), i);
    return 0;
}

static int check_layer_fields(const model_desc *d, int i, json_t *o, qd_err *err)
{
    const char *const *allowed = layer_fields(d->layers[i].kind);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (in_list(key, allowed))
            continue;
        char list[160];
        join_list(list, sizeof list, allowed);
        return layer_fail(err, d, i, key, "unknown field \"%.64s\" for type %s; allowed: %s", key,
                          layer_kind_name(d->layers[i].kind), list);
    }
    return 0;
}

/* kernel, stride and padding: a conv's stride defaults to 1, a pool's to its kernel. */
static int parse_window(model_desc *d, int i, json_t *o, int pool, qd_err *err)
{
    layer_desc *l = &d->layers[i];
    int rc = lay_int(d, i, o, "kernel", 1, 11, 1, &l->kernel, err);
    l->stride = pool ? l->kernel : 1;
    if (!rc)
        rc = lay_int(d, i, o, "stride", 1, pool ? 11 : 8, 0, &l->stride, err);
    if (!rc)
        rc = lay_int(d, i, o, "padding", 0, l->kernel - 1, 0, &l->pad, err);
    return rc;
}

static int parse_params(model_desc *d, int i, json_t *o, qd_err *err)
{
    layer_desc *l = &d->layers[i];
    int rc = 0;
    l->nin = l->kind == LK_ADD ? 2 : 1;
    switch (l->kind) {
    case LK_CONV:
        l->bias = 1;
        rc = lay_int(d, i, o, "out", 1, 65536, 1, &l->out, err);
        if (!rc)
            rc = parse_window(d, i, o, 0, err);
        break;
    case LK_LINEAR:
        l->bias = 1;
        rc = lay_int(d, i, o, "out", 1, 65536, 1, &l->out, err);
        break;
    case LK_MAXPOOL:
    case LK_AVGPOOL:
        rc = parse_window(d, i, o, 1, err);
        break;
    default:
        break;
    }
    if (!rc)
        rc = lay_bool(d, i, o, "bias", &l->bias, err);
    return rc;
}

static int parse_layer(model_desc *d, int i, json_t *o, qd_err *err)
{
    if (!json_is_object(o))
        return layer_fail(err, d, i, NULL, "each layer must be an object with a \"type\"");
    int rc = parse_type_and_name(d, i, o, err);
    if (!rc)
        rc = check_layer_fields(d, i, o, err);
    if (!rc)
        rc = parse_params(d, i, o, err);
    return rc;
}

/* ---- passes 2 and 3: names and inputs ---- */

static int check_names(const model_desc *d, json_t *layers, qd_err *err)
{
    for (int i = 1; i < d->n_layers; i++) {
        for (int j = 0; j < i; j++) {
            if (strcmp(d->layers[i].name, d->layers[j].name) != 0)
                continue;
            int given = json_object_get(json_array_get(layers, (size_t)i), "name") != NULL;
            return layer_fail(err, d, i, "name", "name \"%s\" is already used by layer %d%s",
                              d->layers[i].name, j,
                              given ? "" : " (a layer without a name is called <type><index>)");
        }
    }
    return 0;
}

static int find_input(const model_desc *d, int i, json_t *v, const char *key, int *out, qd_err *err)
{
    if (!json_is_string(v))
        return layer_fail(err, d, i, key, "%s must be the name of an earlier layer or \"%s\"", key,
                          INPUT_NAME);
    const char *s = json_string_value(v);
    if (strcmp(s, INPUT_NAME) == 0) {
        *out = -1;
        return 0;
    }
    for (int j = 0; j < d->n_layers; j++) {
        if (strcmp(d->layers[j].name, s) != 0)
            continue;
        if (j >= i)
            return layer_fail(err, d, i, key,
                              "%s \"%s\" is layer %d: a layer can only read earlier layers", key, s,
                              j);
        *out = j;
        return 0;
    }
    return layer_fail(err, d, i, key,
                      "%s \"%.64s\": no layer has that name (the model's input "
                      "is \"%s\")",
                      key, s, INPUT_NAME);
}

static int resolve_inputs(model_desc *d, int i, json_t *o, qd_err *err)
{
    layer_desc *l = &d->layers[i];
    l->in[0] = i - 1;
    l->in[1] = -1;
    if (l->kind != LK_ADD) {
        json_t *v = json_object_get(o, "input");
        return v ? find_input(d, i, v, "input", &l->in[0], err) : 0;
    }
    json_t *a = json_object_get(o, "inputs");
    if (!json_is_array(a) || json_array_size(a) != 2)
        return layer_fail(err, d, i, "inputs",
                          "add needs \"inputs\": the names of exactly 2 earlier layers");
    int rc = find_input(d, i, json_array_get(a, 0), "inputs[0]", &l->in[0], err);
    if (!rc)
        rc = find_input(d, i, json_array_get(a, 1), "inputs[1]", &l->in[1], err);
    return rc;
}

static int parse_layers(model_desc *d, json_t *layers, qd_err *err)
{
    if (!json_is_array(layers) || json_array_size(layers) == 0)
        return qd_fail(err, QD_EMODEL, "layers",
                       "\"layers\" must be a non-empty array of layer objects");
    if (json_array_size(layers) > MODEL_MAX_LAYERS)
        return qd_fail(err, QD_EMODEL, "layers", "too many layers: %zu (at most %d)",
                       json_array_size(layers), MODEL_MAX_LAYERS);
    d->n_layers = (int)json_array_size(layers);
    int rc = 0;
    for (int i = 0; !rc && i < d->n_layers; i++)
        rc = parse_layer(d, i, json_array_get(layers, (size_t)i), err);
    if (!rc)
        rc = check_names(d, layers, err);
    for (int i = 0; !rc && i < d->n_layers; i++)
        rc = resolve_inputs(d, i, json_array_get(layers, (size_t)i), err);
    return rc;
}

/* ---- the document ---- */

static int parse_input_shape(model_desc *d, json_t *v, qd_err *err)
{
    int dims[3];
    if (!json_is_array(v) || json_array_size(v) != 3)
        return qd_fail(err, QD_EMODEL, "input", "\"input\" must be [C, H, W], each in 1..4096");
    for (int k = 0; k < 3; k++) {
        json_t *x = json_array_get(v, (size_t)k);
        if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > 4096)
            return qd_fail(err, QD_EMODEL, "input", "\"input\" must be [C, H, W], each in 1..4096");
        dims[k] = (int)json_integer_value(x);
    }
    d->in_c = dims[0];
    d->in_h = dims[1];
    d->in_w = dims[2];
    return 0;
}

static int parse_header(model_desc *d, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"name", "description", "input", "layers", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (!in_list(key, fields))
            return qd_fail(err, QD_EMODEL, key,
                           "unknown field \"%.64s\"; allowed: name, description, input, layers",
                           key);
    }
    v = json_object_get(root, "name");
    if (v && (!json_is_string(v) || !valid_name(json_string_value(v), sizeof d->name)))
        return qd_fail(err, QD_EMODEL, "name",
                       "name must be a string of 1..%zu letters, digits, '_', '-' or '.'",
                       sizeof d->name - 1);
    if (v)
        snprintf(d->name, sizeof d->name, "%s", json_string_value(v));
    v = json_object_get(root, "description");
    if (v && !json_is_string(v))
        return qd_fail(err, QD_EMODEL, "description", "description must be a string");
    v = json_object_get(root, "input");
    return v ? parse_input_shape(d, v, err) : 0;
}

int modelfile_parse(model_desc *d, const char *json, long len, qd_err *err)
{
    json_error_t je;
    json_t *root = NULL;
    int rc;
    if (!d || len < 0 || (!json && len > 0))
        return qd_fail(err, QD_EINVAL, "", "modelfile_parse: no text");
    memset(d, 0, sizeof *d);
    root = json_loadb(json ? json : "", (size_t)len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return qd_fail(err, QD_EMODEL, "", "malformed JSON at line %d, column %d: %s", je.line,
                       je.column, je.text);
    if (!json_is_object(root)) {
        rc = qd_fail(err, QD_EMODEL, "", "a model file must be a JSON object");
        goto out;
    }
    rc = parse_header(d, root, err);
    if (!rc)
        rc = parse_layers(d, json_object_get(root, "layers"), err);
out:
    json_decref(root);
    return rc;
}

/* ---- finding, reading and listing files ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* dirname(dirname(the executable)) + "/models", or 0 when /proc/self/exe cannot be read. */
static int exe_models_dir(char *out, size_t cap)
{
    char exe[DIR_LEN];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return 0;
        *slash = '\0';
    }
    return snprintf(out, cap, "%s/models", exe) < (int)cap;
}

/* The directories searched for zoo names, in order; returns how many. */
static int search_dirs(char dirs[][DIR_LEN], const char *models_dirs)
{
    int n = 0;
    for (const char *p = models_dirs; p && *p && n < MAX_DIRS - 2;) {
        size_t len = strcspn(p, ":");
        if (len > 0 && len < DIR_LEN) {
            memcpy(dirs[n], p, len);
            dirs[n++][len] = '\0';
        }
        p += len + (p[len] == ':');
    }
    snprintf(dirs[n++], DIR_LEN, "models");
    n += exe_models_dir(dirs[n], DIR_LEN);
    return n;
}

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int find_model(char *path, size_t cap, const char *name, const char *models_dirs,
                      qd_err *err)
{
    char dirs[MAX_DIRS][DIR_LEN], looked[256];
    if (!valid_name(name, MODELFILE_NAME_LEN))
        return qd_fail(err, QD_ENOENT, "", "\"%.64s\" is neither a model name nor a path", name);
    int n = search_dirs(dirs, models_dirs);
    size_t used = 0;
    looked[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(path, cap, "%s/%s.json", dirs[i], name);
        if (w > 0 && (size_t)w < cap && is_regular_file(path))
            return 0;
        if (used < sizeof looked) {
            w = snprintf(looked + used, sizeof looked - used, "%s%s", i ? ", " : "", dirs[i]);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return qd_fail(err, QD_ENOENT, "", "model \"%s\" not found; looked for %s.json in: %s", name,
                   name, looked);
}

static int read_file(const char *path, char **out, long *len, qd_err *err)
{
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return qd_fail(err, errno == ENOENT || errno == ENOTDIR ? QD_ENOENT : QD_EIO, "", "%s: %s",
                       path, strerror(errno));
    if (fstat(fileno(f), &st) != 0) {
        rc = qd_fail(err, QD_EIO, "", "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = qd_fail(err, QD_EMODEL, "", "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size > MODELFILE_MAX_BYTES) {
        rc = qd_fail(err, QD_EMODEL, "", "%s: larger than %ld bytes", path, MODELFILE_MAX_BYTES);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = qd_fail(err, QD_ENOMEM, "", "out of memory reading %s", path);
        goto out;
    }
    *len = (long)fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f))
        rc = qd_fail(err, QD_EIO, "", "%s: read error", path);
out:
    fclose(f);
    if (rc)
        free(buf);
    else
        *out = buf;
    return rc;
}

/* err->msg = "path: " + err->msg, cut to fit. */
static void prefix_msg(qd_err *err, const char *path)
{
    char msg[sizeof err->msg];
    size_t p = strlen(path), m = strlen(err->msg);
    if (p + 2 >= sizeof msg)
        return;
    memcpy(msg, path, p);
    memcpy(msg + p, ": ", 2);
    if (m > sizeof msg - p - 3)
        m = sizeof msg - p - 3;
    memcpy(msg + p + 2, err->msg, m);
    msg[p + 2 + m] = '\0';
    memcpy(err->msg, msg, sizeof msg);
}

/* The file's base name without ".json". */
static void name_from_path(char *out, size_t cap, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (ends_with(base, ".json"))
        n -= 5;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

int modelfile_load(model_desc *d, const char *name_or_path, const char *models_dirs, qd_err *err)
{
    char path[DIR_LEN + MODELFILE_NAME_LEN + 8], *buf = NULL;
    long len = 0;
    int rc;
    if (!d || !name_or_path || !name_or_path[0])
        return qd_fail(err, QD_EINVAL, "", "modelfile_load: no model name");
    memset(d, 0, sizeof *d);
    if (strchr(name_or_path, '/') || ends_with(name_or_path, ".json")) {
        if (strlen(name_or_path) >= sizeof path)
            return qd_fail(err, QD_ENOENT, "", "model path too long");
        snprintf(path, sizeof path, "%s", name_or_path);
    } else if ((rc = find_model(path, sizeof path, name_or_path, models_dirs, err))) {
        return rc;
    }
    rc = read_file(path, &buf, &len, err);
    if (!rc)
        rc = modelfile_parse(d, buf, len, err);
    if (rc == QD_EMODEL && err && strncmp(err->msg, path, strlen(path)) != 0)
        prefix_msg(err, path);
    if (!rc && !d->name[0])
        name_from_path(d->name, sizeof d->name, path);
    free(buf);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Adds the NAME of each NAME.json in dir that is not listed yet; returns the new count. */
static int list_dir(const char *dir, char names[][MODELFILE_NAME_LEN], int n, int cap)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    if (!dh)
        return n;
    while (n < cap && (e = readdir(dh)) != NULL) {
        char stem[MODELFILE_NAME_LEN];
        size_t len = strlen(e->d_name);
        if (!ends_with(e->d_name, ".json") || len - 5 >= sizeof stem)
            continue;
        memcpy(stem, e->d_name, len - 5);
        stem[len - 5] = '\0';
        int seen = !valid_name(stem, sizeof stem);
        for (int k = 0; k < n && !seen; k++)
            seen = strcmp(names[k], stem) == 0;
        if (!seen)
            memcpy(names[n++], stem, sizeof stem);
    }
    closedir(dh);
    return n;
}

int modelfile_list(const char *models_dirs, char names[][MODELFILE_NAME_LEN], int cap)
{
    char dirs[MAX_DIRS][DIR_LEN];
    int nd = search_dirs(dirs, models_dirs), n = 0;
    for (int i = 0; i < nd && n < cap; i++)
        n = list_dir(dirs[i], names, n, cap);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    return n;
}
