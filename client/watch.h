/*
 * watch.h: following a job until it ends, from its server-sent events
 * (GET /api/v1/jobs/{id}/events), for `quantctl watch` and `quantctl submit --wait`.
 * Progress is drawn as a bar with epoch, loss, accuracy, current bits and time left: redrawn in
 * place on a terminal, as plain lines otherwise, or as one JSON line per event.
 * Ownership: watch_follow returns a new reference to the final job object in *final.
 */
#ifndef QC_WATCH_H
#define QC_WATCH_H

#include <jansson.h>
#include <stdio.h>

#include "commands.h"

typedef struct watch_view {
    FILE *out; /* where progress goes; NULL: nowhere */
    int tty;   /* out is a terminal: one line redrawn in place */
    int jsonl; /* each event as one JSON line {"event", "data"} instead of text */
} watch_view;

/* Follows job id until it is succeeded, failed or cancelled. Returns 0 with the final job in
 * *final (whatever its outcome), or an exit code when the job cannot be followed. */
int watch_follow(qc_ctx *c, const char *id, const watch_view *v, json_t **final, qcerr *e);

#endif
