#ifndef ORDINAVO_OFFSETS_H
#define ORDINAVO_OFFSETS_H

/*
 * At-least-once bookkeeping for consumed messages. Every message taken from a
 * partition is tracked until everything it spawned is resolved (delivered,
 * dropped by rule, or handed to another topic); the partition's commit
 * position is the lowest offset not yet resolved. Only that position is ever
 * given to librdkafka to commit, so a crash repeats work but never skips it.
 *
 * Used from the worker's main thread only.
 */

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct offsets offsets_t;
typedef struct offsets_msg offsets_msg_t;

/* A new, empty tracker, or NULL when out of memory. */
offsets_t *offsets_new(void);

/* Frees the tracker and every message still tracked. */
void offsets_free(offsets_t *o);

/*
 * Starts tracking a consumed message with one hold on it (the hold of the
 * code processing it). Returns the handle, or NULL when out of memory.
 */
offsets_msg_t *offsets_track(offsets_t *o, const char *topic, int32_t partition,
                             int64_t offset);

/* Adds a hold: one more piece of work the message waits for. */
void offsets_hold(offsets_msg_t *m);

/* Drops a hold; when none is left the message is resolved and, once every
 * earlier message of its partition is too, the commit position moves. */
void offsets_release(offsets_t *o, offsets_msg_t *m);

/*
 * Gives librdkafka (rd_kafka_offsets_store) the commit position of every
 * partition whose position moved since the last call. Returns the librdkafka
 * error of the store, or RD_KAFKA_RESP_ERR_NO_ERROR.
 */
rd_kafka_resp_err_t offsets_store(offsets_t *o, rd_kafka_t *rk);

/*
 * Stops tracking a partition (it was revoked). Messages of it that are still
 * held stay valid until released, but no longer move any position.
 */
void offsets_forget(offsets_t *o, const char *topic, int32_t partition);

/* The commit position of a tracked partition: the next offset to commit,
 * or -1 while unknown or when the partition is not tracked (read-only, for
 * tests and diagnostics). */
int64_t offsets_position(const offsets_t *o, const char *topic,
                         int32_t partition);

/* Number of messages tracked and not yet resolved, all partitions. */
size_t offsets_unresolved(const offsets_t *o);

/* The partition and offset of a tracked message. */
const char *offsets_msg_topic(const offsets_msg_t *m);
int32_t offsets_msg_partition(const offsets_msg_t *m);
int64_t offsets_msg_offset(const offsets_msg_t *m);

#endif
