/*
 * dataset.c: loads image classification sets into memory as normalised float32 NCHW.
 *
 * Every source fills a split in two steps. A reader validates its files completely, then
 * writes raw/255 values and uint8 labels into the split's two blocks (x and y, allocated once at
 * their final size). normalise() then takes the per-channel mean and std of the training split
 * as loaded (after train_limit), accumulated in double, stores them in both splits and applies
 * x = (v - mean) / std to both.
 *
 *   IDX (Fashion-MNIST, MNIST): big-endian header; magic 0x00000803 then n, h, w for images,
 *     0x00000801 then n for labels. Each file is NAME.gz or NAME, read whole through zlib, which
 *     passes uncompressed files through unchanged.
 *   CIFAR-10 binary: data_batch_1..5.bin and test_batch.bin (optionally .gz), records of one
 *     label byte and 3072 pixel bytes (3x32x32, channel-major).
 *   synthetic: generated here from a fixed seed, described in its own section below.
 *
 * Invariants: a file is rejected (QD_EDATASET, naming it) for any inconsistency before anything
 * from it is kept, so corrupt input never reaches memory it does not own. dataset_load leaves
 * both splits zeroed on failure. Callers: the training, evaluation and calibration jobs, and
 * listings that print dataset_known_names.
 */
#include "dataset.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define DS_PATH_MAX 4096
#define DS_FILE_CAP ((size_t)1 << 30) /* largest file (uncompressed) we read: 1 GiB */
#define DS_CLASSES 10
#define DS_SYSTEM_DIR "/usr/share/datasets"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_TRAIN_FILES 5

const char *const dataset_known_names[] = {"synthetic", "fashion-mnist", "mnist", "cifar10", NULL};

enum ds_format { FMT_NONE = 0, FMT_IDX, FMT_CIFAR };

/* ---- splits ---- */

void dataset_free(dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->y);
    d->x = NULL;
    d->y = NULL;
    d->n = 0;
}

static int split_alloc(dataset *d, int n, int c, int h, int w, qd_err *err)
{
    memset(d, 0, sizeof *d);
    d->x = malloc((size_t)n * c * h * w * sizeof(float));
    d->y = malloc((size_t)n);
    if (!d->x || !d->y) {
        dataset_free(d);
        return qd_fail(err, QD_ENOMEM, NULL, "cannot allocate %d examples of %dx%dx%d", n, c, h, w);
    }
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->classes = DS_CLASSES;
    return 0;
}

/* Keep the first limit examples of n; limit <= 0 or larger than n keeps all. */
static int keep_count(int n, int limit) { return limit > 0 && limit < n ? limit : n; }

static void channel_stats(const dataset *d, int c, double *mean, double *sd)
{
    size_t hw = (size_t)d->h * d->w;
    double ls[4] = {0}, lss[4] = {0}; /* four lanes: independent adds keep the pipeline full */
    for (int i = 0; i < d->n; i++) {
        const float *p = d->x + ((size_t)i * d->c + c) * hw;
        for (size_t j = 0; j < hw; j++) {
            ls[j & 3] += p[j];
            lss[j & 3] += (double)p[j] * p[j];
        }
    }
    double s = ls[0] + ls[1] + ls[2] + ls[3], ss = lss[0] + lss[1] + lss[2] + lss[3];
    double cnt = (double)d->n * (double)hw;
    double var = ss / cnt - (s / cnt) * (s / cnt);
    *mean = s / cnt;
    *sd = var > 1e-12 ? sqrt(var) : 1.0; /* a constant channel is only centred */
}

static void apply_norm(dataset *d)
{
    size_t hw = (size_t)d->h * d->w;
    for (int i = 0; i < d->n; i++) {
        for (int c = 0; c < d->c; c++) {
            float *p = d->x + ((size_t)i * d->c + c) * hw;
            float m = d->mean[c], inv = 1.0f / d->std[c];
            for (size_t j = 0; j < hw; j++)
                p[j] = (p[j] - m) * inv;
        }
    }
}

static void normalise(dataset *train, dataset *test)
{
    for (int c = 0; c < train->c; c++) {
        double mean, sd;
        channel_stats(train, c, &mean, &sd);
        train->mean[c] = test->mean[c] = (float)mean;
        train->std[c] = test->std[c] = (float)sd;
    }
    apply_norm(train);
    apply_norm(test);
}

/* ---- files ---- */

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int join(char *out, const char *dir, const char *name, const char *suffix, qd_err *err)
{
    int len = snprintf(out, DS_PATH_MAX, "%s/%s%s", dir, name, suffix);
    if (len < 0 || len >= DS_PATH_MAX)
        return qd_fail(err, QD_ENOENT, name, "path too long: %s/%s", dir, name);
    return 0;
}

/* Resolve dir/base to dir/base.gz or dir/base, whichever exists (the .gz first). */
static int find_file(char *out, const char *dir, const char *base, qd_err *err)
{
    int rc = join(out, dir, base, ".gz", err);
    if (rc || is_file(out))
        return rc;
    rc = join(out, dir, base, "", err);
    if (rc || is_file(out))
        return rc;
    return qd_fail(err, QD_ENOENT, out, "%s: no such file (nor %s.gz)", out, base);
}

static int grow(uint8_t **b, size_t *cap, const char *path, qd_err *err)
{
    if (*cap >= DS_FILE_CAP)
        return qd_fail(err, QD_EDATASET, path, "%s: larger than %zu bytes", path, DS_FILE_CAP);
    size_t ncap = *cap ? *cap * 2 : (size_t)1 << 20;
    uint8_t *nb = realloc(*b, ncap);
    if (!nb)
        return qd_fail(err, QD_ENOMEM, path, "%s: cannot allocate %zu bytes", path, ncap);
    *b = nb;
    *cap = ncap;
    return 0;
}

/* Read all of path (gzip or raw) into a new buffer that the caller frees. */
static int slurp(const char *path, uint8_t **buf, size_t *len, qd_err *err)
{
    uint8_t *b = NULL;
    size_t cap = 0, n = 0;
    int rc = 0, zerr = Z_OK;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return qd_fail(err, QD_EDATASET, path, "%s: cannot open", path);
    gzbuffer(f, 1 << 17);
    for (;;) {
        if (n == cap && (rc = grow(&b, &cap, path, err)))
            goto out;
        size_t want = cap - n < (size_t)INT_MAX ? cap - n : (size_t)INT_MAX;
        int got = gzread(f, b + n, (unsigned)want);
        if (got < 0) {
            rc = qd_fail(err, QD_EDATASET, path, "%s: read error: %s", path, gzerror(f, &zerr));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    const char *msg = gzerror(f, &zerr); /* a cut gzip stream ends with Z_BUF_ERROR */
    if (zerr != Z_OK)
        rc = qd_fail(err, QD_EDATASET, path, "%s: truncated or corrupt: %s", path, msg);
out:
    gzclose(f);
    if (rc) {
        free(b);
        return rc;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* ---- IDX ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Check magic, nd dimensions (each > 0) and that the data fill the file exactly. */
static int idx_header(const char *path, const uint8_t *b, size_t len, uint32_t magic, int nd,
                      uint32_t *dims, qd_err *err)
{
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr)
        return qd_fail(err, QD_EDATASET, path, "%s: truncated header (%zu bytes)", path, len);
    if (be32(b) != magic)
        return qd_fail(err, QD_EDATASET, path, "%s: bad magic 0x%08x (expected 0x%08x)", path,
                       be32(b), magic);
    size_t total = 1;
    for (int i = 0; i < nd; i++) {
        dims[i] = be32(b + 4 + 4 * i);
        if (dims[i] == 0)
            return qd_fail(err, QD_EDATASET, path, "%s: dimension %d is zero", path, i);
        if (dims[i] > DS_FILE_CAP / total)
            return qd_fail(err, QD_EDATASET, path, "%s: dimensions too large", path);
        total *= dims[i];
    }
    if (len - hdr < total)
        return qd_fail(err, QD_EDATASET, path, "%s: truncated: %zu data bytes, header says %zu",
                       path, len - hdr, total);
    if (len - hdr > total)
        return qd_fail(err, QD_EDATASET, path, "%s: %zu bytes after the data", path,
                       len - hdr - total);
    return 0;
}

static int check_labels(const char *path, const uint8_t *lab, size_t n, size_t stride, qd_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (lab[i * stride] >= DS_CLASSES)
            return qd_fail(err, QD_EDATASET, path, "%s: label %d of example %zu not in [0, %d)",
                           path, lab[i * stride], i, DS_CLASSES);
    return 0;
}

static int idx_read(char *path, const char *dir, const char *base, uint32_t magic, int nd,
                    uint8_t **buf, uint32_t *dims, qd_err *err)
{
    size_t len = 0;
    int rc = find_file(path, dir, base, err);
    if (!rc)
        rc = slurp(path, buf, &len, err);
    if (!rc && (rc = idx_header(path, *buf, len, magic, nd, dims, err))) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

/* Load one IDX split from dir/<prefix>-images-idx3-ubyte and dir/<prefix>-labels-idx1-ubyte. */
static int idx_split(dataset *d, const char *dir, const char *prefix, int limit, qd_err *err)
{
    char ipath[DS_PATH_MAX], lpath[DS_PATH_MAX], base[64];
    uint8_t *img = NULL, *lab = NULL;
    uint32_t idims[3], ldims[1];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    int rc = idx_read(ipath, dir, base, IDX_MAGIC_IMAGES, 3, &img, idims, err);
    if (rc)
        goto out;
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    if ((rc = idx_read(lpath, dir, base, IDX_MAGIC_LABELS, 1, &lab, ldims, err)))
        goto out;
    if (idims[0] != ldims[0]) {
        rc = qd_fail(err, QD_EDATASET, lpath, "%s: %u labels but %s holds %u images", lpath,
                     ldims[0], ipath, idims[0]);
        goto out;
    }
    if ((rc = check_labels(lpath, lab + 8, ldims[0], 1, err)))
        goto out;
    int n = keep_count((int)idims[0], limit);
    if ((rc = split_alloc(d, n, 1, (int)idims[1], (int)idims[2], err)))
        goto out;
    size_t count = (size_t)n * idims[1] * idims[2];
    const uint8_t *px = img + 16;
    for (size_t i = 0; i < count; i++)
        d->x[i] = (float)px[i] * (1.0f / 255.0f);
    memcpy(d->y, lab + 8, (size_t)n);
out:
    free(img);
    free(lab);
    return rc;
}

static int idx_load(dataset *train, dataset *test, const char *dir, int train_limit, int test_limit,
                    qd_err *err)
{
    int rc = idx_split(train, dir, "train", train_limit, err);
    if (!rc)
        rc = idx_split(test, dir, "t10k", test_limit, err);
    if (!rc && (test->h != train->h || test->w != train->w))
        rc = qd_fail(err, QD_EDATASET, dir,
                     "%s: test images are %dx%d but training images are %dx%d", dir, test->h,
                     test->w, train->h, train->w);
    return rc;
}

/* ---- CIFAR-10 ---- */

static int cifar_read(char *path, const char *dir, const char *base, uint8_t **buf, size_t *len,
                      qd_err *err)
{
    int rc = find_file(path, dir, base, err);
    if (!rc)
        rc = slurp(path, buf, len, err);
    if (rc)
        return rc;
    if (*len == 0 || *len % CIFAR_RECORD != 0)
        rc = qd_fail(err, QD_EDATASET, path, "%s: size %zu is not a positive multiple of %d", path,
                     *len, CIFAR_RECORD);
    if (!rc)
        rc = check_labels(path, *buf, *len / CIFAR_RECORD, CIFAR_RECORD, err);
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

/* Load a CIFAR split from nfiles batch files, keeping the first limit records in file order. */
static int cifar_split(dataset *d, const char *dir, const char *const *names, int nfiles, int limit,
                       qd_err *err)
{
    char path[DS_PATH_MAX];
    uint8_t *buf[CIFAR_TRAIN_FILES] = {NULL};
    size_t len[CIFAR_TRAIN_FILES] = {0}, total = 0;
    int rc = 0;
    for (int f = 0; f < nfiles; f++) {
        if ((rc = cifar_read(path, dir, names[f], &buf[f], &len[f], err)))
            goto out;
        total += len[f] / CIFAR_RECORD;
    }
    if (total > INT_MAX) {
        rc = qd_fail(err, QD_EDATASET, dir, "%s: too many records", dir);
        goto out;
    }
    int n = keep_count((int)total, limit), k = 0;
    if ((rc = split_alloc(d, n, 3, CIFAR_SIDE, CIFAR_SIDE, err)))
        goto out;
    for (int f = 0; f < nfiles && k < n; f++) {
        for (size_t r = 0; r < len[f] / CIFAR_RECORD && k < n; r++, k++) {
            const uint8_t *rec = buf[f] + r * CIFAR_RECORD;
            float *x = d->x + (size_t)k * CIFAR_PIXELS;
            d->y[k] = rec[0];
            for (int j = 0; j < CIFAR_PIXELS; j++)
                x[j] = (float)rec[1 + j] * (1.0f / 255.0f);
        }
    }
out:
    for (int f = 0; f < nfiles; f++)
        free(buf[f]);
    return rc;
}

static int cifar_load(dataset *train, dataset *test, const char *dir, int train_limit,
                      int test_limit, qd_err *err)
{
    static const char *const train_names[CIFAR_TRAIN_FILES] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
        "data_batch_5.bin"};
    static const char *const test_names[1] = {"test_batch.bin"};
    int rc = cifar_split(train, dir, train_names, CIFAR_TRAIN_FILES, train_limit, err);
    if (!rc)
        rc = cifar_split(test, dir, test_names, 1, test_limit, err);
    if (!rc)
        train->augment = test->augment = 1;
    return rc;
}

/* ---- synthetic ----
 *
 * Ten classes of 1x28x28 images. Class k has a fixed prototype: the sum of SYN_BLOBS Gaussian
 * blobs (centre, width and height drawn once from SYN_SEED), scaled to a peak of 1 and drawn on
 * a canvas SYN_PAD pixels wider on each side so that shifts never clip it. An example is the
 * prototype shifted by an integer offset in [-2, 2] on each axis, times a contrast in
 * [0.7, 1.3], plus Gaussian noise of std 0.15, clamped to [0, 1] (the raw/255 scale). Labels
 * come in blocks of ten, each a permutation of 0..9, so every prefix is balanced to within one.
 * Training and test examples come from two further streams of the fixed seed; nothing depends
 * on the caller's state, and a limit keeps a prefix of the full set.
 */

#define SYN_SEED 0x51a7e71cda7a5e7ULL
#define SYN_SIDE 28
#define SYN_PAD 2
#define SYN_CANVAS (SYN_SIDE + 2 * SYN_PAD)
#define SYN_BLOBS 3
#define SYN_TRAIN 4000
#define SYN_TEST 1000

typedef float syn_canvas[SYN_CANVAS][SYN_CANVAS];

static void syn_prototype(syn_canvas p, rng *r)
{
    float cy[SYN_BLOBS], cx[SYN_BLOBS], s2[SYN_BLOBS], amp[SYN_BLOBS], peak = 0.0f;
    for (int b = 0; b < SYN_BLOBS; b++) {
        cy[b] = 5.0f + 17.0f * rng_uniform(r);
        cx[b] = 5.0f + 17.0f * rng_uniform(r);
        float s = 1.5f + 2.0f * rng_uniform(r);
        s2[b] = 2.0f * s * s;
        amp[b] = 0.5f + 0.5f * rng_uniform(r);
    }
    for (int u = 0; u < SYN_CANVAS; u++) {
        for (int v = 0; v < SYN_CANVAS; v++) {
            float y = (float)(u - SYN_PAD), x = (float)(v - SYN_PAD), sum = 0.0f;
            for (int b = 0; b < SYN_BLOBS; b++) {
                float d2 = (y - cy[b]) * (y - cy[b]) + (x - cx[b]) * (x - cx[b]);
                sum += amp[b] * expf(-d2 / s2[b]);
            }
            p[u][v] = sum;
            peak = sum > peak ? sum : peak;
        }
    }
    for (int u = 0; u < SYN_CANVAS; u++)
        for (int v = 0; v < SYN_CANVAS; v++)
            p[u][v] /= peak;
}

static void syn_example(float *img, syn_canvas p, rng *r)
{
    int dy = (int)rng_below(r, 2 * SYN_PAD + 1) - SYN_PAD;
    int dx = (int)rng_below(r, 2 * SYN_PAD + 1) - SYN_PAD;
    float contrast = 0.7f + 0.6f * rng_uniform(r);
    for (int y = 0; y < SYN_SIDE; y++) {
        for (int x = 0; x < SYN_SIDE; x++) {
            float v = contrast * p[y + SYN_PAD - dy][x + SYN_PAD - dx] + 0.15f * rng_normal(r);
            img[y * SYN_SIDE + x] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    }
}

static int syn_split(dataset *d, syn_canvas *proto, uint64_t stream, int n, qd_err *err)
{
    int perm[DS_CLASSES], rc = split_alloc(d, n, 1, SYN_SIDE, SYN_SIDE, err);
    if (rc)
        return rc;
    rng r;
    rng_seed(&r, SYN_SEED + stream);
    for (int i = 0; i < n; i++) {
        if (i % DS_CLASSES == 0) {
            for (int k = 0; k < DS_CLASSES; k++)
                perm[k] = k;
            rng_shuffle(&r, perm, DS_CLASSES);
        }
        d->y[i] = (uint8_t)perm[i % DS_CLASSES];
        syn_example(d->x + (size_t)i * SYN_SIDE * SYN_SIDE, proto[d->y[i]], &r);
    }
    return 0;
}

static int syn_load(dataset *train, dataset *test, int train_limit, int test_limit, qd_err *err)
{
    syn_canvas *proto = malloc(DS_CLASSES * sizeof *proto);
    if (!proto)
        return qd_fail(err, QD_ENOMEM, NULL, "synthetic: cannot allocate prototypes");
    rng r;
    rng_seed(&r, SYN_SEED);
    for (int k = 0; k < DS_CLASSES; k++)
        syn_prototype(proto[k], &r);
    int rc = syn_split(train, proto, 1, keep_count(SYN_TRAIN, train_limit), err);
    if (!rc)
        rc = syn_split(test, proto, 2, keep_count(SYN_TEST, test_limit), err);
    free(proto);
    return rc;
}

/* ---- finding a set ---- */

static int detect_format(const char *dir)
{
    char path[DS_PATH_MAX];
    if (find_file(path, dir, "train-images-idx3-ubyte", NULL) == 0)
        return FMT_IDX;
    if (find_file(path, dir, "data_batch_1.bin", NULL) == 0)
        return FMT_CIFAR;
    return FMT_NONE;
}

static int open_dir(const char *dir, int *fmt, qd_err *err)
{
    if (!is_dir(dir))
        return qd_fail(err, QD_ENOENT, dir, "%s: no such directory", dir);
    *fmt = detect_format(dir);
    if (*fmt == FMT_NONE)
        return qd_fail(err, QD_ENOENT, dir,
                       "%s: holds neither IDX files (train-images-idx3-ubyte[.gz]) nor CIFAR-10 "
                       "batches (data_batch_1.bin)",
                       dir);
    return 0;
}

/* Try dir/name; 1 when it holds a data set (out then holds the path). */
static int try_dir(char *out, const char *dir, size_t dirlen, const char *name, int *fmt)
{
    int len = snprintf(out, DS_PATH_MAX, "%.*s/%s", (int)dirlen, dir, name);
    if (len < 0 || len >= DS_PATH_MAX || !is_dir(out))
        return 0;
    *fmt = detect_format(out);
    return *fmt != FMT_NONE;
}

static int find_named(char *out, const char *name, const char *dirs, int *fmt, qd_err *err)
{
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return qd_fail(err, QD_ENOENT, "dataset", "no data set named '%s'", name);
    for (const char *p = dirs; p && *p;) {
        size_t dlen = strcspn(p, ":");
        if (dlen > 0 && try_dir(out, p, dlen, name, fmt))
            return 0;
        p += dlen + (p[dlen] == ':');
    }
    if (try_dir(out, DS_SYSTEM_DIR, strlen(DS_SYSTEM_DIR), name, fmt))
        return 0;
    return qd_fail(err, QD_ENOENT, "dataset", "data set '%s' not found in %s%s%s", name,
                   dirs && *dirs ? dirs : "", dirs && *dirs ? " or " : "", DS_SYSTEM_DIR);
}

/* ---- loading and batching ---- */

int dataset_load(dataset *train, dataset *test, const char *name, const char *dirs, int train_limit,
                 int test_limit, qd_err *err)
{
    char dir[DS_PATH_MAX];
    int fmt = FMT_NONE, rc;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!name || !*name)
        return qd_fail(err, QD_ENOENT, "dataset", "no data set name given");
    if (strcmp(name, "synthetic") == 0) {
        rc = syn_load(train, test, train_limit, test_limit, err);
    } else {
        if (strchr(name, '/'))
            rc = open_dir(name, &fmt, err);
        else
            rc = find_named(dir, name, dirs, &fmt, err);
        const char *where = strchr(name, '/') ? name : dir;
        if (!rc && fmt == FMT_IDX)
            rc = idx_load(train, test, where, train_limit, test_limit, err);
        else if (!rc)
            rc = cifar_load(train, test, where, train_limit, test_limit, err);
    }
    if (rc) {
        dataset_free(train);
        dataset_free(test);
        memset(train, 0, sizeof *train);
        memset(test, 0, sizeof *test);
        return rc;
    }
    normalise(train, test);
    return 0;
}

/* Copy one image, cropped at offset (dy, dx) from a zero-padded canvas, flipped if asked. */
static void augment_one(float *dst, const float *src, int c, int h, int w, int dy, int dx, int flip)
{
    for (int ch = 0; ch < c; ch++) {
        for (int y = 0; y < h; y++) {
            int sy = y + dy;
            float *out = dst + ((size_t)ch * h + y) * w;
            if (sy < 0 || sy >= h) {
                memset(out, 0, (size_t)w * sizeof *out);
                continue;
            }
            const float *row = src + ((size_t)ch * h + sy) * w;
            for (int x = 0; x < w; x++) {
                int sx = (flip ? w - 1 - x : x) + dx;
                out[x] = sx >= 0 && sx < w ? row[sx] : 0.0f;
            }
        }
    }
}

void dataset_batch(const dataset *d, const int *idx, int count, float *x, int *y, rng *r)
{
    /* x: count x c x h x w, y: count; draws per example: dy, dx (each in [-4, 4]), flip */
    size_t chw = (size_t)d->c * d->h * d->w;
    for (int i = 0; i < count; i++) {
        assert(idx[i] >= 0 && idx[i] < d->n);
        const float *src = d->x + (size_t)idx[i] * chw;
        y[i] = d->y[idx[i]];
        if (!d->augment || !r) {
            memcpy(x + (size_t)i * chw, src, chw * sizeof(float));
            continue;
        }
        int dy = (int)rng_below(r, 9) - 4;
        int dx = (int)rng_below(r, 9) - 4;
        int flip = (int)rng_below(r, 2);
        augment_one(x + (size_t)i * chw, src, d->c, d->h, d->w, dy, dx, flip);
    }
}
