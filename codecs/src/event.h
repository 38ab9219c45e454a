#ifndef ORDINAVO_EVENT_H
#define ORDINAVO_EVENT_H

/*
 * A decoded and validated domain event (the envelope of SPEC section 2).
 * Every codec (JSON now, Avro in the Confluent wire format later) produces
 * this one shape, so the rest of the worker never sees the wire encoding.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An eventId is also the webhook-id header and part of the signed string,
 * so it is kept to a short run of header-safe characters. */
#define EVENT_ID_MAX 128

/* One of refs.customerId / locationId / contactId. */
typedef struct event_ref {
    bool present; /* false when the ref is missing or null */
    int64_t id;
} event_ref_t;

typedef struct event {
    json_t *root; /* owns every string and the data object below */
    const char *event_id;
    const char *event_type;
    const char *event_version;
    int64_t tenant_id;
    const char *occurred_at;
    const char *source_system; /* NULL when null or absent */
    event_ref_t customer;
    event_ref_t location;
    event_ref_t contact;
    json_t *data; /* borrowed from root; always an object */
} event_t;

/* The largest message value a codec accepts, whatever the configuration.
 * Domain events are a few KiB; the worker's own, lower limit
 * (WEBHOOKD_MAX_EVENT_SIZE) is checked before a codec runs. */
#define CODEC_MESSAGE_MAX (16 * 1024 * 1024)

typedef enum codec_result {
    CODEC_OK = 0,
    CODEC_DECODE_ERROR, /* the bytes are not a readable message */
    CODEC_INVALID_EVENT /* readable, but not a valid domain event */
} codec_result_t;

/* The dead-letter reason for a codec result: "decode_error" or
 * "invalid_event" (NULL for CODEC_OK). */
const char *codec_result_reason(codec_result_t r);

/*
 * Decodes one Kafka message value, choosing the codec from its first byte
 * (0x00: Confluent Avro; '{' after optional blanks: JSON). On success fills
 * *ev, which the caller releases with event_clear(). On failure *ev is left
 * empty and errstr says why, in words safe to log (no field values).
 */
codec_result_t codec_decode(const void *buf, size_t len, event_t *ev,
                            char *errstr, size_t errstr_size);

/* Decodes a JSON message value. Same contract as codec_decode(). */
codec_result_t codec_json_decode(const void *buf, size_t len, event_t *ev,
                                 char *errstr, size_t errstr_size);

/*
 * Validates a decoded envelope object and fills *ev from it. Takes ownership
 * of root whatever the result. Returns CODEC_OK or CODEC_INVALID_EVENT.
 */
codec_result_t event_from_json(json_t *root, event_t *ev, char *errstr,
                               size_t errstr_size);

/* Releases what *ev owns and empties it. Safe on an empty event. */
void event_clear(event_t *ev);

/* Writes a codec's error message (printf-style) into errstr, when given.
 * Messages name fields, never their values, so that they are safe to log. */
void codec_set_error(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True for "evt_" followed by letters, digits, '_', '-' or '.', at most
 * EVENT_ID_MAX bytes in all. */
bool event_id_valid(const char *s);

/* True for the 13 event types of SPEC section 2. */
bool event_type_known(const char *event_type);

#endif
