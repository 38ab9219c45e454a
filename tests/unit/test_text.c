/* Unit tests for text.c: UTF-8 repair and the summary preview. */

#include "unit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define FFFD     "\xEF\xBF\xBD"
#define ELLIPSIS "\xE2\x80\xA6"

/* Repairs len bytes of in and checks the result is exactly want. */
static void check_repair(const char *in, size_t len, const char *want)
{
    char *out = text_utf8_repair(in, len);
    assert_non_null(out);
    assert_string_equal(out, want);
    assert_true(text_utf8_valid(out, strlen(out)));
    free(out);
}

#define REPAIR(lit, want) check_repair(lit, sizeof lit - 1, want)

/* A string of n copies of unit, then tail; the caller frees it. */
static char *repeat(const char *unit, size_t n, const char *tail)
{
    size_t ul = strlen(unit);
    size_t tl = strlen(tail);
    char *s = malloc(ul * n + tl + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + i * ul, unit, ul);
    }
    memcpy(s + ul * n, tail, tl + 1);
    return s;
}

/* prefix followed by n letters b; the caller frees it. */
static char *prefixed(const char *prefix, size_t n)
{
    char *tail = repeat("b", n, "");
    char *s = repeat(prefix, 1, tail);
    free(tail);
    return s;
}

/* Checks the preview of s (freed here) against want (freed here). */
static void check_preview(char *s, char *want)
{
    char *out = text_summary_preview(s, strlen(s));
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
    free(s);
    free(want);
}

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

static void test_repair_valid_unchanged(void **state)
{
    (void)state;
    REPAIR("", "");
    REPAIR("plain ASCII", "plain ASCII");
    REPAIR("Stra\xC3\x9F"
           "e \xE2\x82\xAC \xF0\x9F\x98\x80",
           "Stra\xC3\x9F"
           "e \xE2\x82\xAC \xF0\x9F\x98\x80");
    /* The edges of every range of the well-formed table. */
    REPAIR("\xC2\x80\xDF\xBF", "\xC2\x80\xDF\xBF");
    REPAIR("\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF",
           "\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF");
    REPAIR("\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
           "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF");
}

static void test_repair_nul(void **state)
{
    (void)state;
    REPAIR("a\0b", "a" FFFD "b");
    REPAIR("\0", FFFD);
    REPAIR("\0\0", FFFD FFFD);
}

static void test_repair_stray_bytes(void **state)
{
    (void)state;
    REPAIR("\x80", FFFD);
    REPAIR("a\x80\xBF"
           "b",
           "a" FFFD FFFD "b");
    REPAIR("\xF5\xF8\xFC\xFE\xFF", FFFD FFFD FFFD FFFD FFFD);
    /* A lead byte followed by something that is not a continuation. */
    REPAIR("\xC3"
           "A",
           FFFD "A");
    REPAIR("\xE2\x82"
           "A",
           FFFD "A");
    REPAIR("\xF0\x9F\x98"
           "A",
           FFFD "A");
    /* Two lead bytes in a row: each is its own invalid sequence. */
    REPAIR("\xC3\xC3\xA9", FFFD "\xC3\xA9");
}

static void test_repair_truncated_at_end(void **state)
{
    (void)state;
    REPAIR("ok\xC3", "ok" FFFD);
    REPAIR("ok\xE2\x82", "ok" FFFD);
    REPAIR("ok\xF0\x9F\x98", "ok" FFFD);
    REPAIR("\xF0", FFFD);
}

static void test_repair_overlong(void **state)
{
    (void)state;
    /* C0 and C1 can only start overlong forms. */
    REPAIR("\xC0\x80", FFFD FFFD);
    REPAIR("\xC1\xBF", FFFD FFFD);
    /* E0 80..9F and F0 80..8F would be overlong: the second byte breaks. */
    REPAIR("\xE0\x80\x80", FFFD FFFD FFFD);
    REPAIR("\xE0\x9F\xBF", FFFD FFFD FFFD);
    REPAIR("\xF0\x80\x80\x80", FFFD FFFD FFFD FFFD);
    REPAIR("\xF0\x8F\xBF\xBF", FFFD FFFD FFFD FFFD);
}

static void test_repair_surrogates(void **state)
{
    (void)state;
    REPAIR("\xED\xA0\x80", FFFD FFFD FFFD);
    REPAIR("\xED\xBF\xBF", FFFD FFFD FFFD);
    /* CESU-8 for U+1F600: a surrogate pair. */
    REPAIR("\xED\xA0\xBD\xED\xB8\x80", FFFD FFFD FFFD FFFD FFFD FFFD);
}

static void test_repair_beyond_max(void **state)
{
    (void)state;
    REPAIR("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD);
    REPAIR("\xF7\xBF\xBF\xBF", FFFD FFFD FFFD FFFD);
}

/* The example of Unicode 15 section 3.9 (U+FFFD substitution of maximal
 * subparts): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64. */
static void test_repair_maximal_subparts(void **state)
{
    (void)state;
    REPAIR("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
           "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(text_utf8_valid("", 0));
    assert_true(text_utf8_valid(NULL, 0));
    assert_true(text_utf8_valid("\xC3\xA9", 2));
    assert_false(text_utf8_valid("\xC3", 1));
    assert_false(text_utf8_valid("a\0b", 3));
    assert_false(text_utf8_valid("\xED\xA0\x80", 3));
    /* Only len bytes count: the cut sequence is invalid. */
    assert_false(text_utf8_valid("\xE2\x82\xAC", 2));
}

static void test_json_string(void **state)
{
    (void)state;
    json_t *s = text_json_string("caf\xC3\xA9", 5);
    assert_non_null(s);
    assert_string_equal(json_string_value(s), "caf\xC3\xA9");
    json_decref(s);

    s = text_json_string("bad\xFF\0end", 8);
    assert_non_null(s);
    assert_string_equal(json_string_value(s), "bad" FFFD FFFD "end");
    assert_int_equal(json_string_length(s), strlen("bad" FFFD FFFD "end"));
    json_decref(s);

    s = text_json_string(NULL, 0);
    assert_non_null(s);
    assert_string_equal(json_string_value(s), "");
    json_decref(s);
}

static void test_preview_empty(void **state)
{
    (void)state;
    check_preview(repeat("", 0, ""), repeat("", 0, ""));
}

static void test_preview_exactly_200(void **state)
{
    (void)state;
    check_preview(repeat("a", 200, ""), repeat("a", 200, ""));
    /* Code points, not bytes: 200 two-, three- and four-byte characters. */
    check_preview(repeat("\xC3\xA9", 200, ""), repeat("\xC3\xA9", 200, ""));
    check_preview(repeat("\xE2\x82\xAC", 200, ""),
                  repeat("\xE2\x82\xAC", 200, ""));
    check_preview(repeat("\xF0\x9F\x98\x80", 200, ""),
                  repeat("\xF0\x9F\x98\x80", 200, ""));
    /* Trailing whitespace is only trimmed when the text is cut. */
    check_preview(repeat("a", 198, "  "), repeat("a", 198, "  "));
}

static void test_preview_201_without_whitespace(void **state)
{
    (void)state;
    check_preview(repeat("a", 201, ""), repeat("a", 200, ELLIPSIS));
    check_preview(repeat("\xF0\x9F\x98\x80", 201, ""),
                  repeat("\xF0\x9F\x98\x80", 200, ELLIPSIS));
}

static void test_preview_cut_mid_word(void **state)
{
    (void)state;
    /* 195 a, a space, then "bcdefgh": the 201st code point is "f", so the
     * partial word "bcde" goes, then the space. */
    check_preview(repeat("a", 195, " bcdefgh"), repeat("a", 195, ELLIPSIS));
    /* Several words: everything after the last whitespace goes. */
    check_preview(repeat("word ", 50, "tail"),
                  repeat("word ", 39, "word" ELLIPSIS));
    /* The only whitespace is near or at the start: it still counts. */
    check_preview(prefixed("a ", 250), repeat("a", 1, ELLIPSIS));
    check_preview(prefixed(" ", 250), repeat("", 0, ELLIPSIS));
}

static void test_preview_cut_at_whitespace(void **state)
{
    (void)state;
    /* The 201st code point is whitespace: the whole 200 are kept. */
    check_preview(repeat("a", 200, " more"), repeat("a", 200, ELLIPSIS));
    check_preview(repeat("a", 200, "\nmore"), repeat("a", 200, ELLIPSIS));
    /* The 200th is whitespace and the 201st is not: the taken part ends
     * in its last whitespace, which is then trimmed. */
    check_preview(repeat("a", 199, " bbb"), repeat("a", 199, ELLIPSIS));
}

static void test_preview_trailing_whitespace(void **state)
{
    (void)state;
    check_preview(repeat("a", 190, "               "),
                  repeat("a", 190, ELLIPSIS));
    check_preview(repeat("a", 190, " \t\r\n \t\r\n \t\r\n"),
                  repeat("a", 190, ELLIPSIS));
    /* Only whitespace: nothing but the ellipsis is left. */
    check_preview(repeat(" ", 201, ""), repeat("", 0, ELLIPSIS));
}

static void test_preview_whitespace_kinds(void **state)
{
    (void)state;
    check_preview(repeat("a", 190, "\tbbbbbbbbbbbbbbbbbbbb"),
                  repeat("a", 190, ELLIPSIS));
    check_preview(repeat("a", 190, "\rbbbbbbbbbbbbbbbbbbbb"),
                  repeat("a", 190, ELLIPSIS));
    check_preview(repeat("a", 190, "\nbbbbbbbbbbbbbbbbbbbb"),
                  repeat("a", 190, ELLIPSIS));
    /* No-break space, vertical tab and form feed are not whitespace here. */
    check_preview(repeat("a", 190,
                         "\xC2\xA0"
                         "bbbbbbbbbbbbbbbbbbbb"),
                  repeat("a", 190,
                         "\xC2\xA0"
                         "bbbbbbbbb" ELLIPSIS));
    check_preview(repeat("a", 190, "\vbbbbbbbbbbbbbbbbbbbb"),
                  repeat("a", 190, "\vbbbbbbbbb" ELLIPSIS));
    check_preview(repeat("a", 190, "\fbbbbbbbbbbbbbbbbbbbb"),
                  repeat("a", 190, "\fbbbbbbbbb" ELLIPSIS));
}

static void test_preview_multibyte_at_cut(void **state)
{
    (void)state;
    /* 199 a then two euro signs: the cut falls between them. */
    check_preview(repeat("a", 199, "\xE2\x82\xAC\xE2\x82\xAC"),
                  repeat("a", 199, "\xE2\x82\xAC" ELLIPSIS));
}

static void test_preview_multibyte_word_dropped(void **state)
{
    (void)state;
    /* 190 a, a space, then 20 e-acute: the cut falls inside that word. */
    char *word = repeat("\xC3\xA9", 20, "");
    size_t wl = strlen(word);
    char *s = repeat("a", 190, " ");
    s = realloc(s, strlen(s) + wl + 1);
    assert_non_null(s);
    strcat(s, word);
    free(word);
    check_preview(s, repeat("a", 190, ELLIPSIS));
}

static void test_preview_no_whitespace_multibyte(void **state)
{
    (void)state;
    /* One long word of 2-byte characters: cut after 200 of them. */
    check_preview(repeat("\xC3\xA9", 250, ""),
                  repeat("\xC3\xA9", 200, ELLIPSIS));
}

static void test_preview_invalid_input(void **state)
{
    (void)state;
    /* Repaired first: each invalid byte is one U+FFFD code point. */
    check_preview(repeat("\xFF", 201, ""), repeat(FFFD, 200, ELLIPSIS));
    check_preview(repeat("\xFF", 3, ""), repeat(FFFD, 3, ""));

    char in[] = "a\0b";
    char *out = text_summary_preview(in, 3);
    assert_non_null(out);
    assert_string_equal(out, "a" FFFD "b");
    free(out);
}

/* Random bytes, a fixed seed: whatever the input, the output is valid UTF-8
 * and a preview has at most 201 code points. */
static void test_random_input(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    unsigned char buf[600];

    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 600);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            /* Bias towards spaces and UTF-8 structure bytes. */
            unsigned char b = (unsigned char)(seed >> 16);
            buf[i] = (b % 7 == 0) ? ' ' : b;
        }

        char *r = text_utf8_repair((const char *)buf, len);
        assert_non_null(r);
        assert_true(text_utf8_valid(r, strlen(r)));
        free(r);

        char *p = text_summary_preview((const char *)buf, len);
        assert_non_null(p);
        assert_true(text_utf8_valid(p, strlen(p)));
        assert_true(code_points(p) <= TEXT_PREVIEW_MAX + 1);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repair_valid_unchanged),
        cmocka_unit_test(test_repair_nul),
        cmocka_unit_test(test_repair_stray_bytes),
        cmocka_unit_test(test_repair_truncated_at_end),
        cmocka_unit_test(test_repair_overlong),
        cmocka_unit_test(test_repair_surrogates),
        cmocka_unit_test(test_repair_beyond_max),
        cmocka_unit_test(test_repair_maximal_subparts),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_preview_empty),
        cmocka_unit_test(test_preview_exactly_200),
        cmocka_unit_test(test_preview_201_without_whitespace),
        cmocka_unit_test(test_preview_cut_mid_word),
        cmocka_unit_test(test_preview_cut_at_whitespace),
        cmocka_unit_test(test_preview_trailing_whitespace),
        cmocka_unit_test(test_preview_whitespace_kinds),
        cmocka_unit_test(test_preview_multibyte_at_cut),
        cmocka_unit_test(test_preview_multibyte_word_dropped),
        cmocka_unit_test(test_preview_no_whitespace_multibyte),
        cmocka_unit_test(test_preview_invalid_input),
        cmocka_unit_test(test_random_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
