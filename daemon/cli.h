/*
 * cli.h: what quantd's subcommands share: common options (state directory, threads, data set and
 * model directories), reading a file given on the command line, creating directories, and the
 * subcommands themselves (run, serve, token).
 */
#ifndef QD_CLI_H
#define QD_CLI_H

#include <stddef.h>

#include "core/err.h"

#define QUANTD_VERSION "0.1.0"

typedef struct cli_opts {
    const char *state;      /* --state, default ./var */
    int threads;            /* --threads, default all cores */
    const char *datasets;   /* --datasets */
    const char *models;     /* --models */
} cli_opts;

void cli_opts_defaults(cli_opts *o);
/* Apply option c ('s', 't', 'd', 'm') with argument arg; prints the error and returns -1 when
 * the value is invalid or the option unknown. */
int cli_opt(cli_opts *o, int c, const char *arg);
/* Whole file (or standard input for "-") as a NUL-terminated malloc'd string; prints the error
 * and returns NULL on failure. */
char *cli_read_file(const char *path, size_t *len);
/* mkdir -p */
int cli_mkdirs(const char *path, qd_err *err);

int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_infer(int argc, char **argv);

#endif
