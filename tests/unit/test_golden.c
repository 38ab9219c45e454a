/*
 * Golden tests for the webhook body: each directory under tests/golden is
 * one case, run through the real decoders (codec_decode(),
 * subscription_parse(), render_context_record()) and render_body(); the
 * body must equal expected.json, keys in the same order. See
 * tests/golden/README.md for the layout of a case.
 *
 * The programs run from the repository root (tests/unit/run.sh sees to it).
 */

#include "unit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "event.h"
#include "render.h"
#include "subscription.h"

#define GOLDEN_DIR  "tests/golden"
#define DELIVERY_ID "del_01TESTDELIVERY0000000000"

/* Every internal value in the cases contains this marker, so a leak shows
 * even where expected.json itself were wrong. */
#define LEAK_MARKER "LEAK"

/* Reads a whole file; NULL when it does not exist. The caller frees. */
static char *slurp(const char *dir, const char *file, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", GOLDEN_DIR, dir, file);

    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096;
    size_t n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }
        cap *= 2;
        buf = realloc(buf, cap);
        assert_non_null(buf);
    }
    assert_false(ferror(f));
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *slurp_required(const char *dir, const char *file, size_t *len)
{
    char *s = slurp(dir, file, len);
    if (s == NULL) {
        fail_msg("%s: cannot read %s", dir, file);
    }
    return s;
}

/* Turns one context.json entry (an object of hash fields, all strings)
 * into a record as the Redis reader would, through
 * render_context_record(). */
static json_t *record_from_hash(const char *dir, const json_t *hash)
{
    size_t n = json_object_size(hash);
    const char **fields = calloc(n + 1, sizeof *fields);
    const char **values = calloc(n + 1, sizeof *values);
    size_t *flens = calloc(n + 1, sizeof *flens);
    size_t *vlens = calloc(n + 1, sizeof *vlens);
    assert_true(fields && values && flens && vlens);

    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)hash, key, value)
    {
        if (!json_is_string(value)) {
            fail_msg("%s: context field %s is not a string", dir, key);
        }
        fields[i] = key;
        flens[i] = strlen(key);
        values[i] = json_string_value(value);
        vlens[i] = json_string_length(value);
        i++;
    }

    json_t *rec = render_context_record(fields, flens, values, vlens, n);
    assert_non_null(rec);
    free(fields);
    free(values);
    free(flens);
    free(vlens);
    return rec;
}

/* Looks one record up in context.json: NULL for a missing key (null) or a
 * record that was not looked up (absent). */
static json_t *context_entry(const char *dir, const json_t *context,
                             const char *name)
{
    const json_t *hash = json_object_get(context, name);
    if (hash == NULL || json_is_null(hash)) {
        return NULL;
    }
    if (!json_is_object(hash)) {
        fail_msg("%s: context %s is neither an object nor null", dir, name);
    }
    return record_from_hash(dir, hash);
}

/* jansson's compact form of a file, through render_dump() so that numbers
 * are printed the same way on both sides. */
static char *dump_expected(const char *dir)
{
    size_t len;
    char *text = slurp_required(dir, "expected.json", &len);
    json_error_t err;
    json_t *expected = json_loadb(text, len, 0, &err);
    if (expected == NULL) {
        fail_msg("%s: expected.json: %s (line %d)", dir, err.text, err.line);
    }
    free(text);

    char *s = render_dump(expected, NULL);
    assert_non_null(s);
    json_decref(expected);
    return s;
}

static void golden_case(void **state)
{
    const char *dir = *state;
    char errstr[256] = "";
    size_t len;

    char *text = slurp_required(dir, "event.json", &len);
    event_t ev;
    codec_result_t cr = codec_decode(text, len, &ev, errstr, sizeof errstr);
    if (cr != CODEC_OK) {
        fail_msg("%s: event.json: %s", dir, errstr);
    }
    free(text);

    text = slurp_required(dir, "subscription.json", &len);
    subscription_t sub;
    int rc = subscription_parse(NULL, text, len, &sub, errstr, sizeof errstr);
    if (rc != 0) {
        fail_msg("%s: subscription.json: %s", dir, errstr);
    }
    free(text);

    /* context.json may be left out when nothing is looked up. */
    json_t *context = NULL;
    text = slurp(dir, "context.json", &len);
    if (text != NULL) {
        json_error_t err;
        context = json_loadb(text, len, 0, &err);
        if (!json_is_object(context)) {
            fail_msg("%s: context.json is not a JSON object", dir);
        }
        free(text);
    }
    render_context_t ctx = {
        context_entry(dir, context, "customer"),
        context_entry(dir, context, "location"),
        context_entry(dir, context, "contact"),
    };

    json_t *body = render_body(&ev, &sub, &ctx, DELIVERY_ID);
    assert_non_null(body);
    char *actual = render_dump(body, NULL);
    assert_non_null(actual);
    char *expected = dump_expected(dir);

    if (strcmp(expected, actual) != 0) {
        print_error("%s: body differs\nexpected: %s\nactual:   %s\n", dir,
                    expected, actual);
    }
    assert_string_equal(expected, actual);
    if (strstr(actual, LEAK_MARKER) != NULL) {
        fail_msg("%s: an internal value reached the body: %s", dir, actual);
    }

    free(expected);
    free(actual);
    json_decref(body);
    json_decref(ctx.customer);
    json_decref(ctx.location);
    json_decref(ctx.contact);
    json_decref(context);
    subscription_free(&sub);
    event_clear(&ev);
}

/* scandir() filter: the case directories (names not starting with '.'). */
static int is_case(const struct dirent *d)
{
    char path[512];
    struct stat st;

    if (d->d_name[0] == '.') {
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR, d->d_name);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(void)
{
    struct dirent **names;
    int n = scandir(GOLDEN_DIR, &names, is_case, alphasort);
    if (n <= 0) {
        fprintf(stderr, "test_golden: no cases under %s\n", GOLDEN_DIR);
        return 1;
    }

    /* One cmocka test per case, named after its directory. */
    struct CMUnitTest *tests = calloc((size_t)n, sizeof *tests);
    if (tests == NULL) {
        return 1;
    }
    for (int i = 0; i < n; i++) {
        tests[i].name = names[i]->d_name;
        tests[i].test_func = golden_case;
        tests[i].initial_state = names[i]->d_name;
    }

    int failed =
        _cmocka_run_group_tests("golden", tests, (size_t)n, NULL, NULL);

    for (int i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    free(tests);
    return failed;
}
