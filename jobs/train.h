/*
 * train.h: the train job: float training, QAT (integer LSQ, minifloat, HFP8), AdaQAT and MMSE
 * post-training quantization, with per-epoch checkpoints so that a resumed job ends exactly as
 * an uninterrupted one.
 */
#ifndef QD_TRAIN_H
#define QD_TRAIN_H

#include "job.h"

int train_run(const train_spec *sp, const job_env *env, json_t **result, qd_err *err);

#endif
