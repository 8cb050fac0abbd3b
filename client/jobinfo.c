/*
 * jobinfo.c: the fields quantctl reads from a job object. A job is queued, running, succeeded,
 * failed or cancelled; only the last three are final. Progress may be a bare fraction or an
 * object carrying one; the error may be a string or {"code", "message"}; memory may be the
 * result's {"weight_bytes", "activation_bytes", "total_bytes"} or a number of bytes.
 */
#include "jobinfo.h"

#include <stdio.h>
#include <string.h>

#include "render.h"

const char *jobinfo_id(const json_t *job, char *buf, size_t cap)
{
    json_t *id = json_object_get(job, "id");
    if (json_is_integer(id))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(id));
    else
        snprintf(buf, cap, "%s", json_is_string(id) ? json_string_value(id) : "");
    return buf;
}

const char *jobinfo_state(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "state"));
    return s ? s : "";
}

int jobinfo_terminal(const char *state)
{
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled");
}

double jobinfo_fraction(const json_t *job)
{
    json_t *p = json_object_get(job, "progress");
    if (json_is_object(p))
        p = json_object_get(p, "fraction");
    double f = render_number(p, -1.0);
    return f > 1.0 && f <= 100.0 ? f / 100.0 : f;
}

const char *jobinfo_error(const json_t *job)
{
    json_t *err = json_object_get(job, "error"), *all = json_object_get(job, "errors");
    if (!err && json_array_size(all))
        err = json_array_get(all, json_array_size(all) - 1);
    if (json_is_object(err))
        err = json_object_get(err, "message");
    return json_string_value(err);
}

int jobinfo_outcome(const json_t *job, qcerr *e)
{
    char id[128];
    const char *state = jobinfo_state(job), *why = jobinfo_error(job);
    jobinfo_id(job, id, sizeof id);
    if (!strcmp(state, "succeeded"))
        return 0;
    if (!strcmp(state, "cancelled"))
        return qcerr_set(e, QC_JOB_CANCELLED, NULL, NULL, "job %s was cancelled", id);
    if (!strcmp(state, "failed"))
        return qcerr_set(e, QC_JOB_FAILED, NULL, NULL, "job %s failed: %s", id,
                         why ? why : "no error message");
    return qcerr_set(e, QC_SERVER, NULL, NULL, "job %s is still %s", id, *state ? state : "?");
}

double jobinfo_memory(const json_t *obj)
{
    json_t *m = json_object_get(obj, "memory");
    if (json_is_object(m))
        m = json_object_get(m, "total_bytes");
    return render_number(m ? m : json_object_get(obj, "total_bytes"), -1.0);
}

char *jobinfo_result_line(char *buf, size_t cap, const json_t *result)
{
    char mem[32], ops[32];
    double acc = render_number(json_object_get(result, "test_accuracy"), -1.0);
    double bytes = jobinfo_memory(result);
    double bitops = render_number(json_object_get(result, "bitops"), -1.0);
    size_t n = 0;
    buf[0] = '\0';
    if (acc >= 0)
        n += (size_t)snprintf(buf + n, cap - n, "accuracy %.2f%%  ", 100.0 * acc);
    if (bytes >= 0 && n < cap)
        n +=
            (size_t)snprintf(buf + n, cap - n, "memory %s  ", render_bytes(mem, sizeof mem, bytes));
    if (bitops >= 0 && n < cap)
        n += (size_t)snprintf(buf + n, cap - n, "BitOPs %s  ",
                              render_count(ops, sizeof ops, bitops));
    while (n > 0 && n < cap && buf[n - 1] == ' ')
        buf[--n] = '\0';
    return buf;
}

/* "4", "e3m2", "hfp8", "float" for one format object */
static const char *format_text(char *buf, size_t cap, const json_t *f)
{
    const char *name = json_string_value(json_object_get(f, "format"));
    json_t *bits = json_object_get(f, "bits");
    if (!f || !name)
        snprintf(buf, cap, "float");
    else if (!strcmp(name, "int"))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(bits));
    else if (!strcmp(name, "minifloat"))
        snprintf(buf, cap, "e%lldm%lld",
                 (long long)json_integer_value(json_object_get(f, "exponent")),
                 (long long)json_integer_value(json_object_get(f, "mantissa")));
    else
        snprintf(buf, cap, "%s", name);
    return buf;
}

char *jobinfo_bits(char *buf, size_t cap, const json_t *spec)
{
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    if (kind && !strcmp(kind, "search")) {
        const char *m = json_string_value(json_object_get(spec, "method"));
        snprintf(buf, cap, "search %s", m ? m : "sensitivity");
        return buf;
    }
    if (kind && !strcmp(kind, "export")) {
        const char *f = json_string_value(json_object_get(spec, "format"));
        json_t *cand = json_object_get(spec, "candidate");
        if (json_is_integer(cand))
            snprintf(buf, cap, "export %s of candidate %lld", f ? f : "qmodel",
                     (long long)json_integer_value(cand));
        else
            snprintf(buf, cap, "export %s", f ? f : "qmodel");
        return buf;
    }
    json_t *q = json_object_get(spec, "quant");
    const char *method = json_string_value(json_object_get(q, "method"));
    char w[32], a[32];
    if (!q || !method || !strcmp(method, "none")) {
        snprintf(buf, cap, "float");
        return buf;
    }
    format_text(w, sizeof w, json_object_get(q, "weights"));
    format_text(a, sizeof a, json_object_get(q, "activations"));
    int ints = w[0] >= '0' && w[0] <= '9' && a[0] >= '0' && a[0] <= '9';
    snprintf(buf, cap, ints ? "w%s a%s bits" : "w:%s a:%s", w, a);
    return buf;
}
