/*
 * digest.c: SHA-256 through OpenSSL's EVP interface and random hex from getrandom(2) (digest.h).
 * Files are read in 64 KiB blocks, so hashing an artifact needs no memory beyond one block.
 */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hexd[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[b[i] >> 4];
        out[2 * i + 1] = hexd[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void digest_sha256_hex(const void *data, size_t len, char hex[DIGEST_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    to_hex(md, n, hex);
}

int digest_file(const char *path, int64_t *size, char hex[DIGEST_HEX_LEN], qd_err *err)
{
    int rc = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const size_t block = 65536;
    unsigned char *buf = NULL;
    EVP_MD_CTX *ctx = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return qd_fail(err, errno == ENOENT ? QD_ENOENT : QD_EIO, NULL, "cannot open %s: %s",
                       path, strerror(errno));
    buf = malloc(block);
    ctx = EVP_MD_CTX_new();
    if (!buf || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        rc = qd_fail(err, QD_ENOMEM, NULL, "cannot hash %s", path);
        goto out;
    }
    *size = 0;
    size_t got;
    while ((got = fread(buf, 1, block, f)) > 0) {
        EVP_DigestUpdate(ctx, buf, got);
        *size += (int64_t)got;
    }
    if (ferror(f)) {
        rc = qd_fail(err, QD_EIO, NULL, "cannot read %s", path);
        goto out;
    }
    EVP_DigestFinal_ex(ctx, md, &n);
    to_hex(md, n, hex);
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    fclose(f);
    return rc;
}

int digest_random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof b)
        return QD_EINVAL;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = getrandom(b + got, nbytes - got, 0);
        if (r < 0 && errno != EINTR)
            return QD_EIO;
        if (r > 0)
            got += (size_t)r;
    }
    to_hex(b, nbytes, out);
    return 0;
}
