/*
 * The event envelope: choosing a codec for a message, validating what the
 * codec produced, and the list of event types the worker knows.
 */

#include "event.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const event_types[] = {
    "target.imported",       "target.rejected",
    "target.updated",        "target.cancelled",
    "target.scheduled",      "route.suggestion.created",
    "route.published",       "appointment.started",
    "appointment.completed", "appointment.problem_reported",
    "visit_report.approved", "visit_report.follow_up_required",
    "billing.event_created",
};

void codec_set_error(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;

    if (errstr == NULL || errstr_size == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

const char *codec_result_reason(codec_result_t r)
{
    switch (r) {
    case CODEC_OK:
        return NULL;
    case CODEC_DECODE_ERROR:
        return "decode_error";
    case CODEC_INVALID_EVENT:
        return "invalid_event";
    }
    return "decode_error";
}

bool event_type_known(const char *event_type)
{
    size_t i;

    if (event_type == NULL) {
        return false;
    }
    for (i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++) {
        if (strcmp(event_type, event_types[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_json_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

codec_result_t codec_decode(const void *buf, size_t len, event_t *ev,
                            char *errstr, size_t errstr_size)
{
    const unsigned char *p = buf;
    size_t i = 0;

    memset(ev, 0, sizeof(*ev));
    if (p == NULL || len == 0) {
        codec_set_error(errstr, errstr_size, "empty message");
        return CODEC_DECODE_ERROR;
    }
    if (len > CODEC_MESSAGE_MAX) {
        codec_set_error(errstr, errstr_size, "message larger than %d bytes",
                        CODEC_MESSAGE_MAX);
        return CODEC_DECODE_ERROR;
    }

    /* Byte 0 of the Confluent wire format is the magic byte 0. */
    if (p[0] == 0x00) {
        codec_set_error(errstr, errstr_size,
                        "Avro messages are not supported yet");
        return CODEC_DECODE_ERROR;
    }

    while (i < len && is_json_blank(p[i])) {
        i++;
    }
    if (i == len) {
        codec_set_error(errstr, errstr_size, "empty message");
        return CODEC_DECODE_ERROR;
    }
    if (p[i] == '{') {
        return codec_json_decode(buf, len, ev, errstr, errstr_size);
    }
    codec_set_error(errstr, errstr_size,
                    "message is neither a JSON object nor Confluent Avro");
    return CODEC_DECODE_ERROR;
}

bool event_id_valid(const char *s)
{
    size_t n = strlen(s);
    size_t i;

    if (n <= 4 || n > EVENT_ID_MAX || strncmp(s, "evt_", 4) != 0) {
        return false;
    }
    for (i = 4; i < n; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                  (c >= 'a' && c <= 'z') || c == '_' || c == '-' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Reads n decimal digits at s into *v; false when any is not a digit. */
static bool read_digits(const char *s, int n, int *v)
{
    int i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    if (month == 2 && leap) {
        return 29;
    }
    return days[month - 1];
}

/*
 * Accepts the one form of RFC 3339 the core services write:
 * YYYY-MM-DDTHH:MM:SS, an optional fraction of 1 to 9 digits, then Z.
 * The string is sent on unchanged, so offsets and lower-case letters, legal
 * in RFC 3339, are refused rather than passed to integrators.
 */
static bool timestamp_valid(const char *s)
{
    int year, month, day, hour, minute, second;
    size_t n = strlen(s);
    size_t i;

    if (n < 20 || !read_digits(s, 4, &year) || s[4] != '-' ||
        !read_digits(s + 5, 2, &month) || s[7] != '-' ||
        !read_digits(s + 8, 2, &day) || s[10] != 'T' ||
        !read_digits(s + 11, 2, &hour) || s[13] != ':' ||
        !read_digits(s + 14, 2, &minute) || s[16] != ':' ||
        !read_digits(s + 17, 2, &second)) {
        return false;
    }
    if (month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour > 23 || minute > 59 ||
        second > 60) {
        return false;
    }

    i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == start || i - start > 9) {
            return false;
        }
    }
    return i + 1 == n && s[i] == 'Z';
}

/* Reads one refs member: absent or null leaves *ref empty; an integer fills
 * it; anything else is invalid. */
static bool read_ref(const json_t *refs, const char *name, event_ref_t *ref)
{
    json_t *v;

    ref->present = false;
    ref->id = 0;
    if (refs == NULL) {
        return true;
    }
    v = json_object_get(refs, name);
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_integer(v)) {
        return false;
    }
    ref->present = true;
    ref->id = (int64_t)json_integer_value(v);
    return true;
}

codec_result_t event_from_json(json_t *root, event_t *ev, char *errstr,
                               size_t errstr_size)
{
    static const char *const ref_names[] = {"customerId", "locationId",
                                            "contactId"};
    event_ref_t *refs_out[3];
    json_t *v;
    json_t *refs = NULL;
    size_t i;

    memset(ev, 0, sizeof(*ev));
    refs_out[0] = &ev->customer;
    refs_out[1] = &ev->location;
    refs_out[2] = &ev->contact;

    if (!json_is_object(root)) {
        codec_set_error(errstr, errstr_size, "event is not a JSON object");
        goto invalid;
    }

    v = json_object_get(root, "eventId");
    if (!json_is_string(v) || !event_id_valid(json_string_value(v))) {
        codec_set_error(
            errstr, errstr_size,
            "eventId is missing or not a string of the form evt_<id>");
        goto invalid;
    }
    ev->event_id = json_string_value(v);

    v = json_object_get(root, "eventType");
    if (!json_is_string(v)) {
        codec_set_error(errstr, errstr_size,
                        "eventType is missing or not a string");
        goto invalid;
    }
    if (!event_type_known(json_string_value(v))) {
        codec_set_error(errstr, errstr_size, "unknown eventType");
        goto invalid;
    }
    ev->event_type = json_string_value(v);

    v = json_object_get(root, "eventVersion");
    if (!json_is_string(v) || strcmp(json_string_value(v), "v1") != 0) {
        codec_set_error(errstr, errstr_size,
                        "eventVersion is missing or not v1");
        goto invalid;
    }
    ev->event_version = json_string_value(v);

    v = json_object_get(root, "tenantId");
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        codec_set_error(errstr, errstr_size,
                        "tenantId is missing or not a positive integer");
        goto invalid;
    }
    ev->tenant_id = (int64_t)json_integer_value(v);

    v = json_object_get(root, "occurredAtUtc");
    if (!json_is_string(v) || !timestamp_valid(json_string_value(v))) {
        codec_set_error(errstr, errstr_size,
                        "occurredAtUtc is missing or not an RFC 3339 UTC time");
        goto invalid;
    }
    ev->occurred_at = json_string_value(v);

    v = json_object_get(root, "sourceSystem");
    if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
        codec_set_error(errstr, errstr_size,
                        "sourceSystem is not a string or null");
        goto invalid;
    }
    ev->source_system = json_is_string(v) ? json_string_value(v) : NULL;

    v = json_object_get(root, "refs");
    if (json_is_object(v)) {
        refs = v;
    } else if (v != NULL && !json_is_null(v)) {
        codec_set_error(errstr, errstr_size, "refs is not an object or null");
        goto invalid;
    }
    for (i = 0; i < 3; i++) {
        if (!read_ref(refs, ref_names[i], refs_out[i])) {
            codec_set_error(errstr, errstr_size,
                            "refs.%s is not an integer or null", ref_names[i]);
            goto invalid;
        }
    }

    v = json_object_get(root, "data");
    if (!json_is_object(v)) {
        codec_set_error(errstr, errstr_size,
                        "data is missing or not an object");
        goto invalid;
    }
    ev->data = v;

    ev->root = root;
    return CODEC_OK;

invalid:
    json_decref(root);
    memset(ev, 0, sizeof(*ev));
    return CODEC_INVALID_EVENT;
}

void event_clear(event_t *ev)
{
    if (ev == NULL) {
        return;
    }
    json_decref(ev->root);
    memset(ev, 0, sizeof(*ev));
}
