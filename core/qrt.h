/*
 * qrt.h: the inference runtime of exported models (qmodel.h).
 *
 * Each compute layer runs on one of two paths, chosen when the runtime is built:
 * - integer: when its weights and its input activations are integers of at most 8 bits. The
 *   input arrives as uint8 codes (signed codes are stored with +128), the weights are int8 codes
 *   minus their zero points, and the layer is an integer GEMM with int32 accumulation (a
 *   convolution is im2col over NHWC codes, then the GEMM). Its epilogue requantizes in fixed point
 *   (int32 multiplier, shift, int64 offset per output channel: the folded batch norm, bias and
 *   the next layer's input scale): when only ReLU, max pooling and flatten lie between it and the
 *   next integer layer, it writes that layer's input codes directly and the ReLU becomes the
 *   clamp; otherwise it writes float (dequantized) values. No float weight exists on this path.
 * - decoded: any other combination (minifloat or float weights, minifloat or float inputs). The
 *   weight codes are decoded once through a lookup table of the format's 2^bits values times the
 *   scale, the input is fake-quantized with the layer's quantizer as in training, and the layer
 *   runs in float (OpenBLAS).
 * Layers other than conv and linear run on float NCHW tensors (core/layers.c), except max
 * pooling, ReLU and flatten between two fused integer layers, which run on the codes.
 *
 * Images are split over threads; each thread runs its images through the whole network in
 * sub-batches with its own workspace, so no thread waits on another and integer results do not
 * depend on the thread count. The GEMM has an AVX2 kernel (vpmaddubsw, or vpmaddwd where 8-bit
 * activations times 8-bit weights could saturate 16-bit pair sums) and a portable _ref kernel
 * that gives the same int32 sums.
 * Ownership: qrt_create allocates; qrt_free releases (NULL is a no-op). The qmodel is not kept.
 */
#ifndef QD_QRT_H
#define QD_QRT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "qmodel.h"

typedef struct qrt qrt;

/* Images per sub-batch of one thread. */
#define QRT_SUB_BATCH 16

enum qrt_path { QRT_PATH_INT = 0, QRT_PATH_DECODED = 1 };
/* U8S8: vpmaddubsw, widened to int32 at every step; U8S8_ACC16: the same summing in int16
 * over as many steps as the layer's weights allow (low-bit layers); S16: vpmaddwd on int16 pairs
 * where 8-bit x 8-bit pair sums could leave int16. */
enum qrt_kernel { QRT_KERN_U8S8 = 0, QRT_KERN_S16 = 1, QRT_KERN_U8S8_ACC16 = 2 };

/* Build the runtime for qm with nthreads threads. use_ref: portable kernels only. */
int qrt_create(qrt **out, const qmodel *qm, int nthreads, int use_ref, qd_err *err);
void qrt_free(qrt *rt);

/* logits [n, classes] of n normalised float NCHW images x. */
void qrt_run(qrt *rt, const float *x, int n, float *logits);

/* What the runtime chose for compute layer ci: enum qrt_path, enum qrt_kernel, and whether its
 * input arrives as codes from the layer before (fused). */
void qrt_layer_info(const qrt *rt, int ci, int *path, int *kernel, int *fused_in);
int qrt_classes(const qrt *rt);
size_t qrt_input_len(const qrt *rt);
/* Whether this build has the AVX2 kernels (compiled for a machine with AVX2). */
int qrt_have_avx2(void);

#endif
