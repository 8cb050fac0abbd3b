/*
 * pareto.h: the Pareto front of (memory, accuracy) points: a point is on the front when no
 * other point has memory <= and accuracy >= with one of the two strictly better. O(n log n).
 */
#ifndef QD_PARETO_H
#define QD_PARETO_H

/* Writes the indices of the points on the front into front, by increasing memory (ties by
 * index), and returns how many; -1 when out of memory. */
int pareto_front(const double *memory, const double *accuracy, int n, int *front);

#endif
