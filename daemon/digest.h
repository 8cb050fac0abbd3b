/*
 * digest.h: SHA-256 (OpenSSL's libcrypto) as lowercase hex, of memory and of files, and random
 * hex strings from the kernel. Used for artifact checksums, token hashes, idempotency keys and
 * job ids.
 */
#ifndef QD_DIGEST_H
#define QD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define DIGEST_HEX_LEN 65 /* 64 hex digits and the NUL */

/* hex receives 64 digits and a NUL. */
void digest_sha256_hex(const void *data, size_t len, char hex[DIGEST_HEX_LEN]);
/* SHA-256 and size of a file; QD_ENOENT or QD_EIO with err filled. */
int digest_file(const char *path, int64_t *size, char hex[DIGEST_HEX_LEN], qd_err *err);
/* nbytes random bytes from getrandom(2) as 2*nbytes hex digits and a NUL; QD_EIO on failure. */
int digest_random_hex(char *out, size_t nbytes);

#endif
