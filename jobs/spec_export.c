/*
 * spec_export.c: the export spec (schema/export-spec.md), read with the field readers of
 * spec_json.h; spec.c calls it when "kind" is "export".
 *
 *   {"kind": "export", "job": ID | "checkpoint": PATH, "candidate": K, "format": F,
 *    "name": ..., "dataset": NAME, "subset": {"train": N, "test": M}, "prefix": C_NAME}
 *
 * Whether the job is a search job (so that "candidate" is required) is known only when the job
 * runs; the parser checks everything that the text alone decides.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "spec_json.h"

static const char *const export_fields[] = {"kind",    "name",   "job",    "checkpoint",
                                            "candidate", "format", "dataset", "subset",
                                            "prefix",  NULL};
static const char *const format_names[] = {"qmodel", "c", "onnx", NULL};

/* A C identifier of letters, digits and underscores, not starting with a digit. */
static int c_identifier(const char *s)
{
    if (!s[0] || isdigit((unsigned char)s[0]))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

static int parse_source(export_spec *e, json_t *root, qd_err *err)
{
    int has_job = json_object_get(root, "job") != NULL;
    if (has_job == (json_object_get(root, "checkpoint") != NULL))
        return qd_fail(err, QD_ESPEC, "job",
                       "give exactly one of \"job\" (a finished train or search job) and "
                       "\"checkpoint\" (a checkpoint file, quantd run only)");
    int rc = spec_get_str(root, "", "job", e->job, sizeof e->job, err);
    if (!rc)
        rc = spec_get_str(root, "", "checkpoint", e->checkpoint, sizeof e->checkpoint, err);
    if (!rc)
        rc = spec_get_int(root, "", "candidate", 0, INT_MAX, &e->candidate, err);
    return rc;
}

static int parse_subset(export_spec *e, json_t *root, qd_err *err)
{
    static const char *const fields[] = {"train", "test", NULL};
    json_t *o;
    int rc = spec_get_obj(root, "", "subset", &o, err);
    if (!rc && o)
        rc = spec_check_fields(o, "subset", fields, err);
    if (!rc && o)
        rc = spec_get_int(o, "subset", "train", 0, INT_MAX, &e->subset_train, err);
    if (!rc && o)
        rc = spec_get_int(o, "subset", "test", 0, INT_MAX, &e->subset_test, err);
    return rc;
}

int spec_parse_export(export_spec *e, json_t *root, qd_err *err)
{
    memset(e, 0, sizeof *e);
    e->candidate = -1;
    snprintf(e->prefix, sizeof e->prefix, "qd_model");
    int rc = spec_check_fields(root, "", export_fields, err);
    if (!rc && !json_object_get(root, "format"))
        rc = qd_fail(err, QD_ESPEC, "format", "required: \"qmodel\", \"c\" or \"onnx\"");
    if (!rc)
        rc = spec_get_enum(root, "", "format", format_names, &e->format, err);
    if (!rc)
        rc = parse_source(e, root, err);
    if (!rc)
        rc = spec_get_str(root, "", "name", e->name, sizeof e->name, err);
    if (!rc)
        rc = spec_get_str(root, "", "dataset", e->dataset, sizeof e->dataset, err);
    if (!rc)
        rc = parse_subset(e, root, err);
    if (!rc && json_object_get(root, "prefix") && e->format != EXPORT_C)
        rc = qd_fail(err, QD_ESPEC, "prefix", "only format \"c\" takes a prefix");
    if (!rc)
        rc = spec_get_str(root, "", "prefix", e->prefix, 48, err);
    if (!rc && !c_identifier(e->prefix))
        rc = qd_fail(err, QD_ESPEC, "prefix",
                     "must be a C identifier (letters, digits, underscores; not starting with a "
                     "digit) of at most 47 bytes");
    return rc;
}
