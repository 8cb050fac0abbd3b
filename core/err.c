/*
 * err.c: names, messages and HTTP statuses of the error codes listed in err.h, and qd_fail, the
 * one way code fills in an error detail. Used by every layer of quantd.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *qd_err_name(int code)
{
    switch (code) {
    case 0:
        return "ok";
#define QD_ERR_NAME(sym, val, name, msg, status)                                                   \
    case sym:                                                                                      \
        return name;
        QD_ERROR_LIST(QD_ERR_NAME)
#undef QD_ERR_NAME
    }
    return "unknown";
}

const char *qd_err_message(int code)
{
    switch (code) {
    case 0:
        return "ok";
#define QD_ERR_MSG(sym, val, name, msg, status)                                                    \
    case sym:                                                                                      \
        return msg;
        QD_ERROR_LIST(QD_ERR_MSG)
#undef QD_ERR_MSG
    }
    return "unknown error";
}

int qd_err_http_status(int code)
{
    switch (code) {
    case 0:
        return 200;
#define QD_ERR_STATUS(sym, val, name, msg, status)                                                 \
    case sym:                                                                                      \
        return status;
        QD_ERROR_LIST(QD_ERR_STATUS)
#undef QD_ERR_STATUS
    }
    return 500;
}

int qd_fail(qd_err *err, int code, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}
