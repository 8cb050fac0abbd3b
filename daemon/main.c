/*
 * main.c: the quantd command: subcommand dispatch (serve, run, infer, token), shared option
 * handling and process set-up.
 * OpenBLAS is made single-threaded here, once: every job splits its own work over its thread
 * budget, so two jobs on two workers never use more cores than they were given.
 */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char USAGE[] =
    "usage: quantd COMMAND [options]\n"
    "\n"
    "quantd is a quantization lab: it trains, quantizes and exports neural networks.\n"
    "\n"
    "Commands:\n"
    "  serve             the daemon: REST API on 127.0.0.1:8080, job queue, workers\n"
    "  run SPEC.json     run one job in the foreground (progress on stderr, result on stdout)\n"
    "  infer MODEL.qmodel --dataset NAME\n"
    "                    run an exported model on a data set: accuracy and images/s\n"
    "  token create --team NAME | list | revoke ID\n"
    "                    bearer tokens for the API, one team each\n"
    "  help              this help; `quantd COMMAND --help` for a command's options\n"
    "  version           print the version\n";

void cli_opts_defaults(cli_opts *o)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (cli_opts){.state = "./var", .threads = n > 0 ? (int)n : 1};
}

int cli_opt(cli_opts *o, int c, const char *arg)
{
    char *end;
    switch (c) {
    case 's':
        o->state = arg;
        return 0;
    case 'd':
        o->datasets = arg;
        return 0;
    case 'm':
        o->models = arg;
        return 0;
    case 't': {
        long v = strtol(arg, &end, 10);
        if (*end || v < 1 || v > 256) {
            fprintf(stderr, "quantd: --threads must be an integer in 1..256, not '%s'\n", arg);
            return -1;
        }
        o->threads = (int)v;
        return 0;
    }
    }
    fprintf(stderr, "quantd: unknown option (see --help)\n");
    return -1;
}

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "quantd: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
        if (!nb) {
            fprintf(stderr, "quantd: %s is too large\n", path);
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb, cap *= 2;
    }
    if (f != stdin)
        fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

int cli_mkdirs(const char *path, qd_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return qd_fail(err, errno == ENOSPC ? QD_ENOSPC : QD_EIO, path,
                           "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return qd_fail(err, errno == ENOSPC ? QD_ENOSPC : QD_EIO, path, "cannot create %s: %s",
                       tmp, strerror(errno));
    return 0;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1);
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "token"))
        return cmd_token(argc - 1, argv + 1);
    if (!strcmp(cmd, "infer"))
        return cmd_infer(argc - 1, argv + 1);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("quantd %s\n", QUANTD_VERSION);
        return 0;
    }
    fprintf(stderr, "quantd: unknown command '%s'\n\n%s", cmd, USAGE);
    return 2;
}
