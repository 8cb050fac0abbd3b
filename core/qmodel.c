/*
 * qmodel.c: the qmodel file (schema/qmodel.md): packed codes, the writer, and the reader that
 * validates everything before it returns a model.
 *
 * The file is little-endian and has no padding: a 64-byte header, the input normalisation (when
 * known), a 64-byte record per layer, a 48-byte record per compute layer, each compute layer's
 * data block (scales, zero points, post-scales, biases, packed codes) in order, and a CRC-32
 * (zlib's) of every byte before it. Fields are read and written one by one through explicit
 * little-endian helpers, never by copying structs, so the layout is the documented one on any
 * host.
 *
 * Reader invariants: nothing is trusted until checked. The length, magic, version and header
 * size come first, then the checksum over the whole file, then every count, index, shape, offset
 * and value, so corrupt input of any kind is QD_EFORMAT or QD_ECHECKSUM with a message naming
 * what is wrong, and never reads outside the buffer. Called by the export job, the runtime's
 * loader (quantd infer) and the fuzz target.
 */
#include "qmodel.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define HEADER_BYTES 64
#define LAYER_BYTES 64
#define COMPUTE_BYTES 48
#define CRC_BYTES 4
#define FILE_CAP ((size_t)1 << 31) /* the largest file written or read */

enum { CF_POST = 1, CF_BIAS = 2 };   /* compute record flags */
enum { MF_IEEE = 1, MF_OCP = 2 };    /* minifloat flags */

/* ---- codes ---- */

uint32_t qm_code_get(const uint8_t *p, size_t i, int bits)
{
    size_t bit = i * (size_t)bits;
    uint32_t v = 0;
    for (int b = 0; b < bits; b++, bit++)
        v |= (uint32_t)((p[bit >> 3] >> (bit & 7)) & 1u) << b;
    return v;
}

void qm_code_put(uint8_t *p, size_t i, int bits, uint32_t code)
{
    size_t bit = i * (size_t)bits;
    for (int b = 0; b < bits; b++, bit++) {
        uint8_t m = (uint8_t)(1u << (bit & 7));
        p[bit >> 3] = (uint8_t)(((code >> b) & 1u) ? p[bit >> 3] | m : p[bit >> 3] & ~m);
    }
}

void qm_int_range(const qm_quant *q, int *lo, int *hi)
{
    if (q->is_signed && q->bits == 1)
        *lo = -1, *hi = 1;
    else if (q->is_signed)
        *lo = -(1 << (q->bits - 1)), *hi = (1 << (q->bits - 1)) - 1;
    else
        *lo = 0, *hi = (1 << q->bits) - 1;
}

int qm_int_value(uint32_t code, const qm_quant *q)
{
    if (!q->is_signed)
        return (int)code;
    if (q->bits == 1)
        return code ? 1 : -1;
    uint32_t sign = 1u << (q->bits - 1);
    return (int)(code ^ sign) - (int)sign;
}

static size_t codes_bytes_of(int oc, int k, int bits)
{
    return ((size_t)oc * (size_t)k * (size_t)bits + 7) / 8;
}

static int groups_of(const qm_compute *c)
{
    return c->wq.format == QM_FLOAT ? 0 : c->per_channel ? c->oc : 1;
}

void qmodel_decode_weights(const qmodel *qm, int ci, float *out)
{
    const qm_compute *c = &qm->compute[ci];
    const size_t n = (size_t)c->oc * c->k;
    float lut[256];
    if (c->wq.format == QM_MINIFLOAT)
        for (int j = 0; j < (1 << c->wq.bits); j++)
            lut[j] = minifloat_decode(c->wq.mf, (uint32_t)j);
    for (size_t i = 0; i < n; i++) {
        uint32_t code = qm_code_get(c->codes, i, c->wq.bits);
        int g = c->per_channel ? (int)(i / (size_t)c->k) : 0;
        if (c->wq.format == QM_FLOAT) {
            memcpy(&out[i], &code, sizeof code);
        } else if (c->wq.format == QM_INT) {
            out[i] = (float)(qm_int_value(code, &c->wq) - c->w_zp[g]) * c->w_scale[g];
        } else {
            out[i] = lut[code] * c->w_scale[g];
        }
    }
}

void qmodel_int_weights(const qmodel *qm, int ci, int32_t *out)
{
    const qm_compute *c = &qm->compute[ci];
    const size_t n = (size_t)c->oc * c->k;
    for (size_t i = 0; i < n; i++) {
        int g = c->per_channel ? (int)(i / (size_t)c->k) : 0;
        out[i] = qm_int_value(qm_code_get(c->codes, i, c->wq.bits), &c->wq) - c->w_zp[g];
    }
}

const char *qm_quant_name(const qm_quant *q, char *buf, size_t cap)
{
    if (q->format == QM_FLOAT)
        snprintf(buf, cap, "float");
    else if (q->format == QM_INT)
        snprintf(buf, cap, "%sint%d", q->is_signed ? "" : "u", q->bits);
    else
        snprintf(buf, cap, "e%dm%d", q->mf.e, q->mf.m);
    return buf;
}

/* ---- sizes and allocation ---- */

static size_t data_bytes_of(const qm_compute *c)
{
    int g = groups_of(c);
    size_t n = 4 * (size_t)g + (c->wq.format == QM_INT ? (size_t)g : 0);
    n += c->post_scale ? 4 * (size_t)c->oc : 0;
    n += c->bias ? 4 * (size_t)c->oc : 0;
    return n + codes_bytes_of(c->oc, c->k, c->wq.bits);
}

static size_t tables_bytes(const qmodel *qm)
{
    return HEADER_BYTES + (qm->has_norm ? 8 * (size_t)qm->in_c : 0) +
           LAYER_BYTES * (size_t)qm->n_layers + COMPUTE_BYTES * (size_t)qm->n_compute;
}

size_t qmodel_payload_bytes(const qmodel *qm)
{
    size_t n = 0;
    for (int ci = 0; ci < qm->n_compute; ci++)
        n += data_bytes_of(&qm->compute[ci]);
    return n;
}

size_t qmodel_file_bytes(const qmodel *qm)
{
    return tables_bytes(qm) + qmodel_payload_bytes(qm) + CRC_BYTES;
}

void qmodel_free(qmodel *qm)
{
    if (!qm)
        return;
    free(qm->layers);
    free(qm->compute);
    free(qm->mem);
    free(qm);
}

/*
 * Carve every compute layer's arrays from one block. Before the call each compute record has
 * oc, k, wq, per_channel set, and post_scale / bias set to any non-NULL value where wanted.
 */
int qmodel_alloc_arrays(qmodel *qm, qd_err *err)
{
    size_t total = 0;
    for (int ci = 0; ci < qm->n_compute; ci++) /* zero points of every format, + alignment */
        total += data_bytes_of(&qm->compute[ci]) + (size_t)groups_of(&qm->compute[ci]) + 16;
    unsigned char *p = calloc(1, total + 16);
    if (!p)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory for a %zu-byte model", total);
    qm->mem = p;
    for (int ci = 0; ci < qm->n_compute; ci++) {
        qm_compute *c = &qm->compute[ci];
        int g = groups_of(c);
        c->w_scale = (float *)p, p += 4 * (size_t)g;
        if (c->post_scale)
            c->post_scale = (float *)p, p += 4 * (size_t)c->oc;
        if (c->bias)
            c->bias = (float *)p, p += 4 * (size_t)c->oc;
        c->w_zp = (int8_t *)p, p += (size_t)g;
        c->codes = p, c->codes_bytes = codes_bytes_of(c->oc, c->k, c->wq.bits);
        p += c->codes_bytes;
        p += (16 - ((uintptr_t)p & 15)) & 15;
    }
    return 0;
}

/* ---- little-endian cursor ---- */

typedef struct cur {
    uint8_t *w;           /* writing: the buffer */
    const uint8_t *r;     /* reading */
    size_t at, len;
} cur;

static void put_u(cur *c, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        c->w[c->at++] = (uint8_t)(v >> (8 * i));
}

static void put_f32(cur *c, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u(c, u, 4);
}

static void put_bytes(cur *c, const void *p, size_t n)
{
    memcpy(c->w + c->at, p, n);
    c->at += n;
}

/* The caller has checked that n bytes remain. */
static uint64_t get_u(cur *c, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)c->r[c->at++] << (8 * i);
    return v;
}

static int64_t get_s(cur *c, int n)
{
    uint64_t v = get_u(c, n), sign = 1ull << (8 * n - 1);
    return (int64_t)(v ^ sign) - (int64_t)sign;
}

static float get_f32(cur *c)
{
    uint32_t u = (uint32_t)get_u(c, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- writing ---- */

static void put_quant(cur *c, const qm_quant *q)
{
    int mf = q->format == QM_MINIFLOAT;
    put_u(c, (uint64_t)q->format, 1);
    put_u(c, (uint64_t)q->bits, 1);
    put_u(c, (uint64_t)(q->is_signed ? 1 : 0), 1);
    put_u(c, (uint64_t)(mf ? q->mf.e : 0), 1);
    put_u(c, (uint64_t)(mf ? q->mf.m : 0), 1);
    put_u(c, (uint64_t)(uint8_t)(int8_t)(mf ? q->mf.bias : 0), 1);
    put_u(c, (uint64_t)(mf ? (q->mf.ieee ? MF_IEEE : 0) | (q->mf.ocp ? MF_OCP : 0) : 0), 1);
    put_u(c, 0, 1);
}

static void put_header(cur *c, const qmodel *qm, size_t total)
{
    char name[QMODEL_NAME_LEN] = {0};
    snprintf(name, sizeof name, "%s", qm->name);
    put_bytes(c, QMODEL_MAGIC, 8);
    put_u(c, QMODEL_VERSION, 2);
    put_u(c, HEADER_BYTES, 2);
    put_u(c, total, 4);
    put_u(c, (uint64_t)qm->n_layers, 2);
    put_u(c, (uint64_t)qm->n_compute, 2);
    put_u(c, (uint64_t)qm->in_c, 2);
    put_u(c, (uint64_t)qm->in_h, 2);
    put_u(c, (uint64_t)qm->in_w, 2);
    put_u(c, (uint64_t)qm->classes, 2);
    put_u(c, (uint64_t)(qm->has_norm ? 1 : 0), 4);
    put_bytes(c, name, sizeof name);
    for (int i = 0; qm->has_norm && i < 2 * qm->in_c; i++)
        put_f32(c, i < qm->in_c ? qm->mean[i] : qm->std[i - qm->in_c]);
}

static void put_layer(cur *c, const qm_layer *L)
{
    char name[QMODEL_NAME_LEN] = {0};
    snprintf(name, sizeof name, "%s", L->name);
    put_u(c, (uint64_t)L->kind, 1);
    put_u(c, (uint64_t)L->nin, 1);
    put_u(c, (uint64_t)(L->bias ? 1 : 0), 1);
    put_u(c, 0, 1);
    put_u(c, (uint64_t)(uint32_t)L->in[0], 4);
    put_u(c, (uint64_t)(uint32_t)(L->nin > 1 ? L->in[1] : -1), 4);
    put_u(c, (uint64_t)L->out, 4);
    put_u(c, (uint64_t)L->kernel, 2);
    put_u(c, (uint64_t)L->stride, 2);
    put_u(c, (uint64_t)L->pad, 2);
    put_u(c, (uint64_t)(uint16_t)(int16_t)L->compute, 2);
    put_u(c, (uint64_t)L->c, 4);
    put_u(c, (uint64_t)L->h, 2);
    put_u(c, (uint64_t)L->w, 2);
    put_bytes(c, name, sizeof name);
}

static void put_compute(cur *c, const qm_compute *q, size_t offset)
{
    put_u(c, (uint64_t)q->layer, 2);
    put_u(c, (uint64_t)(q->per_channel ? 1 : 0), 1);
    put_u(c, (uint64_t)((q->post_scale ? CF_POST : 0) | (q->bias ? CF_BIAS : 0)), 1);
    put_u(c, (uint64_t)q->oc, 4);
    put_u(c, (uint64_t)q->k, 4);
    put_quant(c, &q->wq);
    put_quant(c, &q->aq);
    put_f32(c, q->aq.format == QM_FLOAT ? 0.0f : q->a_scale);
    put_u(c, (uint64_t)(uint32_t)(q->aq.format == QM_FLOAT ? 0 : q->a_zp), 4);
    put_u(c, offset, 4);
    put_u(c, data_bytes_of(q), 4);
    put_u(c, q->codes_bytes, 4);
}

static void put_data(cur *c, const qm_compute *q)
{
    int g = groups_of(q);
    for (int i = 0; i < g; i++)
        put_f32(c, q->w_scale[i]);
    for (int i = 0; q->wq.format == QM_INT && i < g; i++)
        put_u(c, (uint64_t)(uint8_t)q->w_zp[i], 1);
    for (int i = 0; q->post_scale && i < q->oc; i++)
        put_f32(c, q->post_scale[i]);
    for (int i = 0; q->bias && i < q->oc; i++)
        put_f32(c, q->bias[i]);
    put_bytes(c, q->codes, q->codes_bytes);
}

int qmodel_write_mem(const qmodel *qm, uint8_t **buf, size_t *len, qd_err *err)
{
    const size_t total = qmodel_file_bytes(qm);
    *buf = NULL, *len = 0;
    if (total >= FILE_CAP)
        return qd_fail(err, QD_EINVAL, NULL, "the model is too large for a qmodel file (%zu bytes)",
                       total);
    cur c = {.w = malloc(total), .len = total};
    if (!c.w)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory writing a %zu-byte model", total);
    put_header(&c, qm, total);
    for (int i = 0; i < qm->n_layers; i++)
        put_layer(&c, &qm->layers[i]);
    size_t offset = tables_bytes(qm);
    for (int ci = 0; ci < qm->n_compute; ci++) {
        put_compute(&c, &qm->compute[ci], offset);
        offset += data_bytes_of(&qm->compute[ci]);
    }
    for (int ci = 0; ci < qm->n_compute; ci++)
        put_data(&c, &qm->compute[ci]);
    put_u(&c, (uint32_t)crc32(0L, c.w, (uInt)c.at), 4);
    *buf = c.w, *len = c.at;
    return 0;
}

int qmodel_save(const char *path, const qmodel *qm, qd_err *err)
{
    uint8_t *buf;
    size_t len;
    int rc = qmodel_write_mem(qm, &buf, &len, err);
    if (rc < 0)
        return rc;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        int e = errno;
        if (f)
            fclose(f);
        unlink(tmp);
        free(buf);
        return qd_fail(err, e == ENOSPC ? QD_ENOSPC : QD_EIO, path, "cannot write %s: %s", tmp,
                       strerror(e));
    }
    free(buf);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return qd_fail(err, QD_EIO, path, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

/* ---- reading: the shape of the file ---- */

#define BAD(...) qd_fail(err, QD_EFORMAT, NULL, __VA_ARGS__)

static int read_header(cur *c, qmodel *qm, size_t *file_bytes, qd_err *err)
{
    if (c->len < HEADER_BYTES + CRC_BYTES)
        return BAD("not a qmodel: %zu bytes, a qmodel has at least %d", c->len,
                   HEADER_BYTES + CRC_BYTES);
    if (memcmp(c->r, QMODEL_MAGIC, 8) != 0)
        return BAD("not a qmodel (bad magic: expected \"%s\")", QMODEL_MAGIC);
    c->at = 8;
    unsigned version = (unsigned)get_u(c, 2), hb = (unsigned)get_u(c, 2);
    if (version != QMODEL_VERSION)
        return BAD("qmodel version %u; this build reads version %d", version, QMODEL_VERSION);
    if (hb != HEADER_BYTES)
        return BAD("header size %u; version %d has %d", hb, QMODEL_VERSION, HEADER_BYTES);
    *file_bytes = (size_t)get_u(c, 4);
    if (*file_bytes > c->len)
        return BAD("truncated: the header says %zu bytes, there are %zu", *file_bytes, c->len);
    if (*file_bytes < c->len)
        return BAD("%zu unexpected bytes after the end of the model (%zu bytes)",
                   c->len - *file_bytes, *file_bytes);
    cur t = {.r = c->r + c->len - CRC_BYTES, .len = CRC_BYTES};
    uint32_t stored = (uint32_t)get_u(&t, 4);
    if ((uint32_t)crc32(0L, c->r, (uInt)(c->len - 4)) != stored)
        return qd_fail(err, QD_ECHECKSUM, NULL, "qmodel is corrupt: CRC-32 mismatch");
    qm->n_layers = (int)get_u(c, 2);
    qm->n_compute = (int)get_u(c, 2);
    qm->in_c = (int)get_u(c, 2), qm->in_h = (int)get_u(c, 2), qm->in_w = (int)get_u(c, 2);
    qm->classes = (int)get_u(c, 2);
    uint64_t norm = get_u(c, 4);
    memcpy(qm->name, c->r + c->at, QMODEL_NAME_LEN);
    c->at += QMODEL_NAME_LEN;
    if (qm->name[QMODEL_NAME_LEN - 1] != '\0')
        return BAD("model name is not NUL-terminated");
    if (norm > 1 || (norm && qm->in_c > 4))
        return BAD("bad normalisation flag %llu for %d input channels", (unsigned long long)norm,
                   qm->in_c);
    qm->has_norm = (int)norm;
    if (qm->n_layers < 1 || qm->n_layers > MODEL_MAX_LAYERS || qm->n_compute < 1 ||
        qm->n_compute > qm->n_layers)
        return BAD("bad layer counts: %d layers, %d compute layers", qm->n_layers, qm->n_compute);
    if (qm->in_c < 1 || qm->in_c > QMODEL_MAX_DIM || qm->in_h < 1 || qm->in_h > QMODEL_MAX_DIM ||
        qm->in_w < 1 || qm->in_w > QMODEL_MAX_DIM || qm->classes < 1)
        return BAD("bad input shape %dx%dx%d or class count %d", qm->in_c, qm->in_h, qm->in_w,
                   qm->classes);
    if (tables_bytes(qm) + CRC_BYTES > c->len)
        return BAD("truncated: %zu bytes cannot hold %d layers", c->len, qm->n_layers);
    for (int i = 0; qm->has_norm && i < 2 * qm->in_c; i++) {
        float v = get_f32(c);
        if (!isfinite(v) || (i >= qm->in_c && !(v > 0.0f)))
            return BAD("bad input normalisation value %g", (double)v);
        (i < qm->in_c ? qm->mean : qm->std)[i % qm->in_c] = v;
    }
    return 0;
}

static int read_layer(cur *c, qm_layer *L, int i, qd_err *err)
{
    L->kind = (int)get_u(c, 1);
    L->nin = (int)get_u(c, 1);
    L->bias = (int)get_u(c, 1);
    int reserved = (int)get_u(c, 1);
    L->in[0] = (int)get_s(c, 4);
    L->in[1] = (int)get_s(c, 4);
    int64_t out = (int64_t)get_u(c, 4);
    L->kernel = (int)get_u(c, 2), L->stride = (int)get_u(c, 2), L->pad = (int)get_u(c, 2);
    L->compute = (int)get_s(c, 2);
    int64_t ch = (int64_t)get_u(c, 4);
    L->h = (int)get_u(c, 2), L->w = (int)get_u(c, 2);
    memcpy(L->name, c->r + c->at, QMODEL_NAME_LEN);
    c->at += QMODEL_NAME_LEN;
    if (L->name[QMODEL_NAME_LEN - 1] != '\0')
        return BAD("layer %d: name is not NUL-terminated", i);
    if (out > QMODEL_MAX_ELEMS || ch > QMODEL_MAX_ELEMS)
        return BAD("layer %d (%s): size out of range", i, L->name);
    L->out = (int)out, L->c = (int)ch;
    if (L->kind < 0 || L->kind >= LK_COUNT || L->kind == LK_BN)
        return BAD("layer %d (%s): kind %d is not a qmodel layer kind", i, L->name, L->kind);
    if (reserved || L->bias > 1 || L->nin != (L->kind == LK_ADD ? 2 : 1))
        return BAD("layer %d (%s): bad flags or input count", i, L->name);
    for (int k = 0; k < L->nin; k++)
        if (L->in[k] < -1 || L->in[k] >= i)
            return BAD("layer %d (%s): input %d is not an earlier layer", i, L->name, L->in[k]);
    if (L->nin == 1 && L->in[1] != -1)
        return BAD("layer %d (%s): unused second input must be -1", i, L->name);
    return 0;
}

/* ---- reading: shapes ---- */

static int spatial_ok(const qm_layer *L)
{
    return L->kernel >= 1 && L->kernel <= QMODEL_MAX_DIM && L->stride >= 1 &&
           L->stride <= QMODEL_MAX_DIM && L->pad >= 0 && L->pad < L->kernel &&
           L->in_h + 2 * L->pad >= L->kernel && L->in_w + 2 * L->pad >= L->kernel;
}

/* The output shape layer i must have; 0 or QD_EFORMAT. */
static int infer_shape(const qmodel *qm, int i, int *c, int *h, int *w, qd_err *err)
{
    qm_layer *L = &qm->layers[i];
    const qm_layer *p = L->in[0] >= 0 ? &qm->layers[L->in[0]] : NULL;
    L->in_c = p ? p->c : qm->in_c, L->in_h = p ? p->h : qm->in_h, L->in_w = p ? p->w : qm->in_w;
    *c = L->in_c, *h = L->in_h, *w = L->in_w;
    switch (L->kind) {
    case LK_CONV:
    case LK_MAXPOOL:
    case LK_AVGPOOL:
        if (!spatial_ok(L) || (L->kind == LK_CONV && (L->out < 1 || L->out > QMODEL_MAX_DIM)))
            return BAD("layer %d (%s): bad kernel, stride, padding or channels", i, L->name);
        *c = L->kind == LK_CONV ? L->out : L->in_c;
        *h = conv_out_size(L->in_h, L->kernel, L->stride, L->pad);
        *w = conv_out_size(L->in_w, L->kernel, L->stride, L->pad);
        return 0;
    case LK_LINEAR:
        if (L->in_h != 1 || L->in_w != 1 || L->out < 1 || L->out > QMODEL_MAX_ELEMS)
            return BAD("layer %d (%s): linear needs a flat input and 1 or more outputs", i,
                       L->name);
        *c = L->out;
        return 0;
    case LK_GAP:
        *h = *w = 1;
        return 0;
    case LK_FLATTEN:
        *c = L->in_c * L->in_h * L->in_w, *h = *w = 1;
        return 0;
    case LK_ADD: {
        const qm_layer *q = L->in[1] >= 0 ? &qm->layers[L->in[1]] : NULL;
        if ((q ? q->c : qm->in_c) != L->in_c || (q ? q->h : qm->in_h) != L->in_h ||
            (q ? q->w : qm->in_w) != L->in_w)
            return BAD("layer %d (%s): add inputs have different shapes", i, L->name);
        return 0;
    }
    }
    return 0; /* relu */
}

static int check_graph(qmodel *qm, qd_err *err)
{
    int n_compute = 0;
    for (int i = 0; i < qm->n_layers; i++) {
        qm_layer *L = &qm->layers[i];
        int c, h, w, rc = infer_shape(qm, i, &c, &h, &w, err);
        if (rc < 0)
            return rc;
        if (L->c != c || L->h != h || L->w != w)
            return BAD("layer %d (%s): stored shape %dx%dx%d, the graph gives %dx%dx%d", i,
                       L->name, L->c, L->h, L->w, c, h, w);
        if ((long)c * h * w > QMODEL_MAX_ELEMS)
            return BAD("layer %d (%s): output too large", i, L->name);
        int is_compute = L->kind == LK_CONV || L->kind == LK_LINEAR;
        if (L->compute != (is_compute ? n_compute : -1))
            return BAD("layer %d (%s): compute index %d, expected %d", i, L->name, L->compute,
                       is_compute ? n_compute : -1);
        n_compute += is_compute;
        if ((L->kind != LK_CONV && (L->kind != LK_MAXPOOL && L->kind != LK_AVGPOOL)) &&
            (L->kernel || L->stride || L->pad))
            return BAD("layer %d (%s): kernel fields set on a %s layer", i, L->name,
                       layer_kind_name(L->kind));
        if (!is_compute && (L->out || L->bias))
            return BAD("layer %d (%s): out or bias set on a %s layer", i, L->name,
                       layer_kind_name(L->kind));
    }
    const qm_layer *last = &qm->layers[qm->n_layers - 1];
    if (n_compute != qm->n_compute)
        return BAD("%d compute layers in the graph, the header says %d", n_compute,
                   qm->n_compute);
    if (last->c != qm->classes || last->h != 1 || last->w != 1)
        return BAD("the last layer gives %dx%dx%d values for %d classes", last->c, last->h,
                   last->w, qm->classes);
    return 0;
}

/* ---- reading: compute layers ---- */

static int read_quant(cur *c, qm_quant *q, int weights, const char *what, int ci, qd_err *err)
{
    q->format = (int)get_u(c, 1);
    q->bits = (int)get_u(c, 1);
    q->is_signed = (int)get_u(c, 1);
    int e = (int)get_u(c, 1), m = (int)get_u(c, 1), bias = (int)get_s(c, 1);
    int flags = (int)get_u(c, 1), reserved = (int)get_u(c, 1);
    memset(&q->mf, 0, sizeof q->mf);
    int ok = reserved == 0 && q->is_signed <= 1;
    if (q->format == QM_FLOAT)
        ok = ok && q->bits == 32 && !q->is_signed && !e && !m && !bias && !flags;
    else if (q->format == QM_INT)
        ok = ok && q->bits >= (weights ? 1 : 2) && q->bits <= 8 && (!weights || q->is_signed) &&
             !e && !m && !bias && !flags;
    else if (q->format == QM_MINIFLOAT) {
        q->mf = (minifloat_fmt){e, m, bias, (flags & MF_IEEE) != 0, (flags & MF_OCP) != 0};
        ok = ok && e >= 1 && e <= 5 && m >= 0 && m <= 7 && bias >= -64 && bias <= 64 &&
             flags <= 2 && q->bits == 1 + e + m && !q->is_signed;
    } else
        ok = 0;
    return ok ? 0 : BAD("compute layer %d: bad %s format (format %d, %d bits)", ci, what,
                        q->format, q->bits);
}

static int read_compute(cur *c, qmodel *qm, int ci, size_t *offset, size_t *size, qd_err *err)
{
    qm_compute *q = &qm->compute[ci];
    q->layer = (int)get_u(c, 2);
    q->per_channel = (int)get_u(c, 1);
    int flags = (int)get_u(c, 1);
    int64_t oc = (int64_t)get_u(c, 4), k = (int64_t)get_u(c, 4);
    int rc = read_quant(c, &q->wq, 1, "weight", ci, err);
    if (rc == 0)
        rc = read_quant(c, &q->aq, 0, "activation", ci, err);
    if (rc < 0)
        return rc;
    q->a_scale = get_f32(c);
    q->a_zp = (int32_t)get_s(c, 4);
    *offset = (size_t)get_u(c, 4);
    *size = (size_t)get_u(c, 4);
    size_t cb = (size_t)get_u(c, 4);
    if (q->layer >= qm->n_layers || qm->layers[q->layer].compute != ci)
        return BAD("compute layer %d: layer index %d does not point back to it", ci, q->layer);
    const qm_layer *L = &qm->layers[q->layer];
    int64_t want_k = L->kind == LK_CONV ? (int64_t)L->in_c * L->kernel * L->kernel : L->in_c;
    if (oc != L->c || k != want_k || k > QMODEL_MAX_K || oc * k > QMODEL_MAX_ELEMS)
        return BAD("compute layer %d (%s): %lldx%lld weights, the layer has %dx%lld", ci,
                   L->name, (long long)oc, (long long)k, L->c, (long long)want_k);
    q->oc = (int)oc, q->k = (int)k;
    if (flags & ~(CF_POST | CF_BIAS) || q->per_channel > 1 ||
        (q->per_channel && q->wq.format == QM_FLOAT))
        return BAD("compute layer %d (%s): bad flags", ci, L->name);
    q->post_scale = (flags & CF_POST) ? (float *)1 : NULL; /* markers for qmodel_alloc_arrays */
    q->bias = (flags & CF_BIAS) ? (float *)1 : NULL;
    if (cb != codes_bytes_of(q->oc, q->k, q->wq.bits) || *size != data_bytes_of(q))
        return BAD("compute layer %d (%s): data sizes %zu/%zu do not match its shape", ci,
                   L->name, *size, cb);
    if (q->aq.format == QM_FLOAT ? (q->a_scale != 0.0f || q->a_zp != 0)
                                 : !(isfinite(q->a_scale) && q->a_scale > 0.0f))
        return BAD("compute layer %d (%s): bad activation scale %g", ci, L->name,
                   (double)q->a_scale);
    int lo = 0, hi = 0;
    if (q->aq.format == QM_INT)
        qm_int_range(&q->aq, &lo, &hi);
    if (q->a_zp < lo || q->a_zp > hi || (q->aq.format == QM_INT && q->aq.bits == 1 && q->a_zp))
        return BAD("compute layer %d (%s): activation zero point %d outside the code range",
                   ci, L->name, q->a_zp);
    return 0;
}

static int floats_ok(cur *c, float *dst, int n, int positive)
{
    int ok = 1;
    for (int i = 0; i < n; i++) {
        dst[i] = get_f32(c);
        ok &= isfinite(dst[i]) && (!positive || dst[i] > 0.0f);
    }
    return ok;
}

static int codes_ok(const qm_compute *q)
{
    const size_t n = (size_t)q->oc * q->k, used = n * (size_t)q->wq.bits;
    if (used % 8 && (q->codes[used / 8] >> (used % 8)) != 0)
        return 0; /* unused high bits of the last byte must be zero */
    for (size_t i = 0; q->wq.format != QM_INT && i < n; i++) {
        uint32_t code = qm_code_get(q->codes, i, q->wq.bits);
        if (q->wq.format == QM_MINIFLOAT && !minifloat_code_is_valid(q->wq.mf, code))
            return 0;
        float f;
        memcpy(&f, &code, 4);
        if (q->wq.format == QM_FLOAT && !isfinite(f))
            return 0;
    }
    return 1;
}

static int read_data(cur *c, qm_compute *q, const char *name, int ci, qd_err *err)
{
    int g = groups_of(q), lo = 0, hi = 0;
    if (!floats_ok(c, q->w_scale, g, 1))
        return BAD("compute layer %d (%s): weight scales must be finite and positive", ci, name);
    if (q->wq.format == QM_INT)
        qm_int_range(&q->wq, &lo, &hi);
    for (int i = 0; q->wq.format == QM_INT && i < g; i++) {
        q->w_zp[i] = (int8_t)get_s(c, 1);
        int z = q->w_zp[i];
        if (z < lo || z > hi || lo - z < -128 || hi - z > 127 || (q->wq.bits == 1 && z))
            return BAD("compute layer %d (%s): weight zero point %d out of range", ci, name, z);
    }
    if (q->post_scale && !floats_ok(c, q->post_scale, q->oc, 0))
        return BAD("compute layer %d (%s): post-scales must be finite", ci, name);
    if (q->bias && !floats_ok(c, q->bias, q->oc, 0))
        return BAD("compute layer %d (%s): biases must be finite", ci, name);
    memcpy(q->codes, c->r + c->at, q->codes_bytes);
    c->at += q->codes_bytes;
    if (!codes_ok(q))
        return BAD("compute layer %d (%s): invalid weight codes (NaN/inf codes or stray bits)",
                   ci, name);
    return 0;
}

static int read_body(cur *c, qmodel *qm, size_t file_bytes, qd_err *err)
{
    int rc = 0;
    for (int i = 0; i < qm->n_layers && rc == 0; i++)
        rc = read_layer(c, &qm->layers[i], i, err);
    if (rc == 0)
        rc = check_graph(qm, err);
    size_t want = tables_bytes(qm), offset, size;
    for (int ci = 0; ci < qm->n_compute && rc == 0; ci++) {
        if ((rc = read_compute(c, qm, ci, &offset, &size, err)) < 0)
            break;
        if (offset != want || size > file_bytes - CRC_BYTES - want)
            rc = BAD("compute layer %d: data at %zu+%zu, expected at %zu within the file", ci,
                     offset, size, want);
        want += size;
    }
    if (rc == 0 && want != file_bytes - CRC_BYTES)
        rc = BAD("%zu bytes of data, the file holds %zu", want - tables_bytes(qm),
                 file_bytes - CRC_BYTES - tables_bytes(qm));
    if (rc == 0)
        rc = qmodel_alloc_arrays(qm, err);
    for (int ci = 0; ci < qm->n_compute && rc == 0; ci++)
        rc = read_data(c, &qm->compute[ci], qm->layers[qm->compute[ci].layer].name, ci, err);
    return rc;
}

int qmodel_read_mem(const void *buf, size_t len, qmodel **out, qd_err *err)
{
    *out = NULL;
    qmodel *qm = calloc(1, sizeof *qm);
    if (!qm)
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    cur c = {.r = buf, .len = len};
    size_t file_bytes = 0;
    int rc = buf ? read_header(&c, qm, &file_bytes, err) : BAD("no data");
    if (rc == 0) {
        qm->layers = calloc((size_t)qm->n_layers, sizeof *qm->layers);
        qm->compute = calloc((size_t)qm->n_compute, sizeof *qm->compute);
        if (!qm->layers || !qm->compute)
            rc = qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    }
    if (rc == 0)
        rc = read_body(&c, qm, file_bytes, err);
    if (rc < 0)
        qmodel_free(qm);
    else
        *out = qm;
    return rc;
}

int qmodel_load(const char *path, qmodel **out, qd_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return qd_fail(err, errno == ENOENT ? QD_ENOENT : QD_EIO, path, "cannot open %s: %s",
                       path, strerror(errno));
    struct stat st;
    uint8_t *p = NULL;
    int rc = 0;
    if (fstat(fileno(f), &st) < 0 || (size_t)st.st_size >= FILE_CAP)
        rc = qd_fail(err, QD_EFORMAT, path, "%s: not a readable file of a qmodel's size", path);
    else if (!(p = malloc((size_t)st.st_size + 1)))
        rc = qd_fail(err, QD_ENOMEM, path, "out of memory reading %s", path);
    else if (fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        rc = qd_fail(err, QD_EIO, path, "short read on %s", path);
    fclose(f);
    if (rc == 0 && (rc = qmodel_read_mem(p, (size_t)st.st_size, out, err)) < 0 && err) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%.200s: %.300s", path, msg);
        snprintf(err->field, sizeof err->field, "%s", path);
    }
    free(p);
    return rc;
}
