/*
 * daemon_util.c: the integration suites' harness (daemon_util.h): the daemon as a child
 * process, libcurl for HTTP. Waits poll every 20 ms with a deadline, so a test fails with a
 * message instead of hanging when the daemon misbehaves.
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

static double now_s(void)
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

void dt_start(dt_daemon *d, const char *state, const char *const *extra)
{
    const char *argv[64];
    char listen[64];
    memset(d, 0, sizeof *d);
    d->port = free_port();
    snprintf(d->state, sizeof d->state, "%s", state);
    snprintf(d->log, sizeof d->log, "%s/daemon.log", state);
    serve_args(argv, listen, state, extra, d->port);
    d->pid = spawn(argv, d->log, -1);
    for (double t0 = now_s(); now_s() - t0 < 20.0; usleep(20000)) {
        int status;
        ck_assert_msg(waitpid(d->pid, &status, WNOHANG) == 0, "quantd serve exited at start "
                      "(status %d); see %s", status, d->log);
        dt_resp r = dt_request(d, "GET", "/healthz", NULL, NULL, 0);
        long st = r.status;
        dt_resp_free(&r);
        if (st == 200)
            return;
    }
    ck_abort_msg("quantd serve did not answer /healthz within 20 s; see %s", d->log);
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

int dt_ready(dt_daemon *d, double timeout_s, int *status)
{
    for (double t0 = now_s(); now_s() - t0 < timeout_s; usleep(20000)) {
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
    for (double t0 = now_s(); now_s() - t0 < 20.0; usleep(20000))
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
    for (double t0 = now_s(); now_s() - t0 < 30.0; usleep(20000))
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

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    dt_resp *r = ctx;
    char *b = realloc(r->body, r->len + size * n + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, size * n);
    r->body = b;
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    dt_resp *r = ctx;
    size_t len = size * n;
    struct { const char *name; char *out; size_t cap; } want[] = {
        {"allow:", r->allow, sizeof r->allow},
        {"content-type:", r->ctype, sizeof r->ctype},
        {"location:", r->location, sizeof r->location}};
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(want[i].name);
        if (len > k && strncasecmp(p, want[i].name, k) == 0) {
            size_t v = k;
            while (v < len && p[v] == ' ')
                v++;
            size_t m = len - v;
            while (m > 0 && (p[v + m - 1] == '\r' || p[v + m - 1] == '\n'))
                m--;
            snprintf(want[i].out, want[i].cap, "%.*s", (int)m, p + v);
        }
    }
    return len;
}

dt_resp dt_request(const dt_daemon *d, const char *method, const char *path,
                   const char *const *headers, const char *body, long body_len)
{
    dt_resp r = {0};
    char url[2048];
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
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body_len >= 0 ? body_len : (long)strlen(body));
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r.body && strstr(r.ctype, "application/json"))
        r.json = json_loadb(r.body, r.len, 0, NULL);
    return r;
}

void dt_resp_free(dt_resp *r)
{
    free(r->body);
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
    for (double t0 = now_s(); now_s() - t0 < timeout_s; usleep(20000)) {
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
