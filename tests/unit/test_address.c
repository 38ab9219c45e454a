/* The outbound address policy: which connected addresses are refused. */

#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "deliver.h"

typedef struct addr_case {
    const char *text;
    bool is_private;
} addr_case_t;

static bool v4(const char *text)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(443);
    if (inet_pton(AF_INET, text, &sin.sin_addr) != 1) {
        fail_msg("bad IPv4 literal in the test: %s", text);
    }
    return deliver_address_is_private((const struct sockaddr *)&sin);
}

static bool v6(const char *text)
{
    struct sockaddr_in6 sin6;

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(443);
    if (inet_pton(AF_INET6, text, &sin6.sin6_addr) != 1) {
        fail_msg("bad IPv6 literal in the test: %s", text);
    }
    return deliver_address_is_private((const struct sockaddr *)&sin6);
}

static void check(bool (*classify)(const char *), const addr_case_t *cases,
                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool got = classify(cases[i].text);
        if (got != cases[i].is_private) {
            fail_msg("%s: expected %s, got %s", cases[i].text,
                     cases[i].is_private ? "refused" : "allowed",
                     got ? "refused" : "allowed");
        }
    }
}

static void test_ipv4_refused(void **state)
{
    static const addr_case_t cases[] = {
        {"0.0.0.0", true},         /* "this host" */
        {"0.255.255.255", true},   /* 0/8 */
        {"127.0.0.1", true},       /* loopback */
        {"127.255.255.254", true}, /* all of 127/8 */
        {"10.0.0.1", true},        /* RFC 1918 */
        {"10.255.255.255", true},
        {"172.16.0.1", true},
        {"172.31.255.255", true},
        {"192.168.0.1", true},
        {"192.168.255.255", true},
        {"100.64.0.1", true}, /* shared address space, 100.64/10 */
        {"100.127.255.255", true},
        {"169.254.0.1", true},     /* link-local */
        {"169.254.169.254", true}, /* cloud metadata */
        {"168.63.129.16", true},   /* Azure platform endpoint */
        {"192.0.0.1", true},       /* IETF protocol assignments */
        {"198.18.0.1", true},      /* benchmarking, 198.18/15 */
        {"198.19.255.255", true},
        {"224.0.0.1", true}, /* multicast */
        {"239.255.255.250", true},
        {"240.0.0.1", true},       /* reserved */
        {"255.255.255.255", true}, /* broadcast */
    };

    (void)state;
    check(v4, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_ipv4_allowed(void **state)
{
    static const addr_case_t cases[] = {
        {"93.184.216.34", false},
        {"8.8.8.8", false},
        {"1.1.1.1", false},
        /* Just outside each refused range. */
        {"9.255.255.255", false},
        {"11.0.0.0", false},
        {"100.63.255.255", false},
        {"100.128.0.0", false},
        {"126.255.255.255", false},
        {"128.0.0.0", false},
        {"169.253.255.255", false},
        {"169.255.0.0", false},
        {"172.15.255.255", false},
        {"172.32.0.0", false},
        {"192.167.255.255", false},
        {"192.169.0.0", false},
        {"192.0.1.0", false},
        {"198.17.255.255", false},
        {"198.20.0.0", false},
        {"223.255.255.255", false},
        {"1.0.0.0", false},
    };

    (void)state;
    check(v4, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_ipv6_refused(void **state)
{
    static const addr_case_t cases[] = {
        {"::", true},  /* unspecified */
        {"::1", true}, /* loopback */
        /* IPv4-mapped: the IPv4 rules apply to the embedded address. */
        {"::ffff:10.0.0.1", true},
        {"::ffff:127.0.0.1", true},
        {"::ffff:169.254.169.254", true},
        {"::ffff:192.168.1.1", true},
        {"::ffff:100.64.0.1", true},
        {"::ffff:0.0.0.0", true},
        /* NAT64 well-known prefix, likewise. */
        {"64:ff9b::a00:1", true},
        {"64:ff9b::7f00:1", true},
        {"64:ff9b::a9fe:a9fe", true},
        {"64:ff9b::c0a8:101", true},
        /* IPv4-compatible (deprecated), local-use NAT64, IETF protocol
         * assignments (Teredo among them), documentation: refused
         * whatever follows. */
        {"::10.0.0.1", true},
        {"::93.184.216.34", true},
        {"64:ff9b:1::5db8:d822", true},
        {"2001:0:4136:e378:8000:63bf:3fff:fdd2", true},
        {"2001:db8::1", true},
        {"2001:1ff::1", true},
        /* 6to4: the IPv4 rules apply to the embedded address. */
        {"2002:a00:1::1", true},
        {"2002:7f00:1::1", true},
        {"2002:a9fe:a9fe::1", true},
        /* Unique local fc00::/7. */
        {"fc00::1", true},
        {"fd00::1", true},
        {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
        /* Link-local fe80::/10. */
        {"fe80::1", true},
        {"fe80::1ff:fe23:4567:890a", true},
        {"febf:ffff::1", true},
        /* Multicast. */
        {"ff02::1", true},
        {"ff0e::101", true},
    };

    (void)state;
    check(v6, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_ipv6_allowed(void **state)
{
    static const addr_case_t cases[] = {
        {"2606:4700::1", false},
        {"2001:4860:4860::8888", false},
        {"2a00:1450:4001:80b::200e", false},
        /* Mapped and NAT64 forms of public IPv4 addresses. */
        {"::ffff:93.184.216.34", false},
        {"64:ff9b::5db8:d822", false},
        {"2002:5db8:d822::1", false},
        {"2001:200::1", false},
        /* Next to the refused ranges. */
        {"fbff:ffff::1", false},
        {"fe7f:ffff::1", false},
        {"feff::1", false},
    };

    (void)state;
    check(v6, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_other_families_refused(void **state)
{
    struct sockaddr_un un;
    struct sockaddr sa;

    (void)state;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, "/run/docker.sock");
    assert_true(deliver_address_is_private((const struct sockaddr *)&un));

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNSPEC;
    assert_true(deliver_address_is_private(&sa));
}

static void test_port_is_irrelevant(void **state)
{
    struct sockaddr_in sin;

    (void)state;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, "93.184.216.34", &sin.sin_addr);
    for (int port = 0; port < 65536; port += 4099) {
        sin.sin_port = htons((uint16_t)port);
        assert_false(deliver_address_is_private((struct sockaddr *)&sin));
    }
    inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
    sin.sin_port = htons(443);
    assert_true(deliver_address_is_private((struct sockaddr *)&sin));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_refused),
        cmocka_unit_test(test_ipv4_allowed),
        cmocka_unit_test(test_ipv6_refused),
        cmocka_unit_test(test_ipv6_allowed),
        cmocka_unit_test(test_other_families_refused),
        cmocka_unit_test(test_port_is_irrelevant),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
