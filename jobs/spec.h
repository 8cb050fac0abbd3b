/*
 * spec.h: the job spec, parsed from JSON and validated in one place for the daemon and for
 * `quantd run`. A spec that parses is complete: every default is filled in, every field is in
 * range, so the jobs never re-check it. Errors name the failing field as a JSON path
 * ("optimizer.lr", "quant.weights.bits").
 * Ownership: plain data in fixed-size fields; nothing to free.
 */
#ifndef QD_SPEC_H
#define QD_SPEC_H

#include <stdint.h>

#include "core/err.h"
#include "core/model_desc.h"
#include "core/quant.h"

#define SPEC_STR 256
#define SPEC_MAX_LAYERS MODEL_MAX_LAYERS

enum job_kind { JOB_TRAIN = 0, JOB_SEARCH = 1, JOB_EXPORT = 2 };
enum quant_method { QM_NONE = 0, QM_QAT, QM_ADAQAT, QM_PTQ };
enum opt_kind { OPT_SGD = 0, OPT_ADAMW };
enum sched_kind { SCHED_CONSTANT = 0, SCHED_STEP, SCHED_COSINE, SCHED_ONE_CYCLE };
enum adaqat_gran { ADAQAT_NETWORK = 0, ADAQAT_LAYER };
enum adaqat_cost { ADAQAT_COST_BITOPS = 0, ADAQAT_COST_MEMORY };

typedef struct optim_spec {
    int kind;               /* "sgd" (default) | "adamw" */
    double lr;              /* > 0; default 0.05 (sgd), 0.001 (adamw) */
    double momentum;        /* [0, 1); default 0.9 */
    int nesterov;           /* default false */
    double weight_decay;    /* >= 0; default 5e-4 (sgd), 0.01 (adamw) */
    double beta1, beta2;    /* adamw; default 0.9, 0.999 */
    double eps;             /* adamw; default 1e-8 */
} optim_spec;

typedef struct sched_spec {
    int kind;               /* "constant" | "step" | "cosine" | "one-cycle" (default) */
    int step_epochs;        /* step: decay every N epochs; default max(1, epochs/3) */
    double gamma;           /* step: factor; default 0.1 */
    double warmup_frac;     /* one-cycle: fraction of steps rising; default 0.3 */
} sched_spec;

typedef struct adaqat_spec {
    int granularity;        /* "network" (default) | "layer" */
    double init_w_bits;     /* real-valued start; default weights.bits */
    double init_a_bits;     /* default activations.bits */
    double eta;             /* bit learning rate; default 0.02 */
    double lambda;          /* cost weight; default 0.1 */
    int cost;               /* "bitops" (default) | "memory" */
    int interval;           /* update bits every k steps; default 20 */
    int min_bits, max_bits; /* bounds; default 2 and 8 */
} adaqat_spec;

typedef struct ptq_spec {
    int calibration_batches;   /* default 4 */
    int clipping;              /* 0: "mmse" (default), 1: "maxabs" */
    int residual;              /* add residual tensors; default true */
    double residual_threshold; /* relative weight MSE above which a layer gets one; default 0.01 */
    int residual_bits;         /* bits of the residual tensor; default weights.bits */
} ptq_spec;

/* How qat and adaqat initialise their learned steps (quant.step_init). */
enum { QSTEP_AUTO, QSTEP_LSQ, QSTEP_MMSE };

typedef struct quant_spec {
    int method;             /* "none" (default) | "qat" | "adaqat" | "ptq" */
    quant_fmt weights;      /* default int 8 per_channel true */
    quant_fmt activations;  /* default int 8, is_signed -1 */
    int first_last_bits;    /* 0 = same as the rest; else int bits for first and last layer */
    int step_init;          /* QSTEP_AUTO (default) | QSTEP_LSQ | QSTEP_MMSE: see tquant.c */
    adaqat_spec adaqat;
    ptq_spec ptq;
    /* quant.layers (qat, ptq): one entry per compute layer, in order; 0 = none given. The
     * model's compute-layer count is checked when the job builds the model. */
    int n_layers;
    quant_fmt layer_w[SPEC_MAX_LAYERS], layer_a[SPEC_MAX_LAYERS];
} quant_spec;

typedef struct train_spec {
    char name[SPEC_STR];    /* default "" */
    char dataset[SPEC_STR]; /* required: name or path */
    char model[SPEC_STR];   /* required: zoo name or path to a model file */
    int epochs;             /* 1..1000, default 1 (0 allowed only for ptq) */
    int batch_size;         /* 1..4096, default 128 */
    uint64_t seed;          /* default 1 */
    optim_spec optimizer;
    sched_spec schedule;
    quant_spec quant;
    int subset_train;       /* 0 = all */
    int subset_test;        /* 0 = all */
    int augment;            /* -1 = the data set's default, 0/1 forced */
    char init_job[64];      /* fine-tune / PTQ from this finished job's checkpoint */
    char init_checkpoint[SPEC_STR]; /* or from this checkpoint file */
} train_spec;

/* ---- search jobs (schema/search-spec.md; parsed by spec_search.c) ---- */

enum search_method { SM_UNIFORM = 0, SM_SENSITIVITY, SM_ADAQAT };
enum sens_measure { MEASURE_LOSS = 0, MEASURE_FISHER };
enum budget_kind { BUDGET_TOTAL_BYTES = 0, BUDGET_WEIGHT_BYTES, BUDGET_BITOPS };

#define SEARCH_MAX_BITS 8
#define SEARCH_MAX_FORMATS 8
#define SEARCH_MAX_BUDGETS 32
#define SEARCH_MAX_LAMBDAS 32
#define SEARCH_TRAIN_JSON 2048

typedef struct search_spec {
    char name[SPEC_STR];        /* default "" */
    char dataset[SPEC_STR];     /* required */
    char model[SPEC_STR];       /* required */
    int method;                 /* enum search_method; required */
    char base_job[64];          /* base.job, or */
    char base_checkpoint[SPEC_STR]; /* base.checkpoint; both empty: from scratch */
    int n_weight_bits, weight_bits[SEARCH_MAX_BITS];         /* ascending; default 2 3 4 6 8 */
    int n_activation_bits, activation_bits[SEARCH_MAX_BITS]; /* ascending; default 4 8 */
    int n_formats;              /* default 1: int */
    quant_fmt formats[SEARCH_MAX_FORMATS];  /* QFMT_INT (bits from the lists), minifloats, hfp8 */
    char format_names[SEARCH_MAX_FORMATS][16]; /* as given: "int", "e3m2", ... */
    int per_channel;            /* weights; default true */
    int has_budgets;            /* budgets given (required for sensitivity) */
    int budget_kind;            /* enum budget_kind */
    int n_budgets;
    int64_t budgets[SEARCH_MAX_BUDGETS]; /* > 0, as given */
    int finetune_epochs;        /* 0..1000, default 1; 0 = post-training quantization */
    int first_last_bits;        /* 0 = searched like the rest; else fixed int bits */
    int calibration_batches;    /* sensitivity and ptq candidates; default 4 */
    int measure;                /* sensitivity: enum sens_measure; default "loss" */
    int n_lambdas;              /* adaqat: the sweep */
    double lambdas[SEARCH_MAX_LAMBDAS];
    adaqat_spec adaqat;         /* adaqat: eta, interval, granularity, cost, min/max bits */
    /* what every candidate's train spec takes as given: optimizer, schedule, batch_size, seed,
     * subset, augment (compact JSON object); and the values the search itself reads */
    char train_json[SEARCH_TRAIN_JSON];
    int batch_size;
    uint64_t seed;
    int subset_train, subset_test;
} search_spec;

/* ---- export jobs (schema/export-spec.md; parsed by spec_export.c) ---- */

enum export_format { EXPORT_QMODEL = 0, EXPORT_C, EXPORT_ONNX };

typedef struct export_spec {
    char name[SPEC_STR];        /* default "" */
    char job[64];               /* the finished train or search job to export, or */
    char checkpoint[SPEC_STR];  /* a checkpoint file (quantd run only) */
    int candidate;              /* a search job's candidate; -1 = not given */
    int format;                 /* enum export_format; required */
    char dataset[SPEC_STR];     /* to evaluate on; "" = the one the checkpoint names */
    int subset_train, subset_test; /* 0 = all (the train split gives the normalisation) */
    char prefix[64];            /* format "c": prefix of the generated names; default "qd_model" */
} export_spec;

typedef struct job_spec {
    int kind;               /* enum job_kind */
    train_spec train;       /* kind == JOB_TRAIN */
    search_spec search;     /* kind == JOB_SEARCH */
    export_spec export_;    /* kind == JOB_EXPORT */
} job_spec;

/*
 * Parse and validate a spec from JSON text (len bytes, need not be NUL-terminated).
 * Returns 0, QD_EJSON (not JSON; err->msg has line and column) or QD_ESPEC (err->field names the
 * path, err->msg says what is wrong and what is allowed). Unknown fields are rejected.
 */
int spec_parse(job_spec *spec, const char *json, long len, qd_err *err);

/* Parse a quant format object, as used by weights/activations/space entries. */
int spec_parse_format_name(quant_fmt *f, const char *name, qd_err *err);

#endif
