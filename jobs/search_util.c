/*
 * search_util.c: files and figures of the search job (search_util.h). Files that mark progress
 * (plan.json, each candidate's result.json, the search's model.qdc) are written whole to a
 * temporary name, synced and renamed, so a kill -9 at any instant leaves either no file or a
 * complete one. The front is the one Pareto function of the core.
 */
#include "search_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/pareto.h"

/* ---- files ---- */

int search_read_json(const char *path, json_t **out, qd_err *err)
{
    json_error_t je;
    *out = NULL;
    if (access(path, F_OK) != 0)
        return QD_ENOENT;
    *out = json_load_file(path, 0, &je);
    if (!*out)
        return qd_fail(err, QD_EFORMAT, NULL, "%s: line %d: %s", path, je.line, je.text);
    return 0;
}

static int sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes len bytes of data, or the whole of src (when data is NULL), to path atomically. */
static int write_atomic(const char *path, const char *data, size_t len, FILE *src, qd_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return qd_fail(err, errno == ENOSPC ? QD_ENOSPC : QD_EIO, NULL, "%s: %s", tmp,
                       strerror(errno));
    int ok = 1;
    if (data) {
        ok = fwrite(data, 1, len, f) == len;
    } else {
        char buf[1 << 16];
        size_t n;
        while (ok && (n = fread(buf, 1, sizeof buf, src)) > 0)
            ok = fwrite(buf, 1, n, f) == n;
        ok = ok && !ferror(src);
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0 && sync_dir(path) == 0)
        return 0;
    e = errno ? errno : e;
    unlink(tmp);
    return qd_fail(err, e == ENOSPC ? QD_ENOSPC : QD_EIO, NULL, "writing %s: %s", path,
                   strerror(e));
}

int search_write_json(const char *path, const json_t *v, qd_err *err)
{
    char *text = json_dumps(v, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    if (!text)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    int rc = write_atomic(path, text, strlen(text), NULL, err);
    free(text);
    return rc;
}

int search_copy_file(const char *src, const char *dst, qd_err *err)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        return qd_fail(err, QD_EIO, NULL, "%s: %s", src, strerror(errno));
    int rc = write_atomic(dst, NULL, 0, f, err);
    fclose(f);
    return rc;
}

int search_mkdirs(const char *path, qd_err *err)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return qd_fail(err, QD_EIO, NULL, "mkdir %s: %s", p, strerror(errno));
        *s = c;
        if (!c)
            return 0;
    }
}

double search_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void search_prefix_error(qd_err *err, int k)
{
    char msg[sizeof err->msg];
    int n = snprintf(msg, 32, "candidate %d: ", k);
    snprintf(msg + n, sizeof msg - (size_t)n, "%.*s", (int)(sizeof msg) - n - 1, err->msg);
    memcpy(err->msg, msg, sizeof msg);
}

/* ---- figures ---- */

double search_x(const json_t *cand, int kind)
{
    if (kind == BUDGET_BITOPS)
        return json_number_value(json_object_get(cand, "bitops"));
    return json_number_value(json_object_get(json_object_get(cand, "memory"),
                                             kind == BUDGET_WEIGHT_BYTES ? "weight_bytes"
                                                                         : "total_bytes"));
}

static double acc(const json_t *cand)
{
    return json_number_value(json_object_get(cand, "test_accuracy"));
}

json_t *search_front(const json_t *cands, int kind)
{
    int n = (int)json_array_size(cands);
    double *x = malloc(sizeof(double) * (size_t)(n + 1)), *a = malloc(sizeof(double) * (size_t)(n + 1));
    int *f = malloc(sizeof(int) * (size_t)(n + 1)), k = x && a && f ? 0 : QD_ENOMEM;
    for (int i = 0; k == 0 && i < n; i++) {
        x[i] = search_x(json_array_get(cands, (size_t)i), kind);
        a[i] = acc(json_array_get(cands, (size_t)i));
    }
    if (k == 0)
        k = pareto_front(x, a, n, f);
    json_t *out = json_array();
    for (int i = 0; i < k; i++)
        json_array_append_new(out, json_integer(f[i]));
    free(x), free(a), free(f);
    return out;
}

int search_best(const json_t *cands, int kind)
{
    json_t *front = search_front(cands, kind), *v;
    size_t i;
    int best = -1;
    json_array_foreach(front, i, v)
    {
        int k = (int)json_integer_value(v);
        const json_t *c = json_array_get(cands, (size_t)k), *b = json_array_get(cands, (size_t)best);
        if (best < 0 || acc(c) > acc(b) ||
            (acc(c) == acc(b) && (search_x(c, kind) < search_x(b, kind) ||
                                  (search_x(c, kind) == search_x(b, kind) && k < best))))
            best = k;
    }
    json_decref(front);
    return best < 0 ? 0 : best;
}

/* The most accurate candidate whose cost is within budget, or -1. */
static int within(const json_t *cands, int kind, double budget)
{
    size_t i;
    json_t *c;
    int best = -1;
    json_array_foreach(cands, i, c)
    {
        const json_t *b = json_array_get(cands, (size_t)best);
        if (search_x(c, kind) > budget)
            continue;
        if (best < 0 || acc(c) > acc(b) || (acc(c) == acc(b) && search_x(c, kind) < search_x(b, kind)))
            best = (int)i;
    }
    return best;
}

json_t *search_recommend(const search_spec *s, const json_t *cands, const json_t *chosen)
{
    static const char *const kinds[] = {"total_bytes", "weight_bytes", "bitops"};
    json_t *out = json_array();
    for (int b = 0; s->has_budgets && b < s->n_budgets; b++) {
        json_t *e = json_deep_copy(json_array_get(chosen, (size_t)b));
        if (!e)
            e = json_pack("{s:s, s:I}", "kind", kinds[s->budget_kind], "value",
                          (json_int_t)s->budgets[b]);
        int k = within(cands, s->budget_kind, (double)s->budgets[b]);
        json_object_set_new(e, "recommended", k < 0 ? json_null() : json_integer(k));
        json_array_append_new(out, e);
    }
    return out;
}
