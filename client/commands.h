/*
 * commands.h: what quantctl's commands share: the parsed command line, the connection, and one
 * entry point per command (cmd_<name>). quantctl.c parses the arguments against its command
 * table and calls the entry; each returns 0 or a quantctl exit code with the qcerr filled in,
 * and main prints the error. Human output goes to stdout (progress of submit --wait to
 * stderr); with --json, stdout carries only JSON.
 * Ownership: qc_args points into argv; qc_ctx owns its http_client (closed by main).
 */
#ifndef QC_COMMANDS_H
#define QC_COMMANDS_H

#include "http.h"
#include "qcerr.h"

enum qc_opt {
    OPT_URL,
    OPT_TOKEN,
    OPT_JSON,
    OPT_HELP,
    OPT_WAIT,
    OPT_STATE,
    OPT_KIND,
    OPT_NAME,
    OPT_LIMIT,
    OPT_CURSOR,
    OPT_DATASET,
    OPT_MODEL,
    OPT_OUTPUT,
    OPT_COUNT
};

typedef struct qc_args {
    const char *pos[4]; /* positional arguments after the command */
    int npos;
    const char *opt[OPT_COUNT]; /* option values; "1" for flags; NULL when absent */
} qc_args;

typedef struct qc_ctx {
    http_client http;
    int json;    /* --json */
    int tty_out; /* stdout is a terminal */
    int tty_err; /* stderr is a terminal */
} qc_ctx;

int cmd_submit(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_list(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_show(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_watch(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_cancel(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_metrics(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_pareto(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_fetch(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_models(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_datasets(qc_ctx *c, const qc_args *a, qcerr *e);
int cmd_health(qc_ctx *c, const qc_args *a, qcerr *e);

/* Pretty-printed JSON on stdout, followed by a newline. */
void cmd_print_json(const json_t *j);

/* "/api/v1/jobs/ID" + suffix into buf; QC_USAGE when the id cannot be a job id. */
int cmd_job_path(char *buf, size_t cap, const char *id, const char *suffix, qcerr *e);

#endif
