/*
 * checkpoint.h: the versioned binary checkpoint of a training run.
 *
 * It holds what a resumed run needs to end bit-identical to an uninterrupted one: the model
 * description and input shape, every compute layer's quantizer formats, the parameters, the
 * non-trainable state, the optimiser state and step count, the schedule position (epoch, step),
 * both random streams, and an opaque blob the job layer uses for its history.
 * Layout (little-endian): magic "QDCKPT", u16 version, then sections, then a CRC-32 of all
 * preceding bytes. Files are written to PATH.tmp, fsynced and renamed, so a crash leaves either
 * the old checkpoint or the new one.
 * Ownership: checkpoint_load allocates meta->extra (free it with free()).
 */
#ifndef QD_CHECKPOINT_H
#define QD_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "optim.h"

#define CHECKPOINT_VERSION 1

typedef struct ckpt_meta {
    int64_t epoch;         /* epochs completed */
    int64_t step;          /* optimiser steps taken */
    rng data_rng;          /* shuffling and augmentation stream */
    char *extra;           /* job data (NUL-terminated text), may be NULL */
    size_t extra_len;
} ckpt_meta;

/* What a checkpoint says about the model it holds, readable without building the model. */
typedef struct ckpt_info {
    model_desc desc;
    int in_c, in_h, in_w, classes;
    int n_compute;
    quant_fmt wq[MODEL_MAX_LAYERS], aq[MODEL_MAX_LAYERS];
} ckpt_info;

/* o may be NULL (no optimiser state saved). */
int checkpoint_save(const char *path, const model *m, const optim *o, const ckpt_meta *meta,
                    qd_err *err);
/* Read the header; QD_ENOENT, QD_EFORMAT (not a checkpoint, wrong version, truncated) or
 * QD_ECHECKSUM. */
int checkpoint_info(const char *path, ckpt_info *info, qd_err *err);
/* Load into a model built from the same description (QD_EFORMAT otherwise); restores the
 * quantizer formats too. o and meta may be NULL. */
int checkpoint_load(const char *path, model *m, optim *o, ckpt_meta *meta, qd_err *err);
/* The same two on a checkpoint already in memory (len bytes at buf, only read); name labels
 * the messages (NULL: "checkpoint"). */
int checkpoint_info_mem(const void *buf, size_t len, const char *name, ckpt_info *info,
                        qd_err *err);
int checkpoint_load_mem(const void *buf, size_t len, const char *name, model *m, optim *o,
                        ckpt_meta *meta, qd_err *err);

#endif
