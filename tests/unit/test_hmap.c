/* The expiring map: lookups, expiry, replacement, eviction when full,
 * growth across many keys, deletion, and ownership of the values. */

#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

/* Values are heap strings; the free function counts what it frees. */
static int n_freed;
static char last_freed[64];

static void count_free(void *value)
{
    n_freed++;
    snprintf(last_freed, sizeof(last_freed), "%s", (const char *)value);
    free(value);
}

static int reset(void **state)
{
    (void)state;
    n_freed = 0;
    last_freed[0] = '\0';
    return 0;
}

static char *val(const char *s)
{
    char *v = strdup(s);

    assert_non_null(v);
    return v;
}

/* The value under key at now_ms, or NULL when absent. */
static const char *get(hmap_t *m, const char *key, int64_t now_ms)
{
    void *v = (void *)"untouched";

    if (!hmap_get(m, key, now_ms, &v)) {
        assert_string_equal(v, "untouched");
        return NULL;
    }
    return v;
}

static void test_put_get(void **state)
{
    hmap_t *m = hmap_new(100, count_free);

    (void)state;
    assert_non_null(m);
    assert_int_equal(hmap_size(m), 0);
    assert_null(get(m, "a", 0));

    assert_int_equal(hmap_put(m, "a", val("one"), 0, 1000), 0);
    assert_int_equal(hmap_put(m, "b", val("two"), 0, 1000), 0);
    assert_int_equal(hmap_put(m, "", val("empty key"), 0, 1000), 0);
    assert_int_equal(hmap_size(m), 3);
    assert_string_equal(get(m, "a", 0), "one");
    assert_string_equal(get(m, "b", 999), "two");
    assert_string_equal(get(m, "", 500), "empty key");
    assert_null(get(m, "c", 0));
    assert_null(get(m, "A", 0)); /* keys are case-sensitive */
    assert_null(get(m, "ab", 0));
    assert_int_equal(n_freed, 0);

    hmap_free(m);
    assert_int_equal(n_freed, 3);
    hmap_free(NULL);
}

static void test_key_is_copied(void **state)
{
    hmap_t *m = hmap_new(10, count_free);
    char key[16] = "tenant:15";

    (void)state;
    assert_int_equal(hmap_put(m, key, val("v"), 0, 100), 0);
    memset(key, 'x', sizeof(key) - 1);
    assert_string_equal(get(m, "tenant:15", 0), "v");
    hmap_free(m);
}

static void test_expiry(void **state)
{
    hmap_t *m = hmap_new(100, count_free);

    (void)state;
    assert_int_equal(hmap_put(m, "k", val("v"), 1000, 1500), 0);
    assert_string_equal(get(m, "k", 1499), "v");
    assert_int_equal(n_freed, 0);

    /* Expiry is exclusive: at expires_ms the entry is gone, and removed. */
    assert_null(get(m, "k", 1500));
    assert_int_equal(hmap_size(m), 0);
    assert_int_equal(n_freed, 1);
    assert_string_equal(last_freed, "v");
    assert_null(get(m, "k", 0)); /* removed, not just hidden */

    /* An entry already expired when stored is never returned. */
    assert_int_equal(hmap_put(m, "late", val("x"), 2000, 2000), 0);
    assert_null(get(m, "late", 2000));
    assert_int_equal(n_freed, 2);
    hmap_free(m);
}

static void test_null_values(void **state)
{
    hmap_t *m = hmap_new(10, count_free);
    void *v = (void *)"untouched";

    (void)state;
    /* A NULL value is a cached "not found": present, and never freed. */
    assert_int_equal(hmap_put(m, "missing", NULL, 0, 100), 0);
    assert_true(hmap_get(m, "missing", 0, &v));
    assert_null(v);
    assert_int_equal(hmap_size(m), 1);
    hmap_del(m, "missing");
    assert_int_equal(hmap_size(m), 0);
    assert_int_equal(n_freed, 0);
    hmap_free(m);
}

static void test_replace_frees_old(void **state)
{
    hmap_t *m = hmap_new(100, count_free);

    (void)state;
    assert_int_equal(hmap_put(m, "k", val("old"), 0, 100), 0);
    assert_int_equal(hmap_put(m, "k", val("new"), 0, 50), 0);
    assert_int_equal(n_freed, 1);
    assert_string_equal(last_freed, "old");
    assert_int_equal(hmap_size(m), 1);
    assert_string_equal(get(m, "k", 0), "new");
    /* The new expiry replaced the old one. */
    assert_null(get(m, "k", 50));
    assert_int_equal(n_freed, 2);
    assert_string_equal(last_freed, "new");
    hmap_free(m);
    assert_int_equal(n_freed, 2);
}

static void test_replace_when_full_keeps_others(void **state)
{
    hmap_t *m = hmap_new(3, count_free);

    (void)state;
    assert_int_equal(hmap_put(m, "a", val("a1"), 0, 100), 0);
    assert_int_equal(hmap_put(m, "b", val("b1"), 0, 100), 0);
    assert_int_equal(hmap_put(m, "c", val("c1"), 0, 100), 0);
    /* Replacing makes room first, so nothing else is evicted. */
    assert_int_equal(hmap_put(m, "b", val("b2"), 0, 100), 0);
    assert_int_equal(hmap_size(m), 3);
    assert_int_equal(n_freed, 1);
    assert_string_equal(get(m, "a", 0), "a1");
    assert_string_equal(get(m, "b", 0), "b2");
    assert_string_equal(get(m, "c", 0), "c1");
    hmap_free(m);
}

static void test_full_evicts_expired_first(void **state)
{
    hmap_t *m = hmap_new(4, count_free);

    (void)state;
    assert_int_equal(hmap_put(m, "short1", val("s1"), 0, 100), 0);
    assert_int_equal(hmap_put(m, "long1", val("l1"), 0, 10000), 0);
    assert_int_equal(hmap_put(m, "short2", val("s2"), 0, 200), 0);
    assert_int_equal(hmap_put(m, "long2", val("l2"), 0, 10000), 0);
    assert_int_equal(hmap_size(m), 4);
    assert_int_equal(n_freed, 0);

    /* Full at 150: only short1 has expired, and only it goes. */
    assert_int_equal(hmap_put(m, "new", val("n"), 150, 10000), 0);
    assert_int_equal(hmap_size(m), 4);
    assert_int_equal(n_freed, 1);
    assert_string_equal(last_freed, "s1");
    assert_string_equal(get(m, "short2", 150), "s2");
    assert_string_equal(get(m, "long1", 150), "l1");
    assert_string_equal(get(m, "long2", 150), "l2");
    assert_string_equal(get(m, "new", 150), "n");

    /* Full at 5000: short2 expired; both long ones stay. */
    assert_int_equal(hmap_put(m, "newer", val("n2"), 5000, 10000), 0);
    assert_int_equal(hmap_size(m), 4);
    assert_int_equal(n_freed, 2);
    assert_string_equal(last_freed, "s2");
    assert_string_equal(get(m, "long1", 5000), "l1");
    assert_string_equal(get(m, "newer", 5000), "n2");
    hmap_free(m);
    assert_int_equal(n_freed, 6);
}

static void test_full_without_expired_clears(void **state)
{
    hmap_t *m = hmap_new(3, count_free);

    (void)state;
    assert_int_equal(hmap_put(m, "a", val("a"), 0, 1000), 0);
    assert_int_equal(hmap_put(m, "b", val("b"), 0, 1000), 0);
    assert_int_equal(hmap_put(m, "c", val("c"), 0, 1000), 0);
    assert_int_equal(n_freed, 0);

    assert_int_equal(hmap_put(m, "d", val("d"), 10, 1000), 0);
    assert_int_equal(n_freed, 3);
    assert_int_equal(hmap_size(m), 1);
    assert_null(get(m, "a", 10));
    assert_null(get(m, "b", 10));
    assert_null(get(m, "c", 10));
    assert_string_equal(get(m, "d", 10), "d");

    /* Below the bound nothing is evicted, expired or not. */
    assert_int_equal(hmap_put(m, "e", val("e"), 2000, 3000), 0);
    assert_int_equal(hmap_size(m), 2);
    assert_int_equal(n_freed, 3);
    hmap_free(m);
    assert_int_equal(n_freed, 5);
}

static void test_growth_many_keys(void **state)
{
    enum { N = 5000 };
    hmap_t *m = hmap_new(N, count_free);
    char key[32];
    char expect[32];

    (void)state;
    /* Far more keys than the initial buckets: the table grows and every
     * key stays reachable. */
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "sub:%d", i);
        snprintf(expect, sizeof(expect), "value-%d", i);
        assert_int_equal(hmap_put(m, key, val(expect), 0, 1000 + i), 0);
    }
    assert_int_equal(hmap_size(m), N);
    assert_int_equal(n_freed, 0);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "sub:%d", i);
        snprintf(expect, sizeof(expect), "value-%d", i);
        assert_string_equal(get(m, key, 999), expect);
    }
    assert_null(get(m, "sub:5000", 0));

    /* Every other key deleted, the rest still found. */
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof(key), "sub:%d", i);
        hmap_del(m, key);
    }
    assert_int_equal(hmap_size(m), N / 2);
    assert_int_equal(n_freed, N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "sub:%d", i);
        snprintf(expect, sizeof(expect), "value-%d", i);
        if (i % 2 == 0) {
            assert_null(get(m, key, 999));
        } else {
            assert_string_equal(get(m, key, 999), expect);
        }
    }

    /* Expiry still applies after growth: at 3000, keys 0..1999 have gone. */
    assert_null(get(m, "sub:1999", 3000));
    assert_string_equal(get(m, "sub:2001", 3000), "value-2001");
    hmap_free(m);
    assert_int_equal(n_freed, N);
}

static void test_delete(void **state)
{
    hmap_t *m = hmap_new(10, count_free);

    (void)state;
    assert_int_equal(hmap_put(m, "a", val("a"), 0, 100), 0);
    assert_int_equal(hmap_put(m, "b", val("b"), 0, 100), 0);
    hmap_del(m, "a");
    assert_int_equal(n_freed, 1);
    assert_string_equal(last_freed, "a");
    assert_int_equal(hmap_size(m), 1);
    assert_null(get(m, "a", 0));
    assert_string_equal(get(m, "b", 0), "b");

    hmap_del(m, "a"); /* already gone */
    hmap_del(m, "zzz");
    assert_int_equal(n_freed, 1);
    assert_int_equal(hmap_size(m), 1);

    /* A deleted key can be stored again. */
    assert_int_equal(hmap_put(m, "a", val("a2"), 0, 100), 0);
    assert_string_equal(get(m, "a", 0), "a2");
    hmap_free(m);
    assert_int_equal(n_freed, 3);
}

static void test_clear(void **state)
{
    hmap_t *m = hmap_new(10, count_free);

    (void)state;
    assert_int_equal(hmap_put(m, "a", val("a"), 0, 100), 0);
    assert_int_equal(hmap_put(m, "b", val("b"), 0, 100), 0);
    hmap_clear(m);
    assert_int_equal(hmap_size(m), 0);
    assert_int_equal(n_freed, 2);
    assert_null(get(m, "a", 0));
    assert_int_equal(hmap_put(m, "a", val("again"), 0, 100), 0);
    assert_string_equal(get(m, "a", 0), "again");
    hmap_free(m);
    assert_int_equal(n_freed, 3);
}

static void test_size_counts_expired(void **state)
{
    hmap_t *m = hmap_new(10, count_free);

    (void)state;
    assert_int_equal(hmap_put(m, "a", val("a"), 0, 10), 0);
    assert_int_equal(hmap_put(m, "b", val("b"), 0, 20), 0);
    /* Expired entries count until something looks at them. */
    assert_int_equal(hmap_size(m), 2);
    assert_null(get(m, "a", 15));
    assert_int_equal(hmap_size(m), 1);
    hmap_free(m);
}

static void test_no_free_function(void **state)
{
    hmap_t *m = hmap_new(2, NULL);
    static int values[3];

    (void)state;
    /* Borrowed values: the map must not free them (ASan would notice). */
    assert_int_equal(hmap_put(m, "a", &values[0], 0, 100), 0);
    assert_int_equal(hmap_put(m, "a", &values[1], 0, 100), 0);
    assert_int_equal(hmap_put(m, "b", &values[2], 0, 100), 0);
    assert_int_equal(hmap_put(m, "c", &values[0], 0, 100), 0);
    assert_int_equal(hmap_size(m), 1);
    assert_ptr_equal(get(m, "c", 0), (const char *)&values[0]);
    hmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_put_get, reset),
        cmocka_unit_test_setup(test_key_is_copied, reset),
        cmocka_unit_test_setup(test_expiry, reset),
        cmocka_unit_test_setup(test_null_values, reset),
        cmocka_unit_test_setup(test_replace_frees_old, reset),
        cmocka_unit_test_setup(test_replace_when_full_keeps_others, reset),
        cmocka_unit_test_setup(test_full_evicts_expired_first, reset),
        cmocka_unit_test_setup(test_full_without_expired_clears, reset),
        cmocka_unit_test_setup(test_growth_many_keys, reset),
        cmocka_unit_test_setup(test_delete, reset),
        cmocka_unit_test_setup(test_clear, reset),
        cmocka_unit_test_setup(test_size_counts_expired, reset),
        cmocka_unit_test_setup(test_no_free_function, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
