#ifndef ORDINAVO_CACHE_H
#define ORDINAVO_CACHE_H

/*
 * The worker's view of the Redis cache that Ordinavo core writes (SPEC
 * section 3): tenants' subscriptions and CustomerContext records, kept in
 * memory for at most WEBHOOKD_CACHE_TTL and dropped as soon as core
 * announces a subscription change on the pub/sub channel.
 *
 * A missing key is an answer (the record is unknown); an unreachable Redis is
 * an outage, reported as CACHE_DOWN so the caller can hold the event back
 * instead of sending it unenriched. Used from the worker's main thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "render.h"
#include "subscription.h"

#define CACHE_CHANGES_CHANNEL "ordinavo:webhook-subscriptions:changed"

typedef enum cache_status {
    CACHE_OK = 0,
    CACHE_DOWN /* Redis unreachable or failing; nothing was answered */
} cache_status_t;

typedef struct cache cache_t;

/* A tenant's valid subscriptions (malformed documents already skipped). */
typedef struct cache_subscriptions {
    subscription_t *v;
    size_t n;
} cache_subscriptions_t;

/* Which CustomerContext records an event needs. */
typedef struct cache_wants {
    bool customer;
    bool location;
    bool contact;
} cache_wants_t;

/* A new cache for cfg's Redis; it connects lazily. NULL when out of memory.
 * cfg is borrowed and must outlive the cache. */
cache_t *cache_new(const config_t *cfg);

/* Closes the connections and frees everything. */
void cache_free(cache_t *c);

/* True while the last command succeeded (or the first has not been sent). */
bool cache_is_up(const cache_t *c);

/*
 * Connects (both the command and the pub/sub connection) if not connected,
 * at most once every 500 ms while Redis is down. A new connection starts
 * with no subscription cached (changes announced meanwhile were missed), so
 * this invalidates what cache_subscriptions() gave out: call it only where
 * nothing from the cache is held. The lookups below never connect; they
 * answer CACHE_DOWN until this has succeeded.
 */
cache_status_t cache_connect(cache_t *c);

/*
 * The tenant's subscriptions, from memory or Redis. *out is borrowed and
 * stays valid until the next call into the cache.
 */
cache_status_t cache_subscriptions(cache_t *c, int64_t tenant_id,
                                   const cache_subscriptions_t **out);

/*
 * Fills *ctx with the records ev refers to, as far as wants asks, reading
 * the ones not in memory from Redis in one pipelined round trip. Each record
 * is a new reference (NULL for a missing key) that the caller releases with
 * cache_context_release().
 */
cache_status_t cache_context(cache_t *c, const event_t *ev, cache_wants_t wants,
                             render_context_t *ctx);

/* Releases the records cache_context() gave out and zeroes *ctx. */
void cache_context_release(render_context_t *ctx);

/* The pub/sub connection's socket, to wait on; -1 when not connected. */
int cache_changes_fd(const cache_t *c);

/* Reads what arrived on the pub/sub connection (call when its socket is
 * readable) and drops the cached subscriptions of the tenants named. */
void cache_read_changes(cache_t *c);

#endif
