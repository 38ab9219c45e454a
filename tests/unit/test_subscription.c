/* Subscription documents: defaults, every malformed field, and matching. */

#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "sign.h"
#include "subscription.h"
#include "text.h"

#define SECRET_1 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET_2 "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

/* The example document of SPEC section 4, with every option flipped from
 * its default so that each one is seen to be read. */
#define FULL_DOC                                                               \
    "{\"subscriptionId\":\"sub_01J0ABC\",\"tenantId\":15,"                     \
    "\"integrationClientId\":7,\"sourceSystem\":\"logistics_erp\","            \
    "\"url\":\"https://erp.example.com/hooks/ordinavo\","                      \
    "\"secret\":\"" SECRET_1 "\",\"previousSecret\":\"" SECRET_2 "\","         \
    "\"active\":false,"                                                        \
    "\"eventTypes\":[\"appointment.completed\",\"target.*\"],"                 \
    "\"sourceSystems\":[\"logistics_erp\",\"crm\"],"                           \
    "\"billingAllowed\":true,"                                                 \
    "\"options\":{\"includeCustomerContext\":false,"                           \
    "\"includeContactDetails\":false,\"includeSummaryPreview\":true,"          \
    "\"includeBillingDetails\":true},\"someFutureField\":[1,{}]}"

#define MINIMAL_DOC                                                            \
    "{\"tenantId\":15,\"url\":\"https://erp.example.com/hooks\","              \
    "\"secret\":\"" SECRET_1 "\",\"eventTypes\":[\"*\"]}"

/* The first characters of the secrets' base64 parts: no error may hold
 * them, nor the marker put into bad values. */
#define SECRET_1_PART "MfKQ9r8G"
#define SECRET_2_PART "C2FVsBQI"
#define MARKER        "SeCrEt"

static int parse(const char *id, const char *doc, subscription_t *sub,
                 char *err, size_t err_size)
{
    size_t len = strlen(doc);
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    /* An exact-length heap copy lets the sanitizers catch over-reads. */
    assert_non_null(copy);
    memcpy(copy, doc, len);
    err[0] = '\0';
    rc = subscription_parse(id, copy, len, sub, err, err_size);
    free(copy);
    return rc;
}

/* Parses MINIMAL_DOC (or FULL_DOC) with one member set to the JSON text
 * value, or removed when value is NULL. field may be "options.<name>". */
static int parse_with(const char *base, const char *field, const char *value,
                      subscription_t *sub, char *err, size_t err_size)
{
    json_t *root = json_loads(base, 0, NULL);
    json_t *target = root;
    char *text;
    int rc;

    assert_non_null(root);
    if (strncmp(field, "options.", 8) == 0) {
        target = json_object_get(root, "options");
        if (target == NULL) {
            target = json_object();
            json_object_set_new(root, "options", target);
        }
        field += 8;
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
    rc = parse("sub_1", text, sub, err, err_size);
    free(text);
    return rc;
}

static void assert_key_is(const subscription_key_t *key, const char *secret)
{
    subscription_key_t expected;

    assert_int_equal(sign_key_from_secret(secret, &expected), 0);
    assert_int_equal(key->len, expected.len);
    assert_memory_equal(key->bytes, expected.bytes, expected.len);
}

static void test_full_document(void **state)
{
    subscription_t sub;
    char err[256];

    (void)state;
    assert_int_equal(parse("sub_01J0ABC", FULL_DOC, &sub, err, sizeof(err)), 0);
    assert_string_equal(sub.id, "sub_01J0ABC");
    assert_int_equal(sub.tenant_id, 15);
    assert_int_equal(sub.integration_client_id, 7);
    assert_string_equal(sub.source_system, "logistics_erp");
    assert_string_equal(sub.url, "https://erp.example.com/hooks/ordinavo");
    assert_false(sub.active);
    assert_int_equal(sub.n_event_types, 2);
    assert_string_equal(sub.event_types[0], "appointment.completed");
    assert_string_equal(sub.event_types[1], "target.*");
    assert_non_null(sub.source_systems);
    assert_int_equal(sub.n_source_systems, 2);
    assert_string_equal(sub.source_systems[0], "logistics_erp");
    assert_string_equal(sub.source_systems[1], "crm");
    assert_true(sub.billing_allowed);
    assert_false(sub.include_customer_context);
    assert_false(sub.include_contact_details);
    assert_true(sub.include_summary_preview);
    assert_true(sub.include_billing_details);
    assert_key_is(&sub.key, SECRET_1);
    assert_true(sub.has_previous_key);
    assert_key_is(&sub.previous_key, SECRET_2);
    subscription_free(&sub);
    assert_null(sub.id);
    assert_null(sub.event_types);
    assert_int_equal(sub.key.len, 0);
    subscription_free(&sub);
}

static void test_defaults(void **state)
{
    subscription_t sub;
    char err[256];

    (void)state;
    assert_int_equal(parse("sub_1", MINIMAL_DOC, &sub, err, sizeof(err)), 0);
    assert_string_equal(sub.id, "sub_1");
    assert_int_equal(sub.integration_client_id, 0);
    assert_null(sub.source_system);
    assert_true(sub.active);
    assert_null(sub.source_systems);
    assert_int_equal(sub.n_source_systems, 0);
    assert_false(sub.billing_allowed);
    assert_true(sub.include_customer_context);
    assert_true(sub.include_contact_details);
    assert_false(sub.include_summary_preview);
    assert_false(sub.include_billing_details);
    assert_false(sub.has_previous_key);
    assert_int_equal(sub.previous_key.len, 0);
    subscription_free(&sub);
}

static void test_nulls_take_defaults(void **state)
{
    static const char *const fields[] = {
        "subscriptionId",
        "integrationClientId",
        "sourceSystem",
        "previousSecret",
        "sourceSystems",
        "billingAllowed",
        "options",
        "options.includeCustomerContext",
        "options.includeContactDetails",
        "options.includeSummaryPreview",
        "options.includeBillingDetails",
    };
    subscription_t sub;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (parse_with(MINIMAL_DOC, fields[i], "null", &sub, err,
                       sizeof(err)) != 0) {
            fail_msg("null %s rejected: %s", fields[i], err);
        }
        assert_true(sub.active);
        assert_true(sub.include_customer_context);
        assert_true(sub.include_contact_details);
        assert_false(sub.include_summary_preview);
        assert_null(sub.source_systems);
        subscription_free(&sub);
    }
}

/* An explicit null "active" is refused: an unknown state must not count as
 * active. Left out, it is active. */
static void test_active_null_refused(void **state)
{
    subscription_t sub;
    char err[256];

    (void)state;
    assert_int_equal(
        parse_with(MINIMAL_DOC, "active", "null", &sub, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "active"));
    assert_non_null(strstr(err, "sub_1"));
    assert_int_equal(
        parse_with(MINIMAL_DOC, "active", NULL, &sub, err, sizeof(err)), 0);
    assert_true(sub.active);
    subscription_free(&sub);
}

/* Ids up to SUBSCRIPTION_ID_MAX bytes are kept whole; longer ones are
 * refused, and the error still names (the start of) the id as valid
 * UTF-8, even when the cut falls inside a character. */
static void test_id_length(void **state)
{
    char id[SUBSCRIPTION_ID_MAX + 8];
    subscription_t sub;
    char err[512];

    (void)state;
    memset(id, 'a', SUBSCRIPTION_ID_MAX);
    id[SUBSCRIPTION_ID_MAX] = '\0';
    assert_int_equal(parse(id, MINIMAL_DOC, &sub, err, sizeof(err)), 0);
    assert_string_equal(sub.id, id);
    subscription_free(&sub);

    /* 127 ASCII bytes then a two-byte character: 129 bytes in all. */
    memset(id, 'b', SUBSCRIPTION_ID_MAX - 1);
    memcpy(id + SUBSCRIPTION_ID_MAX - 1, "\xc3\xa9", 3);
    assert_int_equal(parse(id, MINIMAL_DOC, &sub, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than"));
    assert_non_null(strstr(err, "bbbb"));
    assert_true(text_utf8_valid(err, strlen(err)));
}

static void test_partial_options(void **state)
{
    subscription_t sub;
    char err[256];

    (void)state;
    assert_int_equal(parse_with(MINIMAL_DOC, "options",
                                "{\"includeSummaryPreview\":true,\"x\":1}",
                                &sub, err, sizeof(err)),
                     0);
    assert_true(sub.include_customer_context);
    assert_true(sub.include_contact_details);
    assert_true(sub.include_summary_preview);
    assert_false(sub.include_billing_details);
    subscription_free(&sub);

    assert_int_equal(
        parse_with(MINIMAL_DOC, "options", "{}", &sub, err, sizeof(err)), 0);
    assert_true(sub.include_customer_context);
    assert_false(sub.include_billing_details);
    subscription_free(&sub);
}

static void test_subscription_id(void **state)
{
    subscription_t sub;
    char err[256];

    (void)state;
    /* Present and equal to the hash field. */
    assert_int_equal(parse_with(MINIMAL_DOC, "subscriptionId", "\"sub_1\"",
                                &sub, err, sizeof(err)),
                     0);
    assert_string_equal(sub.id, "sub_1");
    subscription_free(&sub);

    /* Differs from the hash field: a document filed under the wrong id. */
    assert_int_equal(parse_with(MINIMAL_DOC, "subscriptionId",
                                "\"sub_" MARKER "\"", &sub, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "subscriptionId"));
    assert_non_null(strstr(err, "sub_1"));
    assert_null(strstr(err, MARKER));
    assert_null(sub.id);

    assert_int_equal(parse_with(MINIMAL_DOC, "subscriptionId", "\"\"", &sub,
                                err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "subscriptionId"));
    assert_int_equal(
        parse_with(MINIMAL_DOC, "subscriptionId", "7", &sub, err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "subscriptionId"));

    /* Without a hash field the document's own id is used... */
    assert_int_equal(parse(NULL,
                           "{\"subscriptionId\":\"sub_9\",\"tenantId\":1,"
                           "\"url\":\"http://h\",\"secret\":\"" SECRET_1 "\","
                           "\"eventTypes\":[]}",
                           &sub, err, sizeof(err)),
                     0);
    assert_string_equal(sub.id, "sub_9");
    subscription_free(&sub);

    /* ...and with neither there is no id at all. */
    assert_int_equal(parse(NULL, MINIMAL_DOC, &sub, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "subscriptionId"));
    assert_int_equal(parse("", MINIMAL_DOC, &sub, err, sizeof(err)), -1);
}

static void test_malformed_fields(void **state)
{
    static const struct {
        const char *field;
        const char *value; /* NULL: the member is removed */
    } cases[] = {
        {"tenantId", NULL},
        {"tenantId", "null"},
        {"tenantId", "\"15\""},
        {"tenantId", "15.5"},
        {"tenantId", "0"},
        {"tenantId", "-4"},
        {"tenantId", "true"},
        {"integrationClientId", "\"7\""},
        {"integrationClientId", "7.5"},
        {"integrationClientId", "{}"},
        {"sourceSystem", "5"},
        {"sourceSystem", "[\"" MARKER "\"]"},
        {"sourceSystem", "false"},
        {"url", NULL},
        {"url", "null"},
        {"url", "5"},
        {"url", "\"\""},
        {"url", "\"ftp://" MARKER ".example.com/\""},
        {"url", "\"javascript:" MARKER "\""},
        {"url", "\"//" MARKER ".example.com\""},
        {"url", "\"https://\""},
        {"url", "\"http://\""},
        {"url", "\"https:/" MARKER ".example.com\""},
        {"url", "\" https://" MARKER ".example.com\""},
        {"url", "\"https://" MARKER ".example.com/a b\""},
        {"url", "\"https://" MARKER ".example.com/\\r\\nHost: x\""},
        {"url", "\"https://" MARKER ".example.com/\\u007f\""},
        {"url", "[\"https://" MARKER ".example.com\"]"},
        {"secret", NULL},
        {"secret", "null"},
        {"secret", "5"},
        {"secret", "\"\""},
        {"secret", "\"whsec_\""},
        {"secret", "\"whsec_" MARKER "!!\""},
        {"secret", "\"" SECRET_1 "=\""},
        {"secret", "\"" SECRET_1 SECRET_1 "\""},
        {"secret",
         "\"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\""},
        {"secret", "[\"" SECRET_1 "\"]"},
        {"previousSecret", "5"},
        {"previousSecret", "\"\""},
        {"previousSecret", "\"whsec_" MARKER "!\""},
        {"previousSecret", "{\"s\":\"" SECRET_2 "\"}"},
        {"active", "\"true\""},
        {"active", "1"},
        {"active", "[]"},
        {"eventTypes", NULL},
        {"eventTypes", "null"},
        {"eventTypes", "\"target.*\""},
        {"eventTypes", "{}"},
        {"eventTypes", "[5]"},
        {"eventTypes", "[\"target.*\",null]"},
        {"eventTypes", "[\"\"]"},
        {"eventTypes", "[\"target*\"]"},
        {"eventTypes", "[\"*.created\"]"},
        {"eventTypes", "[\".*\"]"},
        {"eventTypes", "[\"**\"]"},
        {"eventTypes", "[\"target.*.x\"]"},
        {"eventTypes", "[\"target.imported\",\"" MARKER "*\"]"},
        {"sourceSystems", "\"logistics_erp\""},
        {"sourceSystems", "[1]"},
        {"sourceSystems", "[\"a\",{}]"},
        {"sourceSystems", "{}"},
        {"sourceSystems", "true"},
        {"billingAllowed", "\"false\""},
        {"billingAllowed", "0"},
        {"options", "\"" MARKER "\""},
        {"options", "[]"},
        {"options", "true"},
        {"options.includeCustomerContext", "\"yes\""},
        {"options.includeContactDetails", "1"},
        {"options.includeSummaryPreview", "\"" MARKER "\""},
        {"options.includeBillingDetails", "[]"},
    };
    subscription_t sub;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *name = cases[i].field;
        int rc = parse_with(MINIMAL_DOC, name, cases[i].value, &sub, err,
                            sizeof(err));

        if (rc != -1) {
            subscription_free(&sub);
            fail_msg("case %zu (%s) accepted", i, name);
        }
        assert_null(sub.id);
        assert_null(sub.url);
        assert_null(sub.event_types);
        assert_int_equal(sub.key.len, 0);

        if (strncmp(name, "options.", 8) == 0) {
            name += 8;
        }
        if (strstr(err, name) == NULL) {
            fail_msg("case %zu: error does not name %s: %s", i, name, err);
        }
        if (strstr(err, "sub_1") == NULL) {
            fail_msg("case %zu: error does not name the id: %s", i, err);
        }
        if (strstr(err, MARKER) != NULL || strstr(err, SECRET_1_PART) ||
            strstr(err, SECRET_2_PART)) {
            fail_msg("case %zu: error quotes a value: %s", i, err);
        }
    }
}

static void test_bad_documents(void **state)
{
    static const char *const docs[] = {
        "",
        " ",
        "null",
        "[]",
        "\"" SECRET_1 "\"",
        "{",
        "{\"secret\":\"" SECRET_1 "\"",
        "{\"secret\":" SECRET_1 "}",
        MINIMAL_DOC " x",
        "{\"tenantId\":1,\"tenantId\":2}",
        "{\"url\":\"\xff\"}",
    };
    subscription_t sub;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        if (parse("sub_1", docs[i], &sub, err, sizeof(err)) != -1) {
            fail_msg("document %zu accepted", i);
        }
        assert_null(sub.id);
        assert_non_null(strstr(err, "sub_1"));
        assert_null(strstr(err, SECRET_1_PART));
    }
    assert_int_equal(
        subscription_parse("sub_1", NULL, 0, &sub, err, sizeof(err)), -1);
    assert_int_equal(subscription_parse("sub_1", "{", 1, &sub, NULL, 0), -1);
}

static void test_url_schemes(void **state)
{
    static const char *const good[] = {
        "\"https://erp.example.com/hooks\"", "\"http://localhost:8080/hook\"",
        "\"HTTPS://ERP.EXAMPLE.COM/\"",      "\"Http://h\"",
        "\"https://h/p?q=1&r=%20\"",
    };
    subscription_t sub;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (parse_with(MINIMAL_DOC, "url", good[i], &sub, err, sizeof(err)) !=
            0) {
            fail_msg("url %zu rejected: %s", i, err);
        }
        subscription_free(&sub);
    }
}

static subscription_t with_patterns(const char *patterns_json)
{
    subscription_t sub;
    char err[256];

    if (parse_with(MINIMAL_DOC, "eventTypes", patterns_json, &sub, err,
                   sizeof(err)) != 0) {
        fail_msg("patterns rejected: %s", err);
    }
    return sub;
}

static void test_patterns(void **state)
{
    subscription_t sub;

    (void)state;
    sub = with_patterns("[\"target.*\"]");
    assert_true(subscription_type_matches(&sub, "target.imported"));
    assert_true(subscription_type_matches(&sub, "target.cancelled"));
    assert_false(subscription_type_matches(&sub, "target"));
    assert_false(subscription_type_matches(&sub, "target."));
    assert_false(subscription_type_matches(&sub, "targets.x"));
    assert_false(subscription_type_matches(&sub, "route.published"));
    assert_false(subscription_type_matches(&sub, "xtarget.imported"));
    assert_false(subscription_type_matches(&sub, NULL));
    subscription_free(&sub);

    sub = with_patterns("[\"route.*\"]");
    assert_true(subscription_type_matches(&sub, "route.suggestion.created"));
    assert_true(subscription_type_matches(&sub, "route.published"));
    assert_false(subscription_type_matches(&sub, "router.published"));
    subscription_free(&sub);

    sub = with_patterns("[\"route.suggestion.*\"]");
    assert_true(subscription_type_matches(&sub, "route.suggestion.created"));
    assert_false(subscription_type_matches(&sub, "route.published"));
    subscription_free(&sub);

    sub = with_patterns("[\"appointment.completed\",\"billing.*\"]");
    assert_true(subscription_type_matches(&sub, "appointment.completed"));
    assert_false(subscription_type_matches(&sub, "appointment.started"));
    assert_false(subscription_type_matches(&sub, "appointment.completed.x"));
    assert_false(subscription_type_matches(&sub, "appointment"));
    assert_true(subscription_type_matches(&sub, "billing.event_created"));
    subscription_free(&sub);

    sub = with_patterns("[\"*\"]");
    assert_true(subscription_type_matches(&sub, "target.imported"));
    assert_true(subscription_type_matches(&sub, "visit_report.approved"));
    assert_false(subscription_type_matches(&sub, NULL));
    subscription_free(&sub);

    sub = with_patterns("[]");
    assert_int_equal(sub.n_event_types, 0);
    assert_false(subscription_type_matches(&sub, "target.imported"));
    subscription_free(&sub);

    assert_false(subscription_type_matches(NULL, "target.imported"));
}

static event_t make_event(int64_t tenant, const char *type, const char *source)
{
    event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.event_id = "evt_1";
    ev.event_type = type;
    ev.event_version = "v1";
    ev.tenant_id = tenant;
    ev.occurred_at = "2026-06-25T14:31:00Z";
    ev.source_system = source;
    return ev;
}

static void test_matches(void **state)
{
    subscription_t sub;
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(parse_with(MINIMAL_DOC, "eventTypes",
                                "[\"target.*\",\"appointment.completed\"]",
                                &sub, err, sizeof(err)),
                     0);
    ev = make_event(15, "target.imported", "logistics_erp");
    assert_true(subscription_matches(&sub, &ev));
    ev = make_event(15, "appointment.completed", NULL);
    assert_true(subscription_matches(&sub, &ev));
    ev = make_event(16, "target.imported", "logistics_erp");
    assert_false(subscription_matches(&sub, &ev));
    ev = make_event(15, "appointment.started", "logistics_erp");
    assert_false(subscription_matches(&sub, &ev));

    sub.active = false;
    ev = make_event(15, "target.imported", "logistics_erp");
    assert_false(subscription_matches(&sub, &ev));
    assert_false(subscription_matches(NULL, &ev));
    assert_false(subscription_matches(&sub, NULL));
    subscription_free(&sub);
}

static void test_inactive_document(void **state)
{
    subscription_t sub;
    event_t ev = make_event(15, "target.imported", NULL);
    char err[256];

    (void)state;
    assert_int_equal(
        parse_with(MINIMAL_DOC, "active", "false", &sub, err, sizeof(err)), 0);
    assert_false(sub.active);
    assert_false(subscription_matches(&sub, &ev));
    subscription_free(&sub);

    assert_int_equal(
        parse_with(MINIMAL_DOC, "active", "true", &sub, err, sizeof(err)), 0);
    assert_true(subscription_matches(&sub, &ev));
    subscription_free(&sub);
}

static void test_source_system_filter(void **state)
{
    subscription_t sub;
    event_t ev;
    char err[256];

    (void)state;
    assert_int_equal(parse_with(MINIMAL_DOC, "sourceSystems",
                                "[\"logistics_erp\",\"crm\"]", &sub, err,
                                sizeof(err)),
                     0);
    ev = make_event(15, "target.imported", "logistics_erp");
    assert_true(subscription_matches(&sub, &ev));
    ev = make_event(15, "target.imported", "crm");
    assert_true(subscription_matches(&sub, &ev));
    ev = make_event(15, "target.imported", "other_erp");
    assert_false(subscription_matches(&sub, &ev));
    ev = make_event(15, "target.imported", "logistics_erp2");
    assert_false(subscription_matches(&sub, &ev));
    ev = make_event(15, "target.imported", "");
    assert_false(subscription_matches(&sub, &ev));
    /* An event without a source system passes no list. */
    ev = make_event(15, "route.published", NULL);
    assert_false(subscription_matches(&sub, &ev));
    subscription_free(&sub);

    /* An empty list lets nothing through; no list lets everything. */
    assert_int_equal(
        parse_with(MINIMAL_DOC, "sourceSystems", "[]", &sub, err, sizeof(err)),
        0);
    assert_non_null(sub.source_systems);
    ev = make_event(15, "target.imported", "logistics_erp");
    assert_false(subscription_matches(&sub, &ev));
    subscription_free(&sub);

    assert_int_equal(parse("sub_1", MINIMAL_DOC, &sub, err, sizeof(err)), 0);
    ev = make_event(15, "target.imported", "anything");
    assert_true(subscription_matches(&sub, &ev));
    ev = make_event(15, "target.imported", NULL);
    assert_true(subscription_matches(&sub, &ev));
    subscription_free(&sub);
}

static void test_source_system_not_filter(void **state)
{
    subscription_t sub;
    event_t ev = make_event(15, "target.imported", "crm");
    char err[256];

    (void)state;
    /* The subscription's own sourceSystem picks external ids; it does not
     * filter events. */
    assert_int_equal(parse_with(MINIMAL_DOC, "sourceSystem",
                                "\"logistics_erp\"", &sub, err, sizeof(err)),
                     0);
    assert_string_equal(sub.source_system, "logistics_erp");
    assert_true(subscription_matches(&sub, &ev));
    subscription_free(&sub);
}

static void test_free_zeroed(void **state)
{
    subscription_t sub;

    (void)state;
    memset(&sub, 0, sizeof(sub));
    subscription_free(&sub);
    subscription_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_document),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_nulls_take_defaults),
        cmocka_unit_test(test_active_null_refused),
        cmocka_unit_test(test_id_length),
        cmocka_unit_test(test_partial_options),
        cmocka_unit_test(test_subscription_id),
        cmocka_unit_test(test_malformed_fields),
        cmocka_unit_test(test_bad_documents),
        cmocka_unit_test(test_url_schemes),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_inactive_document),
        cmocka_unit_test(test_source_system_filter),
        cmocka_unit_test(test_source_system_not_filter),
        cmocka_unit_test(test_free_zeroed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
