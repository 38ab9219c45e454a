/* ULID encoding against known values, and fresh ids from ulid_make(). */

#include "unit.h"

#include <string.h>
#include <time.h>

#include "ulid.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void test_zero(void **state)
{
    unsigned char rnd[10] = {0};
    char out[ULID_LEN + 1];

    (void)state;
    memset(out, 'x', sizeof(out));
    ulid_encode(0, rnd, out);
    assert_string_equal(out, "00000000000000000000000000");
}

static void test_known_time(void **state)
{
    unsigned char rnd[10] = {0};
    char out[ULID_LEN + 1];

    (void)state;
    ulid_encode(UINT64_C(1469918176385), rnd, out);
    assert_memory_equal(out, "01ARYZ6S41", 10);
    assert_string_equal(out + 10, "0000000000000000");
}

static void test_known_randomness(void **state)
{
    const unsigned char rnd[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    const unsigned char ones[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff};
    const unsigned char top_bit[10] = {0x80};
    char out[ULID_LEN + 1];

    (void)state;
    /* Expected values computed independently as one 128-bit number. */
    ulid_encode(UINT64_C(1469918176385), rnd, out);
    assert_string_equal(out, "01ARYZ6S41041061050R3GG28A");

    ulid_encode(0, ones, out);
    assert_string_equal(out, "0000000000ZZZZZZZZZZZZZZZZ");

    ulid_encode(1, top_bit, out);
    assert_string_equal(out, "0000000001G000000000000000");
}

static void test_time_limits(void **state)
{
    unsigned char rnd[10] = {0};
    char out[ULID_LEN + 1];

    (void)state;
    ulid_encode((UINT64_C(1) << 48) - 1, rnd, out);
    assert_string_equal(out, "7ZZZZZZZZZ0000000000000000");

    /* Bits above 48 are ignored rather than spilling into the first char. */
    ulid_encode(UINT64_C(1) << 48, rnd, out);
    assert_string_equal(out, "00000000000000000000000000");
}

static uint64_t decode_time(const char *s)
{
    uint64_t ms = 0;
    int i;

    for (i = 0; i < 10; i++) {
        const char *p = strchr(alphabet, s[i]);

        assert_non_null(p);
        ms = ms * 32 + (uint64_t)(p - alphabet);
    }
    return ms;
}

static void test_make(void **state)
{
    char a[64];
    char b[64];
    struct timespec now;
    uint64_t now_ms, ms;
    size_t i;

    (void)state;
    clock_gettime(CLOCK_REALTIME, &now);
    now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;

    assert_int_equal(ulid_make("del_", a, sizeof(a)), 0);
    assert_int_equal(strlen(a), 4 + ULID_LEN);
    assert_memory_equal(a, "del_", 4);
    for (i = 4; i < strlen(a); i++) {
        assert_non_null(strchr(alphabet, a[i]));
    }
    ms = decode_time(a + 4);
    assert_true(ms >= now_ms && ms < now_ms + 60000);

    assert_int_equal(ulid_make("del_", b, sizeof(b)), 0);
    assert_string_not_equal(a, b);
}

static void test_make_sizes(void **state)
{
    char out[4 + ULID_LEN + 1];

    (void)state;
    assert_int_equal(ulid_make("del_", out, sizeof(out)), 0);
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_int_equal(ulid_make("del_", out, sizeof(out) - 1), -1);

    assert_int_equal(ulid_make(NULL, out, ULID_LEN + 1), 0);
    assert_int_equal(strlen(out), ULID_LEN);
    assert_int_equal(ulid_make("", out, ULID_LEN), -1);
    assert_int_equal(ulid_make("", NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero),
        cmocka_unit_test(test_known_time),
        cmocka_unit_test(test_known_randomness),
        cmocka_unit_test(test_time_limits),
        cmocka_unit_test(test_make),
        cmocka_unit_test(test_make_sizes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
