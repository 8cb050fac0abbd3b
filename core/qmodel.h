/*
 * qmodel.h: the exported model (the "qmodel"), in memory and as a file (schema/qmodel.md
 * documents the file byte by byte).
 *
 * A qmodel is the network as it runs after training: the layer graph with every batch norm that
 * follows a compute layer folded into it (a per-channel post-scale and a folded bias), and per
 * compute layer (conv, linear) its weights as packed codes at their real bit-width, their
 * per-channel (or per-tensor) scales and zero points, the format of the codes (integer, minifloat
 * ExMy with its bias and flags, or float32) and the quantizer of the layer's input activations.
 * Decoding a weight code gives exactly the weight the fake-quantized model computes with.
 *
 * Integer codes are two's complement of `bits` bits (1-bit weights are binary: bit 0 is -1, bit 1
 * is +1); minifloat codes are sign, exponent, mantissa; float32 weights are their IEEE bits.
 * Code i of a layer occupies bits [i*bits, (i+1)*bits) of the layer's code bytes, least
 * significant bit first. Weights are ordered as the model holds them: [oc][in_c][kh][kw] for
 * convolutions, [out][in] for linear layers.
 *
 * The reader trusts nothing: magic, version, sizes, every offset and count, the graph, the shapes
 * and every value are checked (QD_EFORMAT), and the CRC-32 over the file (QD_ECHECKSUM), before a
 * qmodel is returned; a corrupt or truncated file is an error, never a crash.
 * Ownership: qmodel_read_mem, qmodel_load and qmodel_from_model allocate a qmodel that
 * qmodel_free releases (qmodel_free(NULL) is a no-op); qmodel_write_mem's buffer is free()d by
 * the caller.
 */
#ifndef QD_QMODEL_H
#define QD_QMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"

#define QMODEL_VERSION 1
#define QMODEL_MAGIC "QDQMODEL"
#define QMODEL_NAME_LEN 32
#define QMODEL_MAX_DIM 4096       /* channels, height, width, kernel */
#define QMODEL_MAX_K 65536        /* weights per output channel: keeps int32 sums exact */
#define QMODEL_MAX_ELEMS (1L << 26) /* elements of one layer's output or weights */

enum qm_format { QM_FLOAT = 0, QM_INT = 1, QM_MINIFLOAT = 2 };

/* A quantizer: how one tensor's values are coded. */
typedef struct qm_quant {
    int format;           /* enum qm_format */
    int bits;             /* code bits: float 32, int 1..8, minifloat 1 + e + m */
    int is_signed;        /* int: two's complement codes; else unsigned [0, 2^bits - 1] */
    minifloat_fmt mf;     /* minifloat: e, m, bias, ieee, ocp */
} qm_quant;

typedef struct qm_layer {
    int kind;             /* enum layer_kind; no batch norm after a compute layer (folded) */
    char name[QMODEL_NAME_LEN];
    int nin, in[2];       /* producing layers, -1 = the model input */
    int out, kernel, stride, pad, bias; /* as in layer_desc */
    int c, h, w;          /* output shape of one example (derived and checked) */
    int in_c, in_h, in_w; /* shape of the first input */
    int compute;          /* index among compute layers, or -1 */
} qm_layer;

typedef struct qm_compute {
    int layer;            /* index of its qm_layer */
    int oc;               /* output channels (features) */
    int k;                /* weights per output channel */
    qm_quant wq;          /* weight codes */
    int per_channel;      /* one scale and zero point per output channel, else one */
    float *w_scale;       /* [groups]: weight = (code - zp) * scale (int), decode(code) * scale */
    int8_t *w_zp;         /* [groups]: integer zero points (0 for minifloat and float) */
    qm_quant aq;          /* input activations (QM_FLOAT: the input is not quantized) */
    float a_scale;        /* input = (code - a_zp) * a_scale */
    int32_t a_zp;
    float *post_scale;    /* [oc] or NULL: folded batch norm's multiplier, applied to W x */
    float *bias;          /* [oc] or NULL: out = post_scale * (W x) + bias */
    uint8_t *codes;       /* packed weight codes */
    size_t codes_bytes;   /* ceil(oc * k * bits / 8) */
} qm_compute;

typedef struct qmodel {
    char name[QMODEL_NAME_LEN];
    int in_c, in_h, in_w, classes;
    int has_norm;         /* the input normalisation below is known */
    float mean[4], std[4];/* per input channel: x = (pixel / 255 - mean) / std */
    int n_layers, n_compute;
    qm_layer *layers;
    qm_compute *compute;
    void *mem;            /* one block holding every array above */
} qmodel;

/* ---- building, reading, writing ---- */

/*
 * The qmodel of a model with its current quantizers (steps initialised: evaluate it once
 * first). Batch norms that follow a compute layer read by nothing else are folded; any other
 * batch norm, a PTQ residual tensor, or an uninitialised quantizer is QD_EINVAL naming the
 * layer. mean/std (in_c values each) may be NULL.
 */
int qmodel_from_model(qmodel **out, const model *m, const float *mean, const float *std,
                      qd_err *err);

/* Validate and decode a qmodel file held in buf[0..len); the buffer is not kept. */
int qmodel_read_mem(const void *buf, size_t len, qmodel **out, qd_err *err);
int qmodel_load(const char *path, qmodel **out, qd_err *err);
/* Serialise: *buf (malloc'd) of *len bytes. */
int qmodel_write_mem(const qmodel *qm, uint8_t **buf, size_t *len, qd_err *err);
/* Write atomically (PATH.tmp, fsync, rename). */
int qmodel_save(const char *path, const qmodel *qm, qd_err *err);
void qmodel_free(qmodel *qm);

/* For the builder and the reader: carve every compute layer's arrays from one block (qm->mem).
 * Before the call each compute record has oc, k, wq and per_channel set, and post_scale / bias
 * non-NULL (any value) where the layer has them. */
int qmodel_alloc_arrays(qmodel *qm, qd_err *err);
/* File size qmodel_write_mem produces. */
size_t qmodel_file_bytes(const qmodel *qm);

/* ---- codes ---- */

/* Code i of a packed array of `bits`-bit codes, and storing one. */
uint32_t qm_code_get(const uint8_t *p, size_t i, int bits);
void qm_code_put(uint8_t *p, size_t i, int bits, uint32_t code);
/* The integer value of a code: sign-extended two's complement, binary for 1-bit signed. */
int qm_int_value(uint32_t code, const qm_quant *q);
/* Code range of an integer quantizer: [lo, hi] in values (1-bit signed: -1, +1). */
void qm_int_range(const qm_quant *q, int *lo, int *hi);

/* The decoded weights of compute layer ci, [oc * k] floats, equal to the fake-quantized ones. */
void qmodel_decode_weights(const qmodel *qm, int ci, float *out);
/* Integer weights of compute layer ci minus their zero points, [oc * k]; ci must be QM_INT. */
void qmodel_int_weights(const qmodel *qm, int ci, int32_t *out);

/* Bytes of packed weight codes, scales, zero points, post-scales and biases: the payload that
 * the cost model's weight bytes count, plus zero points and post-scales. */
size_t qmodel_payload_bytes(const qmodel *qm);
/* Short format name: "float", "int4", "uint8", "e3m2". */
const char *qm_quant_name(const qm_quant *q, char *buf, size_t cap);

#endif
