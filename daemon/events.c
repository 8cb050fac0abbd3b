/*
 * events.c: the event hub behind server-sent events (events.h).
 *
 * One mutex guards a list of topics, one per job that has subscribers, and one (EVENTS_ALL) that
 * gets a copy of every event while anyone watches all jobs. A topic holds a ring of its last
 * EVENTS_RING events and a condition variable its subscribers wait on. Publishing to
 * a job nobody watches costs one list walk under the mutex and nothing else. A topic is freed
 * with its last subscriber.
 */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct topic {
    char job[32];
    events_msg ring[EVENTS_RING];
    unsigned n;              /* events published to this topic; the next goes to ring[n % RING] */
    int refs;
    pthread_cond_t cv;
    struct topic *next;
} topic;

struct events {
    pthread_mutex_t mu;
    topic *topics;
    uint64_t next_id;
    int closing;
};

struct events_sub {
    events *ev;
    topic *t;
    uint64_t cursor; /* the last event id this subscriber has had */
};

events *events_create(void)
{
    events *ev = calloc(1, sizeof *ev);
    if (ev)
        pthread_mutex_init(&ev->mu, NULL);
    return ev;
}

static void topic_free(topic *t)
{
    for (int i = 0; i < EVENTS_RING; i++)
        free(t->ring[i].data);
    pthread_cond_destroy(&t->cv);
    free(t);
}

void events_free(events *ev)
{
    if (!ev)
        return;
    for (topic *t = ev->topics, *next; t; t = next) {
        next = t->next;
        topic_free(t);
    }
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

static topic *find(events *ev, const char *job)
{
    for (topic *t = ev->topics; t; t = t->next)
        if (strcmp(t->job, job) == 0)
            return t;
    return NULL;
}

static void put(topic *t, uint64_t id, const char *job, const char *type, const char *data,
                int final)
{
    events_msg *m = &t->ring[t->n++ % EVENTS_RING];
    free(m->data);
    *m = (events_msg){.id = id, .data = strdup(data), .final = final};
    strncpy(m->job, job, sizeof m->job - 1);
    strncpy(m->type, type, sizeof m->type - 1);
    pthread_cond_broadcast(&t->cv);
}

void events_publish(events *ev, const char *job, const char *type, const char *data, int final)
{
    pthread_mutex_lock(&ev->mu);
    uint64_t id = ++ev->next_id;
    topic *t = find(ev, job), *all = find(ev, EVENTS_ALL);
    if (t)
        put(t, id, job, type, data, final);
    if (all)
        put(all, id, job, type, data, final);
    pthread_mutex_unlock(&ev->mu);
}

events_sub *events_subscribe(events *ev, const char *job, uint64_t after)
{
    events_sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_lock(&ev->mu);
    topic *t = find(ev, job);
    if (!t && (t = calloc(1, sizeof *t))) {
        strncpy(t->job, job, sizeof t->job - 1);
        pthread_cond_init(&t->cv, NULL);
        t->next = ev->topics;
        ev->topics = t;
    }
    if (t)
        t->refs++;
    /* an id from the future (or from an earlier run of the daemon) means "from now" */
    *s = (events_sub){.ev = ev, .t = t,
                      .cursor = after && after <= ev->next_id ? after : ev->next_id};
    pthread_mutex_unlock(&ev->mu);
    if (!t) {
        free(s);
        return NULL;
    }
    return s;
}

void events_unsubscribe(events_sub *s)
{
    if (!s)
        return;
    events *ev = s->ev;
    pthread_mutex_lock(&ev->mu);
    if (--s->t->refs == 0) {
        for (topic **p = &ev->topics; *p; p = &(*p)->next)
            if (*p == s->t) {
                *p = s->t->next;
                break;
            }
        topic_free(s->t);
    }
    pthread_mutex_unlock(&ev->mu);
    free(s);
}

/* The oldest event in the ring after the cursor, or NULL. Called with the mutex held. */
static events_msg *after(topic *t, uint64_t cursor)
{
    events_msg *best = NULL;
    for (int i = 0; i < EVENTS_RING; i++) {
        events_msg *m = &t->ring[i];
        if (m->data && m->id > cursor && (!best || m->id < best->id))
            best = m;
    }
    return best;
}

int events_next(events_sub *s, int timeout_ms, events_msg *out)
{
    events *ev = s->ev;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&ev->mu);
    for (;;) {
        events_msg *m = ev->closing ? NULL : after(s->t, s->cursor);
        if (ev->closing) {
            rc = -1;
        } else if (m) {
            *out = *m;
            out->data = strdup(m->data);
            s->cursor = m->id;
            rc = out->data ? 1 : -1;
        } else if (pthread_cond_timedwait(&s->t->cv, &ev->mu, &until) != ETIMEDOUT) {
            continue;
        }
        break;
    }
    pthread_mutex_unlock(&ev->mu);
    return rc;
}

void events_shutdown(events *ev)
{
    pthread_mutex_lock(&ev->mu);
    ev->closing = 1;
    for (topic *t = ev->topics; t; t = t->next)
        pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&ev->mu);
}
