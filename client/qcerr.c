/*
 * qcerr.c: quantctl's error value: filling it, classifying a server's answer into an exit code,
 * printing it for people (stderr) and for scripts (--json, stdout). The server's error codes come
 * from core/err.h, the one list the daemon answers from; the client links only core/err.o.
 */
#include "qcerr.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "core/err.h"

static const char *exit_name(int exit)
{
    switch (exit) {
#define QC_EXIT_NAME(sym, status, name, desc)                                                      \
    case sym:                                                                                      \
        return name;
        QC_EXIT_LIST(QC_EXIT_NAME)
#undef QC_EXIT_NAME
    }
    return "error";
}

int qcerr_set(qcerr *e, int exit, const char *code, const char *field, const char *fmt, ...)
{
    e->exit = exit;
    snprintf(e->code, sizeof e->code, "%s", code ? code : exit_name(exit));
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return exit;
}

/* The core/err.h code with this name, 0 when the name is not in the list. */
static int code_by_name(const char *name)
{
#define QC_CODE_BY_NAME(sym, val, nm, msg, status)                                                 \
    if (!strcmp(name, qd_err_name(sym)))                                                           \
        return sym;
    QD_ERROR_LIST(QC_CODE_BY_NAME)
#undef QC_CODE_BY_NAME
    return 0;
}

int qcerr_classify(long status, const char *code)
{
    int qd = code ? code_by_name(code) : 0;
    if (status == 401 || status == 403 || qd == QD_EAUTH || qd == QD_EFORBIDDEN)
        return QC_AUTH;
    if (status >= 400 && status < 500)
        return QC_REJECTED;
    return QC_SERVER;
}

const char *qcerr_code_for_status(long status)
{
#define QC_CODE_FOR_STATUS(sym, val, nm, msg, st)                                                  \
    if (status == (st))                                                                            \
        return qd_err_name(sym);
    QD_ERROR_LIST(QC_CODE_FOR_STATUS)
#undef QC_CODE_FOR_STATUS
    return status >= 500 ? "internal" : "http_error";
}

void qcerr_print(const qcerr *e, int json)
{
    if (e->field[0])
        fprintf(stderr, "quantctl: %s\n  field: %s\n", e->msg, e->field);
    else
        fprintf(stderr, "quantctl: %s\n", e->msg);
    if (!json)
        return;
    json_t *o = json_pack("{s:{s:s, s:s, s:s?, s:i}}", "error", "code", e->code, "message", e->msg,
                          "field", e->field[0] ? e->field : NULL, "exit", e->exit);
    if (e->status && o)
        json_object_set_new(json_object_get(o, "error"), "status", json_integer(e->status));
    if (o)
        json_dumpf(o, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(o);
}

void qcerr_print_table(FILE *f)
{
#define QC_EXIT_ROW(sym, status, name, desc) fprintf(f, "  %d  %s\n", status, desc);
    QC_EXIT_LIST(QC_EXIT_ROW)
#undef QC_EXIT_ROW
}
