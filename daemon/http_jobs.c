/*
 * http_jobs.c: the job resource: POST /api/v1/jobs (submit), GET /api/v1/jobs (list), GET
 * /api/v1/jobs/{id}, POST /api/v1/jobs/{id}/cancel, GET /api/v1/jobs/{id}/metrics and the
 * artifacts of a job. Every handler sees only the jobs of the caller's team (an admin: all);
 * another team's job answers 404, exactly as a job that does not exist.
 *
 * Submitting: the spec is checked by the one spec parser (jobs/spec.h: 400 malformed_json,
 * 422 invalid_spec with the field), then by what the daemon adds: data sets and models by name
 * only and available here, init.job a finished-or-not job the caller can see, no
 * init.checkpoint (a path on the server). The stored spec is the body re-serialised compactly.
 * An Idempotency-Key binds the key to the SHA-256 of that spec and the query: the same again
 * returns the first job (200), anything else under the same key is 422.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "digest.h"
#include "http.h"
#include "jobs/job.h"
#include "jobview.h"
#include "qtime.h"
#include "sched.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define DEADLINE_MAX (366L * 24 * 3600)

static const char *const kind_names[] = {[JOB_TRAIN] = "train", [JOB_SEARCH] = "search",
                                         [JOB_EXPORT] = "export"};

static int valid_id(const char *id)
{
    return strlen(id) == STORE_ID_LEN - 1 && strspn(id, "0123456789abcdef") == STORE_ID_LEN - 1;
}

/* The job of the path's {id} that the caller may see. When there is none the 404 is queued,
 * *ret holds its result and the return value is 1. */
static int find_job(http_req *r, store_job *j, enum MHD_Result *ret)
{
    qd_err err = {0};
    const char *id = r->param[0];
    int rc = valid_id(id) ? store_get(r->app->st, id, http_visible_team(r), j, &err)
                          : qd_fail(&err, QD_ENOENT, NULL, "no job %s", id);
    if (rc == 0)
        return 0;
    *ret = http_error_from(r, &err);
    return 1;
}

/* An integer query parameter in lo..hi; when malformed the 400 is queued and 1 returned. */
static int int_param(http_req *r, const char *key, long long lo, long long hi, long long *out,
                     enum MHD_Result *ret)
{
    const char *v = http_query(r, key);
    char *end;
    if (!v)
        return 0;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (*v && !*end && !errno && x >= lo && x <= hi) {
        *out = x;
        return 0;
    }
    *ret = http_error(r, QD_EINVAL, key, "must be an integer in %lld..%lld", lo, hi);
    return 1;
}

/* ---- submit ---- */

/* Where a train job starts (init) or a search's candidates start (base): a job the caller
 * sees, a train job, never a file on the server. where is "init" or "base". */
static int check_start(http_req *r, const char *job, const char *checkpoint, const char *where,
                       qd_err *err)
{
    char field[32];
    snprintf(field, sizeof field, "%s.%s", where, checkpoint[0] ? "checkpoint" : "job");
    if (checkpoint[0])
        return qd_fail(err, QD_ESPEC, field,
                       "the daemon does not read checkpoint files: start from a job with "
                       "%s.job",
                       where);
    if (!job[0])
        return 0;
    store_job j;
    if (!valid_id(job) || store_get(r->app->st, job, http_visible_team(r), &j, NULL) < 0)
        return qd_fail(err, QD_ESPEC, field, "no job %s", job);
    int ok = strcmp(j.kind, "train") == 0;
    store_job_clear(&j);
    return ok ? 0 : qd_fail(err, QD_ESPEC, field, "job %s is not a train job", job);
}

/* An export without "dataset" evaluates on the source job's data set: the stored spec gets the
 * source's "dataset" and "subset" (the training subset gives the input normalisation), so the
 * job's record says what it ran on. */
static void inherit_dataset(http_req *r, const char *source_spec)
{
    json_t *src = source_spec ? json_loads(source_spec, 0, NULL) : NULL;
    json_t *ds = json_object_get(src, "dataset"), *subset = json_object_get(src, "subset");
    if (json_is_string(ds) && !json_object_get(r->json, "dataset"))
        json_object_set(r->json, "dataset", ds);
    if (json_is_object(subset) && !json_object_get(r->json, "subset"))
        json_object_set(r->json, "subset", subset);
    json_decref(src);
}

/* An export's source: a finished train or search job the caller sees, never a file; a
 * candidate only for a search job. */
static int check_export(http_req *r, const export_spec *e, qd_err *err)
{
    if (e->checkpoint[0])
        return qd_fail(err, QD_ESPEC, "checkpoint",
                       "the daemon does not read checkpoint files: export a job with \"job\"");
    if (e->dataset[0] && !catalog_dataset_ok(r->app->cfg, e->dataset))
        return qd_fail(err, QD_ESPEC, "dataset",
                       "no data set \"%s\" on this server: GET /api/v1/datasets lists them",
                       e->dataset);
    store_job j;
    if (!valid_id(e->job) || store_get(r->app->st, e->job, http_visible_team(r), &j, NULL) < 0)
        return qd_fail(err, QD_ESPEC, "job", "no job %s", e->job);
    int search = strcmp(j.kind, "search") == 0, kind_ok = search || !strcmp(j.kind, "train");
    int state = j.state;
    if (!e->dataset[0] && kind_ok)
        inherit_dataset(r, j.spec);
    store_job_clear(&j);
    if (!kind_ok)
        return qd_fail(err, QD_ESPEC, "job", "job %s is not a train or search job", e->job);
    if (state != JS_SUCCEEDED)
        return qd_fail(err, QD_ESPEC, "job",
                       "job %s has not succeeded (it is %s): export it once it has", e->job,
                       store_state_name(state));
    if (search && e->candidate < 0)
        return qd_fail(err, QD_ESPEC, "candidate",
                       "job %s is a search job: give \"candidate\", the index of one of its "
                       "candidates",
                       e->job);
    if (!search && e->candidate >= 0)
        return qd_fail(err, QD_ESPEC, "candidate", "job %s is a train job: it has no candidates",
                       e->job);
    return 0;
}

static int check_daemon_rules(http_req *r, const job_spec *spec, qd_err *err)
{
    const train_spec *t = &spec->train;
    const search_spec *s = &spec->search;
    const serve_config *c = r->app->cfg;
    int search = spec->kind == JOB_SEARCH;
    if (spec->kind == JOB_EXPORT)
        return check_export(r, &spec->export_, err);
    if (spec->kind != JOB_TRAIN && !search)
        return 0;
    const char *dataset = search ? s->dataset : t->dataset, *model = search ? s->model : t->model;
    if (!catalog_dataset_ok(c, dataset))
        return qd_fail(err, QD_ESPEC, "dataset",
                       catalog_plain_name(dataset)
                           ? "no data set \"%s\" on this server: GET /api/v1/datasets lists them"
                           : "\"%s\": the daemon takes data set names, not paths: "
                             "GET /api/v1/datasets lists them",
                       dataset);
    if (!catalog_model_ok(c, model))
        return qd_fail(err, QD_ESPEC, "model",
                       "no model \"%s\" on this server (the daemon takes zoo names, not paths): "
                       "GET /api/v1/models lists them",
                       model);
    if (search)
        return check_start(r, s->base_job, s->base_checkpoint, "base", err);
    return check_start(r, t->init_job, t->init_checkpoint, "init", err);
}

/* The idempotency key header, checked; NULL when absent. On a bad key the 400 is queued. */
static int idem_key(http_req *r, const char **key, enum MHD_Result *ret)
{
    *key = http_header(r, "Idempotency-Key");
    if (!*key)
        return 0;
    size_t n = strlen(*key);
    int printable = 1;
    for (size_t i = 0; i < n; i++)
        printable &= (*key)[i] > 0x20 && (*key)[i] < 0x7f;
    if (n >= 1 && n <= 255 && printable)
        return 0;
    *ret = http_error(r, QD_EINVAL, "Idempotency-Key",
                      "must be 1 to 255 printable ASCII characters without spaces");
    return 1;
}

static enum MHD_Result created(http_req *r, const store_submit_req *rq)
{
    store_job j;
    qd_err err = {0};
    if (store_get(r->app->st, rq->id, NULL, &j, &err) < 0)
        return http_error_from(r, &err);
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/jobs/%s", rq->id);
    struct MHD_Response *resp = http_json_text(jobview_text(&j, NULL));
    json_t *ev = rq->replayed ? NULL : jobview_state(&j); /* for GET /api/v1/events */
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (text)
        events_publish(r->app->ev, rq->id, "state", text, 0);
    free(text);
    json_decref(ev);
    store_job_clear(&j);
    if (resp) {
        MHD_add_response_header(resp, "Location", loc);
        if (rq->replayed)
            MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    }
    return http_send(r, rq->replayed ? 200 : 201, resp);
}

enum MHD_Result http_jobs_submit(http_req *r)
{
    enum MHD_Result ret = MHD_NO;
    long long priority = 0, deadline = 0;
    const char *key;
    if (int_param(r, "priority", -100, 100, &priority, &ret) ||
        int_param(r, "deadline", 1, DEADLINE_MAX, &deadline, &ret) || idem_key(r, &key, &ret))
        return ret;
    qd_err err = {0};
    job_spec *spec = malloc(sizeof *spec);
    char *text = NULL, hash[DIGEST_HEX_LEN];
    int rc = spec ? spec_parse(spec, r->body, (long)r->len, &err) : QD_ENOMEM;
    if (rc == 0)
        rc = check_daemon_rules(r, spec, &err);
    if (rc == 0 && !(text = json_dumps(r->json, JSON_COMPACT)))
        rc = qd_fail(&err, QD_ENOMEM, NULL, "out of memory");
    if (rc < 0) {
        ret = http_error_from(r, &err);
        goto out;
    }
    size_t n = strlen(text);
    char *keyed = malloc(n + 64);
    if (keyed) {
        int m = snprintf(keyed, n + 64, "%s\n%lld\n%lld", text, priority, deadline);
        digest_sha256_hex(keyed, (size_t)m, hash);
        free(keyed);
    }
    const char *name = spec->kind == JOB_SEARCH   ? spec->search.name
                       : spec->kind == JOB_EXPORT ? spec->export_.name
                                                  : spec->train.name;
    store_submit_req rq = {.team = r->team, .kind = kind_names[spec->kind],
                           .name = name, .spec = text, .idem_key = key,
                           .idem_hash = key ? hash : NULL, .priority = (int)priority,
                           .max_attempts = r->app->cfg->max_attempts,
                           .deadline = deadline ? qtime_now_ms() + deadline * 1000 : 0};
    if ((rc = keyed ? store_submit(r->app->st, &rq, &err) : QD_ENOMEM) < 0) {
        ret = http_error_from(r, &err);
        goto out;
    }
    if (!rq.replayed)
        sched_wake(r->app->sc);
    ret = created(r, &rq);
out:
    free(text);
    free(spec);
    return ret;
}

/* ---- list ---- */

static int list_filter(http_req *r, store_filter *f, enum MHD_Result *ret)
{
    const char *state = http_query(r, "state"), *kind = http_query(r, "kind");
    const char *team = http_query(r, "team"), *cursor = http_query(r, "cursor");
    long long limit = LIST_DEFAULT, before = 0;
    *f = (store_filter){.team = http_visible_team(r), .state = -1, .kind = kind,
                        .name = http_query(r, "name")};
    if (state && (f->state = store_state_parse(state)) < 0)
        *ret = http_error(r, QD_EINVAL, "state",
                          "must be queued, running, succeeded, failed or cancelled");
    else if (kind && strcmp(kind, "train") && strcmp(kind, "search") && strcmp(kind, "export"))
        *ret = http_error(r, QD_EINVAL, "kind", "must be train, search or export");
    else if (team && !r->admin && strcmp(team, r->team) != 0)
        *ret = http_error(r, QD_EFORBIDDEN, "team", "only an admin token lists other teams");
    else if (int_param(r, "limit", 1, LIST_MAX, &limit, ret) ||
             int_param(r, "cursor", 1, LLONG_MAX, &before, ret))
        return 1;
    else if (cursor && !before)
        *ret = http_error(r, QD_EINVAL, "cursor", "not a cursor from next_cursor");
    else {
        if (team)
            f->team = team;
        f->limit = (int)limit;
        f->before = before;
        return 0;
    }
    return 1;
}

enum MHD_Result http_jobs_list(http_req *r)
{
    enum MHD_Result ret = MHD_NO;
    store_filter f;
    if (list_filter(r, &f, &ret))
        return ret;
    store_job *rows = calloc((size_t)f.limit, sizeof *rows);
    qd_err err = {0};
    int n = 0, rc = rows ? store_list(r->app->st, &f, rows, &n, &err) : QD_ENOMEM;
    if (rc < 0) {
        free(rows);
        return http_error_from(r, &err);
    }
    json_t *jobs = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = jobview_json(&rows[i], 0);
        if (o)
            json_object_set_new(o, "summary", jobview_summary(&rows[i]));
        json_array_append_new(jobs, o);
        store_job_clear(&rows[i]);
    }
    char next[32];
    snprintf(next, sizeof next, "%lld", n == f.limit ? (long long)rows[n - 1].seq : 0LL);
    free(rows);
    return http_json(r, 200, json_pack("{s:o, s:s?}", "jobs", jobs, "next_cursor",
                                       n == f.limit ? next : NULL));
}

/* ---- one job ---- */

enum MHD_Result http_jobs_get(http_req *r)
{
    store_job j;
    json_t *extra = json_object(), *transitions, *errors;
    qd_err err = {0};
    const char *id = r->param[0];
    int rc = valid_id(id) ? store_get_history(r->app->st, id, http_visible_team(r), &j,
                                              &transitions, &errors, &err)
                          : qd_fail(&err, QD_ENOENT, NULL, "no job %s", id);
    if (rc < 0) {
        json_decref(extra);
        return http_error_from(r, &err);
    }
    json_object_set_new(extra, "transitions", transitions);
    json_object_set_new(extra, "errors", errors);
    char *text = jobview_text(&j, extra);
    json_decref(extra);
    store_job_clear(&j);
    return http_send(r, 200, http_json_text(text));
}

enum MHD_Result http_jobs_cancel(http_req *r)
{
    qd_err err = {0};
    int state;
    const char *id = r->param[0];
    int rc = valid_id(id) ? store_cancel(r->app->st, id, http_visible_team(r), &state, &err)
                          : qd_fail(&err, QD_ENOENT, NULL, "no job %s", id);
    if (rc < 0)
        return http_error_from(r, &err);
    if (state == JS_RUNNING)
        sched_cancel(r->app->sc, id);
    store_job j;
    if ((rc = store_get(r->app->st, id, NULL, &j, &err)) < 0)
        return http_error_from(r, &err);
    json_t *o = jobview_json(&j, 0);
    json_t *ev = state == JS_CANCELLED ? jobview_state(&j) : NULL;
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (text)
        events_publish(r->app->ev, id, "state", text, 1);
    free(text);
    json_decref(ev);
    store_job_clear(&j);
    return http_json(r, state == JS_RUNNING ? 202 : 200, o);
}

enum MHD_Result http_jobs_metrics(http_req *r)
{
    enum MHD_Result ret;
    store_job j;
    if (find_job(r, &j, &ret))
        return ret;
    json_t *epochs;
    qd_err err = {0};
    int rc = store_epochs(r->app->st, j.seq, &epochs, &err);
    json_t *o = rc == 0 ? json_pack("{s:s, s:s, s:o}", "id", j.id, "state",
                                    store_state_name(j.state), "epochs", epochs)
                        : NULL;
    store_job_clear(&j);
    return rc < 0 ? http_error_from(r, &err) : http_json(r, 200, o);
}

/* ---- artifacts ---- */

enum MHD_Result http_jobs_artifacts(http_req *r)
{
    enum MHD_Result ret;
    store_job j;
    if (find_job(r, &j, &ret))
        return ret;
    json_t *arts, *a;
    qd_err err = {0};
    int rc = store_artifacts(r->app->st, j.seq, &arts, &err);
    size_t i;
    char url[512];
    json_array_foreach(arts, i, a)
    {
        snprintf(url, sizeof url, "/api/v1/jobs/%s/artifacts/%s", j.id,
                 json_string_value(json_object_get(a, "name")));
        json_object_set_new(a, "url", json_string(url));
    }
    json_t *o = rc == 0 ? json_pack("{s:s, s:o}", "id", j.id, "artifacts", arts) : NULL;
    store_job_clear(&j);
    return rc < 0 ? http_error_from(r, &err) : http_json(r, 200, o);
}

enum MHD_Result http_jobs_artifact(http_req *r)
{
    enum MHD_Result ret;
    store_job j;
    if (find_job(r, &j, &ret))
        return ret;
    const char *name = r->param[1];
    int64_t size = 0;
    char sha[DIGEST_HEX_LEN], path[CONFIG_PATH + 512];
    qd_err err = {0};
    int rc = catalog_plain_name(name) ? store_artifact(r->app->st, j.seq, name, &size, sha, &err)
                                      : qd_fail(&err, QD_ENOENT, NULL, "no artifact %s", name);
    snprintf(path, sizeof path, "%s/jobs/%s/%s", r->app->cfg->state, j.id, name);
    store_job_clear(&j);
    if (rc < 0)
        return http_error_from(r, &err);
    struct stat stt;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &stt) < 0 || stt.st_size != size) {
        if (fd >= 0)
            close(fd);
        return http_error(r, QD_EIO, "", "artifact %s is missing or changed on disk", name);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    char disp[400], etag[DIGEST_HEX_LEN + 2];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
    snprintf(etag, sizeof etag, "\"%s\"", sha);
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Content-Disposition", disp);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "X-Checksum-SHA256", sha);
    return http_send(r, 200, resp);
}
