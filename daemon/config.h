/*
 * config.h: the settings of `quantd serve`, from four places, each overriding the one before:
 * built-in defaults, a configuration file (--config FILE or QUANTD_CONFIG), environment
 * variables (QUANTD_<OPTION>, e.g. QUANTD_LISTEN) and the command line (--listen ...). One
 * table of options drives all four and the --help text.
 * Ownership: plain data in fixed-size fields.
 */
#ifndef QD_CONFIG_H
#define QD_CONFIG_H

#include <stdio.h>

#define CONFIG_PATH 1024

typedef struct serve_config {
    char config[CONFIG_PATH];   /* the file read, "" for none */
    char listen[256];           /* HOST:PORT, [V6]:PORT or :PORT */
    char state[CONFIG_PATH];    /* the state directory */
    int workers;                /* worker threads: jobs run at once (0: the API only) */
    int threads;                /* threads per job; 0: cores / workers */
    char datasets[CONFIG_PATH]; /* extra data set directories, colon-separated */
    char models[CONFIG_PATH];   /* extra model directories, colon-separated */
    int max_connections;        /* HTTP connections at once */
    int per_ip_connections;     /* HTTP connections at once from one address */
    int timeout;                /* seconds an idle HTTP connection is kept */
    int request_timeout;        /* seconds a client has to send a whole request */
    int connection_memory;      /* bytes of request headers and buffers per connection */
    double grace;               /* seconds running jobs get to stop after SIGTERM */
    int max_attempts;           /* runs of a failing job before it is failed */
    double retry_backoff;       /* seconds before the first retry; doubles each time */
    int max_crashes;            /* daemon crashes a running job may see before it is failed */
    char log_level[16];         /* error, warn, info or debug */
} serve_config;

/*
 * Fills c from defaults, file, environment and argv (argv[0] is "serve"). Returns 0 to go on
 * serving, or 1 when the caller should exit with *status: after --help or --print-config (0)
 * or a bad option or value (2; the reason is printed on stderr).
 */
int config_load(serve_config *c, int argc, char **argv, int *status);
/* The settings as a configuration file that config_load reads back. */
void config_print(const serve_config *c, FILE *f);

#endif
