/* Unit tests for record.c: retry and dead-letter records, UTC times, delay
 * labels and the retry schedule arithmetic. */

#include "unit.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

#define FFFD "\xEF\xBF\xBD"

/* 2026-06-25T14:31:00.123Z and ten seconds later. */
#define T_FIRST 1782397860123LL
#define T_NEXT  1782397870123LL

static const int64_t SCHEDULE[] = {10000,   60000,    300000,  1800000,
                                   7200000, 28800000, 86400000};
#define N_SCHEDULE (sizeof(SCHEDULE) / sizeof(SCHEDULE[0]))

/* record_origin_t's topic is not const. */
static char TARGETS[] = "ordinavo.events.targets";
static char BILLING[] = "ordinavo.events.billing";
static char SHORT[] = "t";

/* Checks the compact dump of j (released here) is exactly want. */
static void check_dump(json_t *j, const char *want)
{
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
    json_decref(j);
}

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
    if (j == NULL) {
        fail_msg("test JSON does not load: %s", err.text);
    }
    return j;
}

/* A string of n copies of c followed by tail; the caller frees it. */
static char *fill(char c, size_t n, const char *tail)
{
    size_t tl = strlen(tail);
    char *s = malloc(n + tl + 1);
    assert_non_null(s);
    memset(s, c, n);
    memcpy(s + n, tail, tl + 1);
    return s;
}

/* The snippet record_attempt_json() keeps of response[0..len). */
static char *snippet_of(const char *response, size_t len)
{
    record_attempt_t a = {"del_1", 0, 200, NULL, 1, response, len};
    json_t *j = record_attempt_json(&a);
    assert_non_null(j);
    const json_t *v = json_object_get(j, "responseSnippet");
    assert_true(json_is_string(v));
    char *s = strdup(json_string_value(v));
    assert_non_null(s);
    json_decref(j);
    return s;
}

static void test_attempt_json_full(void **state)
{
    (void)state;
    record_attempt_t a = {
        "del_01HYZ9M9VQ", T_FIRST, 500, "http 500", 120, "oops", 4,
    };
    check_dump(record_attempt_json(&a),
               "{\"deliveryId\":\"del_01HYZ9M9VQ\","
               "\"atUtc\":\"2026-06-25T14:31:00.123Z\",\"httpStatus\":500,"
               "\"error\":\"http 500\",\"latencyMs\":120,"
               "\"responseSnippet\":\"oops\"}");
}

static void test_attempt_json_nulls(void **state)
{
    (void)state;
    record_attempt_t a = {"del_2", 0, 0, "timeout", 15000, NULL, 0};
    check_dump(record_attempt_json(&a),
               "{\"deliveryId\":\"del_2\","
               "\"atUtc\":\"1970-01-01T00:00:00.000Z\",\"httpStatus\":null,"
               "\"error\":\"timeout\",\"latencyMs\":15000,"
               "\"responseSnippet\":null}");

    /* An empty body is no snippet, even with a pointer. */
    record_attempt_t b = {"del_3", 1000, 204, NULL, 3, "", 0};
    check_dump(record_attempt_json(&b),
               "{\"deliveryId\":\"del_3\","
               "\"atUtc\":\"1970-01-01T00:00:01.000Z\",\"httpStatus\":204,"
               "\"error\":null,\"latencyMs\":3,\"responseSnippet\":null}");
}

static void test_attempt_snippet_cut(void **state)
{
    (void)state;
    char *in;
    char *out;

    /* Plain ASCII: exactly the first 512 bytes. */
    in = fill('a', 600, "");
    out = snippet_of(in, 600);
    assert_int_equal(strlen(out), RECORD_SNIPPET_MAX);
    assert_memory_equal(out, in, RECORD_SNIPPET_MAX);
    free(out);
    free(in);

    /* Exactly 512 bytes, ending in a whole two-byte character: kept. */
    in = fill('a', 510, "\xC3\xA9");
    out = snippet_of(in, strlen(in));
    assert_string_equal(out, in);
    free(out);
    free(in);

    /* Multi-byte characters straddling byte 512 are dropped whole. */
    static const char *const tails[] = {"\xC3\xA9xyz", "\xE2\x82\xACxyz",
                                        "\xF0\x9F\x98\x80xyz"};
    for (size_t t = 0; t < 3; t++) {
        size_t seq = t + 2;
        for (size_t inside = 1; inside < seq; inside++) {
            size_t before = RECORD_SNIPPET_MAX - inside;
            in = fill('a', before, tails[t]);
            out = snippet_of(in, strlen(in));
            char *want = fill('a', before, "");
            assert_string_equal(out, want);
            free(want);
            free(out);
            free(in);
        }
    }

    /* A three-byte character ending exactly at byte 512 stays. */
    in = fill('a', 509, "\xE2\x82\xAC!");
    out = snippet_of(in, strlen(in));
    char *want = fill('a', 509, "\xE2\x82\xAC");
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(in);

    /* Invalid bytes become U+FFFD; a run of stray continuation bytes is
     * cut at 512 like ASCII. */
    out = snippet_of("a\xFF"
                     "b\xC3",
                     4);
    assert_string_equal(out, "a" FFFD "b" FFFD);
    free(out);
    in = fill('\x80', 600, "");
    out = snippet_of(in, 600);
    assert_int_equal(strlen(out), RECORD_SNIPPET_MAX * 3);
    free(out);
    free(in);

    /* NUL bytes in a response never reach the record as NUL. */
    out = snippet_of("a\0b", 3);
    assert_string_equal(out, "a" FFFD "b");
    free(out);
}

static json_t *sample_body(void)
{
    return load("{\"eventId\":\"evt_1\",\"eventType\":\"target.created\","
                "\"tenantId\":15,\"data\":{\"targetId\":991,"
                "\"name\":\"M\\u00fcller\"}}");
}

static json_t *sample_attempts(void)
{
    record_attempt_t a = {"del_A", T_FIRST, 503, "http 503", 40, "busy", 4};
    json_t *arr = json_array();
    assert_non_null(arr);
    assert_int_equal(json_array_append_new(arr, record_attempt_json(&a)), 0);
    return arr;
}

#define SAMPLE_ATTEMPTS                                                        \
    "[{\"deliveryId\":\"del_A\",\"atUtc\":\"2026-06-25T14:31:00.123Z\","       \
    "\"httpStatus\":503,\"error\":\"http 503\",\"latencyMs\":40,"              \
    "\"responseSnippet\":\"busy\"}]"

#define SAMPLE_BODY                                                            \
    "{\"eventId\":\"evt_1\",\"eventType\":\"target.created\",\"tenantId\":15," \
    "\"data\":{\"targetId\":991,\"name\":\"M\xC3\xBCller\"}}"

static void test_build_retry(void **state)
{
    (void)state;
    record_origin_t origin = {TARGETS, 3, 1234567};
    json_t *body = sample_body();
    json_t *attempts = sample_attempts();

    json_t *rec = record_build("evt_1", "target.created", 15, "sub_9", 1,
                               T_FIRST, T_NEXT, NULL, &origin, body, attempts);
    /* The record holds its own references. */
    assert_int_equal(body->refcount, 2);
    assert_int_equal(attempts->refcount, 2);
    check_dump(rec,
               "{\"eventId\":\"evt_1\",\"eventType\":\"target.created\","
               "\"tenantId\":15,\"subscriptionId\":\"sub_9\","
               "\"attempt\":1,"
               "\"firstAttemptAtUtc\":\"2026-06-25T14:31:00.123Z\","
               "\"nextAttemptAtUtc\":\"2026-06-25T14:31:10.123Z\","
               "\"origin\":{\"topic\":\"ordinavo.events.targets\","
               "\"partition\":3,\"offset\":1234567},"
               "\"body\":" SAMPLE_BODY ",\"attempts\":" SAMPLE_ATTEMPTS "}");
    assert_int_equal(body->refcount, 1);
    assert_int_equal(attempts->refcount, 1);
    json_decref(body);
    json_decref(attempts);
}

static void test_build_dead_letter(void **state)
{
    (void)state;
    record_origin_t origin = {TARGETS, 0, 7};
    json_t *body = sample_body();
    json_t *attempts = sample_attempts();

    check_dump(record_build("evt_1", "target.created", 15, "sub_9", 8, T_FIRST,
                            T_NEXT, "exhausted", &origin, body, attempts),
               "{\"eventId\":\"evt_1\",\"eventType\":\"target.created\","
               "\"tenantId\":15,\"subscriptionId\":\"sub_9\",\"attempt\":8,"
               "\"firstAttemptAtUtc\":\"2026-06-25T14:31:00.123Z\","
               "\"nextAttemptAtUtc\":null,\"reason\":\"exhausted\","
               "\"origin\":{\"topic\":\"ordinavo.events.targets\","
               "\"partition\":0,\"offset\":7},"
               "\"body\":" SAMPLE_BODY ",\"attempts\":" SAMPLE_ATTEMPTS "}");
    json_decref(body);
    json_decref(attempts);
}

static void test_build_edge_arguments(void **state)
{
    (void)state;
    record_origin_t origin = {SHORT, 0, 0};
    json_t *body = load("{}");

    /* No history yet: an empty array. */
    check_dump(record_build("e", "x.y", 1, "s", 1, 0, 10000, NULL, &origin,
                            body, NULL),
               "{\"eventId\":\"e\",\"eventType\":\"x.y\",\"tenantId\":1,"
               "\"subscriptionId\":\"s\",\"attempt\":1,"
               "\"firstAttemptAtUtc\":\"1970-01-01T00:00:00.000Z\","
               "\"nextAttemptAtUtc\":\"1970-01-01T00:00:10.000Z\","
               "\"origin\":{\"topic\":\"t\",\"partition\":0,\"offset\":0},"
               "\"body\":{},\"attempts\":[]}");

    /* Without a body there is no record to write. */
    assert_null(
        record_build("e", "x.y", 1, "s", 1, 0, 0, NULL, &origin, NULL, NULL));

    /* Invalid UTF-8 in an id is repaired, not a failure. */
    check_dump(record_build("e\xFF", "x.y", 1, "s", 1, 0, 0, "endpoint_gone",
                            &origin, body, NULL),
               "{\"eventId\":\"e" FFFD "\",\"eventType\":\"x.y\","
               "\"tenantId\":1,\"subscriptionId\":\"s\",\"attempt\":1,"
               "\"firstAttemptAtUtc\":\"1970-01-01T00:00:00.000Z\","
               "\"nextAttemptAtUtc\":null,\"reason\":\"endpoint_gone\","
               "\"origin\":{\"topic\":\"t\",\"partition\":0,\"offset\":0},"
               "\"body\":{},\"attempts\":[]}");
    json_decref(body);
}

/* A plain base64 encoder, independent of the one under test. */
static char *b64(const unsigned char *p, size_t n)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    size_t w = 0;
    assert_non_null(out);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n) {
            v |= (unsigned)p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        out[w++] = abc[(v >> 18) & 63];
        out[w++] = abc[(v >> 12) & 63];
        out[w++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[w++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[w] = '\0';
    return out;
}

static void test_build_undecodable(void **state)
{
    (void)state;
    record_origin_t origin = {BILLING, 2, 99};

    check_dump(record_build_undecodable("decode_error", "not JSON or Avro",
                                        &origin, "k1", 2, "{bad", 4, 1024,
                                        T_FIRST),
               "{\"reason\":\"decode_error\",\"error\":\"not JSON or Avro\","
               "\"origin\":{\"topic\":\"ordinavo.events.billing\","
               "\"partition\":2,\"offset\":99},\"rawKey\":\"azE=\","
               "\"rawValue\":\"e2JhZA==\",\"rawValueBytes\":4,"
               "\"rawValueTruncated\":false,"
               "\"atUtc\":\"2026-06-25T14:31:00.123Z\"}");

    /* No key; binary value; an empty key is not a missing one. */
    check_dump(record_build_undecodable("invalid_event", "eventId is missing",
                                        &origin, NULL, 0, "\x00\xFF\xFE", 3,
                                        1024, 0),
               "{\"reason\":\"invalid_event\","
               "\"error\":\"eventId is missing\","
               "\"origin\":{\"topic\":\"ordinavo.events.billing\","
               "\"partition\":2,\"offset\":99},\"rawKey\":null,"
               "\"rawValue\":\"AP/+\",\"rawValueBytes\":3,"
               "\"rawValueTruncated\":false,"
               "\"atUtc\":\"1970-01-01T00:00:00.000Z\"}");
    check_dump(
        record_build_undecodable("decode_error", "empty", &origin, "", 0, "", 0,
                                 1024, 0),
        "{\"reason\":\"decode_error\",\"error\":\"empty\","
        "\"origin\":{\"topic\":\"ordinavo.events.billing\","
        "\"partition\":2,\"offset\":99},\"rawKey\":\"\","
        "\"rawValue\":\"\",\"rawValueBytes\":0,"
        "\"rawValueTruncated\":false,\"atUtc\":\"1970-01-01T00:00:00.000Z\"}");
}

static void test_build_undecodable_large(void **state)
{
    (void)state;
    /* Larger than the encoder's piece size and not a multiple of three,
     * so the pieces must join without padding in between. */
    size_t n = 3 * 1024 * 1024 * 2 + 2;
    unsigned char *value = malloc(n);
    assert_non_null(value);
    srand(7);
    for (size_t i = 0; i < n; i++) {
        value[i] = (unsigned char)rand();
    }
    record_origin_t origin = {SHORT, 0, 0};
    json_t *rec = record_build_undecodable("decode_error", "x", &origin, NULL,
                                           0, value, n, n, 0);
    assert_non_null(rec);
    char *want = b64(value, n);
    assert_string_equal(json_string_value(json_object_get(rec, "rawValue")),
                        want);
    assert_true(json_is_false(json_object_get(rec, "rawValueTruncated")));
    free(want);
    json_decref(rec);

    /* Over raw_max: the first raw_max bytes, the full length, a flag. */
    rec = record_build_undecodable("invalid_event", "x", &origin, NULL, 0,
                                   value, n, 1000, 0);
    assert_non_null(rec);
    want = b64(value, 1000);
    assert_string_equal(json_string_value(json_object_get(rec, "rawValue")),
                        want);
    assert_int_equal(json_integer_value(json_object_get(rec, "rawValueBytes")),
                     (json_int_t)n);
    assert_true(json_is_true(json_object_get(rec, "rawValueTruncated")));
    free(want);
    free(value);
    json_decref(rec);

    /* A tombstone (no value at all) has no length. */
    rec = record_build_undecodable("decode_error", "empty", &origin, NULL, 0,
                                   NULL, 0, 1000, 0);
    assert_non_null(rec);
    assert_true(json_is_null(json_object_get(rec, "rawValue")));
    assert_true(json_is_null(json_object_get(rec, "rawValueBytes")));
    json_decref(rec);
}

/* A valid retry record as text; the caller frees it. */
static char *sample_record_text(void)
{
    record_origin_t origin = {TARGETS, 3, 1234567};
    json_t *body = sample_body();
    json_t *attempts = sample_attempts();
    json_t *rec = record_build("evt_1", "target.imported", 15, "sub_9", 2,
                               T_FIRST, T_NEXT, NULL, &origin, body, attempts);
    assert_non_null(rec);
    char *s = json_dumps(rec, JSON_COMPACT);
    assert_non_null(s);
    json_decref(rec);
    json_decref(body);
    json_decref(attempts);
    return s;
}

static void test_parse_round_trip(void **state)
{
    (void)state;
    char *text = sample_record_text();
    char errstr[256] = "";
    record_t r;

    assert_int_equal(
        record_parse(text, strlen(text), &r, errstr, sizeof(errstr)), 0);
    assert_string_equal(r.event_id, "evt_1");
    assert_string_equal(r.event_type, "target.imported");
    assert_int_equal(r.tenant_id, 15);
    assert_string_equal(r.subscription_id, "sub_9");
    assert_int_equal(r.attempt, 2);
    assert_int_equal(r.first_attempt_ms, T_FIRST);
    assert_int_equal(r.next_attempt_ms, T_NEXT);
    assert_string_equal(r.origin.topic, "ordinavo.events.targets");
    assert_int_equal(r.origin.partition, 3);
    assert_int_equal(r.origin.offset, 1234567);

    json_t *body = sample_body();
    json_t *attempts = sample_attempts();
    assert_true(json_equal(r.body, body));
    assert_true(json_equal(r.attempts, attempts));
    json_decref(body);
    json_decref(attempts);

    /* Rebuilding from the parsed record gives back the same bytes. */
    json_t *again =
        record_build(r.event_id, r.event_type, r.tenant_id, r.subscription_id,
                     r.attempt, r.first_attempt_ms, r.next_attempt_ms, NULL,
                     &r.origin, r.body, r.attempts);
    char *text2 = json_dumps(again, JSON_COMPACT);
    assert_string_equal(text2, text);
    free(text2);
    json_decref(again);

    record_clear(&r);
    assert_null(r.root);
    record_clear(&r); /* twice is harmless */

    /* attempt 0: a delivery handed over unsent at shutdown. */
    json_t *unsent = load(text);
    json_object_set_new(unsent, "attempt", json_integer(0));
    char *text0 = json_dumps(unsent, JSON_COMPACT);
    assert_int_equal(
        record_parse(text0, strlen(text0), &r, errstr, sizeof(errstr)), 0);
    assert_int_equal(r.attempt, 0);
    record_clear(&r);
    free(text0);
    json_decref(unsent);
    free(text);
}

/* One malformed-field case: in object `in` ("" the root), key set to the
 * JSON value (NULL: removed), and the error expected. */
struct bad_case {
    const char *in;
    const char *key;
    const char *value;
    const char *want;
};

#define NOT_STRING(f) f " is missing or not a non-empty string"
#define NOT_POS(f)    f " is missing or not an integer >= 1"
#define NOT_ID        "eventId is missing or not an event id (evt_..., header-safe)"
#define NOT_TYPE      "eventType is missing or not a known event type"
#define NOT_SUB       "subscriptionId is missing or not a subscription id"
#define NOT_ATTEMPT                                                            \
    "attempt is missing or not an attempt count a retry schedule allows"
#define LONG_SUB                                                               \
    "\"sub_0123456789012345678901234567890123456789012345678901234567890123"   \
    "45678901234567890123456789012345678901234567890123456789012345\""
#define NOT_NONNEG(f) f " is missing or not an integer >= 0"
#define NOT_TIME(f)                                                            \
    f " is missing or not a UTC time like 2026-06-25T14:31:00.000Z"

static const struct bad_case BAD_CASES[] = {
    {"", "eventId", NULL, NOT_ID},
    {"", "eventId", "null", NOT_ID},
    {"", "eventId", "\"\"", NOT_ID},
    {"", "eventId", "17", NOT_ID},
    {"", "eventId", "[\"SECRETVALUE\"]", NOT_ID},
    {"", "eventId", "\"evt_1\\r\\nX-Injected: SECRETVALUE\"", NOT_ID},
    {"", "eventId", "\"msg_1\"", NOT_ID},
    {"", "eventType", NULL, NOT_TYPE},
    {"", "eventType", "true", NOT_TYPE},
    {"", "eventType", "\"target.SECRETVALUE\"", NOT_TYPE},
    {"", "tenantId", NULL, NOT_POS("tenantId")},
    {"", "tenantId", "\"SECRETVALUE\"", NOT_POS("tenantId")},
    {"", "tenantId", "0", NOT_POS("tenantId")},
    {"", "tenantId", "-15", NOT_POS("tenantId")},
    {"", "tenantId", "15.0", NOT_POS("tenantId")},
    {"", "subscriptionId", NULL, NOT_SUB},
    {"", "subscriptionId", "{}", NOT_SUB},
    {"", "subscriptionId", LONG_SUB, NOT_SUB},
    {"", "attempt", NULL, NOT_ATTEMPT},
    {"", "attempt", "-1", NOT_ATTEMPT},
    {"", "attempt", "\"2\"", NOT_ATTEMPT},
    {"", "attempt", "2.5", NOT_ATTEMPT},
    {"", "attempt", "18", NOT_ATTEMPT},
    {"", "attempt", "2147483648", NOT_ATTEMPT},
    {"", "firstAttemptAtUtc", NULL, NOT_TIME("firstAttemptAtUtc")},
    {"", "firstAttemptAtUtc", "1782397860123", NOT_TIME("firstAttemptAtUtc")},
    {"", "firstAttemptAtUtc", "\"SECRETVALUE\"", NOT_TIME("firstAttemptAtUtc")},
    {"", "firstAttemptAtUtc", "\"2026-02-30T00:00:00Z\"",
     NOT_TIME("firstAttemptAtUtc")},
    {"", "nextAttemptAtUtc", NULL, NOT_TIME("nextAttemptAtUtc")},
    {"", "nextAttemptAtUtc", "null", NOT_TIME("nextAttemptAtUtc")},
    {"", "nextAttemptAtUtc", "\"2026-06-25 14:31:00Z\"",
     NOT_TIME("nextAttemptAtUtc")},
    {"", "origin", NULL, "origin is missing or not an object"},
    {"", "origin", "\"ordinavo.events.targets\"",
     "origin is missing or not an object"},
    {"", "origin", "[]", "origin is missing or not an object"},
    {"origin", "topic", NULL, NOT_STRING("origin.topic")},
    {"origin", "topic", "\"\"", NOT_STRING("origin.topic")},
    {"origin", "topic", "5", NOT_STRING("origin.topic")},
    {"origin", "partition", NULL, NOT_NONNEG("origin.partition")},
    {"origin", "partition", "-1", NOT_NONNEG("origin.partition")},
    {"origin", "partition", "\"3\"", NOT_NONNEG("origin.partition")},
    {"origin", "partition", "2147483648", NOT_NONNEG("origin.partition")},
    {"origin", "offset", NULL, NOT_NONNEG("origin.offset")},
    {"origin", "offset", "-1", NOT_NONNEG("origin.offset")},
    {"origin", "offset", "1e3", NOT_NONNEG("origin.offset")},
    {"", "body", NULL, "body is missing or not an object"},
    {"", "body", "null", "body is missing or not an object"},
    {"", "body", "[]", "body is missing or not an object"},
    {"", "body", "\"SECRETVALUE\"", "body is missing or not an object"},
    {"", "attempts", NULL, "attempts is missing or not an array"},
    {"", "attempts", "{}", "attempts is missing or not an array"},
    {"", "attempts", "null", "attempts is missing or not an array"},
    {"", "attempts", "[1]", "attempts is missing or not an array of objects"},
    {"", "attempts", "[{},\"SECRETVALUE\"]",
     "attempts is missing or not an array of objects"},
};

static void test_parse_bad_fields(void **state)
{
    (void)state;
    char *text = sample_record_text();

    for (size_t i = 0; i < sizeof(BAD_CASES) / sizeof(BAD_CASES[0]); i++) {
        const struct bad_case *c = &BAD_CASES[i];
        json_t *rec = load(text);
        json_t *in = c->in[0] == '\0' ? rec : json_object_get(rec, c->in);
        char errstr[256] = "";
        record_t r;

        if (c->value == NULL) {
            assert_int_equal(json_object_del(in, c->key), 0);
        } else {
            assert_int_equal(json_object_set_new(in, c->key, load(c->value)),
                             0);
        }
        char *bad = json_dumps(rec, JSON_COMPACT);
        assert_non_null(bad);
        if (record_parse(bad, strlen(bad), &r, errstr, sizeof(errstr)) != -1) {
            fail_msg("case %zu (%s.%s) parsed", i, c->in, c->key);
        }
        if (strcmp(errstr, c->want) != 0) {
            fail_msg("case %zu: \"%s\", want \"%s\"", i, errstr, c->want);
        }
        assert_null(strstr(errstr, "SECRETVALUE"));
        assert_null(r.root);
        assert_null(r.event_id);
        record_clear(&r);
        free(bad);
        json_decref(rec);
    }
    free(text);
}

static void check_parse_fails(const char *buf, size_t len, const char *want)
{
    char errstr[256] = "";
    record_t r;

    assert_int_equal(record_parse(buf, len, &r, errstr, sizeof(errstr)), -1);
    assert_string_equal(errstr, want);
    assert_null(r.root);
}

#define FAILS(lit, want) check_parse_fails(lit, sizeof(lit) - 1, want)

static void test_parse_not_a_record(void **state)
{
    (void)state;
    check_parse_fails(NULL, 0, "record is empty");
    FAILS("", "record is not valid JSON (at byte 0)");
    FAILS("{\"eventId\": SECRETVALUE}",
          "record is not valid JSON (at byte 23)");
    FAILS("[1,2]", "record is not a JSON object");
    FAILS("\"SECRETVALUE\"", "record is not a JSON object");
    FAILS("{\"eventId\":\"a\",\"eventId\":\"b\"}",
          "record is not valid JSON (at byte 24)");
    /* A NUL inside the buffer ends nothing: the length counts. */
    FAILS("{}\0{}", "record is not valid JSON (at byte 3)");
    FAILS("{\"eventId\":\"a\\u0000b\"}",
          "record is not valid JSON (at byte 21)");

    /* A short errstr is cut, not overrun. */
    char small[8];
    record_t r;
    assert_int_equal(record_parse("[]", 2, &r, small, sizeof(small)), -1);
    assert_string_equal(small, "record ");
}

/* Parses buf; when it succeeds every filled field must be usable. */
static void parse_anything(const char *buf, size_t len)
{
    char errstr[256];
    record_t r;

    errstr[0] = '\0';
    if (record_parse(buf, len, &r, errstr, sizeof(errstr)) == 0) {
        assert_non_null(r.event_id);
        assert_true(r.attempt >= 1);
        assert_true(json_is_object(r.body));
        assert_true(json_is_array(r.attempts));
        assert_non_null(r.origin.topic);
        record_clear(&r);
    } else {
        assert_true(errstr[0] != '\0');
        assert_null(r.root);
    }
}

static void test_parse_fuzz(void **state)
{
    (void)state;
    char *text = sample_record_text();
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    assert_non_null(copy);

    /* Every truncation fails; only the whole record parses. */
    for (size_t n = 0; n < len; n++) {
        char errstr[256];
        record_t r;
        memcpy(copy, text, n);
        assert_int_equal(record_parse(copy, n, &r, errstr, sizeof(errstr)), -1);
    }
    parse_anything(text, len);

    /* Random byte changes of a valid record. */
    srand(42);
    for (int round = 0; round < 20000; round++) {
        memcpy(copy, text, len + 1);
        int changes = 1 + rand() % 4;
        for (int k = 0; k < changes; k++) {
            copy[(size_t)rand() % len] = (char)(rand() % 256);
        }
        parse_anything(copy, len);
    }

    /* Pure noise. */
    unsigned char noise[512];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)rand() % sizeof(noise);
        for (size_t i = 0; i < n; i++) {
            noise[i] = (unsigned char)rand();
        }
        if (n > 0 && round % 2 == 0) {
            noise[0] = '{';
        }
        parse_anything((const char *)noise, n);
    }
    free(copy);
    free(text);
}

static void test_parse_hostile_shapes(void **state)
{
    (void)state;
    /* Nested far deeper than any parser stack should follow. */
    size_t depth = 200000;
    char *deep = malloc(depth * 2 + 1);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[depth * 2] = '\0';
    parse_anything(deep, depth * 2);
    memcpy(deep, "{\"body\":", 8);
    parse_anything(deep, depth * 2);
    free(deep);

    /* A huge string where an id belongs. */
    size_t big = 4 * 1024 * 1024;
    char *huge = malloc(big + 32);
    assert_non_null(huge);
    memcpy(huge, "{\"eventId\":\"", 12);
    memset(huge + 12, 'x', big);
    memcpy(huge + 12 + big, "\"}", 3);
    parse_anything(huge, strlen(huge));
    free(huge);

    /* Numbers beyond every integer type. */
    static const char *const numbers[] = {
        "{\"tenantId\":99999999999999999999999}",
        "{\"attempt\":1e999}",
        "{\"origin\":{\"offset\":-99999999999999999999}}",
        "{\"attempt\":-0}",
    };
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        parse_anything(numbers[i], strlen(numbers[i]));
    }
}

static void check_utc(int64_t ms, const char *want)
{
    char buf[32];
    int64_t back = -7;

    record_format_utc(ms, buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(record_parse_utc(buf, &back), 0);
    assert_int_equal(back, ms);
}

static void test_utc_format(void **state)
{
    (void)state;
    check_utc(0, "1970-01-01T00:00:00.000Z");
    check_utc(T_FIRST, "2026-06-25T14:31:00.123Z");
    check_utc(1709208000500LL, "2024-02-29T12:00:00.500Z");
    check_utc(-1, "1969-12-31T23:59:59.999Z");
    check_utc(-1000, "1969-12-31T23:59:59.000Z");
    check_utc(253402300799999LL, "9999-12-31T23:59:59.999Z");

    /* A small buffer is cut, not overrun. */
    char small[11];
    record_format_utc(T_FIRST, small, sizeof(small));
    assert_string_equal(small, "2026-06-25");

    /* Every millisecond of a second, and a spread of days, round-trip. */
    for (int64_t ms = T_FIRST; ms < T_FIRST + 1000; ms++) {
        char buf[32];
        int64_t back;
        record_format_utc(ms, buf, sizeof(buf));
        assert_int_equal(record_parse_utc(buf, &back), 0);
        assert_int_equal(back, ms);
    }
    for (int64_t ms = 0; ms < 4102444800000LL; ms += 86399999LL * 7) {
        char buf[32];
        int64_t back;
        record_format_utc(ms, buf, sizeof(buf));
        assert_int_equal(record_parse_utc(buf, &back), 0);
        assert_int_equal(back, ms);
    }
}

static void test_utc_parse(void **state)
{
    (void)state;
    int64_t ms;

    assert_int_equal(record_parse_utc("2026-06-25T14:31:00Z", &ms), 0);
    assert_int_equal(ms, 1782397860000LL);
    assert_int_equal(record_parse_utc("2026-06-25T14:31:00.5Z", &ms), 0);
    assert_int_equal(ms, 1782397860500LL);
    assert_int_equal(record_parse_utc("2026-06-25T14:31:00.05Z", &ms), 0);
    assert_int_equal(ms, 1782397860050LL);
    /* Finer than milliseconds is cut, not rounded. */
    assert_int_equal(record_parse_utc("2026-06-25T14:31:00.123999999Z", &ms),
                     0);
    assert_int_equal(ms, T_FIRST);
    assert_int_equal(record_parse_utc("2000-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 951782400000LL);

    static const char *const bad[] = {
        "",
        "2026",
        "2026-06-25",
        "2026-06-25T14:31:00",
        "2026-06-25T14:31:00.123",
        "2026-06-25T14:31:00.Z",
        "2026-06-25T14:31:00.1234567890Z",
        "2026-06-25t14:31:00Z",
        "2026-06-25T14:31:00z",
        "2026-06-25T14:31:00+00:00",
        "2026-06-25T14:31:00Z ",
        " 2026-06-25T14:31:00Z",
        "2026-6-25T14:31:00Z",
        "2026-06-25 14:31:00Z",
        "2026/06/25T14:31:00Z",
        "2026-00-25T14:31:00Z",
        "2026-13-25T14:31:00Z",
        "2026-06-00T14:31:00Z",
        "2026-06-31T14:31:00Z",
        "2025-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-06-25T24:00:00Z",
        "2026-06-25T14:60:00Z",
        "2026-06-25T14:31:60Z",
        "2026-06-25T14:31:0aZ",
        "+026-06-25T14:31:00Z",
        "2026-06-25T14:31:00.-1Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 12345;
        if (record_parse_utc(bad[i], &ms) != -1) {
            fail_msg("accepted \"%s\"", bad[i]);
        }
        assert_int_equal(ms, 12345);
    }
    assert_int_equal(record_parse_utc(NULL, &ms), -1);
}

static void check_label(int64_t ms, const char *want)
{
    char buf[32];
    record_delay_label(ms, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_delay_label(void **state)
{
    (void)state;
    check_label(10000, "10s");
    check_label(60000, "1m");
    check_label(300000, "5m");
    check_label(1800000, "30m");
    check_label(7200000, "2h");
    check_label(28800000, "8h");
    check_label(86400000, "24h");
    check_label(90000, "90s");
    check_label(1500, "1500ms");
    check_label(500, "500ms");
    check_label(3600000, "1h");
    check_label(5400000, "90m");
    check_label(61000, "61s");
    check_label(1, "1ms");
    check_label(0, "0ms");
}

static const record_failure_t PLAIN_500 = {500, false, -1};

static int64_t next_delay(int attempt, long status, bool timed_out,
                          int64_t retry_after_s, double jitter)
{
    record_failure_t f = {status, timed_out, retry_after_s};
    return record_next_delay(SCHEDULE, N_SCHEDULE, attempt, &f, 60000, jitter);
}

static void test_next_delay_schedule(void **state)
{
    (void)state;
    for (int a = 1; a <= (int)N_SCHEDULE; a++) {
        assert_int_equal(next_delay(a, 500, false, -1, 0.0), SCHEDULE[a - 1]);
        assert_int_equal(next_delay(a, 500, false, -1, 1.0),
                         SCHEDULE[a - 1] + SCHEDULE[a - 1] / 10);
        assert_int_equal(next_delay(a, 500, false, -1, -1.0),
                         SCHEDULE[a - 1] - SCHEDULE[a - 1] / 10);
    }
    assert_int_equal(next_delay(1, 500, false, -1, 0.5), 10500);
    assert_int_equal(next_delay(1, 500, false, -1, -0.25), 9750);
    assert_int_equal(
        record_next_delay(SCHEDULE, N_SCHEDULE, 1, NULL, 60000, 0.0), 10000);

    /* Jitter outside [-1, 1] is clamped; NaN counts as none. */
    assert_int_equal(next_delay(1, 500, false, -1, 5.0), 11000);
    assert_int_equal(next_delay(1, 500, false, -1, -5.0), 9000);
    assert_int_equal(next_delay(1, 500, false, -1, NAN), 10000);

    /* Rounded to the nearest millisecond. */
    static const int64_t odd[] = {1001};
    assert_int_equal(record_next_delay(odd, 1, 1, &PLAIN_500, 0, 0.5), 1051);
    assert_int_equal(record_next_delay(odd, 1, 1, &PLAIN_500, 0, 0.05), 1006);
    assert_int_equal(record_next_delay(odd, 1, 1, &PLAIN_500, 0, -0.05), 996);

    srand(3);
    for (int i = 0; i < 10000; i++) {
        double j = (double)rand() / RAND_MAX * 2.0 - 1.0;
        int64_t d = next_delay(4, 500, false, -1, j);
        assert_in_range(d, 1620000, 1980000);
    }
}

static void test_next_delay_retry_after(void **state)
{
    (void)state;
    /* 503 with Retry-After: not earlier than it. */
    assert_int_equal(next_delay(1, 503, false, 120, 0.0), 120000);
    /* ... but never shorter than the tier's own delay. */
    assert_int_equal(next_delay(3, 503, false, 120, 0.0), 300000);
    assert_int_equal(next_delay(1, 503, false, 0, 0.0), 10000);
    /* 503 has no minimum back-off. */
    assert_int_equal(next_delay(1, 503, false, -1, 0.0), 10000);
    /* Capped at the last tier of the schedule, unjittered. */
    assert_int_equal(next_delay(1, 503, false, 999999, 0.0), 86400000);
    assert_int_equal(next_delay(1, 503, false, 86400, 0.0), 86400000);
    assert_int_equal(next_delay(1, 503, false, 86399, 0.0), 86399000);
    assert_int_equal(next_delay(1, 503, false, INT64_MAX, 0.0), 86400000);
    /* Above the cap the jittered tier itself still wins. */
    assert_int_equal(next_delay(7, 503, false, 999999, 1.0), 95040000);
    /* Other statuses ignore Retry-After. */
    assert_int_equal(next_delay(1, 500, false, 120, 0.0), 10000);
    assert_int_equal(next_delay(1, 502, false, 120, 0.0), 10000);

    /* 429: Retry-After, and at least the minimum back-off. */
    assert_int_equal(next_delay(1, 429, false, 120, 0.0), 120000);
    assert_int_equal(next_delay(1, 429, false, 5, 0.0), 60000);
    assert_int_equal(next_delay(1, 429, false, -1, 0.0), 60000);
    assert_int_equal(next_delay(3, 429, false, -1, -1.0), 270000);
}

static void test_next_delay_min_backoff(void **state)
{
    (void)state;
    /* A timeout waits at least the minimum back-off, with or without a
     * status. */
    assert_int_equal(next_delay(1, 0, true, -1, 0.0), 60000);
    assert_int_equal(next_delay(1, 0, true, -1, 1.0), 60000);
    assert_int_equal(next_delay(2, 0, true, -1, 1.0), 66000);
    /* A connection error without a timeout follows the schedule. */
    assert_int_equal(next_delay(1, 0, false, -1, 0.0), 10000);

    record_failure_t f = {429, false, -1};
    assert_int_equal(record_next_delay(SCHEDULE, N_SCHEDULE, 1, &f, 30000, 0.0),
                     30000);
    assert_int_equal(record_next_delay(SCHEDULE, N_SCHEDULE, 1, &f, 0, 0.0),
                     10000);
}

static void test_next_delay_exhausted(void **state)
{
    (void)state;
    assert_int_equal(next_delay(7, 500, false, -1, 0.0), 86400000);
    assert_int_equal(next_delay(8, 500, false, -1, 0.0), -1);
    assert_int_equal(next_delay(8, 429, false, 10, 0.0), -1);
    assert_int_equal(next_delay(0, 500, false, -1, 0.0), -1);
    assert_int_equal(next_delay(-3, 500, false, -1, 0.0), -1);
    assert_int_equal(record_next_delay(SCHEDULE, 0, 1, &PLAIN_500, 0, 0.0), -1);
    assert_int_equal(record_next_delay(NULL, 0, 1, &PLAIN_500, 0, 0.0), -1);
}

static void test_tier_for(void **state)
{
    (void)state;
    /* The attempt's own tier, whatever its jitter. */
    for (int a = 1; a <= (int)N_SCHEDULE; a++) {
        size_t own = (size_t)a - 1;
        int64_t d = SCHEDULE[own];
        assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, a, d), own);
        assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, a, d * 9 / 10),
                         own);
        assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, a, d * 11 / 10),
                         own);
    }
    /* A long Retry-After moves on to the longest tier it covers. */
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 1, 60000), 1);
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 1, 120000), 1);
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 1, 299999), 1);
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 1, 300000), 2);
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 1, 86400000), 6);
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 2, 7200000), 4);
    /* Never an earlier tier than the attempt's own. */
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 3, 60000), 2);
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 3, 0), 2);
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 7, 1000), 6);

    /* A schedule that is not increasing: the largest index that fits. */
    static const int64_t zigzag[] = {10000, 60000, 30000, 120000};
    assert_int_equal(record_tier_for(zigzag, 4, 1, 60000), 2);
    assert_int_equal(record_tier_for(zigzag, 4, 1, 40000), 2);
    assert_int_equal(record_tier_for(zigzag, 4, 1, 20000), 0);
    assert_int_equal(record_tier_for(zigzag, 4, 2, 30000), 2);
    assert_int_equal(record_tier_for(zigzag, 4, 2, 29999), 1);
    assert_int_equal(record_tier_for(zigzag, 4, 1, 120000), 3);

    /* Out-of-contract attempts stay within the schedule. */
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 0, 10000), 0);
    assert_int_equal(record_tier_for(SCHEDULE, N_SCHEDULE, 9, 10000), 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempt_json_full),
        cmocka_unit_test(test_attempt_json_nulls),
        cmocka_unit_test(test_attempt_snippet_cut),
        cmocka_unit_test(test_build_retry),
        cmocka_unit_test(test_build_dead_letter),
        cmocka_unit_test(test_build_edge_arguments),
        cmocka_unit_test(test_build_undecodable),
        cmocka_unit_test(test_build_undecodable_large),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_parse_bad_fields),
        cmocka_unit_test(test_parse_not_a_record),
        cmocka_unit_test(test_parse_fuzz),
        cmocka_unit_test(test_parse_hostile_shapes),
        cmocka_unit_test(test_utc_format),
        cmocka_unit_test(test_utc_parse),
        cmocka_unit_test(test_delay_label),
        cmocka_unit_test(test_next_delay_schedule),
        cmocka_unit_test(test_next_delay_retry_after),
        cmocka_unit_test(test_next_delay_min_backoff),
        cmocka_unit_test(test_next_delay_exhausted),
        cmocka_unit_test(test_tier_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
