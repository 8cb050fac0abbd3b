/*
 * tquant.h: what the quant section of a train spec does to a training run. The train loop calls
 * these hooks at fixed points; each method (none, qat, adaqat, ptq) fills in the ones it needs.
 *   tquant_setup           after the model is built and initialised: set the layers' quantizers
 *   tquant_after_backward  after each backward pass, before the optimiser step (AdaQAT bits)
 *   tquant_epoch_entry     adds method-specific fields to an epoch's history entry
 *   tquant_finish          after the epochs (PTQ runs here)
 *   tquant_result          adds method-specific fields to the result
 * Ownership: tquant_setup allocates the context, tquant_free releases it (NULL is a no-op).
 */
#ifndef QD_TQUANT_H
#define QD_TQUANT_H

#include <jansson.h>

#include "core/dataset.h"
#include "core/model.h"
#include "spec.h"

typedef struct tquant tquant;

int tquant_setup(tquant **out, model *m, const train_spec *sp, qd_err *err);
void tquant_free(tquant *tq);
void tquant_after_backward(tquant *tq, model *m, long step, float loss, const float *x,
                           const int *y, int n);
void tquant_epoch_entry(const tquant *tq, const model *m, json_t *entry);
int tquant_finish(tquant *tq, model *m, const dataset *calib, float *xbuf, int *ybuf,
                  qd_err *err);
void tquant_result(const tquant *tq, const model *m, json_t *result);

#endif
