/*
 * qrt.c: the runtime of exported models (qrt.h): the plan built from a qmodel (which path each
 * compute layer takes, which layers are fused, what each tensor holds), and its execution.
 *
 * Plan invariants:
 * - Every layer's output is either float NCHW or uint8 NHWC codes (QRT_REP_CODES). Codes only flow
 *   along a fused chain: an integer compute layer, then only ReLU, max pooling and flatten, each
 *   read by exactly one layer, then the integer compute layer whose input codes they are. The
 *   chain's codes are that layer's input codes (stored + 128 when signed), so max pooling and
 *   ReLU (max with the code of 0) commute with the quantization.
 * - A ReLU right after the fused layer is the lower clamp of its epilogue and costs nothing;
 *   flatten never copies (its buffer is its input's). A tensor's "layout" is the shape its buffer
 *   is laid out in: the pre-flatten shape for flatten and what follows it.
 * - Integer layers permute their weights once to the NHWC order of their input codes.
 * Execution: images are split over the threads; each runs sub-batches of QRT_SUB_BATCH images
 * through every layer with its own workspace (one buffer per layer, plus scratch).
 */
#include "qrt.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fakequant.h"
#include "layers.h"
#include "qrt_kern.h"
#include "qrt_plan.h"

typedef struct wspace {
    void **buf;                 /* per layer (NULL when alias) */
    uint8_t *cols8, *qin;
    int16_t *cols16;
    int32_t *acc;
    float *xq, *fscratch;
    int *argmax;
} wspace;

struct qrt {
    int nthreads, use_ref, n_layers, n_compute, classes;
    size_t in_len;
    int in_c, in_h, in_w;
    qrt_lplan *L;
    qrt_cplan *C;
    wspace *ws;
    size_t need_cols, need_qin, need_acc, need_xq, need_fscratch, need_argmax;
};

static void *xalloc(size_t n) { return aligned_alloc(64, (n + 63) / 64 * 64 + 64); }

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

static size_t maxz(size_t a, size_t b) { return a > b ? a : b; }

/* ---- plan: paths and fusion ---- */

static int int_path(const qm_compute *c)
{
    return c->wq.format == QM_INT && c->aq.format == QM_INT;
}

/* The layer that reads layer li (exactly one), or -1. */
static int sole_consumer(const qrt *rt, int li)
{
    if (rt->L[li].consumers != 1)
        return -1;
    for (int j = li + 1; j < rt->n_layers; j++)
        for (int k = 0; k < rt->L[j].q.nin; k++)
            if (rt->L[j].q.in[k] == li)
                return j;
    return -1;
}

/* The integer compute layer whose input codes compute layer li can write, or -1. */
static int fusion_target(const qrt *rt, int li)
{
    int cur = li, flat = 0;
    for (;;) {
        int j = sole_consumer(rt, cur);
        if (j < 0)
            return -1;
        const qm_layer *q = &rt->L[j].q;
        if (q->kind == LK_RELU || q->kind == LK_MAXPOOL || q->kind == LK_FLATTEN) {
            flat |= q->kind == LK_FLATTEN;
            cur = j;
            continue;
        }
        if (q->compute < 0 || rt->C[q->compute].path != QRT_PATH_INT)
            return -1;
        return q->kind == LK_CONV && flat ? -1 : j;
    }
}

static void set_layouts(qrt *rt)
{
    for (int i = 0; i < rt->n_layers; i++) {
        qrt_lplan *L = &rt->L[i];
        const qrt_lplan *p = L->q.in[0] >= 0 ? &rt->L[L->q.in[0]] : NULL;
        if ((L->q.kind == LK_FLATTEN || L->q.kind == LK_RELU) && p)
            L->lc = p->lc, L->lh = p->lh, L->lw = p->lw;
        else if (L->q.kind == LK_FLATTEN || L->q.kind == LK_RELU)
            L->lc = rt->in_c, L->lh = rt->in_h, L->lw = rt->in_w;
        else
            L->lc = L->q.c, L->lh = L->q.h, L->lw = L->q.w;
    }
}

/* ---- plan: compute layers ---- */

static void input_layout(const qrt *rt, const qm_layer *q, int *c, int *h, int *w)
{
    const qrt_lplan *p = q->in[0] >= 0 ? &rt->L[q->in[0]] : NULL;
    if (q->kind == LK_CONV)
        *c = q->in_c, *h = q->in_h, *w = q->in_w;
    else if (p)
        *c = p->lc, *h = p->lh, *w = p->lw;
    else
        *c = rt->in_c, *h = rt->in_h, *w = rt->in_w;
}

/* Weights minus zero points, permuted to the NHWC order of the input codes. */
static void permuted_weights(int32_t *dst, const int32_t *w, const qrt_cplan *c, int kernel)
{
    for (int o = 0; o < c->oc; o++) {
        const int32_t *src = w + (size_t)o * c->k;
        int32_t *d = dst + (size_t)o * c->k;
        if (c->is_conv) {
            for (int ch = 0; ch < c->sc; ch++)
                for (int t = 0; t < kernel * kernel; t++)
                    d[t * c->sc + ch] = src[ch * kernel * kernel + t];
        } else {
            for (int ch = 0; ch < c->sc; ch++)
                for (int p = 0; p < c->sh * c->sw; p++)
                    d[p * c->sc + ch] = src[ch * c->sh * c->sw + p];
        }
    }
}

static int plan_int_weights(qrt_cplan *c, const qmodel *qm, int ci, int kernel, qd_err *err)
{
    int32_t *w = malloc(sizeof(int32_t) * (size_t)c->oc * c->k);
    int32_t *wp = malloc(sizeof(int32_t) * (size_t)c->oc * c->k);
    c->corr = xalloc(sizeof(int32_t) * (size_t)c->oc);
    if (!w || !wp || !c->corr) {
        free(w), free(wp);
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for the runtime");
    }
    qmodel_int_weights(qm, ci, w);
    permuted_weights(wp, w, c, kernel);
    for (int o = 0; o < c->oc; o++) {
        int32_t s = 0;
        for (int kk = 0; kk < c->k; kk++)
            s += wp[(size_t)o * c->k + kk];
        c->corr[o] = (c->in_off + c->in_zp) * s;
    }
    /* vpmaddubsw's pair sums must fit int16; summing 8 or more steps in int16 pays */
    c->span = qrt_acc16_span(wp, c->oc, c->k, c->in_off + c->in_hi);
    c->kern = c->span == 0 ? QRT_KERN_S16 : c->span >= 8 ? QRT_KERN_U8S8_ACC16 : QRT_KERN_U8S8;
    size_t n = qrt_pack_len(c->oc, c->k);
    int rc = 0;
    if (c->kern != QRT_KERN_S16 && (c->w8 = xalloc(n)))
        qrt_pack_u8s8(c->w8, wp, c->oc, c->k);
    else if (c->kern == QRT_KERN_S16 && (c->w16 = xalloc(2 * n)))
        qrt_pack_s16(c->w16, wp, c->oc, c->k);
    else
        rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory for the runtime");
    free(w), free(wp);
    return rc;
}

/* Float epilogue constants, and the codes epilogue when target (a layer index) is >= 0. */
static int plan_epilogue(qrt *rt, const qmodel *qm, int ci, int target, int relu_first,
                         qd_err *err)
{
    qrt_cplan *c = &rt->C[ci];
    const qm_compute *q = &qm->compute[ci];
    c->oscale = xalloc(sizeof(float) * (size_t)c->oc);
    c->obias = xalloc(sizeof(float) * (size_t)c->oc);
    c->rq = xalloc(sizeof(qrt_requant) * (size_t)c->oc);
    c->mult = xalloc(sizeof(int32_t) * (size_t)c->np);
    c->rsh = xalloc(sizeof(int32_t) * (size_t)c->np);
    c->off2 = xalloc(sizeof(int64_t) * (size_t)c->np);
    if (!c->oscale || !c->obias || !c->rq || !c->mult || !c->rsh || !c->off2)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for the runtime");
    for (int o = 0; o < c->oc; o++) {
        double ws = q->w_scale[q->per_channel ? o : 0];
        double post = q->post_scale ? q->post_scale[o] : 1.0;
        c->oscale[o] = (float)(post * (double)q->a_scale * ws);
        c->obias[o] = q->bias ? q->bias[o] : 0.0f;
    }
    c->out_codes = 0;
    if (target < 0)
        return 0;
    const int tci = rt->L[target].q.compute;
    const qm_compute *tq = &qm->compute[tci];
    const qrt_cplan *t = &rt->C[tci];
    for (int o = 0; o < c->oc; o++) {
        double ws = q->w_scale[q->per_channel ? o : 0];
        double post = q->post_scale ? q->post_scale[o] : 1.0;
        double a = post * (double)q->a_scale * ws / (double)tq->a_scale;
        double b = (q->bias ? (double)q->bias[o] : 0.0) / (double)tq->a_scale + tq->a_zp;
        if (qrt_requant_make(&c->rq[o], a, b) < 0)
            return 0; /* out of fixed-point range: this layer writes floats */
    }
    qrt_requant_soa(c->rq, c->oc, c->mult, c->rsh, c->off2);
    c->out_codes = 1;
    c->out_lo = relu_first && t->in_zp > t->in_lo ? t->in_zp : t->in_lo;
    c->out_hi = t->in_hi;
    c->out_off = t->in_off;
    return 0;
}

static int plan_decoded(qrt_cplan *c, const qmodel *qm, int ci, qd_err *err)
{
    const qm_compute *q = &qm->compute[ci];
    c->wf = xalloc(sizeof(float) * (size_t)c->oc * c->k);
    c->bias = xalloc(sizeof(float) * (size_t)c->oc);
    c->post = q->post_scale ? xalloc(sizeof(float) * (size_t)c->oc) : NULL;
    if (!c->wf || !c->bias || (q->post_scale && !c->post))
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for the runtime");
    qmodel_decode_weights(qm, ci, c->wf); /* minifloat: through the 2^bits lookup table */
    for (int o = 0; o < c->oc; o++) {
        c->bias[o] = q->bias ? q->bias[o] : 0.0f;
        if (c->post)
            c->post[o] = q->post_scale[o];
    }
    c->aq = q->aq;
    c->a_scale = q->a_scale;
    c->a_zp = q->a_zp;
    return 0;
}

static void plan_input_quant(qrt_cplan *c, const qm_compute *q)
{
    c->in_inv = 1.0f / q->a_scale; /* as core/quant.c: x * (1 / s) */
    c->in_zp = q->a_zp;
    qm_int_range(&q->aq, &c->in_lo, &c->in_hi);
    c->in_off = q->aq.is_signed ? 128 : 0;
}

static int plan_compute(qrt *rt, const qmodel *qm, qd_err *err)
{
    int rc = 0;
    for (int ci = 0; ci < rt->n_compute; ci++) {
        const qm_compute *q = &qm->compute[ci];
        qrt_cplan *c = &rt->C[ci];
        const qm_layer *L = &qm->layers[q->layer];
        c->layer = q->layer;
        c->path = int_path(q) ? QRT_PATH_INT : QRT_PATH_DECODED;
        c->is_conv = L->kind == LK_CONV;
        c->oc = q->oc, c->k = q->k, c->kp = round_up(q->k, 4), c->np = round_up(q->oc, 8);
        if (c->path == QRT_PATH_INT)
            plan_input_quant(c, q);
    }
    for (int ci = 0; ci < rt->n_compute && rc == 0; ci++) {
        qrt_cplan *c = &rt->C[ci];
        const qm_layer *L = &qm->layers[c->layer];
        if (c->path == QRT_PATH_DECODED) {
            rc = plan_decoded(c, qm, ci, err);
            continue;
        }
        input_layout(rt, L, &c->sc, &c->sh, &c->sw);
        int target = fusion_target(rt, c->layer), next = sole_consumer(rt, c->layer);
        int relu_first = next >= 0 && rt->L[next].q.kind == LK_RELU;
        rc = plan_int_weights(c, qm, ci, L->kernel, err);
        if (rc == 0)
            rc = plan_epilogue(rt, qm, ci, target, relu_first, err);
        if (rc == 0 && c->out_codes && relu_first)
            rt->L[next].alias = 1;
    }
    return rc;
}

/* Representations, zero codes and fused inputs, in layer order. */
static void plan_reps(qrt *rt)
{
    for (int i = 0; i < rt->n_layers; i++) {
        qrt_lplan *L = &rt->L[i];
        const qrt_lplan *p = L->q.in[0] >= 0 ? &rt->L[L->q.in[0]] : NULL;
        int prep = p ? p->rep : QRT_REP_FLOAT;
        if (L->q.compute >= 0) {
            qrt_cplan *c = &rt->C[L->q.compute];
            c->in_codes = c->path == QRT_PATH_INT && prep == QRT_REP_CODES;
            L->rep = c->path == QRT_PATH_INT && c->out_codes ? QRT_REP_CODES : QRT_REP_FLOAT;
            if (L->rep == QRT_REP_CODES)
                L->zero_code = (uint8_t)(c->out_off + rt->C[rt->L[fusion_target(rt, i)].q.compute].in_zp);
            continue;
        }
        if (L->q.kind == LK_FLATTEN)
            L->alias = 1;
        int keeps = L->q.kind == LK_RELU || L->q.kind == LK_MAXPOOL || L->q.kind == LK_FLATTEN;
        L->rep = keeps ? prep : QRT_REP_FLOAT;
        L->zero_code = p ? p->zero_code : 0;
    }
}

/* ---- plan: workspace ---- */

static size_t layer_bytes(const qrt_lplan *L)
{
    size_t e = (size_t)L->q.c * L->q.h * L->q.w;
    return L->alias ? 0 : L->rep == QRT_REP_CODES ? e : 4 * e;
}

static void scratch_needs(qrt *rt)
{
    const size_t S = QRT_SUB_BATCH;
    for (int ci = 0; ci < rt->n_compute; ci++) {
        const qrt_cplan *c = &rt->C[ci];
        const qm_layer *L = &rt->L[c->layer].q;
        size_t rows = c->is_conv ? (size_t)L->h * L->w : S, in_len = (size_t)c->k;
        if (c->is_conv)
            in_len = (size_t)L->in_c * L->in_h * L->in_w;
        if (c->path == QRT_PATH_INT) {
            rt->need_cols = maxz(rt->need_cols, rows * c->kp);
            rt->need_acc = maxz(rt->need_acc, rows * c->np);
            rt->need_qin = maxz(rt->need_qin, S * c->sc * c->sh * c->sw);
            continue;
        }
        rt->need_xq = maxz(rt->need_xq, S * in_len);
        if (c->is_conv) {
            conv_dims d = {1, L->in_c, L->in_h, L->in_w, L->c, L->h, L->w,
                           L->kernel, L->stride, L->pad};
            rt->need_fscratch = maxz(rt->need_fscratch, conv2d_scratch_floats(d, 1));
        }
    }
    for (int i = 0; i < rt->n_layers; i++)
        if (rt->L[i].q.kind == LK_MAXPOOL)
            rt->need_argmax = maxz(rt->need_argmax, S * rt->L[i].q.c * rt->L[i].q.h * rt->L[i].q.w);
}

static int alloc_workspace(qrt *rt, wspace *w, qd_err *err)
{
    const size_t S = QRT_SUB_BATCH;
    int ok = (w->buf = calloc((size_t)rt->n_layers, sizeof *w->buf)) != NULL;
    for (int i = 0; ok && i < rt->n_layers; i++)
        if (layer_bytes(&rt->L[i]))
            ok = (w->buf[i] = xalloc(S * layer_bytes(&rt->L[i]))) != NULL;
    ok = ok && (w->cols8 = xalloc(rt->need_cols + 1)) && (w->cols16 = xalloc(2 * rt->need_cols + 2));
    ok = ok && (w->acc = xalloc(4 * rt->need_acc + 4)) && (w->qin = xalloc(rt->need_qin + 1));
    ok = ok && (w->xq = xalloc(4 * rt->need_xq + 4)) && (w->fscratch = xalloc(4 * rt->need_fscratch + 4));
    ok = ok && (w->argmax = xalloc(sizeof(int) * rt->need_argmax + 4));
    return ok ? 0 : qd_fail(err, QD_ENOMEM, NULL, "out of memory for the runtime's workspace");
}

static void free_workspace(const qrt *rt, wspace *w)
{
    for (int i = 0; w->buf && i < rt->n_layers; i++)
        free(w->buf[i]);
    free(w->buf);
    free(w->cols8), free(w->cols16), free(w->acc), free(w->qin);
    free(w->xq), free(w->fscratch), free(w->argmax);
}

void qrt_free(qrt *rt)
{
    if (!rt)
        return;
    for (int t = 0; rt->ws && t < rt->nthreads; t++)
        free_workspace(rt, &rt->ws[t]);
    for (int ci = 0; rt->C && ci < rt->n_compute; ci++) {
        qrt_cplan *c = &rt->C[ci];
        free(c->w8), free(c->w16), free(c->corr), free(c->rq), free(c->oscale), free(c->obias);
        free(c->mult), free(c->rsh), free(c->off2);
        free(c->wf), free(c->post), free(c->bias);
    }
    free(rt->ws);
    free(rt->C);
    free(rt->L);
    free(rt);
}

int qrt_create(qrt **out, const qmodel *qm, int nthreads, int use_ref, qd_err *err)
{
    *out = NULL;
    qrt *rt = calloc(1, sizeof *rt);
    if (!rt)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for the runtime");
    rt->nthreads = nthreads < 1 ? 1 : nthreads;
    rt->use_ref = use_ref;
    rt->n_layers = qm->n_layers, rt->n_compute = qm->n_compute, rt->classes = qm->classes;
    rt->in_c = qm->in_c, rt->in_h = qm->in_h, rt->in_w = qm->in_w;
    rt->in_len = (size_t)qm->in_c * qm->in_h * qm->in_w;
    rt->L = calloc((size_t)rt->n_layers, sizeof *rt->L);
    rt->C = calloc((size_t)rt->n_compute, sizeof *rt->C);
    rt->ws = calloc((size_t)rt->nthreads, sizeof *rt->ws);
    int rc = rt->L && rt->C && rt->ws ? 0 : qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    for (int i = 0; rc == 0 && i < rt->n_layers; i++) {
        rt->L[i].q = qm->layers[i];
        for (int k = 0; k < qm->layers[i].nin; k++)
            if (qm->layers[i].in[k] >= 0)
                rt->L[qm->layers[i].in[k]].consumers++;
    }
    if (rc == 0) {
        set_layouts(rt);
        rc = plan_compute(rt, qm, err);
    }
    if (rc == 0) {
        plan_reps(rt);
        scratch_needs(rt);
    }
    for (int t = 0; rc == 0 && t < rt->nthreads; t++)
        rc = alloc_workspace(rt, &rt->ws[t], err);
    if (rc < 0)
        qrt_free(rt);
    else
        *out = rt;
    return rc;
}

/* ---- execution ---- */

static void *layer_out(const qrt *rt, const wspace *w, int i, const float *x)
{
    while (i >= 0 && rt->L[i].alias)
        i = rt->L[i].q.in[0];
    return i >= 0 ? w->buf[i] : (void *)x;
}

static void gemm(const qrt *rt, const qrt_cplan *c, wspace *w, const uint8_t *a, int m)
{
    if (c->kern == QRT_KERN_S16) {
        for (size_t i = 0; i < (size_t)m * c->kp; i++)
            w->cols16[i] = a[i];
        (rt->use_ref ? qrt_gemm_s16_ref : qrt_gemm_s16)(w->acc, w->cols16, c->w16, m, c->oc, c->k);
    } else if (rt->use_ref) {
        qrt_gemm_u8s8_ref(w->acc, a, c->w8, m, c->oc, c->k);
    } else if (c->kern == QRT_KERN_U8S8_ACC16) {
        qrt_gemm_u8s8_acc16(w->acc, a, c->w8, m, c->oc, c->k, c->span);
    } else {
        qrt_gemm_u8s8(w->acc, a, c->w8, m, c->oc, c->k);
    }
}

static void epilogue(const qrt *rt, const qrt_cplan *c, const wspace *w, void *out, int m, int nchw)
{
    if (c->out_codes && rt->use_ref)
        qrt_epilogue_codes_ref(out, w->acc, m, c->np, c->oc, c->corr, c->rq, c->out_lo,
                               c->out_hi, c->out_off);
    else if (c->out_codes)
        qrt_epilogue_codes(out, w->acc, m, c->np, c->oc, c->corr, c->mult, c->rsh, c->off2,
                           c->out_lo, c->out_hi, c->out_off);
    else
        qrt_epilogue_float(out, w->acc, m, c->np, c->oc, c->corr, c->oscale, c->obias, nchw);
}

static void run_int(const qrt *rt, wspace *w, const qrt_cplan *c, const void *in, void *out, int n)
{
    const qm_layer *L = &rt->L[c->layer].q;
    const size_t in_len = (size_t)c->sc * c->sh * c->sw, unit = c->out_codes ? 1 : 4;
    const uint8_t *codes = in;
    if (!c->in_codes) {
        qrt_quantize_nhwc(w->qin, in, n, c->sc, c->sh * c->sw, c->in_inv, c->in_zp, c->in_lo,
                          c->in_hi, c->in_off);
        codes = w->qin;
    }
    const uint8_t pad = (uint8_t)(c->in_off + c->in_zp);
    if (!c->is_conv) {
        const uint8_t *a = codes;
        if (c->kp != c->k) {
            for (int i = 0; i < n; i++) {
                memcpy(w->cols8 + (size_t)i * c->kp, codes + (size_t)i * c->k, (size_t)c->k);
                memset(w->cols8 + (size_t)i * c->kp + c->k, pad, (size_t)(c->kp - c->k));
            }
            a = w->cols8;
        }
        gemm(rt, c, w, a, n);
        epilogue(rt, c, w, out, n, 0);
        return;
    }
    const int P = L->h * L->w;
    const int pointwise = L->kernel == 1 && L->stride == 1 && L->pad == 0 && c->kp == c->k;
    for (int i = 0; i < n; i++) {
        const uint8_t *img = codes + (size_t)i * in_len;
        if (!pointwise)
            qrt_im2col_u8(w->cols8, img, L->in_c, L->in_h, L->in_w, L->kernel, L->stride, L->pad,
                          L->h, L->w, c->kp, pad);
        gemm(rt, c, w, pointwise ? img : w->cols8, P);
        epilogue(rt, c, w, (char *)out + (size_t)i * c->oc * P * unit, P, 1);
    }
}

/* The input fake-quantized as in training (integer: clamp(rint(x / s) + zp) - zp, times s). */
static const float *decoded_input(const qrt_cplan *c, wspace *w, const float *in, size_t len)
{
    if (c->aq.format == QM_FLOAT)
        return in;
    if (c->aq.format == QM_MINIFLOAT) {
        minifloat_fake_quant(w->xq, in, (long)len, c->a_scale, c->aq.mf, NULL);
        return w->xq;
    }
    int lo, hi;
    qm_int_range(&c->aq, &lo, &hi);
    const float inv = 1.0f / c->a_scale, vlo = (float)(lo - c->a_zp), vhi = (float)(hi - c->a_zp);
    for (size_t i = 0; i < len; i++) {
        float v = in[i] * inv;
        v = v > vlo ? v : vlo;
        v = v < vhi ? v : vhi;
        w->xq[i] = rintf(v) * c->a_scale;
    }
    return w->xq;
}

static void run_decoded(const qrt *rt, wspace *w, const qrt_cplan *c, const float *in, float *out,
                        int n)
{
    const qm_layer *L = &rt->L[c->layer].q;
    const size_t in_len = (size_t)L->in_c * L->in_h * L->in_w, P = (size_t)L->h * L->w;
    const float *x = decoded_input(c, w, in, n * in_len);
    const float *b = c->post ? NULL : c->bias;
    if (c->is_conv) {
        conv_dims d = {n, L->in_c, L->in_h, L->in_w, L->c, L->h, L->w, L->kernel, L->stride,
                       L->pad};
        conv2d_forward(out, NULL, x, c->wf, b, d, w->fscratch, 1);
    } else {
        linear_forward(out, x, c->wf, b, n, c->k, c->oc, 1);
    }
    for (int i = 0; c->post && i < n; i++)
        for (int o = 0; o < c->oc; o++) {
            float *y = out + ((size_t)i * c->oc + o) * P;
            for (size_t p = 0; p < P; p++)
                y[p] = c->post[o] * y[p] + c->bias[o];
        }
}

static void run_other(const qrt *rt, wspace *w, int li, const float *x, int n)
{
    const qrt_lplan *R = &rt->L[li];
    const qm_layer *L = &R->q;
    void *in = layer_out(rt, w, L->in[0], x), *out = w->buf[li];
    const size_t len = (size_t)n * L->c * L->h * L->w;
    const int nc = n * L->in_c;
    switch (L->kind) {
    case LK_RELU:
        if (R->rep == QRT_REP_CODES)
            qrt_relu_u8(out, in, len, R->zero_code);
        else
            relu_forward(out, in, len, 1);
        return;
    case LK_MAXPOOL:
        if (R->rep == QRT_REP_CODES)
            qrt_maxpool_u8(out, in, n, L->in_c, L->in_h, L->in_w, L->kernel, L->stride, L->pad,
                           L->h, L->w, R->zero_code);
        else
            maxpool_forward(out, w->argmax, in, nc, L->in_h, L->in_w, L->h, L->w, L->kernel,
                            L->stride, L->pad, 1);
        return;
    case LK_AVGPOOL:
        avgpool_forward(out, in, nc, L->in_h, L->in_w, L->h, L->w, L->kernel, L->stride, L->pad, 1);
        return;
    case LK_GAP:
        avgpool_forward(out, in, nc, L->in_h, L->in_w, 1, 1, L->in_h, 1, 0, 1);
        return;
    case LK_ADD:
        add_forward(out, in, layer_out(rt, w, L->in[1], x), len, 1);
        return;
    }
}

static void run_sub(const qrt *rt, wspace *w, const float *x, int n, float *logits)
{
    for (int i = 0; i < rt->n_layers; i++) {
        const qrt_lplan *R = &rt->L[i];
        if (R->alias)
            continue;
        if (R->q.compute < 0) {
            run_other(rt, w, i, x, n);
            continue;
        }
        const qrt_cplan *c = &rt->C[R->q.compute];
        const void *in = layer_out(rt, w, R->q.in[0], x);
        if (c->path == QRT_PATH_INT)
            run_int(rt, w, c, in, w->buf[i], n);
        else
            run_decoded(rt, w, c, in, w->buf[i], n);
    }
    memcpy(logits, layer_out(rt, w, rt->n_layers - 1, x), sizeof(float) * n * rt->classes);
}

void qrt_run(qrt *rt, const float *x, int n, float *logits)
{
#pragma omp parallel num_threads(rt->nthreads)
    {
        const int t = omp_get_thread_num();
        long lo, hi;
        split_range(n, omp_get_num_threads(), t, &lo, &hi);
        for (long s = lo; s < hi; s += QRT_SUB_BATCH) {
            int m = hi - s < QRT_SUB_BATCH ? (int)(hi - s) : QRT_SUB_BATCH;
            run_sub(rt, &rt->ws[t], x + s * rt->in_len, m, logits + s * rt->classes);
        }
    }
}

void qrt_layer_info(const qrt *rt, int ci, int *path, int *kernel, int *fused_in)
{
    const qrt_cplan *c = &rt->C[ci];
    *path = c->path;
    *kernel = c->kern;
    *fused_in = c->in_codes;
}

int qrt_classes(const qrt *rt) { return rt->classes; }

const qrt_lplan *qrt_plan_layer(const qrt *rt, int i) { return &rt->L[i]; }

const qrt_cplan *qrt_plan_compute(const qrt *rt, int ci) { return &rt->C[ci]; }

size_t qrt_input_len(const qrt *rt) { return rt->in_len; }

int qrt_have_avx2(void)
{
#ifdef __AVX2__
    return 1;
#else
    return 0;
#endif
}
