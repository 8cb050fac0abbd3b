/*
 * search_util.h: the search job's small pieces (search_util.c): files written atomically, the
 * front and the recommendations over finished candidates. Internal to jobs/.
 * Ownership: functions returning json_t give new references; search_read_json gives *out.
 */
#ifndef QD_SEARCH_UTIL_H
#define QD_SEARCH_UTIL_H

#include <jansson.h>

#include "result.h"
#include "spec.h"

/* QD_ENOENT when the file does not exist, QD_EFORMAT when it is not JSON. */
int search_read_json(const char *path, json_t **out, qd_err *err);
/* PATH.tmp, fsync, rename, fsync of the directory: a crash leaves the old file or the new. */
int search_write_json(const char *path, const json_t *v, qd_err *err);
int search_copy_file(const char *src, const char *dst, qd_err *err);
/* mkdir -p */
int search_mkdirs(const char *path, qd_err *err);
/* Monotonic seconds. */
double search_now(void);
/* "candidate K: " before err's message. */
void search_prefix_error(qd_err *err, int k);

/* A candidate's measure of kind (enum budget_kind): memory.total_bytes, memory.weight_bytes,
 * bitops. */
double search_x(const json_t *cand, int kind);
/* The indices of the candidates on the front of accuracy against kind, by increasing cost. */
json_t *search_front(const json_t *cands, int kind);
/* The most accurate candidate on the front (ties: smaller cost, then lower index). */
int search_best(const json_t *cands, int kind);
/* Per budget: {kind, value, candidate (the knapsack's, sensitivity only), predicted,
 * recommended (the most accurate candidate within the budget, or null)}. */
json_t *search_recommend(const search_spec *s, const json_t *cands, const json_t *chosen);

#endif
