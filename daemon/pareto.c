/*
 * pareto.c: the Pareto front (pareto.h). Sort by memory ascending, accuracy descending; sweep,
 * keeping the best accuracy of strictly smaller memories. Within a group of equal memory only
 * the points with the group's best accuracy can be on the front, and they are when that
 * accuracy beats every smaller memory's; equal points do not dominate each other, so all of
 * them are kept.
 */
#include "pareto.h"

#include <stdlib.h>

typedef struct pt {
    double mem, acc;
    int i;
} pt;

static int cmp(const void *a, const void *b)
{
    const pt *x = a, *y = b;
    if (x->mem != y->mem)
        return x->mem < y->mem ? -1 : 1;
    if (x->acc != y->acc)
        return x->acc > y->acc ? -1 : 1;
    return x->i - y->i;
}

int pareto_front(const double *memory, const double *accuracy, int n, int *front)
{
    pt *p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
    if (!p)
        return -1;
    for (int i = 0; i < n; i++)
        p[i] = (pt){memory[i], accuracy[i], i};
    qsort(p, (size_t)n, sizeof *p, cmp);
    int k = 0, have = 0;
    double best = 0;
    for (int g = 0; g < n;) {
        int e = g;
        while (e < n && p[e].mem == p[g].mem)
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
