/* The codec dispatch, the JSON codec and envelope validation: valid events,
 * every invalid envelope field, and inputs that are not events at all. */

#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

#define VALID_EVENT                                                            \
    "{\"eventId\":\"evt_01HYZ9M3RA5T6ZK3Q1J8Y0VB2C\","                         \
    "\"eventType\":\"appointment.completed\",\"eventVersion\":\"v1\","         \
    "\"tenantId\":15,\"occurredAtUtc\":\"2026-06-25T14:31:00Z\","              \
    "\"sourceSystem\":\"logistics_erp\","                                      \
    "\"refs\":{\"customerId\":12,\"locationId\":34,\"contactId\":null},"       \
    "\"data\":{\"targetId\":991,\"status\":\"Completed\","                     \
    "\"internalNotes\":\"SeCrEt\"}}"

/* A marker put into bad values: no error message may ever contain it. */
#define MARKER "SeCrEt"

/* Decodes exactly len bytes from a heap copy, so the sanitizers see any
 * read past the end. */
static codec_result_t decode_bytes(const void *bytes, size_t len, event_t *ev,
                                   char *err, size_t err_size)
{
    codec_result_t r;
    char *copy = NULL;

    if (len > 0) {
        copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, bytes, len);
    }
    err[0] = '\0';
    r = codec_decode(copy, len, ev, err, err_size);
    free(copy);
    return r;
}

/*
 * Decodes VALID_EVENT with one member replaced by the JSON text value, or
 * removed when value is NULL. field may be "refs.<name>".
 */
static codec_result_t decode_with(const char *field, const char *value,
                                  event_t *ev, char *err, size_t err_size)
{
    json_t *root = json_loads(VALID_EVENT, 0, NULL);
    json_t *target = root;
    codec_result_t r;
    char *text;

    assert_non_null(root);
    if (strncmp(field, "refs.", 5) == 0) {
        target = json_object_get(root, "refs");
        field += 5;
    }
    if (value == NULL) {
        json_object_del(target, field);
    } else {
        json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);

        assert_non_null(v);
        json_object_set_new(target, field, v);
    }
    text = json_dumps(root, JSON_COMPACT);
    assert_non_null(text);
    json_decref(root);
    r = decode_bytes(text, strlen(text), ev, err, err_size);
    free(text);
    return r;
}

static void assert_empty_event(const event_t *ev)
{
    assert_null(ev->root);
    assert_null(ev->event_id);
    assert_null(ev->data);
    assert_int_equal(ev->tenant_id, 0);
}

static void test_valid_event(void **state)
{
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(
        decode_bytes(VALID_EVENT, strlen(VALID_EVENT), &ev, err, sizeof(err)),
        CODEC_OK);
    assert_non_null(ev.root);
    assert_string_equal(ev.event_id, "evt_01HYZ9M3RA5T6ZK3Q1J8Y0VB2C");
    assert_string_equal(ev.event_type, "appointment.completed");
    assert_string_equal(ev.event_version, "v1");
    assert_int_equal(ev.tenant_id, 15);
    assert_string_equal(ev.occurred_at, "2026-06-25T14:31:00Z");
    assert_string_equal(ev.source_system, "logistics_erp");
    assert_true(ev.customer.present);
    assert_int_equal(ev.customer.id, 12);
    assert_true(ev.location.present);
    assert_int_equal(ev.location.id, 34);
    assert_false(ev.contact.present);
    assert_true(json_is_object(ev.data));
    assert_int_equal(json_integer_value(json_object_get(ev.data, "targetId")),
                     991);
    event_clear(&ev);
    assert_empty_event(&ev);
    event_clear(&ev);
}

static void test_valid_variants(void **state)
{
    static const struct {
        const char *field;
        const char *value;
    } cases[] = {
        {"sourceSystem", NULL},
        {"sourceSystem", "null"},
        {"refs", NULL},
        {"refs", "null"},
        {"refs", "{}"},
        {"refs.customerId", NULL},
        {"refs.contactId", "-3"},
        {"refs.contactId", "9007199254740993"},
        {"data", "{}"},
        {"occurredAtUtc", "\"2026-06-25T14:31:00.5Z\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00.123456789Z\""},
        {"occurredAtUtc", "\"2024-02-29T23:59:60Z\""},
        {"occurredAtUtc", "\"2000-02-29T00:00:00Z\""},
        {"eventId", "\"evt_a-b_c.d\""},
        {"unknownEnvelopeField", "{\"x\":[1,2]}"},
        {"tenantId", "9223372036854775807"},
    };
    event_t ev;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        codec_result_t r =
            decode_with(cases[i].field, cases[i].value, &ev, err, sizeof(err));
        if (r != CODEC_OK) {
            fail_msg("case %zu (%s) rejected: %s", i, cases[i].field, err);
        }
        event_clear(&ev);
    }
}

static void test_optional_fields_empty(void **state)
{
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(decode_with("refs", "null", &ev, err, sizeof(err)),
                     CODEC_OK);
    assert_false(ev.customer.present);
    assert_false(ev.location.present);
    assert_false(ev.contact.present);
    event_clear(&ev);

    assert_int_equal(decode_with("sourceSystem", "null", &ev, err, sizeof(err)),
                     CODEC_OK);
    assert_null(ev.source_system);
    event_clear(&ev);

    assert_int_equal(decode_with("refs.contactId", "-3", &ev, err, sizeof(err)),
                     CODEC_OK);
    assert_true(ev.contact.present);
    assert_int_equal(ev.contact.id, -3);
    event_clear(&ev);
}

static void test_invalid_envelope(void **state)
{
    static const struct {
        const char *field;
        const char *value; /* NULL: the member is removed */
    } cases[] = {
        {"eventId", NULL},
        {"eventId", "null"},
        {"eventId", "123"},
        {"eventId", "\"\""},
        {"eventId", "\"evt_\""},
        {"eventId", "\"" MARKER "_1\""},
        {"eventId", "\"EVT_" MARKER "\""},
        {"eventId", "\"evt_" MARKER " x\""},
        {"eventId", "\"evt_" MARKER "\\r\\nX-Injected: 1\""},
        {"eventId", "\"evt_" MARKER "\\u00e9\""},
        {"eventType", NULL},
        {"eventType", "null"},
        {"eventType", "5"},
        {"eventType", "[\"target.imported\"]"},
        {"eventType", "\"" MARKER ".imported\""},
        {"eventType", "\"TARGET.IMPORTED\""},
        {"eventType", "\"target\""},
        {"eventType", "\"target.*\""},
        {"eventType", "\"target.imported \""},
        {"eventType", "\"\""},
        {"eventVersion", NULL},
        {"eventVersion", "null"},
        {"eventVersion", "\"v2\""},
        {"eventVersion", "\"V1\""},
        {"eventVersion", "\"v1 \""},
        {"eventVersion", "1"},
        {"tenantId", NULL},
        {"tenantId", "null"},
        {"tenantId", "0"},
        {"tenantId", "-1"},
        {"tenantId", "\"15\""},
        {"tenantId", "15.0"},
        {"tenantId", "true"},
        {"tenantId", "{}"},
        {"occurredAtUtc", NULL},
        {"occurredAtUtc", "null"},
        {"occurredAtUtc", "12345"},
        {"occurredAtUtc", "\"" MARKER "\""},
        {"occurredAtUtc", "\"\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00z\""},
        {"occurredAtUtc", "\"2026-06-25t14:31:00Z\""},
        {"occurredAtUtc", "\"2026-06-25 14:31:00Z\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00+02:00\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00+00:00\""},
        {"occurredAtUtc", "\"2026-06-25T14:31Z\""},
        {"occurredAtUtc", "\"2026-6-25T14:31:00Z\""},
        {"occurredAtUtc", "\"2026-13-01T00:00:00Z\""},
        {"occurredAtUtc", "\"2026-00-01T00:00:00Z\""},
        {"occurredAtUtc", "\"2026-01-00T00:00:00Z\""},
        {"occurredAtUtc", "\"2026-04-31T00:00:00Z\""},
        {"occurredAtUtc", "\"2026-02-29T00:00:00Z\""},
        {"occurredAtUtc", "\"1900-02-29T00:00:00Z\""},
        {"occurredAtUtc", "\"2026-06-25T24:00:00Z\""},
        {"occurredAtUtc", "\"2026-06-25T14:60:00Z\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:61Z\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00.Z\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00.1234567890Z\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00,5Z\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00ZZ\""},
        {"occurredAtUtc", "\"2026-06-25T14:31:00Z \""},
        {"occurredAtUtc", "\"+2026-06-25T14:31:00Z\""},
        {"sourceSystem", "5"},
        {"sourceSystem", "true"},
        {"sourceSystem", "{}"},
        {"sourceSystem", "[\"" MARKER "\"]"},
        {"refs", "\"" MARKER "\""},
        {"refs", "[]"},
        {"refs", "5"},
        {"refs", "false"},
        {"refs.customerId", "\"12\""},
        {"refs.customerId", "1.5"},
        {"refs.customerId", "{}"},
        {"refs.customerId", "true"},
        {"refs.locationId", "\"" MARKER "\""},
        {"refs.contactId", "[1]"},
        {"data", NULL},
        {"data", "null"},
        {"data", "[]"},
        {"data", "\"" MARKER "\""},
        {"data", "5"},
    };
    event_t ev;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        codec_result_t r =
            decode_with(cases[i].field, cases[i].value, &ev, err, sizeof(err));
        if (r != CODEC_INVALID_EVENT) {
            fail_msg("case %zu (%s): result %d, want invalid_event", i,
                     cases[i].field, (int)r);
        }
        assert_empty_event(&ev);
        /* The message names the field but never quotes the value. */
        if (strstr(err, cases[i].field) == NULL) {
            fail_msg("case %zu: error does not name %s: %s", i, cases[i].field,
                     err);
        }
        if (strstr(err, MARKER) != NULL) {
            fail_msg("case %zu: error quotes the value: %s", i, err);
        }
    }
}

static void test_event_id_too_long(void **state)
{
    char id[140];
    char value[160];
    event_t ev;
    char err[256];

    (void)state;
    memset(id, 'A', sizeof(id));
    memcpy(id, "evt_", 4);
    id[128] = '\0';
    snprintf(value, sizeof(value), "\"%s\"", id);
    assert_int_equal(decode_with("eventId", value, &ev, err, sizeof(err)),
                     CODEC_OK);
    event_clear(&ev);

    id[128] = 'A';
    id[129] = '\0';
    snprintf(value, sizeof(value), "\"%s\"", id);
    assert_int_equal(decode_with("eventId", value, &ev, err, sizeof(err)),
                     CODEC_INVALID_EVENT);
}

static void test_unknown_type_message(void **state)
{
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(
        decode_with("eventType", "\"target.deleted\"", &ev, err, sizeof(err)),
        CODEC_INVALID_EVENT);
    assert_string_equal(err, "unknown eventType");
    assert_null(strstr(err, "deleted"));
}

static void test_all_types_decode(void **state)
{
    static const char *const types[] = {
        "target.imported",       "target.rejected",
        "target.updated",        "target.cancelled",
        "target.scheduled",      "route.suggestion.created",
        "route.published",       "appointment.started",
        "appointment.completed", "appointment.problem_reported",
        "visit_report.approved", "visit_report.follow_up_required",
        "billing.event_created",
    };
    char value[64];
    event_t ev;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        assert_true(event_type_known(types[i]));
        snprintf(value, sizeof(value), "\"%s\"", types[i]);
        assert_int_equal(decode_with("eventType", value, &ev, err, sizeof(err)),
                         CODEC_OK);
        assert_string_equal(ev.event_type, types[i]);
        event_clear(&ev);
    }
    assert_int_equal(i, 13);
}

static void test_event_type_known(void **state)
{
    (void)state;
    assert_false(event_type_known(NULL));
    assert_false(event_type_known(""));
    assert_false(event_type_known("target"));
    assert_false(event_type_known("target."));
    assert_false(event_type_known("target.*"));
    assert_false(event_type_known("target.imported "));
    assert_false(event_type_known("Target.imported"));
    assert_false(event_type_known("route.suggestion"));
    assert_false(event_type_known("billing.event_created.x"));
    assert_true(event_type_known("billing.event_created"));
}

static void test_result_reason(void **state)
{
    (void)state;
    assert_null(codec_result_reason(CODEC_OK));
    assert_string_equal(codec_result_reason(CODEC_DECODE_ERROR),
                        "decode_error");
    assert_string_equal(codec_result_reason(CODEC_INVALID_EVENT),
                        "invalid_event");
}

static void test_blanks_around(void **state)
{
    const char *text = " \t\r\n" VALID_EVENT "\n \t\r";
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(decode_bytes(text, strlen(text), &ev, err, sizeof(err)),
                     CODEC_OK);
    assert_int_equal(ev.tenant_id, 15);
    event_clear(&ev);
}

static void test_not_json(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
#define CASE(s) {s, sizeof(s) - 1}
        CASE(""),
        CASE(" "),
        CASE(" \r\n\t "),
        CASE("[1,2]"),
        CASE(" [ {} ]"),
        CASE("\"" MARKER "\""),
        CASE("42"),
        CASE("null"),
        CASE("true"),
        CASE(MARKER),
        CASE("\xff\xfe{\"a\":1}"),
        CASE("\xef\xbb\xbf{\"a\":1}"),
        CASE("\x01\x02\x03\x04"),
        CASE("\v{}"),
        CASE("\f{}"),
#undef CASE
    };
    event_t ev;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        codec_result_t r =
            decode_bytes(cases[i].bytes, cases[i].len, &ev, err, sizeof(err));
        if (r != CODEC_DECODE_ERROR) {
            fail_msg("case %zu: result %d, want decode_error", i, (int)r);
        }
        assert_empty_event(&ev);
        assert_true(strlen(err) > 0);
        assert_null(strstr(err, MARKER));
    }
    assert_int_equal(codec_decode(NULL, 0, &ev, err, sizeof(err)),
                     CODEC_DECODE_ERROR);
    assert_int_equal(codec_json_decode(NULL, 0, &ev, err, sizeof(err)),
                     CODEC_DECODE_ERROR);
}

static void test_avro_not_supported(void **state)
{
    static const char avro[] = "\x00\x00\x00\x00\x07\x02\x06"
                               "abc";
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(
        decode_bytes(avro, sizeof(avro) - 1, &ev, err, sizeof(err)),
        CODEC_DECODE_ERROR);
    assert_string_equal(err, "Avro messages are not supported yet");
    assert_empty_event(&ev);

    assert_int_equal(decode_bytes("\0", 1, &ev, err, sizeof(err)),
                     CODEC_DECODE_ERROR);
    assert_string_equal(err, "Avro messages are not supported yet");
}

static void test_bad_json(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *words; /* expected in the error, or NULL */
    } cases[] = {
#define CASE(s, w) {s, sizeof(s) - 1, w}
        CASE("{", "truncated"),
        CASE("{\"eventId\"", "truncated"),
        CASE("{\"a\":\"" MARKER, "truncated"),
        CASE("{}}", "after the end"),
        CASE("{} x", "after the end"),
        CASE("{\"a\":1} {\"b\":2}", "after the end"),
        CASE("{\"a\":1}\0", NULL),
        CASE("{\"a\":1,\"a\":2}", "duplicate"),
        CASE("{\"a\":\"\\u0000\"}", "NUL"),
        CASE("{\"a\\u0000b\":1}", "NUL"),
        CASE("{\"a\":\"x\0y\"}", NULL),
        CASE("{\"a\":\"\xff\"}", "UTF-8"),
        CASE("{\"a\":\"\xc0\xaf\"}", "UTF-8"),
        CASE("{\"a\":\"\xed\xa0\x80\"}", "UTF-8"),
        CASE("{\"a\":\"\xc3\"}", "UTF-8"),
        CASE("{\"a\":\"\xf4\x90\x80\x80\"}", "UTF-8"),
        CASE("{\"\xfe\":1}", "UTF-8"),
        CASE("{\"a\":\"\\ud800\"}", NULL),
        CASE("{\"a\":99999999999999999999}", "range"),
        CASE("{\"a\":1e999}", "range"),
        CASE("{\"a\": " MARKER "}", "syntax"),
        CASE("{'a':1}", "syntax"),
        CASE("{a:1}", "syntax"),
        CASE("{\"a\":NaN}", "syntax"),
        CASE("{\"a\":01}", "syntax"),
        CASE("{\"a\":1,}", "syntax"),
        CASE("{\"a\":\"\t\"}", "syntax"),
        CASE("{\"a\":\"\\x41\"}", "syntax"),
#undef CASE
    };
    event_t ev;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        codec_result_t r =
            decode_bytes(cases[i].bytes, cases[i].len, &ev, err, sizeof(err));
        if (r != CODEC_DECODE_ERROR) {
            fail_msg("case %zu: result %d, want decode_error", i, (int)r);
        }
        assert_empty_event(&ev);
        if (cases[i].words != NULL && strstr(err, cases[i].words) == NULL) {
            fail_msg("case %zu: error lacks \"%s\": %s", i, cases[i].words,
                     err);
        }
        if (strstr(err, MARKER) != NULL) {
            fail_msg("case %zu: error quotes the input: %s", i, err);
        }
    }
}

static void test_valid_utf8_kept(void **state)
{
    json_t *v;
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(decode_with("data",
                                 "{\"name\":\"M\\u00fcller \xe2\x82\xac "
                                 "\xf0\x9f\x9a\x9a\"}",
                                 &ev, err, sizeof(err)),
                     CODEC_OK);
    v = json_object_get(ev.data, "name");
    assert_string_equal(json_string_value(v),
                        "M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x9a\x9a");
    event_clear(&ev);
}

static void test_every_truncation(void **state)
{
    size_t len = strlen(VALID_EVENT);
    event_t ev;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < len; i++) {
        if (decode_bytes(VALID_EVENT, i, &ev, err, sizeof(err)) !=
            CODEC_DECODE_ERROR) {
            fail_msg("prefix of %zu bytes was not a decode error", i);
        }
        assert_empty_event(&ev);
    }
}

static void test_size_limit(void **state)
{
    size_t event_len = strlen(VALID_EVENT);
    char *buf = malloc(CODEC_MESSAGE_MAX + 1);
    event_t ev;
    char err[256];

    (void)state;
    assert_non_null(buf);
    memcpy(buf, VALID_EVENT, event_len);
    memset(buf + event_len, ' ', CODEC_MESSAGE_MAX + 1 - event_len);

    /* Exactly at the limit it is still decoded... */
    assert_int_equal(
        codec_decode(buf, CODEC_MESSAGE_MAX, &ev, err, sizeof(err)), CODEC_OK);
    event_clear(&ev);

    /* ...one byte more and it is refused before parsing. */
    assert_int_equal(
        codec_decode(buf, CODEC_MESSAGE_MAX + 1, &ev, err, sizeof(err)),
        CODEC_DECODE_ERROR);
    assert_non_null(strstr(err, "larger than"));
    assert_empty_event(&ev);
    assert_int_equal(
        codec_json_decode(buf, CODEC_MESSAGE_MAX + 1, &ev, err, sizeof(err)),
        CODEC_DECODE_ERROR);
    assert_non_null(strstr(err, "larger than"));
    free(buf);
}

static void test_deep_nesting(void **state)
{
    const size_t depth = 100000;
    size_t len = 6 + depth * 6;
    char *buf = malloc(len);
    event_t ev;
    char err[256];
    size_t i;

    (void)state;
    assert_non_null(buf);
    memcpy(buf, "{\"a\":", 5);
    for (i = 0; i < depth; i++) {
        memcpy(buf + 5 + i * 5, "{\"a\":", 5);
    }
    memset(buf + 5 + depth * 5, '}', len - 5 - depth * 5);
    assert_int_equal(decode_bytes(buf, len, &ev, err, sizeof(err)),
                     CODEC_DECODE_ERROR);
    assert_empty_event(&ev);

    memset(buf, '[', len);
    buf[0] = '{';
    assert_int_equal(decode_bytes(buf, len, &ev, err, sizeof(err)),
                     CODEC_DECODE_ERROR);
    free(buf);
}

/* A small fixed-seed generator, so a failure can be reproduced. */
static uint32_t next_random(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

static void test_random_bytes(void **state)
{
    unsigned char buf[300];
    uint32_t seed = 12345;
    event_t ev;
    char err[256];
    int round;

    (void)state;
    for (round = 0; round < 5000; round++) {
        size_t len = next_random(&seed) % sizeof(buf);
        size_t i;
        codec_result_t r;

        for (i = 0; i < len; i++) {
            buf[i] = (unsigned char)next_random(&seed);
        }
        if (len > 0 && round % 2 == 0) {
            buf[0] = '{';
        }
        r = decode_bytes(buf, len, &ev, err, sizeof(err));
        assert_int_not_equal(r, CODEC_OK);
        assert_empty_event(&ev);
    }
}

static void test_mutated_events(void **state)
{
    size_t len = strlen(VALID_EVENT);
    char *buf = malloc(len);
    uint32_t seed = 777;
    event_t ev;
    char err[256];
    size_t pos;
    int round;

    (void)state;
    assert_non_null(buf);
    for (round = 0; round < 4; round++) {
        for (pos = 0; pos < len; pos++) {
            codec_result_t r;

            memcpy(buf, VALID_EVENT, len);
            buf[pos] = (char)next_random(&seed);
            r = decode_bytes(buf, len, &ev, err, sizeof(err));
            if (r == CODEC_OK) {
                assert_non_null(ev.root);
                assert_true(event_type_known(ev.event_type));
                event_clear(&ev);
            } else {
                assert_empty_event(&ev);
            }
        }
    }
    free(buf);
}

static void test_event_from_json_ownership(void **state)
{
    event_t ev;
    char err[256];

    (void)state;
    /* Each root is released by event_from_json whatever the result; the
     * leak checkers see it if not. */
    assert_int_equal(event_from_json(json_array(), &ev, err, sizeof(err)),
                     CODEC_INVALID_EVENT);
    assert_empty_event(&ev);
    assert_int_equal(event_from_json(NULL, &ev, err, sizeof(err)),
                     CODEC_INVALID_EVENT);
    assert_int_equal(event_from_json(json_object(), &ev, err, sizeof(err)),
                     CODEC_INVALID_EVENT);
    assert_int_equal(event_from_json(json_loads(VALID_EVENT, 0, NULL), &ev, err,
                                     sizeof(err)),
                     CODEC_OK);
    assert_int_equal(ev.tenant_id, 15);
    event_clear(&ev);
}

static void test_json_decode_direct(void **state)
{
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(codec_json_decode("[1]", 3, &ev, err, sizeof(err)),
                     CODEC_DECODE_ERROR);
    assert_non_null(strstr(err, "not an object"));
    assert_int_equal(codec_json_decode(VALID_EVENT, strlen(VALID_EVENT), &ev,
                                       err, sizeof(err)),
                     CODEC_OK);
    event_clear(&ev);
}

static void test_small_errstr(void **state)
{
    event_t ev;
    char err[8];

    (void)state;
    memset(err, 'x', sizeof(err));
    assert_int_equal(codec_decode("{", 1, &ev, err, sizeof(err)),
                     CODEC_DECODE_ERROR);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_int_equal(codec_decode("{", 1, &ev, NULL, 0), CODEC_DECODE_ERROR);
    assert_int_equal(decode_with("data", NULL, &ev, err, 1),
                     CODEC_INVALID_EVENT);
    assert_string_equal(err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_event),
        cmocka_unit_test(test_valid_variants),
        cmocka_unit_test(test_optional_fields_empty),
        cmocka_unit_test(test_invalid_envelope),
        cmocka_unit_test(test_event_id_too_long),
        cmocka_unit_test(test_unknown_type_message),
        cmocka_unit_test(test_all_types_decode),
        cmocka_unit_test(test_event_type_known),
        cmocka_unit_test(test_result_reason),
        cmocka_unit_test(test_blanks_around),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_avro_not_supported),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_valid_utf8_kept),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_mutated_events),
        cmocka_unit_test(test_event_from_json_ownership),
        cmocka_unit_test(test_json_decode_direct),
        cmocka_unit_test(test_small_errstr),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
