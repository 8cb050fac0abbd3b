/*
 * daemon_util.h: what the daemon's integration suites (tests/check_daemon*.c) share: starting
 * the real quantd binary (QD_TEST_BIN, bin/quantd or bin-asan/quantd) on a free loopback port
 * with a temporary state directory, stopping or killing it, and HTTP requests through libcurl.
 * Every helper fails the current Check test on anything unexpected.
 * Ownership: dt_resp_free frees a response; dt_tempdir returns a malloc'd path that
 * dt_rmdir removes and frees.
 */
#ifndef QD_DAEMON_UTIL_H
#define QD_DAEMON_UTIL_H

#include <jansson.h>
#include <sys/types.h>

#define DT_SMALL_JOB                                                                               \
    "{\"kind\": \"train\", \"name\": \"small\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "  \
    "\"epochs\": 2, \"subset\": {\"train\": 512, \"test\": 256}}"
/* about ten times as long: long enough to catch it running */
#define DT_LONG_JOB                                                                                \
    "{\"kind\": \"train\", \"name\": \"long\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "   \
    "\"epochs\": 8, \"subset\": {\"train\": 4096, \"test\": 256}}"

typedef struct dt_daemon {
    pid_t pid;
    int port;
    char state[256];
    char log[320];
} dt_daemon;

typedef struct dt_resp {
    long status;
    char *body;
    size_t len;
    json_t *json;       /* the body parsed, when it is JSON */
    char ctype[128];
    char allow[128];
    char location[256];
} dt_resp;

char *dt_tempdir(void);
void dt_rmdir(char *dir);

/*
 * Starts `quantd serve --listen 127.0.0.1:PORT --state STATE --threads 1 ARGS...` with its log
 * in STATE/daemon.log (appended) and waits until /healthz answers. extra is NULL-terminated and
 * may be NULL.
 */
void dt_start(dt_daemon *d, const char *state, const char *const *extra);
/* Starts it the same way without waiting (d->pid, d->port set); dt_ready then waits up to
 * timeout_s for /healthz: 1 once it answers, 0 when the process exits first (its status, or
 * 128 + the signal that ended it, in *status; d->pid is then 0). */
void dt_spawn(dt_daemon *d, const char *state, const char *const *extra);
int dt_ready(dt_daemon *d, double timeout_s, int *status);
/* Same, but expects the daemon to exit by itself; returns its exit status. */
int dt_start_fails(const char *state, const char *const *extra);
/* Sends sig and waits for the process; returns the exit status, or 128 + signal number. */
int dt_stop(dt_daemon *d, int sig);
/* Runs `quantd ARGS...` to completion; stdout (trimmed) into out (cap bytes); returns status. */
int dt_quantd(char *out, size_t cap, const char *const *args);

/* headers: NULL-terminated "Name: value" strings, or NULL. body may be NULL (no body). */
dt_resp dt_request(const dt_daemon *d, const char *method, const char *path,
                   const char *const *headers, const char *body, long body_len);
void dt_resp_free(dt_resp *r);
/* GET with an optional token (NULL: none); fails the test unless the status is `status`. */
json_t *dt_get(const dt_daemon *d, const char *path, const char *token, long status);
/* POST spec to /api/v1/jobs; fails the test unless 201; the new job's id into id. */
void dt_submit(const dt_daemon *d, const char *spec, const char *token, char id[32]);
/* Polls the job until its state is `state` (or, for "final", any final state). Returns the job. */
json_t *dt_wait(const dt_daemon *d, const char *id, const char *token, const char *state,
                double timeout_s);
const char *dt_str(const json_t *o, const char *key);
double dt_num(const json_t *o, const char *key);

#endif
