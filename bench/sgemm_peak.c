/*
 * sgemm_peak.c: the machine's own limit for the training core, OpenBLAS SGEMM GFLOP/s on large
 * square matrices with a given thread count (bench/run.sh prints it beside the training step's
 * achieved GFLOP/s). usage: sgemm_peak [threads] [n]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, n = argc > 2 ? atoi(argv[2]) : 2048;
    openblas_set_num_threads(threads);
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = calloc((size_t)n * n, sizeof(float));
    if (!a || !b || !c)
        return 1;
    for (long i = 0; i < (long)n * n; i++)
        a[i] = (float)(i % 13) * 0.01f, b[i] = (float)(i % 7) * 0.02f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * (double)n / (now_s() - t0) / 1e9;
        best = g > best ? g : best;
    }
    printf("sgemm_gflops=%.1f threads=%d n=%d\n", best, threads, n);
    free(a), free(b), free(c);
    return 0;
}
