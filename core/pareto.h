/*
 * pareto.h: the one Pareto front of quantd, used by the API (GET /api/v1/pareto), by search
 * jobs (their result's front) and by the tests. Points are (cost, accuracy): less cost and more
 * accuracy are better. A point is on the front when no other point has cost <= and accuracy >=
 * with one of the two strictly better; equal points do not dominate each other, so duplicates
 * on the front are all kept. O(n log n).
 * Ownership: the caller provides front (room for n indices); nothing is kept.
 */
#ifndef QD_PARETO_H
#define QD_PARETO_H

/* Writes the indices of the points on the front into front, by increasing cost (ties by
 * index), and returns how many (0 when n is 0); QD_ENOMEM when out of memory. The values must
 * not be NaN. */
int pareto_front(const double *cost, const double *accuracy, int n, int *front);

#endif
