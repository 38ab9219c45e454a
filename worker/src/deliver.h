#ifndef ORDINAVO_DELIVER_H
#define ORDINAVO_DELIVER_H

/*
 * The HTTP side: many webhook POSTs in flight at once on one thread with
 * libcurl's multi interface, bounded globally and per subscription, with
 * connection reuse, timeouts, no redirects, a capped response body, and the
 * outbound address policy checked on every address actually connected.
 *
 * Used from the worker's main thread only.
 */

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

/* How much of a response body is kept (the rest is not read). */
#define DELIVER_RESPONSE_MAX 4096

typedef struct delivery delivery_t;

struct delivery {
    /* Filled by the caller before deliver_submit(); owned by the delivery
     * and freed by delivery_free(). */
    char *url;
    char *body;
    size_t body_len;
    struct curl_slist *headers;
    char *subscription_id; /* the per-subscription bound's key */
    void *opaque;          /* the caller's, untouched */

    /* Results, valid in the completion callback. */
    long http_status; /* 0 when no response */
    CURLcode result;
    bool aborted;             /* given up at shutdown, never completed */
    bool never_sent;          /* aborted while waiting: no request was made */
    bool shed;                /* taken out of a stuck subscription's queue */
    bool refused_destination; /* every address tried was refused by the
                                 outbound address policy */
    bool timed_out;           /* connect or request timeout */
    int64_t latency_ms;
    int64_t retry_after_s; /* from Retry-After; -1 when absent */
    char error[CURL_ERROR_SIZE];
    char response[DELIVER_RESPONSE_MAX + 1];
    size_t response_len;

    /* Private to deliver.c. */
    CURL *easy;
    struct deliver_slot *slot;
    delivery_t *next;  /* in its slot's queue */
    int64_t queued_ms; /* monotonic time it joined the queue */
    delivery_t *prev_all;
    delivery_t *next_all;
    bool response_truncated;
    bool allow_private;
    bool address_refused; /* some address was refused... */
    bool address_allowed; /* ...and some other may have been tried */
};

typedef struct deliver deliver_t;

/* Called once per submitted delivery when it finished or was aborted. The
 * callback owns d afterwards (free it with delivery_free()). */
typedef void (*deliver_done_fn)(delivery_t *d, void *arg);

/* Called just before a delivery's request starts (after any wait behind the
 * bounds), so that what depends on the moment of sending, such as the
 * signature timestamp, is fresh. Sets d->headers. Returns 0, or -1 to fail
 * the delivery without a request (d->error says why). */
typedef int (*deliver_prepare_fn)(delivery_t *d, void *arg);

/* A new, zeroed delivery, or NULL when out of memory. */
delivery_t *delivery_new(void);

/* Frees a delivery and what it owns. */
void delivery_free(delivery_t *d);

/* A new engine for cfg (borrowed), or NULL; errstr says why. */
deliver_t *deliver_new(const config_t *cfg, deliver_prepare_fn prepare,
                       deliver_done_fn done, void *arg, char *errstr,
                       size_t errstr_size);

/* Aborts what is still pending (each gets its callback with aborted set)
 * and frees the engine. */
void deliver_free(deliver_t *dl);

/* Starts d now, or queues it behind its subscription's bound. Takes
 * ownership of d; its callback will run from deliver_run(). */
void deliver_submit(deliver_t *dl, delivery_t *d);

/*
 * False when the subscription (key) is stuck: it has at least its in-flight
 * bound of deliveries waiting, and the oldest of them has waited
 * WEBHOOKD_MAX_QUEUE_WAIT or longer. The caller should then hand new ones to
 * a retry tier instead of queueing them. A subscription whose queue moves
 * may queue any number: the caller's global bound on pending deliveries
 * limits them, and a burst to a healthy endpoint is not shed.
 */
bool deliver_has_room(deliver_t *dl, const char *key, int64_t now_ms);

/*
 * Sheds what waits beyond the in-flight bound in the queue of every stuck
 * subscription (see deliver_has_room()), newest first; each shed delivery's
 * callback runs with shed set. This frees the global bound for the other
 * subscriptions within WEBHOOKD_MAX_QUEUE_WAIT of an endpoint hanging.
 * Returns the number shed.
 */
size_t deliver_shed_stuck(deliver_t *dl, int64_t now_ms);

/* Deliveries in flight plus those queued behind a per-subscription bound. */
size_t deliver_pending(const deliver_t *dl);

/*
 * Moves the transfers along and runs the callbacks of finished ones. Waits up
 * to timeout_ms for network activity or for one of the extra descriptors
 * (their revents are filled in). Returns the number of callbacks run.
 */
int deliver_run(deliver_t *dl, struct curl_waitfd *extra, unsigned n_extra,
                int timeout_ms);

/* Aborts every pending delivery, running their callbacks. */
void deliver_abort_all(deliver_t *dl);

/* True when an address is loopback, private, link-local, shared, multicast,
 * reserved or a cloud metadata address: a destination refused by default. */
bool deliver_address_is_private(const struct sockaddr *sa);

#endif
