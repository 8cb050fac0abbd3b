/*
 * check_dataset.c: the data set loader against small files written here (IDX gzip and raw,
 * CIFAR-10 binary), the corrupt inputs it must refuse, the built-in synthetic set, batching with
 * augmentation, and the installed Fashion-MNIST when present.
 *
 * Each file test gets a fresh directory inside one temporary directory per run, which the parent
 * process removes at the end whether or not tests failed. Expected values are computed here from
 * the bytes written, not taken from the loader.
 */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/dataset.h"
#include "tests/check_main.h"

#define TOL_NORM 1e-5f /* normalised value, float arithmetic */
#define TOL_STAT 1e-6  /* mean / std, double accumulation stored as float */

static char g_base[64]; /* one per suite run, made and removed by the parent process */
static char g_dir[128]; /* one per test, inside g_base */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void base_setup(void)
{
    snprintf(g_base, sizeof g_base, "/tmp/check_dataset.XXXXXX");
    if (!mkdtemp(g_base))
        g_base[0] = '\0';
}

/* Runs even when a test failed (its forked process exits before any checked teardown). */
static void base_teardown(void)
{
    if (g_base[0])
        nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void dir_setup(void)
{
    ck_assert_msg(g_base[0], "cannot create a temporary directory");
    snprintf(g_dir, sizeof g_dir, "%s/t.XXXXXX", g_base);
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_dir, name);
}

/* Write bytes to dir/name, as dir/name.gz through zlib when gz. */
static void write_bytes(const char *dir, const char *name, const uint8_t *b, size_t len, int gz)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, gz ? ".gz" : "");
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(len ? gzwrite(f, b, (unsigned)len) : 0, (int)len);
        ck_assert_int_eq(gzclose(f), Z_OK);
        return;
    }
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void make_subdir(char *out, size_t cap, const char *sub)
{
    snprintf(out, cap, "%s/%s", g_dir, sub);
    ck_assert_int_eq(mkdir(out, 0755), 0);
}

static void expect_zeroed(const dataset *d)
{
    ck_assert_ptr_null(d->x);
    ck_assert_ptr_null(d->y);
    ck_assert_int_eq(d->n, 0);
}

/* ---- small IDX sets ---- */

#define IDX_H 4
#define IDX_W 5
#define IDX_TRAIN 6
#define IDX_TEST 3
#define IDX_CAP 256

enum { F_TRAIN_IMG, F_TRAIN_LBL, F_TEST_IMG, F_TEST_LBL, F_COUNT };

static const char *const idx_names[F_COUNT] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
static const uint8_t train_labels[IDX_TRAIN] = {3, 1, 4, 1, 5, 9};
static const uint8_t test_labels[IDX_TEST] = {2, 6, 5};

typedef struct idx_files {
    uint8_t buf[F_COUNT][IDX_CAP];
    size_t len[F_COUNT];
} idx_files;

static uint8_t idx_px(int split, int i, int j)
{
    return (uint8_t)((split * 101 + i * 37 + j * 11) % 256);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static size_t idx_images(uint8_t *out, int split, int n)
{
    put_be32(out, 0x00000803);
    put_be32(out + 4, (uint32_t)n);
    put_be32(out + 8, IDX_H);
    put_be32(out + 12, IDX_W);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < IDX_H * IDX_W; j++)
            out[16 + i * IDX_H * IDX_W + j] = idx_px(split, i, j);
    return 16 + (size_t)n * IDX_H * IDX_W;
}

static size_t idx_labels(uint8_t *out, const uint8_t *lab, int n)
{
    put_be32(out, 0x00000801);
    put_be32(out + 4, (uint32_t)n);
    memcpy(out + 8, lab, (size_t)n);
    return 8 + (size_t)n;
}

static void idx_build(idx_files *f)
{
    memset(f, 0, sizeof *f);
    f->len[F_TRAIN_IMG] = idx_images(f->buf[F_TRAIN_IMG], 0, IDX_TRAIN);
    f->len[F_TRAIN_LBL] = idx_labels(f->buf[F_TRAIN_LBL], train_labels, IDX_TRAIN);
    f->len[F_TEST_IMG] = idx_images(f->buf[F_TEST_IMG], 1, IDX_TEST);
    f->len[F_TEST_LBL] = idx_labels(f->buf[F_TEST_LBL], test_labels, IDX_TEST);
}

static void idx_write(const idx_files *f, const char *dir, int gz)
{
    for (int k = 0; k < F_COUNT; k++)
        write_bytes(dir, idx_names[k], f->buf[k], f->len[k], gz);
}

static void idx_write_set(const char *dir, int gz)
{
    idx_files f;
    idx_build(&f);
    idx_write(&f, dir, gz);
}

/* Mean and std of raw/255 over the first n training images, as the loader must compute them. */
static void idx_expected_stats(int n, double *mean, double *sd)
{
    double s = 0, ss = 0, cnt = (double)n * IDX_H * IDX_W;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < IDX_H * IDX_W; j++) {
            double v = idx_px(0, i, j) / 255.0;
            s += v;
            ss += v * v;
        }
    *mean = s / cnt;
    *sd = sqrt(ss / cnt - *mean * *mean);
}

static void idx_check_split(const dataset *d, int split, int n, const uint8_t *labels, int ntrain)
{
    double mean, sd;
    idx_expected_stats(ntrain, &mean, &sd);
    ck_assert_int_eq(d->n, n);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, IDX_H);
    ck_assert_int_eq(d->w, IDX_W);
    ck_assert_int_eq(d->classes, 10);
    ck_assert_int_eq(d->augment, 0);
    ck_assert_double_eq_tol(d->mean[0], mean, TOL_STAT);
    ck_assert_double_eq_tol(d->std[0], sd, TOL_STAT);
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(d->y[i], labels[i]);
        for (int j = 0; j < IDX_H * IDX_W; j++) {
            float want = (float)((idx_px(split, i, j) / 255.0 - mean) / sd);
            ck_assert_float_eq_tol(d->x[i * IDX_H * IDX_W + j], want, TOL_NORM);
        }
    }
}

static void load_ok(dataset *tr, dataset *te, const char *name, const char *dirs, int tl, int vl)
{
    qd_err err = {0};
    int rc = dataset_load(tr, te, name, dirs, tl, vl, &err);
    ck_assert_msg(rc == 0, "dataset_load(%s): %d %s", name, rc, err.msg);
}

START_TEST(idx_loads_gzip_and_raw)
{
    /* _i = 1: gzip files, 0: raw files */
    dataset tr, te;
    idx_write_set(g_dir, _i);
    load_ok(&tr, &te, g_dir, NULL, 0, 0);
    idx_check_split(&tr, 0, IDX_TRAIN, train_labels, IDX_TRAIN);
    idx_check_split(&te, 1, IDX_TEST, test_labels, IDX_TRAIN);
    dataset_free(&tr);
    dataset_free(&te);
    expect_zeroed(&tr);
    expect_zeroed(&te);
}
END_TEST

START_TEST(idx_limits_keep_a_prefix)
{
    dataset tr, te;
    idx_write_set(g_dir, 1);
    load_ok(&tr, &te, g_dir, NULL, 4, 100); /* 100 > 3 test examples: all */
    idx_check_split(&tr, 0, 4, train_labels, 4);
    idx_check_split(&te, 1, IDX_TEST, test_labels, 4);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

START_TEST(named_set_searches_dirs_in_order)
{
    char first[256], second[256], dirs[600];
    make_subdir(first, sizeof first, "a");
    make_subdir(second, sizeof second, "b");
    make_subdir(first, sizeof first, "a/mnist");
    make_subdir(second, sizeof second, "b/mnist");
    idx_files f;
    idx_build(&f);
    idx_write(&f, second, 0);
    f.len[F_TRAIN_IMG] = idx_images(f.buf[F_TRAIN_IMG], 0, 5);
    f.len[F_TRAIN_LBL] = idx_labels(f.buf[F_TRAIN_LBL], train_labels, 5);
    idx_write(&f, first, 1);

    dataset tr, te;
    snprintf(dirs, sizeof dirs, "/nonexistent-qd::%s/a:%s/b", g_dir, g_dir);
    load_ok(&tr, &te, "mnist", dirs, 0, 0);
    ck_assert_int_eq(tr.n, 5); /* the first directory wins */
    dataset_free(&tr);
    dataset_free(&te);
    snprintf(dirs, sizeof dirs, "%s/b:%s/a", g_dir, g_dir);
    load_ok(&tr, &te, "mnist", dirs, 0, 0);
    ck_assert_int_eq(tr.n, IDX_TRAIN);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

/* ---- corrupt and missing input ---- */

typedef struct corrupt_case {
    const char *what;
    void (*mutate)(idx_files *f);
    int file; /* the file the error must name */
} corrupt_case;

static void bad_magic_images(idx_files *f) { f->buf[F_TRAIN_IMG][3] = 0x02; }
static void bad_magic_labels(idx_files *f) { f->buf[F_TEST_LBL][3] = 0x03; }
static void truncated_images(idx_files *f) { f->len[F_TRAIN_IMG] -= 7; }
static void truncated_header(idx_files *f) { f->len[F_TEST_IMG] = 10; }
static void empty_labels(idx_files *f) { f->len[F_TRAIN_LBL] = 0; }
static void trailing_bytes(idx_files *f) { f->len[F_TEST_LBL] += 1; }
static void zero_images(idx_files *f)
{
    f->len[F_TRAIN_IMG] = idx_images(f->buf[F_TRAIN_IMG], 0, 0);
}
static void huge_count(idx_files *f) { put_be32(f->buf[F_TRAIN_IMG] + 4, 0xffffffffu); }
static void count_mismatch(idx_files *f)
{
    f->len[F_TRAIN_LBL] = idx_labels(f->buf[F_TRAIN_LBL], train_labels, IDX_TRAIN - 1);
}
static void label_out_of_range(idx_files *f) { f->buf[F_TRAIN_LBL][8 + 2] = 10; }
static void label_255(idx_files *f) { f->buf[F_TEST_LBL][8 + 2] = 255; }
static void test_shape_differs(idx_files *f)
{
    put_be32(f->buf[F_TEST_IMG] + 8, IDX_W);
    put_be32(f->buf[F_TEST_IMG] + 12, IDX_H);
}

static const corrupt_case corrupt_cases[] = {
    {"bad magic in images", bad_magic_images, F_TRAIN_IMG},
    {"bad magic in labels", bad_magic_labels, F_TEST_LBL},
    {"truncated images", truncated_images, F_TRAIN_IMG},
    {"truncated header", truncated_header, F_TEST_IMG},
    {"empty labels file", empty_labels, F_TRAIN_LBL},
    {"bytes after the data", trailing_bytes, F_TEST_LBL},
    {"zero images", zero_images, F_TRAIN_IMG},
    {"count of 2^32-1 images", huge_count, F_TRAIN_IMG},
    {"labels and images disagree in count", count_mismatch, F_TRAIN_LBL},
    {"label 10", label_out_of_range, F_TRAIN_LBL},
    {"label 255", label_255, F_TEST_LBL},
    {"test shape differs from train", test_shape_differs, -1},
};
#define N_CORRUPT ((int)(sizeof corrupt_cases / sizeof corrupt_cases[0]))

START_TEST(idx_corrupt_is_refused)
{
    /* _i: case index * 2 + gz */
    const corrupt_case *c = &corrupt_cases[_i / 2];
    idx_files f;
    idx_build(&f);
    c->mutate(&f);
    idx_write(&f, g_dir, _i % 2);
    dataset tr, te;
    qd_err err = {0};
    int rc = dataset_load(&tr, &te, g_dir, NULL, 0, 0, &err);
    ck_assert_msg(rc == QD_EDATASET, "%s (gz %d): rc %d, %s", c->what, _i % 2, rc, err.msg);
    ck_assert_int_eq(err.code, QD_EDATASET);
    const char *named = c->file >= 0 ? idx_names[c->file] : g_dir;
    ck_assert_msg(strstr(err.msg, named), "%s: message '%s' does not name %s", c->what, err.msg,
                  named);
    expect_zeroed(&tr);
    expect_zeroed(&te);
}
END_TEST

START_TEST(idx_cut_or_garbled_gzip_is_refused)
{
    /* _i = 0: compressed stream cut in half; 1: only the 8-byte trailer (CRC, size) cut, so
     * every data byte arrives; 2: gzip magic followed by garbage */
    char path[512];
    idx_write_set(g_dir, 1);
    path_in(path, sizeof path, "train-images-idx3-ubyte.gz");
    if (_i < 2) {
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(truncate(path, _i == 0 ? st.st_size / 2 : st.st_size - 8), 0);
    } else {
        uint8_t junk[64] = {0x1f, 0x8b, 0x08, 0x00};
        for (int i = 4; i < 64; i++)
            junk[i] = (uint8_t)(i * 97);
        FILE *fp = fopen(path, "wb");
        ck_assert_ptr_nonnull(fp);
        fwrite(junk, 1, sizeof junk, fp);
        fclose(fp);
    }
    dataset tr, te;
    qd_err err = {0};
    ck_assert_int_eq(dataset_load(&tr, &te, g_dir, NULL, 0, 0, &err), QD_EDATASET);
    ck_assert_ptr_nonnull(strstr(err.msg, "train-images-idx3-ubyte"));
    expect_zeroed(&tr);
    expect_zeroed(&te);
}
END_TEST

START_TEST(missing_input_is_not_found)
{
    char path[512], sub[256];
    dataset tr, te;
    qd_err err = {0};
    path_in(path, sizeof path, "no-such-dir");
    ck_assert_int_eq(dataset_load(&tr, &te, path, NULL, 0, 0, &err), QD_ENOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no-such-dir"));
    ck_assert_int_eq(dataset_load(&tr, &te, g_dir, NULL, 0, 0, &err), QD_ENOENT); /* empty dir */
    ck_assert_int_eq(dataset_load(&tr, &te, "no-such-set", g_dir, 0, 0, &err), QD_ENOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no-such-set"));
    ck_assert_int_eq(dataset_load(&tr, &te, "", NULL, 0, 0, &err), QD_ENOENT);
    ck_assert_int_eq(dataset_load(&tr, &te, NULL, NULL, 0, 0, &err), QD_ENOENT);
    ck_assert_int_eq(dataset_load(&tr, &te, "..", g_dir, 0, 0, &err), QD_ENOENT);

    make_subdir(sub, sizeof sub, "partial");
    idx_files f;
    idx_build(&f);
    for (int k = 0; k < F_TEST_LBL; k++)
        write_bytes(sub, idx_names[k], f.buf[k], f.len[k], k % 2);
    ck_assert_int_eq(dataset_load(&tr, &te, sub, NULL, 0, 0, &err), QD_ENOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "t10k-labels-idx1-ubyte"));
    expect_zeroed(&tr);
    expect_zeroed(&te);
}
END_TEST

/* ---- CIFAR-10 ---- */

#define CF_RECORD 3073
#define CF_PER_BATCH 2
#define CF_TEST 3

static const char *const cf_names[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                        "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};

/* Pixel p of channel ch of record k (k counts across the training batches; test uses 1000+k). */
static uint8_t cf_px(int k, int ch, int p) { return (uint8_t)((k * 7 + ch * 50 + p * 3) % 256); }
static uint8_t cf_label(int k) { return (uint8_t)((k * 3 + 1) % 10); }

static void cf_record(uint8_t *rec, int k)
{
    rec[0] = cf_label(k);
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < 1024; p++)
            rec[1 + ch * 1024 + p] = cf_px(k, ch, p);
}

/* Write the five training batches and the test batch; extra bytes go at the end of file f. */
static void cf_write(const char *dir, int f_extra, int bad_label_file, int skip)
{
    static uint8_t buf[CF_TEST * CF_RECORD + 1];
    for (int f = 0; f < 6; f++) {
        if (f == skip)
            continue;
        int n = f < 5 ? CF_PER_BATCH : CF_TEST;
        for (int r = 0; r < n; r++)
            cf_record(buf + r * CF_RECORD, f < 5 ? f * CF_PER_BATCH + r : 1000 + r);
        if (f == bad_label_file)
            buf[CF_RECORD] = 10;
        write_bytes(dir, cf_names[f], buf, (size_t)n * CF_RECORD + (f == f_extra), 0);
    }
}

START_TEST(cifar_loads_channel_major)
{
    int ntrain = 5 * CF_PER_BATCH;
    dataset tr, te;
    cf_write(g_dir, -1, -1, -1);
    load_ok(&tr, &te, g_dir, NULL, 0, 0);
    ck_assert_int_eq(tr.n, ntrain);
    ck_assert_int_eq(te.n, CF_TEST);
    ck_assert_int_eq(tr.c, 3);
    ck_assert_int_eq(tr.h, 32);
    ck_assert_int_eq(tr.w, 32);
    ck_assert_int_eq(tr.augment, 1);
    ck_assert_int_eq(te.augment, 1);
    for (int ch = 0; ch < 3; ch++) {
        double s = 0, ss = 0, cnt = ntrain * 1024.0;
        for (int k = 0; k < ntrain; k++)
            for (int p = 0; p < 1024; p++) {
                double v = cf_px(k, ch, p) / 255.0;
                s += v;
                ss += v * v;
            }
        double mean = s / cnt, sd = sqrt(ss / cnt - mean * mean);
        ck_assert_double_eq_tol(tr.mean[ch], mean, TOL_STAT);
        ck_assert_double_eq_tol(te.std[ch], sd, TOL_STAT);
        for (int k = 0; k < CF_TEST; k++)
            for (int p = 0; p < 1024; p += 37) {
                float want = (float)((cf_px(1000 + k, ch, p) / 255.0 - mean) / sd);
                ck_assert_float_eq_tol(te.x[(k * 3 + ch) * 1024 + p], want, TOL_NORM);
            }
    }
    for (int k = 0; k < ntrain; k++)
        ck_assert_uint_eq(tr.y[k], cf_label(k));
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

START_TEST(cifar_named_and_limited)
{
    char sub[256];
    make_subdir(sub, sizeof sub, "cifar10");
    cf_write(sub, -1, -1, -1);
    dataset tr, te;
    load_ok(&tr, &te, "cifar10", g_dir, 3, 1); /* all of batch 1, first record of batch 2 */
    ck_assert_int_eq(tr.n, 3);
    ck_assert_int_eq(te.n, 1);
    for (int k = 0; k < 3; k++)
        ck_assert_uint_eq(tr.y[k], cf_label(k));
    ck_assert_uint_eq(te.y[0], cf_label(1000));
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

START_TEST(cifar_corrupt_is_refused)
{
    /* _i: 0 size not a multiple of 3073, 1 label 10, 2 missing batch 4, 3 missing test batch */
    static const struct {
        int extra, bad_label, skip, code;
        const char *named;
    } cases[] = {
        {2, -1, -1, QD_EDATASET, "data_batch_3.bin"},
        {-1, 5, -1, QD_EDATASET, "test_batch.bin"},
        {-1, -1, 3, QD_ENOENT, "data_batch_4.bin"},
        {-1, -1, 5, QD_ENOENT, "test_batch.bin"},
    };
    cf_write(g_dir, cases[_i].extra, cases[_i].bad_label, cases[_i].skip);
    dataset tr, te;
    qd_err err = {0};
    ck_assert_int_eq(dataset_load(&tr, &te, g_dir, NULL, 0, 0, &err), cases[_i].code);
    ck_assert_msg(strstr(err.msg, cases[_i].named), "'%s' does not name %s", err.msg,
                  cases[_i].named);
    expect_zeroed(&tr);
    expect_zeroed(&te);
}
END_TEST

/* ---- synthetic ---- */

static void class_counts(const dataset *d, int *count)
{
    memset(count, 0, 10 * sizeof *count);
    for (int i = 0; i < d->n; i++) {
        ck_assert_uint_lt(d->y[i], 10);
        count[d->y[i]]++;
    }
}

START_TEST(synthetic_is_deterministic_and_balanced)
{
    dataset a, at, b, bt;
    int count[10];
    load_ok(&a, &at, "synthetic", NULL, 0, 0);
    load_ok(&b, &bt, "synthetic", "/nonexistent-qd", 0, 0);
    ck_assert_int_eq(a.n, 4000);
    ck_assert_int_eq(at.n, 1000);
    ck_assert(a.c == 1 && a.h == 28 && a.w == 28 && a.classes == 10 && a.augment == 0);
    ck_assert_mem_eq(a.x, b.x, 4000 * 784 * sizeof(float));
    ck_assert_mem_eq(at.x, bt.x, 1000 * 784 * sizeof(float));
    ck_assert_mem_eq(a.y, b.y, 4000);
    ck_assert_mem_eq(at.y, bt.y, 1000);
    ck_assert(memcmp(a.x, at.x, 784 * sizeof(float)) != 0); /* test is another stream */
    class_counts(&a, count);
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(count[k], 400);
    class_counts(&at, count);
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(count[k], 100);
    dataset_free(&a), dataset_free(&at), dataset_free(&b), dataset_free(&bt);
}
END_TEST

START_TEST(synthetic_limit_keeps_a_prefix)
{
    dataset a, at, b, bt;
    load_ok(&a, &at, "synthetic", NULL, 0, 0);
    load_ok(&b, &bt, "synthetic", NULL, 50, 20);
    ck_assert_int_eq(b.n, 50);
    ck_assert_int_eq(bt.n, 20);
    ck_assert_mem_eq(a.y, b.y, 50);
    for (int i = 0; i < 20 * 784; i++) {
        float raw_a = at.x[i] * at.std[0] + at.mean[0], raw_b = bt.x[i] * bt.std[0] + bt.mean[0];
        ck_assert_float_eq_tol(raw_a, raw_b, TOL_NORM);
    }
    double s = 0; /* normalisation uses the 50 kept examples */
    for (int i = 0; i < 50 * 784; i++)
        s += b.x[i];
    ck_assert_double_eq_tol(s / (50 * 784), 0.0, 1e-5);
    dataset_free(&a), dataset_free(&at), dataset_free(&b), dataset_free(&bt);
}
END_TEST

static double *class_means(const dataset *d)
{
    double *m = calloc(10 * 784, sizeof *m);
    int count[10];
    class_counts(d, count);
    for (int i = 0; i < d->n; i++)
        for (int j = 0; j < 784; j++)
            m[d->y[i] * 784 + j] += d->x[i * 784 + j] / count[d->y[i]];
    return m;
}

/* Nearest class mean over pixels [j0, j1). */
static int nearest(const double *m, const float *x, int j0, int j1)
{
    int best = 0;
    double bd = INFINITY;
    for (int k = 0; k < 10; k++) {
        double d = 0;
        for (int j = j0; j < j1; j++)
            d += (x[j] - m[k * 784 + j]) * (x[j] - m[k * 784 + j]);
        if (d < bd)
            bd = d, best = k;
    }
    return best;
}

START_TEST(synthetic_is_learnable_but_not_by_one_pixel)
{
    dataset tr, te;
    load_ok(&tr, &te, "synthetic", NULL, 0, 0);
    double *m = class_means(&tr);
    int right = 0, best_pixel = 0;
    for (int i = 0; i < te.n; i++)
        right += nearest(m, te.x + i * 784, 0, 784) == te.y[i];
    ck_assert_msg(right >= 900, "nearest class mean: %d / 1000", right);
    for (int j = 0; j < 784; j++) {
        int r = 0;
        for (int i = 0; i < te.n; i++)
            r += nearest(m, te.x + i * 784, j, j + 1) == te.y[i];
        best_pixel = r > best_pixel ? r : best_pixel;
    }
    ck_assert_msg(best_pixel < 500, "one pixel classifies %d / 1000", best_pixel);
    free(m);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

START_TEST(synthetic_has_pixel_noise)
{
    /* Neighbouring pixels, both strictly inside (0, 1): the prototypes are smooth, so their
     * differences come mostly from noise of std 0.15 (rms ~0.18 with it, ~0.07 without). */
    dataset tr, te;
    load_ok(&tr, &te, "synthetic", NULL, 500, 1);
    double s = 0;
    long pairs = 0;
    for (int i = 0; i < tr.n; i++)
        for (int j = 0; j < 784; j++) {
            if (j % 28 == 27)
                continue;
            float a = tr.x[i * 784 + j] * tr.std[0] + tr.mean[0];
            float b = tr.x[i * 784 + j + 1] * tr.std[0] + tr.mean[0];
            if (a < 1e-4f || a > 1 - 1e-4f || b < 1e-4f || b > 1 - 1e-4f)
                continue;
            s += (a - b) * (a - b), pairs++;
        }
    double rms = sqrt(s / pairs);
    ck_assert_msg(rms > 0.15 && rms < 0.22, "rms neighbour difference %g", rms);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

/* ---- batching and augmentation ---- */

#define AUG_C 2
#define AUG_H 5
#define AUG_W 6
#define AUG_N 3
#define AUG_CHW (AUG_C * AUG_H * AUG_W)

static float aug_x[AUG_N * AUG_CHW];
static uint8_t aug_y[AUG_N] = {7, 2, 9};

static dataset aug_set(int augment)
{
    for (int i = 0; i < AUG_N * AUG_CHW; i++)
        aug_x[i] = (float)(i + 1);
    dataset d = {.n = AUG_N,
                 .c = AUG_C,
                 .h = AUG_H,
                 .w = AUG_W,
                 .classes = 10,
                 .x = aug_x,
                 .y = aug_y,
                 .augment = augment};
    return d;
}

/* Reference: pad by 4 with zeros, crop at (4 + dy, 4 + dx), then mirror left-right. */
static void aug_ref(float *out, const float *in, int dy, int dx, int flip)
{
    float pad[AUG_C][AUG_H + 8][AUG_W + 8] = {{{0}}};
    for (int c = 0; c < AUG_C; c++)
        for (int y = 0; y < AUG_H; y++)
            for (int x = 0; x < AUG_W; x++)
                pad[c][y + 4][x + 4] = in[(c * AUG_H + y) * AUG_W + x];
    for (int c = 0; c < AUG_C; c++)
        for (int y = 0; y < AUG_H; y++)
            for (int x = 0; x < AUG_W; x++) {
                float v = pad[c][4 + dy + y][4 + dx + x];
                out[(c * AUG_H + y) * AUG_W + (flip ? AUG_W - 1 - x : x)] = v;
            }
}

START_TEST(batch_without_augment_copies)
{
    dataset d = aug_set(0);
    int idx[4] = {2, 0, 2, 1}, y[4];
    float x[4 * AUG_CHW];
    rng r;
    rng_seed(&r, 1);
    dataset_batch(&d, idx, 4, x, y, &r);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(y[i], aug_y[idx[i]]);
        ck_assert_mem_eq(x + i * AUG_CHW, aug_x + idx[i] * AUG_CHW, sizeof(float) * AUG_CHW);
    }
    d.augment = 1; /* no generator: no augmentation either */
    dataset_batch(&d, idx, 4, x, y, NULL);
    ck_assert_mem_eq(x + AUG_CHW, aug_x, sizeof(float) * AUG_CHW);
}
END_TEST

START_TEST(batch_augment_is_seeded_crop_and_flip)
{
    enum { B = 200 };
    dataset d = aug_set(1);
    static int idx[B], y[B];
    static float x1[B * AUG_CHW], x2[B * AUG_CHW];
    float want[AUG_CHW];
    int flips = 0, shifted = 0;
    rng r1, r2, sim;
    for (int i = 0; i < B; i++)
        idx[i] = i % AUG_N;
    rng_seed(&r1, 42), rng_seed(&r2, 42), rng_seed(&sim, 42);
    dataset_batch(&d, idx, B, x1, y, &r1);
    dataset_batch(&d, idx, B, x2, y, &r2);
    ck_assert_mem_eq(x1, x2, sizeof x1);
    ck_assert_mem_eq(&r1, &r2, sizeof r1);
    for (int i = 0; i < B; i++) { /* draws per example, in order: dy, dx, flip */
        int dy = (int)rng_below(&sim, 9) - 4, dx = (int)rng_below(&sim, 9) - 4;
        int flip = (int)rng_below(&sim, 2);
        aug_ref(want, aug_x + idx[i] * AUG_CHW, dy, dx, flip);
        ck_assert_mem_eq(x1 + i * AUG_CHW, want, sizeof want);
        ck_assert_int_eq(y[i], aug_y[idx[i]]);
        flips += flip, shifted += dy != 0 || dx != 0;
    }
    ck_assert(flips > B / 4 && flips < 3 * B / 4);
    ck_assert(shifted > B / 2);
}
END_TEST

/* First seed whose first draws are (dy, dx, flip). */
static uint64_t seed_for(int dy, int dx, int flip)
{
    for (uint64_t s = 0;; s++) {
        rng r;
        rng_seed(&r, s);
        int a = (int)rng_below(&r, 9) - 4, b = (int)rng_below(&r, 9) - 4;
        if (a == dy && b == dx && (int)rng_below(&r, 2) == flip)
            return s;
    }
}

START_TEST(batch_augment_known_flip_and_shift)
{
    float img[6] = {1, 2, 3, 4, 5, 6}; /* 1x2x3 */
    uint8_t lab[1] = {4};
    dataset d = {.n = 1, .c = 1, .h = 2, .w = 3, .classes = 10, .x = img, .y = lab, .augment = 1};
    static const struct {
        int dy, dx, flip;
        float want[6];
    } cases[] = {
        {0, 0, 1, {3, 2, 1, 6, 5, 4}},   /* mirror only */
        {0, 1, 0, {2, 3, 0, 5, 6, 0}},   /* crop one column to the right */
        {1, 0, 0, {4, 5, 6, 0, 0, 0}},   /* crop one row down */
        {-1, -1, 1, {0, 0, 0, 2, 1, 0}}, /* up-left, then mirrored */
        {0, 4, 0, {0, 0, 0, 0, 0, 0}},   /* entirely in the padding */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int idx = 0, y = -1;
        float out[6];
        rng r;
        rng_seed(&r, seed_for(cases[k].dy, cases[k].dx, cases[k].flip));
        dataset_batch(&d, &idx, 1, out, &y, &r);
        ck_assert_int_eq(y, 4);
        for (int j = 0; j < 6; j++)
            ck_assert_msg(out[j] == cases[k].want[j], "case %zu pixel %d: %g, want %g", k, j,
                          out[j], cases[k].want[j]);
    }
}
END_TEST

/* ---- ownership and listing ---- */

START_TEST(free_is_safe_on_zeroed_and_freed)
{
    dataset z = {0}, tr, te;
    dataset_free(&z);
    dataset_free(NULL);
    load_ok(&tr, &te, "synthetic", NULL, 10, 10);
    dataset_free(&tr);
    dataset_free(&tr);
    expect_zeroed(&tr);
    dataset_free(&te);
}
END_TEST

START_TEST(known_names_listed)
{
    const char *want[] = {"synthetic", "fashion-mnist", "mnist", "cifar10"};
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(dataset_known_names[i], want[i]);
    ck_assert_ptr_null(dataset_known_names[4]);
}
END_TEST

/* ---- installed Fashion-MNIST ---- */

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static int have_fmnist(void)
{
    struct stat st;
    return stat(FMNIST_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

static void split_moments(const dataset *d, double *mean, double *sd)
{
    double s = 0, ss = 0, cnt = (double)d->n * d->c * d->h * d->w;
    for (size_t i = 0; i < (size_t)cnt; i++)
        s += d->x[i], ss += (double)d->x[i] * d->x[i];
    *mean = s / cnt;
    *sd = sqrt(ss / cnt - *mean * *mean);
}

START_TEST(fashion_mnist_subset)
{
    if (!have_fmnist())
        return; /* not installed: nothing to check */
    dataset tr, te;
    double mean, sd;
    load_ok(&tr, &te, "fashion-mnist", NULL, 1000, 500);
    ck_assert(tr.n == 1000 && te.n == 500 && tr.c == 1 && tr.h == 28 && tr.w == 28);
    ck_assert(te.h == 28 && te.w == 28 && tr.classes == 10 && tr.augment == 0);
    split_moments(&tr, &mean, &sd);
    ck_assert_double_eq_tol(mean, 0.0, 1e-4);
    ck_assert_double_eq_tol(sd, 1.0, 1e-3);
    split_moments(&te, &mean, &sd);
    ck_assert_double_eq_tol(mean, 0.0, 0.1);
    ck_assert(tr.mean[0] > 0.2f && tr.mean[0] < 0.4f);
    for (int i = 0; i < te.n; i++)
        ck_assert_uint_lt(te.y[i], 10);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

START_TEST(fashion_mnist_full_statistics)
{
    if (!have_fmnist())
        return;
    dataset tr, te;
    load_ok(&tr, &te, "fashion-mnist", NULL, 0, 0);
    ck_assert_int_eq(tr.n, 60000);
    ck_assert_int_eq(te.n, 10000);
    ck_assert_double_eq_tol(tr.mean[0], 0.2860, 5e-4);
    ck_assert_double_eq_tol(tr.std[0], 0.3530, 5e-4);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

Suite *dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *files = tcase_create("files");
    tcase_add_unchecked_fixture(files, base_setup, base_teardown);
    tcase_add_checked_fixture(files, dir_setup, NULL);
    tcase_add_loop_test(files, idx_loads_gzip_and_raw, 0, 2);
    tcase_add_test(files, idx_limits_keep_a_prefix);
    tcase_add_test(files, named_set_searches_dirs_in_order);
    tcase_add_loop_test(files, idx_corrupt_is_refused, 0, 2 * N_CORRUPT);
    tcase_add_loop_test(files, idx_cut_or_garbled_gzip_is_refused, 0, 3);
    tcase_add_test(files, missing_input_is_not_found);
    tcase_add_test(files, cifar_loads_channel_major);
    tcase_add_test(files, cifar_named_and_limited);
    tcase_add_loop_test(files, cifar_corrupt_is_refused, 0, 4);
    suite_add_tcase(s, files);

    TCase *syn = tcase_create("synthetic");
    tcase_add_test(syn, synthetic_is_deterministic_and_balanced);
    tcase_add_test(syn, synthetic_limit_keeps_a_prefix);
    tcase_add_test(syn, synthetic_is_learnable_but_not_by_one_pixel);
    tcase_add_test(syn, synthetic_has_pixel_noise);
    suite_add_tcase(s, syn);

    TCase *batch = tcase_create("batch");
    tcase_add_test(batch, batch_without_augment_copies);
    tcase_add_test(batch, batch_augment_is_seeded_crop_and_flip);
    tcase_add_test(batch, batch_augment_known_flip_and_shift);
    tcase_add_test(batch, free_is_safe_on_zeroed_and_freed);
    tcase_add_test(batch, known_names_listed);
    suite_add_tcase(s, batch);

    TCase *fm = tcase_create("fashion-mnist");
    tcase_set_timeout(fm, 30);
    tcase_add_test(fm, fashion_mnist_subset);
    tcase_add_test(fm, fashion_mnist_full_statistics);
    suite_add_tcase(s, fm);
    return s;
}

QD_CHECK_MAIN(dataset_suite)
