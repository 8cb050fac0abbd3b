/*
 * qrt_kern.h: the kernels of the runtime (qrt.h), in qrt_kern.c: weight packing, the integer
 * GEMMs with their portable _ref twins, fixed-point requantization, and the elementwise work on
 * NHWC codes (input quantization, im2col, max pooling, ReLU, epilogues). The tests call them
 * directly. Kernels never allocate and return void.
 */
#ifndef QD_QRT_KERN_H
#define QD_QRT_KERN_H

#include <stddef.h>
#include <stdint.h>

/* Packed weight layouts: U8S8 [np/8][kp/4][8][4] int8, S16 [np/8][kp/2][8][2] int16, where
 * np = n rounded up to 8 and kp = k rounded up to 4; padding is zero. */
size_t qrt_pack_len(int n, int k);
void qrt_pack_u8s8(int8_t *dst, const int32_t *w, int n, int k);
void qrt_pack_s16(int16_t *dst, const int32_t *w, int n, int k);
/* c[m][np] = a[m][kp] . w[n][k]^T with a uint8 (U8S8) or int16 (S16) rows of kp elements. */
void qrt_gemm_u8s8(int32_t *c, const uint8_t *a, const int8_t *wp, int m, int n, int k);
void qrt_gemm_u8s8_ref(int32_t *c, const uint8_t *a, const int8_t *wp, int m, int n, int k);
void qrt_gemm_s16(int32_t *c, const int16_t *a, const int16_t *wp, int m, int n, int k);
/* qrt_gemm_u8s8 summing span groups of 4 products in int16 before widening: the caller
 * guarantees span * max |pair sum| <= 32767 (qrt_acc16_span). Same results as the reference. */
void qrt_gemm_u8s8_acc16(int32_t *c, const uint8_t *a, const int8_t *wp, int m, int n, int k,
                         int span);
/* The longest span for weights w [n][k] (minus zero points) and activation codes <= amax: 0
 * when even one pair sum can leave int16 (then vpmaddwd on int16 pairs: qrt_gemm_s16). */
int qrt_acc16_span(const int32_t *w, int n, int k, int amax);
void qrt_gemm_s16_ref(int32_t *c, const int16_t *a, const int16_t *wp, int m, int n, int k);

/* Fixed-point requantization: floor((acc * mult + off) / 2^shift), that is acc * a + b rounded
 * half up, with mult / 2^shift = a and off / 2^shift = b + 1/2. shift is 32..62, so the result
 * is the high 32 bits of the int64 sum shifted right by shift - 32, which AVX2 computes exactly;
 * |mult| < 2^31 and |off| <= 2^61 keep the sum exact for any int32 sum of at most 65536 products
 * of 8-bit codes. */
typedef struct qrt_requant {
    int32_t mult;
    int32_t shift;   /* 32..62 */
    int64_t off;
} qrt_requant;
/* The parameters for a real multiplier a (|a| < 1/2) and offset b; 0, or -1 when out of range. */
int qrt_requant_make(qrt_requant *q, double a, double b);
static inline int64_t qrt_requant_apply(int32_t acc, const qrt_requant *q)
{
    int64_t t = (int64_t)acc * q->mult + q->off;
    return t >> q->shift; /* arithmetic shift: floor (GCC and Clang define it so) */
}

/* ---- NHWC codes ---- */

/* dst[(i*hw + p)*c + ch] = clamp(rint(src[(i*c + ch)*hw + p] * inv) + zp, lo, hi) + off for n
 * images of c x hw floats (NCHW in, NHWC codes out). */
void qrt_quantize_nhwc(uint8_t *dst, const float *src, int n, int c, int hw, float inv, int zp,
                       int lo, int hi, int off);
/* Convolution columns of one NHWC image: cols[p][(ki*k + kj)*c + ch], rows of kp bytes, padding
 * (outside the image, and k*k*c..kp) filled with padv. */
void qrt_im2col_u8(uint8_t *cols, const uint8_t *in, int c, int h, int w, int k, int stride,
                   int pad, int oh, int ow, int kp, uint8_t padv);
/* Max pooling of n NHWC images; a window wholly in the padding gives zero_code. */
void qrt_maxpool_u8(uint8_t *out, const uint8_t *in, int n, int c, int h, int w, int k, int stride,
                    int pad, int oh, int ow, uint8_t zero_code);
/* out = max(in, zero_code), len bytes. */
void qrt_relu_u8(uint8_t *out, const uint8_t *in, size_t len, uint8_t zero_code);
/* Epilogue to codes: out[i*oc + o] = clamp(requant(acc[i*np + o] - corr[o]), lo, hi) + add.
 * The vector form takes the requantization as arrays over np channels: mult[np], rsh[np]
 * (shift - 32), and the offsets of even and odd channels of each block of 8, off2[np] laid out
 * as [block][even 4 | odd 4]; qrt_requant_soa fills them. */
void qrt_epilogue_codes_ref(uint8_t *out, const int32_t *acc, int m, int np, int oc,
                            const int32_t *corr, const qrt_requant *rq, int lo, int hi, int add);
void qrt_requant_soa(const qrt_requant *rq, int oc, int32_t *mult, int32_t *rsh, int64_t *off2);
void qrt_epilogue_codes(uint8_t *out, const int32_t *acc, int m, int np, int oc,
                        const int32_t *corr, const int32_t *mult, const int32_t *rsh,
                        const int64_t *off2, int lo, int hi, int add);
/* Epilogue to floats: v = (acc[i*np + o] - corr[o]) * scale[o] + bias[o], written to
 * out[o*m + i] (nchw: the m rows are the pixels of one image) or out[i*oc + o]. */
void qrt_epilogue_float(float *out, const int32_t *acc, int m, int np, int oc,
                        const int32_t *corr, const float *scale, const float *bias, int nchw);

#endif
