/*
 * check_knapsack.c: the multiple-choice knapsack (core/knapsack.c) against exhaustive
 * enumeration of every choice on small random instances, with and without the chain
 * constraint, with negative values, zero costs, ties and infeasible budgets; a coarsened
 * solve (a tiny state cap) still keeps within the true budget; malformed problems are refused.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "core/knapsack.h"
#include "core/rng.h"
#include "tests/check_main.h"

#define MAX_G 6
#define MAX_I 5
#define MAX_L 3

typedef struct inst {
    int g, n_items[MAX_G], links;
    ks_item items[MAX_G][MAX_I];
    const ks_item *rows[MAX_G];
    unsigned char ok[MAX_G][MAX_L][MAX_L];
    int chained;
} inst;

static int allowed(void *ctx, int g, int a, int b) { return ((inst *)ctx)->ok[g][a][b]; }

static ks_problem problem(inst *in)
{
    for (int g = 0; g < in->g; g++)
        in->rows[g] = in->items[g];
    return (ks_problem){.n_groups = in->g, .n_items = in->n_items, .items = in->rows,
                        .n_links = in->links, .allowed = in->chained ? allowed : NULL,
                        .ctx = in};
}

static void random_inst(inst *in, rng *r)
{
    in->g = (int)rng_below(r, MAX_G) + 1;
    in->links = (int)rng_below(r, MAX_L) + 1;
    in->chained = in->links > 1 || rng_below(r, 2);
    for (int g = 0; g < in->g; g++) {
        in->n_items[g] = (int)rng_below(r, MAX_I) + 1;
        for (int i = 0; i < in->n_items[g]; i++)
            in->items[g][i] = (ks_item){.cost = (long)rng_below(r, 12),
                                        /* quarter steps: ties are common, sums exact */
                                        .value = ((double)rng_below(r, 16) - 4.0) / 4.0,
                                        .link = (int)rng_below(r, (uint32_t)in->links)};
        for (int a = 0; a < MAX_L; a++)
            for (int b = 0; b < MAX_L; b++)
                in->ok[g][a][b] = rng_below(r, 4) != 0;
    }
}

/* Best (value, cost) over every choice within budget by enumeration; 0 when none fits. */
static int enumerate(const inst *in, long budget, double *best_v, long *best_c)
{
    int idx[MAX_G] = {0}, found = 0;
    for (;;) {
        long c = 0;
        double v = 0.0;
        int ok = 1;
        for (int g = 0; g < in->g; g++) {
            const ks_item *it = &in->items[g][idx[g]];
            c += it->cost;
            v += it->value;
            if (g > 0 && in->chained && !in->ok[g][in->items[g - 1][idx[g - 1]].link][it->link])
                ok = 0;
        }
        if (ok && c <= budget &&
            (!found || v < *best_v || (v == *best_v && c < *best_c))) {
            *best_v = v;
            *best_c = c;
            found = 1;
        }
        int g = 0;
        while (g < in->g && ++idx[g] == in->n_items[g])
            idx[g++] = 0;
        if (g == in->g)
            return found;
    }
}

/* The choice is within the budget, allowed, and its reported sums are its own. */
static void check_choice(const inst *in, const int *choice, const ks_solution *s, long budget)
{
    long c = 0;
    double v = 0.0;
    for (int g = 0; g < in->g; g++) {
        ck_assert(choice[g] >= 0 && choice[g] < in->n_items[g]);
        const ks_item *it = &in->items[g][choice[g]];
        c += it->cost;
        v += it->value;
        if (g > 0 && in->chained)
            ck_assert(in->ok[g][in->items[g - 1][choice[g - 1]].link][it->link]);
    }
    ck_assert_int_le(c, budget);
    ck_assert_int_eq(c, s->cost);
    ck_assert(v == s->value);
}

START_TEST(matches_exhaustive_enumeration)
{
    rng r;
    rng_seed(&r, 2024);
    int feasible = 0, infeasible = 0;
    for (int trial = 0; trial < 3000; trial++) {
        inst in;
        random_inst(&in, &r);
        ks_problem p = problem(&in);
        long budget = (long)rng_below(&r, (uint32_t)(8 * in.g + 1));
        double bv = 0;
        long bc = 0;
        int choice[MAX_G];
        ks_solution s;
        qd_err err = {0};
        int found = enumerate(&in, budget, &bv, &bc);
        int rc = knapsack_solve(&p, budget, choice, &s, &err);
        if (!found) {
            ck_assert_int_eq(rc, QD_ENOENT);
            infeasible++;
            continue;
        }
        ck_assert_msg(rc == 0, "trial %d: %s", trial, err.msg);
        ck_assert_int_eq(s.resolution, 1);
        check_choice(&in, choice, &s, budget);
        ck_assert_msg(s.value == bv && s.cost == bc,
                      "trial %d: got value %g cost %ld, enumeration %g cost %ld", trial, s.value,
                      s.cost, bv, bc);
        feasible++;
    }
    /* the instances exercise both outcomes */
    ck_assert_int_gt(feasible, 1000);
    ck_assert_int_gt(infeasible, 50);
}
END_TEST

START_TEST(coarse_grid_stays_within_budget)
{
    rng r;
    rng_seed(&r, 99);
    int coarsened = 0;
    for (int trial = 0; trial < 300; trial++) {
        inst in;
        random_inst(&in, &r);
        in.g = MAX_G;
        for (int g = 0; g < in.g; g++) {
            in.n_items[g] = MAX_I;
            for (int i = 0; i < MAX_I; i++)
                in.items[g][i] = (ks_item){.cost = 1000 + (long)rng_below(&r, 100000),
                                           .value = rng_uniform(&r),
                                           .link = (int)rng_below(&r, (uint32_t)in.links)};
        }
        ks_problem p = problem(&in);
        p.max_states = 10;
        long budget = 30000L * in.g + (long)rng_below(&r, 200000);
        int choice[MAX_G];
        ks_solution s;
        double bv = 0;
        long bc = 0;
        int found = enumerate(&in, budget, &bv, &bc);
        int rc = knapsack_solve(&p, budget, choice, &s, NULL);
        if (rc == 0) {
            check_choice(&in, choice, &s, budget);
            ck_assert(found);
            ck_assert(s.value >= bv); /* never better than the optimum */
            coarsened += s.resolution > 1;
        } else {
            ck_assert_int_eq(rc, QD_ENOENT);
        }
    }
    ck_assert_int_gt(coarsened, 40);
}
END_TEST

START_TEST(large_instance_is_exact_and_fast)
{
    /* 20 layers x 15 options with byte-sized costs: the plain knapsack, solved exactly */
    enum { G = 20, I = 15 };
    static ks_item items[G][I];
    const ks_item *rows[G];
    int n_items[G], choice[G];
    rng r;
    rng_seed(&r, 5);
    for (int g = 0; g < G; g++) {
        rows[g] = items[g];
        n_items[g] = I;
        for (int i = 0; i < I; i++)
            items[g][i] = (ks_item){.cost = 1000 + (long)rng_below(&r, 200000),
                                    .value = rng_uniform(&r)};
    }
    ks_problem p = {.n_groups = G, .n_items = n_items, .items = rows, .n_links = 1};
    ks_solution s;
    ck_assert_int_eq(knapsack_solve(&p, 1500000, choice, &s, NULL), 0);
    ck_assert_int_eq(s.resolution, 1);
    ck_assert_int_le(s.cost, 1500000);
    /* no single change of one layer's option improves the value within the budget */
    for (int g = 0; g < G; g++)
        for (int i = 0; i < I; i++) {
            long c = s.cost - items[g][choice[g]].cost + items[g][i].cost;
            double v = s.value - items[g][choice[g]].value + items[g][i].value;
            ck_assert(c > 1500000 || v >= s.value - 1e-9);
        }
}
END_TEST

START_TEST(malformed_problems_are_refused)
{
    ks_item bad[1] = {{.cost = -1, .value = 0}}, nan_v[1] = {{.cost = 1, .value = NAN}};
    ks_item link[1] = {{.cost = 1, .value = 0, .link = 2}};
    const ks_item *rows[1] = {bad};
    int one = 1, zero = 0, choice[1];
    ks_solution s;
    qd_err err = {0};
    ks_problem p = {.n_groups = 1, .n_items = &one, .items = rows, .n_links = 1};
    ck_assert_int_eq(knapsack_solve(&p, 10, choice, &s, &err), QD_EINVAL);
    rows[0] = nan_v;
    ck_assert_int_eq(knapsack_solve(&p, 10, choice, &s, &err), QD_EINVAL);
    rows[0] = link;
    ck_assert_int_eq(knapsack_solve(&p, 10, choice, &s, &err), QD_EINVAL);
    p.n_items = &zero;
    ck_assert_int_eq(knapsack_solve(&p, 10, choice, &s, &err), QD_EINVAL);
    p.n_groups = 0;
    ck_assert_int_eq(knapsack_solve(&p, 10, choice, &s, &err), QD_EINVAL);
    ck_assert_int_eq(knapsack_solve(NULL, 10, choice, &s, &err), QD_EINVAL);
}
END_TEST

static Suite *knapsack_suite(void)
{
    Suite *s = suite_create("knapsack");
    TCase *t = tcase_create("solve");
    tcase_add_test(t, matches_exhaustive_enumeration);
    tcase_add_test(t, coarse_grid_stays_within_budget);
    tcase_add_test(t, large_instance_is_exact_and_fast);
    tcase_add_test(t, malformed_problems_are_refused);
    suite_add_tcase(s, t);
    return s;
}

QD_CHECK_MAIN(knapsack_suite)
