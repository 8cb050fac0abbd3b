/*
 * dataset.h: image classification data sets held in memory as normalised float32 NCHW.
 *
 * Sources: IDX files (gzip or raw: Fashion-MNIST, MNIST), the CIFAR-10 binary format, and the
 * built-in deterministic `synthetic` set. dataset_load fills a train and a test split; both are
 * normalised with the per-channel mean and std of the training split it loaded.
 * Ownership: dataset_load allocates x and y of each split; dataset_free releases them and is a
 * no-op on a zeroed or already freed split.
 */
#ifndef QD_DATASET_H
#define QD_DATASET_H

#include <stdint.h>

#include "err.h"
#include "rng.h"

#define DATASET_MAX_C 4

typedef struct dataset {
    int n;                      /* examples */
    int c, h, w;                /* image shape */
    int classes;
    float *x;                   /* n * c * h * w, normalised */
    uint8_t *y;                 /* n labels in [0, classes) */
    float mean[DATASET_MAX_C];  /* normalisation applied: x = (raw/255 - mean) / std */
    float std[DATASET_MAX_C];
    int augment;                /* 1: random crop (pad 4) + horizontal flip when batching train data */
} dataset;

/*
 * name: "synthetic", "fashion-mnist", "mnist", "cifar10", or a directory path holding IDX files
 * (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...) or CIFAR-10 binary
 * batches (data_batch_1.bin ... data_batch_5.bin, test_batch.bin).
 * dirs: colon-separated directories searched for a named set (dirs/NAME), may be NULL; the
 * system location /usr/share/datasets/NAME is always searched last.
 * train_limit / test_limit: keep only the first N examples (0 = all).
 * Errors: QD_ENOENT (no such data set or file), QD_EDATASET (corrupt: bad magic, truncated,
 * label out of range, inconsistent counts), QD_ENOMEM. err names the file.
 */
int dataset_load(dataset *train, dataset *test, const char *name, const char *dirs,
                 int train_limit, int test_limit, qd_err *err);
void dataset_free(dataset *d);

/* Names of the built-in / well-known sets, NULL-terminated, for listings. */
extern const char *const dataset_known_names[];

/*
 * Copy examples idx[0..count) into x (count*c*h*w) and y (count). When d->augment and r is not
 * NULL, apply random crop with 4-pixel zero padding and horizontal flip, drawing from r.
 */
void dataset_batch(const dataset *d, const int *idx, int count, float *x, int *y, rng *r);

#endif
