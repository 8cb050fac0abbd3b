/*
 * fuzz_spec.c: libFuzzer target for the job spec parser and validator (jobs/spec.c, spec_parse),
 * every kind it knows (train, search, export): the same call the daemon's POST /api/v1/jobs and
 * `quantd run` make on text from users.
 *
 * Beyond "no crash, no sanitizer report", it checks the parser's contract (spec.h): a failure
 * is QD_EJSON or QD_ESPEC with a non-empty message, and a train spec that parses has every
 * field in the documented range, so the jobs may trust it without checking again.
 */
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
    } else {
        FUZZ_CHECK(rc == QD_EJSON || rc == QD_ESPEC);
        FUZZ_CHECK(err.code == rc && err.msg[0]);
        FUZZ_CHECK(memchr(err.msg, 0, sizeof err.msg) && memchr(err.field, 0, sizeof err.field));
    }
    free(spec);
    return 0;
}
