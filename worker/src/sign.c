/*
 * Standard Webhooks v1 signatures with OpenSSL: the secret's base64 key,
 * HMAC-SHA256 over "{id}.{timestamp}.{body}", and the header value.
 */

#include "sign.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define SIGN_SECRET_PREFIX "whsec_"

/* Base64 characters of the longest key, padding included. */
#define SIGN_B64_MAX (((SUBSCRIPTION_KEY_MAX + 2) / 3) * 4)

/* HMAC-SHA256 output and its base64 form. */
#define SIGN_MAC_LEN 32
#define SIGN_MAC_B64 44

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int sign_key_from_secret(const char *secret, subscription_key_t *key)
{
    char b64[SIGN_B64_MAX + 1];
    unsigned char raw[SIGN_B64_MAX / 4 * 3];
    size_t n, data_len, pads, padded, decoded;
    size_t prefix_len = strlen(SIGN_SECRET_PREFIX);
    int rc = -1;

    memset(key, 0, sizeof(*key));
    if (secret == NULL) {
        return -1;
    }
    if (strncmp(secret, SIGN_SECRET_PREFIX, prefix_len) == 0) {
        secret += prefix_len;
    }

    n = strlen(secret);
    if (n == 0 || n > SIGN_B64_MAX) {
        return -1;
    }
    data_len = 0;
    while (data_len < n && is_b64_char(secret[data_len])) {
        data_len++;
    }
    pads = n - data_len;
    if (pads > 2 || strspn(secret + data_len, "=") != pads) {
        return -1;
    }
    if (pads > 0 && n % 4 != 0) {
        return -1;
    }
    /* Unpadded secrets are accepted by restoring the padding, which
     * EVP_DecodeBlock needs. One character past a group of four is never
     * valid base64. */
    if (data_len % 4 == 1) {
        return -1;
    }
    padded = (data_len + 3) / 4 * 4;
    if (padded > SIGN_B64_MAX) {
        return -1;
    }
    memcpy(b64, secret, data_len);
    memset(b64 + data_len, '=', padded - data_len);
    b64[padded] = '\0';
    pads = padded - data_len;

    /* EVP_DecodeBlock counts padding as zero bytes, so the real length is
     * taken from the number of '=' instead of its return value. */
    if (EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)padded) < 0) {
        goto out;
    }
    decoded = padded / 4 * 3 - pads;
    if (decoded == 0 || decoded > SUBSCRIPTION_KEY_MAX) {
        goto out;
    }
    memcpy(key->bytes, raw, decoded);
    key->len = decoded;
    rc = 0;

out:
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(b64, sizeof(b64));
    return rc;
}

/* Writes "v1,<base64 HMAC>" (SIGN_ONE_MAX bytes with the NUL) into out. */
static int sign_one(EVP_MAC_CTX *ctx, const subscription_key_t *key,
                    const char *msg_id, const char *ts, const char *body,
                    size_t body_len, char out[SIGN_ONE_MAX])
{
    static char digest[] = "SHA256";
    OSSL_PARAM params[2];
    unsigned char mac[SIGN_MAC_LEN];
    size_t mac_len = 0;
    int rc = -1;

    if (key->len == 0 || key->len > SUBSCRIPTION_KEY_MAX) {
        return -1;
    }
    params[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(ctx, key->bytes, key->len, params) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) !=
            1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1) {
        goto out;
    }
    if (body_len > 0 &&
        EVP_MAC_update(ctx, (const unsigned char *)body, body_len) != 1) {
        goto out;
    }
    if (EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) != 1 ||
        mac_len != SIGN_MAC_LEN) {
        goto out;
    }

    memcpy(out, "v1,", 3);
    if (EVP_EncodeBlock((unsigned char *)out + 3, mac, SIGN_MAC_LEN) !=
        SIGN_MAC_B64) {
        goto out;
    }
    rc = 0;

out:
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

/* Fetching an algorithm is a locked lookup in OpenSSL 3; signing happens
 * for every attempt, so the HMAC implementation is fetched once and kept
 * for the life of the process. Signing is done on the worker thread only. */
static EVP_MAC *hmac_algorithm(void)
{
    static EVP_MAC *mac;

    if (mac == NULL) {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    }
    return mac;
}

int sign_header(const subscription_key_t *key,
                const subscription_key_t *previous, const char *msg_id,
                int64_t timestamp, const char *body, size_t body_len, char *out,
                size_t out_size)
{
    char ts[24];
    char current_sig[SIGN_ONE_MAX];
    char previous_sig[SIGN_ONE_MAX];
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    int n;
    int rc = -1;

    if (key == NULL || msg_id == NULL || out == NULL ||
        (body == NULL && body_len > 0)) {
        return -1;
    }
    snprintf(ts, sizeof(ts), "%" PRId64, timestamp);

    mac = hmac_algorithm();
    if (mac == NULL) {
        goto out;
    }
    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) {
        goto out;
    }

    if (sign_one(ctx, key, msg_id, ts, body, body_len, current_sig) != 0) {
        goto out;
    }
    if (previous == NULL) {
        n = snprintf(out, out_size, "%s", current_sig);
    } else {
        if (sign_one(ctx, previous, msg_id, ts, body, body_len, previous_sig) !=
            0) {
            goto out;
        }
        n = snprintf(out, out_size, "%s %s", current_sig, previous_sig);
    }
    if (n < 0 || (size_t)n >= out_size) {
        goto out;
    }
    rc = n;

out:
    if (rc < 0 && out != NULL && out_size > 0) {
        out[0] = '\0';
    }
    EVP_MAC_CTX_free(ctx);
    return rc;
}
