/*
 * catalog.h: which data sets and models this daemon offers, for GET /api/v1/datasets and
 * /api/v1/models and for checking a submitted spec. The daemon takes names only, never paths:
 * a data set is built in ("synthetic") or a directory NAME in the --datasets directories or
 * /usr/share/datasets; a model is a zoo file NAME.json in the --models directories, ./models
 * or the models directory beside the executable (jobs/modelfile.h).
 * Ownership: the json_t functions return new references.
 */
#ifndef QD_CATALOG_H
#define QD_CATALOG_H

#include <jansson.h>

#include "config.h"

/* Letters, digits, '.', '_', '-'; not starting with '.'; at most 63 characters. */
int catalog_plain_name(const char *name);
int catalog_dataset_ok(const serve_config *c, const char *name);
int catalog_model_ok(const serve_config *c, const char *name);
/* [{"name", "available", "builtin"}] */
json_t *catalog_datasets(const serve_config *c);
/* [{"name"}] */
json_t *catalog_models(const serve_config *c);

#endif
