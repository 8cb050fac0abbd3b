/*
 * optim.h: optimisers (SGD with momentum, Nesterov and weight decay; AdamW) over one contiguous
 * parameter vector, and learning-rate schedules (constant, step, cosine, one-cycle).
 * Ownership: optim_create allocates the state (1 or 2 floats per parameter), optim_free releases
 * it (optim_free(NULL) is a no-op). The state is a plain vector so checkpoints save it as is.
 */
#ifndef QD_OPTIM_H
#define QD_OPTIM_H

#include "err.h"

enum { OPTIM_SGD = 0, OPTIM_ADAMW = 1 };
enum { LRS_CONSTANT = 0, LRS_STEP, LRS_COSINE, LRS_ONE_CYCLE };

typedef struct optim_cfg {
    int kind;
    float lr, momentum, weight_decay;
    int nesterov;
    float beta1, beta2, eps;
} optim_cfg;

typedef struct optim {
    optim_cfg cfg;
    long n;
    float *state;        /* SGD: velocity [n]; AdamW: m [n] then v [n] */
    long n_state;
    long t;              /* steps taken (AdamW bias correction) */
} optim;

int optim_create(optim **out, const optim_cfg *cfg, long n_params, qd_err *err);
void optim_free(optim *o);
/* One update of params from grads with learning rate lr and momentum (or beta1) mom. */
void optim_step(optim *o, float *params, const float *grads, float lr, float mom);

typedef struct lr_schedule {
    int kind;
    float lr;            /* base (constant, step, cosine) or peak (one-cycle) */
    float momentum;      /* base momentum; one-cycle cycles it between 0.85 and 0.95 */
    long total_steps;
    long steps_per_epoch;
    int step_epochs;     /* step: decay every N epochs */
    float gamma;
    float warmup_frac;   /* one-cycle: fraction of steps rising */
} lr_schedule;

/* Learning rate and momentum at step t (0-based). One-cycle follows PyTorch's OneCycleLR with
 * its defaults: start lr/25, peak lr at warmup_frac, cosine down to lr/25/1e4; momentum from
 * 0.95 down to 0.85 and back. */
void lr_schedule_at(const lr_schedule *s, long t, float *lr, float *mom);

#endif
