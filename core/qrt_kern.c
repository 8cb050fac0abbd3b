/*
 * qrt_kern.c: the integer kernels of the runtime (qrt.h): weight packing, the GEMMs (AVX2 and
 * portable _ref twins that give the same int32 sums), fixed-point requantization parameters,
 * im2col over NHWC codes, max pooling on codes, and the epilogues.
 *
 * GEMM layout: c[m][np] = a[m][kp] . W^T, W packed by blocks of 8 output channels. The uint8 x
 * int8 kernel broadcasts 4 consecutive activation bytes of a row and multiplies them with a block
 * holding, per channel, the same 4 weights (vpmaddubsw: pairs summed to int16; vpmaddwd with ones:
 * to int32). Pair sums must fit int16: the runtime uses this kernel only when
 * 2 * max activation code * max |weight| <= 32767 holds for the layer, otherwise the int16 x
 * int16 kernel (vpmaddwd on pairs, never saturating). A tile is 4 rows x 16 channels, held in 8
 * accumulators; the weights of a 16-channel block stay in L1 while the rows stream past.
 */
#include "qrt_kern.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* ---- packing ---- */

size_t qrt_pack_len(int n, int k) { return (size_t)round_up(n, 8) * (size_t)round_up(k, 4); }

static size_t idx_u8s8(int o, int kk, int kp)
{
    return (((size_t)(o / 8) * (size_t)(kp / 4) + (size_t)(kk / 4)) * 8 + (size_t)(o % 8)) * 4 +
           (size_t)(kk % 4);
}

static size_t idx_s16(int o, int kk, int kp)
{
    return (((size_t)(o / 8) * (size_t)(kp / 2) + (size_t)(kk / 2)) * 8 + (size_t)(o % 8)) * 2 +
           (size_t)(kk % 2);
}

void qrt_pack_u8s8(int8_t *dst, const int32_t *w, int n, int k)
{
    const int kp = round_up(k, 4);
    memset(dst, 0, qrt_pack_len(n, k));
    for (int o = 0; o < n; o++)
        for (int kk = 0; kk < k; kk++)
            dst[idx_u8s8(o, kk, kp)] = (int8_t)w[(size_t)o * k + kk];
}

void qrt_pack_s16(int16_t *dst, const int32_t *w, int n, int k)
{
    const int kp = round_up(k, 4);
    memset(dst, 0, qrt_pack_len(n, k) * sizeof *dst);
    for (int o = 0; o < n; o++)
        for (int kk = 0; kk < k; kk++)
            dst[idx_s16(o, kk, kp)] = (int16_t)w[(size_t)o * k + kk];
}

/* ---- reference GEMMs ---- */

void qrt_gemm_u8s8_ref(int32_t *c, const uint8_t *a, const int8_t *wp, int m, int n, int k)
{
    /* c [m][np], a [m][kp], wp packed [np/8][kp/4][8][4] */
    const int kp = round_up(k, 4), np = round_up(n, 8);
    for (int i = 0; i < m; i++)
        for (int o = 0; o < np; o++) {
            int32_t s = 0;
            for (int kk = 0; kk < kp; kk++)
                s += (int32_t)a[(size_t)i * kp + kk] * wp[idx_u8s8(o, kk, kp)];
            c[(size_t)i * np + o] = s;
        }
}

void qrt_gemm_s16_ref(int32_t *c, const int16_t *a, const int16_t *wp, int m, int n, int k)
{
    /* c [m][np], a [m][kp], wp packed [np/8][kp/2][8][2] */
    const int kp = round_up(k, 4), np = round_up(n, 8);
    for (int i = 0; i < m; i++)
        for (int o = 0; o < np; o++) {
            int32_t s = 0;
            for (int kk = 0; kk < kp; kk++)
                s += (int32_t)a[(size_t)i * kp + kk] * wp[idx_s16(o, kk, kp)];
            c[(size_t)i * np + o] = s;
        }
}

/* ---- AVX2 GEMMs ---- */

#ifdef __AVX2__

/* R rows x NB blocks of 8 channels starting at row i, block b. */
static ALWAYS_INLINE void tile_u8s8(int32_t *c, const uint8_t *a, const int8_t *wp, int kp, int np,
                                    int i, int b, int R, int NB)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t bstride = (size_t)(kp / 4) * 32;
    const int8_t *w = wp + (size_t)b * bstride;
    __m256i acc[4][2];
    for (int r = 0; r < R; r++)
        for (int nb = 0; nb < NB; nb++)
            acc[r][nb] = _mm256_setzero_si256();
    for (int g = 0; g < kp / 4; g++) {
        __m256i wv[2];
        for (int nb = 0; nb < NB; nb++)
            wv[nb] = _mm256_loadu_si256((const __m256i *)(w + nb * bstride + (size_t)g * 32));
        for (int r = 0; r < R; r++) {
            int32_t av;
            memcpy(&av, a + (size_t)(i + r) * kp + (size_t)g * 4, 4);
            const __m256i x = _mm256_set1_epi32(av);
            for (int nb = 0; nb < NB; nb++)
                acc[r][nb] = _mm256_add_epi32(
                    acc[r][nb], _mm256_madd_epi16(_mm256_maddubs_epi16(x, wv[nb]), ones));
        }
    }
    for (int r = 0; r < R; r++)
        for (int nb = 0; nb < NB; nb++)
            _mm256_storeu_si256((__m256i *)(c + (size_t)(i + r) * np + (size_t)(b + nb) * 8),
                                acc[r][nb]);
}

static ALWAYS_INLINE void tile_s16(int32_t *c, const int16_t *a, const int16_t *wp, int kp, int np,
                                   int i, int b, int R, int NB)
{
    const size_t bstride = (size_t)(kp / 2) * 16;
    const int16_t *w = wp + (size_t)b * bstride;
    __m256i acc[4][2];
    for (int r = 0; r < R; r++)
        for (int nb = 0; nb < NB; nb++)
            acc[r][nb] = _mm256_setzero_si256();
    for (int g = 0; g < kp / 2; g++) {
        __m256i wv[2];
        for (int nb = 0; nb < NB; nb++)
            wv[nb] = _mm256_loadu_si256((const __m256i *)(w + nb * bstride + (size_t)g * 16));
        for (int r = 0; r < R; r++) {
            int32_t av;
            memcpy(&av, a + (size_t)(i + r) * kp + (size_t)g * 2, 4);
            const __m256i x = _mm256_set1_epi32(av);
            for (int nb = 0; nb < NB; nb++)
                acc[r][nb] = _mm256_add_epi32(acc[r][nb], _mm256_madd_epi16(x, wv[nb]));
        }
    }
    for (int r = 0; r < R; r++)
        for (int nb = 0; nb < NB; nb++)
            _mm256_storeu_si256((__m256i *)(c + (size_t)(i + r) * np + (size_t)(b + nb) * 8),
                                acc[r][nb]);
}

#define GEMM_DRIVER(name, tile, atype, wtype)                                                      \
    void name(int32_t *c, const atype *a, const wtype *wp, int m, int n, int k)                    \
    {                                                                                              \
        const int kp = round_up(k, 4), np = round_up(n, 8), nblk = np / 8;                         \
        int b = 0;                                                                                 \
        for (; b + 2 <= nblk; b += 2) {                                                            \
            int i = 0;                                                                             \
            for (; i + 4 <= m; i += 4)                                                             \
                tile(c, a, wp, kp, np, i, b, 4, 2);                                                \
            for (; i < m; i++)                                                                     \
                tile(c, a, wp, kp, np, i, b, 1, 2);                                                \
        }                                                                                          \
        if (b < nblk) {                                                                            \
            int i = 0;                                                                             \
            for (; i + 4 <= m; i += 4)                                                             \
                tile(c, a, wp, kp, np, i, b, 4, 1);                                                \
            for (; i < m; i++)                                                                     \
                tile(c, a, wp, kp, np, i, b, 1, 1);                                                \
        }                                                                                          \
    }

GEMM_DRIVER(qrt_gemm_u8s8, tile_u8s8, uint8_t, int8_t)
GEMM_DRIVER(qrt_gemm_s16, tile_s16, int16_t, int16_t)

/* The vpmaddubsw tile with int16 sums: `span` groups of 4 k are summed in int16 (vpaddw) before
 * one vpmaddwd widens them into the int32 results, which stay in c. The caller guarantees that
 * span pair sums cannot leave int16: for 4-bit codes that is 100+ groups, so the widening
 * nearly vanishes and each 32 products cost two instructions instead of three. */
static ALWAYS_INLINE void tile_u8s8_16(int32_t *c, const uint8_t *a, const int8_t *wp, int kp,
                                       int np, int i, int b, int R, int NB, int span)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t bstride = (size_t)(kp / 4) * 32;
    const int8_t *w = wp + (size_t)b * bstride;
    for (int r = 0; r < R; r++)
        for (int nb = 0; nb < NB; nb++)
            _mm256_storeu_si256((__m256i *)(c + (size_t)(i + r) * np + (size_t)(b + nb) * 8),
                                _mm256_setzero_si256());
    for (int g0 = 0; g0 < kp / 4; g0 += span) {
        const int g1 = g0 + span < kp / 4 ? g0 + span : kp / 4;
        __m256i acc[4][2];
        for (int r = 0; r < R; r++)
            for (int nb = 0; nb < NB; nb++)
                acc[r][nb] = _mm256_setzero_si256();
        for (int g = g0; g < g1; g++) {
            __m256i wv[2];
            for (int nb = 0; nb < NB; nb++)
                wv[nb] = _mm256_loadu_si256((const __m256i *)(w + nb * bstride + (size_t)g * 32));
            for (int r = 0; r < R; r++) {
                int32_t av;
                memcpy(&av, a + (size_t)(i + r) * kp + (size_t)g * 4, 4);
                const __m256i x = _mm256_set1_epi32(av);
                for (int nb = 0; nb < NB; nb++)
                    acc[r][nb] = _mm256_add_epi16(acc[r][nb], _mm256_maddubs_epi16(x, wv[nb]));
            }
        }
        for (int r = 0; r < R; r++)
            for (int nb = 0; nb < NB; nb++) {
                __m256i *p = (__m256i *)(c + (size_t)(i + r) * np + (size_t)(b + nb) * 8);
                _mm256_storeu_si256(p, _mm256_add_epi32(_mm256_loadu_si256(p),
                                                        _mm256_madd_epi16(acc[r][nb], ones)));
            }
    }
}

void qrt_gemm_u8s8_acc16(int32_t *c, const uint8_t *a, const int8_t *wp, int m, int n, int k,
                         int span)
{
    const int kp = round_up(k, 4), np = round_up(n, 8), nblk = np / 8;
    int b = 0;
    for (; b + 2 <= nblk; b += 2) {
        int i = 0;
        for (; i + 4 <= m; i += 4)
            tile_u8s8_16(c, a, wp, kp, np, i, b, 4, 2, span);
        for (; i < m; i++)
            tile_u8s8_16(c, a, wp, kp, np, i, b, 1, 2, span);
    }
    for (int i = 0; b < nblk && i < m; i++)
        tile_u8s8_16(c, a, wp, kp, np, i, b, 1, 1, span);
}

#else /* no AVX2: the portable kernels are the kernels */

void qrt_gemm_u8s8_acc16(int32_t *c, const uint8_t *a, const int8_t *wp, int m, int n, int k,
                         int span)
{
    (void)span;
    qrt_gemm_u8s8_ref(c, a, wp, m, n, k);
}

void qrt_gemm_u8s8(int32_t *c, const uint8_t *a, const int8_t *wp, int m, int n, int k)
{
    qrt_gemm_u8s8_ref(c, a, wp, m, n, k);
}

void qrt_gemm_s16(int32_t *c, const int16_t *a, const int16_t *wp, int m, int n, int k)
{
    qrt_gemm_s16_ref(c, a, wp, m, n, k);
}

#endif

int qrt_acc16_span(const int32_t *w, int n, int k, int amax)
{
    long pmax = 1;
    for (int o = 0; o < n; o++)
        for (int kk = 0; kk < k; kk += 2) {
            long p = labs((long)w[(size_t)o * k + kk]) +
                     (kk + 1 < k ? labs((long)w[(size_t)o * k + kk + 1]) : 0);
            pmax = p * amax > pmax ? p * amax : pmax;
        }
    return pmax > 32767 ? 0 : (int)(32767 / pmax);
}

/* ---- requantization ---- */

int qrt_requant_make(qrt_requant *q, double a, double b)
{
    const double lim_off = ldexp(1.0, 61), lim_mult = ldexp(1.0, 31);
    if (!isfinite(a) || !isfinite(b) || fabs(a) >= 0.5)
        return -1;
    int e = -1;
    if (a != 0.0)
        frexp(a, &e); /* |a| = f * 2^e, f in [0.5, 1), e <= -1 */
    int shift = 31 - e;
    shift = shift > 62 ? 62 : shift;
    while (shift > 32 && fabs(b + 0.5) * ldexp(1.0, shift) > lim_off)
        shift--;
    if (fabs(b + 0.5) * ldexp(1.0, shift) > lim_off)
        return -1;
    q->shift = shift;
    q->mult = (int32_t)llround(fmax(fmin(a * ldexp(1.0, shift), lim_mult - 1), 1 - lim_mult));
    q->off = (int64_t)llround(b * ldexp(1.0, shift)) + ((int64_t)1 << (shift - 1));
    return 0;
}

/* ---- NHWC codes ---- */

void qrt_quantize_nhwc(uint8_t *dst, const float *src, int n, int c, int hw, float inv, int zp,
                       int lo, int hi, int off)
{
    /* src [n][c][hw] floats, dst [n][hw][c] codes */
    const float vlo = (float)(lo - zp), vhi = (float)(hi - zp);
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const float *s = src + ((size_t)i * c + ch) * hw;
            uint8_t *d = dst + (size_t)i * hw * c + ch;
            for (int p = 0; p < hw; p++) {
                float v = s[p] * inv;
                v = v > vlo ? v : vlo; /* NaN goes to lo */
                v = v < vhi ? v : vhi;
                d[(size_t)p * c] = (uint8_t)((int)rintf(v) + zp + off);
            }
        }
}

/* n bytes, 32 at a time: the runs of im2col are short, and libc's memcpy costs more in calling
 * than in copying them. */
static inline void copy_run(uint8_t *d, const uint8_t *s, size_t n)
{
    size_t i = 0;
#ifdef __AVX2__
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(d + i), _mm256_loadu_si256((const __m256i *)(s + i)));
#endif
    for (; i < n; i++)
        d[i] = s[i];
}

/* One output pixel's columns: k rows of k taps of c channels. */
static void im2col_pixel(uint8_t *d, const uint8_t *in, int c, int h, int w, int k, int iy0,
                         int ix0, uint8_t padv)
{
    const int inside = ix0 >= 0 && ix0 + k <= w;
    for (int ki = 0; ki < k; ki++, d += (size_t)k * c) {
        int iy = iy0 + ki;
        if (iy < 0 || iy >= h) {
            memset(d, padv, (size_t)k * c);
        } else if (inside) { /* the k taps of a row are contiguous in NHWC */
            copy_run(d, in + ((size_t)iy * w + ix0) * c, (size_t)k * c);
        } else {
            for (int kj = 0; kj < k; kj++) {
                int ix = ix0 + kj;
                if (ix < 0 || ix >= w)
                    memset(d + (size_t)kj * c, padv, (size_t)c);
                else
                    copy_run(d + (size_t)kj * c, in + ((size_t)iy * w + ix) * c, (size_t)c);
            }
        }
    }
}

void qrt_im2col_u8(uint8_t *cols, const uint8_t *in, int c, int h, int w, int k, int stride,
                   int pad, int oh, int ow, int kp, uint8_t padv)
{
    /* in [h][w][c], cols [oh*ow][kp] */
    const size_t used = (size_t)k * k * c, tail = (size_t)kp - used;
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            uint8_t *d = cols + ((size_t)oy * ow + ox) * kp;
            im2col_pixel(d, in, c, h, w, k, oy * stride - pad, ox * stride - pad, padv);
            memset(d + used, padv, tail);
        }
}

void qrt_maxpool_u8(uint8_t *out, const uint8_t *in, int n, int c, int h, int w, int k, int stride,
                    int pad, int oh, int ow, uint8_t zero_code)
{
    /* in [n][h][w][c], out [n][oh][ow][c] */
    for (int i = 0; i < n; i++) {
        const uint8_t *x = in + (size_t)i * h * w * c;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                uint8_t *d = out + (((size_t)i * oh + oy) * ow + ox) * c;
                int any = 0;
                for (int ki = 0; ki < k; ki++) {
                    int iy = oy * stride - pad + ki;
                    for (int kj = 0; kj < k && iy >= 0 && iy < h; kj++) {
                        int ix = ox * stride - pad + kj;
                        if (ix < 0 || ix >= w)
                            continue;
                        const uint8_t *s = x + ((size_t)iy * w + ix) * c;
                        if (!any)
                            memcpy(d, s, (size_t)c);
                        for (int ch = 0; any && ch < c; ch++)
                            d[ch] = s[ch] > d[ch] ? s[ch] : d[ch];
                        any = 1;
                    }
                }
                if (!any)
                    memset(d, zero_code, (size_t)c);
            }
    }
}

void qrt_relu_u8(uint8_t *out, const uint8_t *in, size_t len, uint8_t zero_code)
{
    for (size_t i = 0; i < len; i++)
        out[i] = in[i] > zero_code ? in[i] : zero_code;
}

/* acc - corr: both may be near +-2^31, their difference (the true sum) is not. */
static inline int32_t diff(int32_t a, int32_t b) { return (int32_t)((int64_t)a - b); }

void qrt_epilogue_codes_ref(uint8_t *out, const int32_t *acc, int m, int np, int oc,
                            const int32_t *corr, const qrt_requant *rq, int lo, int hi, int add)
{
    for (int i = 0; i < m; i++) {
        const int32_t *a = acc + (size_t)i * np;
        uint8_t *d = out + (size_t)i * oc;
        for (int o = 0; o < oc; o++) {
            int64_t v = qrt_requant_apply(diff(a[o], corr[o]), &rq[o]);
            v = v < lo ? lo : v > hi ? hi : v;
            d[o] = (uint8_t)(v + add);
        }
    }
}

void qrt_requant_soa(const qrt_requant *rq, int oc, int32_t *mult, int32_t *rsh, int64_t *off2)
{
    const int np = round_up(oc, 8);
    for (int o = 0; o < np; o++) {
        qrt_requant z = {0, 32, 0}, r = o < oc ? rq[o] : z;
        mult[o] = r.mult;
        rsh[o] = r.shift - 32;
        off2[(o / 8) * 8 + (o % 2) * 4 + (o % 8) / 2] = r.off;
    }
}

/* One channel, as the vector code computes it: the high word of the sum, then the rest. */
static inline int32_t requant_soa_one(int32_t x, const int32_t *mult, const int32_t *rsh,
                                      const int64_t *off2, int o)
{
    int64_t t = (int64_t)x * mult[o] + off2[(o / 8) * 8 + (o % 2) * 4 + (o % 8) / 2];
    return (int32_t)(t >> 32) >> rsh[o];
}

#ifdef __AVX2__
static inline __m256i requant8(__m256i x, const int32_t *mult, const int32_t *rsh,
                               const int64_t *off2, int o)
{
    const __m256i mv = _mm256_loadu_si256((const __m256i *)(mult + o));
    const __m256i oe = _mm256_loadu_si256((const __m256i *)(off2 + o));
    const __m256i oo = _mm256_loadu_si256((const __m256i *)(off2 + o + 4));
    /* vpmuldq multiplies the low words of the 64-bit lanes: channels 0, 2, 4, 6; shifted down
     * by 32 bits, the odd channels. The 64-bit sums' high words are floor(t / 2^32). */
    __m256i pe = _mm256_add_epi64(_mm256_mul_epi32(x, mv), oe);
    __m256i po = _mm256_add_epi64(
        _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mv, 32)), oo);
    __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
    return _mm256_srav_epi32(hi, _mm256_loadu_si256((const __m256i *)(rsh + o)));
}
#endif

void qrt_epilogue_codes(uint8_t *out, const int32_t *acc, int m, int np, int oc,
                        const int32_t *corr, const int32_t *mult, const int32_t *rsh,
                        const int64_t *off2, int lo, int hi, int add)
{
    for (int i = 0; i < m; i++) {
        const int32_t *a = acc + (size_t)i * np;
        uint8_t *d = out + (size_t)i * oc;
        int o = 0;
#ifdef __AVX2__
        const __m256i vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(hi);
        const __m256i vadd = _mm256_set1_epi32(add);
        const __m256i gather = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                                -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1,
                                                -1, -1, -1, -1, -1, -1);
        for (; o + 8 <= oc; o += 8) {
            __m256i x = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(a + o)),
                                         _mm256_loadu_si256((const __m256i *)(corr + o)));
            __m256i y = requant8(x, mult, rsh, off2, o);
            y = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(y, vlo), vhi), vadd);
            y = _mm256_shuffle_epi8(y, gather); /* bytes 0..3 of each 128-bit half */
            y = _mm256_permutevar8x32_epi32(y, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
            _mm_storel_epi64((__m128i *)(d + o), _mm256_castsi256_si128(y));
        }
#endif
        for (; o < oc; o++) {
            int32_t v = requant_soa_one(diff(a[o], corr[o]), mult, rsh, off2, o);
            v = v < lo ? lo : v > hi ? hi : v;
            d[o] = (uint8_t)(v + add);
        }
    }
}

void qrt_epilogue_float(float *out, const int32_t *acc, int m, int np, int oc,
                        const int32_t *corr, const float *scale, const float *bias, int nchw)
{
    for (int i = 0; i < m; i++) {
        const int32_t *a = acc + (size_t)i * np;
        for (int o = 0; o < oc; o++) {
            float v = (float)diff(a[o], corr[o]) * scale[o] + bias[o];
            out[nchw ? (size_t)o * m + i : (size_t)i * oc + o] = v;
        }
    }
}
