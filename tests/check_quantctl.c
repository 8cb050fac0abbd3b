/*
 * check_quantctl.c: quantctl, the command-line client, driven as a subprocess exactly as a
 * script would drive it.
 *
 * Without a daemon: help for every command, usage errors (exit 2), an unreadable or malformed
 * spec (8, 5), and a refused connection (3) that names the URL, in text and in --json.
 * Against the real daemon (bin/quantd serve on a free loopback port, a temporary state
 * directory, one worker, one thread, and a team token so that every call needs one): each
 * command's output and exit code, --json output that parses, a missing and a wrong token (4), a
 * refused spec that prints the server's field (5), `watch` of a short synthetic job that ends
 * when the job ends (plain lines in a pipe, a bar redrawn in place on a pseudo-terminal), submit
 * --wait exiting with the job's outcome (0 succeeded, 1 failed, 7 cancelled), and the chain a
 * script runs: submit --wait a train job, then fetch its model. The binaries are taken from
 * QD_BIN_DIR (the Makefile's BIN; "bin" by default).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/check_main.h"

#ifndef QD_BIN_DIR
#define QD_BIN_DIR "bin"
#endif

#define RUN_TIMEOUT_S 60   /* a quantctl call that takes longer has hung */
#define START_TIMEOUT_S 15 /* quantd answers /healthz within this */
#define OUT_MAX (1 << 20)

/* a short job on the built-in data set: two epochs, well under a second of training */
#define SHORT_JOB                                                                                  \
    "{\"kind\": \"train\", \"name\": \"qc-short\", \"dataset\": \"synthetic\", \"model\": "        \
    "\"mlp\", \"epochs\": 2, \"subset\": {\"train\": 512, \"test\": 256}, \"quant\": "             \
    "{\"method\": \"qat\", \"weights\": {\"format\": \"int\", \"bits\": 4}, "                      \
    "\"activations\": {\"format\": \"int\", \"bits\": 4}}}"
/* long enough to be cancelled while it runs */
#define LONG_JOB(name)                                                                             \
    "{\"kind\": \"train\", \"name\": \"" name "\", \"dataset\": \"synthetic\", \"model\": "        \
    "\"mlp\", \"epochs\": 1000}"

/* ---- the daemon under test (started once, before the tests fork) ---- */

static char g_state[64], g_url[96], g_closed_url[96], g_token[512];
static pid_t g_daemon;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- running quantctl ---- */

typedef struct qc_run {
    int code; /* exit status; -1 killed by a signal; -2 timed out */
    char *out, *err;
} qc_run;

static void run_free(qc_run *r)
{
    free(r->out);
    free(r->err);
}

/* In the child: stdin, stdout and stderr from the pipes (the parent's ends closed, so that
 * stdin ends when the parent has written the input), the environment, then quantctl. */
static void child_exec(const char *prog, const char *const *args, const char *url,
                       const char *token, int in[2], int out[2], int err[2])
{
    const char *argv[32] = {prog};
    int n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    dup2(in[0], 0), dup2(out[1], 1), dup2(err[1], 2);
    for (int i = 0; i < 2; i++)
        close(in[i]), close(out[i]), close(err[i]);
    if (url)
        setenv("QUANTD_URL", url, 1);
    else
        unsetenv("QUANTD_URL");
    if (token)
        setenv("QUANTD_TOKEN", token, 1);
    else
        unsetenv("QUANTD_TOKEN");
    execv(prog, (char *const *)argv);
    _exit(127);
}

/* Reads out and err until both close or the deadline passes. */
static int drain(int out, int err, char *ob, char *eb, time_t deadline)
{
    size_t on = 0, en = 0;
    struct pollfd p[2] = {{.fd = out, .events = POLLIN}, {.fd = err, .events = POLLIN}};
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (time(NULL) > deadline)
            return -1;
        if (poll(p, 2, 500) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            char *b = i ? eb : ob;
            size_t *n = i ? &en : &on;
            ssize_t k = read(p[i].fd, b + *n, OUT_MAX - 1 - *n);
            if (k <= 0)
                p[i].fd = -1;
            else
                *n += (size_t)k;
        }
    }
    ob[on] = eb[en] = '\0';
    return 0;
}

/* A quantctl process under way: its pid and the read ends of its stdout and stderr. */
typedef struct qc_proc {
    pid_t pid;
    int out, err;
} qc_proc;

/* Starts quantctl with args (NULL-terminated), the environment's URL and token (NULL: unset),
 * and input on its standard input. */
static qc_proc spawn_env(const char *url, const char *token, const char *input,
                         const char *const *args)
{
    int in[2], out[2], err[2];
    ck_assert(!pipe(in) && !pipe(out) && !pipe(err));
    qc_proc p = {.pid = fork(), .out = out[0], .err = err[0]};
    ck_assert_int_ge(p.pid, 0);
    if (p.pid == 0)
        child_exec(QD_BIN_DIR "/quantctl", args, url, token, in, out, err);
    close(in[0]), close(out[1]), close(err[1]);
    if (input && write(in[1], input, strlen(input)) < 0)
        perror("write");
    close(in[1]);
    return p;
}

/* Collects the output and exit status of a spawned quantctl (killed after RUN_TIMEOUT_S). */
static qc_run finish(qc_proc p)
{
    qc_run r = {.out = calloc(1, OUT_MAX), .err = calloc(1, OUT_MAX)};
    int status = 0;
    ck_assert(r.out && r.err);
    int timed_out = drain(p.out, p.err, r.out, r.err, time(NULL) + RUN_TIMEOUT_S);
    if (timed_out)
        kill(p.pid, SIGKILL);
    waitpid(p.pid, &status, 0);
    close(p.out), close(p.err);
    r.code = timed_out ? -2 : WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

/* The same with stdout on a pseudo-terminal, as a person at a terminal sees it. */
static qc_proc spawn_tty(const char *const *args)
{
    int err[2], in[2], master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert(master >= 0 && !grantpt(master) && !unlockpt(master) && !pipe(err) && !pipe(in));
    qc_proc p = {.pid = fork(), .out = master, .err = err[0]};
    ck_assert_int_ge(p.pid, 0);
    if (p.pid == 0) {
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        int out[2] = {master, slave};
        child_exec(QD_BIN_DIR "/quantctl", args, g_url, g_token, in, out, err);
    }
    close(err[1]), close(in[0]), close(in[1]);
    return p;
}

static qc_run run_env(const char *url, const char *token, const char *input,
                      const char *const *args)
{
    return finish(spawn_env(url, token, input, args));
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* quantctl against the daemon under test, with its token */
#define QC(...) run_env(g_url, g_token, NULL, ARGS(__VA_ARGS__))
/* the same with a spec on standard input */
#define QC_IN(input, ...) run_env(g_url, g_token, input, ARGS(__VA_ARGS__))

static void expect(const qc_run *r, int code, const char *what)
{
    ck_assert_msg(r->code == code, "%s: exit %d, expected %d\nstdout: %.2000s\nstderr: %.2000s",
                  what, r->code, code, r->out, r->err);
}

/* stdout as JSON (a new reference); fails the test when it does not parse. */
static json_t *out_json(const qc_run *r)
{
    json_error_t je;
    json_t *j = json_loads(r->out, 0, &je);
    ck_assert_msg(j != NULL, "stdout is not JSON (%s): %.2000s", je.text, r->out);
    return j;
}

/* ---- starting and stopping the daemon ---- */

static void daemon_log_tail(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tail -n 20 %s/quantd.log >&2", g_state);
    if (system(cmd) < 0)
        perror("system");
}

/* `quantd token create --team qc-lab`: the token is the last word quantd prints. */
static void create_token(void)
{
    char cmd[512], line[512] = "";
    snprintf(cmd, sizeof cmd, "%s/quantd token create --team qc-lab --state %s 2>>%s/quantd.log",
             QD_BIN_DIR, g_state, g_state);
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        char *last = strrchr(line, ' ');
        snprintf(g_token, sizeof g_token, "%s", last ? last + 1 : line);
    }
    if (!p || pclose(p) != 0 || !g_token[0]) {
        fprintf(stderr, "check_quantctl: `quantd token create` failed\n");
        daemon_log_tail();
        exit(1);
    }
}

static int daemon_healthy(void)
{
    qc_run r = run_env(g_url, g_token, NULL, ARGS("health"));
    int ok = r.code == 0;
    run_free(&r);
    return ok;
}

static void daemon_start(void)
{
    char listen[64], log[128];
    int port = free_port();
    snprintf(g_state, sizeof g_state, "/tmp/qd-quantctl-XXXXXX");
    if (!mkdtemp(g_state))
        perror("mkdtemp"), exit(1);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(g_url, sizeof g_url, "http://%s", listen);
    snprintf(log, sizeof log, "%s/quantd.log", g_state);
    create_token();
    if ((g_daemon = fork()) == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1), dup2(fd, 2);
        execl(QD_BIN_DIR "/quantd", "quantd", "serve", "--listen", listen, "--state", g_state,
              "--workers", "1", "--threads", "1", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < START_TIMEOUT_S * 10; i++) {
        if (daemon_healthy())
            return;
        if (waitpid(g_daemon, NULL, WNOHANG) == g_daemon)
            break;
        usleep(100000);
    }
    fprintf(stderr, "check_quantctl: quantd serve did not answer at %s\n", g_url);
    daemon_log_tail();
    exit(1);
}

static void daemon_stop(void)
{
    char cmd[128];
    if (g_daemon > 0) {
        kill(g_daemon, SIGTERM);
        for (int i = 0; i < 100 && waitpid(g_daemon, NULL, WNOHANG) == 0; i++)
            usleep(100000);
        kill(g_daemon, SIGKILL);
        waitpid(g_daemon, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_state);
    if (g_state[0] && system(cmd) != 0)
        fprintf(stderr, "check_quantctl: could not remove %s\n", g_state);
}

/* ---- usage, help and errors that need no daemon ---- */

/* A loopback URL nobody listens on, so that nothing here can reach a daemon by accident. */
static void closed_port(void)
{
    snprintf(g_closed_url, sizeof g_closed_url, "http://127.0.0.1:%d", free_port());
}

typedef struct usage_case {
    const char *args[8];
    const char *input;
    int code;
    const char *out_has, *err_has;
} usage_case;

/* clang-format off */
static const usage_case usage_cases[] = {
    {{NULL}, NULL, 2, NULL, "usage: quantctl"},
    {{"--help"}, NULL, 0, "Exit codes", NULL},
    {{"help"}, NULL, 0, "watch ID", NULL},
    {{"help", "fetch"}, NULL, 0, "fetch ID [ARTIFACT] [-o FILE]", NULL},
    {{"submit", "--help"}, NULL, 0, "submit SPEC.json|- [--wait]", NULL},
    {{"list", "-h"}, NULL, 0, "--state S", NULL},
    {{"show", "--help"}, NULL, 0, "show ID", NULL},
    {{"watch", "--help"}, NULL, 0, "time left", NULL},
    {{"cancel", "--help"}, NULL, 0, "cancel ID", NULL},
    {{"metrics", "--help"}, NULL, 0, "metrics ID", NULL},
    {{"pareto", "--help"}, NULL, 0, "--dataset D", NULL},
    {{"fetch", "--help"}, NULL, 0, "-o, --output FILE", NULL},
    {{"models", "--help"}, NULL, 0, "usage: quantctl", NULL},
    {{"datasets", "--help"}, NULL, 0, "usage: quantctl", NULL},
    {{"health", "--json", "--help"}, NULL, 0, "usage: quantctl", NULL},
    {{"frobnicate"}, NULL, 2, NULL, "unknown command 'frobnicate'"},
    {{"list", "--wait"}, NULL, 2, NULL, "list does not take the option --wait"},
    {{"--wait", "submit", "x.json"}, NULL, 2, NULL, "quantctl does not take the option --wait"},
    {{"show"}, NULL, 2, NULL, "missing argument: quantctl show ID"},
    {{"show", "a", "b"}, NULL, 2, NULL, "too many arguments"},
    {{"fetch", "a", "b", "-o"}, NULL, 2, NULL, "--output needs a value"},
    {{"list", "--json=yes"}, NULL, 2, NULL, "--json takes no value"},
    {{"list", "--state", "done"}, NULL, 2, NULL, "--state is queued, running"},
    {{"list", "--kind", "eval"}, NULL, 2, NULL, "--kind is train, search or export"},
    {{"list", "--limit", "0"}, NULL, 2, NULL, "--limit is an integer in 1..1000"},
    {{"show", "../etc/passwd"}, NULL, 2, NULL, "is not a job id"},
    {{"--url", "ftp://127.0.0.1:1", "health"}, NULL, 2, NULL, "bad quantd URL"},
    {{"submit", "/nonexistent/spec.json"}, NULL, 8, NULL, "cannot read the spec"},
    {{"submit", "-"}, "{\"kind\": \"train\",", 5, NULL, "<stdin>:1:"},
    {{"submit", "-"}, "[1, 2]", 5, NULL, "a spec is a JSON object"},
};
/* clang-format on */

START_TEST(test_usage)
{
    const usage_case *c = &usage_cases[_i];
    qc_run r = run_env(g_closed_url, NULL, c->input, c->args);
    expect(&r, c->code, c->args[0] ? c->args[0] : "(no arguments)");
    if (c->out_has)
        ck_assert_msg(strstr(r.out, c->out_has), "stdout lacks '%s': %s", c->out_has, r.out);
    if (c->err_has)
        ck_assert_msg(strstr(r.err, c->err_has), "stderr lacks '%s': %s", c->err_has, r.err);
    run_free(&r);
}
END_TEST

/* Connection refused names the URL and says where to set it; --json gives the error body. */
START_TEST(test_connection_refused)
{
    static const char *const cmds[][3] = {{"health"},
                                          {"list"},
                                          {"show", "0123456789abcdef"},
                                          {"watch", "0123456789abcdef"},
                                          {"pareto"}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        qc_run r = run_env(g_closed_url, NULL, NULL, cmds[i]);
        expect(&r, 3, cmds[i][0]);
        ck_assert_msg(strstr(r.err, g_closed_url), "no URL in: %s", r.err);
        ck_assert_msg(strstr(r.err, "Connection refused"), "%s", r.err);
        ck_assert_msg(strstr(r.err, "QUANTD_URL"), "%s", r.err);
        run_free(&r);
    }
    qc_run r = run_env(g_closed_url, NULL, NULL, ARGS("list", "--json"));
    expect(&r, 3, "list --json");
    json_t *j = out_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "connection_failed");
    json_decref(j);
    run_free(&r);
    /* --url wins over QUANTD_URL */
    r = run_env("http://127.0.0.1:9", NULL, NULL, ARGS("--url", g_closed_url, "health"));
    ck_assert_msg(r.code == 3 && strstr(r.err, g_closed_url), "%s", r.err);
    run_free(&r);
}
END_TEST

/* ---- each command against the daemon ---- */

enum { TOKEN_NONE, TOKEN_TEAM, TOKEN_WRONG };

typedef struct served_case {
    const char *args[7];
    int token;
    const char *input;
    int code;
    const char *out_has, *err_has;
    const char *json_key; /* stdout parses as JSON and has this top-level key */
} served_case;

#define NO_JOB "ffffffffffffffff"
/* a train spec on the synthetic set with more fields */
#define SPEC(more) "{\"kind\": \"train\", \"dataset\": \"synthetic\", \"model\": \"mlp\"" more "}"

/* clang-format off */
static const served_case served_cases[] = {
    {{"health"}, TOKEN_TEAM, NULL, 0, "ok", NULL, NULL},
    {{"health", "--json"}, TOKEN_TEAM, NULL, 0, NULL, NULL, "status"},
    {{"models"}, TOKEN_TEAM, NULL, 0, "cnn-s", NULL, NULL},
    {{"models", "--json"}, TOKEN_TEAM, NULL, 0, "resnet20", NULL, NULL},
    {{"datasets"}, TOKEN_TEAM, NULL, 0, "synthetic", NULL, NULL},
    {{"datasets", "--json"}, TOKEN_TEAM, NULL, 0, "fashion-mnist", NULL, NULL},
    {{"list", "--limit", "5"}, TOKEN_TEAM, NULL, 0, NULL, NULL, NULL},
    {{"list", "--json", "--state", "failed"}, TOKEN_TEAM, NULL, 0, NULL, NULL, "jobs"},
    {{"pareto", "--json"}, TOKEN_TEAM, NULL, 0, NULL, NULL, "points"},
    /* unknown jobs */
    {{"show", NO_JOB}, TOKEN_TEAM, NULL, 5, NULL, "not_found", NULL},
    {{"show", NO_JOB, "--json"}, TOKEN_TEAM, NULL, 5, NULL, NULL, "error"},
    {{"watch", NO_JOB}, TOKEN_TEAM, NULL, 5, NULL, "not_found", NULL},
    {{"cancel", NO_JOB}, TOKEN_TEAM, NULL, 5, NULL, "not_found", NULL},
    {{"metrics", NO_JOB}, TOKEN_TEAM, NULL, 5, NULL, "not_found", NULL},
    {{"fetch", NO_JOB, "model.qdc", "-o", "/tmp/qc.x"}, TOKEN_TEAM, NULL, 5, NULL, "not_found",
     NULL},
    /* tokens: a person is told what to set */
    {{"list"}, TOKEN_NONE, NULL, 4, NULL, "set QUANTD_TOKEN or pass --token", NULL},
    {{"submit", "-"}, TOKEN_NONE, SHORT_JOB, 4, NULL, "needs a token", NULL},
    {{"list"}, TOKEN_WRONG, NULL, 4, NULL, "refused the token", NULL},
    {{"list", "--json"}, TOKEN_WRONG, NULL, 4, NULL, NULL, "error"},
    {{"list", "--token", "qd_wrong"}, TOKEN_TEAM, NULL, 4, NULL, "refused the token", NULL},
    /* refused specs: the server's message and field */
    {{"submit", "-"}, TOKEN_TEAM, SPEC(", \"epochs\": 5000"), 5, NULL, "field: epochs", NULL},
    {{"submit", "-"}, TOKEN_TEAM, SPEC(", \"optimizer\": {\"lr\": \"fast\"}"), 5, NULL,
     "field: optimizer.lr", NULL},
    {{"submit", "-"}, TOKEN_TEAM, SPEC(", \"colour\": 1"), 5, NULL, "field: colour", NULL},
    {{"submit", "--json", "-"}, TOKEN_TEAM, "{\"kind\": \"train\", \"model\": \"mlp\"}", 5, NULL,
     "field: dataset", "error"},
};
/* clang-format on */

START_TEST(test_served)
{
    const served_case *c = &served_cases[_i];
    const char *token = c->token == TOKEN_TEAM ? g_token : c->token == TOKEN_WRONG ? "qd_x" : NULL;
    qc_run r = run_env(g_url, token, c->input, c->args);
    expect(&r, c->code, c->args[0]);
    if (c->out_has)
        ck_assert_msg(strstr(r.out, c->out_has), "stdout lacks '%s': %s", c->out_has, r.out);
    if (c->err_has)
        ck_assert_msg(strstr(r.err, c->err_has), "stderr lacks '%s': %s", c->err_has, r.err);
    if (c->json_key) {
        json_t *j = out_json(&r);
        ck_assert_msg(json_object_get(j, c->json_key), "no '%s' in %s", c->json_key, r.out);
        json_decref(j);
    }
    run_free(&r);
}
END_TEST

/* ---- jobs from submission to their end ---- */

/* submit a spec from standard input; returns the id quantctl printed (static buffer). */
static const char *submit(const char *spec, char *id, size_t cap)
{
    qc_run r = QC_IN(spec, "submit", "-");
    expect(&r, 0, "submit");
    ck_assert_msg(strstr(r.err, "submitted train job"), "%s", r.err);
    ck_assert_msg(strlen(r.out) > 1 && r.out[strlen(r.out) - 1] == '\n', "%s", r.out);
    snprintf(id, cap, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    run_free(&r);
    return id;
}

static json_t *show_json(const char *id)
{
    qc_run r = QC("show", id, "--json");
    expect(&r, 0, "show --json");
    json_t *j = out_json(&r);
    run_free(&r);
    return j;
}

/* watch of a short job ends when the job ends, with a line per epoch; watch of a cancelled
 * job exits 7. The short job waits behind a long one on the only worker, so the watch is
 * attached before it starts. */
START_TEST(test_watch)
{
    char blocker[64], shortjob[64];
    submit(LONG_JOB("qc-blocker"), blocker, sizeof blocker);
    submit(SHORT_JOB, shortjob, sizeof shortjob);
    ck_assert_str_ne(blocker, shortjob);
    qc_proc w = spawn_env(g_url, g_token, NULL, ARGS("watch", shortjob));
    usleep(500000);
    qc_run r = QC("cancel", blocker);
    expect(&r, 0, "cancel");
    ck_assert_msg(strstr(r.out, blocker), "%s", r.out);
    run_free(&r);
    r = finish(w);
    expect(&r, 0, "watch");
    const char *e1 = strstr(r.out, "epoch 1/2  loss"), *e2 = strstr(r.out, "epoch 2/2  loss");
    ck_assert_msg(e1 && e2 && e1 < e2, "no epoch lines in order: %s", r.out);
    ck_assert_msg(strstr(r.out, "succeeded") && strstr(r.out, "accuracy"), "%s", r.out);
    ck_assert_msg(!strchr(r.out, '\033'), "a terminal escape when not a terminal: %s", r.out);
    run_free(&r);
    json_t *j = show_json(shortjob);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "succeeded");
    json_decref(j);
    r = QC("watch", blocker);
    expect(&r, 7, "watch of a cancelled job");
    ck_assert_msg(strstr(r.err, "cancelled"), "%s", r.err);
    run_free(&r);
    r = QC("cancel", blocker);
    expect(&r, 5, "cancel of a finished job");
    ck_assert_msg(strstr(r.err, "conflict"), "%s", r.err);
    run_free(&r);
}
END_TEST

/* On a terminal, watch redraws one progress line in place and ends with the job. */
START_TEST(test_watch_terminal)
{
    char id[64];
    submit(LONG_JOB("qc-on-a-terminal"), id, sizeof id);
    qc_proc w = spawn_tty(ARGS("watch", id));
    /* cancel once the job has reported a step (a loaded machine may take seconds to start it),
     * and give the watch a moment to draw it */
    for (int i = 0; i < 600; i++) {
        json_t *j = show_json(id);
        int stepped = json_object_get(json_object_get(j, "progress"), "status") != NULL;
        json_decref(j);
        if (stepped)
            break;
        usleep(100000);
    }
    usleep(500000);
    qc_run r = QC("cancel", id);
    expect(&r, 0, "cancel");
    run_free(&r);
    r = finish(w);
    expect(&r, 7, "watch on a terminal");
    ck_assert_msg(strstr(r.out, "\r\033[K[") && strstr(r.out, "epoch "), "no bar: %s", r.out);
    ck_assert_msg(strstr(r.out, "cancelled"), "%s", r.out);
    run_free(&r);
}
END_TEST

/* watch --json: one JSON object per line, the last {"event": "end", "job": ...}. */
START_TEST(test_watch_json)
{
    char id[64];
    submit(SHORT_JOB, id, sizeof id);
    qc_run r = QC("watch", id, "--json");
    expect(&r, 0, "watch --json");
    int lines = 0;
    json_t *last = NULL;
    for (char *l = strtok(r.out, "\n"); l; l = strtok(NULL, "\n"), lines++) {
        json_decref(last);
        last = json_loads(l, 0, NULL);
        ck_assert_msg(last && json_object_get(last, "event"), "not an event line: %s", l);
    }
    ck_assert_int_ge(lines, 1);
    ck_assert_str_eq(json_string_value(json_object_get(last, "event")), "end");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "job"), "state")),
                     "succeeded");
    json_decref(last);
    run_free(&r);
}
END_TEST

/* The id of the newest job with this name, once it is listed (the test fails otherwise). */
static void wait_listed(const char *name, char *id, size_t cap)
{
    for (int i = 0; i < 100; i++, usleep(50000)) {
        qc_run r = QC("list", "--name", name, "--limit", "1", "--json");
        json_t *page = json_loads(r.out, 0, NULL);
        json_t *job = json_array_get(json_object_get(page, "jobs"), 0);
        snprintf(id, cap, "%s", job ? json_string_value(json_object_get(job, "id")) : "");
        json_decref(page);
        run_free(&r);
        if (*id)
            return;
    }
    ck_abort_msg("no job named %s was listed", name);
}

/* submit --wait exits with the job's outcome: 0 succeeded, 7 cancelled, 1 failed (with the
 * reason). The failing job starts from a job that is then cancelled, so it is valid when
 * submitted and fails when it runs. */
START_TEST(test_submit_wait_outcomes)
{
    char id[64], after[2048];
    qc_run r = QC_IN(SHORT_JOB, "submit", "--wait", "--json", "-");
    expect(&r, 0, "submit --wait --json");
    json_t *j = out_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "succeeded");
    ck_assert(json_is_object(json_object_get(j, "result")));
    json_decref(j);
    run_free(&r);

    qc_proc p = spawn_env(g_url, g_token, LONG_JOB("qc-cancel-me"), ARGS("submit", "--wait", "-"));
    wait_listed("qc-cancel-me", id, sizeof id);
    r = QC("cancel", id);
    expect(&r, 0, "cancel");
    run_free(&r);
    r = finish(p);
    expect(&r, 7, "submit --wait of a cancelled job");
    ck_assert_msg(!strncmp(r.out, id, strlen(id)) && strstr(r.err, "cancelled"), "%s", r.err);
    run_free(&r);

    submit(LONG_JOB("qc-first"), id, sizeof id);
    snprintf(after, sizeof after,
             "{\"kind\": \"train\", \"name\": \"qc-after\", \"dataset\": \"synthetic\", "
             "\"model\": \"mlp\", \"init\": {\"job\": \"%s\"}}",
             id);
    p = spawn_env(g_url, g_token, after, ARGS("submit", "--wait", "-"));
    char later[64];
    wait_listed("qc-after", later, sizeof later);
    r = QC("cancel", id);
    expect(&r, 0, "cancel");
    run_free(&r);
    r = finish(p);
    expect(&r, 1, "submit --wait of a failing job");
    ck_assert_msg(strstr(r.err, "failed") && strstr(r.err, id), "%s", r.err);
    ck_assert_msg(!strncmp(r.out, later, strlen(later)), "%s", r.out);
    run_free(&r);
}
END_TEST

/* The chain a script runs: submit --wait, then read the job and fetch its model. */
START_TEST(test_train_then_fetch)
{
    char path[128], id[64];
    qc_run r = QC_IN(SHORT_JOB, "submit", "--wait", "-");
    expect(&r, 0, "submit --wait");
    snprintf(id, sizeof id, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    ck_assert_int_eq((int)strlen(id), 16);
    ck_assert_msg(strstr(r.err, "succeeded"), "%s", r.err);
    run_free(&r);

    r = QC("show", id);
    expect(&r, 0, "show");
    ck_assert_msg(strstr(r.out, "succeeded") && strstr(r.out, "accuracy") &&
                      strstr(r.out, "layers:"),
                  "%s", r.out);
    run_free(&r);
    json_t *job = show_json(id);
    double acc =
        json_number_value(json_object_get(json_object_get(job, "result"), "test_accuracy"));
    ck_assert_msg(acc > 0.5, "synthetic accuracy %f", acc);
    json_decref(job);

    r = QC("metrics", id);
    expect(&r, 0, "metrics");
    ck_assert_msg(strstr(r.out, "test_accuracy") && strstr(r.out, "\n2 "), "%s", r.out);
    run_free(&r);

    r = QC("fetch", id);
    expect(&r, 0, "fetch (list)");
    ck_assert_msg(strstr(r.out, "model.qdc"), "%s", r.out);
    run_free(&r);
    snprintf(path, sizeof path, "%s/fetched.qdc", g_state);
    r = QC("fetch", id, "model.qdc", "-o", path, "--json");
    expect(&r, 0, "fetch model.qdc");
    json_t *f = out_json(&r);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_gt(st.st_size, 0);
    ck_assert_int_eq(st.st_size, json_integer_value(json_object_get(f, "bytes")));
    json_decref(f);
    run_free(&r);
    r = QC("fetch", id, "no-such-artifact", "-o", path);
    expect(&r, 5, "fetch of a missing artifact");
    ck_assert_int_eq(stat(path, &st) == 0 && st.st_size > 0, 1); /* the earlier file stays */
    run_free(&r);
}
END_TEST

/* submit --wait with a spec made from a format and an earlier job's id; returns the exit code
 * and the new job's id (the first line quantctl prints). */
static int submit_wait_for(const char *fmt, const char *from, char *id, size_t cap, qc_run *r)
{
    char spec[1024];
    snprintf(spec, sizeof spec, fmt, from);
    *r = QC_IN(spec, "submit", "--wait", "-");
    snprintf(id, cap, "%.*s", (int)strcspn(r->out, "\n"), r->out);
    return r->code;
}

/* train -> search -> export driven only by quantctl, as DESIGN.md specifies the specs: each
 * submit --wait exits 0 only when its job succeeded, and the exported model downloads. */
START_TEST(test_train_search_export)
{
    char train[64], search[64], export[64], path[128];
    qc_run r;
    ck_assert_int_eq(submit_wait_for("%s", SHORT_JOB, train, sizeof train, &r), 0);
    run_free(&r);
    int rc = submit_wait_for(
        "{\"kind\": \"search\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "
        "\"method\": \"uniform\", \"base\": {\"job\": \"%s\"}, \"space\": {\"weight_bits\": "
        "[2, 4, 8], \"activation_bits\": [8], \"formats\": [\"int\"]}, \"budgets\": "
        "{\"total_bytes\": [100000, 400000]}, \"finetune_epochs\": 0}",
        train, search, sizeof search, &r);
    ck_assert_msg(rc == 0, "submit --wait of a search job exited %d: %s", rc, r.err);
    run_free(&r);
    rc = submit_wait_for("{\"kind\": \"export\", \"job\": \"%s\", \"candidate\": 0, "
                         "\"format\": \"qmodel\"}",
                         search, export, sizeof export, &r);
    expect(&r, 0, "submit --wait of an export job");
    run_free(&r);
    r = QC("show", search);
    expect(&r, 0, "show of the search");
    ck_assert_msg(strstr(r.out, "search uniform"), "show names no search: %s", r.out);
    run_free(&r);
    r = QC("show", export);
    expect(&r, 0, "show of the export");
    ck_assert_msg(strstr(r.out, "export qmodel of candidate 0"), "show names no export: %s", r.out);
    run_free(&r);
    r = QC("fetch", export, "--json");
    expect(&r, 0, "fetch (list)");
    json_t *list = out_json(&r), *first = json_array_get(json_object_get(list, "artifacts"), 0);
    const char *name = json_string_value(json_object_get(first, "name"));
    ck_assert_msg(name, "the export job lists no artifact: %s", r.out);
    snprintf(path, sizeof path, "%s/exported", g_state);
    qc_run f = QC("fetch", export, name, "-o", path);
    expect(&f, 0, "fetch of the exported model");
    struct stat st;
    ck_assert(stat(path, &st) == 0 && st.st_size > 0);
    run_free(&f);
    json_decref(list);
    run_free(&r);
}
END_TEST

/* list and pareto find a finished job; filters keep others out. */
START_TEST(test_list_and_pareto)
{
    char id[64];
    qc_run r = QC_IN(SHORT_JOB, "submit", "--wait", "-");
    expect(&r, 0, "submit --wait");
    snprintf(id, sizeof id, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    run_free(&r);

    r = QC("list", "--state", "succeeded", "--kind", "train");
    expect(&r, 0, "list");
    ck_assert_msg(strstr(r.out, id) && strstr(r.out, "qc-short"), "%s", r.out);
    run_free(&r);
    r = QC("list", "--state", "queued");
    expect(&r, 0, "list --state queued");
    ck_assert_msg(!strstr(r.out, id), "%s", r.out);
    run_free(&r);
    r = QC("list", "--json", "--limit", "1");
    expect(&r, 0, "list --json");
    json_t *page = out_json(&r);
    ck_assert_int_eq((int)json_array_size(json_object_get(page, "jobs")), 1);
    json_decref(page);
    run_free(&r);

    r = QC("pareto", "--dataset", "synthetic", "--model", "mlp");
    expect(&r, 0, "pareto");
    ck_assert_msg(strstr(r.out, id) && strstr(r.out, "accuracy") && strstr(r.out, "memory"), "%s",
                  r.out);
    run_free(&r);
    r = QC("pareto", "--json", "--model", "resnet20");
    expect(&r, 0, "pareto --model resnet20");
    ck_assert_msg(!strstr(r.out, id), "%s", r.out);
    run_free(&r);
}
END_TEST

static Suite *quantctl_suite(void)
{
    Suite *s = suite_create("quantctl");
    TCase *offline = tcase_create("offline");
    tcase_add_unchecked_fixture(offline, closed_port, NULL);
    tcase_add_loop_test(offline, test_usage, 0, sizeof usage_cases / sizeof usage_cases[0]);
    tcase_add_test(offline, test_connection_refused);
    suite_add_tcase(s, offline);

    TCase *served = tcase_create("served");
    tcase_add_unchecked_fixture(served, daemon_start, daemon_stop);
    tcase_set_timeout(served, 2 * RUN_TIMEOUT_S);
    tcase_add_loop_test(served, test_served, 0, sizeof served_cases / sizeof served_cases[0]);
    tcase_add_test(served, test_watch);
    tcase_add_test(served, test_watch_terminal);
    tcase_add_test(served, test_watch_json);
    tcase_add_test(served, test_submit_wait_outcomes);
    tcase_add_test(served, test_train_then_fetch);
    tcase_add_test(served, test_list_and_pareto);
    tcase_add_test(served, test_train_search_export);
    suite_add_tcase(s, served);
    return s;
}

QD_CHECK_MAIN(quantctl_suite)
