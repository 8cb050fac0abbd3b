/*
 * jobview.h: a job as the API shows it, built from a store row: the job object of GET
 * /api/v1/jobs/{id} (with spec and result) and of listings (without), and the small object of
 * an SSE "state" event. One place, so the API, the event stream and the workers agree.
 * Ownership: each function returns a new reference or a malloc'd string.
 */
#ifndef QD_JOBVIEW_H
#define QD_JOBVIEW_H

#include <jansson.h>

#include "store.h"

/* full: add "spec" and "result" (the listing leaves them out). */
json_t *jobview_json(const store_job *j, int full);
/* The full job as JSON text: jobview_json(j, 0) with the members of extra (may be NULL,
 * borrowed) and "spec" and "result" copied from the stored text without re-parsing. */
char *jobview_text(const store_job *j, const json_t *extra);
/* A listing's summary of the result (store_list fills it): {"test_accuracy", "total_bytes",
 * "candidates"?}, or null when the job has no result. */
json_t *jobview_summary(const store_job *j);
/* {"id", "state", "attempts", "cancel_requested", "retry_at"?, "finished_at"?} */
json_t *jobview_state(const store_job *j);

#endif
