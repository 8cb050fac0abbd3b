/*
 * spec_json.h: the field readers of the spec parser (spec.c), shared with the files that parse
 * the other kinds of spec (spec_search.c). Internal to jobs/: the daemon and `quantd run` call
 * spec_parse only.
 *
 * Each reader looks at obj[key] and leaves *out alone when the key is absent; on a bad value it
 * fills err with QD_ESPEC, the JSON path "path.key" and what is allowed, and returns that code.
 * Paths are cut at SPEC_PATH_LEN - 1 bytes.
 */
#ifndef QD_SPEC_JSON_H
#define QD_SPEC_JSON_H

#include <jansson.h>

#include "spec.h"

#define SPEC_PATH_LEN 128

/* out = "base.key", or "key" when base is empty. */
void spec_path_join(char *out, const char *base, const char *key);
/* Refuses any field of obj not in the NULL-terminated list allowed. */
int spec_check_fields(json_t *obj, const char *path, const char *const *allowed, qd_err *err);
int spec_get_obj(json_t *obj, const char *path, const char *key, json_t **out, qd_err *err);
int spec_get_int(json_t *obj, const char *path, const char *key, long long lo, long long hi,
                 int *out, qd_err *err);
/* A number in [lo, hi] (hi may be INFINITY); lo excluded when lo_open. */
int spec_get_num(json_t *obj, const char *path, const char *key, double lo, int lo_open,
                 double hi, double *out, qd_err *err);
int spec_get_bool(json_t *obj, const char *path, const char *key, int *out, qd_err *err);
/* A non-empty string of at most cap - 1 bytes. */
int spec_get_str(json_t *obj, const char *path, const char *key, char *out, size_t cap,
                 qd_err *err);
/* A string among the NULL-terminated names; *out is its index. */
int spec_get_enum(json_t *obj, const char *path, const char *key, const char *const *names,
                  int *out, qd_err *err);
/* A train spec's optimizer, schedule and quant sections are read by spec_parse only; the search
 * parser reads its own sections and checks the ones it passes on by parsing a train spec. */
int spec_parse_search(search_spec *s, json_t *root, qd_err *err);
/* The export spec (spec_export.c). */
int spec_parse_export(export_spec *e, json_t *root, qd_err *err);

#endif
