/* Standard Webhooks signatures: the published vectors, key decoding and the
 * rotation header. */

#include "unit.h"

#include <string.h>

#include "sign.h"

#define SECRET_1 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define ID_1     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define TS_1     1614265330
#define BODY_1   "{\"test\": 2432232314}"
#define SIG_1    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

#define SECRET_2 "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
#define ID_2     "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"
#define TS_2     1649367553
#define BODY_2   "{\"email\":\"test@example.com\",\"username\":\"test_user\"}"
#define SIG_2    "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="

/* Message 1 signed with the key of secret 2 (computed independently). */
#define SIG_1_KEY_2 "v1,78nXHjpFP0tVJQW5D0SBwmVyyW87BV/rL6MgfM/Bw44="

static subscription_key_t key_of(const char *secret)
{
    subscription_key_t key;

    assert_int_equal(sign_key_from_secret(secret, &key), 0);
    return key;
}

static void test_vector_1(void **state)
{
    subscription_key_t key = key_of(SECRET_1);
    char out[SIGN_ONE_MAX];
    int n;

    (void)state;
    n = sign_header(&key, NULL, ID_1, TS_1, BODY_1, strlen(BODY_1), out,
                    sizeof(out));
    assert_int_equal(n, (int)strlen(SIG_1));
    assert_string_equal(out, SIG_1);
}

static void test_vector_2(void **state)
{
    subscription_key_t key = key_of(SECRET_2);
    char out[SIGN_ONE_MAX];
    int n;

    (void)state;
    n = sign_header(&key, NULL, ID_2, TS_2, BODY_2, strlen(BODY_2), out,
                    sizeof(out));
    assert_int_equal(n, (int)strlen(SIG_2));
    assert_string_equal(out, SIG_2);
}

static void test_rotation_header(void **state)
{
    subscription_key_t current = key_of(SECRET_1);
    subscription_key_t previous = key_of(SECRET_2);
    char out[SIGN_HEADER_MAX];
    int n;

    (void)state;
    n = sign_header(&current, &previous, ID_1, TS_1, BODY_1, strlen(BODY_1),
                    out, sizeof(out));
    assert_int_equal(n, 2 * (SIGN_ONE_MAX - 1) + 1);
    assert_string_equal(out, SIG_1 " " SIG_1_KEY_2);

    /* Swapped keys swap the order: the current key always comes first. */
    n = sign_header(&previous, &current, ID_1, TS_1, BODY_1, strlen(BODY_1),
                    out, sizeof(out));
    assert_true(n > 0);
    assert_string_equal(out, SIG_1_KEY_2 " " SIG_1);
}

static void test_body_length_is_used(void **state)
{
    subscription_key_t key = key_of(SECRET_1);
    char body[64];
    char out[SIGN_ONE_MAX];

    (void)state;
    /* The body is given by length; bytes after it must not be signed. */
    memcpy(body, BODY_1 "trailing", sizeof(BODY_1 "trailing"));
    assert_true(sign_header(&key, NULL, ID_1, TS_1, body, strlen(BODY_1), out,
                            sizeof(out)) > 0);
    assert_string_equal(out, SIG_1);

    assert_true(sign_header(&key, NULL, ID_1, TS_1 + 1, BODY_1, strlen(BODY_1),
                            out, sizeof(out)) > 0);
    assert_string_not_equal(out, SIG_1);
    assert_true(sign_header(&key, NULL, "msg_other", TS_1, BODY_1,
                            strlen(BODY_1), out, sizeof(out)) > 0);
    assert_string_not_equal(out, SIG_1);
}

static void test_empty_body(void **state)
{
    subscription_key_t key = key_of(SECRET_1);
    char out[SIGN_ONE_MAX];

    (void)state;
    assert_int_equal(
        sign_header(&key, NULL, "msg_1", 0, NULL, 0, out, sizeof(out)),
        SIGN_ONE_MAX - 1);
    assert_string_equal(out, "v1,ij2G0S51rXTp+PMwqJOjeWFLEpktT32X6cQ9P08rbws=");
}

static void test_output_too_small(void **state)
{
    subscription_key_t key = key_of(SECRET_1);
    subscription_key_t previous = key_of(SECRET_2);
    char out[SIGN_HEADER_MAX];

    (void)state;
    assert_int_equal(sign_header(&key, NULL, ID_1, TS_1, BODY_1, strlen(BODY_1),
                                 out, SIGN_ONE_MAX - 1),
                     -1);
    assert_string_equal(out, "");
    assert_int_equal(sign_header(&key, &previous, ID_1, TS_1, BODY_1,
                                 strlen(BODY_1), out, SIGN_ONE_MAX),
                     -1);
    assert_int_equal(sign_header(&key, &previous, ID_1, TS_1, BODY_1,
                                 strlen(BODY_1), out, SIGN_HEADER_MAX - 1),
                     -1);
    assert_int_equal(sign_header(&key, &previous, ID_1, TS_1, BODY_1,
                                 strlen(BODY_1), out, SIGN_HEADER_MAX),
                     SIGN_HEADER_MAX - 1);
    assert_int_equal(
        sign_header(&key, NULL, ID_1, TS_1, BODY_1, strlen(BODY_1), out, 0),
        -1);
}

static void test_bad_arguments(void **state)
{
    subscription_key_t key = key_of(SECRET_1);
    subscription_key_t empty;
    char out[SIGN_ONE_MAX];

    (void)state;
    memset(&empty, 0, sizeof(empty));
    assert_int_equal(sign_header(NULL, NULL, ID_1, TS_1, BODY_1, strlen(BODY_1),
                                 out, sizeof(out)),
                     -1);
    assert_int_equal(sign_header(&key, NULL, NULL, TS_1, BODY_1, strlen(BODY_1),
                                 out, sizeof(out)),
                     -1);
    assert_int_equal(
        sign_header(&key, NULL, ID_1, TS_1, NULL, 5, out, sizeof(out)), -1);
    assert_int_equal(sign_header(&empty, NULL, ID_1, TS_1, BODY_1,
                                 strlen(BODY_1), out, sizeof(out)),
                     -1);
}

static void test_key_decoding(void **state)
{
    static const unsigned char expected_1[] = {
        0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a, 0xab, 0x4f, 0x08, 0xd4,
        0x3c, 0x3f, 0x08, 0x2c, 0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0};
    subscription_key_t key;
    subscription_key_t bare;

    (void)state;
    key = key_of(SECRET_1);
    assert_int_equal(key.len, sizeof(expected_1));
    assert_memory_equal(key.bytes, expected_1, sizeof(expected_1));

    /* The whsec_ prefix is optional. */
    bare = key_of("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_int_equal(bare.len, key.len);
    assert_memory_equal(bare.bytes, key.bytes, key.len);
}

static void test_key_padding(void **state)
{
    subscription_key_t key;

    (void)state;
    key = key_of("whsec_YQ==");
    assert_int_equal(key.len, 1);
    assert_int_equal(key.bytes[0], 'a');

    key = key_of("whsec_YWI=");
    assert_int_equal(key.len, 2);
    assert_memory_equal(key.bytes, "ab", 2);

    key = key_of("whsec_YWJj");
    assert_int_equal(key.len, 3);
    assert_memory_equal(key.bytes, "abc", 3);

    /* Missing padding is restored. */
    key = key_of("whsec_YQ");
    assert_int_equal(key.len, 1);
    key = key_of("whsec_YWI");
    assert_int_equal(key.len, 2);
    assert_memory_equal(key.bytes, "ab", 2);
}

static void test_key_limits(void **state)
{
    /* 64 bytes 0x00..0x3f, the largest key, and 65 bytes, one too many. */
    static const char max_key[] =
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
        "LS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
    static const char too_long[] =
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
        "LS4vMDEyMzQ1Njc4OTo7PD0+P0A=";
    subscription_key_t key;
    size_t i;

    (void)state;
    key = key_of(max_key);
    assert_int_equal(key.len, SUBSCRIPTION_KEY_MAX);
    for (i = 0; i < SUBSCRIPTION_KEY_MAX; i++) {
        assert_int_equal(key.bytes[i], i);
    }
    assert_int_equal(sign_key_from_secret(too_long, &key), -1);
    assert_int_equal(key.len, 0);
}

static void test_key_invalid(void **state)
{
    static const char *const bad[] = {
        "",           "whsec_",      "whsec_!!!!",         "whsec_Y",
        "whsec_Y===", "whsec_====",  "whsec_YQ=",          "whsec_YQ==YQ==",
        "whsec_Y=Q=", "whsec_ YWJj", "whsec_YWJj ",        "whsec_YW\nJj",
        "whsec_YW-j", "whsec_YW_j",  "whsec_YWJj\xc3\xa9",
    };
    subscription_key_t key;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        key.len = 99;
        if (sign_key_from_secret(bad[i], &key) != -1) {
            fail_msg("secret %zu was accepted", i);
        }
        assert_int_equal(key.len, 0);
    }
    assert_int_equal(sign_key_from_secret(NULL, &key), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_1),
        cmocka_unit_test(test_vector_2),
        cmocka_unit_test(test_rotation_header),
        cmocka_unit_test(test_body_length_is_used),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_output_too_small),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_key_decoding),
        cmocka_unit_test(test_key_padding),
        cmocka_unit_test(test_key_limits),
        cmocka_unit_test(test_key_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
