/*
 * jobview.c: JSON of a job for the API (jobview.h). Times are RFC 3339 strings in UTC, null
 * when the event has not happened. Spec, progress, result and a running search's partial
 * result are stored as JSON text that quantd itself wrote with jansson; jobview_json parses
 * them back, jobview_text (the hot path of GET /api/v1/jobs/{id}) copies spec, result and
 * partial as they are.
 */
#include "jobview.h"

#include <stdlib.h>
#include <string.h>

#include "qtime.h"

static json_t *when(int64_t ms)
{
    char buf[QTIME_ISO_LEN];
    return ms ? json_string(qtime_iso(ms, buf)) : json_null();
}

static json_t *parsed(const char *text)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

json_t *jobview_json(const store_job *j, int full)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:b}", "id", j->id,
                          "team", j->team, "kind", j->kind, "name", j->name, "state",
                          store_state_name(j->state), "priority", j->priority, "attempts",
                          j->attempts, "max_attempts", j->max_attempts, "crashes", j->crashes,
                          "cancel_requested", j->cancel_requested);
    if (!o)
        return NULL;
    json_object_set_new(o, "created_at", when(j->created_at));
    json_object_set_new(o, "started_at", when(j->started_at));
    json_object_set_new(o, "finished_at", when(j->finished_at));
    json_object_set_new(o, "updated_at", when(j->updated_at));
    json_object_set_new(o, "deadline", when(j->deadline));
    json_object_set_new(o, "retry_at", when(j->state == JS_QUEUED ? j->not_before : 0));
    json_object_set_new(o, "progress", parsed(j->progress));
    if (full) {
        json_object_set_new(o, "spec", parsed(j->spec));
        json_object_set_new(o, "result", parsed(j->result));
        json_object_set_new(o, "partial", parsed(j->partial));
    }
    return o;
}

char *jobview_text(const store_job *j, const json_t *extra)
{
    json_t *o = jobview_json(j, 0);
    if (o && extra)
        json_object_update(o, (json_t *)extra);
    char *head = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!head)
        return NULL;
    const char *spec = j->spec ? j->spec : "null", *result = j->result ? j->result : "null";
    const char *partial = j->partial ? j->partial : "null";
    size_t n = strlen(head), cap = n + strlen(spec) + strlen(result) + strlen(partial) + 48;
    char *out = malloc(cap);
    if (out)
        snprintf(out, cap, "%.*s,\"spec\":%s,\"result\":%s,\"partial\":%s}", (int)(n - 1),
                 head, spec, result, partial);
    free(head);
    return out;
}

json_t *jobview_summary(const store_job *j)
{
    if (!j->has_summary)
        return json_null();
    json_t *o = json_pack("{s:f, s:I}", "test_accuracy", j->test_accuracy, "total_bytes",
                          (json_int_t)j->total_bytes);
    if (o && j->candidates > 0)
        json_object_set_new(o, "candidates", json_integer(j->candidates));
    return o ? o : json_null();
}

json_t *jobview_state(const store_job *j)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:b}", "id", j->id, "state",
                          store_state_name(j->state), "attempts", j->attempts, "cancel_requested",
                          j->cancel_requested);
    if (o && j->state == JS_QUEUED && j->not_before)
        json_object_set_new(o, "retry_at", when(j->not_before));
    if (o && j->finished_at)
        json_object_set_new(o, "finished_at", when(j->finished_at));
    return o;
}
