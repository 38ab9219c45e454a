/*
 * Subscription documents (SPEC section 4): parsing and event matching.
 */

#include "subscription.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "sign.h"
#include "text.h"

/* Where an error goes, and the id that every message names. */
typedef struct parse_ctx {
    const char *id;
    char *errstr;
    size_t errstr_size;
} parse_ctx_t;

static int fail(const parse_ctx_t *pc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets the error as "subscription <id>: <what>" and returns -1. */
static int fail(const parse_ctx_t *pc, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (pc->errstr == NULL || pc->errstr_size == 0) {
        return -1;
    }
    /* The id comes from Redis as it is: repaired to valid UTF-8 and cut to
     * the longest id accepted, so that the message can always be logged. */
    char *id =
        pc->id != NULL
            ? text_utf8_repair(pc->id, strnlen(pc->id, SUBSCRIPTION_ID_MAX))
            : NULL;
    n = snprintf(pc->errstr, pc->errstr_size,
                 "subscription %s: ", id != NULL ? id : "(no id)");
    free(id);
    if (n < 0 || (size_t)n >= pc->errstr_size) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(pc->errstr + n, pc->errstr_size - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static bool absent(const json_t *v)
{
    return v == NULL || json_is_null(v);
}

static int opt_bool(const parse_ctx_t *pc, const json_t *obj, const char *name,
                    bool def, bool *out)
{
    json_t *v = json_object_get(obj, name);

    if (absent(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) {
        return fail(pc, "%s is not a boolean", name);
    }
    *out = json_is_true(v);
    return 0;
}

/* A new copy of an optional string member, NULL when absent or null. */
static int opt_string(const parse_ctx_t *pc, const json_t *obj,
                      const char *name, char **out)
{
    json_t *v = json_object_get(obj, name);

    *out = NULL;
    if (absent(v)) {
        return 0;
    }
    if (!json_is_string(v)) {
        return fail(pc, "%s is not a string or null", name);
    }
    *out = strdup(json_string_value(v));
    if (*out == NULL) {
        return fail(pc, "out of memory");
    }
    return 0;
}

/* "*", "prefix.*" with a non-empty prefix, or an exact type without '*'. */
static bool pattern_valid(const char *p)
{
    const char *star = strchr(p, '*');
    size_t n = strlen(p);

    if (n == 0) {
        return false;
    }
    if (star == NULL || strcmp(p, "*") == 0) {
        return true;
    }
    return star == p + n - 1 && n >= 3 && p[n - 2] == '.';
}

/* Copies an array of strings into a new vector of n entries (at least one
 * slot is allocated, so an empty list is told apart from no list). */
static int string_array(const parse_ctx_t *pc, const json_t *arr,
                        const char *name, bool patterns, char ***out,
                        size_t *n_out)
{
    size_t n = json_array_size(arr);
    char **vec;
    size_t i;

    vec = calloc(n > 0 ? n : 1, sizeof(*vec));
    if (vec == NULL) {
        return fail(pc, "out of memory");
    }
    *out = vec;
    *n_out = 0;
    for (i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);

        if (!json_is_string(v)) {
            return fail(pc, "%s[%zu] is not a string", name, i);
        }
        if (patterns && !pattern_valid(json_string_value(v))) {
            return fail(pc, "%s[%zu] is not an event type or prefix.*", name,
                        i);
        }
        vec[i] = strdup(json_string_value(v));
        if (vec[i] == NULL) {
            return fail(pc, "out of memory");
        }
        *n_out = i + 1;
    }
    return 0;
}

/* http:// or https:// followed by something, with no blanks or control
 * characters; the daemon applies the https-only and destination policies. */
static bool url_valid(const char *url)
{
    const unsigned char *p;
    size_t skip;

    if (strncasecmp(url, "https://", 8) == 0) {
        skip = 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        skip = 7;
    } else {
        return false;
    }
    if (url[skip] == '\0') {
        return false;
    }
    for (p = (const unsigned char *)url; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

static int parse_id(const parse_ctx_t *pc, const json_t *root,
                    subscription_t *sub)
{
    json_t *v = json_object_get(root, "subscriptionId");
    const char *id = pc->id;

    if (!absent(v)) {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            return fail(pc, "subscriptionId is not a non-empty string");
        }
        if (id != NULL && strcmp(id, json_string_value(v)) != 0) {
            return fail(pc, "subscriptionId differs from its hash field");
        }
        id = json_string_value(v);
    }
    if (id == NULL || id[0] == '\0') {
        return fail(pc, "subscriptionId is missing");
    }
    if (strlen(id) > SUBSCRIPTION_ID_MAX) {
        return fail(pc, "subscriptionId is longer than %d bytes",
                    SUBSCRIPTION_ID_MAX);
    }
    sub->id = strdup(id);
    if (sub->id == NULL) {
        return fail(pc, "out of memory");
    }
    return 0;
}

/* "active" may be left out (active), but an explicit null is refused: a
 * subscription whose state is unknown must not receive events. */
static int parse_active(const parse_ctx_t *pc, const json_t *root,
                        subscription_t *sub)
{
    json_t *v = json_object_get(root, "active");

    if (v != NULL && !json_is_boolean(v)) {
        return fail(pc, "active is not a boolean");
    }
    sub->active = v == NULL || json_is_true(v);
    return 0;
}

static int parse_secrets(const parse_ctx_t *pc, const json_t *root,
                         subscription_t *sub)
{
    json_t *v = json_object_get(root, "secret");

    if (!json_is_string(v)) {
        return fail(pc, "secret is missing or not a string");
    }
    if (sign_key_from_secret(json_string_value(v), &sub->key) != 0) {
        return fail(pc, "secret is not a valid whsec_ secret");
    }

    v = json_object_get(root, "previousSecret");
    if (absent(v)) {
        return 0;
    }
    if (!json_is_string(v)) {
        return fail(pc, "previousSecret is not a string or null");
    }
    if (sign_key_from_secret(json_string_value(v), &sub->previous_key) != 0) {
        return fail(pc, "previousSecret is not a valid whsec_ secret");
    }
    sub->has_previous_key = true;
    return 0;
}

static int parse_filters(const parse_ctx_t *pc, const json_t *root,
                         subscription_t *sub)
{
    json_t *v = json_object_get(root, "eventTypes");

    if (!json_is_array(v)) {
        return fail(pc, "eventTypes is missing or not an array");
    }
    if (string_array(pc, v, "eventTypes", true, &sub->event_types,
                     &sub->n_event_types) != 0) {
        return -1;
    }

    v = json_object_get(root, "sourceSystems");
    if (absent(v)) {
        return 0;
    }
    if (!json_is_array(v)) {
        return fail(pc, "sourceSystems is not an array or null");
    }
    return string_array(pc, v, "sourceSystems", false, &sub->source_systems,
                        &sub->n_source_systems);
}

static int parse_options(const parse_ctx_t *pc, const json_t *root,
                         subscription_t *sub)
{
    json_t *opts = json_object_get(root, "options");

    if (!absent(opts) && !json_is_object(opts)) {
        return fail(pc, "options is not an object");
    }
    /* json_object_get() on NULL finds nothing, so every option defaults. */
    if (absent(opts)) {
        opts = NULL;
    }
    if (opt_bool(pc, opts, "includeCustomerContext", true,
                 &sub->include_customer_context) != 0 ||
        opt_bool(pc, opts, "includeContactDetails", true,
                 &sub->include_contact_details) != 0 ||
        opt_bool(pc, opts, "includeSummaryPreview", false,
                 &sub->include_summary_preview) != 0 ||
        opt_bool(pc, opts, "includeBillingDetails", false,
                 &sub->include_billing_details) != 0) {
        return -1;
    }
    return 0;
}

int subscription_parse(const char *id, const char *json, size_t len,
                       subscription_t *sub, char *errstr, size_t errstr_size)
{
    parse_ctx_t pc = {id, errstr, errstr_size};
    json_error_t jerr;
    json_t *root = NULL;
    json_t *v;
    int rc = -1;

    memset(sub, 0, sizeof(*sub));
    if (json == NULL) {
        fail(&pc, "document is empty");
        goto out;
    }
    /* jansson's error text would quote the document, so it is not used. */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        fail(&pc, "document is not valid JSON (byte %d)", jerr.position);
        goto out;
    }
    if (!json_is_object(root)) {
        fail(&pc, "document is not a JSON object");
        goto out;
    }

    if (parse_id(&pc, root, sub) != 0) {
        goto out;
    }

    v = json_object_get(root, "tenantId");
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        fail(&pc, "tenantId is missing or not a positive integer");
        goto out;
    }
    sub->tenant_id = (int64_t)json_integer_value(v);

    v = json_object_get(root, "integrationClientId");
    if (!absent(v) && !json_is_integer(v)) {
        fail(&pc, "integrationClientId is not an integer");
        goto out;
    }
    sub->integration_client_id =
        json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;

    if (opt_string(&pc, root, "sourceSystem", &sub->source_system) != 0) {
        goto out;
    }

    v = json_object_get(root, "url");
    if (!json_is_string(v) || !url_valid(json_string_value(v))) {
        fail(&pc, "url is missing or not an http:// or https:// URL");
        goto out;
    }
    sub->url = strdup(json_string_value(v));
    if (sub->url == NULL) {
        fail(&pc, "out of memory");
        goto out;
    }

    if (parse_secrets(&pc, root, sub) != 0 ||
        parse_active(&pc, root, sub) != 0 ||
        parse_filters(&pc, root, sub) != 0 ||
        opt_bool(&pc, root, "billingAllowed", false, &sub->billing_allowed) !=
            0 ||
        parse_options(&pc, root, sub) != 0) {
        goto out;
    }
    rc = 0;

out:
    json_decref(root);
    if (rc != 0) {
        subscription_free(sub);
    }
    return rc;
}

static void free_strings(char **vec, size_t n)
{
    size_t i;

    if (vec == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(vec[i]);
    }
    free(vec);
}

void subscription_free(subscription_t *sub)
{
    if (sub == NULL) {
        return;
    }
    free(sub->id);
    free(sub->source_system);
    free(sub->url);
    free_strings(sub->event_types, sub->n_event_types);
    free_strings(sub->source_systems, sub->n_source_systems);
    /* The keys are secrets; do not leave them in freed memory. */
    OPENSSL_cleanse(sub, sizeof(*sub));
    memset(sub, 0, sizeof(*sub));
}

bool subscription_type_matches(const subscription_t *sub,
                               const char *event_type)
{
    size_t i;

    if (sub == NULL || event_type == NULL) {
        return false;
    }
    for (i = 0; i < sub->n_event_types; i++) {
        const char *p = sub->event_types[i];
        size_t n = strlen(p);

        if (strcmp(p, "*") == 0) {
            return true;
        }
        /* "target.*" keeps its dot, so it matches "target.imported" and
         * neither "target" nor "targets.x". */
        if (n >= 2 && p[n - 1] == '*') {
            if (strncmp(event_type, p, n - 1) == 0 &&
                strlen(event_type) > n - 1) {
                return true;
            }
        } else if (strcmp(p, event_type) == 0) {
            return true;
        }
    }
    return false;
}

static bool source_system_matches(const subscription_t *sub,
                                  const char *source_system)
{
    size_t i;

    if (sub->source_systems == NULL) {
        return true;
    }
    if (source_system == NULL) {
        return false;
    }
    for (i = 0; i < sub->n_source_systems; i++) {
        if (strcmp(sub->source_systems[i], source_system) == 0) {
            return true;
        }
    }
    return false;
}

bool subscription_matches(const subscription_t *sub, const event_t *ev)
{
    if (sub == NULL || ev == NULL) {
        return false;
    }
    return sub->active && sub->tenant_id == ev->tenant_id &&
           subscription_type_matches(sub, ev->event_type) &&
           source_system_matches(sub, ev->source_system);
}
