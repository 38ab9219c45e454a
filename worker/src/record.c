/*
 * Retry and dead-letter records, and the retry schedule arithmetic; see
 * record.h. Every string written into a record goes through the UTF-8
 * repair of text.h, so a record is always valid JSON whatever an endpoint
 * answered or an inbound message carried.
 */

#include "record.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "config.h"
#include "event.h"
#include "subscription.h"
#include "text.h"

/* Sets key on obj, taking value; a NULL value (failed allocation) fails. */
static int put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new_nocheck(obj, key, value);
}

static json_t *string_or_null(const char *s)
{
    if (s == NULL) {
        return json_null();
    }
    return text_json_string(s, strlen(s));
}

static json_t *utc_json(int64_t ms)
{
    char buf[40];

    record_format_utc(ms, buf, sizeof(buf));
    return json_string_nocheck(buf);
}

/* Bytes a UTF-8 sequence with lead byte b spans; 0 when b cannot lead. */
static size_t utf8_seq_len(unsigned char b)
{
    if (b >= 0xC2 && b <= 0xDF) {
        return 2;
    }
    if (b >= 0xE0 && b <= 0xEF) {
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        return 4;
    }
    return 0;
}

/*
 * Where to cut s[0..len) to keep at most max bytes: before a sequence that
 * would straddle the cut. Only the three bytes before the cut can start such
 * a sequence; stray continuation bytes further back are invalid anyway and
 * are repaired, not searched through.
 */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;

    if (len <= max) {
        return len;
    }
    for (size_t back = 1; back <= 3 && back <= max; back++) {
        size_t i = max - back;
        if ((p[i] & 0xC0) != 0x80) {
            size_t need = utf8_seq_len(p[i]);
            return need > back ? i : max;
        }
    }
    return max;
}

static json_t *snippet_json(const char *s, size_t len)
{
    if (s == NULL || len == 0) {
        return json_null();
    }
    return text_json_string(s, utf8_cut(s, len, RECORD_SNIPPET_MAX));
}

/* No status (0) means no response: connection error or timeout. */
static json_t *status_json(long status)
{
    return status > 0 ? json_integer(status) : json_null();
}

json_t *record_attempt_json(const record_attempt_t *a)
{
    json_t *obj = json_object();
    json_t *ret = NULL;

    if (obj == NULL ||
        put(obj, "deliveryId", string_or_null(a->delivery_id)) != 0 ||
        put(obj, "atUtc", utc_json(a->at_ms)) != 0 ||
        put(obj, "httpStatus", status_json(a->http_status)) != 0 ||
        put(obj, "error", string_or_null(a->error)) != 0 ||
        put(obj, "latencyMs", json_integer(a->latency_ms)) != 0 ||
        put(obj, "responseSnippet",
            snippet_json(a->response, a->response_len)) != 0) {
        goto out;
    }
    ret = obj;
    obj = NULL;

out:
    json_decref(obj);
    return ret;
}

static json_t *origin_json(const record_origin_t *origin)
{
    json_t *obj;

    if (origin == NULL) {
        return json_null();
    }
    obj = json_object();
    if (obj == NULL || put(obj, "topic", string_or_null(origin->topic)) != 0 ||
        put(obj, "partition", json_integer(origin->partition)) != 0 ||
        put(obj, "offset", json_integer(origin->offset)) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

json_t *record_build(const char *event_id, const char *event_type,
                     int64_t tenant_id, const char *subscription_id,
                     int attempt, int64_t first_attempt_ms,
                     int64_t next_attempt_ms, const char *reason,
                     const record_origin_t *origin, json_t *body,
                     json_t *attempts)
{
    json_t *rec = json_object();
    json_t *ret = NULL;

    if (rec == NULL || put(rec, "eventId", string_or_null(event_id)) != 0 ||
        put(rec, "eventType", string_or_null(event_type)) != 0 ||
        put(rec, "tenantId", json_integer(tenant_id)) != 0 ||
        put(rec, "subscriptionId", string_or_null(subscription_id)) != 0 ||
        put(rec, "attempt", json_integer(attempt)) != 0 ||
        put(rec, "firstAttemptAtUtc", utc_json(first_attempt_ms)) != 0 ||
        put(rec, "nextAttemptAtUtc",
            reason == NULL ? utc_json(next_attempt_ms) : json_null()) != 0) {
        goto out;
    }
    if (reason != NULL && put(rec, "reason", string_or_null(reason)) != 0) {
        goto out;
    }
    /* A missing body is a caller bug: json_incref(NULL) fails the put. */
    if (put(rec, "origin", origin_json(origin)) != 0 ||
        put(rec, "body", json_incref(body)) != 0 ||
        put(rec, "attempts",
            attempts != NULL ? json_incref(attempts) : json_array()) != 0) {
        goto out;
    }
    ret = rec;
    rec = NULL;

out:
    json_decref(rec);
    return ret;
}

/* Standard base64 of p[0..n) as a JSON string; null when p is NULL. */
static json_t *base64_json(const void *p, size_t n)
{
    /* EVP_EncodeBlock takes an int length: feed it whole groups of three
     * bytes at a time so the pieces join without padding in between. */
    const size_t chunk = (size_t)3 * 1024 * 1024;
    const unsigned char *in = p;
    unsigned char *buf = NULL;
    json_t *ret = NULL;
    size_t out_len;
    size_t done = 0;
    size_t w = 0;

    if (p == NULL) {
        return json_null();
    }
    if (n / 3 >= (SIZE_MAX - 8) / 4) {
        goto out;
    }
    out_len = (n + 2) / 3 * 4;
    buf = malloc(out_len + 1);
    if (buf == NULL) {
        goto out;
    }
    while (done < n) {
        size_t take = n - done < chunk ? n - done : chunk;
        w += (size_t)EVP_EncodeBlock(buf + w, in + done, (int)take);
        done += take;
    }
    ret = json_stringn_nocheck((const char *)buf, w);

out:
    free(buf);
    return ret;
}

json_t *record_build_undecodable(const char *reason, const char *error,
                                 const record_origin_t *origin, const void *key,
                                 size_t key_len, const void *value,
                                 size_t value_len, size_t raw_max,
                                 int64_t at_ms)
{
    json_t *rec = json_object();
    json_t *ret = NULL;
    bool truncated = value != NULL && value_len > raw_max;

    if (rec == NULL || put(rec, "reason", string_or_null(reason)) != 0 ||
        put(rec, "error", string_or_null(error)) != 0 ||
        put(rec, "origin", origin_json(origin)) != 0 ||
        put(rec, "rawKey", base64_json(key, key_len)) != 0 ||
        put(rec, "rawValue",
            base64_json(value, truncated ? raw_max : value_len)) != 0 ||
        put(rec, "rawValueBytes",
            value != NULL ? json_integer((json_int_t)value_len)
                          : json_null()) != 0 ||
        put(rec, "rawValueTruncated", json_boolean(truncated)) != 0 ||
        put(rec, "atUtc", utc_json(at_ms)) != 0) {
        goto out;
    }
    ret = rec;
    rec = NULL;

out:
    json_decref(rec);
    return ret;
}

/* What is wrong with a record: the field (after prefix) and what it should
 * be. Never a value, so the message is safe to log. */
typedef struct why {
    const char *prefix;
    const char *field;
    const char *want;
} why_t;

static bool fail(why_t *w, const char *field, const char *want)
{
    w->field = field;
    w->want = want;
    return false;
}

static bool read_string(const json_t *obj, const char *key, const char **out,
                        why_t *w)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return fail(w, key, "a non-empty string");
    }
    *out = json_string_value(v);
    return true;
}

static bool read_integer(const json_t *obj, const char *key, int64_t min,
                         int64_t max, const char *want, int64_t *out, why_t *w)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > max) {
        return fail(w, key, want);
    }
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool read_time(const json_t *obj, const char *key, int64_t *out,
                      why_t *w)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_string(v) || record_parse_utc(json_string_value(v), out)) {
        return fail(w, key, "a UTC time like 2026-06-25T14:31:00.000Z");
    }
    return true;
}

static bool read_origin(const json_t *obj, record_origin_t *origin, why_t *w)
{
    const char *topic;
    int64_t partition;

    w->prefix = "origin.";
    if (!read_string(obj, "topic", &topic, w) ||
        !read_integer(obj, "partition", 0, INT32_MAX, "an integer >= 0",
                      &partition, w) ||
        !read_integer(obj, "offset", 0, INT64_MAX, "an integer >= 0",
                      &origin->offset, w)) {
        return false;
    }
    w->prefix = "";
    origin->topic = (char *)topic; /* borrowed from the record's root */
    origin->partition = (int32_t)partition;
    return true;
}

/* The most attempts a record can count: one per tier of the longest
 * schedule, and the first. */
#define RECORD_ATTEMPTS_MAX (CONFIG_RETRY_TIERS_MAX + 1)

static bool read_fields(json_t *root, record_t *r, why_t *w)
{
    json_t *origin;
    int64_t attempt;
    size_t i;

    /* The ids go into request headers and back into records: they are
     * held to the same rules as when they first came in. */
    if (!read_string(root, "eventId", &r->event_id, w) ||
        !event_id_valid(r->event_id)) {
        return fail(w, "eventId", "an event id (evt_..., header-safe)");
    }
    if (!read_string(root, "eventType", &r->event_type, w) ||
        !event_type_known(r->event_type)) {
        return fail(w, "eventType", "a known event type");
    }
    if (!read_string(root, "subscriptionId", &r->subscription_id, w) ||
        strlen(r->subscription_id) > SUBSCRIPTION_ID_MAX) {
        return fail(w, "subscriptionId", "a subscription id");
    }
    /* attempt 0: a delivery handed over at shutdown before it was sent. */
    if (!read_integer(root, "tenantId", 1, INT64_MAX, "an integer >= 1",
                      &r->tenant_id, w) ||
        !read_integer(root, "attempt", 0, RECORD_ATTEMPTS_MAX,
                      "an attempt count a retry schedule allows", &attempt,
                      w) ||
        !read_time(root, "firstAttemptAtUtc", &r->first_attempt_ms, w) ||
        !read_time(root, "nextAttemptAtUtc", &r->next_attempt_ms, w)) {
        return false;
    }
    r->attempt = (int)attempt;

    origin = json_object_get(root, "origin");
    if (!json_is_object(origin)) {
        return fail(w, "origin", "an object");
    }
    if (!read_origin(origin, &r->origin, w)) {
        return false;
    }

    r->body = json_object_get(root, "body");
    if (!json_is_object(r->body)) {
        return fail(w, "body", "an object");
    }
    r->attempts = json_object_get(root, "attempts");
    if (!json_is_array(r->attempts)) {
        return fail(w, "attempts", "an array");
    }
    for (i = 0; i < json_array_size(r->attempts); i++) {
        if (!json_is_object(json_array_get(r->attempts, i))) {
            return fail(w, "attempts", "an array of objects");
        }
    }
    return true;
}

int record_parse(const void *buf, size_t len, record_t *r, char *errstr,
                 size_t errstr_size)
{
    why_t w = {"", NULL, NULL};
    json_error_t jerr;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (buf == NULL) {
        snprintf(errstr, errstr_size, "record is empty");
        goto out;
    }
    /* jansson's own message may quote the input, so only its position is
     * reported. Any JSON value is read, so that a scalar is reported as
     * not an object rather than as a syntax error. */
    r->root =
        json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (r->root == NULL) {
        snprintf(errstr, errstr_size, "record is not valid JSON (at byte %d)",
                 jerr.position);
        goto out;
    }
    if (!json_is_object(r->root)) {
        snprintf(errstr, errstr_size, "record is not a JSON object");
        goto out;
    }
    if (!read_fields(r->root, r, &w)) {
        snprintf(errstr, errstr_size, "%s%s is missing or not %s", w.prefix,
                 w.field, w.want);
        goto out;
    }
    rc = 0;

out:
    if (rc != 0) {
        record_clear(r);
    }
    return rc;
}

void record_clear(record_t *r)
{
    json_decref(r->root);
    memset(r, 0, sizeof(*r));
}

void record_format_utc(int64_t ms, char *buf, size_t size)
{
    int64_t secs = ms / 1000;
    int64_t frac = ms % 1000;
    struct tm tm;
    time_t t;

    if (size == 0) {
        return;
    }
    /* Floor division, so times before 1970 keep a positive fraction. */
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    t = (time_t)secs;
    if (gmtime_r(&t, &tm) == NULL) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)frac);
}

/* Reads exactly n decimal digits at s. */
static bool read_digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

int record_parse_utc(const char *s, int64_t *ms)
{
    int year, month, day, hour, minute, second;
    int frac = 0;
    struct tm tm;
    time_t t;
    size_t i;

    /* Each read stops at the first byte that does not fit, so a short
     * string never reads past its NUL. */
    if (s == NULL || !read_digits(s, 4, &year) || s[4] != '-' ||
        !read_digits(s + 5, 2, &month) || s[7] != '-' ||
        !read_digits(s + 8, 2, &day) || s[10] != 'T' ||
        !read_digits(s + 11, 2, &hour) || s[13] != ':' ||
        !read_digits(s + 14, 2, &minute) || s[16] != ':' ||
        !read_digits(s + 17, 2, &second)) {
        return -1;
    }
    if (month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour > 23 || minute > 59 ||
        second > 59) {
        return -1;
    }

    i = 19;
    if (s[i] == '.') {
        /* Milliseconds from the first three digits; finer ones are cut. */
        size_t start = ++i;
        int scale = 100;
        while (s[i] >= '0' && s[i] <= '9' && i - start < 9) {
            frac += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start) {
            return -1;
        }
    }
    if (s[i] != 'Z' || s[i + 1] != '\0') {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    t = timegm(&tm);
    *ms = (int64_t)t * 1000 + frac;
    return 0;
}

void record_delay_label(int64_t delay_ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *suffix;
    } units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};

    if (delay_ms > 0) {
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (delay_ms % units[i].ms == 0) {
                snprintf(buf, size, "%" PRId64 "%s", delay_ms / units[i].ms,
                         units[i].suffix);
                return;
            }
        }
    }
    snprintf(buf, size, "%" PRId64 "ms", delay_ms);
}

static bool status_retry_after(long status)
{
    return status == 429 || status == 503;
}

int64_t record_next_delay(const int64_t *schedule, size_t n, int attempt,
                          const record_failure_t *f, int64_t min_backoff_ms,
                          double jitter)
{
    int64_t last;
    int64_t delay;

    if (schedule == NULL || n == 0 || attempt < 1 || (size_t)attempt > n) {
        return -1;
    }
    last = schedule[n - 1];

    if (isnan(jitter)) {
        jitter = 0.0;
    } else if (jitter < -1.0) {
        jitter = -1.0;
    } else if (jitter > 1.0) {
        jitter = 1.0;
    }
    delay =
        (int64_t)llround((double)schedule[attempt - 1] * (1.0 + 0.1 * jitter));

    if (f != NULL && status_retry_after(f->http_status) &&
        f->retry_after_s >= 0) {
        /* Compared in seconds first, so a huge header cannot overflow. */
        int64_t wait =
            f->retry_after_s > last / 1000 ? last : f->retry_after_s * 1000;
        if (wait > delay) {
            delay = wait;
        }
    }
    if (f != NULL && (f->http_status == 429 || f->timed_out) &&
        min_backoff_ms > delay) {
        delay = min_backoff_ms;
    }
    return delay;
}

size_t record_tier_for(const int64_t *schedule, size_t n, int attempt,
                       int64_t delay_ms)
{
    size_t tier;

    if (n == 0) {
        return 0;
    }
    tier = attempt < 1 ? 0 : (size_t)attempt - 1;
    if (tier >= n) {
        return n - 1;
    }
    for (size_t j = tier + 1; j < n; j++) {
        if (schedule[j] <= delay_ms) {
            tier = j;
        }
    }
    return tier;
}
