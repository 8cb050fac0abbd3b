/*
 * pareto.c: `quantctl pareto [--dataset D] [--model M]`: the team's Pareto front of accuracy
 * against memory, from GET /api/v1/pareto ({"points": [...], "front": [indices]}).
 *
 * Prints the front as a table ordered by memory, then a text plot of every point with the
 * front marked. A point's memory may be the cost model's {"total_bytes", ...} or a number; a
 * front entry may be an index into points or a point carrying its own "front": true.
 */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "jobinfo.h"
#include "render.h"

#define PLOT_WIDTH 60
#define PLOT_HEIGHT 14

typedef struct ranked {
    double memory;
    size_t index;
} ranked;

static int by_memory(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return (x->memory > y->memory) - (x->memory < y->memory);
}

/* front[i] = 1 when point i is on the front. */
static void mark_front(const json_t *reply, int *front, size_t n)
{
    json_t *points = json_object_get(reply, "points"), *f = json_object_get(reply, "front");
    size_t i;
    json_t *v;
    json_array_foreach(points, i, v) front[i] = json_is_true(json_object_get(v, "front"));
    json_array_foreach(f, i, v)
    {
        if (json_is_integer(v) && json_integer_value(v) >= 0 && (size_t)json_integer_value(v) < n)
            front[json_integer_value(v)] = 1;
    }
}

static void front_table(const json_t *points, const int *front)
{
    static const char *const head[] = {"JOB",      "CAND",   "NAME",  "MODEL",
                                       "ACCURACY", "MEMORY", "BITOPS"};
    render_table t;
    size_t n = json_array_size(points), i;
    ranked *order = calloc(n ? n : 1, sizeof *order);
    if (!order || render_table_init(&t, 7, head)) {
        free(order);
        return;
    }
    for (i = 0; i < n; i++)
        order[i] = (ranked){jobinfo_memory(json_array_get(points, i)), i};
    qsort(order, n, sizeof *order, by_memory);
    for (i = 0; i < n; i++) {
        if (!front[order[i].index])
            continue;
        json_t *p = json_array_get(points, order[i].index);
        char job[128], cand[32], name[128], model[128], acc[32], mem[32], ops[32];
        const char *row[] = {
            render_scalar(job, sizeof job, json_object_get(p, "job")),
            render_scalar(cand, sizeof cand, json_object_get(p, "candidate")),
            render_scalar(name, sizeof name, json_object_get(p, "name")),
            render_scalar(model, sizeof model, json_object_get(p, "model")),
            (snprintf(acc, sizeof acc, "%.2f%%",
                      100.0 * render_number(json_object_get(p, "test_accuracy"), 0)),
             acc),
            render_bytes(mem, sizeof mem, order[i].memory),
            render_count(ops, sizeof ops, render_number(json_object_get(p, "bitops"), 0))};
        render_table_add(&t, row);
    }
    render_table_print(&t, stdout);
    render_table_free(&t);
    free(order);
}

static void pareto_print(const json_t *reply)
{
    json_t *points = json_object_get(reply, "points");
    size_t n = json_array_size(points), i;
    int *front = calloc(n ? n : 1, sizeof *front);
    render_point *p = calloc(n ? n : 1, sizeof *p);
    int np = 0;
    if (!front || !p)
        goto out;
    if (n == 0) {
        printf("no points yet: finished train and search jobs add theirs\n");
        goto out;
    }
    mark_front(reply, front, n);
    front_table(points, front);
    for (i = 0; i < n; i++) {
        json_t *pt = json_array_get(points, i);
        double m = jobinfo_memory(pt);
        if (m > 0)
            p[np++] =
                (render_point){m, render_number(json_object_get(pt, "test_accuracy"), 0), front[i]};
    }
    printf("\n");
    render_plot(stdout, p, np, PLOT_WIDTH, PLOT_HEIGHT);
out:
    free(front);
    free(p);
}

int cmd_pareto(qc_ctx *c, const qc_args *a, qcerr *e)
{
    char path[1024] = "/api/v1/pareto";
    http_reply r;
    if (http_query_add(path, sizeof path, "dataset", a->opt[OPT_DATASET]) ||
        http_query_add(path, sizeof path, "model", a->opt[OPT_MODEL]))
        return qcerr_set(e, QC_USAGE, NULL, NULL, "--dataset or --model is too long");
    int rc = http_call(&c->http, "GET", path, NULL, &r, e);
    if (rc)
        goto out;
    if (c->json)
        cmd_print_json(r.json);
    else if (!json_is_array(json_object_get(r.json, "points")))
        rc = qcerr_set(e, QC_SERVER, NULL, NULL, "answer to GET %s holds no points", path);
    else
        pareto_print(r.json);
out:
    http_reply_free(&r);
    return rc;
}
