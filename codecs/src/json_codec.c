/*
 * The JSON codec: a UTF-8 JSON object holding the envelope of SPEC section 2.
 */

#include "event.h"

#include <stdio.h>
#include <string.h>

/*
 * jansson's own error text quotes the input near the error ("... near
 * 'abc'"), which may be part of a secret, so only its error code is turned
 * into words.
 */
static const char *json_error_words(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_out_of_memory:
        return "out of memory";
    case json_error_stack_overflow:
        return "nested too deeply";
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "truncated";
    case json_error_end_of_input_expected:
        return "data after the end of the object";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL character in a string";
    case json_error_duplicate_key:
        return "duplicate object key";
    case json_error_numeric_overflow:
        return "number out of range";
    default:
        return "invalid syntax";
    }
}

codec_result_t codec_json_decode(const void *buf, size_t len, event_t *ev,
                                 char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root;

    memset(ev, 0, sizeof(*ev));
    if (buf == NULL || len == 0) {
        codec_set_error(errstr, errstr_size, "empty message");
        return CODEC_DECODE_ERROR;
    }
    if (len > CODEC_MESSAGE_MAX) {
        codec_set_error(errstr, errstr_size, "message larger than %d bytes",
                        CODEC_MESSAGE_MAX);
        return CODEC_DECODE_ERROR;
    }

    /* Duplicate keys are refused: which copy wins differs between parsers,
     * and the event must mean the same to every reader. */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        codec_set_error(errstr, errstr_size, "invalid JSON (%s) at byte %d",
                        json_error_words(&jerr), jerr.position);
        return CODEC_DECODE_ERROR;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        codec_set_error(errstr, errstr_size, "JSON message is not an object");
        return CODEC_DECODE_ERROR;
    }
    return event_from_json(root, ev, errstr, errstr_size);
}
