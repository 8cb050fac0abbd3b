/*
 * catalog.c: the data sets and models the daemon offers (catalog.h). Data sets: the core's
 * known names (dataset_known_names), available when built in or when their directory exists,
 * plus every other directory of the --datasets directories. Models: modelfile_list.
 */
#include "catalog.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dataset.h"
#include "jobs/modelfile.h"

#define SYSTEM_DATASETS "/usr/share/datasets"
#define MAX_MODELS 256

int catalog_plain_name(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n < 64 && name[0] != '.' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int is_dir(const char *dir, const char *name)
{
    char path[CONFIG_PATH + 128];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Calls fn for each directory of c->datasets, then the system directory; stops at nonzero. */
static int each_dir(const serve_config *c, int (*fn)(const char *dir, void *ctx), void *ctx)
{
    char dirs[CONFIG_PATH];
    snprintf(dirs, sizeof dirs, "%s", c->datasets);
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        int rc = fn(d, ctx);
        if (rc)
            return rc;
    }
    return fn(SYSTEM_DATASETS, ctx);
}

static int has(const char *dir, void *name) { return is_dir(dir, name); }

int catalog_dataset_ok(const serve_config *c, const char *name)
{
    if (!catalog_plain_name(name))
        return 0;
    return strcmp(name, "synthetic") == 0 || each_dir(c, has, (void *)name);
}

int catalog_model_ok(const serve_config *c, const char *name)
{
    size_t n = strlen(name);
    if (!catalog_plain_name(name) || (n > 5 && strcmp(name + n - 5, ".json") == 0))
        return 0;
    model_desc *d = malloc(sizeof *d);
    int ok = d && modelfile_load(d, name, c->models[0] ? c->models : NULL, NULL) == 0;
    free(d);
    return ok;
}

static int add_dir_entries(const char *dir, void *ctx)
{
    json_t *arr = ctx;
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp))) {
        if (!catalog_plain_name(e->d_name) || !is_dir(dir, e->d_name))
            continue;
        int seen = 0;
        for (size_t i = 0; i < json_array_size(arr); i++) {
            json_t *name = json_object_get(json_array_get(arr, i), "name");
            seen |= strcmp(json_string_value(name), e->d_name) == 0;
        }
        if (!seen)
            json_array_append_new(arr, json_pack("{s:s, s:b, s:b}", "name", e->d_name,
                                                 "available", 1, "builtin", 0));
    }
    if (dp)
        closedir(dp);
    return 0;
}

json_t *catalog_datasets(const serve_config *c)
{
    json_t *arr = json_array();
    for (int i = 0; dataset_known_names[i]; i++)
        json_array_append_new(arr, json_pack("{s:s, s:b, s:b}", "name", dataset_known_names[i],
                                             "available",
                                             catalog_dataset_ok(c, dataset_known_names[i]),
                                             "builtin", !strcmp(dataset_known_names[i],
                                                                "synthetic")));
    each_dir(c, add_dir_entries, arr);
    return arr;
}

json_t *catalog_models(const serve_config *c)
{
    char(*names)[MODELFILE_NAME_LEN] = malloc(MAX_MODELS * sizeof *names);
    if (!names)
        return NULL;
    int n = modelfile_list(c->models[0] ? c->models : NULL, names, MAX_MODELS);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s}", "name", names[i]));
    free(names);
    return arr;
}
