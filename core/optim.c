/*
 * optim.c: parameter updates and learning-rate schedules.
 *
 * SGD matches PyTorch's torch.optim.SGD: g += wd * w; v = mu * v + g; w -= lr * (nesterov ?
 * g + mu * v : v). AdamW decouples the decay: w -= lr * wd * w before the Adam step.
 * Updates are elementwise and single-threaded loops the compiler vectorises; they cost a few
 * memory passes over the parameters, small beside a training step.
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

int optim_create(optim **out, const optim_cfg *cfg, long n_params, qd_err *err)
{
    optim *o = calloc(1, sizeof *o);
    if (!o)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for the optimiser");
    o->cfg = *cfg;
    o->n = n_params;
    o->n_state = cfg->kind == OPTIM_ADAMW ? 2 * n_params : n_params;
    o->state = calloc((size_t)o->n_state + 1, sizeof(float));
    if (!o->state) {
        free(o);
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for the optimiser state");
    }
    *out = o;
    return 0;
}

void optim_free(optim *o)
{
    if (!o)
        return;
    free(o->state);
    free(o);
}

static void sgd_step(optim *o, float *w, const float *g, float lr, float mu)
{
    const float wd = o->cfg.weight_decay;
    float *v = o->state;
    if (o->cfg.nesterov) {
        for (long i = 0; i < o->n; i++) {
            float gi = g[i] + wd * w[i];
            v[i] = mu * v[i] + gi;
            w[i] -= lr * (gi + mu * v[i]);
        }
    } else {
        for (long i = 0; i < o->n; i++) {
            float gi = g[i] + wd * w[i];
            v[i] = mu * v[i] + gi;
            w[i] -= lr * v[i];
        }
    }
}

static void adamw_step(optim *o, float *w, const float *g, float lr, float b1)
{
    const float b2 = o->cfg.beta2, eps = o->cfg.eps, wd = o->cfg.weight_decay;
    float *m = o->state, *v = o->state + o->n;
    o->t++;
    const float c1 = 1.0f - powf(b1, (float)o->t), c2 = 1.0f - powf(b2, (float)o->t);
    const float step = lr / c1, rc2 = 1.0f / sqrtf(c2);
    for (long i = 0; i < o->n; i++) {
        w[i] -= lr * wd * w[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= step * m[i] / (sqrtf(v[i]) * rc2 + eps);
    }
}

void optim_step(optim *o, float *params, const float *grads, float lr, float mom)
{
    if (o->cfg.kind == OPTIM_ADAMW)
        adamw_step(o, params, grads, lr, mom);
    else
        sgd_step(o, params, grads, lr, mom);
}

/* cosine interpolation from a (pct 0) to b (pct 1) */
static float cos_anneal(float a, float b, float pct)
{
    return b + (a - b) / 2.0f * (cosf((float)M_PI * pct) + 1.0f);
}

static void one_cycle_at(const lr_schedule *s, long t, float *lr, float *mom)
{
    const float initial = s->lr / 25.0f, final = initial / 1e4f;
    const float mom_lo = 0.85f, mom_hi = 0.95f;
    float up_end = s->warmup_frac * (float)s->total_steps - 1.0f, down_end = s->total_steps - 1;
    if ((float)t <= up_end) {
        float pct = up_end > 0 ? (float)t / up_end : 1.0f;
        *lr = cos_anneal(initial, s->lr, pct);
        *mom = cos_anneal(mom_hi, mom_lo, pct);
    } else {
        float span = down_end - up_end, pct = span > 0 ? ((float)t - up_end) / span : 1.0f;
        pct = pct > 1.0f ? 1.0f : pct;
        *lr = cos_anneal(s->lr, final, pct);
        *mom = cos_anneal(mom_lo, mom_hi, pct);
    }
}

void lr_schedule_at(const lr_schedule *s, long t, float *lr, float *mom)
{
    *mom = s->momentum;
    switch (s->kind) {
    case LRS_STEP: {
        long epoch = s->steps_per_epoch ? t / s->steps_per_epoch : 0;
        *lr = s->lr * powf(s->gamma, (float)(epoch / (s->step_epochs > 0 ? s->step_epochs : 1)));
        return;
    }
    case LRS_COSINE:
        *lr = cos_anneal(s->lr, 0.0f, s->total_steps ? (float)t / (float)s->total_steps : 1.0f);
        return;
    case LRS_ONE_CYCLE:
        one_cycle_at(s, t, lr, mom);
        return;
    default:
        *lr = s->lr;
    }
}
