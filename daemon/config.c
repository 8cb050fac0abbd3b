/*
 * config.c: the settings of `quantd serve` (config.h). The table OPTS names each option once:
 * its long option, its environment variable (QUANTD_ and the name in capitals, '-' as '_'), its
 * configuration-file key (the name), its type, range, default and help line. Values from every
 * source go through set(), so a value is checked the same way wherever it comes from.
 *
 * The configuration file holds one "name = value" per line; '#' starts a comment; blank lines
 * are skipped; an unknown name or a bad value stops start-up with the file and line.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct opt {
    const char *name;
    char type; /* 's' text, 'i' integer, 'd' real, 'l' log level */
    size_t off, size;
    double lo, hi;
    const char *def, *arg, *help;
} opt;

#define F(field) offsetof(serve_config, field), sizeof(((serve_config *)0)->field)

static const opt OPTS[] = {
    {"listen", 's', F(listen), 0, 0, "127.0.0.1:8080", "ADDR",
     "HTTP address: HOST:PORT, [IPV6]:PORT, or :PORT for every address.\n"
     "Anything but loopback needs tokens (quantd token create)"},
    {"state", 's', F(state), 0, 0, "./var", "DIR",
     "state directory: the database quantd.db and the job directories\njobs/ID/"},
    {"workers", 'i', F(workers), 0, 256, "1", "N",
     "jobs run at once, one worker thread each (0: serve the API, run nothing)"},
    {"threads", 'i', F(threads), 0, 256, "0", "N",
     "threads per job (0: the cores divided among the workers, at least 1)"},
    {"datasets", 's', F(datasets), 0, 0, "", "DIRS",
     "extra data set directories, colon-separated (searched before\n/usr/share/datasets)"},
    {"models", 's', F(models), 0, 0, "", "DIRS", "extra model directories, colon-separated"},
    {"max-connections", 'i', F(max_connections), 1, 10000, "256", "N",
     "HTTP connections at once"},
    {"per-ip-connections", 'i', F(per_ip_connections), 1, 10000, "64", "N",
     "HTTP connections at once from one address"},
    {"timeout", 'i', F(timeout), 1, 86400, "30", "SECONDS",
     "an HTTP connection idle this long is closed"},
    {"request-timeout", 'i', F(request_timeout), 1, 86400, "30", "SECONDS",
     "a request (headers and body) must arrive within this long of the\n"
     "connection's start or of the previous answer, however slowly it\n"
     "trickles in; a later one is closed"},
    {"connection-memory", 'i', F(connection_memory), 4096, 16777216, "65536", "BYTES",
     "memory per HTTP connection for its headers (bodies have their own\nlimit: 1 MiB)"},
    {"grace", 'd', F(grace), 0, 3600, "30", "SECONDS",
     "after SIGTERM, how long running jobs get to stop before they are\nrequeued anyway"},
    {"max-attempts", 'i', F(max_attempts), 1, 100, "3", "N",
     "runs of a failing job (data set, I/O errors) before it is marked failed"},
    {"retry-backoff", 'd', F(retry_backoff), 0, 86400, "5", "SECONDS",
     "wait before the first retry; doubled for each further one (at most\nan hour)"},
    {"max-crashes", 'i', F(max_crashes), 1, 100, "3", "N",
     "a job running through this many daemon crashes is marked failed,\nnot run again"},
    {"log-level", 'l', F(log_level), 0, 0, "info", "LEVEL", "error, warn, info or debug"},
};
#define N_OPTS ((int)(sizeof OPTS / sizeof *OPTS))

static const char USAGE_HEAD[] =
    "usage: quantd serve [options]\n"
    "\n"
    "Serve the REST API (schema/openapi.yaml) and run queued jobs on worker threads.\n"
    "Each option can also come from the environment (QUANTD_<NAME>, e.g. QUANTD_LISTEN) or a\n"
    "configuration file (\"name = value\" lines); the command line wins over the environment,\n"
    "which wins over the file.\n"
    "\n"
    "  --config FILE         read settings from FILE (env QUANTD_CONFIG)\n";
static const char USAGE_TAIL[] =
    "  --print-config        print the settings in effect as a configuration file and exit\n"
    "  -h, --help            this help\n"
    "\n"
    "Signals: SIGTERM or SIGINT stop taking jobs, stop running jobs at their next step, requeue\n"
    "them (they resume from their last epoch checkpoint on the next start) and exit; a second\n"
    "signal, or the end of --grace, requeues them at once and exits.\n"
    "\n"
    "Exit status: 0 after a stop by signal; 1 when it cannot start (another quantd serves the\n"
    "state directory, the database is newer or not a quantd database, the address is in use);\n"
    "2 for a bad option or setting, or a non-loopback --listen without tokens.\n"
    "The API is described in schema/openapi.yaml.\n";

static void env_name(const opt *o, char *out, size_t cap)
{
    size_t n = snprintf(out, cap, "QUANTD_");
    for (const char *s = o->name; *s && n + 1 < cap; s++)
        out[n++] = *s == '-' ? '_' : (char)toupper((unsigned char)*s);
    out[n] = '\0';
}

static void usage(FILE *f)
{
    fputs(USAGE_HEAD, f);
    for (int i = 0; i < N_OPTS; i++) {
        const opt *o = &OPTS[i];
        char left[64], env[64];
        snprintf(left, sizeof left, "--%s %s", o->name, o->arg);
        env_name(o, env, sizeof env);
        fprintf(f, strlen(left) > 21 ? "  %s\n  %-21s " : "  %-21s ", left, "");
        for (const char *s = o->help; *s; s++) {
            fputc(*s, f);
            if (*s == '\n')
                fprintf(f, "  %-21s ", "");
        }
        fprintf(f, "\n  %-21s (env %s; default %s)\n", "", env, o->def[0] ? o->def : "none");
    }
    fputs(USAGE_TAIL, f);
}

/* Sets option o from text v; where says where v came from, for the error message. */
static int set(serve_config *c, const opt *o, const char *v, const char *where)
{
    char *field = (char *)c + o->off, *end;
    errno = 0;
    if (o->type == 's' || o->type == 'l') {
        if (strlen(v) >= o->size || (o->type == 'l' && log_level_parse(v) < 0))
            goto bad;
        memcpy(field, v, strlen(v) + 1);
        return 0;
    }
    double x = o->type == 'i' ? (double)strtol(v, &end, 10) : strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < o->lo || x > o->hi)
        goto bad;
    if (o->type == 'i')
        *(int *)field = (int)x;
    else
        *(double *)field = x;
    return 0;
bad:
    fprintf(stderr, "quantd serve: %s: %s must be %s, not '%s'\n", where, o->name,
            o->type == 'l'   ? "error, warn, info or debug"
            : o->type == 's' ? "shorter"
            : o->type == 'i' ? "an integer in range (see --help)"
                             : "a number in range (see --help)",
            v);
    return -1;
}

static const opt *find(const char *name)
{
    for (int i = 0; i < N_OPTS; i++)
        if (strcmp(OPTS[i].name, name) == 0)
            return &OPTS[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(serve_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "quantd serve: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[2048], where[CONFIG_PATH + 32];
    int rc = 0;
    for (int no = 1; rc == 0 && fgets(line, sizeof line, f); no++) {
        char *hash = strchr(line, '#'), *eq;
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        snprintf(where, sizeof where, "%s:%d", path, no);
        const opt *o = (eq = strchr(s, '=')) ? (*eq = '\0', find(trim(s))) : NULL;
        if (!o) {
            fprintf(stderr, "quantd serve: %s: expected \"name = value\" with a name from "
                            "--help\n", where);
            rc = -1;
        } else {
            rc = set(c, o, trim(eq + 1), where);
        }
    }
    fclose(f);
    snprintf(c->config, sizeof c->config, "%s", path);
    return rc;
}

static int load_env(serve_config *c)
{
    for (int i = 0; i < N_OPTS; i++) {
        char env[64];
        env_name(&OPTS[i], env, sizeof env);
        const char *v = getenv(env);
        if (v && set(c, &OPTS[i], v, env) < 0)
            return -1;
    }
    return 0;
}

/* --config from argv, else QUANTD_CONFIG; NULL for none. */
static const char *config_path(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
    }
    const char *env = getenv("QUANTD_CONFIG");
    return env && *env ? env : NULL;
}

static int load_args(serve_config *c, int argc, char **argv, int *print)
{
    struct option longs[N_OPTS + 4];
    for (int i = 0; i < N_OPTS; i++)
        longs[i] = (struct option){OPTS[i].name, required_argument, NULL, 1000 + i};
    longs[N_OPTS] = (struct option){"config", required_argument, NULL, 'c'};
    longs[N_OPTS + 1] = (struct option){"print-config", no_argument, NULL, 'p'};
    longs[N_OPTS + 2] = (struct option){"help", no_argument, NULL, 'h'};
    longs[N_OPTS + 3] = (struct option){0, 0, 0, 0};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return 1;
        }
        if (ch == 'p')
            *print = 1;
        else if (ch >= 1000 && set(c, &OPTS[ch - 1000], optarg, "command line") < 0)
            return -1;
        else if (ch == '?')
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "quantd serve: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    return 0;
}

int config_load(serve_config *c, int argc, char **argv, int *status)
{
    int print = 0, rc = 0;
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_OPTS; i++)
        set(c, &OPTS[i], OPTS[i].def, "default");
    const char *path = config_path(argc, argv);
    if (path)
        rc = load_file(c, path);
    if (rc == 0)
        rc = load_env(c);
    if (rc == 0)
        rc = load_args(c, argc, argv, &print);
    if (rc != 0 || print) {
        if (print && rc == 0)
            config_print(c, stdout);
        *status = rc < 0 ? 2 : 0;
        return 1;
    }
    return 0;
}

void config_print(const serve_config *c, FILE *f)
{
    fprintf(f, "# quantd serve settings%s%s\n", c->config[0] ? ", read from " : "", c->config);
    for (int i = 0; i < N_OPTS; i++) {
        const opt *o = &OPTS[i];
        const char *field = (const char *)c + o->off;
        if (o->type == 'i')
            fprintf(f, "%s = %d\n", o->name, *(const int *)field);
        else if (o->type == 'd')
            fprintf(f, "%s = %g\n", o->name, *(const double *)field);
        else
            fprintf(f, "%s = %s\n", o->name, field);
    }
}
