/*
 * search.h: the search job: candidates (uniform configurations, sensitivity-chosen mixed
 * precision per budget, or an AdaQAT lambda sweep), each a train run inside the search job's
 * directory, then the Pareto front of accuracy against cost and a recommendation per budget.
 * schema/search-spec.md documents the spec and the result.
 *
 * Files in the job's directory:
 *   plan.json                 the candidates' train specs, fixed before the first one runs
 *                             (with the sensitivity table and the budgets' choices)
 *   candidates/<k>/           candidate k's train run: checkpoint.qdc while it runs,
 *                             model.qdc once finished, result.json (written last, atomically)
 *                             marks it finished
 *   model.qdc                 a copy of the most accurate candidate on the front
 * A resumed search reads plan.json, skips the candidates whose result.json exists and resumes
 * an unfinished one from its own checkpoint.
 */
#ifndef QD_SEARCH_H
#define QD_SEARCH_H

#include "job.h"

#define SEARCH_PLAN "plan.json"
#define SEARCH_CANDIDATES "candidates"
#define SEARCH_RESULT "result.json"

int search_run(const search_spec *sp, const job_env *env, json_t **result, qd_err *err);

#endif
