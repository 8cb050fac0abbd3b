/*
 * cmd_token.c: `quantd token create --team NAME [--admin] | list [--json] | revoke ID`, the
 * bearer tokens of the API, kept in the state directory's database (auth.h). It works while the
 * daemon runs: a new token is valid at once, a revoked one fails at its next request. The state
 * directory comes from --state, else the settings of `quantd serve` (QUANTD_STATE, the file of
 * --config or QUANTD_CONFIG), else ./var.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "qtime.h"

static const char TOKEN_USAGE[] =
    "usage: quantd token create --team NAME [--admin] [--state DIR]\n"
    "       quantd token list [--json] [--state DIR]\n"
    "       quantd token revoke ID [--state DIR]\n"
    "\n"
    "Bearer tokens for the API (\"Authorization: Bearer TOKEN\"). Once one token exists, every\n"
    "API call needs one; a team's token sees and cancels only that team's jobs, an admin token\n"
    "(--admin) sees every team's. Tokens are stored hashed: create prints the token once, on\n"
    "standard output. list shows each token's id (its first 12 hex digits), team and state;\n"
    "revoke takes that id.\n"
    "\n"
    "  --team NAME    the team: 1 to 64 letters, digits, '.', '_' or '-'\n"
    "  --admin        the token sees every team's jobs\n"
    "  --state DIR    the daemon's state directory (default: as quantd serve would use)\n"
    "  --config FILE  take the state directory from this settings file\n"
    "  --json         list as JSON\n"
    "  -h, --help     this help\n";

typedef struct token_opts {
    const char *team, *state, *config;
    int admin, json;
} token_opts;

static int open_db(const token_opts *o, store **st)
{
    serve_config c;
    char *args[] = {"token", "--config", (char *)o->config, NULL};
    int status;
    if (config_load(&c, o->config ? 3 : 1, args, &status))
        return -1;
    if (o->state)
        snprintf(c.state, sizeof c.state, "%s", o->state);
    qd_err err = {0};
    char path[CONFIG_PATH + 32];
    snprintf(path, sizeof path, "%s/quantd.db", c.state);
    int rc = cli_mkdirs(c.state, &err);
    if (rc == 0)
        rc = store_open(st, path, &err);
    if (rc < 0)
        fprintf(stderr, "quantd token: %s\n", err.msg);
    return rc;
}

static int create(store *st, const token_opts *o)
{
    char token[AUTH_TOKEN_LEN], id[AUTH_ID_LEN];
    qd_err err = {0};
    if (!o->team) {
        fputs("quantd token create: --team NAME is required\n", stderr);
        return 2;
    }
    if (auth_token_create(st, o->team, o->admin, token, id, &err) < 0) {
        fprintf(stderr, "quantd token create: %s\n", err.msg);
        return err.code == QD_EINVAL ? 2 : 1;
    }
    printf("%s\n", token);
    fprintf(stderr, "token %s for team %s%s created; it is shown only now\n", id, o->team,
            o->admin ? " (admin)" : "");
    return 0;
}

static int list(store *st, const token_opts *o)
{
    json_t *arr, *t;
    qd_err err = {0};
    if (store_token_list(st, &arr, &err) < 0) {
        fprintf(stderr, "quantd token list: %s\n", err.msg);
        return 1;
    }
    if (o->json) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        size_t i;
        printf("%-12s  %-20s  %-5s  %-24s  %s\n", "ID", "TEAM", "ADMIN", "CREATED", "REVOKED");
        json_array_foreach(arr, i, t)
        {
            json_t *rev = json_object_get(t, "revoked_at");
            printf("%-12s  %-20s  %-5s  %-24s  %s\n", json_string_value(json_object_get(t, "id")),
                   json_string_value(json_object_get(t, "team")),
                   json_is_true(json_object_get(t, "admin")) ? "yes" : "no",
                   json_string_value(json_object_get(t, "created_at")),
                   json_is_string(rev) ? json_string_value(rev) : "-");
        }
    }
    json_decref(arr);
    return 0;
}

static int revoke(store *st, const char *id)
{
    qd_err err = {0};
    if (store_token_revoke(st, id, qtime_now_ms(), &err) < 0) {
        fprintf(stderr, "quantd token revoke: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "token %s revoked\n", id);
    return 0;
}

int cmd_token(int argc, char **argv)
{
    static const struct option longs[] = {{"team", 1, 0, 't'},  {"admin", 0, 0, 'a'},
                                          {"state", 1, 0, 's'}, {"config", 1, 0, 'c'},
                                          {"json", 0, 0, 'j'},  {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};
    token_opts o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 't': o.team = optarg; break;
        case 'a': o.admin = 1; break;
        case 's': o.state = optarg; break;
        case 'c': o.config = optarg; break;
        case 'j': o.json = 1; break;
        case 'h': fputs(TOKEN_USAGE, stdout); return 0;
        default: fputs(TOKEN_USAGE, stderr); return 2;
        }
    }
    const char *verb = optind < argc ? argv[optind] : "";
    int nargs = argc - optind - 1;
    int ok = (!strcmp(verb, "create") && nargs == 0) || (!strcmp(verb, "list") && nargs == 0) ||
             (!strcmp(verb, "revoke") && nargs == 1);
    if (!ok) {
        fputs(TOKEN_USAGE, stderr);
        return 2;
    }
    const char *id = nargs == 1 ? argv[optind + 1] : NULL;
    store *st = NULL;
    log_set_level(LOG_WARN);
    if (open_db(&o, &st) < 0)
        return 1;
    int rc = !strcmp(verb, "create") ? create(st, &o)
             : !strcmp(verb, "list") ? list(st, &o)
                                     : revoke(st, id);
    store_close(st);
    return rc;
}
