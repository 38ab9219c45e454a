/*
 * UTF-8 repair and the summary preview.
 *
 * Repair follows the Unicode "maximal subpart" practice (Unicode 15, section
 * 3.9, U+FFFD substitution): a lead byte followed by as many continuation
 * bytes as are still valid for it is one invalid sequence and becomes one
 * U+FFFD; the byte that broke the sequence is examined again on its own.
 * Overlong forms, surrogates (U+D800..U+DFFF) and values above U+10FFFF are
 * caught at their second byte by the narrowed ranges below, exactly as the
 * standard's table of well-formed sequences lists them.
 */

#include "text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* U+FFFD REPLACEMENT CHARACTER and U+2026 HORIZONTAL ELLIPSIS in UTF-8. */
static const char REPLACEMENT[] = "\xEF\xBF\xBD";
static const char ELLIPSIS[] = "\xE2\x80\xA6";
#define REPLACEMENT_LEN 3
#define ELLIPSIS_LEN    3

/*
 * Looks at the sequence starting at s[0] (len > 0). Returns the number of
 * bytes it spans and sets *valid: a valid character, or the maximal invalid
 * subpart to replace by one U+FFFD. NUL counts as invalid so that no body
 * string ever carries one.
 */
static size_t utf8_scan(const unsigned char *s, size_t len, bool *valid)
{
    unsigned char b = s[0];
    size_t need;
    unsigned char lo = 0x80; /* allowed range of the second byte */
    unsigned char hi = 0xBF;

    if (b == 0) {
        *valid = false;
        return 1;
    }
    if (b < 0x80) {
        *valid = true;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0) {
            lo = 0xA0; /* below: overlong */
        } else if (b == 0xED) {
            hi = 0x9F; /* above: surrogates */
        }
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0) {
            lo = 0x90; /* below: overlong */
        } else if (b == 0xF4) {
            hi = 0x8F; /* above: beyond U+10FFFF */
        }
    } else {
        /* A stray continuation byte, C0/C1 (always overlong) or F5..FF. */
        *valid = false;
        return 1;
    }

    size_t i = 1;
    while (i <= need && i < len) {
        unsigned char c = s[i];
        if (c < lo || c > hi) {
            break;
        }
        lo = 0x80;
        hi = 0xBF;
        i++;
    }
    *valid = i == need + 1;
    return i;
}

bool text_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        bool valid;
        if (p[i] >= 0x01 && p[i] < 0x80) {
            i++;
            continue;
        }
        i += utf8_scan(p + i, len - i, &valid);
        if (!valid) {
            return false;
        }
    }
    return true;
}

char *text_utf8_repair(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t out_len = 0;
    size_t i = 0;

    /* First pass: the exact output size, so one allocation suffices. */
    while (i < len) {
        bool valid;
        size_t n = utf8_scan(p + i, len - i, &valid);
        out_len += valid ? n : REPLACEMENT_LEN;
        i += n;
    }

    char *out = malloc(out_len + 1);
    if (out == NULL) {
        return NULL;
    }

    char *w = out;
    i = 0;
    while (i < len) {
        bool valid;
        size_t n = utf8_scan(p + i, len - i, &valid);
        if (valid) {
            memcpy(w, s + i, n);
            w += n;
        } else {
            memcpy(w, REPLACEMENT, REPLACEMENT_LEN);
            w += REPLACEMENT_LEN;
        }
        i += n;
    }
    *w = '\0';
    return out;
}

json_t *text_json_string(const char *s, size_t len)
{
    if (s == NULL) {
        s = ""; /* jansson treats NULL as failure, which would read as OOM */
        len = 0;
    }

    /* Clean input, the usual case, is handed to jansson without a copy. */
    if (text_utf8_valid(s, len)) {
        return json_stringn_nocheck(s, len);
    }

    char *fixed = text_utf8_repair(s, len);
    if (fixed == NULL) {
        return NULL;
    }
    json_t *str = json_stringn_nocheck(fixed, strlen(fixed));
    free(fixed);
    return str;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True for the first byte of a character (valid UTF-8 assumed). */
static bool is_char_start(char c)
{
    return ((unsigned char)c & 0xC0) != 0x80;
}

char *text_summary_preview(const char *s, size_t len)
{
    char *text = text_utf8_repair(s, len);
    if (text == NULL) {
        return NULL;
    }

    /* Find where the 201st code point starts, if there is one. */
    size_t n = strlen(text);
    size_t cut = 0;
    size_t count = 0;
    while (cut < n) {
        if (is_char_start(text[cut])) {
            if (count == TEXT_PREVIEW_MAX) {
                break;
            }
            count++;
        }
        cut++;
    }
    if (cut == n) {
        return text; /* at most 200 code points: sent whole */
    }

    /* A word running across the cut is dropped whole, unless the taken part
     * is a single word (then it is cut mid-word rather than lost). Only
     * ASCII bytes are whitespace, so byte-wise search is safe in UTF-8. */
    size_t end = cut;
    if (!is_space(text[cut])) {
        size_t i = cut;
        while (i > 0 && !is_space(text[i - 1])) {
            i--;
        }
        if (i > 0) {
            end = i;
        }
    }
    while (end > 0 && is_space(text[end - 1])) {
        end--;
    }

    /* The bytes dropped may be fewer than the ellipsis needs. */
    char *out = realloc(text, end + ELLIPSIS_LEN + 1);
    if (out == NULL) {
        free(text);
        return NULL;
    }
    memcpy(out + end, ELLIPSIS, ELLIPSIS_LEN);
    out[end + ELLIPSIS_LEN] = '\0';
    return out;
}
