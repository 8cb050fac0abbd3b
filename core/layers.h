/*
 * layers.h: the forward and backward kernels of every layer kind, on float32 NCHW data.
 *
 * Argument order is fixed: X_forward(out, cache..., in, w, b, dims) and
 * X_backward(din, dw, db, dout, in, w, cache..., dims). Backward kernels accumulate (+=) into
 * din, dw and db; the model zeroes them. din may be NULL when the input needs no gradient.
 * Kernels never allocate: the caller passes scratch sized by the *_scratch_floats functions.
 * Work is split over nthreads OpenMP threads by a fixed static partition, so results depend on
 * the thread count but never on timing. Each optimised kernel has a plain _ref twin for tests.
 */
#ifndef QD_LAYERS_H
#define QD_LAYERS_H

#include <stddef.h>

typedef struct conv_dims {
    int n, c, h, w;      /* input */
    int oc, oh, ow;      /* output */
    int k, stride, pad;  /* square kernel */
} conv_dims;

int conv_out_size(int in, int k, int stride, int pad);

/* ---- conv2d (im2col + SGEMM per image, images split over threads) ----
 * cols: NULL, or a cache of n * conv2d_cols_floats(d) where forward keeps each image's im2col
 * columns and backward reads them back instead of recomputing them (unused for 1x1 stride-1
 * convolutions, whose columns are the input itself). */
size_t conv2d_scratch_floats(conv_dims d, int nthreads);
size_t conv2d_cols_floats(conv_dims d); /* per image; 0 for pointwise convolutions */
void conv2d_forward(float *out, float *cols, const float *in, const float *w, const float *b,
                    conv_dims d, float *scratch, int nthreads);
void conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const float *cols, conv_dims d, float *scratch,
                     int nthreads);
void conv2d_forward_ref(float *out, const float *in, const float *w, const float *b, conv_dims d);
void conv2d_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, conv_dims d);

/* ---- linear: out[n, o] = in[n, i] . w[o, i] + b[o] ---- */
void linear_forward(float *out, const float *in, const float *w, const float *b, int n, int in_f,
                    int out_f, int nthreads);
void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int n, int in_f, int out_f, int nthreads);
void linear_forward_ref(float *out, const float *in, const float *w, const float *b, int n,
                        int in_f, int out_f);

/* ---- batch norm over (n, h, w) per channel; hw = h * w ----
 * train: batch statistics, running stats updated with momentum (unbiased variance);
 * eval: running stats. cache: xhat (n*c*hw) and invstd (c), needed by backward (train only). */
void batchnorm_forward_train(float *out, float *xhat, float *invstd, const float *in,
                             const float *gamma, const float *beta, float *run_mean,
                             float *run_var, int n, int c, int hw, float momentum, float eps,
                             int nthreads);
void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *run_mean, const float *run_var, int n, int c, int hw,
                            float eps, int nthreads);
void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *gamma, const float *xhat, const float *invstd, int n, int c,
                        int hw, int nthreads);

/* ---- elementwise ---- */
void relu_forward(float *out, const float *in, size_t len, int nthreads);
void relu_backward(float *din, const float *dout, const float *out, size_t len, int nthreads);
void add_forward(float *out, const float *a, const float *b, size_t len, int nthreads);
void add_backward(float *da, float *db, const float *dout, size_t len, int nthreads);

/* ---- pooling: nc = n * c planes ---- */
void maxpool_forward(float *out, int *argmax, const float *in, int nc, int h, int w, int oh, int ow,
                     int k, int stride, int pad, int nthreads);
void maxpool_backward(float *din, const float *dout, const int *argmax, int nc, int h, int w,
                      int oh, int ow, int nthreads);
void avgpool_forward(float *out, const float *in, int nc, int h, int w, int oh, int ow, int k,
                     int stride, int pad, int nthreads);
void avgpool_backward(float *din, const float *dout, int nc, int h, int w, int oh, int ow, int k,
                      int stride, int pad, int nthreads);

/* ---- loss: mean softmax cross-entropy; dlogits = (softmax - onehot) / n (may be NULL) ---- */
float softmax_xent(float *dlogits, const float *logits, const int *labels, int n, int classes);
/* number of rows whose arg-max equals the label */
int count_correct(const float *logits, const int *labels, int n, int classes);

/* Split [0, total) into nthreads contiguous parts; part t is [*lo, *hi). */
void split_range(long total, int nthreads, int t, long *lo, long *hi);

#endif
