/*
 * search_int.h: what the search job's files share (search.c runs it, search_plan.c writes the
 * candidates' train specs, search_sens.c measures sensitivities and solves the knapsacks).
 * Internal to jobs/.
 *
 * The space: every weight "side" (a format for a layer's weights: int at each listed width, or
 * a minifloat / hfp8 as listed) and every activation side. A layer's option is a pair of sides;
 * with first_last_bits the first and last layers have one option, int at those bits, kept as an
 * extra side at the end of each list.
 * Ownership: search_space is plain data. sens_table is allocated by search_sensitivity and
 * released by sens_table_free (NULL is a no-op). Functions returning json_t give new references.
 */
#ifndef QD_SEARCH_INT_H
#define QD_SEARCH_INT_H

#include <jansson.h>

#include "job.h"

#define SEARCH_SIDES (SEARCH_MAX_BITS + SEARCH_MAX_FORMATS + 1)

typedef struct search_side {
    quant_fmt f;
    char name[16];  /* "int4", "e3m2", "hfp8" */
} search_side;

typedef struct search_space {
    int n_w, n_a;               /* searched sides */
    search_side w[SEARCH_SIDES], a[SEARCH_SIDES];
    int fixed;                  /* first_last_bits: w[n_w] and a[n_a] are the fixed sides */
} search_space;

void search_space_make(search_space *sp, const search_spec *s);

/* ---- candidates' train specs (search_plan.c) ---- */

/* Every side pair, one train spec each: {spec, chosen_by} entries appended to plan. */
void plan_uniform(const search_spec *s, const search_space *sp, json_t *plan);
/* One AdaQAT run per lambda. */
void plan_adaqat(const search_spec *s, json_t *plan);
/* A mixed configuration: w[ci], a[ci] side indices per compute layer; returns its index in plan
 * (an earlier entry when the same configuration is already there). */
int plan_mixed(const search_spec *s, const search_space *sp, int n_layers, const int *w,
               const int *a, json_t *plan);
/* "int4" / "e3m2" style name of one format side. */
void search_side_name(const quant_fmt *f, char *buf, size_t cap);

/* ---- sensitivity (search_sens.c) ---- */

typedef struct sens_layer {
    char name[32];
    long in_elems, out_elems, macs;
    int n_opts;
    int *w, *a;                 /* sides of each option */
    double *delta;              /* loss increase with only this layer quantized so */
    long *weight_bytes;         /* this layer's weight bytes under each option */
} sens_layer;

typedef struct sens_table {
    int n;                      /* compute layers */
    int fisher;                 /* measured by the Fisher estimate (else the loss itself) */
    double base_loss, seconds;
    int examples;
    sens_layer *layers;
} sens_table;

/* Measures the table on the base model (see search_sens.c). */
int search_sensitivity(const search_spec *s, const job_env *env, const search_space *sp,
                       sens_table **out, qd_err *err);
void sens_table_free(sens_table *t);
json_t *sens_table_json(const sens_table *t, const search_space *sp);
/* For each budget the least summed sensitivity within it: appends a mixed candidate to plan per
 * distinct configuration and returns the budgets' entries [{value, candidate, predicted}]. */
json_t *search_choose(const search_spec *s, const search_space *sp, const sens_table *t,
                      json_t *plan, qd_err *err);

#endif
