/* Redis-backed subscription and CustomerContext cache; see cache.h. */

#include "cache.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hmap.h"
#include "log.h"
#include "metrics.h"
#include "text.h"

/* Bounds on what is kept in memory; see hmap.h for what happens when full. */
#define MAX_TENANTS 100000
#define MAX_RECORDS 200000

/* Redis must answer within this; past it the connection counts as down. */
#define REDIS_TIMEOUT_MS 2000

/* Connecting blocks the worker's loop (hiredis 0.14 connects
 * synchronously), so it is given less time than a command: a Redis that
 * does not answer at all then takes at most this out of every
 * RECONNECT_INTERVAL_MS from the deliveries in flight. */
#define REDIS_CONNECT_TIMEOUT_MS 250

/* At most one reconnection attempt this often while Redis is down. */
#define RECONNECT_INTERVAL_MS 500

#define KEY_MAX 160

struct cache {
    const config_t *cfg;
    redisContext *cmd;
    redisContext *sub; /* pub/sub: SUBSCRIBE'd to the changes channel */
    bool up;
    int64_t last_attempt_ms;
    hmap_t *subscriptions; /* "tenant id" -> cache_subscriptions_t */
    hmap_t *records;       /* Redis key -> json_t record, or NULL: missing */
};

static void subscriptions_free(void *value)
{
    cache_subscriptions_t *s = value;

    for (size_t i = 0; i < s->n; i++) {
        subscription_free(&s->v[i]);
    }
    free(s->v);
    free(s);
}

static void record_free(void *value)
{
    json_decref(value);
}

cache_t *cache_new(const config_t *cfg)
{
    cache_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->cfg = cfg;
    c->up = true;
    c->last_attempt_ms = clock_mono_ms() - RECONNECT_INTERVAL_MS;
    c->subscriptions = hmap_new(MAX_TENANTS, subscriptions_free);
    c->records = hmap_new(MAX_RECORDS, record_free);
    if (c->subscriptions == NULL || c->records == NULL) {
        cache_free(c);
        return NULL;
    }
    return c;
}

static void disconnect(cache_t *c)
{
    if (c->cmd != NULL) {
        redisFree(c->cmd);
        c->cmd = NULL;
    }
    if (c->sub != NULL) {
        redisFree(c->sub);
        c->sub = NULL;
    }
}

void cache_free(cache_t *c)
{
    if (c == NULL) {
        return;
    }
    disconnect(c);
    hmap_free(c->subscriptions);
    hmap_free(c->records);
    free(c);
}

bool cache_is_up(const cache_t *c)
{
    return c->up;
}

/* Marks Redis down after a failed command; the caller holds the event. */
static cache_status_t went_down(cache_t *c, const char *what,
                                const char *detail)
{
    metrics_add(M_REDIS_ERRORS, 1);
    if (c->up) {
        log_error("redis unavailable", "{s:s, s:s}", "operation", what, "error",
                  detail != NULL ? detail : "unknown");
    }
    c->up = false;
    metrics_set(G_REDIS_UP, 0);
    disconnect(c);
    return CACHE_DOWN;
}

/* Opens one connection, authenticates and selects the database. */
static redisContext *open_connection(cache_t *c, const char **detail)
{
    struct timeval connect_tv = {0, REDIS_CONNECT_TIMEOUT_MS * 1000};
    struct timeval tv = {REDIS_TIMEOUT_MS / 1000,
                         (REDIS_TIMEOUT_MS % 1000) * 1000};
    redisContext *r = redisConnectWithTimeout(c->cfg->redis_host,
                                              c->cfg->redis_port, connect_tv);
    redisReply *reply = NULL;

    if (r == NULL) {
        *detail = "out of memory";
        return NULL;
    }
    /* Keepalive notices a connection that a NAT or load balancer dropped
     * silently; without it the pub/sub connection would wait forever and
     * published changes would go unseen. */
    if (r->err != 0 || redisSetTimeout(r, tv) != REDIS_OK ||
        redisEnableKeepAlive(r) != REDIS_OK) {
        goto fail;
    }
    if (c->cfg->redis_password != NULL) {
        reply = redisCommand(r, "AUTH %s", c->cfg->redis_password);
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            goto fail;
        }
        freeReplyObject(reply);
    }
    if (c->cfg->redis_db != 0) {
        reply = redisCommand(r, "SELECT %d", c->cfg->redis_db);
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            goto fail;
        }
        freeReplyObject(reply);
    }
    return r;

fail:
    /* Never echo an AUTH reply's text: keep to hiredis's own words. */
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        *detail = "Redis refused AUTH or SELECT";
    } else {
        *detail = r->err != 0 ? "connection failed" : "no reply";
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    redisFree(r);
    return NULL;
}

static bool connected(const cache_t *c)
{
    return c->cmd != NULL && c->sub != NULL;
}

cache_status_t cache_connect(cache_t *c)
{
    const char *detail = NULL;
    redisReply *reply;
    int64_t now = clock_mono_ms();

    if (connected(c)) {
        return CACHE_OK;
    }
    if (!c->up && now - c->last_attempt_ms < RECONNECT_INTERVAL_MS) {
        return CACHE_DOWN;
    }
    c->last_attempt_ms = now;
    disconnect(c);

    c->cmd = open_connection(c, &detail);
    if (c->cmd == NULL) {
        return went_down(c, "connect", detail);
    }
    c->sub = open_connection(c, &detail);
    if (c->sub == NULL) {
        return went_down(c, "connect", detail);
    }
    reply = redisCommand(c->sub, "SUBSCRIBE %s", CACHE_CHANGES_CHANNEL);
    if (reply == NULL) {
        return went_down(c, "subscribe", c->sub->errstr);
    }
    /* ["subscribe", channel, 1]; anything else (an ACL refusal, say) means
     * changes would never arrive. */
    bool subscribed = reply->type == REDIS_REPLY_ARRAY &&
                      reply->elements == 3 &&
                      reply->element[0]->type == REDIS_REPLY_STRING &&
                      strcmp(reply->element[0]->str, "subscribe") == 0;
    freeReplyObject(reply);
    if (!subscribed) {
        return went_down(c, "subscribe", "Redis refused SUBSCRIBE");
    }

    /* Changes published while we were not listening are lost: start from
     * an empty subscription cache. */
    hmap_clear(c->subscriptions);
    if (!c->up) {
        log_info("redis available again", NULL);
    }
    c->up = true;
    metrics_set(G_REDIS_UP, 1);
    return CACHE_OK;
}

static void tenant_key(char *buf, size_t size, int64_t tenant_id)
{
    snprintf(buf, size, "%lld", (long long)tenant_id);
}

/* Logs a malformed subscription document by its hash field, which is
 * repaired to valid UTF-8 (and cut like the ids the worker accepts) so that
 * the line always names it. */
static void skipped(int64_t tenant_id, const redisReply *field, const char *why)
{
    size_t len = field->len < SUBSCRIPTION_ID_MAX + 16
                     ? field->len
                     : SUBSCRIPTION_ID_MAX + 16;
    char *id = text_utf8_repair(field->str, len);

    log_error("subscription skipped", "{s:I, s:s?, s:s}", "tenantId",
              (json_int_t)tenant_id, "subscriptionId", id, "error", why);
    metrics_add(M_SUBSCRIPTIONS_SKIPPED, 1);
    free(id);
}

/* Parses the HGETALL reply of a tenant's subscription hash. */
static cache_subscriptions_t *parse_subscriptions(int64_t tenant_id,
                                                  const redisReply *r)
{
    cache_subscriptions_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        return s;
    }
    s->v = calloc(r->elements / 2, sizeof(subscription_t));
    if (s->v == NULL) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i];
        const redisReply *v = r->element[i + 1];
        char why[200] = "";
        subscription_t *sub = &s->v[s->n];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }
        if (subscription_parse(f->str, v->str, v->len, sub, why, sizeof(why)) !=
            0) {
            skipped(tenant_id, f, why);
            continue;
        }
        if (sub->tenant_id != tenant_id) {
            skipped(tenant_id, f, "tenantId does not match the hash it is in");
            subscription_free(sub);
            continue;
        }
        s->n++;
    }
    return s;
}

cache_status_t cache_subscriptions(cache_t *c, int64_t tenant_id,
                                   const cache_subscriptions_t **out)
{
    char tkey[32];
    char key[KEY_MAX];
    void *value;
    redisReply *reply;
    cache_subscriptions_t *s;
    int64_t now = clock_mono_ms();

    /* Only the worker's loop reconnects (cache_connect()): a reconnection
     * here would clear the subscriptions a caller may still hold. While
     * Redis is down nothing is answered, not even from memory, so that no
     * event is sent on data a missed change announcement may have made
     * stale. */
    if (!connected(c)) {
        return CACHE_DOWN;
    }
    tenant_key(tkey, sizeof(tkey), tenant_id);
    /* With caching off the map keeps only the last answer, for the caller
     * to use until its next call; it is never looked up. */
    if (c->cfg->cache_ttl_ms > 0 &&
        hmap_get(c->subscriptions, tkey, now, &value)) {
        metrics_add(M_CACHE_HITS, 1);
        *out = value;
        return CACHE_OK;
    }
    metrics_add(M_CACHE_MISSES, 1);

    snprintf(key, sizeof(key), "ordinavo:t:%lld:webhook-subscriptions",
             (long long)tenant_id);
    reply = redisCommand(c->cmd, "HGETALL %s", key);
    if (reply == NULL) {
        return went_down(c, "HGETALL subscriptions", c->cmd->errstr);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* A wrong-typed key is bad data, not an outage: no subscriptions. */
        if (strncmp(reply->str, "WRONGTYPE", 9) != 0) {
            freeReplyObject(reply);
            return went_down(c, "HGETALL subscriptions", "error reply");
        }
        log_error("subscriptions unreadable", "{s:I, s:s}", "tenantId",
                  (json_int_t)tenant_id, "error",
                  "the subscription key is not a hash");
    }
    s = parse_subscriptions(tenant_id, reply);
    freeReplyObject(reply);
    if (s == NULL) {
        return went_down(c, "parse subscriptions", "out of memory");
    }
    if (c->cfg->cache_ttl_ms > 0) {
        if (hmap_put(c->subscriptions, tkey, s, now,
                     now + c->cfg->cache_ttl_ms) != 0) {
            return went_down(c, "cache", "out of memory");
        }
    } else {
        /* Caching is off: keep only this answer until the next call. */
        hmap_clear(c->subscriptions);
        if (hmap_put(c->subscriptions, tkey, s, now, INT64_MAX) != 0) {
            return went_down(c, "cache", "out of memory");
        }
    }
    *out = s;
    return CACHE_OK;
}

/* Turns an HGETALL reply into an allow-listed record (NULL: missing key). */
static int record_from_reply(const redisReply *r, json_t **out)
{
    const char **fields = NULL;
    const char **values = NULL;
    size_t *flens = NULL;
    size_t *vlens = NULL;
    size_t n = 0;
    int rc = -1;

    *out = NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        return 0; /* missing key, or not a hash: both count as unknown */
    }
    fields = calloc(r->elements, sizeof(char *));
    values = calloc(r->elements, sizeof(char *));
    flens = calloc(r->elements, sizeof(size_t));
    vlens = calloc(r->elements, sizeof(size_t));
    if (!fields || !values || !flens || !vlens) {
        goto out;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i];
        const redisReply *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }
        fields[n] = f->str;
        flens[n] = f->len;
        values[n] = v->str;
        vlens[n] = v->len;
        n++;
    }
    *out = render_context_record(fields, flens, values, vlens, n);
    rc = *out != NULL ? 0 : -1;
out:
    free(fields);
    free(values);
    free(flens);
    free(vlens);
    return rc;
}

typedef struct wanted {
    const char *kind;
    int64_t id;
    json_t **slot;
    char key[KEY_MAX];
    bool fetch;
} wanted_t;

cache_status_t cache_context(cache_t *c, const event_t *ev, cache_wants_t wants,
                             render_context_t *ctx)
{
    wanted_t w[3];
    size_t n = 0;
    size_t n_fetch = 0;
    int64_t now = clock_mono_ms();

    memset(ctx, 0, sizeof(*ctx));
    if (!connected(c)) {
        return CACHE_DOWN; /* see cache_subscriptions() */
    }
    if (wants.customer && ev->customer.present) {
        w[n++] = (wanted_t){
            .kind = "customer", .id = ev->customer.id, .slot = &ctx->customer};
    }
    if (wants.location && ev->location.present) {
        w[n++] = (wanted_t){
            .kind = "location", .id = ev->location.id, .slot = &ctx->location};
    }
    if (wants.contact && ev->contact.present) {
        w[n++] = (wanted_t){
            .kind = "contact", .id = ev->contact.id, .slot = &ctx->contact};
    }

    for (size_t i = 0; i < n; i++) {
        void *value;
        snprintf(w[i].key, sizeof(w[i].key), "ordinavo:t:%lld:%s:%lld",
                 (long long)ev->tenant_id, w[i].kind, (long long)w[i].id);
        if (hmap_get(c->records, w[i].key, now, &value)) {
            metrics_add(M_CACHE_HITS, 1);
            *w[i].slot = json_incref(value);
        } else {
            metrics_add(M_CACHE_MISSES, 1);
            w[i].fetch = true;
            n_fetch++;
        }
    }
    if (n_fetch == 0) {
        return CACHE_OK;
    }

    /* One round trip for all of the event's records. */
    for (size_t i = 0; i < n; i++) {
        if (w[i].fetch &&
            redisAppendCommand(c->cmd, "HGETALL %s", w[i].key) != REDIS_OK) {
            cache_context_release(ctx);
            return went_down(c, "HGETALL context", c->cmd->errstr);
        }
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *reply = NULL;
        json_t *record;

        if (!w[i].fetch) {
            continue;
        }
        if (redisGetReply(c->cmd, (void **)&reply) != REDIS_OK ||
            reply == NULL) {
            cache_context_release(ctx);
            return went_down(c, "HGETALL context", c->cmd->errstr);
        }
        if (reply->type == REDIS_REPLY_ERROR &&
            strncmp(reply->str, "WRONGTYPE", 9) != 0) {
            freeReplyObject(reply);
            cache_context_release(ctx);
            return went_down(c, "HGETALL context", "error reply");
        }
        if (record_from_reply(reply, &record) != 0) {
            freeReplyObject(reply);
            cache_context_release(ctx);
            return went_down(c, "context record", "out of memory");
        }
        freeReplyObject(reply);
        *w[i].slot = record != NULL ? json_incref(record) : NULL;
        if (c->cfg->cache_ttl_ms > 0) {
            hmap_put(c->records, w[i].key, record, now,
                     now + c->cfg->cache_ttl_ms);
        } else {
            json_decref(record);
        }
    }
    return CACHE_OK;
}

void cache_context_release(render_context_t *ctx)
{
    json_decref(ctx->customer);
    json_decref(ctx->location);
    json_decref(ctx->contact);
    memset(ctx, 0, sizeof(*ctx));
}

int cache_changes_fd(const cache_t *c)
{
    return c->sub != NULL ? c->sub->fd : -1;
}

void cache_read_changes(cache_t *c)
{
    void *r = NULL;

    if (c->sub == NULL) {
        return;
    }
    if (redisBufferRead(c->sub) != REDIS_OK) {
        went_down(c, "read changes", c->sub->errstr);
        return;
    }
    while (redisGetReplyFromReader(c->sub, &r) == REDIS_OK && r != NULL) {
        redisReply *reply = r;
        /* ["message", channel, tenant id] */
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
            reply->element[2]->type == REDIS_REPLY_STRING) {
            char *end;
            long long tenant = strtoll(reply->element[2]->str, &end, 10);
            if (*end == '\0' && end != reply->element[2]->str) {
                char tkey[32];
                tenant_key(tkey, sizeof(tkey), tenant);
                hmap_del(c->subscriptions, tkey);
                log_debug("subscriptions changed", "{s:I}", "tenantId",
                          (json_int_t)tenant);
            } else {
                /* Unreadable announcement: forget every tenant. */
                hmap_clear(c->subscriptions);
            }
        }
        freeReplyObject(reply);
        r = NULL;
    }
}
