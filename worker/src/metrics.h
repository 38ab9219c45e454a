#ifndef ORDINAVO_METRICS_H
#define ORDINAVO_METRICS_H

/*
 * Process-wide counters and gauges, written by the worker thread and read by
 * the HTTP thread that serves /metrics in the Prometheus text format.
 * Plain relaxed atomics: a scrape may see counters a moment apart, which
 * Prometheus tolerates.
 */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum metric_result {
    RESULT_DELIVERED = 0,
    RESULT_FAILED, /* non-2xx answer */
    RESULT_ERROR,  /* no answer: connect error, timeout, refused address */
    RESULT__COUNT
} metric_result_t;

typedef enum metric_counter {
    M_EVENTS_CONSUMED = 0,
    M_EVENTS_DECODE_ERROR,
    M_EVENTS_INVALID,
    M_EVENTS_UNMATCHED,
    M_SUBSCRIPTIONS_SKIPPED,
    M_CACHE_HITS,
    M_CACHE_MISSES,
    M_REDIS_ERRORS,
    M_PRODUCE_ERRORS,
    M_BREAKER_OPENED,
    M_COUNTER__COUNT
} metric_counter_t;

typedef enum metric_gauge {
    G_INFLIGHT = 0,
    G_QUEUED,
    G_REDIS_UP,
    G_READY,
    G_ASSIGNED_PARTITIONS,
    G_LAST_LOOP_MS, /* wall-clock ms of the worker loop's last turn */
    G_UNRESOLVED,   /* consumed messages whose work is not all resolved */
    G__COUNT
} metric_gauge_t;

/* Why a delivery left the retry path without being delivered. */
typedef enum metric_reason {
    REASON_EXHAUSTED = 0,
    REASON_ENDPOINT_GONE,
    REASON_DECODE_ERROR,
    REASON_INVALID_EVENT,
    REASON_SUBSCRIPTION_INACTIVE, /* dropped, not dead-lettered */
    REASON__COUNT
} metric_reason_t;

#define METRICS_TIERS_MAX 16

/* Names the retry tiers for the retries_total{tier=...} series. */
void metrics_set_tier_label(size_t tier, const char *label);

/* Counts a record written to retry tier `tier`. */
void metrics_retry(size_t tier);

/* Counts a dead letter (or a drop) by reason. */
void metrics_reason(metric_reason_t r);

/* Adds n to a counter. */
void metrics_add(metric_counter_t c, uint64_t n);

/* Sets a gauge. */
void metrics_set(metric_gauge_t g, int64_t v);

/* Reads a gauge. */
int64_t metrics_get(metric_gauge_t g);

/* Counts one finished delivery attempt and its latency. */
void metrics_delivery(metric_result_t r, int64_t latency_ms);

/*
 * Writes the Prometheus exposition into a new buffer (caller frees) and its
 * length into *len. Returns NULL when out of memory.
 */
char *metrics_render(size_t *len);

#endif
