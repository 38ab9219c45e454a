#ifndef ORDINAVO_SIGN_H
#define ORDINAVO_SIGN_H

/*
 * Standard Webhooks v1 signatures: HMAC-SHA256 over
 * "{webhook-id}.{webhook-timestamp}.{body}", sent as "v1," + base64.
 */

#include <stddef.h>
#include <stdint.h>

#include "subscription.h"

/* Room for one "v1,<base64 of 32 bytes>" signature and its NUL. */
#define SIGN_ONE_MAX 48

/* Room for the whole header: two signatures, a space and the NUL. */
#define SIGN_HEADER_MAX (2 * SIGN_ONE_MAX)

/*
 * Decodes a "whsec_<base64>" secret (the prefix is optional) into *key.
 * Returns 0, or -1 when the secret is empty, not base64, or too long.
 */
int sign_key_from_secret(const char *secret, subscription_key_t *key);

/*
 * Writes the webhook-signature header value for one attempt into out: one
 * signature, or two separated by a space when previous is not NULL.
 * Returns the length written, or -1 when out is too small.
 */
int sign_header(const subscription_key_t *key,
                const subscription_key_t *previous, const char *msg_id,
                int64_t timestamp, const char *body, size_t body_len, char *out,
                size_t out_size);

#endif
