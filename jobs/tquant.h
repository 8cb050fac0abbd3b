/*
 * tquant.h: what the quant section of a train spec does to a training run. The train loop calls
 * these hooks at fixed points; each method (none, qat, adaqat, ptq) fills in the ones it needs.
 *   tquant_setup           after the model is built and initialised: set the layers' quantizers
 *   tquant_after_backward  after each backward pass, before the optimiser step (AdaQAT bits)
 *   tquant_epoch_entry     adds method-specific fields to an epoch's history entry
 *   tquant_finish          after the epochs (PTQ runs here)
 *   tquant_result          adds method-specific fields to the result
 */
#ifndef QD_TQUANT_H
#define QD_TQUANT_H

#include <jansson.h>

#include "core/dataset.h"
#include "core/model.h"
#include "spec.h"

int tquant_setup(model *m, const train_spec *sp, const dataset *train, qd_err *err);
void tquant_after_backward(model *m, const train_spec *sp, long step, float loss, const float *x,
                           const int *y, int n);
void tquant_epoch_entry(const model *m, const train_spec *sp, json_t *entry);
int tquant_finish(model *m, const train_spec *sp, const dataset *train, float *xbuf, qd_err *err);
void tquant_result(const model *m, const train_spec *sp, json_t *result);

#endif
