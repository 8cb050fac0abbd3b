/*
 * fuzz_spec.c: libFuzzer target for the job spec parser and validator (jobs/spec.c, spec_parse),
 * every kind it knows (train, search, export): the same call the daemon's POST /api/v1/jobs and
 * `quantd run` make on text from users.
 *
 * Beyond "no crash, no sanitizer report", it checks the parser's contract (spec.h): a failure
 * is QD_EJSON or QD_ESPEC with a non-empty message, and a spec that parses has every field in
 * the documented range, so the jobs may trust it without checking again: counts within their
 * arrays, bit lists ascending, formats the kernels can run, a search's candidate train spec a
 * JSON object, an export's C prefix an identifier (it names generated code).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/spec.h"
#include "tests/fuzz/fuzz_util.h"

static void check_train(const train_spec *t)
{
    FUZZ_CHECK(t->dataset[0] && t->model[0]);
    FUZZ_CHECK(memchr(t->name, 0, sizeof t->name) && memchr(t->dataset, 0, sizeof t->dataset));
    FUZZ_CHECK(t->epochs >= 0 && t->epochs <= 1000);
    FUZZ_CHECK(t->epochs > 0 || t->quant.method == QM_PTQ);
    FUZZ_CHECK(t->batch_size >= 1 && t->batch_size <= 4096);
    FUZZ_CHECK(t->optimizer.lr > 0 && t->optimizer.lr <= 10);
    FUZZ_CHECK(t->optimizer.momentum >= 0 && t->optimizer.momentum < 1);
    FUZZ_CHECK(t->schedule.step_epochs >= 1);
    FUZZ_CHECK(t->quant.method >= QM_NONE && t->quant.method <= QM_PTQ);
    FUZZ_CHECK(t->quant.weights.bits >= 1 && t->quant.weights.bits <= 32);
    FUZZ_CHECK(t->quant.activations.bits >= 1 && t->quant.activations.bits <= 32);
    FUZZ_CHECK(t->quant.adaqat.min_bits <= t->quant.adaqat.max_bits);
    FUZZ_CHECK(t->subset_train >= 0 && t->subset_test >= 0);
}

static int ascending(const int *v, int n)
{
    for (int i = 1; i < n; i++)
        if (v[i] <= v[i - 1])
            return 0;
    return 1;
}

static void check_search(const search_spec *s)
{
    FUZZ_CHECK(s->dataset[0] && s->model[0]);
    FUZZ_CHECK(memchr(s->base_job, 0, sizeof s->base_job) &&
               memchr(s->train_json, 0, sizeof s->train_json));
    FUZZ_CHECK(s->n_weight_bits >= 1 && s->n_weight_bits <= SEARCH_MAX_BITS);
    FUZZ_CHECK(s->n_activation_bits >= 1 && s->n_activation_bits <= SEARCH_MAX_BITS);
    FUZZ_CHECK(ascending(s->weight_bits, s->n_weight_bits));
    FUZZ_CHECK(ascending(s->activation_bits, s->n_activation_bits));
    FUZZ_CHECK(s->n_formats >= 1 && s->n_formats <= SEARCH_MAX_FORMATS);
    for (int i = 0; i < s->n_formats; i++)
        FUZZ_CHECK(quant_fmt_valid(&s->formats[i]) &&
                   memchr(s->format_names[i], 0, sizeof s->format_names[i]));
    FUZZ_CHECK(s->n_budgets >= 0 && s->n_budgets <= SEARCH_MAX_BUDGETS);
    for (int i = 0; i < s->n_budgets; i++)
        FUZZ_CHECK(s->budgets[i] > 0);
    FUZZ_CHECK(s->n_lambdas >= 0 && s->n_lambdas <= SEARCH_MAX_LAMBDAS);
    FUZZ_CHECK(s->finetune_epochs >= 0 && s->finetune_epochs <= 1000);
    FUZZ_CHECK(s->batch_size >= 1 && s->batch_size <= 4096);
    /* every candidate's train spec is built from train_json: it must be a JSON object */
    json_t *t = json_loads(s->train_json, 0, NULL);
    FUZZ_CHECK(json_is_object(t));
    json_decref(t);
}

static void check_export(const export_spec *e)
{
    FUZZ_CHECK(!e->job[0] != !e->checkpoint[0]); /* exactly one source */
    FUZZ_CHECK(e->format >= EXPORT_QMODEL && e->format <= EXPORT_ONNX);
    FUZZ_CHECK(e->candidate >= -1);
    FUZZ_CHECK(memchr(e->prefix, 0, sizeof e->prefix) && e->prefix[0]);
    /* the generated C code's names start with prefix: an identifier, nothing else */
    FUZZ_CHECK(!(e->prefix[0] >= '0' && e->prefix[0] <= '9'));
    for (const char *c = e->prefix; *c; c++)
        FUZZ_CHECK((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                   (*c >= '0' && *c <= '9') || *c == '_');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    job_spec *spec = malloc(sizeof *spec);
    qd_err err = {0};
    if (!spec)
        return 0;
    int rc = spec_parse(spec, (const char *)data, (long)size, &err);
    if (rc == 0) {
        FUZZ_CHECK(spec->kind == JOB_TRAIN || spec->kind == JOB_SEARCH || spec->kind == JOB_EXPORT);
        if (spec->kind == JOB_TRAIN)
            check_train(&spec->train);
        else if (spec->kind == JOB_SEARCH)
            check_search(&spec->search);
        else
            check_export(&spec->export_);
    } else {
        FUZZ_CHECK(rc == QD_EJSON || rc == QD_ESPEC);
        FUZZ_CHECK(err.code == rc && err.msg[0]);
        FUZZ_CHECK(memchr(err.msg, 0, sizeof err.msg) && memchr(err.field, 0, sizeof err.field));
    }
    free(spec);
    return 0;
}
