/*
 * tquant.c: the quant section of a train spec applied to a model (see tquant.h).
 *
 * QAT gives every compute layer the spec's weight and activation formats, with the first and
 * last layers at first_last_bits (integer) when it is set. The learned steps initialise
 * themselves on the first batch (fakequant.c).
 */
#include "tquant.h"

#include <string.h>

/* The formats compute layer ci gets under the spec. */
static void layer_formats(const model *m, const train_spec *sp, int ci, quant_fmt *w, quant_fmt *a)
{
    *w = sp->quant.weights;
    *a = sp->quant.activations;
    int edge = ci == 0 || ci == m->n_compute - 1;
    if (edge && sp->quant.first_last_bits > 0) {
        int pc = w->per_channel;
        *w = (quant_fmt){.format = QFMT_INT, .bits = sp->quant.first_last_bits, .per_channel = pc,
                         .is_signed = 1};
        *a = (quant_fmt){.format = QFMT_INT, .bits = sp->quant.first_last_bits, .is_signed = -1};
    }
}

int tquant_setup(model *m, const train_spec *sp, const dataset *train, qd_err *err)
{
    (void)train;
    switch (sp->quant.method) {
    case QM_NONE:
        for (int ci = 0; ci < m->n_compute; ci++)
            model_set_quant(m, ci, NULL, NULL);
        return 0;
    case QM_QAT:
        for (int ci = 0; ci < m->n_compute; ci++) {
            quant_fmt w, a;
            layer_formats(m, sp, ci, &w, &a);
            model_set_quant(m, ci, &w, &a);
        }
        return 0;
    }
    return qd_fail(err, QD_ESPEC, "quant.method", "quant.method %d is not available in this build",
                   sp->quant.method);
}

void tquant_after_backward(model *m, const train_spec *sp, long step, float loss, const float *x,
                           const int *y, int n)
{
    (void)m, (void)sp, (void)step, (void)loss, (void)x, (void)y, (void)n;
}

void tquant_epoch_entry(const model *m, const train_spec *sp, json_t *entry)
{
    (void)m, (void)sp, (void)entry;
}

int tquant_finish(model *m, const train_spec *sp, const dataset *train, float *xbuf, qd_err *err)
{
    (void)m, (void)sp, (void)train, (void)xbuf, (void)err;
    return 0;
}

void tquant_result(const model *m, const train_spec *sp, json_t *result)
{
    (void)m, (void)sp, (void)result;
}
