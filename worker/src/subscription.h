#ifndef ORDINAVO_SUBSCRIPTION_H
#define ORDINAVO_SUBSCRIPTION_H

/*
 * Webhook subscriptions (SPEC section 4): parsing the JSON documents that
 * core stores in Redis, and matching them against events.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* HMAC keys are the base64-decoded part of "whsec_..."; 64 bytes is the
 * most the Standard Webhooks secrets use. */
#define SUBSCRIPTION_KEY_MAX 64

/* Longest subscription id accepted. Ids travel whole into retry and
 * dead-letter records and back, so a longer one is refused (the document
 * is skipped as malformed) rather than cut. */
#define SUBSCRIPTION_ID_MAX 128

typedef struct subscription_key {
    unsigned char bytes[SUBSCRIPTION_KEY_MAX];
    size_t len;
} subscription_key_t;

typedef struct subscription {
    char *id;
    int64_t tenant_id;
    int64_t integration_client_id;
    char *source_system; /* NULL when null */
    char *url;
    bool active;
    char **event_types; /* patterns: exact, "prefix.*" or "*" */
    size_t n_event_types;
    char **source_systems; /* NULL: every source system matches */
    size_t n_source_systems;
    bool billing_allowed;
    bool include_customer_context;
    bool include_contact_details;
    bool include_summary_preview;
    bool include_billing_details;
    /* The secrets are kept only as decoded keys, so a subscription can be
     * logged or copied without carrying the "whsec_" strings around. */
    subscription_key_t key;
    bool has_previous_key;
    subscription_key_t previous_key;
} subscription_t;

/*
 * Parses one subscription document. id is the Redis hash field (used when the
 * document has no subscriptionId, and in error messages). Returns 0 and fills
 * *sub (release with subscription_free()), or -1 with errstr saying what is
 * wrong without quoting any value (the document holds secrets).
 */
int subscription_parse(const char *id, const char *json, size_t len,
                       subscription_t *sub, char *errstr, size_t errstr_size);

/* Releases what *sub owns. Safe on a zeroed subscription. */
void subscription_free(subscription_t *sub);

/* True when the event type matches one of the patterns. */
bool subscription_type_matches(const subscription_t *sub,
                               const char *event_type);

/* True when the subscription is active, its tenant is the event's, and its
 * eventTypes and sourceSystems filters accept the event. */
bool subscription_matches(const subscription_t *sub, const event_t *ev);

#endif
