/*
 * tquant.c: the quant section of a train spec applied to a training run (see tquant.h).
 *
 * QAT gives every compute layer the spec's weight and activation formats, with the first and
 * last layers at first_last_bits (integer) when it is set, or each layer its own quant.layers
 * entry when the spec lists them (mixed precision, as search jobs' candidates do); the learned steps initialise
 * themselves on the first batch (core/fakequant.c) by the rule quant.step_init chooses. AdaQAT starts the same way and then adapts
 * the integer bit-widths of the layers between the first and last (all layers when
 * first_last_bits is 0). PTQ quantizes the trained model after the epochs (core/ptq.c).
 */
#include "tquant.h"

#include <stdlib.h>
#include <string.h>

#include "core/adaqat.h"
#include "core/ptq.h"

struct tquant {
    const train_spec *sp;
    adaqat *ada;
    ptq_report *ptq;      /* [n_compute] after PTQ */
};

/* The formats compute layer ci gets under the spec: its quant.layers entry when the spec has
 * them, else the spec's formats with first_last_bits applied. */
static void layer_formats(const model *m, const train_spec *sp, int ci, quant_fmt *w, quant_fmt *a)
{
    if (sp->quant.n_layers > 0) {
        *w = sp->quant.layer_w[ci];
        *a = sp->quant.layer_a[ci];
        return;
    }
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

static int setup_adaqat(tquant *tq, model *m, qd_err *err)
{
    const adaqat_spec *as = &tq->sp->quant.adaqat;
    int edges = tq->sp->quant.first_last_bits > 0;
    adaqat_cfg cfg = {.per_layer = as->granularity == ADAQAT_LAYER,
                      .eta = (float)as->eta,
                      .lambda = (float)as->lambda,
                      .cost = as->cost == ADAQAT_COST_MEMORY ? ADAQAT_MEMORY : ADAQAT_BITOPS,
                      .interval = as->interval,
                      .min_bits = as->min_bits,
                      .max_bits = as->max_bits,
                      .first = edges ? 1 : 0,
                      .last = edges ? m->n_compute - 2 : m->n_compute - 1};
    if (cfg.last < cfg.first)
        return qd_fail(err, QD_ESPEC, "quant.first_last_bits",
                       "the model has no layers between the first and last to adapt");
    return adaqat_create(&tq->ada, m, &cfg, (float)as->init_w_bits, (float)as->init_a_bits, err);
}

/* quant.step_init: "auto" starts the learned steps of a model that was trained already (init.job
 * or init.checkpoint) at the MSE-minimising scale of its weights and of its first batch's
 * activations, as post-training quantization would, and a model trained from scratch at LSQ's
 * 2<|x|>/sqrt(Qp). LSQ's rule clips a trained network's heavy-tailed activations hard (at 8
 * bits, an int8 cnn-s lost half a point before any step); MMSE keeps the fine-tuning's start
 * where PTQ would put it. */
static int step_init_mmse(const train_spec *sp)
{
    if (sp->quant.step_init != QSTEP_AUTO)
        return sp->quant.step_init == QSTEP_MMSE;
    return sp->init_job[0] != '\0' || sp->init_checkpoint[0] != '\0';
}

int tquant_setup(tquant **out, model *m, const train_spec *sp, qd_err *err)
{
    tquant *tq = calloc(1, sizeof *tq);
    if (!tq)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    tq->sp = sp;
    *out = tq;
    int method = sp->quant.method;
    if (sp->quant.n_layers > 0 && sp->quant.n_layers != m->n_compute)
        return qd_fail(err, QD_ESPEC, "quant.layers",
                       "model %s has %d compute layers (conv, linear) but quant.layers has %d "
                       "entries",
                       m->desc.name, m->n_compute, sp->quant.n_layers);
    int mmse = step_init_mmse(sp);
    for (int ci = 0; ci < m->n_compute; ci++) {
        quant_fmt w, a;
        layer_formats(m, sp, ci, &w, &a);
        int on = method == QM_QAT || method == QM_ADAQAT;
        model_set_quant(m, ci, on ? &w : NULL, on ? &a : NULL);
        m->layers[m->compute[ci]].step_mmse = on && mmse;
    }
    if (method == QM_ADAQAT)
        return setup_adaqat(tq, m, err);
    return 0;
}

void tquant_free(tquant *tq)
{
    if (!tq)
        return;
    adaqat_free(tq->ada);
    free(tq->ptq);
    free(tq);
}

void tquant_after_backward(tquant *tq, model *m, long step, float loss, const float *x,
                           const int *y, int n)
{
    if (tq->ada)
        adaqat_step(tq->ada, m, step, loss, x, y, n);
}

/* Per compute layer bits, and their mean over the adapted layers. */
static void add_bits(json_t *obj, const model *m, const adaqat *a)
{
    json_t *wb = json_array(), *ab = json_array(), *nw = json_array(), *na = json_array();
    double sw = 0, sa = 0;
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        json_array_append_new(wb, json_integer(L->wq.bits));
        json_array_append_new(ab, json_integer(L->aq.bits));
        json_array_append_new(nw, json_real(adaqat_bits(m, ci, 0)));
        json_array_append_new(na, json_real(adaqat_bits(m, ci, 1)));
        if (ci >= a->cfg.first && ci <= a->cfg.last)
            sw += L->wq.bits, sa += L->aq.bits;
    }
    int k = a->cfg.last - a->cfg.first + 1;
    json_object_set_new(obj, "w_bits", wb);
    json_object_set_new(obj, "a_bits", ab);
    json_object_set_new(obj, "n_w", nw);
    json_object_set_new(obj, "n_a", na);
    json_object_set_new(obj, "mean_w_bits", json_real(sw / k));
    json_object_set_new(obj, "mean_a_bits", json_real(sa / k));
}

void tquant_epoch_entry(const tquant *tq, const model *m, json_t *entry)
{
    if (tq->ada)
        add_bits(entry, m, tq->ada);
}

int tquant_finish(tquant *tq, model *m, const dataset *calib, float *xbuf, int *ybuf,
                  qd_err *err)
{
    const train_spec *sp = tq->sp;
    if (sp->quant.method != QM_PTQ)
        return 0;
    const ptq_spec *ps = &sp->quant.ptq;
    ptq_cfg cfg = {.maxabs = ps->clipping == 1,
                   .residual_bits = ps->residual ? ps->residual_bits : 0,
                   .residual_threshold = (float)ps->residual_threshold,
                   .calibration_batches = ps->calibration_batches};
    quant_fmt wf[MODEL_MAX_LAYERS], af[MODEL_MAX_LAYERS];
    for (int ci = 0; ci < m->n_compute; ci++)
        layer_formats(m, sp, ci, &wf[ci], &af[ci]);
    if (!(tq->ptq = calloc((size_t)m->n_compute, sizeof *tq->ptq)))
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    return ptq_run(m, &cfg, wf, af, calib, xbuf, ybuf, tq->ptq, err);
}

void tquant_result(const tquant *tq, const model *m, json_t *result)
{
    int method = tq->sp->quant.method;
    if (method == QM_QAT || method == QM_ADAQAT)
        json_object_set_new(result, "step_init",
                            json_string(step_init_mmse(tq->sp) ? "mmse" : "lsq"));
    if (tq->ada) {
        json_t *a = json_object();
        add_bits(a, m, tq->ada);
        json_object_set_new(a, "updates", json_integer(tq->ada->updates));
        json_object_set_new(result, "adaqat", a);
    }
    if (!tq->ptq)
        return;
    json_t *layers = json_array();
    for (int ci = 0; ci < m->n_compute; ci++) {
        const ptq_report *r = &tq->ptq[ci];
        json_array_append_new(
            layers, json_pack("{s:s, s:f, s:f, s:f, s:b}", "name",
                              m->layers[m->compute[ci]].d.name, "weight_rel_error",
                              r->w_rel_error, "weight_rel_error_final", r->w_rel_error_final,
                              "activation_rel_error", r->a_rel_error, "residual", r->residual));
    }
    json_object_set_new(result, "ptq",
                        json_pack("{s:s, s:o}", "clipping",
                                  tq->sp->quant.ptq.clipping == 1 ? "maxabs" : "mmse", "layers",
                                  layers));
}
