/*
 * search.c: runs a search job (search.h).
 *
 * Order of work: the plan (read back from plan.json when a resumed search finds it, else made
 * now: uniform configurations, the AdaQAT sweep, or the sensitivity table and one knapsack per
 * budget, then written atomically); then the candidates in plan order, each a train run in
 * candidates/<k>/ through a job_env that forwards the search's callbacks (progress reads
 * "candidate k/n"); each finished candidate's result is written to its result.json and the
 * partial result goes to env->on_partial; finally the Pareto front (core/pareto.c) over the
 * budget's measure, the recommendation per budget, and a copy of the most accurate candidate on
 * the front as the search's own model.qdc.
 *
 * Invariants: a candidate's result.json exists only once its model.qdc is complete (train_run
 * writes the model before returning); plan.json never changes once written, so candidate k is
 * the same train spec in every attempt.
 */
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "search_int.h"
#include "search_util.h"
#include "train.h"

static const char *const method_names[] = {"uniform", "sensitivity", "adaqat"};
static const char *const kind_names[] = {"total_bytes", "weight_bytes", "bitops"};

typedef struct search_run_ctx {
    const search_spec *s;
    const job_env *env;
    json_t *plan;            /* the plan.json object */
    json_t *done;            /* finished candidates' results, in index order */
    int n, first;            /* candidates; progress units before the candidates (sensitivity) */
} search_run_ctx;

/* ---- the plan ---- */

static int make_plan(search_run_ctx *r, json_t **plan, qd_err *err)
{
    const search_spec *s = r->s;
    search_space sp;
    search_space_make(&sp, s);
    json_t *cands = json_array(), *budgets = NULL, *sens = NULL;
    double choose_s = 0.0;
    if (s->method == SM_UNIFORM)
        plan_uniform(s, &sp, cands);
    else if (s->method == SM_ADAQAT)
        plan_adaqat(s, cands);
    else {
        sens_table *t = NULL;
        int rc = search_sensitivity(s, r->env, &sp, &t, err);
        double t0 = search_now();
        if (rc == 0 && !(budgets = search_choose(s, &sp, t, cands, err)))
            rc = err->code ? err->code : QD_ENOMEM;
        choose_s = search_now() - t0;
        if (rc == 0)
            sens = sens_table_json(t, &sp);
        sens_table_free(t);
        if (rc < 0) {
            json_decref(cands);
            return rc;
        }
    }
    *plan = json_pack("{s:i, s:o}", "version", 1, "candidates", cands);
    if (budgets)
        json_object_set_new(*plan, "budgets", budgets);
    if (sens) {
        json_object_set_new(*plan, "sensitivity", sens);
        json_object_set_new(*plan, "choose_seconds", json_real(choose_s));
    }
    return 0;
}

static int load_or_make_plan(search_run_ctx *r, qd_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->env->dir, SEARCH_PLAN);
    int rc = search_read_json(path, &r->plan, err);
    if (rc == QD_ENOENT) {
        if ((rc = make_plan(r, &r->plan, err)) == 0)
            rc = search_write_json(path, r->plan, err);
    }
    if (rc < 0)
        return rc;
    json_t *c = json_object_get(r->plan, "candidates");
    if (!json_is_array(c) || json_array_size(c) == 0)
        return qd_fail(err, QD_EFORMAT, NULL, "%s lists no candidates", path);
    r->n = (int)json_array_size(c);
    r->first = json_object_get(r->plan, "sensitivity") ? 1 : 0;
    return 0;
}

/* ---- one candidate, in its own directory, through the search's callbacks ---- */

typedef struct cand_ctx {
    const search_run_ctx *r;
    int k;
} cand_ctx;

static int cand_resolve(void *vc, const char *id, char *path, size_t cap)
{
    const job_env *env = ((cand_ctx *)vc)->r->env;
    return env->resolve_job ? env->resolve_job(env->ctx, id, path, cap) : QD_ENOENT;
}

static int cand_cancelled(void *vc)
{
    const job_env *env = ((cand_ctx *)vc)->r->env;
    return env->cancelled && env->cancelled(env->ctx);
}

static void cand_epoch(void *vc, const json_t *e, int epoch, int epochs)
{
    cand_ctx *c = vc;
    const job_env *env = c->r->env;
    if (!env->on_epoch)
        return;
    json_t *copy = json_copy((json_t *)e);
    json_object_set_new(copy, "candidate", json_integer(c->k));
    env->on_epoch(env->ctx, copy, c->k * epochs + epoch, c->r->n * epochs);
    json_decref(copy);
}

static void cand_progress(void *vc, double fraction, const char *status)
{
    cand_ctx *c = vc;
    const search_run_ctx *r = c->r;
    char line[256];
    if (!r->env->on_progress)
        return;
    snprintf(line, sizeof line, "candidate %d/%d: %s", c->k + 1, r->n, status);
    r->env->on_progress(r->env->ctx, (r->first + c->k + fraction) / (r->first + r->n), line);
}

/* Candidate k's result with the search's fields: index, label, format, spec, chosen_by. */
static void decorate(json_t *res, const json_t *entry, int k)
{
    char fmt[64];
    json_t *spec = json_object_get(entry, "spec");
    json_object_set_new(res, "index", json_integer(k));
    json_object_set(res, "label", json_object_get(entry, "label"));
    json_object_set_new(res, "format",
                        json_string(result_format_label(
                            json_object_get(res, "layers"),
                            json_integer_value(json_object_get(json_object_get(spec, "quant"),
                                                               "first_last_bits")) > 0,
                            fmt, sizeof fmt)));
    json_object_set(res, "spec", spec);
    json_object_set(res, "chosen_by", json_object_get(entry, "chosen_by"));
}

static int train_candidate(search_run_ctx *r, int k, const char *dir, json_t **res, qd_err *err)
{
    const json_t *entry = json_array_get(json_object_get(r->plan, "candidates"), (size_t)k);
    char *text = json_dumps(json_object_get(entry, "spec"), JSON_COMPACT);
    job_spec *js = text ? malloc(sizeof *js) : NULL;
    int rc = js ? spec_parse(js, text, (long)strlen(text), err) : QD_ENOMEM;
    free(text);
    if (rc == 0 && js->kind != JOB_TRAIN)
        rc = qd_fail(err, QD_EFORMAT, NULL, "candidate %d of the plan is not a train spec", k);
    if (rc == 0) {
        cand_ctx c = {.r = r, .k = k};
        job_env sub = {.dir = dir, .datasets = r->env->datasets, .models = r->env->models,
                       .nthreads = r->env->nthreads, .ctx = &c, .resolve_job = cand_resolve,
                       .on_epoch = cand_epoch, .on_progress = cand_progress,
                       .cancelled = cand_cancelled};
        rc = train_run(&js->train, &sub, res, err);
    }
    free(js);
    if (rc == 0)
        decorate(*res, entry, k);
    else if (rc != QD_ECANCELLED && !strstr(err->msg, "candidate "))
        search_prefix_error(err, k);
    return rc;
}

static int run_candidate(search_run_ctx *r, int k, qd_err *err)
{
    char dir[4096], path[4200];
    json_t *res = NULL;
    snprintf(dir, sizeof dir, "%s/%s/%d", r->env->dir, SEARCH_CANDIDATES, k);
    snprintf(path, sizeof path, "%s/%s", dir, SEARCH_RESULT);
    int rc = search_read_json(path, &res, err);
    if (rc == QD_ENOENT) {
        if ((rc = search_mkdirs(dir, err)) == 0 && (rc = train_candidate(r, k, dir, &res, err)) == 0)
            rc = search_write_json(path, res, err);
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, JOB_CHECKPOINT);
            unlink(path); /* the finished model is model.qdc; the resume point is not needed */
        }
    }
    if (rc < 0) {
        json_decref(res);
        return rc;
    }
    json_array_append_new(r->done, res);
    return 0;
}

/* ---- fronts, recommendations, the result ---- */

static json_t *partial(const search_run_ctx *r)
{
    const search_spec *s = r->s;
    int kind = s->has_budgets ? s->budget_kind : BUDGET_TOTAL_BYTES;
    return json_pack("{s:s, s:s, s:i, s:i, s:O, s:o, s:s}", "kind", "search", "method",
                     method_names[s->method], "done", (int)json_array_size(r->done), "total",
                     r->n, "candidates", r->done, "front", search_front(r->done, kind),
                     "front_x", kind_names[kind]);
}

static void report_partial(const search_run_ctx *r)
{
    if (!r->env->on_partial)
        return;
    json_t *p = partial(r);
    r->env->on_partial(r->env->ctx, p);
    json_decref(p);
}

static json_t *build_result(const search_run_ctx *r, int best)
{
    const search_spec *s = r->s;
    json_t *res = partial(r), *b = json_array_get(r->done, (size_t)best);
    static const char *const copied[] = {"test_accuracy", "test_loss", "memory", "bitops",
                                         "layers", "history", "format", NULL};
    json_object_set_new(res, "name", json_string(s->name));
    json_object_set_new(res, "dataset", json_string(s->dataset));
    json_object_set_new(res, "model", json_string(s->model));
    json_object_set_new(res, "base", s->base_job[0] ? json_pack("{s:s}", "job", s->base_job)
                                      : s->base_checkpoint[0]
                                          ? json_pack("{s:s}", "checkpoint", s->base_checkpoint)
                                          : json_null());
    json_object_set_new(res, "finetune_epochs", json_integer(s->finetune_epochs));
    json_object_set_new(res, "budgets", search_recommend(s, r->done,
                                                         json_object_get(r->plan, "budgets")));
    json_object_set_new(res, "best", json_integer(best));
    for (int i = 0; copied[i]; i++)
        json_object_set(res, copied[i], json_object_get(b, copied[i]));
    json_t *sens = json_object_get(r->plan, "sensitivity");
    if (sens) {
        json_object_set(res, "sensitivity", sens);
        json_object_set(res, "choose_seconds", json_object_get(r->plan, "choose_seconds"));
    }
    double secs = sens ? json_number_value(json_object_get(sens, "seconds")) : 0.0;
    size_t i;
    json_t *c;
    json_array_foreach(r->done, i, c) secs += json_number_value(json_object_get(c, "seconds"));
    json_object_set_new(res, "seconds", json_real(secs));
    json_object_set_new(res, "artifacts", json_pack("[s]", JOB_MODEL));
    return res;
}

static int finish(search_run_ctx *r, json_t **result, qd_err *err)
{
    const search_spec *s = r->s;
    int best = search_best(r->done, s->has_budgets ? s->budget_kind : BUDGET_TOTAL_BYTES);
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/%s/%d/%s", r->env->dir, SEARCH_CANDIDATES, best, JOB_MODEL);
    snprintf(dst, sizeof dst, "%s/%s", r->env->dir, JOB_MODEL);
    int rc = search_copy_file(src, dst, err);
    if (rc < 0)
        return rc;
    if (r->env->on_artifact)
        r->env->on_artifact(r->env->ctx, JOB_MODEL);
    *result = build_result(r, best);
    return 0;
}

int search_run(const search_spec *sp, const job_env *env, json_t **result, qd_err *err)
{
    search_run_ctx r = {.s = sp, .env = env, .done = json_array()};
    char dir[4096];
    *result = NULL;
    snprintf(dir, sizeof dir, "%s/%s", env->dir, SEARCH_CANDIDATES);
    int rc = load_or_make_plan(&r, err);
    if (rc == 0)
        rc = search_mkdirs(dir, err);
    for (int k = 0; rc == 0 && k < r.n; k++) {
        if (env->cancelled && env->cancelled(env->ctx))
            rc = qd_fail(err, QD_ECANCELLED, NULL, "cancelled after %d of %d candidates", k, r.n);
        if (rc == 0 && (rc = run_candidate(&r, k, err)) == 0)
            report_partial(&r);
    }
    if (rc == 0)
        rc = finish(&r, result, err);
    json_decref(r.plan);
    json_decref(r.done);
    return rc;
}
