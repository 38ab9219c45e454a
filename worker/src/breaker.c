/*
 * Per-endpoint circuit breakers; see breaker.h.
 *
 * Only endpoints that have failed since their last success have an entry:
 * a success removes it, so the table stays as small as the set of endpoints
 * currently in trouble. A missing entry is a closed breaker with no failures.
 */

#include "breaker.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hmap.h"

/* Bounds the table; when it is full the map forgets every breaker, which
 * lets traffic through (they close) rather than blocking it. */
#define BREAKERS_MAX 65536

typedef enum breaker_state {
    STATE_CLOSED,
    STATE_OPEN,     /* until until_ms */
    STATE_HALF_OPEN /* the probe went out at probe_ms */
} breaker_state_t;

typedef struct breaker {
    breaker_state_t state;
    int failures; /* consecutive */
    int64_t until_ms;
    int64_t probe_ms;
} breaker_t;

struct breakers {
    hmap_t *map;
    int threshold;
    int64_t cooldown_ms;
};

breakers_t *breakers_new(int threshold, int64_t cooldown_ms)
{
    breakers_t *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return NULL;
    }
    b->map = hmap_new(BREAKERS_MAX, free);
    if (b->map == NULL) {
        free(b);
        return NULL;
    }
    b->threshold = threshold > 0 ? threshold : 1;
    b->cooldown_ms = cooldown_ms > 0 ? cooldown_ms : 0;
    return b;
}

void breakers_free(breakers_t *b)
{
    if (b == NULL) {
        return;
    }
    hmap_free(b->map);
    free(b);
}

/* Entries never expire: they go when the endpoint succeeds. */
static breaker_t *lookup(breakers_t *b, const char *endpoint, int64_t now_ms)
{
    void *value = NULL;

    if (!hmap_get(b->map, endpoint, now_ms, &value)) {
        return NULL;
    }
    return value;
}

breaker_decision_t breakers_check(breakers_t *b, const char *endpoint,
                                  int64_t now_ms)
{
    breaker_t *br = lookup(b, endpoint, now_ms);

    if (br == NULL || br->state == STATE_CLOSED) {
        return BREAKER_ALLOW;
    }
    if (br->state == STATE_OPEN) {
        if (now_ms < br->until_ms) {
            return BREAKER_SKIP;
        }
        br->state = STATE_HALF_OPEN;
        br->probe_ms = now_ms;
        return BREAKER_PROBE;
    }
    /* A probe whose report never came (its delivery was dropped) must not
     * keep the endpoint shut for good: after a whole cooldown without an
     * answer another probe goes out. */
    if (now_ms - br->probe_ms >= b->cooldown_ms && b->cooldown_ms > 0) {
        br->probe_ms = now_ms;
        return BREAKER_PROBE;
    }
    return BREAKER_SKIP;
}

static void open_breaker(breakers_t *b, breaker_t *br, int64_t now_ms)
{
    br->state = STATE_OPEN;
    br->until_ms = now_ms + b->cooldown_ms;
}

bool breakers_report(breakers_t *b, const char *endpoint, bool failure,
                     bool probe, int64_t now_ms)
{
    breaker_t *br = lookup(b, endpoint, now_ms);

    if (!failure) {
        /* Any success closes, even a late one from before the breaker
         * opened: the endpoint answers again. */
        if (br != NULL) {
            hmap_del(b->map, endpoint);
        }
        return false;
    }

    if (br == NULL) {
        br = calloc(1, sizeof(*br));
        if (br == NULL ||
            hmap_put(b->map, endpoint, br, now_ms, INT64_MAX) != 0) {
            return false; /* out of memory: the breaker stays closed */
        }
    }
    if (br->failures < INT32_MAX) {
        br->failures++;
    }

    switch (br->state) {
    case STATE_CLOSED:
        if (br->failures >= b->threshold) {
            open_breaker(b, br, now_ms);
            return true;
        }
        return false;
    case STATE_HALF_OPEN:
        if (!probe) {
            return false; /* a late failure; the probe's answer decides */
        }
        open_breaker(b, br, now_ms);
        return true;
    case STATE_OPEN:
        /* A late failure from a request sent before the breaker opened:
         * it says nothing new and must not extend the cooldown. */
        return false;
    }
    return false;
}

bool breakers_is_open(breakers_t *b, const char *endpoint, int64_t now_ms)
{
    breaker_t *br = lookup(b, endpoint, now_ms);

    return br != NULL && br->state != STATE_CLOSED;
}

/* Appends s[0..n), lower-cased, at buf + *pos; false when it does not fit
 * with the terminating NUL. */
static bool append_lower(char *buf, size_t size, size_t *pos, const char *s,
                         size_t n)
{
    if (n >= size - *pos) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        buf[*pos + i] = (char)tolower((unsigned char)s[i]);
    }
    *pos += n;
    buf[*pos] = '\0';
    return true;
}

/* Length of the scheme at the start of url (RFC 3986: a letter, then
 * letters, digits, '+', '-', '.'), followed by "://"; 0 when there is
 * none. */
static size_t scheme_len(const char *url)
{
    size_t i = 0;

    if (!isalpha((unsigned char)url[0])) {
        return 0;
    }
    while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' ||
           url[i] == '.') {
        i++;
    }
    return strncmp(url + i, "://", 3) == 0 ? i : 0;
}

/* The port after a host: digits only, 1..65535. An empty port means the
 * scheme's default (RFC 3986, section 3.2.3): *port is then 0. */
static bool parse_port(const char *s, size_t n, long *port)
{
    long v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
        if (v > 65535) {
            return false;
        }
    }
    if (n > 0 && v == 0) {
        return false;
    }
    *port = v;
    return true;
}

static long default_port(const char *scheme, size_t n)
{
    if (n == 4 && strncasecmp(scheme, "http", 4) == 0) {
        return 80;
    }
    if (n == 5 && strncasecmp(scheme, "https", 5) == 0) {
        return 443;
    }
    return 0;
}

int breakers_endpoint(const char *url, char *buf, size_t size)
{
    size_t slen = scheme_len(url);
    const char *auth;
    const char *host;
    const char *end;
    const char *at;
    const char *colon = NULL;
    size_t host_len;
    size_t pos = 0;
    long port = 0;
    char port_str[16];

    if (size > 0) {
        buf[0] = '\0';
    }
    if (slen == 0 || size == 0) {
        return -1;
    }

    /* The authority runs to the path, query or fragment. */
    auth = url + slen + 3;
    end = auth + strcspn(auth, "/?#");
    host = auth;
    for (at = auth; at < end; at++) {
        if (*at == '@') {
            host = at + 1; /* the last '@' ends the userinfo */
        }
    }

    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (close == NULL) {
            return -1;
        }
        host_len = (size_t)(close - host) + 1;
        if (close + 1 < end) {
            if (close[1] != ':') {
                return -1;
            }
            colon = close + 1;
        }
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
        host_len = (size_t)((colon != NULL ? colon : end) - host);
    }
    if (host_len == 0 || (host_len == 2 && *host == '[')) {
        return -1;
    }
    if (colon != NULL &&
        !parse_port(colon + 1, (size_t)(end - colon - 1), &port)) {
        return -1;
    }
    if (port == 0) {
        port = default_port(url, slen);
    }

    if (!append_lower(buf, size, &pos, url, slen) ||
        !append_lower(buf, size, &pos, "://", 3) ||
        !append_lower(buf, size, &pos, host, host_len)) {
        goto overflow;
    }
    if (port != 0) {
        int n = snprintf(port_str, sizeof(port_str), ":%ld", port);
        if (!append_lower(buf, size, &pos, port_str, (size_t)n)) {
            goto overflow;
        }
    }
    return 0;

overflow:
    buf[0] = '\0';
    return -1;
}
