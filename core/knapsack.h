/*
 * knapsack.h: the exact multiple-choice knapsack that sensitivity searches solve per budget.
 *
 * Choose one item from each of n groups (a group is a layer, an item one of its bit-width and
 * format options) so that the summed value (the sensitivity) is least and the summed cost (bytes
 * or BitOPs, integers >= 0) is within the budget. Optionally the choices of consecutive groups
 * are coupled (a chain constraint): each item belongs to a link class, and allowed(g, a, b) says
 * whether an item of class b in group g may follow an item of class a in group g - 1. The search
 * uses it for the activation working set, which depends on the input bits of two neighbouring
 * layers. Without it (allowed NULL) this is the plain multiple-choice knapsack.
 *
 * Exactness: a dynamic programme over groups that keeps, per link class, the Pareto list of
 * partial choices (a partial choice is dropped only when another of the same class costs no
 * more and is no worse), so the answer is the exact optimum for the integer costs given. Ties in
 * value go to the cheaper choice, then to the earlier items. The lists are bounded by the
 * distinct partial costs; when a level would keep more than max_states of them (or all levels
 * together eight times that), costs are coarsened: every cost is rounded up to a multiple of a
 * resolution r (and the budget down), r growing by 4 until the lists fit. The answer is then
 * still within the true budget, and optimal among the choices whose rounded cost fits (rounding
 * costs at most n_groups * (r - 1), so a choice that close to the budget may be missed, and
 * QD_ENOENT on a coarse grid may hide such a choice). solution.resolution says which: 1 means
 * exact. The search's byte budgets stay exact (r = 1) at the default cap.
 * Ownership: the caller owns the problem and the output arrays; nothing is kept.
 */
#ifndef QD_KNAPSACK_H
#define QD_KNAPSACK_H

#include "err.h"

typedef struct ks_item {
    long cost;      /* >= 0 */
    double value;   /* any finite value (sensitivities may be negative) */
    int link;       /* link class in [0, n_links); 0 without a chain constraint */
} ks_item;

typedef struct ks_problem {
    int n_groups;
    const int *n_items;          /* items per group, >= 1 */
    const ks_item *const *items; /* items[g][0 .. n_items[g]) */
    int n_links;                 /* >= 1 */
    int (*allowed)(void *ctx, int g, int link_prev, int link); /* NULL: any pair */
    void *ctx;
    long max_states;             /* Pareto states per level before coarsening; 0: 1 << 20 */
} ks_problem;

typedef struct ks_solution {
    long cost;       /* true summed cost of the choice */
    double value;    /* summed value */
    long resolution; /* 1 when exact; else the cost grid the answer was found on */
} ks_solution;

/* choice[g] receives the chosen item of each group. QD_ENOENT when no choice fits the budget,
 * QD_EINVAL for a malformed problem (err names it), QD_ENOMEM. */
int knapsack_solve(const ks_problem *p, long budget, int *choice, ks_solution *sol, qd_err *err);

#endif
