#ifndef ORDINAVO_TEXT_H
#define ORDINAVO_TEXT_H

/* UTF-8 handling for text that reaches a webhook body: repairing invalid
 * input and the summary preview of SPEC section 5. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Maximum code points of a summary sent whole. */
#define TEXT_PREVIEW_MAX 200

/* True when s[0..len) is valid UTF-8 and holds no NUL byte, i.e. when
 * text_utf8_repair() would return it unchanged. */
bool text_utf8_valid(const char *s, size_t len);

/*
 * Returns a new NUL-terminated copy of s[0..len) in which every invalid UTF-8
 * sequence (and every NUL byte) is replaced by U+FFFD. The caller frees it.
 * Returns NULL only when memory runs out.
 */
char *text_utf8_repair(const char *s, size_t len);

/* A new JSON string from possibly invalid UTF-8 (repaired as above), or NULL
 * when memory runs out. */
json_t *text_json_string(const char *s, size_t len);

/*
 * The summary preview: s whole when it has at most 200 code points, else cut
 * as SPEC section 5 says and ended with U+2026. Invalid input is repaired
 * first. Returns a new string the caller frees, or NULL when out of memory.
 */
char *text_summary_preview(const char *s, size_t len);

#endif
