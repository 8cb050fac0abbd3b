/*
 * export_onnx.c: writes an exported model as ONNX (format "onnx"), through protobuf-c and the
 * onnx.proto of Debian's libonnx-dev (the C code is generated into the build directory; builds
 * without them answer export_onnx_available() == 0 and refuse the format).
 *
 * The graph is a QDQ model at opset 13 (IR version 8, ONNX 1.12), input "input" [N, C, H, W]
 * normalised floats, output "logits" [N, classes]:
 * - integer input activations: QuantizeLinear (uint8 or int8 containers, the layer's scale and
 *   zero point), a Clip to the b-bit code range when b < 8, DequantizeLinear;
 * - integer weights: int8 initializers holding the codes, DequantizeLinear with per-channel
 *   (axis 0) or per-tensor scales and zero points; a folded batch norm's positive post-scales
 *   fold into those scales, others become a Mul after the Conv/Gemm;
 * - minifloat weights: float32 initializers holding exactly the decoded values (ONNX before 1.14
 *   has no 8-bit float types, and none of them has ExMy below 8 bits);
 * - minifloat input activations: standard operators that round exactly as the format does:
 *   the binade from a chain of GreaterOrEqual/Where against its powers of two, Div by the
 *   quantum, Round (half to even), Mul back, Min with the largest value, the sign restored;
 * - Conv/Gemm with the float bias, Relu, MaxPool, AveragePool (count_include_pad), Global-
 *   AveragePool, Flatten, Add.
 * Everything is allocated from one pool freed at the end; tensor data is little-endian raw_data.
 */
#include "export.h"

#ifndef QD_HAVE_ONNX

int export_onnx_available(void) { return 0; }

int export_onnx_write(const qmodel *qm, const char *path, qd_err *err)
{
    (void)qm, (void)path;
    return qd_fail(err, QD_EINVAL, "format",
                   "this quantd was built without ONNX support (protobuf-c and libonnx-dev's "
                   "onnx.proto): `make deps` installs them");
}

#else

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#define OPSET 13
#define IR_VERSION 8
#define POOL_CAP 65536

typedef struct ox {
    void **blocks;                   /* every allocation, freed together */
    size_t n_blocks, cap_blocks;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    int oom, counter;
    const qmodel *qm;
    char **names;                    /* per layer: its output tensor */
    int *rank;                       /* per layer: 4 (N, C, H, W) or 2 (N, C) */
} ox;

/* ---- the pool ---- */

static void *ox_alloc(ox *o, size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p || (o->n_blocks == o->cap_blocks &&
               !(o->blocks = realloc(o->blocks, sizeof(void *) *
                                                    (o->cap_blocks = o->cap_blocks * 2 + 64))))) {
        free(p);
        o->oom = 1;
        return NULL;
    }
    o->blocks[o->n_blocks++] = p;
    return p;
}

static char *ox_str(ox *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *ox_str(ox *o, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = ox_alloc(o, strlen(buf) + 1);
    if (s)
        memcpy(s, buf, strlen(buf) + 1);
    return s ? s : "";
}

static void push(ox *o, void ***arr, size_t *n, size_t *cap, void *item)
{
    if (!item || o->oom)
        return;
    if (*n == *cap) {
        void **p = realloc(*arr, sizeof(void *) * (*cap * 2 + 16));
        if (!p) {
            o->oom = 1;
            return;
        }
        *arr = p, *cap = *cap * 2 + 16;
    }
    (*arr)[(*n)++] = item;
}

/* ---- tensors and nodes ---- */

/* An initializer named name: dims[0..nd), data of elem bytes per element. */
static const char *init(ox *o, const char *name, int type, const int64_t *dims, int nd,
                        const void *data, size_t elem)
{
    Onnx__TensorProto *t = ox_alloc(o, sizeof *t);
    int64_t *d = ox_alloc(o, sizeof(int64_t) * (size_t)(nd ? nd : 1));
    size_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= (size_t)dims[i];
    uint8_t *raw = ox_alloc(o, n * elem);
    if (!t || !d || !raw)
        return name;
    onnx__tensor_proto__init(t);
    if (nd)
        memcpy(d, dims, sizeof(int64_t) * (size_t)nd);
    memcpy(raw, data, n * elem); /* little-endian hosts only (x86-64, arm64) */
    t->name = (char *)name, t->n_dims = (size_t)nd, t->dims = d;
    t->has_data_type = 1, t->data_type = type;
    t->has_raw_data = 1, t->raw_data.len = n * elem, t->raw_data.data = raw;
    push(o, (void ***)&o->inits, &o->n_inits, &o->cap_inits, t);
    return name;
}

static const char *scalar_f(ox *o, float v)
{
    return init(o, ox_str(o, "c%d", o->counter++), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, 0,
                &v, 4);
}

static Onnx__AttributeProto *attr_ints(ox *o, const char *name, const int64_t *v, int n)
{
    Onnx__AttributeProto *a = ox_alloc(o, sizeof *a);
    int64_t *d = ox_alloc(o, sizeof(int64_t) * (size_t)n);
    if (!a || !d)
        return NULL;
    onnx__attribute_proto__init(a);
    memcpy(d, v, sizeof(int64_t) * (size_t)n);
    a->name = (char *)name, a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)n, a->ints = d;
    return a;
}

static Onnx__AttributeProto *attr_int(ox *o, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ox_alloc(o, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name, a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1, a->i = v;
    return a;
}

/* A node op(inputs) -> a new tensor, whose name it returns; attrs NULL-terminated. */
static const char *node(ox *o, const char *op, const char *out, int nin, const char **in,
                        Onnx__AttributeProto **attrs)
{
    Onnx__NodeProto *n = ox_alloc(o, sizeof *n);
    char **ins = ox_alloc(o, sizeof(char *) * (size_t)nin), **outs = ox_alloc(o, sizeof(char *));
    if (!out)
        out = ox_str(o, "t%d", o->counter++);
    if (!n || !ins || !outs)
        return out;
    onnx__node_proto__init(n);
    for (int i = 0; i < nin; i++)
        ins[i] = (char *)in[i];
    outs[0] = (char *)out;
    n->op_type = (char *)op, n->name = ox_str(o, "n%zu_%s", o->n_nodes, op);
    n->n_input = (size_t)nin, n->input = ins, n->n_output = 1, n->output = outs;
    size_t na = 0;
    while (attrs && attrs[na])
        na++;
    n->n_attribute = na, n->attribute = attrs;
    push(o, (void ***)&o->nodes, &o->n_nodes, &o->cap_nodes, n);
    return out;
}

static const char *op1(ox *o, const char *op, const char *a)
{
    return node(o, op, NULL, 1, &a, NULL);
}

static const char *op2(ox *o, const char *op, const char *a, const char *b)
{
    const char *in[2] = {a, b};
    return node(o, op, NULL, 2, in, NULL);
}

static const char *op3(ox *o, const char *op, const char *a, const char *b, const char *c)
{
    const char *in[3] = {a, b, c};
    return node(o, op, NULL, 3, in, NULL);
}

/* ---- quantizers ---- */

static const char *act_int(ox *o, const char *x, const qm_compute *c, int ci)
{
    int lo, hi, type = c->aq.is_signed ? ONNX__TENSOR_PROTO__DATA_TYPE__INT8
                                       : ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    qm_int_range(&c->aq, &lo, &hi);
    uint8_t zp = (uint8_t)c->a_zp, blo = (uint8_t)lo, bhi = (uint8_t)hi;
    const char *s = scalar_f(o, c->a_scale);
    const char *z = init(o, ox_str(o, "L%d_a_zero_point", ci), type, NULL, 0, &zp, 1);
    const char *q = op3(o, "QuantizeLinear", x, s, z);
    if (c->aq.bits < 8) /* b-bit codes in an 8-bit container */
        q = op3(o, "Clip", q, init(o, ox_str(o, "L%d_a_lo", ci), type, NULL, 0, &blo, 1),
                init(o, ox_str(o, "L%d_a_hi", ci), type, NULL, 0, &bhi, 1));
    return op3(o, "DequantizeLinear", q, s, z);
}

/* Rounds x / s to the minifloat format exactly, times s (see the file's comment). */
static const char *act_minifloat(ox *o, const char *x, const qm_compute *c)
{
    const minifloat_fmt *f = &c->aq.mf;
    const float max = minifloat_max(*f);
    const int m = f->m, emin = 1 - f->bias;
    const int emax = max >= ldexpf(1.0f, emin) ? ilogbf(max) : emin;
    const char *v = op2(o, "Mul", x, scalar_f(o, 1.0f / c->a_scale));
    const char *a = op1(o, "Abs", v), *sg = op1(o, "Sign", v);
    const char *q = scalar_f(o, ldexpf(1.0f, emin - m));
    for (int e = emin + 1; e <= emax; e++) /* the quantum of a's binade */
        q = op3(o, "Where", op2(o, "GreaterOrEqual", a, scalar_f(o, ldexpf(1.0f, e))),
                scalar_f(o, ldexpf(1.0f, e - m)), q);
    const char *t = op2(o, "Min", op2(o, "Div", a, q), scalar_f(o, ldexpf(1.0f, m + 2)));
    const char *r = op2(o, "Min", op2(o, "Mul", op1(o, "Round", t), q), scalar_f(o, max));
    return op2(o, "Mul", op2(o, "Mul", r, sg), scalar_f(o, c->a_scale));
}

static const char *act_quant(ox *o, const char *x, const qm_compute *c, int ci)
{
    if (c->aq.format == QM_INT)
        return act_int(o, x, c, ci);
    if (c->aq.format == QM_MINIFLOAT)
        return act_minifloat(o, x, c);
    return x;
}

/* ---- weights ---- */

static int positive_post(const qm_compute *c)
{
    for (int i = 0; c->post_scale && i < c->oc; i++)
        if (!(c->post_scale[i] > 0.0f))
            return 0;
    return 1;
}

/* The float weights of compute layer ci; *folded tells whether the post-scale is in them. */
static const char *weights(ox *o, const qm_compute *c, const qm_layer *L, int ci, int *folded)
{
    int64_t dims[4] = {c->oc, L->kind == LK_CONV ? L->in_c : c->k, L->kernel, L->kernel};
    int nd = L->kind == LK_CONV ? 4 : 2;
    size_t n = (size_t)c->oc * c->k;
    *folded = 0;
    if (c->wq.format != QM_INT) {
        float *w = ox_alloc(o, sizeof(float) * n);
        if (w)
            qmodel_decode_weights(o->qm, ci, w); /* exact: the values the model computes with */
        return init(o, ox_str(o, "L%d_weight", ci), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims,
                    nd, w ? (void *)w : (void *)"", w ? 4 : 0);
    }
    int8_t *q = ox_alloc(o, n), *zp = ox_alloc(o, (size_t)c->oc);
    float *s = ox_alloc(o, sizeof(float) * (size_t)c->oc);
    if (!q || !zp || !s)
        return "";
    for (size_t i = 0; i < n; i++)
        q[i] = (int8_t)qm_int_value(qm_code_get(c->codes, i, c->wq.bits), &c->wq);
    *folded = c->post_scale && positive_post(c);
    int per_axis = c->per_channel || *folded, groups = per_axis ? c->oc : 1;
    for (int g = 0; g < groups; g++) {
        int src = c->per_channel ? g : 0;
        s[g] = c->w_scale[src] * (*folded ? c->post_scale[g] : 1.0f);
        zp[g] = c->w_zp[src];
    }
    int64_t gd = groups;
    const char *in[3] = {
        init(o, ox_str(o, "L%d_weight_q", ci), ONNX__TENSOR_PROTO__DATA_TYPE__INT8, dims, nd, q, 1),
        init(o, ox_str(o, "L%d_weight_scale", ci), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &gd,
             per_axis, s, 4),
        init(o, ox_str(o, "L%d_weight_zero_point", ci), ONNX__TENSOR_PROTO__DATA_TYPE__INT8, &gd,
             per_axis, zp, 1)};
    Onnx__AttributeProto **at = ox_alloc(o, sizeof *at * 2);
    if (at && per_axis)
        at[0] = attr_int(o, "axis", 0);
    return node(o, "DequantizeLinear", NULL, 3, in, at);
}

/* ---- layers ---- */

static int fail_rank(const qm_layer *L, qd_err *err)
{
    return qd_fail(err, QD_EINVAL, "format",
                   "ONNX export: layer %s (%s) reads a flat tensor; this export writes spatial "
                   "layers only on [N, C, H, W] tensors",
                   L->name, layer_kind_name(L->kind));
}

static int compute_layer(ox *o, int i, const char *x, qd_err *err)
{
    const qm_layer *L = &o->qm->layers[i];
    const qm_compute *c = &o->qm->compute[L->compute];
    const int conv = L->kind == LK_CONV, rank_in = L->in[0] >= 0 ? o->rank[L->in[0]] : 4;
    if (conv && rank_in != 4)
        return fail_rank(L, err);
    int folded;
    x = act_quant(o, x, c, L->compute);
    if (!conv && rank_in == 4)
        x = node(o, "Flatten", NULL, 1, &x, NULL);
    const char *w = weights(o, c, L, L->compute, &folded);
    const int post = c->post_scale && !folded;
    int64_t bd[4] = {1, c->oc, 1, 1};
    const char *bias = c->bias ? init(o, ox_str(o, "L%d_bias", L->compute),
                                      ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, bd + 1, 1, c->bias, 4)
                               : NULL;
    const char *in[3] = {x, w, post ? NULL : bias};
    Onnx__AttributeProto **at = ox_alloc(o, sizeof *at * 4);
    if (at && conv) {
        int64_t ks[2] = {L->kernel, L->kernel}, st[2] = {L->stride, L->stride};
        int64_t pd[4] = {L->pad, L->pad, L->pad, L->pad};
        at[0] = attr_ints(o, "kernel_shape", ks, 2);
        at[1] = attr_ints(o, "strides", st, 2);
        at[2] = attr_ints(o, "pads", pd, 4);
    } else if (at) {
        at[0] = attr_int(o, "transB", 1);
    }
    const char *y = node(o, conv ? "Conv" : "Gemm", NULL, in[2] ? 3 : 2, in, at);
    if (post) { /* out = post * (W x) + bias, per channel */
        y = op2(o, "Mul", y, init(o, ox_str(o, "L%d_post_scale", L->compute),
                                  ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, bd, conv ? 4 : 2,
                                  c->post_scale, 4));
        if (c->bias)
            y = op2(o, "Add", y, init(o, ox_str(o, "L%d_bias_b", L->compute),
                                      ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, bd, conv ? 4 : 2,
                                      c->bias, 4));
    }
    o->names[i] = (char *)y;
    o->rank[i] = conv ? 4 : 2;
    return 0;
}

static Onnx__AttributeProto **pool_attrs(ox *o, const qm_layer *L)
{
    Onnx__AttributeProto **at = ox_alloc(o, sizeof *at * 5);
    int64_t ks[2] = {L->kernel, L->kernel}, st[2] = {L->stride, L->stride};
    int64_t pd[4] = {L->pad, L->pad, L->pad, L->pad};
    if (!at)
        return NULL;
    at[0] = attr_ints(o, "kernel_shape", ks, 2);
    at[1] = attr_ints(o, "strides", st, 2);
    at[2] = attr_ints(o, "pads", pd, 4);
    if (L->kind == LK_AVGPOOL)
        at[3] = attr_int(o, "count_include_pad", 1); /* core/layers.c divides by k * k */
    return at;
}

static int other_layer(ox *o, int i, const char *x, qd_err *err)
{
    const qm_layer *L = &o->qm->layers[i];
    int rank = L->in[0] >= 0 ? o->rank[L->in[0]] : 4, spatial = 0;
    const char *y = x, *ab[2];
    switch (L->kind) {
    case LK_RELU:
        y = op1(o, "Relu", x);
        break;
    case LK_MAXPOOL:
    case LK_AVGPOOL:
        spatial = 1;
        y = node(o, L->kind == LK_MAXPOOL ? "MaxPool" : "AveragePool", NULL, 1, &x,
                 pool_attrs(o, L));
        break;
    case LK_GAP:
        spatial = 1;
        if (L->in_h != L->in_w)
            return qd_fail(err, QD_EINVAL, "format",
                           "ONNX export: global average pooling of the non-square %dx%d input "
                           "of layer %s has no ONNX operator",
                           L->in_h, L->in_w, L->name);
        y = op1(o, "GlobalAveragePool", x);
        break;
    case LK_FLATTEN:
        y = node(o, "Flatten", NULL, 1, &x, NULL);
        rank = 2;
        break;
    case LK_ADD:
        ab[0] = x, ab[1] = L->in[1] >= 0 ? o->names[L->in[1]] : "input";
        if ((L->in[1] >= 0 ? o->rank[L->in[1]] : 4) != rank)
            return fail_rank(L, err);
        y = node(o, "Add", NULL, 2, ab, NULL);
        break;
    }
    if (spatial && rank != 4)
        return fail_rank(L, err);
    o->names[i] = (char *)y;
    o->rank[i] = rank;
    return 0;
}

/* ---- the model ---- */

static Onnx__ValueInfoProto *value_info(ox *o, const char *name, const int64_t *dims, int nd)
{
    Onnx__ValueInfoProto *v = ox_alloc(o, sizeof *v);
    Onnx__TypeProto *t = ox_alloc(o, sizeof *t);
    Onnx__TypeProto__Tensor *tt = ox_alloc(o, sizeof *tt);
    Onnx__TensorShapeProto *sh = ox_alloc(o, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **d = ox_alloc(o, sizeof *d * (size_t)nd);
    if (!v || !t || !tt || !sh || !d)
        return v;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < nd; i++) {
        if (!(d[i] = ox_alloc(o, sizeof *d[i])))
            return v;
        onnx__tensor_shape_proto__dimension__init(d[i]);
        if (dims[i] < 0) {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d[i]->dim_param = "N";
        } else {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d[i]->dim_value = dims[i];
        }
    }
    sh->n_dim = (size_t)nd, sh->dim = d;
    tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, t->tensor_type = tt;
    v->name = (char *)name, v->type = t;
    return v;
}

static int build_graph(ox *o, Onnx__GraphProto *g, qd_err *err)
{
    const qmodel *qm = o->qm;
    int rc = 0;
    for (int i = 0; i < qm->n_layers && rc == 0; i++) {
        const qm_layer *L = &qm->layers[i];
        const char *x = L->in[0] >= 0 ? o->names[L->in[0]] : "input";
        rc = L->compute >= 0 ? compute_layer(o, i, x, err) : other_layer(o, i, x, err);
    }
    if (rc < 0)
        return rc;
    const char *last = o->names[qm->n_layers - 1];
    node(o, "Flatten", "logits", 1, &last, NULL);
    int64_t in_dims[4] = {-1, qm->in_c, qm->in_h, qm->in_w}, out_dims[2] = {-1, qm->classes};
    Onnx__ValueInfoProto **ins = ox_alloc(o, sizeof *ins), **outs = ox_alloc(o, sizeof *outs);
    if (!ins || !outs)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    ins[0] = value_info(o, "input", in_dims, 4);
    outs[0] = value_info(o, "logits", out_dims, 2);
    g->name = ox_str(o, "%s", qm->name);
    g->n_node = o->n_nodes, g->node = o->nodes;
    g->n_initializer = o->n_inits, g->initializer = o->inits;
    g->n_input = 1, g->input = ins, g->n_output = 1, g->output = outs;
    return 0;
}

static char *doc(ox *o)
{
    const qmodel *qm = o->qm;
    char norm[128] = "";
    if (qm->has_norm)
        snprintf(norm, sizeof norm, " Input normalisation: x = (pixel / 255 - %g) / %g%s.",
                 (double)qm->mean[0], (double)qm->std[0], qm->in_c > 1 ? " (first channel)" : "");
    return ox_str(o, "Model %s exported by quantd: QDQ integer layers, minifloat layers as exact "
                     "float weights and rounding subgraphs.%s",
                  qm->name, norm);
}

static int write_model(ox *o, Onnx__ModelProto *m, const char *path, qd_err *err)
{
    size_t len = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for a %zu-byte ONNX model", len);
    onnx__model_proto__pack(m, buf);
    (void)o;
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len;
    ok = (f && fclose(f) == 0) && ok && rename(tmp, path) == 0;
    free(buf);
    if (!ok) {
        remove(tmp);
        return qd_fail(err, QD_EIO, NULL, "cannot write %s", path);
    }
    return 0;
}

int export_onnx_available(void) { return 1; }

int export_onnx_write(const qmodel *qm, const char *path, qd_err *err)
{
    ox o = {.qm = qm};
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1] = {&opset};
    onnx__model_proto__init(&model);
    onnx__graph_proto__init(&graph);
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "", opset.has_version = 1, opset.version = OPSET;
    o.names = ox_alloc(&o, sizeof(char *) * (size_t)qm->n_layers);
    o.rank = ox_alloc(&o, sizeof(int) * (size_t)qm->n_layers);
    int rc = o.names && o.rank ? build_graph(&o, &graph, err) : QD_ENOMEM;
    if (rc == 0 && o.oom)
        rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory building the ONNX model");
    if (rc == 0) {
        model.has_ir_version = 1, model.ir_version = IR_VERSION;
        model.n_opset_import = 1, model.opset_import = opsets;
        model.producer_name = "quantd", model.producer_version = "0.1.0";
        model.doc_string = doc(&o), model.graph = &graph;
        rc = write_model(&o, &model, path, err);
    }
    for (size_t i = 0; i < o.n_blocks; i++)
        free(o.blocks[i]);
    free(o.blocks);
    free(o.nodes);
    free(o.inits);
    return rc == QD_ENOMEM && err && !err->msg[0] ? qd_fail(err, rc, NULL, "out of memory") : rc;
}

#endif
