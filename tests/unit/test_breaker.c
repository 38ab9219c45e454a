/* Unit tests for breaker.c: the per-endpoint state machine over time, and
 * the endpoint key of a URL. */

#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "breaker.h"

#define EP       "https://erp.example.com:443"
#define OTHER    "https://crm.example.com:443"
#define COOLDOWN 30000

static breakers_t *new_breakers(int threshold)
{
    breakers_t *b = breakers_new(threshold, COOLDOWN);
    assert_non_null(b);
    return b;
}

/* Reports n failures at time t, none of which may open the breaker. */
static void fail_quietly(breakers_t *b, const char *ep, int n, int64_t t)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(breakers_check(b, ep, t), BREAKER_ALLOW);
        assert_false(breakers_report(b, ep, true, false, t));
    }
}

/* Opens ep's breaker at time t with threshold failures. */
static void trip(breakers_t *b, const char *ep, int threshold, int64_t t)
{
    fail_quietly(b, ep, threshold - 1, t);
    assert_int_equal(breakers_check(b, ep, t), BREAKER_ALLOW);
    assert_true(breakers_report(b, ep, true, false, t));
    assert_true(breakers_is_open(b, ep, t));
}

static void test_closed_allows(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(3);

    assert_int_equal(breakers_check(b, EP, 0), BREAKER_ALLOW);
    assert_false(breakers_is_open(b, EP, 0));
    assert_false(breakers_report(b, EP, false, false, 0));
    assert_int_equal(breakers_check(b, EP, 1), BREAKER_ALLOW);
    breakers_free(b);
    breakers_free(NULL);
}

static void test_threshold_opens(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(3);

    fail_quietly(b, EP, 2, 1000);
    assert_false(breakers_is_open(b, EP, 1000));
    assert_int_equal(breakers_check(b, EP, 1000), BREAKER_ALLOW);
    assert_true(breakers_report(b, EP, true, false, 1000));
    assert_true(breakers_is_open(b, EP, 1000));
    assert_int_equal(breakers_check(b, EP, 1000), BREAKER_SKIP);

    /* Other endpoints are not affected. */
    assert_int_equal(breakers_check(b, OTHER, 1000), BREAKER_ALLOW);
    assert_false(breakers_is_open(b, OTHER, 1000));
    breakers_free(b);
}

static void test_success_resets_count(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(3);

    fail_quietly(b, EP, 2, 0);
    assert_false(breakers_report(b, EP, false, false, 0));
    fail_quietly(b, EP, 2, 0);
    assert_false(breakers_is_open(b, EP, 0));
    assert_true(breakers_report(b, EP, true, false, 0));
    breakers_free(b);
}

static void test_threshold_one(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(1);

    assert_true(breakers_report(b, EP, true, false, 5));
    assert_int_equal(breakers_check(b, EP, 5), BREAKER_SKIP);
    breakers_free(b);

    /* A threshold below one acts as one. */
    b = new_breakers(0);
    assert_true(breakers_report(b, EP, true, false, 5));
    breakers_free(b);
}

static void test_cooldown_then_single_probe(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(2);

    trip(b, EP, 2, 1000);
    assert_int_equal(breakers_check(b, EP, 1000 + COOLDOWN - 1), BREAKER_SKIP);
    assert_int_equal(breakers_check(b, EP, 1000 + COOLDOWN), BREAKER_PROBE);
    /* One probe at a time: the rest wait for its answer. */
    assert_int_equal(breakers_check(b, EP, 1000 + COOLDOWN), BREAKER_SKIP);
    assert_int_equal(breakers_check(b, EP, 1000 + COOLDOWN + 5000),
                     BREAKER_SKIP);
    assert_true(breakers_is_open(b, EP, 1000 + COOLDOWN + 5000));
    breakers_free(b);
}

static void test_probe_success_closes(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(2);
    int64_t t = 1000 + COOLDOWN;

    trip(b, EP, 2, 1000);
    assert_int_equal(breakers_check(b, EP, t), BREAKER_PROBE);
    assert_false(breakers_report(b, EP, false, false, t + 200));
    assert_false(breakers_is_open(b, EP, t + 200));
    assert_int_equal(breakers_check(b, EP, t + 200), BREAKER_ALLOW);
    assert_int_equal(breakers_check(b, EP, t + 201), BREAKER_ALLOW);

    /* Closed again with a fresh count: the full threshold to reopen. */
    assert_false(breakers_report(b, EP, true, false, t + 300));
    assert_true(breakers_report(b, EP, true, false, t + 400));
    breakers_free(b);
}

static void test_probe_failure_reopens(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(2);
    int64_t t = 1000 + COOLDOWN;

    trip(b, EP, 2, 1000);
    assert_int_equal(breakers_check(b, EP, t), BREAKER_PROBE);
    /* The probe fails 15 s later: a whole new cooldown from then. */
    assert_true(breakers_report(b, EP, true, true, t + 15000));
    assert_true(breakers_is_open(b, EP, t + 15000));
    assert_int_equal(breakers_check(b, EP, t + 15000), BREAKER_SKIP);
    assert_int_equal(breakers_check(b, EP, t + 15000 + COOLDOWN - 1),
                     BREAKER_SKIP);
    assert_int_equal(breakers_check(b, EP, t + 15000 + COOLDOWN),
                     BREAKER_PROBE);
    assert_int_equal(breakers_check(b, EP, t + 15000 + COOLDOWN), BREAKER_SKIP);
    assert_false(
        breakers_report(b, EP, false, false, t + 15000 + COOLDOWN + 10));
    assert_int_equal(breakers_check(b, EP, t + 15000 + COOLDOWN + 10),
                     BREAKER_ALLOW);
    breakers_free(b);
}

static void test_late_reports_while_open(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(2);

    /* Four requests go out; the first two failures open the breaker. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(breakers_check(b, EP, 0), BREAKER_ALLOW);
    }
    assert_false(breakers_report(b, EP, true, false, 100));
    assert_true(breakers_report(b, EP, true, false, 200));

    /* A late failure changes nothing, the cooldown included. */
    assert_false(breakers_report(b, EP, true, false, 5000));
    assert_true(breakers_is_open(b, EP, 5000));
    assert_int_equal(breakers_check(b, EP, 200 + COOLDOWN - 1), BREAKER_SKIP);
    assert_int_equal(breakers_check(b, EP, 200 + COOLDOWN), BREAKER_PROBE);
    /* Half-open, a late failure of an older request is no answer to the
     * probe: nothing reopens, and the probe stays the only request out. */
    assert_false(breakers_report(b, EP, true, false, 200 + COOLDOWN + 1));
    assert_int_equal(breakers_check(b, EP, 200 + COOLDOWN + 1), BREAKER_SKIP);
    assert_true(breakers_report(b, EP, true, true, 200 + COOLDOWN + 2));
    breakers_free(b);

    /* A late success closes it: the endpoint answers again. */
    b = new_breakers(2);
    trip(b, EP, 2, 0);
    assert_false(breakers_report(b, EP, false, false, 10));
    assert_false(breakers_is_open(b, EP, 10));
    assert_int_equal(breakers_check(b, EP, 10), BREAKER_ALLOW);
    breakers_free(b);
}

static void test_lost_probe(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(2);
    int64_t t = COOLDOWN;

    /* A probe whose answer never comes: after another cooldown, another
     * probe, and no more than one per cooldown. */
    trip(b, EP, 2, 0);
    assert_int_equal(breakers_check(b, EP, t), BREAKER_PROBE);
    assert_int_equal(breakers_check(b, EP, t + COOLDOWN - 1), BREAKER_SKIP);
    assert_int_equal(breakers_check(b, EP, t + COOLDOWN), BREAKER_PROBE);
    assert_int_equal(breakers_check(b, EP, t + COOLDOWN), BREAKER_SKIP);
    assert_false(breakers_report(b, EP, false, false, t + COOLDOWN + 1));
    assert_int_equal(breakers_check(b, EP, t + COOLDOWN + 1), BREAKER_ALLOW);
    breakers_free(b);
}

static void test_many_endpoints(void **state)
{
    (void)state;
    breakers_t *b = new_breakers(2);
    char ep[64];

    /* Every odd endpoint trips; the even ones fail once then recover. */
    for (int i = 0; i < 2000; i++) {
        snprintf(ep, sizeof(ep), "https://h%d.example.com:443", i);
        assert_false(breakers_report(b, ep, true, false, 0));
        if (i % 2 == 1) {
            assert_true(breakers_report(b, ep, true, false, 0));
        } else {
            assert_false(breakers_report(b, ep, false, false, 0));
        }
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(ep, sizeof(ep), "https://h%d.example.com:443", i);
        assert_int_equal(breakers_is_open(b, ep, 1), i % 2 == 1);
        assert_int_equal(breakers_check(b, ep, 1),
                         i % 2 == 1 ? BREAKER_SKIP : BREAKER_ALLOW);
    }
    breakers_free(b);
}

struct endpoint_case {
    const char *url;
    const char *want; /* NULL: rejected */
};

static const struct endpoint_case ENDPOINTS[] = {
    {"https://erp.example.com/hooks", "https://erp.example.com:443"},
    {"https://erp.example.com", "https://erp.example.com:443"},
    {"http://erp.example.com/", "http://erp.example.com:80"},
    {"HTTPS://ERP.Example.COM/Path", "https://erp.example.com:443"},
    {"http://user:pw@erp.example.com:8080/x?y#z",
     "http://erp.example.com:8080"},
    {"http://a@b@erp.example.com/", "http://erp.example.com:80"},
    {"https://erp.example.com:8443", "https://erp.example.com:8443"},
    {"https://erp.example.com:443/", "https://erp.example.com:443"},
    {"https://erp.example.com:0443/", "https://erp.example.com:443"},
    {"https://erp.example.com:/x", "https://erp.example.com:443"},
    {"https://erp.example.com?q=1", "https://erp.example.com:443"},
    {"https://erp.example.com#frag", "https://erp.example.com:443"},
    {"https://erp.example.com/a@b", "https://erp.example.com:443"},
    {"https://[2001:DB8::1]:8443/p", "https://[2001:db8::1]:8443"},
    {"https://[::1]/", "https://[::1]:443"},
    {"http://u@[fe80::1]", "http://[fe80::1]:80"},
    {"https://127.0.0.1:65535/", "https://127.0.0.1:65535"},
    {"ftp://files.example.com/x", "ftp://files.example.com"},
    {"ftp://files.example.com:21/x", "ftp://files.example.com:21"},
    {"", NULL},
    {"erp.example.com/hooks", NULL},
    {"://erp.example.com", NULL},
    {"1https://erp.example.com", NULL},
    {"https:/erp.example.com", NULL},
    {"https://", NULL},
    {"https:///path", NULL},
    {"https://user@/path", NULL},
    {"https://:443/", NULL},
    {"https://erp.example.com:abc/", NULL},
    {"https://erp.example.com:-1/", NULL},
    {"https://erp.example.com:65536/", NULL},
    {"https://erp.example.com:99999999999999999999/", NULL},
    {"https://erp.example.com:0/", NULL},
    {"https://[::1/", NULL},
    {"https://[::1]x/", NULL},
    {"https://[]/", NULL},
};

static void test_endpoint_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ENDPOINTS) / sizeof(ENDPOINTS[0]); i++) {
        const struct endpoint_case *c = &ENDPOINTS[i];
        char buf[128] = "junk";
        int rc = breakers_endpoint(c->url, buf, sizeof(buf));
        if (c->want == NULL) {
            if (rc != -1) {
                fail_msg("accepted \"%s\" as \"%s\"", c->url, buf);
            }
            assert_string_equal(buf, "");
        } else {
            if (rc != 0) {
                fail_msg("rejected \"%s\"", c->url);
            }
            assert_string_equal(buf, c->want);
        }
    }
}

static void test_endpoint_overflow(void **state)
{
    (void)state;
    char buf[32];

    /* "http://h.example:80" is 19 bytes: 20 with the NUL fits. */
    assert_int_equal(breakers_endpoint("http://h.example/x", buf, 20), 0);
    assert_string_equal(buf, "http://h.example:80");
    for (size_t size = 1; size < 20; size++) {
        memset(buf, 'x', sizeof(buf));
        assert_int_equal(breakers_endpoint("http://h.example/x", buf, size),
                         -1);
        assert_string_equal(buf, "");
    }
    assert_int_equal(breakers_endpoint("http://h.example/x", buf, 0), -1);

    /* A host longer than any buffer. */
    char url[600];
    memcpy(url, "https://", 8);
    memset(url + 8, 'a', 500);
    strcpy(url + 508, "/p");
    assert_int_equal(breakers_endpoint(url, buf, sizeof(buf)), -1);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_allows),
        cmocka_unit_test(test_threshold_opens),
        cmocka_unit_test(test_success_resets_count),
        cmocka_unit_test(test_threshold_one),
        cmocka_unit_test(test_cooldown_then_single_probe),
        cmocka_unit_test(test_probe_success_closes),
        cmocka_unit_test(test_probe_failure_reopens),
        cmocka_unit_test(test_late_reports_while_open),
        cmocka_unit_test(test_lost_probe),
        cmocka_unit_test(test_many_endpoints),
        cmocka_unit_test(test_endpoint_keys),
        cmocka_unit_test(test_endpoint_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
