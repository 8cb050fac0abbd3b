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
#include "core/quant.h"

#define SPEC_STR 256

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

typedef struct quant_spec {
    int method;             /* "none" (default) | "qat" | "adaqat" | "ptq" */
    quant_fmt weights;      /* default int 8 per_channel true */
    quant_fmt activations;  /* default int 8, is_signed -1 */
    int first_last_bits;    /* 0 = same as the rest; else int bits for first and last layer */
    adaqat_spec adaqat;
    ptq_spec ptq;
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

typedef struct job_spec {
    int kind;               /* enum job_kind */
    train_spec train;       /* kind == JOB_TRAIN */
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
