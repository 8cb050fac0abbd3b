/*
 * layers.c: forward and backward kernels for convolution, linear, batch norm, ReLU, pooling,
 * residual add and the softmax cross-entropy loss.
 *
 * Convolution lowers each image onto OpenBLAS SGEMM through im2col: with K = c*k*k rows and
 * P = oh*ow columns, out[oc, P] = W[oc, K] . cols[K, P]. Images are split over the threads, each
 * thread owning its im2col buffer and (in backward) its own weight-gradient accumulator, which
 * are summed in thread order at the end: the result depends only on the thread count. OpenBLAS
 * itself runs single-threaded inside each of our threads (quantd sets that at start-up), so a
 * job never uses more cores than its budget.
 *
 * Invariants: kernels assert shapes, never allocate, and backward kernels accumulate.
 */
#include "layers.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

void split_range(long total, int nthreads, int t, long *lo, long *hi)
{
    long base = total / nthreads, rem = total % nthreads;
    *lo = t * base + (t < rem ? t : rem);
    *hi = *lo + base + (t < rem ? 1 : 0);
}

int conv_out_size(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }

/* ---- im2col / col2im ---- */

static int conv_is_pointwise(conv_dims d) { return d.k == 1 && d.stride == 1 && d.pad == 0; }

/* cols[(ci*k + ki)*k + kj][oy*ow + ox] = in[ci][oy*s - p + ki][ox*s - p + kj] (0 outside) */
static void im2col(float *cols, const float *in, conv_dims d)
{
    const int P = d.oh * d.ow;
    for (int ci = 0; ci < d.c; ci++) {
        const float *plane = in + (size_t)ci * d.h * d.w;
        for (int ki = 0; ki < d.k; ki++) {
            for (int kj = 0; kj < d.k; kj++) {
                float *row = cols + (size_t)((ci * d.k + ki) * d.k + kj) * P;
                for (int oy = 0; oy < d.oh; oy++) {
                    int iy = oy * d.stride - d.pad + ki;
                    float *dst = row + oy * d.ow;
                    if (iy < 0 || iy >= d.h) {
                        memset(dst, 0, sizeof(float) * d.ow);
                        continue;
                    }
                    const float *src = plane + (size_t)iy * d.w;
                    if (d.stride == 1) {
                        /* ox valid where 0 <= ox - p + kj < w */
                        int lo = d.pad - kj, hi = d.w + d.pad - kj;
                        lo = lo < 0 ? 0 : lo;
                        hi = hi > d.ow ? d.ow : hi;
                        for (int ox = 0; ox < lo; ox++)
                            dst[ox] = 0.0f;
                        if (hi > lo)
                            memcpy(dst + lo, src + lo - d.pad + kj, sizeof(float) * (hi - lo));
                        for (int ox = hi > lo ? hi : lo; ox < d.ow; ox++)
                            dst[ox] = 0.0f;
                    } else {
                        for (int ox = 0; ox < d.ow; ox++) {
                            int ix = ox * d.stride - d.pad + kj;
                            dst[ox] = (ix >= 0 && ix < d.w) ? src[ix] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

/* din[ci][iy][ix] += cols[...] : the adjoint of im2col */
static void col2im_add(float *din, const float *cols, conv_dims d)
{
    const int P = d.oh * d.ow;
    for (int ci = 0; ci < d.c; ci++) {
        float *plane = din + (size_t)ci * d.h * d.w;
        for (int ki = 0; ki < d.k; ki++) {
            for (int kj = 0; kj < d.k; kj++) {
                const float *row = cols + (size_t)((ci * d.k + ki) * d.k + kj) * P;
                for (int oy = 0; oy < d.oh; oy++) {
                    int iy = oy * d.stride - d.pad + ki;
                    if (iy < 0 || iy >= d.h)
                        continue;
                    const float *src = row + oy * d.ow;
                    float *dst = plane + (size_t)iy * d.w;
                    if (d.stride == 1) {
                        int lo = d.pad - kj, hi = d.w + d.pad - kj;
                        lo = lo < 0 ? 0 : lo;
                        hi = hi > d.ow ? d.ow : hi;
                        float *dd = dst - d.pad + kj;
                        for (int ox = lo; ox < hi; ox++)
                            dd[ox] += src[ox];
                    } else {
                        for (int ox = 0; ox < d.ow; ox++) {
                            int ix = ox * d.stride - d.pad + kj;
                            if (ix >= 0 && ix < d.w)
                                dst[ix] += src[ox];
                        }
                    }
                }
            }
        }
    }
}

/* ---- conv2d ---- */

/* per thread: cols (K*P) + dcols (K*P) + dw (oc*K) + db (oc) */
static size_t conv_thread_floats(conv_dims d)
{
    size_t K = (size_t)d.c * d.k * d.k, P = (size_t)d.oh * d.ow;
    return 2 * K * P + (size_t)d.oc * K + d.oc;
}

size_t conv2d_scratch_floats(conv_dims d, int nthreads)
{
    return conv_thread_floats(d) * (size_t)nthreads;
}

size_t conv2d_cols_floats(conv_dims d)
{
    return conv_is_pointwise(d) ? 0 : (size_t)d.c * d.k * d.k * d.oh * d.ow;
}

void conv2d_forward(float *out, float *cols_cache, const float *in, const float *w, const float *b,
                    conv_dims d, float *scratch, int nthreads)
{
    /* in [n, c, h, w], w [oc, c, k, k], b [oc] or NULL, out [n, oc, oh, ow] */
    assert(d.oh == conv_out_size(d.h, d.k, d.stride, d.pad));
    assert(d.ow == conv_out_size(d.w, d.k, d.stride, d.pad));
    const int K = d.c * d.k * d.k, P = d.oh * d.ow;
    const size_t in_sz = (size_t)d.c * d.h * d.w, out_sz = (size_t)d.oc * P;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num();
        float *cols = scratch + conv_thread_floats(d) * t;
        long lo, hi;
        split_range(d.n, omp_get_num_threads(), t, &lo, &hi);
        for (long i = lo; i < hi; i++) {
            const float *src = in + i * in_sz;
            float *dst = out + i * out_sz;
            if (!conv_is_pointwise(d)) {
                float *c = cols_cache ? cols_cache + i * (size_t)K * P : cols;
                im2col(c, src, d);
                src = c;
            }
            /* start from the bias and accumulate (beta = 1 spares SGEMM a scaling pass) */
            for (int o = 0; o < d.oc; o++)
                for (int p = 0; p < P; p++)
                    dst[(size_t)o * P + p] = b ? b[o] : 0.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.oc, P, K, 1.0f, w, K, src,
                        P, 1.0f, dst, P);
        }
    }
}

void conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const float *cols_cache, conv_dims d, float *scratch,
                     int nthreads)
{
    /* dout [n, oc, oh, ow]; din, in [n, c, h, w]; dw, w [oc, c, k, k]; db [oc] */
    const int K = d.c * d.k * d.k, P = d.oh * d.ow;
    const size_t in_sz = (size_t)d.c * d.h * d.w, out_sz = (size_t)d.oc * P;
    const size_t per = conv_thread_floats(d);
    int used = 1;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *cols = scratch + per * t, *dcols = cols + (size_t)K * P;
        float *tdw = dcols + (size_t)K * P, *tdb = tdw + (size_t)d.oc * K;
        long lo, hi;
        if (t == 0)
            used = nt;
        memset(tdw, 0, sizeof(float) * ((size_t)d.oc * K + d.oc));
        split_range(d.n, nt, t, &lo, &hi);
        for (long i = lo; i < hi; i++) {
            const float *x = in + i * in_sz, *g = dout + i * out_sz;
            if (!conv_is_pointwise(d) && cols_cache) {
                x = cols_cache + i * (size_t)K * P;
            } else if (!conv_is_pointwise(d)) {
                im2col(cols, x, d);
                x = cols;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d.oc, K, P, 1.0f, g, P, x, P,
                        1.0f, tdw, K);
            for (int o = 0; o < d.oc; o++) {
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int p = 0; p < P; p++)
                    s += g[(size_t)o * P + p];
                tdb[o] += s;
            }
            if (!din)
                continue;
            if (conv_is_pointwise(d)) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, d.oc, 1.0f, w, K, g,
                            P, 1.0f, din + i * in_sz, P);
            } else {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, d.oc, 1.0f, w, K, g,
                            P, 0.0f, dcols, P);
                col2im_add(din + i * in_sz, dcols, d);
            }
        }
    }
    /* reduce the per-thread accumulators in thread order */
    for (int t = 0; t < used; t++) {
        const float *tdw = scratch + per * t + 2 * (size_t)K * P, *tdb = tdw + (size_t)d.oc * K;
        for (size_t j = 0; j < (size_t)d.oc * K; j++)
            dw[j] += tdw[j];
        if (db)
            for (int o = 0; o < d.oc; o++)
                db[o] += tdb[o];
    }
}

void conv2d_forward_ref(float *out, const float *in, const float *w, const float *b, conv_dims d)
{
    for (int i = 0; i < d.n; i++)
        for (int o = 0; o < d.oc; o++)
            for (int oy = 0; oy < d.oh; oy++)
                for (int ox = 0; ox < d.ow; ox++) {
                    double s = b ? b[o] : 0.0;
                    for (int ci = 0; ci < d.c; ci++)
                        for (int ki = 0; ki < d.k; ki++)
                            for (int kj = 0; kj < d.k; kj++) {
                                int iy = oy * d.stride - d.pad + ki;
                                int ix = ox * d.stride - d.pad + kj;
                                if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w)
                                    continue;
                                s += (double)in[((size_t)(i * d.c + ci) * d.h + iy) * d.w + ix] *
                                     w[((size_t)(o * d.c + ci) * d.k + ki) * d.k + kj];
                            }
                    out[((size_t)(i * d.oc + o) * d.oh + oy) * d.ow + ox] = (float)s;
                }
}

void conv2d_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, conv_dims d)
{
    for (int i = 0; i < d.n; i++)
        for (int o = 0; o < d.oc; o++)
            for (int oy = 0; oy < d.oh; oy++)
                for (int ox = 0; ox < d.ow; ox++) {
                    float g = dout[((size_t)(i * d.oc + o) * d.oh + oy) * d.ow + ox];
                    if (db)
                        db[o] += g;
                    for (int ci = 0; ci < d.c; ci++)
                        for (int ki = 0; ki < d.k; ki++)
                            for (int kj = 0; kj < d.k; kj++) {
                                int iy = oy * d.stride - d.pad + ki;
                                int ix = ox * d.stride - d.pad + kj;
                                if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w)
                                    continue;
                                size_t xi = ((size_t)(i * d.c + ci) * d.h + iy) * d.w + ix;
                                size_t wi = ((size_t)(o * d.c + ci) * d.k + ki) * d.k + kj;
                                dw[wi] += g * in[xi];
                                if (din)
                                    din[xi] += g * w[wi];
                            }
                }
}

/* ---- linear ---- */

void linear_forward(float *out, const float *in, const float *w, const float *b, int n, int in_f,
                    int out_f, int nthreads)
{
    /* in [n, in_f], w [out_f, in_f], b [out_f] or NULL, out [n, out_f] */
#pragma omp parallel num_threads(nthreads)
    {
        long lo, hi;
        split_range(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        if (hi > lo) {
            float *o = out + lo * out_f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(hi - lo), out_f, in_f, 1.0f,
                        in + lo * in_f, in_f, w, in_f, 0.0f, o, out_f);
            if (b)
                for (long i = 0; i < hi - lo; i++)
                    for (int j = 0; j < out_f; j++)
                        o[i * out_f + j] += b[j];
        }
    }
}

void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int n, int in_f, int out_f, int nthreads)
{
    /* dout [n, out_f]; din, in [n, in_f]; dw, w [out_f, in_f]; db [out_f] */
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        long lo, hi;
        /* weight and bias gradients: rows of dw split over threads */
        split_range(out_f, nt, t, &lo, &hi);
        if (hi > lo) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(hi - lo), in_f, n, 1.0f,
                        dout + lo, out_f, in, in_f, 1.0f, dw + lo * in_f, in_f);
            if (db)
                for (long j = lo; j < hi; j++) {
                    float s = 0.0f;
                    for (int i = 0; i < n; i++)
                        s += dout[(size_t)i * out_f + j];
                    db[j] += s;
                }
        }
        /* input gradient: rows of din split over threads */
        split_range(n, nt, t, &lo, &hi);
        if (din && hi > lo)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(hi - lo), in_f, out_f,
                        1.0f, dout + lo * out_f, out_f, w, in_f, 1.0f, din + lo * in_f, in_f);
    }
}

void linear_forward_ref(float *out, const float *in, const float *w, const float *b, int n,
                        int in_f, int out_f)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out_f; j++) {
            double s = b ? b[j] : 0.0;
            for (int k = 0; k < in_f; k++)
                s += (double)in[(size_t)i * in_f + k] * w[(size_t)j * in_f + k];
            out[(size_t)i * out_f + j] = (float)s;
        }
}

/* ---- batch norm ---- */

void batchnorm_forward_train(float *out, float *xhat, float *invstd, const float *in,
                             const float *gamma, const float *beta, float *run_mean,
                             float *run_var, int n, int c, int hw, float momentum, float eps,
                             int nthreads)
{
    /* in, out, xhat [n, c, hw]; gamma, beta, run_mean, run_var, invstd [c] */
    const double m = (double)n * hw;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        /* one pass: per-plane float sums of x and x^2, accumulated across planes in double */
        double s = 0.0, ss = 0.0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * c + ch) * hw;
            float ps = 0.0f, pss = 0.0f;
#pragma omp simd reduction(+ : ps, pss)
            for (int p = 0; p < hw; p++) {
                ps += x[p];
                pss += x[p] * x[p];
            }
            s += ps;
            ss += pss;
        }
        double mean = s / m;
        double var = ss / m - mean * mean;
        var = var > 0.0 ? var : 0.0;
        ss = var * m; /* sum of squared deviations, for the unbiased running variance */
        float is = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
        invstd[ch] = is;
        run_mean[ch] = (1.0f - momentum) * run_mean[ch] + momentum * mu;
        run_var[ch] = (1.0f - momentum) * run_var[ch] +
                      momentum * (float)(m > 1 ? ss / (m - 1) : var);
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * hw;
            for (int p = 0; p < hw; p++) {
                float xh = (in[off + p] - mu) * is;
                xhat[off + p] = xh;
                out[off + p] = gamma[ch] * xh + beta[ch];
            }
        }
    }
}

void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *run_mean, const float *run_var, int n, int c, int hw,
                            float eps, int nthreads)
{
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        float a = gamma[ch] / sqrtf(run_var[ch] + eps);
        float b = beta[ch] - a * run_mean[ch];
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * hw;
            for (int p = 0; p < hw; p++)
                out[off + p] = a * in[off + p] + b;
        }
    }
}

void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *gamma, const float *xhat, const float *invstd, int n, int c,
                        int hw, int nthreads)
{
    /* din += gamma * invstd / m * (m * dout - sum(dout) - xhat * sum(dout * xhat)) */
    const float m = (float)n * hw;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double sg = 0.0, sgx = 0.0;
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * hw;
            float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
            for (int p = 0; p < hw; p++) {
                a += dout[off + p];
                b += dout[off + p] * xhat[off + p];
            }
            sg += a;
            sgx += b;
        }
        dgamma[ch] += (float)sgx;
        dbeta[ch] += (float)sg;
        if (!din)
            continue;
        float k = gamma[ch] * invstd[ch] / m, fsg = (float)sg, fsgx = (float)sgx;
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * hw;
            for (int p = 0; p < hw; p++)
                din[off + p] += k * (m * dout[off + p] - fsg - xhat[off + p] * fsgx);
        }
    }
}

/* ---- elementwise ---- */

void relu_forward(float *out, const float *in, size_t len, int nthreads)
{
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (size_t i = 0; i < len; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void relu_backward(float *din, const float *dout, const float *out, size_t len, int nthreads)
{
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (size_t i = 0; i < len; i++)
        din[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

void add_forward(float *out, const float *a, const float *b, size_t len, int nthreads)
{
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (size_t i = 0; i < len; i++)
        out[i] = a[i] + b[i];
}

void add_backward(float *da, float *db, const float *dout, size_t len, int nthreads)
{
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (size_t i = 0; i < len; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

/* ---- pooling ---- */

/* 2x2 windows, stride 2, no padding: the common case, without bounds checks */
static void maxpool2_plane(float *out, int *argmax, const float *x, int w, int oh, int ow)
{
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            int i = 2 * oy * w + 2 * ox, bi = i;
            float best = x[i];
            if (x[i + 1] > best)
                best = x[i + 1], bi = i + 1;
            if (x[i + w] > best)
                best = x[i + w], bi = i + w;
            if (x[i + w + 1] > best)
                best = x[i + w + 1], bi = i + w + 1;
            out[oy * ow + ox] = best;
            argmax[oy * ow + ox] = bi;
        }
}

void maxpool_forward(float *out, int *argmax, const float *in, int nc, int h, int w, int oh, int ow,
                     int k, int stride, int pad, int nthreads)
{
    if (k == 2 && stride == 2 && pad == 0) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int pl = 0; pl < nc; pl++)
            maxpool2_plane(out + (size_t)pl * oh * ow, argmax + (size_t)pl * oh * ow,
                           in + (size_t)pl * h * w, w, oh, ow);
        return;
    }
    /* in [nc, h, w], out and argmax [nc, oh, ow]; argmax holds the index within the plane */
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int pl = 0; pl < nc; pl++) {
        const float *x = in + (size_t)pl * h * w;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float best = -INFINITY;
                int bi = -1;
                for (int ki = 0; ki < k; ki++) {
                    int iy = oy * stride - pad + ki;
                    if (iy < 0 || iy >= h)
                        continue;
                    for (int kj = 0; kj < k; kj++) {
                        int ix = ox * stride - pad + kj;
                        if (ix >= 0 && ix < w && (bi < 0 || x[iy * w + ix] > best)) {
                            best = x[iy * w + ix];
                            bi = iy * w + ix;
                        }
                    }
                }
                size_t o = ((size_t)pl * oh + oy) * ow + ox;
                out[o] = bi < 0 ? 0.0f : best;
                argmax[o] = bi;
            }
    }
}

void maxpool_backward(float *din, const float *dout, const int *argmax, int nc, int h, int w,
                      int oh, int ow, int nthreads)
{
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int pl = 0; pl < nc; pl++) {
        float *dx = din + (size_t)pl * h * w;
        const float *g = dout + (size_t)pl * oh * ow;
        const int *am = argmax + (size_t)pl * oh * ow;
        for (int o = 0; o < oh * ow; o++)
            if (am[o] >= 0)
                dx[am[o]] += g[o];
    }
}

void avgpool_forward(float *out, const float *in, int nc, int h, int w, int oh, int ow, int k,
                     int stride, int pad, int nthreads)
{
    /* divisor is k*k including padding, as PyTorch's default count_include_pad */
    const float inv = 1.0f / (float)(k * k);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int pl = 0; pl < nc; pl++) {
        const float *x = in + (size_t)pl * h * w;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float s = 0.0f;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        int iy = oy * stride - pad + ki, ix = ox * stride - pad + kj;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                            s += x[iy * w + ix];
                    }
                out[((size_t)pl * oh + oy) * ow + ox] = s * inv;
            }
    }
}

void avgpool_backward(float *din, const float *dout, int nc, int h, int w, int oh, int ow, int k,
                      int stride, int pad, int nthreads)
{
    const float inv = 1.0f / (float)(k * k);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int pl = 0; pl < nc; pl++) {
        float *dx = din + (size_t)pl * h * w;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float g = dout[((size_t)pl * oh + oy) * ow + ox] * inv;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        int iy = oy * stride - pad + ki, ix = ox * stride - pad + kj;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                            dx[iy * w + ix] += g;
                    }
            }
    }
}

/* ---- loss ---- */

float softmax_xent(float *dlogits, const float *logits, const int *labels, int n, int classes)
{
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        float mx = z[0];
        for (int j = 1; j < classes; j++)
            mx = z[j] > mx ? z[j] : mx;
        double se = 0.0;
        for (int j = 0; j < classes; j++)
            se += exp((double)z[j] - mx);
        double lse = mx + log(se);
        loss += lse - z[labels[i]];
        if (!dlogits)
            continue;
        float *g = dlogits + (size_t)i * classes;
        for (int j = 0; j < classes; j++)
            g[j] = (float)((exp((double)z[j] - lse) - (j == labels[i] ? 1.0 : 0.0)) / n);
    }
    return (float)(loss / n);
}

int count_correct(const float *logits, const int *labels, int n, int classes)
{
    int correct = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        int best = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > z[best])
                best = j;
        correct += best == labels[i];
    }
    return correct;
}
