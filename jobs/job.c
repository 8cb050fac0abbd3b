/*
 * job.c: job_run, the one entry point the daemon and `quantd run` call; dispatches on the
 * spec's kind.
 */
#include "job.h"

#include "export.h"
#include "search.h"
#include "train.h"

int job_run(const job_spec *spec, const job_env *env, json_t **result, qd_err *err)
{
    switch (spec->kind) {
    case JOB_TRAIN:
        return train_run(&spec->train, env, result, err);
    case JOB_SEARCH:
        return search_run(&spec->search, env, result, err);
    case JOB_EXPORT:
        return export_run(&spec->export_, env, result, err);
    }
    return qd_fail(err, QD_ESPEC, "kind", "jobs of this kind cannot run in this build");
}
