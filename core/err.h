/*
 * err.h: the one list of error codes in quantd.
 *
 * Every function that can fail returns int: 0, or one of the negative codes below. The X-macro
 * gives each code its stable machine name (used in API error bodies), a default message and the
 * HTTP status the daemon answers with. Details (which field, which layer, which file) travel in a
 * caller-provided qd_err so that messages can name exactly what was wrong.
 */
#ifndef QD_ERR_H
#define QD_ERR_H

/* X(symbol, value, name, message, http_status) */
#define QD_ERROR_LIST(X)                                                                           \
    X(QD_ENOMEM, -1, "out_of_memory", "out of memory", 503)                                        \
    X(QD_EINVAL, -2, "invalid_argument", "invalid argument", 400)                                  \
    X(QD_EIO, -3, "io_error", "input/output error", 500)                                           \
    X(QD_EFORMAT, -4, "bad_format", "file is corrupt or not in the expected format", 422)          \
    X(QD_ENOENT, -5, "not_found", "not found", 404)                                                \
    X(QD_ESPEC, -6, "invalid_spec", "invalid job spec", 422)                                       \
    X(QD_EMODEL, -7, "invalid_model", "invalid model file", 422)                                   \
    X(QD_EDATASET, -8, "invalid_dataset", "data set missing or corrupt", 422)                      \
    X(QD_ECHECKSUM, -9, "checksum_mismatch", "checksum mismatch", 422)                             \
    X(QD_ECANCELLED, -10, "cancelled", "cancelled", 409)                                           \
    X(QD_EJSON, -11, "malformed_json", "malformed JSON", 400)                                      \
    X(QD_ENOSPC, -12, "no_space", "no space left on device", 507)                                  \
    X(QD_ECONFLICT, -13, "conflict", "conflict with the current state", 409)                       \
    X(QD_EAUTH, -14, "unauthorized", "missing or invalid token", 401)                              \
    X(QD_EFORBIDDEN, -15, "forbidden", "not allowed", 403)                                         \
    X(QD_ETOOBIG, -16, "too_large", "request too large", 413)                                      \
    X(QD_EMEDIA, -17, "unsupported_media_type", "unsupported media type", 415)                     \
    X(QD_EMETHOD, -18, "method_not_allowed", "method not allowed", 405)                            \
    X(QD_EINTERNAL, -19, "internal", "internal error", 500)                                        \
    X(QD_EDEADLINE, -20, "deadline_exceeded", "the job's deadline passed", 408)                   \
    X(QD_EIDEMPOTENCY, -21, "idempotency_key_reused", "Idempotency-Key reused", 422)              \
    X(QD_ECRASHED, -22, "crashed", "the daemon crashed while the job ran, too often", 500)

enum qd_error {
#define QD_ERR_ENUM(sym, val, name, msg, status) sym = (val),
    QD_ERROR_LIST(QD_ERR_ENUM)
#undef QD_ERR_ENUM
};

/* Detail of a failure: message (for people) and the failing field or path (for programs). */
typedef struct qd_err {
    int code;
    char field[128];
    char msg[512];
} qd_err;

const char *qd_err_name(int code);   /* "invalid_spec"; "ok" for 0; "unknown" otherwise */
const char *qd_err_message(int code);
int qd_err_http_status(int code);    /* 200 for 0 */

/* Fill err (may be NULL) with code, field (may be NULL) and a printf-style message; returns code. */
int qd_fail(qd_err *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
