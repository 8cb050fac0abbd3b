/*
 * cmd_serve.c: `quantd serve`, the daemon.
 *
 * Start-up, in order: settings (config.c); the state directory and its lock (one daemon per
 * state directory); the store, migrated; the loopback rule (listening beyond loopback needs a
 * token); recovery of jobs a crash left running; the HTTP server; the workers; signals; then
 * READY=1 to systemd and the libuv loop until the end.
 *
 * Stopping (SIGTERM or SIGINT): STOPPING=1, no more jobs are started, running jobs are asked to
 * stop at their next step and are requeued as they stop (they resume from their last epoch
 * checkpoint at the next start); the API keeps answering meanwhile. When the workers are idle
 * the loop ends and everything is freed. If they are not idle within --grace seconds, or on a
 * second signal, the running jobs are requeued in the store and the process exits at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#ifdef QD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cli.h"
#include "http.h"
#include "log.h"
#include "qtime.h"
#include "sched.h"

typedef struct server {
    serve_config cfg;
    qd_app app;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t grace, watchdog;
    http_server *http;
    int lock_fd, stopping;
} server;

static void notify(const char *state)
{
#ifdef QD_HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

/* ---- stopping ---- */

static void force_exit(server *sv, const char *why)
{
    qd_err err = {0};
    int n = store_requeue_running(sv->app.st, "daemon stopped before the job could", qtime_now_ms(),
                                  &err);
    if (n < 0)
        log_msg(LOG_ERROR, "could not requeue the running jobs: %s", err.msg);
    else
        log_msg(LOG_WARN, "%s: %d running job(s) requeued; exiting now", why, n);
    _exit(0);
}

static void on_drained(void *ctx)
{
    server *sv = ctx;
    log_msg(LOG_INFO, "workers stopped; closing");
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    /* closing the handles restored the default action: a second signal now would kill the
     * process (status 143) in the middle of a clean exit with nothing left to requeue */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    uv_close((uv_handle_t *)&sv->grace, NULL);
    uv_close((uv_handle_t *)&sv->watchdog, NULL);
    sched_close(sv->app.sc);
}

static void on_grace(uv_timer_t *t) { force_exit(t->data, "grace period over"); }

static void on_signal(uv_signal_t *h, int signum)
{
    server *sv = h->data;
    if (sv->stopping)
        force_exit(sv, "second signal");
    sv->stopping = 1;
    notify("STOPPING=1");
    log_msg(LOG_INFO, "%s: stopping; running jobs are requeued (grace %.0f s)", strsignal(signum),
            sv->cfg.grace);
    uv_timer_start(&sv->grace, on_grace, (uint64_t)(sv->cfg.grace * 1000.0), 0);
    sched_drain(sv->app.sc, on_drained, sv);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    notify("WATCHDOG=1");
}

/* ---- starting ---- */

static int lock_state(server *sv, qd_err *err)
{
    char path[CONFIG_PATH + 32];
    int rc = cli_mkdirs(sv->cfg.state, err);
    snprintf(path, sizeof path, "%s/jobs", sv->cfg.state);
    if (rc == 0)
        rc = cli_mkdirs(path, err);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/quantd.lock", sv->cfg.state);
    sv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (sv->lock_fd < 0)
        return qd_fail(err, QD_EIO, "state", "cannot open %s: %s", path, strerror(errno));
    if (flock(sv->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return qd_fail(err, QD_ECONFLICT, "state", "another quantd is serving %s", sv->cfg.state);
    return 0;
}

/* The store, the loopback rule and the recovery of jobs a crash left running. */
static int open_store(server *sv, qd_err *err)
{
    struct sockaddr_storage addr;
    socklen_t len;
    int loopback, requeued, failed;
    char path[CONFIG_PATH + 32];
    int rc = http_parse_listen(sv->cfg.listen, &addr, &len, &loopback, err);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/quantd.db", sv->cfg.state);
    if ((rc = store_open(&sv->app.st, path, err)) < 0)
        return rc;
    if (!loopback) {
        int active = store_token_active(sv->app.st, err);
        if (active <= 0)
            return active < 0 ? active
                              : qd_fail(err, QD_EFORBIDDEN, "listen",
                                        "refusing to listen on %s without tokens: create one "
                                        "with `quantd token create --team NAME --state %s`, or "
                                        "listen on 127.0.0.1",
                                        sv->cfg.listen, sv->cfg.state);
        sv->app.public_listen = 1;
    }
    if ((rc = store_recover(sv->app.st, sv->cfg.max_crashes, qtime_now_ms(), &requeued, &failed,
                            err)) < 0)
        return rc;
    if (requeued || failed)
        log_msg(LOG_WARN, "recovered from a crash: %d job(s) requeued, %d failed after %d crashes",
                requeued, failed, sv->cfg.max_crashes);
    return 0;
}

static int start(server *sv, qd_err *err)
{
    qd_app *a = &sv->app;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = sv->cfg.workers ? sv->cfg.workers : 1;
    a->cfg = &sv->cfg;
    a->started_ms = qtime_now_ms();
    a->threads = sv->cfg.threads ? sv->cfg.threads : (int)(cores / workers > 1 ? cores / workers : 1);
    if ((long)sv->cfg.workers * a->threads > cores)
        log_msg(LOG_WARN, "%d workers x %d threads is more than the %ld cores", sv->cfg.workers,
                a->threads, cores);
    int rc = lock_state(sv, err);
    if (rc == 0)
        rc = open_store(sv, err);
    if (rc < 0)
        return rc;
    if (!(a->ev = events_create()) || !(a->mx = http_metrics_create()))
        return qd_fail(err, QD_ENOMEM, NULL, "out of memory");
    uv_loop_init(&sv->loop);
    if ((rc = http_start(&sv->http, a, err)) < 0 || (rc = sched_create(&a->sc, &sv->loop, a, err)) < 0)
        return rc;
    uv_signal_init(&sv->loop, &sv->sigterm);
    uv_signal_init(&sv->loop, &sv->sigint);
    uv_timer_init(&sv->loop, &sv->grace);
    uv_timer_init(&sv->loop, &sv->watchdog);
    sv->sigterm.data = sv->sigint.data = sv->grace.data = sv->watchdog.data = sv;
    uv_signal_start(&sv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&sv->sigint, on_signal, SIGINT);
#ifdef QD_HAVE_SYSTEMD
    uint64_t usec;
    if (sd_watchdog_enabled(0, &usec) > 0)
        uv_timer_start(&sv->watchdog, on_watchdog, usec / 2000, usec / 2000);
#endif
    return 0;
}

static void cleanup(server *sv)
{
    if (sv->app.ev)
        events_shutdown(sv->app.ev);
    http_stop(sv->http);
    sched_free(sv->app.sc);
    if (sv->app.sc || sv->http)
        uv_loop_close(&sv->loop);
    store_close(sv->app.st);
    events_free(sv->app.ev);
    metrics_free(sv->app.mx);
    if (sv->lock_fd > 0)
        close(sv->lock_fd);
}

int cmd_serve(int argc, char **argv)
{
    double t0 = qtime_mono();
    int status;
    server *sv = calloc(1, sizeof *sv);
    if (!sv)
        return 1;
    if (config_load(&sv->cfg, argc, argv, &status)) {
        free(sv);
        return status;
    }
    log_set_level(log_level_parse(sv->cfg.log_level));
    signal(SIGPIPE, SIG_IGN);
    qd_err err = {0};
    int rc = start(sv, &err);
    if (rc == 0) {
        log_msg(LOG_INFO, "quantd %s serving http://%s (port %d), state %s, %d worker(s) x %d "
                "thread(s), schema %d; ready in %.1f ms", QUANTD_VERSION, sv->cfg.listen,
                http_port(sv->http), sv->cfg.state, sv->cfg.workers, sv->app.threads,
                store_schema_version(sv->app.st), (qtime_mono() - t0) * 1000.0);
        notify("READY=1");
        uv_run(&sv->loop, UV_RUN_DEFAULT);
        log_msg(LOG_INFO, "stopped");
    } else {
        log_msg(LOG_ERROR, "cannot start: %s", err.msg[0] ? err.msg : qd_err_message(rc));
    }
    cleanup(sv);
    free(sv);
    return rc == 0 ? 0 : rc == QD_EFORBIDDEN || rc == QD_EINVAL ? 2 : 1;
}
