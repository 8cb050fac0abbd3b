/*
 * checkpoint.c: writes and reads checkpoint files (format in checkpoint.h).
 *
 * The file is small enough (parameters and optimiser state of one model) to be read whole into
 * memory; the readers work on that memory (checkpoint_*_mem, which the fuzz target in
 * tests/fuzz calls directly). The checksum is verified before any field is trusted, and every
 * section length is checked against what remains, so a corrupt or truncated file is an error,
 * never a crash.
 */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char MAGIC[6] = {'Q', 'D', 'C', 'K', 'P', 'T'};

/* ---- a growing byte buffer for writing, a cursor for reading ---- */

typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static void put(wbuf *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_i64(wbuf *b, int64_t v) { put(b, &v, sizeof v); }

typedef struct rbuf {
    const unsigned char *p;
    size_t len, at;
    int bad;
} rbuf;

static void get(rbuf *r, void *dst, size_t n)
{
    if (r->bad || r->len - r->at < n) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->at, n);
    r->at += n;
}

static int64_t get_i64(rbuf *r)
{
    int64_t v;
    get(r, &v, sizeof v);
    return v;
}

/* ---- writing ---- */

static void put_model(wbuf *b, const model *m)
{
    put(b, &m->desc, sizeof m->desc);
    int32_t shape[5] = {m->in_c, m->in_h, m->in_w, m->classes, m->n_compute};
    put(b, shape, sizeof shape);
    for (int ci = 0; ci < m->n_compute; ci++) {
        const layer *L = &m->layers[m->compute[ci]];
        put(b, &L->wq, sizeof L->wq);
        put(b, &L->aq, sizeof L->aq);
    }
}

static int write_file(const char *path, const wbuf *b, qd_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return qd_fail(err, errno == ENOSPC ? QD_ENOSPC : QD_EIO, path, "cannot create %s: %s",
                       tmp, strerror(errno));
    size_t done = 0;
    while (done < b->len) {
        ssize_t w = write(fd, b->p + done, b->len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return qd_fail(err, e == ENOSPC ? QD_ENOSPC : QD_EIO, path, "cannot write %s: %s",
                           tmp, strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return qd_fail(err, e == ENOSPC ? QD_ENOSPC : QD_EIO, path, "cannot sync %s: %s", tmp,
                       strerror(e));
    }
    if (rename(tmp, path) < 0)
        return qd_fail(err, QD_EIO, path, "cannot rename %s: %s", tmp, strerror(errno));
    return 0;
}

int checkpoint_save(const char *path, const model *m, const optim *o, const ckpt_meta *meta,
                    qd_err *err)
{
    wbuf b = {0};
    uint16_t version = CHECKPOINT_VERSION;
    put(&b, MAGIC, sizeof MAGIC);
    put(&b, &version, sizeof version);
    put_model(&b, m);
    put_i64(&b, m->n_params);
    put(&b, m->params, sizeof(float) * m->n_params);
    put_i64(&b, m->n_state);
    put(&b, m->state, sizeof(float) * m->n_state);
    put(&b, &m->q_rng, sizeof m->q_rng);
    put_i64(&b, o ? o->n_state : 0);
    put_i64(&b, o ? o->t : 0);
    if (o)
        put(&b, o->state, sizeof(float) * o->n_state);
    ckpt_meta none = {0};
    const ckpt_meta *mt = meta ? meta : &none;
    put_i64(&b, mt->epoch);
    put_i64(&b, mt->step);
    put(&b, &mt->data_rng, sizeof mt->data_rng);
    put_i64(&b, (int64_t)mt->extra_len);
    if (mt->extra_len)
        put(&b, mt->extra, mt->extra_len);
    uint32_t crc = b.oom ? 0 : (uint32_t)crc32(0L, b.p, (uInt)b.len);
    put(&b, &crc, sizeof crc);
    int rc = b.oom ? qd_fail(err, QD_ENOMEM, path, "out of memory writing a checkpoint")
                   : write_file(path, &b, err);
    free(b.p);
    return rc;
}

/* ---- reading ---- */

static int read_whole(const char *path, unsigned char **out, size_t *len, qd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return qd_fail(err, errno == ENOENT ? QD_ENOENT : QD_EIO, path, "cannot open %s: %s",
                       path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
        fclose(f);
        return qd_fail(err, QD_EIO, path, "cannot stat %s", path);
    }
    unsigned char *p = malloc((size_t)st.st_size + 1);
    if (!p) {
        fclose(f);
        return qd_fail(err, QD_ENOMEM, path, "out of memory reading %s", path);
    }
    size_t got = fread(p, 1, (size_t)st.st_size, f);
    fclose(f);
    if (got != (size_t)st.st_size) {
        free(p);
        return qd_fail(err, QD_EIO, path, "short read on %s", path);
    }
    *out = p, *len = got;
    return 0;
}

/* Checks magic, version and checksum, and reads the model section. */
static int open_checked(rbuf *r, ckpt_info *info, const char *path, qd_err *err)
{
    char magic[6];
    uint16_t version;
    uint32_t crc;
    if (r->len < sizeof MAGIC + sizeof version + sizeof crc)
        return qd_fail(err, QD_EFORMAT, path, "%s is too short to be a checkpoint", path);
    get(r, magic, sizeof magic);
    get(r, &version, sizeof version);
    if (memcmp(magic, MAGIC, sizeof MAGIC) != 0)
        return qd_fail(err, QD_EFORMAT, path, "%s is not a quantd checkpoint", path);
    if (version != CHECKPOINT_VERSION)
        return qd_fail(err, QD_EFORMAT, path, "%s has checkpoint version %u, this build reads %d",
                       path, version, CHECKPOINT_VERSION);
    memcpy(&crc, r->p + r->len - sizeof crc, sizeof crc);
    r->len -= sizeof crc;
    if ((uint32_t)crc32(0L, r->p, (uInt)r->len) != crc)
        return qd_fail(err, QD_ECHECKSUM, path, "%s is corrupt (checksum mismatch)", path);
    int32_t shape[5];
    get(r, &info->desc, sizeof info->desc);
    get(r, shape, sizeof shape);
    info->in_c = shape[0], info->in_h = shape[1], info->in_w = shape[2];
    info->classes = shape[3], info->n_compute = shape[4];
    if (r->bad || info->n_compute < 0 || info->n_compute > MODEL_MAX_LAYERS ||
        info->desc.n_layers < 1 || info->desc.n_layers > MODEL_MAX_LAYERS)
        return qd_fail(err, QD_EFORMAT, path, "%s has an invalid model section", path);
    /* the description and shape are used to build a model (the export job does): check them
     * as a model file's are */
    qd_err why = {0};
    int n_compute = 0;
    for (int i = 0; i < info->desc.n_layers; i++)
        n_compute += info->desc.layers[i].kind == LK_CONV || info->desc.layers[i].kind == LK_LINEAR;
    if (model_desc_check(&info->desc, &why) < 0 || n_compute != info->n_compute ||
        info->in_c < 1 || info->in_h < 1 || info->in_w < 1 || info->in_c > MODEL_MAX_INPUT_DIM ||
        info->in_h > MODEL_MAX_INPUT_DIM || info->in_w > MODEL_MAX_INPUT_DIM ||
        info->classes < 1 || info->classes > MODEL_MAX_OUT)
        return qd_fail(err, QD_EFORMAT, path, "%s has an invalid model section%s%s", path,
                       why.msg[0] ? ": " : "", why.msg);
    for (int ci = 0; ci < info->n_compute; ci++) {
        get(r, &info->wq[ci], sizeof info->wq[ci]);
        get(r, &info->aq[ci], sizeof info->aq[ci]);
        if (!r->bad && (!quant_fmt_valid(&info->wq[ci]) || !quant_fmt_valid(&info->aq[ci])))
            return qd_fail(err, QD_EFORMAT, path,
                           "%s has an invalid quantizer format for compute layer %d", path, ci);
    }
    return r->bad ? qd_fail(err, QD_EFORMAT, path, "%s is truncated", path) : 0;
}

int checkpoint_info_mem(const void *buf, size_t len, const char *name, ckpt_info *info,
                        qd_err *err)
{
    rbuf r = {buf, len, 0, 0};
    return open_checked(&r, info, name ? name : "checkpoint", err);
}

int checkpoint_info(const char *path, ckpt_info *info, qd_err *err)
{
    unsigned char *p = NULL;
    size_t len = 0;
    int rc = read_whole(path, &p, &len, err);
    if (rc == 0)
        rc = checkpoint_info_mem(p, len, path, info, err);
    free(p);
    return rc;
}

static int load_arrays(rbuf *r, model *m, optim *o, ckpt_meta *meta, const char *path, qd_err *err)
{
    if (get_i64(r) != m->n_params)
        return qd_fail(err, QD_EFORMAT, path, "%s holds a different model", path);
    get(r, m->params, sizeof(float) * m->n_params);
    if (get_i64(r) != m->n_state)
        return qd_fail(err, QD_EFORMAT, path, "%s holds a different model state", path);
    get(r, m->state, sizeof(float) * m->n_state);
    get(r, &m->q_rng, sizeof m->q_rng);
    int64_t n_opt = get_i64(r), t = get_i64(r);
    if (o && n_opt == o->n_state) {
        get(r, o->state, sizeof(float) * o->n_state);
        o->t = t;
    } else if (n_opt > 0) {
        if (n_opt > (int64_t)(r->len - r->at) / 4)
            return qd_fail(err, QD_EFORMAT, path, "%s is truncated", path);
        r->at += (size_t)n_opt * sizeof(float); /* optimiser state of another kind: skip */
    }
    ckpt_meta tmp = {0};
    ckpt_meta *mt = meta ? meta : &tmp;
    mt->epoch = get_i64(r);
    mt->step = get_i64(r);
    get(r, &mt->data_rng, sizeof mt->data_rng);
    int64_t xl = get_i64(r);
    if (r->bad || xl < 0 || xl > (int64_t)(r->len - r->at))
        return qd_fail(err, QD_EFORMAT, path, "%s is truncated", path);
    mt->extra = NULL, mt->extra_len = 0;
    if (meta && xl > 0) {
        if (!(mt->extra = malloc((size_t)xl + 1)))
            return qd_fail(err, QD_ENOMEM, path, "out of memory reading %s", path);
        get(r, mt->extra, (size_t)xl);
        mt->extra[xl] = '\0';
        mt->extra_len = (size_t)xl;
    }
    return 0;
}

int checkpoint_load_mem(const void *buf, size_t len, const char *name, model *m, optim *o,
                        ckpt_meta *meta, qd_err *err)
{
    const char *path = name ? name : "checkpoint";
    ckpt_info *info = malloc(sizeof *info);
    int rc = info ? 0 : qd_fail(err, QD_ENOMEM, path, "no memory");
    if (rc < 0)
        goto out;
    rbuf r = {buf, len, 0, 0};
    if ((rc = open_checked(&r, info, path, err)) < 0)
        goto out;
    if (info->n_compute != m->n_compute || info->desc.n_layers != m->n_layers) {
        rc = qd_fail(err, QD_EFORMAT, path, "%s holds a different model (%s)", path,
                     info->desc.name);
        goto out;
    }
    if ((rc = load_arrays(&r, m, o, meta, path, err)) < 0)
        goto out;
    for (int ci = 0; ci < m->n_compute; ci++) {
        layer *L = &m->layers[m->compute[ci]];
        L->wq = info->wq[ci];
        L->aq = info->aq[ci];
    }
out:
    free(info);
    return rc;
}

int checkpoint_load(const char *path, model *m, optim *o, ckpt_meta *meta, qd_err *err)
{
    unsigned char *p = NULL;
    size_t len = 0;
    int rc = read_whole(path, &p, &len, err);
    if (rc == 0)
        rc = checkpoint_load_mem(p, len, path, m, o, meta, err);
    free(p);
    return rc;
}
