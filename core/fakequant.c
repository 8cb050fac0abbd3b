/*
 * fakequant.c: the per-layer quantizer glue of fakequant.h.
 *
 * Elementwise work is split over the model's threads in fixed contiguous chunks; the learned-step
 * gradient is reduced from per-thread partial sums in thread order, so results depend only on
 * the thread count. Steps are kept positive (a step the optimiser drove below STEP_MIN is used
 * as STEP_MIN).
 */
#include "fakequant.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define STEP_MIN 1e-8f
#define MAX_THREADS 256

static float step_of(float s) { return s > STEP_MIN ? s : STEP_MIN; }

static minifloat_fmt mf_of(const quant_fmt *f)
{
    minifloat_fmt mf = f->mf;
    if (f->format == QFMT_HFP8)
        minifloat_preset(&mf, "e4m3");
    return mf;
}

float fq_max_units(const quant_fmt *f)
{
    if (f->format == QFMT_INT)
        return (float)int_levels_make(f->bits, f->is_signed).qp;
    return minifloat_max(mf_of(f));
}

float fq_init_step(const float *x, long n, const quant_fmt *f)
{
    if (f->format == QFMT_INT)
        return lsq_init_step(x, n, int_levels_make(f->bits, f->is_signed));
    float mx = 0.0f;
    for (long i = 0; i < n; i++)
        mx = fabsf(x[i]) > mx ? fabsf(x[i]) : mx;
    float s = mx / minifloat_max(mf_of(f));
    return s > STEP_MIN ? s : 1.0f;
}

float fq_mmse_step(const float *x, long n, const quant_fmt *f)
{
    if (f->format == QFMT_INT)
        return mmse_int_scale(x, n, int_levels_make(f->bits, f->is_signed), NULL);
    return mmse_minifloat_scale(x, n, mf_of(f), NULL);
}

/* The first step of a learned quantizer: fq_init_step, or the MMSE scale when asked. */
static float first_step(const float *x, long n, const quant_fmt *f, int mmse)
{
    float s = mmse ? fq_mmse_step(x, n, f) : 0.0f;
    return s > STEP_MIN ? s : fq_init_step(x, n, f);
}

void fq_apply(float *out, const float *x, long n, float step, const quant_fmt *f, rng *r)
{
    step = step_of(step);
    if (f->format == QFMT_INT)
        int_fake_quant(out, x, n, step, int_levels_make(f->bits, f->is_signed));
    else
        minifloat_fake_quant(out, x, n, step, mf_of(f), f->stochastic ? r : NULL);
}

/* Backward of fq_apply: dx (may be NULL) += STE(dout); returns the unscaled step gradient. */
static double fq_backward(float *dx, const float *dout, const float *x, long n, float step,
                          const quant_fmt *f)
{
    step = step_of(step);
    if (f->format == QFMT_INT)
        return int_fake_quant_backward(dx, dout, x, n, step,
                                       int_levels_make(f->bits, f->is_signed));
    return minifloat_fake_quant_backward(dx, dout, x, n, step, mf_of(f));
}

/* The gradient scale 1/sqrt(N * max_units) of LSQ, for n values per step. */
static float grad_scale(long n, const quant_fmt *f)
{
    return 1.0f / sqrtf((float)n * fq_max_units(f));
}

/* ---- weights: one step per output channel, or one for the tensor ---- */

static int weight_groups(const layer *L) { return L->wq.per_channel ? L->c : 1; }

void fq_weights_forward(layer *L, int train)
{
    (void)train;
    const int g = weight_groups(L);
    const long per = L->nw / g;
    if (L->wq.frozen) {
        memcpy(L->wq_buf, L->weight, sizeof(float) * L->nw);
        return;
    }
    if (L->q_init[0] == 0.0f) {
        for (int k = 0; k < g; k++)
            L->w_step[k] = first_step(L->weight + k * per, per, &L->wq, L->step_mmse);
        L->q_init[0] = 1.0f;
    }
    for (int k = 0; k < g; k++)
        fq_apply(L->wq_buf + k * per, L->weight + k * per, per, L->w_step[k], &L->wq, NULL);
}

void fq_weights_backward(layer *L, const float *dwq)
{
    if (L->wq.frozen) {
        for (long i = 0; i < L->nw; i++)
            L->dweight[i] += dwq[i];
        return;
    }
    const int g = weight_groups(L);
    const long per = L->nw / g;
    const float gs = grad_scale(per, &L->wq);
    for (int k = 0; k < g; k++)
        L->dw_step[k] += gs * (float)fq_backward(L->dweight + k * per, dwq + k * per, L->weight + k * per,
                                                 per, L->w_step[k], &L->wq);
}

/* ---- activations: one step for the tensor, work split over threads ---- */

void fq_input_forward(layer *L, const float *in, int n, int train, rng *r)
{
    const long len = (long)n * L->in_len;
    if (L->q_init[1] == 0.0f) {
        L->a_step[0] = first_step(in, len, &L->aq, L->step_mmse);
        L->q_init[1] = 1.0f;
    }
    const float s = L->a_step[0];
    if (L->aq.format == QFMT_MINIFLOAT && L->aq.stochastic && train) {
        fq_apply(L->xq, in, len, s, &L->aq, r); /* one ordered stream: single thread */
        return;
    }
    quant_fmt f = L->aq;
    f.stochastic = 0;
#pragma omp parallel num_threads(L->nthreads)
    {
        long lo, hi;
        split_range(len, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        fq_apply(L->xq + lo, in + lo, hi - lo, s, &f, NULL);
    }
}

void fq_input_backward(layer *L, float *din, const float *dxq, const float *in, int n)
{
    const long len = (long)n * L->in_len;
    double part[MAX_THREADS] = {0};
    int used = 1;
#pragma omp parallel num_threads(L->nthreads)
    {
        int t = omp_get_thread_num();
        long lo, hi;
        if (t == 0)
            used = omp_get_num_threads();
        split_range(len, omp_get_num_threads(), t, &lo, &hi);
        part[t] = fq_backward(din ? din + lo : NULL, dxq + lo, in + lo, hi - lo, L->a_step[0],
                              &L->aq);
    }
    double sum = 0.0;
    for (int t = 0; t < used; t++)
        sum += part[t];
    L->da_step[0] += grad_scale(len, &L->aq) * (float)sum;
}

void fq_grad_e5m2(float *g, size_t len)
{
    minifloat_fmt e5m2;
    minifloat_preset(&e5m2, "e5m2");
    float mx = 0.0f;
    for (size_t i = 0; i < len; i++)
        mx = fabsf(g[i]) > mx ? fabsf(g[i]) : mx;
    if (mx == 0.0f)
        return;
    minifloat_fake_quant(g, g, (long)len, mx / minifloat_max(e5m2), e5m2, NULL);
}
