/*
 * pareto.c: the Pareto front (pareto.h). Sort by cost ascending, accuracy descending, index
 * ascending; sweep, keeping the best accuracy of strictly smaller costs. Within a group of
 * equal cost only the points with the group's best accuracy can be on the front, and they are
 * when that accuracy beats every smaller cost's; equal points do not dominate each other, so
 * all of them are kept. Sorting dominates: O(n log n).
 */
#include "pareto.h"

#include <stdlib.h>

#include "err.h"

typedef struct pt {
    double cost, acc;
    int i;
} pt;

static int cmp(const void *a, const void *b)
{
    const pt *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->acc != y->acc)
        return x->acc > y->acc ? -1 : 1;
    return x->i - y->i;
}

int pareto_front(const double *cost, const double *accuracy, int n, int *front)
{
    pt *p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
    if (!p)
        return QD_ENOMEM;
    for (int i = 0; i < n; i++)
        p[i] = (pt){cost[i], accuracy[i], i};
    qsort(p, (size_t)n, sizeof *p, cmp);
    int k = 0, have = 0;
    double best = 0;
    for (int g = 0; g < n;) {
        int e = g;
        while (e < n && p[e].cost == p[g].cost)
            e++;
        if (!have || p[g].acc > best) {
            for (int i = g; i < e && p[i].acc == p[g].acc; i++)
                front[k++] = p[i].i;
            best = p[g].acc;
            have = 1;
        }
        g = e;
    }
    free(p);
    return k;
}
