/*
 * app.h: what the parts of `quantd serve` share: the settings, the store, the event hub, the
 * metrics and the scheduler. Built by cmd_serve.c, which owns every member; the HTTP handlers
 * and the workers borrow it.
 */
#ifndef QD_APP_H
#define QD_APP_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "events.h"
#include "metrics.h"
#include "store.h"

struct sched;

typedef struct qd_app {
    const serve_config *cfg;
    store *st;
    events *ev;
    metrics *mx;
    struct sched *sc;
    int threads;         /* threads per job, resolved from the settings */
    int public_listen;   /* listening beyond loopback: every call needs a token */
    int64_t started_ms;  /* wall clock at start */
    _Atomic int64_t tokens_checked; /* when the count of active tokens was last read (ms) */
    atomic_int tokens_active;       /* that count */
} qd_app;

#endif
