/*
 * search_choose.c: a sensitivity search's configuration per budget (search_int.h): the exact
 * multiple-choice knapsack over the sensitivity table (search_sens.c explains the method).
 *
 * Weight bytes and BitOPs are one knapsack each. Total bytes take one knapsack per possible
 * activation peak T (every value the per-layer working-set term can take, ascending), with the
 * chain constraint "neighbouring activation sides keep the term within T" and the weights'
 * budget B - T; the answer is the best over all T, ties to the smaller total. The configuration
 * is then appended to the plan (once, however many budgets choose it) with its predicted cost.
 */
#include <stdlib.h>
#include <string.h>

#include "core/cost.h"
#include "core/knapsack.h"
#include "search_int.h"

typedef struct chooser {
    const search_spec *s;
    const search_space *sp;
    const sens_table *t;
    long peak;               /* total bytes: the activation peak allowed */
    ks_item **items;         /* [layer][option] */
    int **map;               /* [layer][item] -> option */
    int *n_items;
} chooser;

typedef struct choice {
    int found;
    double value;
    long weight_bytes, activation_bytes, total_bytes, resolution;
    double bitops;
    int *opt;                /* [layer] */
} choice;

static int abits(const chooser *c, int side) { return c->sp->a[side].f.bits; }

/* Layer ci's working-set term with input side a and next-layer input side an (-1: float). */
static long term(const chooser *c, int ci, int a, int an)
{
    const sens_layer *L = &c->t->layers[ci];
    return cost_activation_bytes(L->in_elems, abits(c, a), L->out_elems,
                                 an < 0 ? 32 : abits(c, an));
}

static int allowed(void *ctx, int g, int link_prev, int link)
{
    const chooser *c = ctx;
    return term(c, g - 1, link_prev, link) <= c->peak;
}

static long option_cost(const chooser *c, int ci, int o)
{
    const sens_layer *L = &c->t->layers[ci];
    if (c->s->budget_kind == BUDGET_BITOPS)
        return L->macs * c->sp->w[L->w[o]].f.bits * abits(c, L->a[o]);
    return L->weight_bytes[o];
}

/* The items of every layer; with total bytes the last layer keeps only options whose own term
 * (its output is float) fits the peak. */
static void fill_items(chooser *c)
{
    int n = c->t->n;
    for (int ci = 0; ci < n; ci++) {
        const sens_layer *L = &c->t->layers[ci];
        c->n_items[ci] = 0;
        for (int o = 0; o < L->n_opts; o++) {
            if (c->s->budget_kind == BUDGET_TOTAL_BYTES && ci == n - 1 &&
                term(c, ci, L->a[o], -1) > c->peak)
                continue;
            c->map[ci][c->n_items[ci]] = o;
            c->items[ci][c->n_items[ci]++] = (ks_item){option_cost(c, ci, o), L->delta[o], L->a[o]};
        }
    }
}

/* The exact cost of a configuration by the cost model's pieces. */
static void price(const chooser *c, choice *ch)
{
    int n = c->t->n;
    ch->weight_bytes = ch->activation_bytes = 0;
    ch->bitops = 0;
    for (int ci = 0; ci < n; ci++) {
        const sens_layer *L = &c->t->layers[ci];
        int o = ch->opt[ci];
        long tb = term(c, ci, L->a[o], ci + 1 < n ? c->t->layers[ci + 1].a[ch->opt[ci + 1]] : -1);
        ch->weight_bytes += L->weight_bytes[o];
        ch->activation_bytes = tb > ch->activation_bytes ? tb : ch->activation_bytes;
        ch->bitops += (double)L->macs * c->sp->w[L->w[o]].f.bits * abits(c, L->a[o]);
    }
    ch->total_bytes = ch->weight_bytes + ch->activation_bytes;
}

static int solve_once(chooser *c, long budget, choice *best, int *tmp)
{
    fill_items(c);
    for (int ci = 0; ci < c->t->n; ci++)
        if (c->n_items[ci] == 0)
            return 0;
    ks_problem p = {.n_groups = c->t->n, .n_items = c->n_items,
                    .items = (const ks_item *const *)c->items, .n_links = c->sp->n_a + 1};
    if (c->s->budget_kind == BUDGET_TOTAL_BYTES)
        p.allowed = allowed, p.ctx = c;
    ks_solution sol;
    int rc = knapsack_solve(&p, budget, tmp, &sol, NULL);
    if (rc == QD_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    choice cand = {.found = 1, .value = sol.value, .resolution = sol.resolution, .opt = tmp};
    for (int ci = 0; ci < c->t->n; ci++)
        tmp[ci] = c->map[ci][tmp[ci]];
    price(c, &cand);
    if (!best->found || cand.value < best->value ||
        (cand.value == best->value && cand.total_bytes < best->total_bytes)) {
        int *keep = best->opt;
        memcpy(keep, tmp, sizeof(int) * (size_t)c->t->n);
        *best = cand;
        best->opt = keep;
    }
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Every value the activation peak can take, ascending, into *out (malloc'd); returns count. */
static long peaks(const chooser *c, long **out)
{
    int n = c->t->n, cap = 0;
    for (int ci = 0; ci < n; ci++)
        cap += c->t->layers[ci].n_opts * (ci + 1 < n ? c->t->layers[ci + 1].n_opts : 1);
    long *v = malloc(sizeof(long) * (size_t)(cap ? cap : 1)), k = 0;
    if (!v)
        return -1;
    for (int ci = 0; ci < n; ci++) {
        const sens_layer *L = &c->t->layers[ci];
        for (int o = 0; o < L->n_opts; o++) {
            if (ci + 1 == n) {
                v[k++] = term(c, ci, L->a[o], -1);
                continue;
            }
            const sens_layer *N = &c->t->layers[ci + 1];
            for (int o2 = 0; o2 < N->n_opts; o2++)
                v[k++] = term(c, ci, L->a[o], N->a[o2]);
        }
    }
    qsort(v, (size_t)k, sizeof *v, cmp_long);
    long u = 0;
    for (long i = 0; i < k; i++)
        if (u == 0 || v[i] != v[u - 1])
            v[u++] = v[i];
    *out = v;
    return u;
}

static int solve_budget(chooser *c, int64_t budget, choice *best, int *tmp)
{
    best->found = 0;
    if (c->s->budget_kind != BUDGET_TOTAL_BYTES)
        return solve_once(c, (long)budget, best, tmp);
    long *pk, np = peaks(c, &pk);
    if (np < 0)
        return QD_ENOMEM;
    int rc = 0;
    for (long i = 0; rc == 0 && i < np && pk[i] <= budget; i++) {
        c->peak = pk[i];
        rc = solve_once(c, (long)budget - pk[i], best, tmp);
    }
    free(pk);
    return rc;
}

static int chooser_init(chooser *c)
{
    int n = c->t->n;
    c->items = calloc((size_t)n, sizeof *c->items);
    c->map = calloc((size_t)n, sizeof *c->map);
    c->n_items = calloc((size_t)n, sizeof *c->n_items);
    if (!c->items || !c->map || !c->n_items)
        return QD_ENOMEM;
    for (int ci = 0; ci < n; ci++) {
        c->items[ci] = calloc((size_t)c->t->layers[ci].n_opts, sizeof **c->items);
        c->map[ci] = calloc((size_t)c->t->layers[ci].n_opts, sizeof **c->map);
        if (!c->items[ci] || !c->map[ci])
            return QD_ENOMEM;
    }
    return 0;
}

static void chooser_free(chooser *c)
{
    for (int ci = 0; ci < c->t->n; ci++) {
        if (c->items)
            free(c->items[ci]);
        if (c->map)
            free(c->map[ci]);
    }
    free(c->items), free(c->map), free(c->n_items);
}

static const char *const kind_names[] = {"total_bytes", "weight_bytes", "bitops"};

/* The budget's entry, and its configuration added to the plan. */
static json_t *budget_entry(const chooser *c, int64_t budget, const choice *ch, json_t *plan)
{
    const char *kind = kind_names[c->s->budget_kind];
    if (!ch->found)
        return json_pack("{s:s, s:I, s:n, s:s}", "kind", kind, "value", (json_int_t)budget,
                         "candidate", "reason", "no configuration of the space fits");
    int n = c->t->n, w[MODEL_MAX_LAYERS], a[MODEL_MAX_LAYERS];
    for (int ci = 0; ci < n; ci++) {
        w[ci] = c->t->layers[ci].w[ch->opt[ci]];
        a[ci] = c->t->layers[ci].a[ch->opt[ci]];
    }
    int k = plan_mixed(c->s, c->sp, n, w, a, plan);
    json_t *pred = json_pack("{s:f, s:I, s:I, s:I, s:f, s:I}", "sensitivity", ch->value,
                             "weight_bytes", (json_int_t)ch->weight_bytes, "activation_bytes",
                             (json_int_t)ch->activation_bytes, "total_bytes",
                             (json_int_t)ch->total_bytes, "bitops", ch->bitops, "resolution",
                             (json_int_t)ch->resolution);
    json_t *by = json_object_get(json_array_get(plan, (size_t)k), "chosen_by");
    json_array_append_new(json_object_get(by, "budgets"),
                          json_pack("{s:s, s:I}", "kind", kind, "value", (json_int_t)budget));
    json_object_set(by, "predicted", pred);
    return json_pack("{s:s, s:I, s:i, s:o}", "kind", kind, "value", (json_int_t)budget,
                     "candidate", k, "predicted", pred);
}

json_t *search_choose(const search_spec *s, const search_space *sp, const sens_table *t,
                      json_t *plan, qd_err *err)
{
    chooser c = {.s = s, .sp = sp, .t = t};
    int *best = malloc(sizeof(int) * (size_t)t->n), *tmp = malloc(sizeof(int) * (size_t)t->n);
    json_t *out = json_array();
    int rc = best && tmp ? chooser_init(&c) : QD_ENOMEM;
    for (int b = 0; rc == 0 && b < s->n_budgets; b++) {
        choice ch = {.opt = best};
        if ((rc = solve_budget(&c, s->budgets[b], &ch, tmp)) == 0)
            json_array_append_new(out, budget_entry(&c, s->budgets[b], &ch, plan));
    }
    chooser_free(&c);
    free(best), free(tmp);
    if (rc < 0) {
        json_decref(out);
        qd_fail(err, rc, "budgets", "could not solve the budgets' knapsacks: %s",
                qd_err_message(rc));
        return NULL;
    }
    return out;
}
