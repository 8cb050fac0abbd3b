/*
 * events.h: live job events for server-sent events (GET /api/v1/jobs/{id}/events).
 *
 * Workers publish events (state, progress, epoch, artifact) by job id; HTTP connection threads
 * subscribe to one job, or to EVENTS_ALL (every job's events: the web page's live job list),
 * and wait for the events after the last one they sent. Events are kept
 * per job in a ring of EVENTS_RING while anyone is subscribed to that job, so a subscriber that
 * falls behind by more than the ring skips ahead. Event ids grow by one across the whole
 * daemon, so "Last-Event-ID" resumes a stream after a reconnection.
 * Ownership: events_create/events_free; a subscription from events_subscribe is freed by
 * events_unsubscribe; events_next fills a message whose data the caller frees.
 */
#ifndef QD_EVENTS_H
#define QD_EVENTS_H

#include <stdint.h>

#define EVENTS_RING 64
#define EVENTS_ALL "*" /* the topic that receives every job's events */

typedef struct events events;
typedef struct events_sub events_sub;

typedef struct events_msg {
    uint64_t id;
    char job[32];  /* the job the event is about */
    char type[16]; /* "state", "progress", "epoch", "artifact" */
    char *data;    /* one line of JSON */
    int final;     /* the job reached a final state: the stream ends after this event */
} events_msg;

events *events_create(void);
void events_free(events *ev);

/* Any thread. Copies type and data; dropped when nobody is subscribed to the job. */
void events_publish(events *ev, const char *job_id, const char *type, const char *data,
                    int final);
/* Subscribes to the events of job_id (or EVENTS_ALL) after event id `after` (0: only events to
 * come). */
events_sub *events_subscribe(events *ev, const char *job_id, uint64_t after);
void events_unsubscribe(events_sub *s);
/* Waits up to timeout_ms for the subscriber's next event. Returns 1 with *out filled, 0 on
 * timeout, -1 when the daemon is stopping. */
int events_next(events_sub *s, int timeout_ms, events_msg *out);
/* Wakes every subscriber; events_next returns -1 from now on. */
void events_shutdown(events *ev);

#endif
