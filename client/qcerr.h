/*
 * qcerr.h: quantctl's exit codes and the one error value every command fills in.
 *
 * Commands return 0 or one of the exit codes below (positive: they become the process status, so
 * a script can tell a refused connection from a bad token from a failed job). The X-macro gives
 * each code its machine name, used in --json error bodies, and the line `quantctl --help` prints.
 * A qcerr carries what a person needs to act: the HTTP status (0 when there was no answer), the
 * server's error code, the failing field and a message. Server error codes are the names of
 * core/err.h, so the client classifies them with the same list the daemon answers from.
 * Ownership: a qcerr is a plain value with fixed buffers; nothing to free.
 */
#ifndef QC_QCERR_H
#define QC_QCERR_H

#include <stdio.h>

/* X(symbol, status, name, description) */
#define QC_EXIT_LIST(X)                                                                            \
    X(QC_OK, 0, "ok", "success")                                                                   \
    X(QC_JOB_FAILED, 1, "job_failed", "the job ended failed (submit --wait, watch)")               \
    X(QC_USAGE, 2, "usage", "usage error: unknown command or option, missing or bad argument")     \
    X(QC_CONNECT, 3, "connection_failed", "cannot reach quantd at the URL (refused, timeout)")     \
    X(QC_AUTH, 4, "unauthorized", "token missing, invalid or not allowed (HTTP 401, 403)")         \
    X(QC_REJECTED, 5, "rejected", "request refused: invalid spec, unknown job, conflict (4xx)")    \
    X(QC_SERVER, 6, "server_error", "server error (5xx) or an answer quantctl cannot read")        \
    X(QC_JOB_CANCELLED, 7, "job_cancelled", "the job ended cancelled (submit --wait, watch)")      \
    X(QC_LOCAL, 8, "local_error", "local file error: cannot read the spec or write the output")

enum qc_exit {
#define QC_EXIT_ENUM(sym, status, name, desc) sym = (status),
    QC_EXIT_LIST(QC_EXIT_ENUM)
#undef QC_EXIT_ENUM
};

typedef struct qcerr {
    int exit;        /* one of enum qc_exit */
    long status;     /* HTTP status of the answer, 0 when there was none */
    char code[64];   /* the server's error code ("invalid_spec"), else the exit's name */
    char field[128]; /* the failing field or path, "" when none */
    char msg[768];
} qcerr;

/* Fill e with exit, code (NULL: the exit's name), field (may be NULL) and a message; returns exit.
 */
int qcerr_set(qcerr *e, int exit, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The exit code a server error answers to: 401/403 and the auth codes are QC_AUTH, other 4xx
 * QC_REJECTED, anything else QC_SERVER. code may be NULL or a core/err.h name. */
int qcerr_classify(long status, const char *code);

/* A default error code for an HTTP status when the body named none ("not_found" for 404). */
const char *qcerr_code_for_status(long status);

/* "quantctl: message" (and the field) on stderr; with json also {"error": {...}} on stdout. */
void qcerr_print(const qcerr *e, int json);

/* The exit-code table as `quantctl --help` shows it. */
void qcerr_print_table(FILE *f);

#endif
