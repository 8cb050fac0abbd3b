/*
 * jobinfo.h: reading a job object as quantd returns it (GET /api/v1/jobs/{id}): its id, state,
 * progress, outcome, error and a one-line summary of its result, tolerant of fields that are
 * missing while the job runs. Used by the commands, watch and pareto.
 * Ownership: everything borrows from the job object or writes into the caller's buffer.
 */
#ifndef QC_JOBINFO_H
#define QC_JOBINFO_H

#include <jansson.h>

#include "qcerr.h"

/* The id as text: ids are strings (integers are printed). "" when missing. */
const char *jobinfo_id(const json_t *job, char *buf, size_t cap);
/* queued, running, succeeded, failed, cancelled; "" when missing */
const char *jobinfo_state(const json_t *job);
/* 1 for succeeded, failed and cancelled */
int jobinfo_terminal(const char *state);
/* progress in [0, 1] from a number or an object with "fraction"; -1 when unknown */
double jobinfo_fraction(const json_t *job);
/* the job's error message (a string, error.message or the last of errors[]), NULL when none */
const char *jobinfo_error(const json_t *job);
/* 0 when the job succeeded, else QC_JOB_FAILED or QC_JOB_CANCELLED with e naming the job */
int jobinfo_outcome(const json_t *job, qcerr *e);
/* "accuracy 91.20%  memory 12.3 KiB  BitOPs 1.20G" from a result object; "" when absent */
char *jobinfo_result_line(char *buf, size_t cap, const json_t *result);
/* what a spec asks for: "w4 a4 bits", "w:e4m3 a:e3m2", "w:hfp8 a:hfp8", "float" for a train
 * spec, "search uniform" for a search, "export onnx of candidate 2" for an export */
char *jobinfo_bits(char *buf, size_t cap, const json_t *spec);
/* total bytes of a result or Pareto point: its "memory" ({"total_bytes"} or a number) or its
 * own "total_bytes"; -1 when absent */
double jobinfo_memory(const json_t *obj);

#endif
