#ifndef ORDINAVO_RECORD_H
#define ORDINAVO_RECORD_H

/*
 * Retry and dead-letter records (SPEC section 6): the JSON documents the
 * worker writes to the retry topics and the dead-letter topic, and reads
 * back from the retry topics; plus the retry schedule arithmetic.
 *
 * A record carries the rendered body (already allow-listed), ids, times and
 * the attempt history; never a secret, a header or an inbound field value.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the domain event came from. */
typedef struct record_origin {
    char *topic;
    int32_t partition;
    int64_t offset;
} record_origin_t;

/* One attempt, as kept in the "attempts" history. */
typedef struct record_attempt {
    const char *delivery_id;
    int64_t at_ms;     /* wall clock, Unix ms */
    long http_status;  /* 0: no response (written as null) */
    const char *error; /* NULL when the endpoint answered 2xx/any */
    int64_t latency_ms;
    const char *response; /* response body bytes, may be NULL */
    size_t response_len;
} record_attempt_t;

/* At most this much of a response body goes into the history. */
#define RECORD_SNIPPET_MAX 512

/* A parsed retry record (the fields the worker needs to resend). */
typedef struct record {
    json_t *root; /* owns everything below */
    const char *event_id;
    const char *event_type;
    int64_t tenant_id;
    const char *subscription_id;
    int attempt; /* attempts made so far */
    int64_t first_attempt_ms;
    int64_t next_attempt_ms;
    record_origin_t origin; /* topic borrowed from root */
    json_t *body;           /* borrowed: the rendered payload object */
    json_t *attempts;       /* borrowed: the history array */
} record_t;

/*
 * Returns a new history entry object for a. The response is cut to
 * RECORD_SNIPPET_MAX bytes (never inside a UTF-8 sequence) and repaired
 * to valid UTF-8. NULL when out of memory.
 */
json_t *record_attempt_json(const record_attempt_t *a);

/*
 * Builds a retry record (reason NULL) or a dead-letter record (reason set,
 * e.g. "exhausted", "endpoint_gone"). body and attempts are borrowed (the
 * record takes its own references). Returns a new object, or NULL.
 * Keys, in order: eventId, eventType, tenantId, subscriptionId, attempt,
 * firstAttemptAtUtc, nextAttemptAtUtc (null for dead letters), reason (dead
 * letters only), origin {topic, partition, offset}, body, attempts.
 */
json_t *record_build(const char *event_id, const char *event_type,
                     int64_t tenant_id, const char *subscription_id,
                     int attempt, int64_t first_attempt_ms,
                     int64_t next_attempt_ms, const char *reason,
                     const record_origin_t *origin, json_t *body,
                     json_t *attempts);

/*
 * Builds the dead-letter record of an inbound message that could not be
 * decoded or validated: reason ("decode_error" or "invalid_event"), error
 * (a description without field values), origin, the message key and value
 * in base64 ("rawKey" null when there is none, "rawValue"), the value's
 * full length, whether rawValue holds only its first raw_max bytes (so
 * that a huge message still makes a dead letter Kafka accepts; the whole
 * message stays at its origin), and the time. Keys, in order: reason,
 * error, origin, rawKey, rawValue (null for a tombstone, value NULL),
 * rawValueBytes, rawValueTruncated, atUtc. Returns a new object, or NULL.
 */
json_t *record_build_undecodable(const char *reason, const char *error,
                                 const record_origin_t *origin, const void *key,
                                 size_t key_len, const void *value,
                                 size_t value_len, size_t raw_max,
                                 int64_t at_ms);

/*
 * Parses a retry record. Returns 0 and fills *r (release with
 * record_clear()), or -1 with errstr saying what is wrong (no values).
 * Takes no ownership of buf. Every field above is required and checked
 * (a dead letter, whose nextAttemptAtUtc is null, is refused); keys the
 * record_t does not hold are ignored. On failure *r is zeroed.
 */
int record_parse(const void *buf, size_t len, record_t *r, char *errstr,
                 size_t errstr_size);

/* Releases what *r owns. Safe on a zeroed record. */
void record_clear(record_t *r);

/* Writes Unix ms as RFC 3339 UTC with milliseconds and Z
 * ("2026-06-25T14:31:00.000Z") into buf (at least 32 bytes). */
void record_format_utc(int64_t ms, char *buf, size_t size);

/* Parses what record_format_utc() writes (fraction optional). Returns 0, or
 * -1 when malformed. */
int record_parse_utc(const char *s, int64_t *ms);

/*
 * The topic label of a delay: "10s", "1m", "2h", "24h", "500ms"; the
 * largest whole unit among h, m, s that divides it, else ms.
 */
void record_delay_label(int64_t delay_ms, char *buf, size_t size);

/* Why an attempt failed, for the delay rules of SPEC section 5. */
typedef struct record_failure {
    long http_status;      /* 0: no response */
    bool timed_out;        /* the request hit its timeout */
    int64_t retry_after_s; /* from the response; -1 when absent */
} record_failure_t;

/*
 * The delay before the next attempt after attempt number `attempt` (1-based)
 * failed, given the schedule of n delays: schedule[attempt - 1] with a
 * jitter factor (jitter in [-1, 1] scales to +-10 %); then at least
 * retry_after (for 429 or 503, capped at the last delay of the schedule),
 * and at least min_backoff_ms after a 429 or a timeout. Returns -1 when
 * attempt > n: the schedule is exhausted.
 */
int64_t record_next_delay(const int64_t *schedule, size_t n, int attempt,
                          const record_failure_t *f, int64_t min_backoff_ms,
                          double jitter);

/*
 * The index of the schedule delay whose topic a record waiting delay_ms
 * after attempt `attempt` goes to: the attempt's own tier, or a later tier
 * whose delay is not longer than delay_ms (so a long Retry-After does not
 * hold up a short tier's topic). attempt is 1-based and <= n.
 */
size_t record_tier_for(const int64_t *schedule, size_t n, int attempt,
                       int64_t delay_ms);

#endif
