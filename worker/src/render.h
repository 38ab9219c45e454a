#ifndef ORDINAVO_RENDER_H
#define ORDINAVO_RENDER_H

/*
 * The outbound webhook body (SPEC section 5), built only from allow-lists:
 * the envelope, the public data fields of the event type, the payload options
 * and the CustomerContext blocks. Nothing is copied from the inbound event
 * unless it is named here.
 */

#include <jansson.h>

#include "event.h"
#include "subscription.h"

/*
 * One CustomerContext record as read from its Redis hash, already reduced to
 * the allow-listed fields (see render_context_record()). NULL means the key
 * does not exist (a cache miss): the block is still sent, with nulls.
 */
typedef struct render_context {
    json_t *customer; /* borrowed */
    json_t *location; /* borrowed */
    json_t *contact;  /* borrowed */
} render_context_t;

/*
 * Keeps only the hash fields that may ever reach a body (name,
 * customerNumber, displayName, phone, email, externalId:*), repairing
 * invalid UTF-8. fields and values are n parallel byte strings with lengths.
 * Returns a new object, or NULL when out of memory.
 */
json_t *render_context_record(const char *const *fields,
                              const size_t *field_lens,
                              const char *const *values,
                              const size_t *value_lens, size_t n);

/*
 * Builds the body for one attempt to one subscription. Returns a new object
 * with the keys in the order of SPEC section 5, or NULL when out of memory.
 */
json_t *render_body(const event_t *ev, const subscription_t *sub,
                    const render_context_t *ctx, const char *delivery_id);

/*
 * Applies the subscription's current options to a body rendered earlier
 * (a retry's): removes customer and location, contact, data.billing and
 * data.summaryPreview when the subscription no longer allows them, and
 * customerContext when no block is left. It only ever removes, so an
 * option turned on since the first attempt does not add anything.
 */
void render_narrow(json_t *body, const subscription_t *sub);

/* Serialises a body compactly (UTF-8, no escaping beyond JSON's). Returns a
 * new string the caller frees with free(), or NULL. */
char *render_dump(const json_t *body, size_t *len);

#endif
