/*
 * check_pareto.c: the one Pareto front (core/pareto.c) against the definition computed by brute
 * force in O(n^2): a point is on the front when no other point has cost <= and accuracy >= with
 * one strictly better. Random sets drawn from small grids (so ties and duplicates are common),
 * large sets with distinct values, the empty set, one point, all points equal, and a hand-made
 * set whose front is known.
 */
#include <check.h>
#include <stdlib.h>

#include "core/pareto.h"
#include "core/rng.h"
#include "tests/check_main.h"

/* The front by the definition, by increasing cost then index; returns its size. */
static int brute_front(const double *c, const double *a, int n, int *out)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        int dominated = 0;
        for (int j = 0; j < n && !dominated; j++)
            dominated = j != i && c[j] <= c[i] && a[j] >= a[i] && (c[j] < c[i] || a[j] > a[i]);
        if (!dominated)
            out[k++] = i;
    }
    /* insertion sort by (cost, index): equal costs on the front have equal accuracy */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && (c[out[j]] < c[out[j - 1]] ||
                                  (c[out[j]] == c[out[j - 1]] && out[j] < out[j - 1]));
             j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return k;
}

static void check_against_brute(const double *c, const double *a, int n)
{
    int *f = malloc(sizeof(int) * (size_t)(n + 1)), *b = malloc(sizeof(int) * (size_t)(n + 1));
    int k = pareto_front(c, a, n, f), kb = brute_front(c, a, n, b);
    ck_assert_int_eq(k, kb);
    for (int i = 0; i < k; i++)
        ck_assert_msg(f[i] == b[i], "n=%d: front[%d] is %d, the definition says %d", n, i, f[i],
                      b[i]);
    free(f);
    free(b);
}

START_TEST(random_sets_with_ties_and_duplicates)
{
    rng r;
    rng_seed(&r, 42);
    double c[64], a[64];
    for (int trial = 0; trial < 2000; trial++) {
        int n = (int)rng_below(&r, 64) + 1, grid = (int)rng_below(&r, 6) + 1;
        for (int i = 0; i < n; i++) {
            c[i] = (double)rng_below(&r, (uint32_t)grid * 2);
            a[i] = (double)rng_below(&r, (uint32_t)grid) / grid;
        }
        check_against_brute(c, a, n);
    }
}
END_TEST

START_TEST(random_sets_distinct_values)
{
    rng r;
    rng_seed(&r, 7);
    enum { N = 1500 };
    static double c[N], a[N];
    for (int trial = 0; trial < 5; trial++) {
        for (int i = 0; i < N; i++) {
            c[i] = 1e5 * rng_uniform(&r);
            a[i] = rng_uniform(&r);
        }
        check_against_brute(c, a, N);
    }
}
END_TEST

START_TEST(empty_one_and_all_equal)
{
    int f[8];
    ck_assert_int_eq(pareto_front(NULL, NULL, 0, f), 0);
    double c1 = 5, a1 = 0.5;
    ck_assert_int_eq(pareto_front(&c1, &a1, 1, f), 1);
    ck_assert_int_eq(f[0], 0);
    double c[4] = {3, 3, 3, 3}, a[4] = {0.9, 0.9, 0.9, 0.9};
    ck_assert_int_eq(pareto_front(c, a, 4, f), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(f[i], i);
}
END_TEST

START_TEST(hand_made_front)
{
    /* 0 (100, .80) and 3 (100, .80) tie; 1 (200, .85) front; 2 (200, .70) dominated by 0;
     * 4 (50, .60) front; 5 (300, .85) dominated by 1; 6 (400, .90) front */
    double c[7] = {100, 200, 200, 100, 50, 300, 400};
    double a[7] = {0.80, 0.85, 0.70, 0.80, 0.60, 0.85, 0.90};
    int f[7], want[5] = {4, 0, 3, 1, 6};
    ck_assert_int_eq(pareto_front(c, a, 7, f), 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(f[i], want[i]);
}
END_TEST

static Suite *pareto_suite(void)
{
    Suite *s = suite_create("pareto");
    TCase *t = tcase_create("front");
    tcase_add_test(t, random_sets_with_ties_and_duplicates);
    tcase_add_test(t, random_sets_distinct_values);
    tcase_add_test(t, empty_one_and_all_equal);
    tcase_add_test(t, hand_made_front);
    suite_add_tcase(s, t);
    return s;
}

QD_CHECK_MAIN(pareto_suite)
