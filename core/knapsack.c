/*
 * knapsack.c: the exact multiple-choice knapsack with an optional chain constraint (knapsack.h).
 *
 * Level g of the programme holds the partial choices of groups 0..g that survive pruning, as
 * states (rounded cost, value, true cost, link class of the last item, back pointer). A level is
 * built by extending every state of the level before with every allowed item of group g that
 * keeps the rounded cost within the budget, then sorting the candidates by (link, cost, value,
 * order of creation) and keeping, per link, only those whose value is strictly below every
 * cheaper one's: the Pareto list. All surviving states stay in one arena so that the answer can
 * be walked back from the last level. When a level's candidates (or the arena) outgrow the cap,
 * the whole programme restarts on a coarser cost grid (resolution * 4). A level's candidates are
 * at most its predecessor's survivors times the group's items, so memory stays bounded too.
 */
#include "knapsack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KS_DEFAULT_STATES (1L << 20)
#define KS_COARSEN 1 /* internal: the level outgrew the cap */

typedef struct ks_state {
    long cost;       /* in grid units */
    long true_cost;
    double value;
    long prev;       /* arena index, -1 at level 0 */
    long seq;        /* order of creation within the level (deterministic ties) */
    int item, link;
} ks_state;

typedef struct ks_dp {
    const ks_problem *p;
    long r, budget, cap;
    ks_state *arena, *cand;
    long n_arena, arena_cap, n_cand, cand_cap;
    long lo, hi;     /* the previous level's states: arena[lo, hi) */
} ks_dp;

static int validate(const ks_problem *p, qd_err *err)
{
    if (!p || p->n_groups < 1 || !p->n_items || !p->items || p->n_links < 1)
        return qd_fail(err, QD_EINVAL, "knapsack", "a problem needs groups, items and links");
    for (int g = 0; g < p->n_groups; g++) {
        if (p->n_items[g] < 1 || !p->items[g])
            return qd_fail(err, QD_EINVAL, "knapsack", "group %d has no items", g);
        for (int i = 0; i < p->n_items[g]; i++) {
            const ks_item *it = &p->items[g][i];
            if (it->cost < 0 || !isfinite(it->value) || it->link < 0 || it->link >= p->n_links)
                return qd_fail(err, QD_EINVAL, "knapsack",
                               "group %d item %d: cost must be >= 0, value finite and link in "
                               "0..%d",
                               g, i, p->n_links - 1);
        }
    }
    return 0;
}

static int cmp_state(const void *a, const void *b)
{
    const ks_state *x = a, *y = b;
    if (x->link != y->link)
        return x->link < y->link ? -1 : 1;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int grow(ks_state **buf, long *cap, long need)
{
    if (need <= *cap)
        return 0;
    long n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    ks_state *b = realloc(*buf, sizeof *b * (size_t)n);
    if (!b)
        return QD_ENOMEM;
    *buf = b;
    *cap = n;
    return 0;
}

/* Candidate: state s (NULL at level 0) extended with item i of group g. */
static int extend(ks_dp *d, const ks_state *s, long si, int g, int i)
{
    const ks_problem *p = d->p;
    const ks_item *it = &p->items[g][i];
    if (s && p->allowed && !p->allowed(p->ctx, g, s->link, it->link))
        return 0;
    long rc = it->cost / d->r + (it->cost % d->r != 0);
    if (rc > d->budget || (s && s->cost + rc > d->budget))
        return 0;
    if (grow(&d->cand, &d->cand_cap, d->n_cand + 1))
        return QD_ENOMEM;
    d->cand[d->n_cand] = (ks_state){.cost = (s ? s->cost : 0) + rc,
                                    .true_cost = (s ? s->true_cost : 0) + it->cost,
                                    .value = (s ? s->value : 0.0) + it->value,
                                    .prev = s ? si : -1,
                                    .seq = d->n_cand,
                                    .item = i,
                                    .link = it->link};
    d->n_cand++;
    return 0;
}

/* Sorts the candidates and appends the Pareto list of each link to the arena. */
static int keep_front(ks_dp *d)
{
    if (d->n_cand > 1) /* qsort of zero items may not be given the NULL array */
        qsort(d->cand, (size_t)d->n_cand, sizeof *d->cand, cmp_state);
    long start = d->n_arena;
    double best = 0.0;
    for (long k = 0; k < d->n_cand; k++) {
        const ks_state *c = &d->cand[k];
        if (k > 0 && c->link == d->cand[k - 1].link && !(c->value < best))
            continue;
        best = c->value;
        if (d->n_arena - start >= d->cap || d->n_arena >= 8 * d->cap)
            return KS_COARSEN;
        if (grow(&d->arena, &d->arena_cap, d->n_arena + 1))
            return QD_ENOMEM;
        d->arena[d->n_arena++] = *c;
    }
    d->lo = start;
    d->hi = d->n_arena;
    return 0;
}

static int level(ks_dp *d, int g)
{
    int rc = 0;
    d->n_cand = 0;
    if (g == 0) {
        for (int i = 0; !rc && i < d->p->n_items[0]; i++)
            rc = extend(d, NULL, -1, 0, i);
    } else {
        for (long s = d->lo; !rc && s < d->hi; s++)
            for (int i = 0; !rc && i < d->p->n_items[g]; i++)
                rc = extend(d, &d->arena[s], s, g, i);
    }
    return rc ? rc : keep_front(d);
}

/* The whole programme at resolution r: 0, QD_ENOENT, KS_COARSEN or QD_ENOMEM. */
static int solve_at(ks_dp *d, long budget, int *choice, ks_solution *sol)
{
    const ks_problem *p = d->p;
    d->budget = budget / d->r;
    d->n_arena = 0;
    for (int g = 0; g < p->n_groups; g++) {
        int rc = level(d, g);
        if (rc)
            return rc;
        if (d->lo == d->hi)
            return QD_ENOENT;
    }
    long best = d->lo;
    for (long s = d->lo + 1; s < d->hi; s++) {
        const ks_state *a = &d->arena[s], *b = &d->arena[best];
        if (a->value < b->value || (a->value == b->value && a->true_cost < b->true_cost))
            best = s;
    }
    *sol = (ks_solution){d->arena[best].true_cost, d->arena[best].value, d->r};
    for (long s = best, g = p->n_groups - 1; s >= 0; s = d->arena[s].prev, g--)
        choice[g] = d->arena[s].item;
    return 0;
}

int knapsack_solve(const ks_problem *p, long budget, int *choice, ks_solution *sol, qd_err *err)
{
    int rc = validate(p, err);
    if (rc)
        return rc;
    if (budget < 0)
        return qd_fail(err, QD_ENOENT, "budget", "no choice fits a negative budget");
    ks_dp d = {.p = p, .r = 1, .cap = p->max_states > 0 ? p->max_states : KS_DEFAULT_STATES};
    while ((rc = solve_at(&d, budget, choice, sol)) == KS_COARSEN) {
        if (d.r > budget || d.r > (1L << 60) / 4) {
            rc = qd_fail(err, QD_ENOMEM, "knapsack",
                         "too many options to choose from, even on the coarsest cost grid");
            break;
        }
        d.r *= 4;
    }
    free(d.arena);
    free(d.cand);
    if (rc == QD_ENOENT)
        return qd_fail(err, QD_ENOENT, "budget", "no choice fits the budget of %ld", budget);
    if (rc == QD_ENOMEM && err && !err->code)
        return qd_fail(err, QD_ENOMEM, "knapsack", "out of memory");
    return rc;
}
