/*
 * export_c.c: writes an exported model as C (format "c"): PREFIX.h declares
 * `int PREFIX_infer(const float *input, float *logits)` and the input shape, PREFIX.c holds the
 * packed weight codes as const data (the qmodel's own bytes, at their real bit-width), the
 * requantization constants, the kernels of export_c_kern.c, and the layer sequence.
 *
 * The code follows the runtime's plan (core/qrt_plan.h) layer by layer, so integer models give
 * the runtime's logits bit for bit. All tensors live in one static arena whose buffers are placed
 * first-fit by liveness (a buffer is free once its last reader has run); weights are unpacked one
 * output channel at a time into a static row. No malloc, no libm: as for a microcontroller. Floats
 * are written as hexadecimal literals, so constants are exact.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qrt_plan.h"
#include "export.h"
#include "export_c.h"

#define ALIGN 16

typedef struct region {
    size_t off, size;
    int start, end;          /* live from layer start to layer end, inclusive */
} region;

typedef struct cgen {
    FILE *f;
    const qmodel *qm;
    const qrt *rt;
    const char *prefix;
    region *buf, *qin;       /* per layer: its output buffer, and its quantized input */
    size_t arena;
    int max_k;
} cgen;

/* ---- the arena ---- */

static int owner(const qrt *rt, int i)
{
    while (i >= 0 && qrt_plan_layer(rt, i)->alias)
        i = qrt_plan_layer(rt, i)->q.in[0];
    return i;
}

static size_t out_bytes(const qrt_lplan *L)
{
    size_t e = (size_t)L->q.c * L->q.h * L->q.w;
    return L->alias ? 0 : L->rep == QRT_REP_CODES ? e : 4 * e;
}

static size_t qin_bytes(const qrt *rt, int i)
{
    const qrt_lplan *L = qrt_plan_layer(rt, i);
    if (L->q.compute < 0)
        return 0;
    const qrt_cplan *c = qrt_plan_compute(rt, L->q.compute);
    if (c->path == QRT_PATH_INT)
        return c->in_codes ? 0 : (size_t)c->sc * c->sh * c->sw;
    return c->aq.format == QM_FLOAT ? 0 : 4 * (size_t)L->q.in_c * L->q.in_h * L->q.in_w;
}

/* Lowest aligned offset where r overlaps no placed region alive at the same time. */
static void place(region *r, const region *placed, int n)
{
    size_t off = 0;
    for (int moved = 1; moved;) {
        moved = 0;
        for (int j = 0; j < n; j++) {
            const region *p = &placed[j];
            if (!p->size || p->end < r->start || p->start > r->end)
                continue;
            if (off < p->off + p->size && p->off < off + r->size) {
                off = (p->off + p->size + ALIGN - 1) / ALIGN * ALIGN;
                moved = 1;
            }
        }
    }
    r->off = off;
}

static void plan_arena(cgen *g)
{
    const int n = g->qm->n_layers;
    region *all = calloc(2 * (size_t)n, sizeof *all);
    int placed = 0;
    for (int i = 0; i < n; i++) {
        g->buf[i] = (region){0, out_bytes(qrt_plan_layer(g->rt, i)), i, i == n - 1 ? n : i};
        g->qin[i] = (region){0, qin_bytes(g->rt, i), i, i};
    }
    for (int j = 0; j < n; j++) /* a buffer lives until its last reader, aliases resolved */
        for (int k = 0; k < g->qm->layers[j].nin; k++) {
            int o = owner(g->rt, g->qm->layers[j].in[k]);
            if (o >= 0 && g->buf[o].end < j)
                g->buf[o].end = j;
        }
    for (int i = 0; i < n && all; i++) {
        region *rs[2] = {&g->qin[i], &g->buf[i]};
        for (int k = 0; k < 2; k++) {
            if (!rs[k]->size)
                continue;
            place(rs[k], all, placed);
            all[placed++] = *rs[k];
            if (rs[k]->off + rs[k]->size > g->arena)
                g->arena = rs[k]->off + rs[k]->size;
        }
    }
    free(all);
}

/* ---- emitting data ---- */

static void emit_float(FILE *f, float v)
{
    if (!isfinite(v)) /* a scale past FLT_MAX (only in absurd models): the largest float */
        v = v < 0 ? -3.40282347e38f : 3.40282347e38f;
    fprintf(f, "%af", (double)v);
}

static void emit_floats(FILE *f, const char *type, const char *name, const float *v, int n)
{
    fprintf(f, "static const %s %s[%d] = {", type, name, n);
    for (int i = 0; i < n; i++) {
        fputs(i ? "," : "", f);
        fputs(i % 6 ? " " : "\n    ", f);
        emit_float(f, v[i]);
    }
    fputs("};\n", f);
}

static void emit_ints(FILE *f, const char *type, const char *name, const int64_t *v, int n)
{
    fprintf(f, "static const %s %s[%d] = {", type, name, n);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%s%lld%s", i ? "," : "", i % 12 ? " " : "\n    ",
                (long long)(v[i] < -INT64_MAX ? -INT64_MAX : v[i]),
                strcmp(type, "int64_t") ? "" : "LL");
    fputs("};\n", f);
}

static void emit_bytes(FILE *f, const char *name, const uint8_t *p, size_t n)
{
    fprintf(f, "static const uint8_t %s[%zu] = {", name, n + 1);
    for (size_t i = 0; i <= n; i++)
        fprintf(f, "%s%s%u", i ? "," : "", i % 20 ? "" : "\n    ", i < n ? p[i] : 0u);
    fputs("};\n", f);
}

static void emit_requant(cgen *g, int ci, const qrt_cplan *c)
{
    int64_t *v = malloc(sizeof(int64_t) * (size_t)c->oc);
    char name[64];
    if (!v)
        return;
    for (int k = 0; k < 3; k++) {
        for (int o = 0; o < c->oc; o++)
            v[o] = k == 0 ? c->rq[o].mult : k == 1 ? c->rq[o].off : c->rq[o].shift;
        snprintf(name, sizeof name, "L%d_%s", ci, k == 0 ? "mult" : k == 1 ? "off" : "shift");
        emit_ints(g->f, k == 0 ? "int32_t" : k == 1 ? "int64_t" : "int8_t", name, v, c->oc);
    }
    free(v);
}

static void emit_weights(cgen *g, int ci)
{
    const qm_compute *q = &g->qm->compute[ci];
    char name[64];
    int groups = q->wq.format == QM_FLOAT ? 0 : q->per_channel ? q->oc : 1;
    snprintf(name, sizeof name, "L%d_w", ci);
    emit_bytes(g->f, name, q->codes, q->codes_bytes);
    if (groups) {
        snprintf(name, sizeof name, "L%d_ws", ci);
        emit_floats(g->f, "float", name, q->w_scale, groups);
    }
    if (q->wq.format == QM_INT) {
        int64_t zp[QMODEL_MAX_DIM];
        for (int i = 0; i < groups; i++)
            zp[i] = q->w_zp[i];
        snprintf(name, sizeof name, "L%d_zp", ci);
        emit_ints(g->f, "int8_t", name, zp, groups);
    }
    if (q->wq.format == QM_MINIFLOAT) {
        float lut[256];
        for (int j = 0; j < (1 << q->wq.bits); j++)
            lut[j] = minifloat_decode(q->wq.mf, (uint32_t)j);
        snprintf(name, sizeof name, "L%d_lut", ci);
        emit_floats(g->f, "float", name, lut, 1 << q->wq.bits);
    }
}

/* m, emin, emax, max of a minifloat format, as qd_mf_round takes them. */
static void mf_params(const minifloat_fmt *mf, float out[4])
{
    float max = minifloat_max(*mf);
    int emin = 1 - mf->bias;
    int emax = max >= ldexpf(1.0f, emin) ? ilogbf(max) : emin;
    out[0] = (float)mf->m, out[1] = (float)emin, out[2] = (float)emax, out[3] = max;
}

static void emit_epilogue_data(cgen *g, int ci, const qrt_cplan *c, const qm_compute *q)
{
    char name[64];
    if (c->path == QRT_PATH_INT && c->out_codes) {
        emit_requant(g, ci, c);
        return;
    }
    const float *scale = c->path == QRT_PATH_INT ? c->oscale : q->post_scale;
    const float *bias = c->path == QRT_PATH_INT ? c->obias : c->bias;
    if (scale) {
        snprintf(name, sizeof name, "L%d_scale", ci);
        emit_floats(g->f, "float", name, scale, c->oc);
    }
    snprintf(name, sizeof name, "L%d_bias", ci);
    emit_floats(g->f, "float", name, bias, c->oc);
    if (c->path == QRT_PATH_DECODED && c->aq.format == QM_MINIFLOAT) {
        float mf[4];
        mf_params(&c->aq.mf, mf);
        snprintf(name, sizeof name, "L%d_mf", ci);
        emit_floats(g->f, "float", name, mf, 4);
    }
}

static const char *ref(char *buf, size_t cap, const char *fmt, int ci)
{
    snprintf(buf, cap, fmt, ci);
    return buf;
}

static void emit_layer_struct(cgen *g, int ci)
{
    const qm_compute *q = &g->qm->compute[ci];
    const qrt_cplan *c = qrt_plan_compute(g->rt, ci);
    const qm_layer *L = &g->qm->layers[q->layer];
    FILE *f = g->f;
    char b[8][32];
    int is_int = c->path == QRT_PATH_INT, codes = is_int && c->out_codes;
    int wkind = q->wq.format == QM_INT ? 0 : q->wq.format == QM_MINIFLOAT ? 1 : 2;
    int lo = 0, hi = 0;
    if (c->path == QRT_PATH_DECODED && c->aq.format == QM_INT)
        qm_int_range(&c->aq, &lo, &hi);
    emit_weights(g, ci);
    emit_epilogue_data(g, ci, c, q);
    fprintf(f, "static const qd_layer L%d = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d,\n",
            ci, L->in_c, L->in_h, L->in_w, q->oc, L->h, L->w, L->kind == LK_CONV ? L->kernel : 0,
            L->stride, L->pad, c->sc, c->sh * c->sw, q->k);
    fprintf(f, "    L%d_w, %d, %d, %d, %s, %s, %s, %d,\n", ci, q->wq.bits, q->per_channel, wkind,
            wkind == 0 ? ref(b[0], 32, "L%d_zp", ci) : "NULL",
            wkind != 2 ? ref(b[1], 32, "L%d_ws", ci) : "NULL",
            wkind == 1 ? ref(b[2], 32, "L%d_lut", ci) : "NULL", is_int ? c->in_off + c->in_zp : 0);
    fprintf(f, "    %s, %s, %s, %d, %d, %d,\n", codes ? ref(b[3], 32, "L%d_mult", ci) : "NULL",
            codes ? ref(b[4], 32, "L%d_off", ci) : "NULL",
            codes ? ref(b[5], 32, "L%d_shift", ci) : "NULL", codes ? c->out_lo : 0,
            codes ? c->out_hi : 0, codes ? c->out_off : 0);
    int has_scale = is_int ? !codes : q->post_scale != NULL;
    fprintf(f, "    %s, %s, %d, ", has_scale ? ref(b[6], 32, "L%d_scale", ci) : "NULL",
            codes ? "NULL" : ref(b[7], 32, "L%d_bias", ci),
            is_int || c->aq.format == QM_FLOAT ? 0 : c->aq.format == QM_INT ? 1 : 2);
    emit_float(f, is_int ? 0.0f : c->a_scale);
    fputs(", ", f);
    emit_float(f, is_int || c->aq.format == QM_FLOAT ? 0.0f : 1.0f / c->a_scale);
    fprintf(f, ", %d.0f, %d.0f, %s};\n\n", lo - c->a_zp, hi - c->a_zp,
            !is_int && c->aq.format == QM_MINIFLOAT ? ref(b[0], 32, "L%d_mf", ci) : "NULL");
    g->max_k = q->k > g->max_k ? q->k : g->max_k;
}

/* ---- the layer sequence ---- */

/* The C expression of layer i's output (i = -1: the input). */
static const char *tensor(const cgen *g, int i, char *buf, size_t cap, int as_float)
{
    int o = owner(g->rt, i);
    if (o < 0)
        snprintf(buf, cap, "input");
    else
        snprintf(buf, cap, "(%s *)(qd_a + %zu)", as_float ? "float" : "uint8_t", g->buf[o].off);
    return buf;
}

static void emit_compute_call(cgen *g, int i)
{
    const qrt_lplan *L = qrt_plan_layer(g->rt, i);
    const int ci = L->q.compute;
    const qrt_cplan *c = qrt_plan_compute(g->rt, ci);
    char in[96], out[96];
    tensor(g, L->q.in[0], in, sizeof in, c->path == QRT_PATH_DECODED || !c->in_codes);
    tensor(g, i, out, sizeof out, L->rep == QRT_REP_FLOAT);
    if (c->path == QRT_PATH_INT) {
        if (!c->in_codes) {
            fprintf(g->f, "    qd_quantize(qd_a + %zu, %s, %d, %d, ", g->qin[i].off, in, c->sc,
                    c->sh * c->sw);
            emit_float(g->f, c->in_inv);
            fprintf(g->f, ", %d, %d, %d, %d);\n", c->in_zp, c->in_lo, c->in_hi, c->in_off);
            snprintf(in, sizeof in, "qd_a + %zu", g->qin[i].off);
        }
        fprintf(g->f, "    qd_layer_int(&L%d, %s, %s, qd_wrow_i); /* %s */\n", ci, in, out,
                L->q.name);
        return;
    }
    if (c->aq.format != QM_FLOAT) {
        fprintf(g->f, "    qd_fake_quant((float *)(qd_a + %zu), %s, %d, &L%d);\n", g->qin[i].off,
                in, L->q.in_c * L->q.in_h * L->q.in_w, ci);
        snprintf(in, sizeof in, "(float *)(qd_a + %zu)", g->qin[i].off);
    }
    fprintf(g->f, "    qd_layer_float(&L%d, %s, %s, qd_wrow_f); /* %s */\n", ci, in, out,
            L->q.name);
}

static void emit_other_call(cgen *g, int i)
{
    const qrt_lplan *L = qrt_plan_layer(g->rt, i);
    const qm_layer *q = &L->q;
    const int codes = L->rep == QRT_REP_CODES, n = q->c * q->h * q->w;
    char in[96], in2[96], out[96];
    tensor(g, q->in[0], in, sizeof in, !codes);
    tensor(g, i, out, sizeof out, !codes);
    switch (q->kind) {
    case LK_RELU:
        if (codes)
            fprintf(g->f, "    qd_relu_u8(%s, %s, %d, %u);\n", out, in, n, L->zero_code);
        else
            fprintf(g->f, "    qd_relu_f(%s, %s, %d);\n", out, in, n);
        break;
    case LK_MAXPOOL:
    case LK_AVGPOOL:
    case LK_GAP: {
        int gap = q->kind == LK_GAP;
        fprintf(g->f, "    qd_pool(%s, %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %u);\n", out, in,
                q->in_c, q->in_h, q->in_w, q->h, q->w, gap ? q->in_h : q->kernel,
                gap ? 1 : q->stride, gap ? 0 : q->pad, q->kind == LK_MAXPOOL ? !codes : 2,
                L->zero_code);
        break;
    }
    case LK_ADD:
        fprintf(g->f, "    qd_add_f(%s, %s, %s, %d);\n", out, in,
                tensor(g, q->in[1], in2, sizeof in2, 1), n);
        break;
    }
}

static void emit_infer(cgen *g)
{
    FILE *f = g->f;
    char last[96];
    fprintf(f, "static float qd_arena[%zu]; /* every tensor, placed by liveness */\n",
            (g->arena + 3) / 4 + 1);
    fprintf(f, "static int16_t qd_wrow_i[%d];\nstatic float qd_wrow_f[%d];\n\n", g->max_k,
            g->max_k);
    fprintf(f, "int %s_infer(const float *input, float *logits)\n{\n", g->prefix);
    fputs("    uint8_t *qd_a = (uint8_t *)qd_arena;\n    int best = 0;\n", f);
    fputs("    (void)qd_wrow_i, (void)qd_wrow_f, (void)qd_kernels;\n", f);
    for (int i = 0; i < g->qm->n_layers; i++) {
        const qrt_lplan *L = qrt_plan_layer(g->rt, i);
        if (L->alias)
            continue;
        if (L->q.compute >= 0)
            emit_compute_call(g, i);
        else
            emit_other_call(g, i);
    }
    tensor(g, g->qm->n_layers - 1, last, sizeof last, 1);
    fprintf(f, "    memcpy(logits, %s, sizeof(float) * %d);\n", last, g->qm->classes);
    fprintf(f, "    for (int c = 1; c < %d; c++)\n        best = logits[c] > logits[best] ? c : best;\n",
            g->qm->classes);
    fputs("    return best;\n}\n", f);
}

/* ---- the files ---- */

static void upper(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)(src[i] >= 'a' && src[i] <= 'z' ? src[i] - 32 : src[i]);
    dst[i] = '\0';
}

static void emit_header(FILE *f, const qmodel *qm, const char *prefix, size_t arena)
{
    char P[64];
    upper(P, prefix, sizeof P);
    fprintf(f, "/*\n * %s.h: the model \"%s\" exported by quantd (format \"c\"). Generated: do "
               "not edit.\n *\n", prefix, qm->name);
    fprintf(f, " * %s_infer runs one image: input is %d x %d x %d floats (channel, row, column), "
               "normalised\n * as x = (pixel / 255 - mean) / std", prefix, qm->in_c, qm->in_h,
            qm->in_w);
    fprintf(f, "%s; logits receives %d floats; it returns the\n * arg-max class. It allocates "
               "nothing and uses %zu bytes of static memory, so it is not\n * reentrant.\n */\n",
            qm->has_norm ? " (mean and std below)" : "", qm->classes, arena);
    fprintf(f, "#ifndef %s_H\n#define %s_H\n\n", P, P);
    fprintf(f, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n#define %s_CLASSES "
               "%d\n#define %s_ARENA_BYTES %zu\n\n", P, qm->in_c, P, qm->in_h, P, qm->in_w, P,
            qm->classes, P, arena);
    if (qm->has_norm)
        fprintf(f, "extern const float %s_mean[%d], %s_std[%d];\n", prefix, qm->in_c, prefix,
                qm->in_c);
    fprintf(f, "int %s_infer(const float *input, float *logits);\n\n#endif\n", prefix);
}

static void emit_source(cgen *g)
{
    FILE *f = g->f;
    char name[64];
    fprintf(f, "/*\n * %s.c: the model \"%s\" exported by quantd (format \"c\"): %d layers, %d of "
               "them conv or\n * linear, weights packed at their bit-width. Generated: do not "
               "edit. Portable C11, no malloc.\n */\n",
            g->prefix, g->qm->name, g->qm->n_layers, g->qm->n_compute);
    fprintf(f, "#include \"%s.h\"\n\n%s\n/* ---- the model ---- */\n\n", g->prefix,
            export_c_kernels);
    if (g->qm->has_norm) {
        snprintf(name, sizeof name, "%s_mean", g->prefix);
        fprintf(f, "const float %s[%d] = {", name, g->qm->in_c);
        for (int c = 0; c < g->qm->in_c; c++) {
            fputs(c ? ", " : "", f);
            emit_float(f, g->qm->mean[c]);
        }
        fprintf(f, "};\nconst float %s_std[%d] = {", g->prefix, g->qm->in_c);
        for (int c = 0; c < g->qm->in_c; c++) {
            fputs(c ? ", " : "", f);
            emit_float(f, g->qm->std[c]);
        }
        fputs("};\n\n", f);
    }
    for (int ci = 0; ci < g->qm->n_compute; ci++)
        emit_layer_struct(g, ci);
    emit_infer(g);
}

static int write_one(const char *path, cgen *g, int header, qd_err *err)
{
    g->f = fopen(path, "w");
    if (!g->f)
        return qd_fail(err, QD_EIO, NULL, "cannot create %s", path);
    if (header)
        emit_header(g->f, g->qm, g->prefix, g->arena);
    else
        emit_source(g);
    if (ferror(g->f) | (fclose(g->f) != 0))
        return qd_fail(err, QD_EIO, NULL, "cannot write %s", path);
    return 0;
}

int export_c_write(const qmodel *qm, const char *dir, const char *prefix, qd_err *err)
{
    qrt *rt = NULL;
    cgen g = {.qm = qm, .prefix = prefix};
    char path[4400];
    int rc = qrt_create(&rt, qm, 1, 1, err);
    g.rt = rt;
    g.buf = calloc((size_t)qm->n_layers, sizeof *g.buf);
    g.qin = calloc((size_t)qm->n_layers, sizeof *g.qin);
    if (rc == 0 && (!g.buf || !g.qin))
        rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    if (rc == 0) {
        plan_arena(&g);
        /* the source first: it sizes max_k, which the header does not need */
        snprintf(path, sizeof path, "%s/%s.c", dir, prefix);
        rc = write_one(path, &g, 0, err);
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/%s.h", dir, prefix);
        rc = write_one(path, &g, 1, err);
    }
    free(g.buf);
    free(g.qin);
    qrt_free(rt);
    return rc;
}
