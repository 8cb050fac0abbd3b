/*
 * daemon_util.c: the integration suites' harness (daemon_util.h): the daemon as a child
 * process, `quantd token` for tokens, libcurl for HTTP, event streams on a thread of their
 * own. Waits poll every 10 to 20 ms with a deadline, so a test fails with a message instead of
 * hanging when the daemon misbehaves. What two suites need is written here, once.
 */
#include "tests/daemon_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double dt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *dt_tempdir(void)
{
    char *d = strdup("/tmp/qd-daemon-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

void dt_rmdir(char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* fork + exec quantd with args; stdout and stderr appended to log (NULL: stdout kept). */
static pid_t spawn(const char *const *args, const char *log, int out_fd)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : open("/dev/null", O_WRONLY);
        dup2(out_fd >= 0 ? out_fd : fd, 1);
        dup2(fd, 2);
        setenv("LSAN_OPTIONS", "suppressions=tests/daemon_lsan.supp:print_suppressions=0", 0);
        execv(QD_TEST_BIN, (char *const *)args);
        _exit(127);
    }
    return pid;
}

static void serve_args(const char **argv, char *listen, const char *state,
                       const char *const *extra, int port)
{
    int n = 0;
    snprintf(listen, 64, "127.0.0.1:%d", port);
    const char *base[] = {QD_TEST_BIN, "serve", "--listen", listen, "--state", state,
                          "--threads", "1"};
    for (size_t i = 0; i < sizeof base / sizeof *base; i++)
        argv[n++] = base[i];
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
}

void dt_spawn(dt_daemon *d, const char *state, const char *const *extra)
{
    const char *argv[64];
    char listen[64];
    memset(d, 0, sizeof *d);
    d->port = free_port();
    snprintf(d->state, sizeof d->state, "%s", state);
    snprintf(d->log, sizeof d->log, "%s/daemon.log", state);
    serve_args(argv, listen, state, extra, d->port);
    d->pid = spawn(argv, d->log, -1);
}

void dt_start(dt_daemon *d, const char *state, const char *const *extra)
{
    int status;
    dt_spawn(d, state, extra);
    if (!dt_ready(d, 20, &status))
        ck_abort_msg("quantd serve exited at start (status %d); see %s", status, d->log);
}

int dt_ready(dt_daemon *d, double timeout_s, int *status)
{
    for (double t0 = dt_now(); dt_now() - t0 < timeout_s; usleep(20000)) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            d->pid = 0;
            return 0;
        }
        dt_resp r = dt_request(d, "GET", "/healthz", NULL, NULL, 0);
        long code = r.status;
        dt_resp_free(&r);
        if (code == 200)
            return 1;
    }
    ck_abort_msg("quantd serve neither answered /healthz nor exited within %.0f s; see %s",
                 timeout_s, d->log);
    return 0;
}

int dt_start_fails(const char *state, const char *const *extra)
{
    const char *argv[64];
    char listen[64], log[320];
    snprintf(log, sizeof log, "%s/daemon.log", state);
    serve_args(argv, listen, state, extra, free_port());
    pid_t pid = spawn(argv, log, -1);
    int status;
    for (double t0 = dt_now(); dt_now() - t0 < 20.0; usleep(20000))
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ck_abort_msg("quantd serve kept running where it should have refused to start");
    return -1;
}

int dt_stop(dt_daemon *d, int sig)
{
    int status;
    ck_assert_int_eq(kill(d->pid, sig), 0);
    for (double t0 = dt_now(); dt_now() - t0 < 30.0; usleep(20000))
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    ck_abort_msg("quantd did not exit within 30 s of signal %d", sig);
    return -1;
}

int dt_quantd(char *out, size_t cap, const char *const *args)
{
    const char *argv[32] = {QD_TEST_BIN};
    int n = 1, pipefd[2], status;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = spawn(argv, NULL, pipefd[1]);
    close(pipefd[1]);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < cap && (k = read(pipefd[0], out + got, cap - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = '\0';
    while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' '))
        out[--got] = '\0';
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void dt_start_fresh(dt_daemon *d, const char *const *extra)
{
    char *dir = dt_tempdir();
    dt_start(d, dir, extra);
    free(dir); /* d->state has it */
}

void dt_finish(dt_daemon *d)
{
    ck_assert_int_eq(dt_stop(d, SIGTERM), 0);
    dt_rmdir(strdup(d->state));
}

/* ---- tokens ---- */

void dt_token(const char *state, const char *team, int admin, char out[64])
{
    char buf[256];
    const char *args[] = {"token", "create", "--team", team, "--state", state,
                          admin ? "--admin" : NULL, NULL};
    ck_assert_int_eq(dt_quantd(buf, sizeof buf, args), 0);
    ck_assert_msg(strlen(buf) == 52, "token create printed \"%s\"", buf);
    snprintf(out, 64, "%.63s", buf); /* 52 characters, checked above */
}

void dt_token_revoke(const char *state, const char *token)
{
    char id[16], out[64];
    snprintf(id, sizeof id, "%.12s", token + 4); /* qdt_ID...: the id is what follows qdt_ */
    const char *args[] = {"token", "revoke", id, "--state", state, NULL};
    ck_assert_int_eq(dt_quantd(out, sizeof out, args), 0);
}

void dt_make_tokens(const char *state, dt_tokens *t)
{
    dt_token(state, "alpha", 0, t->alpha);
    dt_token(state, "beta", 0, t->beta);
    dt_token(state, "ops", 1, t->admin);
    dt_token(state, "alpha", 0, t->revoked);
    dt_token_revoke(state, t->revoked);
}

void dt_start_two_teams(dt_daemon *d, dt_tokens *t, const char *const *extra,
                        char job_alpha[32], char job_beta[32])
{
    char *dir = dt_tempdir();
    dt_make_tokens(dir, t);
    dt_start(d, dir, extra);
    free(dir);
    dt_submit(d, DT_SMALL_JOB, t->alpha, job_alpha);
    dt_submit(d, DT_SMALL_JOB, t->beta, job_beta);
    json_decref(dt_wait(d, job_alpha, t->alpha, "succeeded", 60));
    json_decref(dt_wait(d, job_beta, t->beta, "succeeded", 60));
}

/* ---- HTTP ---- */

/* Appends n bytes to a growing, NUL-terminated buffer; returns n (0: out of memory). */
static size_t grow(char **buf, size_t *len, const char *p, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    if (!b)
        return 0;
    memcpy(b + *len, p, n);
    *buf = b;
    *len += n;
    b[*len] = '\0';
    return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    dt_resp *r = ctx;
    return grow(&r->body, &r->len, p, size * n);
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    dt_resp *r = ctx;
    size_t hlen = r->headers ? strlen(r->headers) : 0;
    return grow(&r->headers, &hlen, p, size * n);
}

const char *dt_header(const dt_resp *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = r->headers; p && *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0)) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
            break;
        }
    }
    return out;
}

dt_resp dt_request_opts(const dt_daemon *d, const char *method, const char *path,
                        const char *const *headers, const char *body, long body_len,
                        const dt_opts *o)
{
    static const dt_opts none = {0};
    dt_resp r = {0};
    char url[2048];
    o = o ? o : &none;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", d->port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 30000L);
    if (o->gunzip)
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body_len >= 0 ? body_len : (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK || (rc == CURLE_OPERATION_TIMEDOUT && o->stream))
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r.status && !r.body)
        r.body = calloc(1, 1);
    dt_header(&r, "Allow", r.allow, sizeof r.allow);
    dt_header(&r, "Content-Type", r.ctype, sizeof r.ctype);
    dt_header(&r, "Location", r.location, sizeof r.location);
    if (r.body && strstr(r.ctype, "application/json"))
        r.json = json_loadb(r.body, r.len, 0, NULL);
    return r;
}

dt_resp dt_request(const dt_daemon *d, const char *method, const char *path,
                   const char *const *headers, const char *body, long body_len)
{
    return dt_request_opts(d, method, path, headers, body, body_len, NULL);
}

void dt_resp_free(dt_resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static const char *const *auth(const char *token, char *buf, size_t cap, const char **h)
{
    if (!token)
        return NULL;
    snprintf(buf, cap, "Authorization: Bearer %s", token);
    h[0] = buf;
    h[1] = NULL;
    return h;
}

json_t *dt_get(const dt_daemon *d, const char *path, const char *token, long status)
{
    char buf[256];
    const char *h[2];
    dt_resp r = dt_request(d, "GET", path, auth(token, buf, sizeof buf, h), NULL, 0);
    ck_assert_msg(r.status == status, "GET %s: %ld, expected %ld: %s", path, r.status, status,
                  r.body ? r.body : "");
    json_t *j = json_incref(r.json);
    dt_resp_free(&r);
    return j;
}

void dt_submit(const dt_daemon *d, const char *spec, const char *token, char id[32])
{
    char buf[256];
    const char *h[3] = {"Content-Type: application/json"};
    if (token) {
        snprintf(buf, sizeof buf, "Authorization: Bearer %s", token);
        h[1] = buf;
    }
    dt_resp r = dt_request(d, "POST", "/api/v1/jobs", h, spec, -1);
    ck_assert_msg(r.status == 201, "submit: %ld: %s", r.status, r.body ? r.body : "");
    snprintf(id, 32, "%s", dt_str(r.json, "id"));
    dt_resp_free(&r);
}

static int is_final(const char *s)
{
    return !strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

json_t *dt_wait(const dt_daemon *d, const char *id, const char *token, const char *state,
                double timeout_s)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    char last[32] = "";
    for (double t0 = dt_now(); dt_now() - t0 < timeout_s; usleep(20000)) {
        json_t *j = dt_get(d, path, token, 200);
        const char *s = dt_str(j, "state");
        if (!strcmp(s, state) || (!strcmp(state, "final") && is_final(s)))
            return j;
        ck_assert_msg(!is_final(s) || !strcmp(state, "final"),
                      "job %s ended %s while waiting for %s: %s", id, s, state,
                      json_dumps(json_object_get(j, "errors"), 0));
        snprintf(last, sizeof last, "%s", s);
        json_decref(j);
    }
    ck_abort_msg("job %s still %s after %.0f s (waiting for %s)", id, last, timeout_s, state);
    return NULL;
}

json_t *dt_job(const dt_daemon *d, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    return dt_get(d, path, NULL, 200);
}

int dt_epochs(const dt_daemon *d, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/metrics", id);
    json_t *m = dt_get(d, path, NULL, 200);
    int n = (int)json_array_size(json_object_get(m, "epochs"));
    json_decref(m);
    return n;
}

json_t *dt_artifacts(const dt_daemon *d, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/artifacts", id);
    json_t *l = dt_get(d, path, NULL, 200), *a, *out = json_object();
    size_t i;
    json_array_foreach(json_object_get(l, "artifacts"), i, a)
    {
        ck_assert_msg(!json_object_get(out, dt_str(a, "name")), "job %s lists artifact %s twice",
                      id, dt_str(a, "name"));
        json_object_set_new(out, dt_str(a, "name"),
                            json_pack("[Is]", (json_int_t)dt_num(a, "size"), dt_str(a, "sha256")));
    }
    json_decref(l);
    return out;
}

int dt_has_reason(const json_t *job, const char *reason)
{
    json_t *t;
    size_t i;
    json_array_foreach(json_object_get(job, "transitions"), i, t)
    {
        if (!strcmp(dt_str(t, "reason"), reason))
            return 1;
    }
    return 0;
}

const char *dt_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    ck_assert_msg(s != NULL, "no string \"%s\" in the answer", key);
    return s;
}

double dt_num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_number(v), "no number \"%s\" in the answer", key);
    return json_number_value(v);
}

/* ---- event streams ---- */

static size_t on_chunk(char *p, size_t size, size_t n, void *ctx)
{
    dt_stream *s = ctx;
    pthread_mutex_lock(&s->mu);
    size_t k = grow(&s->text, &s->len, p, size * n);
    pthread_mutex_unlock(&s->mu);
    return k;
}

/* curl asks this now and then: non-zero ends the transfer (dt_stream_close) */
static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    dt_stream *s = ctx;
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

static void *stream_main(void *arg)
{
    dt_stream *s = arg;
    char url[320];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, s->path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = s->auth[0] ? curl_slist_append(NULL, s->auth) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_chunk);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
    curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    pthread_mutex_lock(&s->mu);
    s->status = status;
    pthread_mutex_unlock(&s->mu);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

void dt_stream_open(dt_stream *s, const dt_daemon *d, const char *path, const char *token,
                    const char *opening)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->port = d->port;
    snprintf(s->path, sizeof s->path, "%s", path);
    if (token)
        snprintf(s->auth, sizeof s->auth, "Authorization: Bearer %s", token);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, stream_main, s), 0);
    if (opening && !dt_stream_wait(s, opening, 10))
        ck_abort_msg("the event stream %s did not open with \"%s\"", path, opening);
}

int dt_stream_wait(dt_stream *s, const char *needle, double timeout_s)
{
    for (double t0 = dt_now(); dt_now() - t0 < timeout_s; usleep(10000)) {
        pthread_mutex_lock(&s->mu);
        int hit = s->text && strstr(s->text, needle);
        pthread_mutex_unlock(&s->mu);
        if (hit)
            return 1;
    }
    return 0;
}

void dt_stream_close(dt_stream *s)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->thread, NULL);
}

void dt_stream_join(dt_stream *s)
{
    pthread_join(s->thread, NULL);
}

void dt_stream_free(dt_stream *s)
{
    pthread_mutex_destroy(&s->mu);
    free(s->text);
    s->text = NULL;
}
