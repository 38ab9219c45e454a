#ifndef ORDINAVO_PRODUCER_H
#define ORDINAVO_PRODUCER_H

/*
 * Writes to the retry tiers, the dead-letter topic and the attempts topic.
 * A write may carry a hold on a consumed message (see offsets.h): the hold
 * is released only once Kafka has acknowledged the write, so the consumed
 * message's offset is never committed before its hand-off is durable. A
 * write that fails is tried again, never dropped.
 *
 * Used from the worker's main thread only.
 */

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "offsets.h"

typedef struct producer producer_t;

/*
 * A new idempotent producer for cfg's brokers. Checks that every topic in
 * required (n names) exists, waiting up to timeout_ms for the metadata.
 * Returns NULL with errstr set when it cannot start or a topic is missing.
 * offsets is borrowed: holds are released into it.
 */
producer_t *producer_new(const config_t *cfg, offsets_t *offsets,
                         const char *const *required, size_t n, int timeout_ms,
                         char *errstr, size_t errstr_size);

/* Flushes what is queued (up to timeout_ms) and frees the producer. */
void producer_free(producer_t *p, int timeout_ms);

/*
 * Queues one write of a copy of value under key. headers (may be NULL) is
 * taken over. hold (may be NULL) gets offsets_hold() now and
 * offsets_release() once the write is acknowledged. Returns 0, or -1 when
 * the write could not even be queued; the hold is then not taken and
 * headers are freed, and the caller must keep its own hold on the consumed
 * message so that its offset is never committed.
 */
int producer_send(producer_t *p, const char *topic, const char *key,
                  const void *value, size_t len, rd_kafka_headers_t *headers,
                  offsets_msg_t *hold);

/* Serves acknowledgements (and retries failed writes). */
void producer_poll(producer_t *p);

/* Waits up to timeout_ms for every queued write to be acknowledged. Returns
 * the number still outstanding. */
int producer_flush(producer_t *p, int timeout_ms);

/* Writes queued and not yet acknowledged. */
int producer_outstanding(producer_t *p);

/* True once librdkafka reported a fatal error (the idempotent producer
 * can write nothing more): the worker must stop and be restarted. */
bool producer_failed(const producer_t *p);

#endif
