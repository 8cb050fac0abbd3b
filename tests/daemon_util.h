/*
 * daemon_util.h: what the daemon's integration suites (tests/check_daemon*.c) share: starting
 * the real quantd binary (QD_TEST_BIN, bin/quantd or bin-asan/quantd) on a free loopback port
 * with a temporary state directory, stopping or killing it, and HTTP requests through libcurl.
 * Every helper fails the current Check test on anything unexpected. Whatever more than one
 * suite needs is here, written once: the usual fixture (a daemon in a fresh state directory),
 * tokens, a job and its epochs, and event streams read on a thread.
 * Ownership: dt_resp_free frees a response (body, headers, json); dt_tempdir returns a
 * malloc'd path that dt_rmdir removes and frees; dt_stream_free frees a stream's text; the
 * json_t that dt_get, dt_job, dt_wait and dt_artifacts return is the caller's to json_decref.
 */
#ifndef QD_DAEMON_UTIL_H
#define QD_DAEMON_UTIL_H

#include <jansson.h>
#include <pthread.h>
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
    char *body;         /* never NULL once answered ("" for no body) */
    size_t len;
    json_t *json;       /* the body parsed, when it is JSON */
    char *headers;      /* every header line as received */
    char ctype[128];
    char allow[128];
    char location[256];
} dt_resp;

/* What dt_request_opts may change. */
typedef struct dt_opts {
    long timeout_ms; /* 0: 30 s */
    int stream;      /* an event stream: read for timeout_ms, then kept as answered */
    int gunzip;      /* ask for gzip and inflate what comes (curl's Accept-Encoding) */
} dt_opts;

/* An event stream read on its own thread into text, until dt_stream_close or its end. */
typedef struct dt_stream {
    char path[256], auth[160];
    int port;
    char *text;      /* what came so far; read it under mu, or after close or join */
    size_t len;
    long status;     /* the answer's, set under mu when the transfer ends (0 until then) */
    int stop;
    pthread_mutex_t mu;
    pthread_t thread;
} dt_stream;

char *dt_tempdir(void);
void dt_rmdir(char *dir);
/* Seconds on the monotonic clock. */
double dt_now(void);

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
/* The suites' usual fixture: dt_start in a new temporary state directory; dt_finish stops the
 * daemon with SIGTERM, expects exit status 0 and removes its state directory. */
void dt_start_fresh(dt_daemon *d, const char *const *extra);
void dt_finish(dt_daemon *d);

/* `quantd token create --team TEAM [--admin]` in state: the token (52 characters) into out. */
void dt_token(const char *state, const char *team, int admin, char out[64]);
/* `quantd token revoke` of the token's id. */
void dt_token_revoke(const char *state, const char *token);
/* The tokens the access suites use: teams alpha and beta, an admin (team ops), and an alpha
 * token that is revoked. */
typedef struct dt_tokens {
    char alpha[64], beta[64], admin[64], revoked[64];
} dt_tokens;
void dt_make_tokens(const char *state, dt_tokens *t);
/* The access suites' start: dt_start (with extra) in a new temporary state directory holding
 * dt_make_tokens' tokens, then one DT_SMALL_JOB per team, alpha's into job_alpha and beta's into
 * job_beta, both waited to success. */
void dt_start_two_teams(dt_daemon *d, dt_tokens *t, const char *const *extra,
                        char job_alpha[32], char job_beta[32]);

/* headers: NULL-terminated "Name: value" strings, or NULL. body may be NULL (no body). */
dt_resp dt_request(const dt_daemon *d, const char *method, const char *path,
                   const char *const *headers, const char *body, long body_len);
dt_resp dt_request_opts(const dt_daemon *d, const char *method, const char *path,
                        const char *const *headers, const char *body, long body_len,
                        const dt_opts *o);
void dt_resp_free(dt_resp *r);
/* The value of header name (case-insensitive), trimmed, into out; "" when absent. */
const char *dt_header(const dt_resp *r, const char *name, char *out, size_t cap);
/* GET with an optional token (NULL: none); fails the test unless the status is `status`. */
json_t *dt_get(const dt_daemon *d, const char *path, const char *token, long status);
/* POST spec to /api/v1/jobs; fails the test unless 201; the new job's id into id. */
void dt_submit(const dt_daemon *d, const char *spec, const char *token, char id[32]);
/* Polls the job until its state is `state` (or, for "final", any final state). Returns the job. */
json_t *dt_wait(const dt_daemon *d, const char *id, const char *token, const char *state,
                double timeout_s);
/* GET /api/v1/jobs/ID without a token (200 expected). */
json_t *dt_job(const dt_daemon *d, const char *id);
/* How many epochs the job's metrics hold. */
int dt_epochs(const dt_daemon *d, const char *id);
/* The job's artifacts as {name: [size, sha256]}, to compare runs (each name once, or the
 * test fails). */
json_t *dt_artifacts(const dt_daemon *d, const char *id);
/* Whether one of the job's transitions gives this reason. */
int dt_has_reason(const json_t *job, const char *reason);
const char *dt_str(const json_t *o, const char *key);
double dt_num(const json_t *o, const char *key);

/* Opens path as an event stream (token: NULL for none) on a thread; with `opening` non-NULL,
 * waits up to 10 s for the stream to hold it (the stream is subscribed), else fails the test. */
void dt_stream_open(dt_stream *s, const dt_daemon *d, const char *path, const char *token,
                    const char *opening);
/* Whether the stream holds needle within timeout_s. */
int dt_stream_wait(dt_stream *s, const char *needle, double timeout_s);
/* Ends the stream from this side (close) or waits until the daemon ends it (join, 90 s at
 * most); either way its thread is gone and text stays until dt_stream_free. */
void dt_stream_close(dt_stream *s);
void dt_stream_join(dt_stream *s);
void dt_stream_free(dt_stream *s);

#endif
