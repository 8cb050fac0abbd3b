/*
 * quantctl.c: the quantctl command: the command table, argument parsing, help and main.
 *
 * `quantctl [global options] COMMAND [options] [arguments]`. Global options (--url, --token,
 * --json, --help) are accepted before or after the command; each command lists the other options
 * it takes, and anything else is a usage error (exit 2) that names the option and points to the
 * command's --help. The URL and token come from the options, else QUANTD_URL and QUANTD_TOKEN.
 * main is the only place that prints a command's error and turns it into the exit status.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
#define BIT(o) (1u << (o))
#define GLOBAL_OPTS (BIT(OPT_URL) | BIT(OPT_TOKEN) | BIT(OPT_JSON) | BIT(OPT_HELP))

typedef struct opt_def {
    const char *name;
    char letter; /* short form, 0 for none */
    int takes_value;
} opt_def;

static const opt_def OPTS[OPT_COUNT] = {
    [OPT_URL] = {"url", 0, 1},         [OPT_TOKEN] = {"token", 0, 1},
    [OPT_JSON] = {"json", 0, 0},       [OPT_HELP] = {"help", 'h', 0},
    [OPT_WAIT] = {"wait", 0, 0},       [OPT_STATE] = {"state", 0, 1},
    [OPT_KIND] = {"kind", 0, 1},       [OPT_NAME] = {"name", 0, 1},
    [OPT_LIMIT] = {"limit", 0, 1},     [OPT_CURSOR] = {"cursor", 0, 1},
    [OPT_DATASET] = {"dataset", 0, 1}, [OPT_MODEL] = {"model", 0, 1},
    [OPT_OUTPUT] = {"output", 'o', 1},
};

typedef struct command {
    const char *name;
    int (*fn)(qc_ctx *c, const qc_args *a, qcerr *e);
    unsigned opts; /* options it takes besides the global ones */
    int min_pos, max_pos;
    const char *synopsis, *summary, *help;
} command;

/* ---- the commands ---- */

static const command COMMANDS[] = {
    {"submit", cmd_submit, BIT(OPT_WAIT), 1, 1, "submit SPEC.json|- [--wait]",
     "submit a job spec (- reads it from standard input)",
     "Posts the spec to POST /api/v1/jobs and prints the new job's id on stdout (--json: the "
     "job).\n"
     "The daemon validates the spec; a refused spec prints its message and the failing field.\n"
     "  --wait   follow the job until it ends (progress on stderr) and exit with its outcome:\n"
     "           0 succeeded, 1 failed, 7 cancelled (--json: the final job on stdout)\n"
     "Example: id=$(quantctl submit --wait train.json) && quantctl fetch \"$id\" model.qdc\n"},
    {"list", cmd_list,
     BIT(OPT_STATE) | BIT(OPT_KIND) | BIT(OPT_NAME) | BIT(OPT_LIMIT) | BIT(OPT_CURSOR), 0, 0,
     "list [--state S] [--kind K] [--limit N]", "list jobs, newest first",
     "A table of jobs: id, kind, state, progress, name, accuracy, memory, created. When more\n"
     "jobs match than one page holds, the command for the next page is printed on stderr.\n"
     "  --state S    queued, running, succeeded, failed or cancelled\n"
     "  --kind K     train, search or export\n"
     "  --name N     jobs with this name\n"
     "  --limit N    at most N jobs (1..1000)\n"
     "  --cursor C   the next page: the cursor a previous list printed on stderr\n"},
    {"show", cmd_show, 0, 1, 1, "show ID", "a job: state, progress, spec, error, result, layers",
     "Prints the job's fields, its bits, its error if it failed and its result: test accuracy,\n"
     "memory (weights + activations), BitOPs and the bits of every layer.\n"},
    {"watch", cmd_watch, 0, 1, 1, "watch ID", "follow a job's progress live until it ends",
     "Reads the job's server-sent events: a progress bar with epoch, loss, accuracy, current\n"
     "bits and time left, redrawn in place on a terminal and as plain lines otherwise; one line\n"
     "per finished epoch. Exits with the job's outcome: 0 succeeded, 1 failed, 7 cancelled.\n"
     "--json prints one JSON object per event ({\"event\", \"data\"}), then {\"event\": \"end\", "
     "\"job\"}.\n"},
    {"cancel", cmd_cancel, 0, 1, 1, "cancel ID", "cancel a queued or running job",
     "A queued job never starts; a running job stops at its next step. Cancelling a finished\n"
     "job is refused (exit 5).\n"},
    {"metrics", cmd_metrics, 0, 1, 1, "metrics ID", "a job's per-epoch history",
     "A table of the job's epochs: loss, test accuracy, seconds, images per second and, for\n"
     "AdaQAT, the learned bits.\n"},
    {"pareto", cmd_pareto, BIT(OPT_DATASET) | BIT(OPT_MODEL), 0, 0,
     "pareto [--dataset D] [--model M]", "the Pareto front of accuracy against memory",
     "A table of the points on the front (ordered by memory) and a text plot of accuracy\n"
     "against memory of every point, the front marked '*'.\n"
     "  --dataset D  only points of this data set\n"
     "  --model M    only points of this model\n"},
    {"fetch", cmd_fetch, BIT(OPT_OUTPUT), 1, 2, "fetch ID [ARTIFACT] [-o FILE]",
     "download an artifact of a job (without ARTIFACT: list them)",
     "Downloads the artifact to FILE (default: its own name; - for stdout). The file appears\n"
     "only when the download is complete.\n"
     "  -o, --output FILE   where to write it\n"
     "Example: quantctl fetch 42 model.qdc -o cnn-s-w4a4.qdc\n"},
    {"models", cmd_models, 0, 0, 0, "models", "the models the daemon knows", ""},
    {"datasets", cmd_datasets, 0, 0, 0, "datasets", "the data sets the daemon knows", ""},
    {"health", cmd_health, 0, 0, 0, "health", "whether the daemon is up (GET /healthz)",
     "Exits 0 when the daemon answers, 3 when it cannot be reached.\n"},
};
#define NCOMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static const command *command_find(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name))
            return &COMMANDS[i];
    return NULL;
}

/* ---- help ---- */

static void help_globals(FILE *f)
{
    fprintf(f,
            "\nOptions for every command:\n"
            "  --url URL       the daemon (default: $QUANTD_URL, else %s)\n"
            "  --token TOKEN   bearer token (default: $QUANTD_TOKEN)\n"
            "  --json          machine-readable output: JSON on stdout, errors as\n"
            "                  {\"error\": {\"code\", \"message\", \"field\"}}\n"
            "  -h, --help      this help\n"
            "\nExit codes:\n",
            DEFAULT_URL);
    qcerr_print_table(f);
}

static void help_main(FILE *f)
{
    fprintf(f, "usage: quantctl [--url URL] [--token TOKEN] [--json] COMMAND [options] [args]\n\n"
               "quantctl is the client of quantd, the quantization lab: it submits train, search\n"
               "and export jobs, follows them, and fetches their results and artifacts.\n\n"
               "Commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-32s %s\n", COMMANDS[i].synopsis, COMMANDS[i].summary);
    fprintf(f, "  %-32s %s\n", "help [COMMAND]", "this help, or a command's");
    help_globals(f);
    fprintf(f, "\n`quantctl COMMAND --help` describes a command.\n");
}

static void help_command(const command *cmd, FILE *f)
{
    fprintf(f, "usage: quantctl [--url URL] [--token TOKEN] [--json] %s\n\n%s.\n", cmd->synopsis,
            cmd->summary);
    if (cmd->help[0])
        fprintf(f, "\n%s", cmd->help);
    help_globals(f);
}

/* ---- argument parsing ---- */

static int opt_find(const char *arg, size_t len, int letter)
{
    for (int i = 0; i < OPT_COUNT; i++)
        if (letter ? OPTS[i].letter == letter
                   : strlen(OPTS[i].name) == len && !strncmp(OPTS[i].name, arg, len))
            return i;
    return -1;
}

/* One option at argv[*i]; may consume the next argument as its value. */
static int parse_opt(int argc, char **argv, int *i, const command *cmd, qc_args *a, qcerr *e)
{
    const char *arg = argv[*i], *eq = strchr(arg, '='), *value = NULL;
    int longform = arg[1] == '-';
    size_t len = longform ? (eq ? (size_t)(eq - arg - 2) : strlen(arg + 2)) : 1;
    int o = longform ? opt_find(arg + 2, len, 0) : opt_find(NULL, 0, arg[1]);
    unsigned allowed = GLOBAL_OPTS | (cmd ? cmd->opts : 0);
    if (o < 0 || !(allowed & BIT(o)))
        return qcerr_set(e, QC_USAGE, NULL, NULL,
                         "%s does not take the option %.*s (see %s%s --help)",
                         cmd ? cmd->name : "quantctl", (int)(longform ? len + 2 : 2), arg,
                         cmd ? "quantctl " : "", cmd ? cmd->name : "quantctl");
    if (OPTS[o].takes_value) {
        value = longform ? (eq ? eq + 1 : NULL) : (arg[2] ? arg + 2 : NULL);
        if (!value && *i + 1 < argc)
            value = argv[++*i];
        if (!value)
            return qcerr_set(e, QC_USAGE, NULL, NULL, "--%s needs a value", OPTS[o].name);
    } else if (eq || (!longform && arg[2]))
        return qcerr_set(e, QC_USAGE, NULL, NULL, "--%s takes no value", OPTS[o].name);
    a->opt[o] = value ? value : "1";
    return 0;
}

static int parse_args(int argc, char **argv, const command **cmd, qc_args *a, qcerr *e)
{
    int rest = 0, help_word = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = 0;
        if (!rest && !strcmp(arg, "--"))
            rest = 1;
        else if (!rest && arg[0] == '-' && arg[1])
            rc = parse_opt(argc, argv, &i, *cmd, a, e);
        else if (!*cmd && !help_word && !strcmp(arg, "help"))
            help_word = 1, a->opt[OPT_HELP] = "1";
        else if (!*cmd) {
            if (!(*cmd = command_find(arg)))
                rc = qcerr_set(e, QC_USAGE, NULL, NULL,
                               "unknown command '%s' (see quantctl --help)", arg);
        } else if (a->npos >= 4)
            rc = qcerr_set(e, QC_USAGE, NULL, NULL, "too many arguments for %s", (*cmd)->name);
        else
            a->pos[a->npos++] = arg;
        if (rc)
            return rc;
    }
    return 0;
}

/* Values the daemon would refuse anyway, refused here with the accepted ones named. */
static int check_values(const qc_args *a, qcerr *e)
{
    static const char *const states[] = {"queued", "running", "succeeded", "failed", "cancelled"};
    static const char *const kinds[] = {"train", "search", "export"};
    const char *s = a->opt[OPT_STATE], *k = a->opt[OPT_KIND], *l = a->opt[OPT_LIMIT];
    int ok = !s, okk = !k;
    for (int i = 0; i < 5 && s; i++)
        ok |= !strcmp(s, states[i]);
    for (int i = 0; i < 3 && k; i++)
        okk |= !strcmp(k, kinds[i]);
    if (!ok)
        return qcerr_set(e, QC_USAGE, NULL, NULL,
                         "--state is queued, running, succeeded, failed or cancelled, not '%s'", s);
    if (!okk)
        return qcerr_set(e, QC_USAGE, NULL, NULL, "--kind is train, search or export, not '%s'", k);
    char *end;
    long n = l ? strtol(l, &end, 10) : 1;
    if (l && (*end || end == l || n < 1 || n > 1000))
        return qcerr_set(e, QC_USAGE, NULL, NULL, "--limit is an integer in 1..1000, not '%s'", l);
    return 0;
}

static int check_positionals(const command *cmd, const qc_args *a, qcerr *e)
{
    if (a->npos < cmd->min_pos)
        return qcerr_set(e, QC_USAGE, NULL, NULL, "missing argument: quantctl %s", cmd->synopsis);
    if (a->npos > cmd->max_pos)
        return qcerr_set(e, QC_USAGE, NULL, NULL, "too many arguments: quantctl %s", cmd->synopsis);
    return 0;
}

/* ---- main ---- */

static int run(const command *cmd, const qc_args *a, qcerr *e)
{
    qc_ctx c = {.json = a->opt[OPT_JSON] != NULL, .tty_out = isatty(1), .tty_err = isatty(2)};
    const char *url = a->opt[OPT_URL] ? a->opt[OPT_URL] : getenv("QUANTD_URL");
    const char *token = a->opt[OPT_TOKEN] ? a->opt[OPT_TOKEN] : getenv("QUANTD_TOKEN");
    int rc = http_init(&c.http, url && *url ? url : DEFAULT_URL, token, e);
    if (!rc)
        rc = cmd->fn(&c, a, e);
    http_close(&c.http);
    return rc;
}

int main(int argc, char **argv)
{
    const command *cmd = NULL;
    qc_args a = {0};
    qcerr e = {0};
    int rc = parse_args(argc, argv, &cmd, &a, &e);
    int json = a.opt[OPT_JSON] != NULL;
    if (!rc && a.opt[OPT_HELP]) {
        if (cmd)
            help_command(cmd, stdout);
        else
            help_main(stdout);
        return 0;
    }
    if (!rc && !cmd) {
        help_main(stderr);
        return QC_USAGE;
    }
    if (!rc && !(rc = check_positionals(cmd, &a, &e)) && !(rc = check_values(&a, &e)))
        rc = run(cmd, &a, &e);
    if (rc)
        qcerr_print(&e, json && rc != QC_JOB_FAILED && rc != QC_JOB_CANCELLED);
    return rc;
}
