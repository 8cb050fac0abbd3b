/*
 * commands.c: quantctl's request-and-print commands: submit, list, show, cancel, metrics,
 * fetch, models, datasets and health (watch is in watch.c, pareto in pareto.c).
 *
 * Each command makes one or two calls to the REST API v1, then prints either the answer as JSON
 * (--json) or a table or summary for people. A command never exits: it returns 0 or a quantctl
 * exit code with the qcerr filled in. List answers may be a bare array or an object carrying
 * the array ("items", or the resource's name); both are read.
 */
#include "commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobinfo.h"
#include "render.h"
#include "watch.h"

#define SPEC_MAX (1u << 20)

/* ---- shared helpers ---- */

void cmd_print_json(const json_t *j)
{
    if (j)
        json_dumpf(j, stdout, JSON_INDENT(2));
    else
        fputs("null", stdout);
    fputc('\n', stdout);
}

int cmd_job_path(char *buf, size_t cap, const char *id, const char *suffix, qcerr *e)
{
    if (!*id || strlen(id) > 128 || strcspn(id, "/?#%& \t\r\n") != strlen(id))
        return qcerr_set(e, QC_USAGE, NULL, NULL, "'%s' is not a job id", id);
    snprintf(buf, cap, "/api/v1/jobs/%s%s", id, suffix);
    return 0;
}

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

/* The array in a list answer: the answer itself, or its first array among the given keys. */
static json_t *items_of(json_t *reply, const char *const *keys)
{
    if (json_is_array(reply))
        return reply;
    for (int i = 0; keys[i]; i++)
        if (json_is_array(json_object_get(reply, keys[i])))
            return json_object_get(reply, keys[i]);
    return NULL;
}

/* GET path and print it: as JSON, or as a table of its items (cols may be NULL). */
static int get_table(qc_ctx *c, const char *path, const char *const *keys, const char *const *cols,
                     qcerr *e)
{
    http_reply r;
    int rc = http_call(&c->http, "GET", path, NULL, &r, e);
    if (rc)
        goto out;
    json_t *items = items_of(r.json, keys);
    if (c->json)
        cmd_print_json(r.json);
    else if (items)
        render_json_table(stdout, items, cols);
    else
        rc = qcerr_set(e, QC_SERVER, NULL, NULL, "answer to GET %s holds no list", path);
out:
    http_reply_free(&r);
    return rc;
}

/* ---- submit ---- */

static char *read_spec(const char *path, qcerr *e)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *text = f ? malloc(SPEC_MAX + 1) : NULL;
    size_t n = 0;
    if (!f) {
        qcerr_set(e, QC_LOCAL, NULL, NULL, "cannot read the spec %s: %s", path, strerror(errno));
        return NULL;
    }
    if (text)
        n = fread(text, 1, SPEC_MAX + 1, f);
    if (text && ferror(f))
        qcerr_set(e, QC_LOCAL, NULL, NULL, "cannot read the spec %s: %s", path, strerror(errno));
    else if (text && n > SPEC_MAX)
        qcerr_set(e, QC_LOCAL, NULL, NULL, "the spec %s is larger than %u bytes", path, SPEC_MAX);
    else if (!text)
        qcerr_set(e, QC_LOCAL, NULL, NULL, "out of memory");
    if (f != stdin)
        fclose(f);
    if (e->exit) {
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* The spec must be a JSON object; the daemon validates the rest and names the field. */
static int check_spec(const char *path, const char *text, qcerr *e)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    if (!j)
        rc = qcerr_set(e, QC_REJECTED, "malformed_json", NULL, "%s:%d:%d: not valid JSON: %s",
                       strcmp(path, "-") ? path : "<stdin>", je.line, je.column, je.text);
    else if (!json_is_object(j))
        rc = qcerr_set(e, QC_REJECTED, "invalid_spec", NULL, "%s: a spec is a JSON object", path);
    json_decref(j);
    return rc;
}

static void submitted_note(const json_t *job)
{
    char id[128];
    const char *kind = json_string_value(json_object_get(job, "kind"));
    const char *name = json_string_value(json_object_get(job, "name"));
    jobinfo_id(job, id, sizeof id);
    printf("%s\n", id);
    fflush(stdout);
    fprintf(stderr, "quantctl: submitted %s job %s%s%s%s, %s\n", kind ? kind : "a", id,
            name && *name ? " '" : "", name && *name ? name : "", name && *name ? "'" : "",
            *jobinfo_state(job) ? jobinfo_state(job) : "queued");
}

int cmd_submit(qc_ctx *c, const qc_args *a, qcerr *e)
{
    http_reply r = {0};
    char id[128];
    json_t *final = NULL;
    char *spec = read_spec(a->pos[0], e);
    int rc = spec ? check_spec(a->pos[0], spec, e) : e->exit;
    if (rc)
        goto out;
    if ((rc = http_call(&c->http, "POST", "/api/v1/jobs", spec, &r, e)))
        goto out;
    jobinfo_id(r.json, id, sizeof id);
    if (!*id) {
        rc = qcerr_set(e, QC_SERVER, NULL, NULL, "the answer to the submission carries no job id");
        goto out;
    }
    if (!a->opt[OPT_WAIT]) {
        if (c->json)
            cmd_print_json(r.json);
        else
            submitted_note(r.json);
        goto out;
    }
    if (!c->json)
        submitted_note(r.json);
    watch_view v = {.out = c->json ? NULL : stderr, .tty = c->tty_err};
    if ((rc = watch_follow(c, id, &v, &final, e)))
        goto out;
    if (c->json)
        cmd_print_json(final);
    rc = jobinfo_outcome(final, e);
out:
    free(spec);
    http_reply_free(&r);
    json_decref(final);
    return rc;
}

/* ---- list ---- */

static void list_print(const json_t *items)
{
    static const char *const head[] = {"ID",   "KIND",     "STATE",  "PROGRESS",
                                       "NAME", "ACCURACY", "CREATED"};
    render_table t;
    if (render_table_init(&t, 7, head))
        return;
    size_t i;
    json_t *job, *res;
    json_array_foreach(items, i, job)
    {
        char id[128], prog[16] = "-", acc[16] = "-", when[64];
        double f = jobinfo_fraction(job);
        res = json_object_get(job, "result"); /* listings may leave it out: then progress */
        double ac = render_number(json_object_get(res, "test_accuracy"), -1.0);
        if (ac < 0)
            ac = render_number(json_object_get(json_object_get(job, "progress"), "test_accuracy"),
                               -1.0);
        if (f >= 0)
            snprintf(prog, sizeof prog, "%.0f%%", 100.0 * f);
        if (ac >= 0)
            snprintf(acc, sizeof acc, "%.2f%%", 100.0 * ac);
        const char *name = json_string_value(json_object_get(job, "name"));
        const char *row[] = {jobinfo_id(job, id, sizeof id),
                             json_string_value(json_object_get(job, "kind")),
                             jobinfo_state(job),
                             prog,
                             or_dash(name),
                             acc,
                             render_time(when, sizeof when, json_object_get(job, "created_at"))};
        render_table_add(&t, row);
    }
    if (t.nrows)
        render_table_print(&t, stdout);
    else
        printf("no jobs\n");
    render_table_free(&t);
}

int cmd_list(qc_ctx *c, const qc_args *a, qcerr *e)
{
    static const char *const keys[] = {"items", "jobs", NULL};
    char path[1024] = "/api/v1/jobs";
    http_reply r;
    if (http_query_add(path, sizeof path, "state", a->opt[OPT_STATE]) ||
        http_query_add(path, sizeof path, "kind", a->opt[OPT_KIND]) ||
        http_query_add(path, sizeof path, "name", a->opt[OPT_NAME]) ||
        http_query_add(path, sizeof path, "limit", a->opt[OPT_LIMIT]) ||
        http_query_add(path, sizeof path, "cursor", a->opt[OPT_CURSOR]))
        return qcerr_set(e, QC_USAGE, NULL, NULL, "list filters are too long");
    int rc = http_call(&c->http, "GET", path, NULL, &r, e);
    if (rc)
        goto out;
    json_t *items = items_of(r.json, keys);
    const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
    if (!next)
        next = json_string_value(json_object_get(r.json, "next"));
    if (c->json)
        cmd_print_json(r.json);
    else if (!items)
        rc = qcerr_set(e, QC_SERVER, NULL, NULL, "answer to GET %s holds no list of jobs", path);
    else
        list_print(items);
    if (!c->json && next && *next)
        fprintf(stderr, "more: quantctl list --cursor %s\n", next);
out:
    http_reply_free(&r);
    return rc;
}

/* ---- show ---- */

static void show_fields(const json_t *job)
{
    const char *key;
    json_t *v;
    char text[512];
    json_object_foreach((json_t *)job, key, v)
    {
        size_t n = strlen(key);
        if (!strcmp(key, "progress") && jobinfo_fraction(job) >= 0)
            snprintf(text, sizeof text, "%.1f%%", 100.0 * jobinfo_fraction(job));
        else if (json_is_object(v) || json_is_array(v) || !strcmp(key, "error"))
            continue;
        else if (n > 3 && !strcmp(key + n - 3, "_at"))
            render_time(text, sizeof text, v);
        else
            render_scalar(text, sizeof text, v);
        printf("%-12s %s\n", key, text);
    }
}

static void show_result(const json_t *res)
{
    char line[256], a[32], b[32];
    json_t *mem = json_object_get(res, "memory");
    printf("%-12s %s\n", "result", jobinfo_result_line(line, sizeof line, res));
    if (json_is_object(mem))
        printf(
            "%-12s weights %s + activations %s\n", "",
            render_bytes(a, sizeof a, render_number(json_object_get(mem, "weight_bytes"), 0)),
            render_bytes(b, sizeof b, render_number(json_object_get(mem, "activation_bytes"), 0)));
    static const char *const cols[] = {"name",   "type",     "params",   "w_bits",
                                       "a_bits", "w_format", "a_format", NULL};
    json_t *layers = json_object_get(res, "layers");
    if (json_array_size(layers)) {
        printf("\nlayers:\n");
        render_json_table(stdout, layers, cols);
    }
}

int cmd_show(qc_ctx *c, const qc_args *a, qcerr *e)
{
    char path[256], bits[64];
    http_reply r = {0};
    int rc = cmd_job_path(path, sizeof path, a->pos[0], "", e);
    if (rc || (rc = http_call(&c->http, "GET", path, NULL, &r, e)))
        goto out;
    if (c->json) {
        cmd_print_json(r.json);
        goto out;
    }
    show_fields(r.json);
    json_t *spec = json_object_get(r.json, "spec");
    if (spec)
        printf("%-12s %s  %s on %s\n", "spec", jobinfo_bits(bits, sizeof bits, spec),
               or_dash(json_string_value(json_object_get(spec, "model"))),
               or_dash(json_string_value(json_object_get(spec, "dataset"))));
    if (jobinfo_error(r.json))
        printf("%-12s %s\n", "error", jobinfo_error(r.json));
    if (json_is_object(json_object_get(r.json, "result")))
        show_result(json_object_get(r.json, "result"));
out:
    http_reply_free(&r);
    return rc;
}

/* ---- cancel ---- */

int cmd_cancel(qc_ctx *c, const qc_args *a, qcerr *e)
{
    char path[256];
    http_reply r = {0};
    int rc = cmd_job_path(path, sizeof path, a->pos[0], "/cancel", e);
    if (rc || (rc = http_call(&c->http, "POST", path, NULL, &r, e)))
        goto out;
    if (c->json) {
        cmd_print_json(r.json);
        goto out;
    }
    const char *state = jobinfo_state(r.json);
    if (!strcmp(state, "running"))
        printf("job %s: cancelling (it stops at the next step)\n", a->pos[0]);
    else
        printf("job %s: %s\n", a->pos[0], *state ? state : "cancel requested");
out:
    http_reply_free(&r);
    return rc;
}

/* ---- metrics ---- */

/* The columns of a history entry worth a person's eye, those the first entry has. */
static void metrics_print(const json_t *items)
{
    static const char *const known[] = {"epoch",         "train_loss",  "test_loss",
                                        "test_accuracy", "seconds",     "train_images_per_second",
                                        "mean_w_bits",   "mean_a_bits", NULL};
    const char *cols[RENDER_MAX_COLS + 1];
    int n = 0;
    for (int i = 0; known[i]; i++)
        if (json_object_get(json_array_get(items, 0), known[i]))
            cols[n++] = known[i];
    cols[n] = NULL;
    if (json_array_size(items) == 0)
        printf("no epochs finished yet\n");
    else
        render_json_table(stdout, items, n ? cols : NULL);
}

int cmd_metrics(qc_ctx *c, const qc_args *a, qcerr *e)
{
    static const char *const keys[] = {"history", "items", "epochs", "metrics", NULL};
    char path[256];
    http_reply r = {0};
    int rc = cmd_job_path(path, sizeof path, a->pos[0], "/metrics", e);
    if (rc || (rc = http_call(&c->http, "GET", path, NULL, &r, e)))
        goto out;
    json_t *items = items_of(r.json, keys);
    if (c->json)
        cmd_print_json(r.json);
    else if (!items)
        rc = qcerr_set(e, QC_SERVER, NULL, NULL, "answer to GET %s holds no history", path);
    else
        metrics_print(items);
out:
    http_reply_free(&r);
    return rc;
}

/* ---- fetch ---- */

static int fetch_to(qc_ctx *c, const char *path, const char *file, long long *bytes, qcerr *e)
{
    char part[4096];
    if (!strcmp(file, "-"))
        return http_download(&c->http, path, stdout, bytes, e);
    snprintf(part, sizeof part, "%s.part", file);
    FILE *f = fopen(part, "wb");
    if (!f)
        return qcerr_set(e, QC_LOCAL, NULL, NULL, "cannot write %s: %s", part, strerror(errno));
    int rc = http_download(&c->http, path, f, bytes, e);
    if (fclose(f) && !rc)
        rc = qcerr_set(e, QC_LOCAL, NULL, NULL, "cannot write %s: %s", part, strerror(errno));
    if (!rc && rename(part, file))
        rc = qcerr_set(e, QC_LOCAL, NULL, NULL, "cannot rename %s to %s: %s", part, file,
                       strerror(errno));
    if (rc)
        unlink(part);
    return rc;
}

int cmd_fetch(qc_ctx *c, const qc_args *a, qcerr *e)
{
    static const char *const keys[] = {"items", "artifacts", NULL};
    static const char *const cols[] = {"name", "size", "sha256", NULL};
    char path[1024], name[256];
    long long bytes = 0;
    const char *art = a->pos[1];
    if (!art) {
        int rc = cmd_job_path(path, sizeof path, a->pos[0], "/artifacts", e);
        return rc ? rc : get_table(c, path, keys, cols, e);
    }
    if (!*art || strchr(art, '/') || strcspn(art, "?#%& ") != strlen(art) || strlen(art) > 200)
        return qcerr_set(e, QC_USAGE, NULL, NULL, "'%s' is not an artifact name", art);
    snprintf(name, sizeof name, "/artifacts/%s", art);
    const char *file = a->opt[OPT_OUTPUT] ? a->opt[OPT_OUTPUT] : art;
    int rc = cmd_job_path(path, sizeof path, a->pos[0], name, e);
    if (rc || (rc = fetch_to(c, path, file, &bytes, e)))
        return rc;
    if (c->json && strcmp(file, "-")) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "job", a->pos[0], "artifact", art, "file",
                              file, "bytes", (json_int_t)bytes);
        cmd_print_json(o);
        json_decref(o);
    } else if (strcmp(file, "-"))
        printf("wrote %s (%lld bytes)\n", file, bytes);
    return 0;
}

/* ---- models, datasets, health ---- */

int cmd_models(qc_ctx *c, const qc_args *a, qcerr *e)
{
    static const char *const keys[] = {"items", "models", NULL};
    (void)a;
    return get_table(c, "/api/v1/models", keys, NULL, e);
}

int cmd_datasets(qc_ctx *c, const qc_args *a, qcerr *e)
{
    static const char *const keys[] = {"items", "datasets", NULL};
    (void)a;
    return get_table(c, "/api/v1/datasets", keys, NULL, e);
}

int cmd_health(qc_ctx *c, const qc_args *a, qcerr *e)
{
    http_reply r;
    (void)a;
    int rc = http_call(&c->http, "GET", "/healthz", NULL, &r, e);
    if (rc)
        goto out;
    if (c->json) {
        cmd_print_json(r.json);
        goto out;
    }
    const char *status = json_string_value(json_object_get(r.json, "status"));
    printf("quantd at %s: %s\n", c->http.url, status ? status : "ok");
    const char *key;
    json_t *v;
    char text[256];
    json_object_foreach(r.json, key, v)
    {
        if (strcmp(key, "status"))
            printf("  %-14s %s\n", key, render_scalar(text, sizeof text, v));
    }
out:
    http_reply_free(&r);
    return rc;
}
