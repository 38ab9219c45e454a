/* Prometheus metrics; see metrics.h. */

#include "metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static const struct {
    const char *name;
    const char *help;
} counter_info[M_COUNTER__COUNT] = {
    [M_EVENTS_CONSUMED] = {"webhookd_events_consumed_total",
                           "Domain event messages taken from Kafka."},
    [M_EVENTS_DECODE_ERROR] = {"webhookd_events_decode_error_total",
                               "Messages that could not be decoded."},
    [M_EVENTS_INVALID] = {"webhookd_events_invalid_total",
                          "Decoded messages that are not valid events."},
    [M_EVENTS_UNMATCHED] = {"webhookd_events_unmatched_total",
                            "Events no subscription matched."},
    [M_SUBSCRIPTIONS_SKIPPED] = {"webhookd_subscriptions_skipped_total",
                                 "Malformed subscription documents skipped."},
    [M_CACHE_HITS] = {"webhookd_cache_hits_total",
                      "Subscription and context lookups served from memory."},
    [M_CACHE_MISSES] = {"webhookd_cache_misses_total",
                        "Subscription and context lookups read from Redis."},
    [M_REDIS_ERRORS] = {"webhookd_redis_errors_total",
                        "Redis commands that failed or connections lost."},
    [M_PRODUCE_ERRORS] = {"webhookd_produce_errors_total",
                          "Retry, dead-letter or attempt writes that failed "
                          "and were tried again."},
    [M_BREAKER_OPENED] = {"webhookd_circuit_breaker_opened_total",
                          "Times an endpoint's circuit breaker opened."},
};

static const char *const reason_names[REASON__COUNT] = {
    [REASON_EXHAUSTED] = "exhausted",
    [REASON_ENDPOINT_GONE] = "endpoint_gone",
    [REASON_DECODE_ERROR] = "decode_error",
    [REASON_INVALID_EVENT] = "invalid_event",
    [REASON_SUBSCRIPTION_INACTIVE] = "subscription_inactive",
};

static char tier_labels[METRICS_TIERS_MAX][16];
static size_t n_tiers;
static atomic_uint_fast64_t retries[METRICS_TIERS_MAX];
static atomic_uint_fast64_t reasons[REASON__COUNT];

void metrics_set_tier_label(size_t tier, const char *label)
{
    if (tier < METRICS_TIERS_MAX) {
        snprintf(tier_labels[tier], sizeof(tier_labels[tier]), "%s", label);
        if (tier >= n_tiers) {
            n_tiers = tier + 1;
        }
    }
}

void metrics_retry(size_t tier)
{
    if (tier < METRICS_TIERS_MAX) {
        atomic_fetch_add_explicit(&retries[tier], 1, memory_order_relaxed);
    }
}

void metrics_reason(metric_reason_t r)
{
    atomic_fetch_add_explicit(&reasons[r], 1, memory_order_relaxed);
}

static const struct {
    const char *name;
    const char *help;
} gauge_info[G__COUNT] = {
    [G_INFLIGHT] = {"webhookd_inflight_deliveries", "HTTP requests in flight."},
    [G_QUEUED] = {"webhookd_queued_deliveries",
                  "Deliveries waiting for a per-subscription slot."},
    [G_REDIS_UP] = {"webhookd_redis_up", "1 while Redis answers."},
    [G_READY] = {"webhookd_ready", "1 while the worker takes new events."},
    [G_ASSIGNED_PARTITIONS] = {"webhookd_assigned_partitions",
                               "Kafka partitions assigned to this worker."},
    [G_LAST_LOOP_MS] = {"webhookd_last_loop_timestamp_ms",
                        "Wall-clock time of the worker loop's last turn."},
    [G_UNRESOLVED] = {"webhookd_unresolved_messages",
                      "Consumed messages not yet delivered, dropped or "
                      "handed off; their offsets are not committed."},
};

static const char *const result_names[RESULT__COUNT] = {
    [RESULT_DELIVERED] = "delivered",
    [RESULT_FAILED] = "failed",
    [RESULT_ERROR] = "error",
};

/* Latency buckets in milliseconds; the exposition uses seconds. */
static const int64_t bucket_ms[] = {5,   10,   25,   50,   100,   250,
                                    500, 1000, 2500, 5000, 10000, 30000};
#define N_BUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

static atomic_uint_fast64_t counters[M_COUNTER__COUNT];
static atomic_int_fast64_t gauges[G__COUNT];
static atomic_uint_fast64_t results[RESULT__COUNT];
static atomic_uint_fast64_t latency_buckets[N_BUCKETS + 1];
static atomic_uint_fast64_t latency_sum_ms;

void metrics_add(metric_counter_t c, uint64_t n)
{
    atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

void metrics_set(metric_gauge_t g, int64_t v)
{
    atomic_store_explicit(&gauges[g], v, memory_order_relaxed);
}

int64_t metrics_get(metric_gauge_t g)
{
    return atomic_load_explicit(&gauges[g], memory_order_relaxed);
}

void metrics_delivery(metric_result_t r, int64_t latency_ms)
{
    size_t b = 0;

    atomic_fetch_add_explicit(&results[r], 1, memory_order_relaxed);
    while (b < N_BUCKETS && latency_ms > bucket_ms[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&latency_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency_sum_ms,
                              (uint64_t)(latency_ms > 0 ? latency_ms : 0),
                              memory_order_relaxed);
}

/* A growing text buffer for the exposition. */
typedef struct out {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
} out_t;

__attribute__((format(printf, 2, 3))) static void put(out_t *o, const char *fmt,
                                                      ...)
{
    va_list ap;

    if (o->failed) {
        return;
    }
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n + 1) * 2;
        char *grown = realloc(o->buf, cap);
        if (grown == NULL) {
            o->failed = true;
            return;
        }
        o->buf = grown;
        o->cap = cap;
    }
}

static uint64_t load(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

char *metrics_render(size_t *len)
{
    out_t o = {malloc(4096), 0, 4096, false};
    uint64_t cumulative = 0;

    if (o.buf == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < M_COUNTER__COUNT; i++) {
        put(&o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
            counter_info[i].name, counter_info[i].help, counter_info[i].name,
            counter_info[i].name, (unsigned long long)load(&counters[i]));
    }
    for (size_t i = 0; i < G__COUNT; i++) {
        put(&o, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", gauge_info[i].name,
            gauge_info[i].help, gauge_info[i].name, gauge_info[i].name,
            (long long)atomic_load_explicit(&gauges[i], memory_order_relaxed));
    }

    put(&o, "# HELP webhookd_deliveries_total Delivery attempts by result.\n"
            "# TYPE webhookd_deliveries_total counter\n");
    for (size_t i = 0; i < RESULT__COUNT; i++) {
        put(&o, "webhookd_deliveries_total{result=\"%s\"} %llu\n",
            result_names[i], (unsigned long long)load(&results[i]));
    }

    put(&o, "# HELP webhookd_retries_total Records written to each retry "
            "tier.\n# TYPE webhookd_retries_total counter\n");
    for (size_t i = 0; i < n_tiers; i++) {
        put(&o, "webhookd_retries_total{tier=\"%s\"} %llu\n", tier_labels[i],
            (unsigned long long)load(&retries[i]));
    }
    put(&o, "# HELP webhookd_dead_letters_total Deliveries and messages "
            "dead-lettered or dropped, by reason.\n"
            "# TYPE webhookd_dead_letters_total counter\n");
    for (size_t i = 0; i < REASON__COUNT; i++) {
        put(&o, "webhookd_dead_letters_total{reason=\"%s\"} %llu\n",
            reason_names[i], (unsigned long long)load(&reasons[i]));
    }

    put(&o, "# HELP webhookd_delivery_latency_seconds Time from request "
            "start to the end of the response.\n"
            "# TYPE webhookd_delivery_latency_seconds histogram\n");
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cumulative += load(&latency_buckets[b]);
        put(&o, "webhookd_delivery_latency_seconds_bucket{le=\"%g\"} %llu\n",
            (double)bucket_ms[b] / 1000.0, (unsigned long long)cumulative);
    }
    cumulative += load(&latency_buckets[N_BUCKETS]);
    /* The sum to the millisecond: %g keeps 6 digits, so a long-running
     * worker's sum would stop moving and rate() of it would read zero. */
    put(&o,
        "webhookd_delivery_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
        "webhookd_delivery_latency_seconds_sum %.3f\n"
        "webhookd_delivery_latency_seconds_count %llu\n",
        (unsigned long long)cumulative, (double)load(&latency_sum_ms) / 1000.0,
        (unsigned long long)cumulative);

    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
