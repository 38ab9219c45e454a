#ifndef ORDINAVO_BREAKER_H
#define ORDINAVO_BREAKER_H

/*
 * A circuit breaker per endpoint. After `threshold` consecutive failures
 * (no answer, timeout, 429 or 5xx) the breaker opens: deliveries to the
 * endpoint skip the request and go to the retry tiers. After `cooldown_ms`
 * one probe request is let through (half-open); its success closes the
 * breaker, its failure opens it for another cooldown. A probe not reported
 * within a further cooldown counts as lost, and another is let through.
 * A late report of a request sent before the breaker opened is taken as it
 * comes: a success closes the breaker, a failure changes nothing, also
 * while the probe is out.
 *
 * Time is passed in (monotonic ms), so the logic is testable.
 * Used from the worker's main thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct breakers breakers_t;

typedef enum breaker_decision {
    BREAKER_ALLOW = 0, /* closed: send */
    BREAKER_PROBE,     /* half-open: send, this is the probe */
    BREAKER_SKIP       /* open, or a probe is already out: do not send */
} breaker_decision_t;

/* A new set of breakers, or NULL when out of memory. */
breakers_t *breakers_new(int threshold, int64_t cooldown_ms);

/* Frees every breaker. */
void breakers_free(breakers_t *b);

/* Whether a request to endpoint may be sent now. */
breaker_decision_t breakers_check(breakers_t *b, const char *endpoint,
                                  int64_t now_ms);

/* Reports the outcome of a request that breakers_check() allowed. failure
 * is true for no answer, a timeout, 429 or 5xx; probe is true when the
 * check answered BREAKER_PROBE for it. Returns true when this report opened
 * the breaker (for logging). */
bool breakers_report(breakers_t *b, const char *endpoint, bool failure,
                     bool probe, int64_t now_ms);

/* True when the endpoint's breaker is open or half-open. */
bool breakers_is_open(breakers_t *b, const char *endpoint, int64_t now_ms);

/* The endpoint key of a URL: scheme, host and port, lower-cased
 * ("https://erp.example.com:443"). Writes at most size bytes; returns 0,
 * or -1 when the URL has no scheme or host. */
int breakers_endpoint(const char *url, char *buf, size_t size);

#endif
