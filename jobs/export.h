/*
 * export.h: the export job, and the writers of its formats.
 *
 * export_run loads the finished model of a train job, a search job's candidate or a checkpoint
 * file, evaluates the fake-quantized model on the data set's test split, builds the qmodel
 * (core/qmodel.h), writes it (always: model.qmodel) and the asked format beside it (C source and
 * header, or ONNX), runs the written model through the integer runtime (core/qrt.h) on the same
 * images, and reports sizes, both accuracies, their agreement and the runtime's speed.
 * Ownership: *result is a new reference; the writers write files and keep nothing.
 */
#ifndef QD_EXPORT_H
#define QD_EXPORT_H

#include <jansson.h>

#include "core/qmodel.h"
#include "job.h"

#define EXPORT_QMODEL_FILE "model.qmodel"
#define EXPORT_ONNX_FILE "model.onnx"

int export_run(const export_spec *sp, const job_env *env, json_t **result, qd_err *err);

/* prefix.c and prefix.h in dir (export_c.c): a portable, malloc-free C11 inference function. */
int export_c_write(const qmodel *qm, const char *dir, const char *prefix, qd_err *err);

/* An ONNX QDQ model (export_onnx.c); QD_EINVAL when this build has no ONNX support. */
int export_onnx_write(const qmodel *qm, const char *path, qd_err *err);
/* Whether this build writes ONNX (protobuf-c and onnx.proto were found at build time). */
int export_onnx_available(void);

#endif
