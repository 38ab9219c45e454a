/* The worker's main loop; see engine.h. */

#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "deliver.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "render.h"
#include "sign.h"
#include "ulid.h"

/* Longest wait of the loop when nothing happens, so that the stop flag,
 * Redis reconnection and liveness are looked at often enough. */
#define LOOP_WAIT_MS 100

#define ID_MAX 64

/* What the engine keeps about one delivery, beside what deliver.c needs. */
typedef struct job {
    offsets_msg_t *msg;
    char event_id[ID_MAX + 1];
    char event_type[ID_MAX + 1];
    char delivery_id[ID_MAX + 1];
    int64_t tenant_id;
    int attempt;
    subscription_key_t key;
    bool has_previous_key;
    subscription_key_t previous_key;
} job_t;

/* A consumed message held back while Redis is unreachable. */
typedef struct stalled {
    rd_kafka_message_t *rkm;
    offsets_msg_t *msg;
    struct stalled *next;
} stalled_t;

struct engine {
    const config_t *cfg;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int wake[2]; /* librdkafka writes to wake[1] when messages arrive */
    offsets_t *offsets;
    cache_t *cache;
    deliver_t *deliver;
    stalled_t *stalled_head;
    stalled_t *stalled_tail;
    bool paused;
    bool stopping;
    int assigned;
};

typedef enum outcome { PROCESSED, STALL } outcome_t;

/* ---- Kafka ---------------------------------------------------------- */

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    /* syslog levels: 0-3 errors, 4 warnings, the rest chatter. */
    if (level <= 3) {
        log_error("kafka", "{s:s, s:s}", "facility", fac, "error", buf);
    } else if (level == 4) {
        log_warn("kafka", "{s:s, s:s}", "facility", fac, "error", buf);
    } else {
        log_debug("kafka", "{s:s, s:s}", "facility", fac, "error", buf);
    }
}

static void kafka_error(rd_kafka_t *rk, int err, const char *reason,
                        void *opaque)
{
    (void)rk;
    (void)opaque;
    log_warn("kafka error", "{s:s, s:s}", "code",
             rd_kafka_err2name((rd_kafka_resp_err_t)err), "error", reason);
}

static json_t *partition_names(const rd_kafka_topic_partition_list_t *parts)
{
    json_t *a = json_array();

    for (int i = 0; i < parts->cnt; i++) {
        char buf[300];
        snprintf(buf, sizeof(buf), "%s[%d]", parts->elems[i].topic,
                 (int)parts->elems[i].partition);
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

static json_t *topic_names(const config_t *cfg)
{
    json_t *a = json_array();

    for (size_t i = 0; i < cfg->n_topics; i++) {
        json_array_append_new(a, json_string(cfg->topics[i]));
    }
    return a;
}

static void drain(engine_t *e, int64_t grace_ms);
static void drop_stalled(engine_t *e,
                         const rd_kafka_topic_partition_list_t *parts);

/* Eager rebalancing: on revocation every in-flight delivery gets the grace
 * period to finish, then the positions are committed before the partitions
 * go to another worker, which keeps duplicates down. */
static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    engine_t *e = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        if (e->paused) {
            rd_kafka_pause_partitions(rk, parts);
        }
        e->assigned += parts->cnt;
        metrics_set(G_ASSIGNED_PARTITIONS, e->assigned);
        log_info("partitions assigned", "{s:o}", "partitions",
                 partition_names(parts));
        return;
    }

    drain(e, e->cfg->shutdown_grace_ms);
    offsets_store(e->offsets, rk);
    rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
    if (cerr != RD_KAFKA_RESP_ERR_NO_ERROR &&
        cerr != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        log_warn("commit failed", "{s:s}", "error", rd_kafka_err2str(cerr));
    }
    for (int i = 0; i < parts->cnt; i++) {
        offsets_forget(e->offsets, parts->elems[i].topic,
                       parts->elems[i].partition);
    }
    drop_stalled(e, parts);
    rd_kafka_assign(rk, NULL);
    e->assigned = 0;
    metrics_set(G_ASSIGNED_PARTITIONS, 0);
    log_info("partitions revoked", "{s:o}", "partitions",
             partition_names(parts));
}

static int kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                     const char *variable, char *errstr, size_t errstr_size)
{
    char why[256];

    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "%s: %s", variable, why);
        return -1;
    }
    return 0;
}

static int kafka_start(engine_t *e, char *errstr, size_t errstr_size)
{
    const config_t *cfg = e->cfg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *topics = NULL;
    char why[512];
    int rc = -1;

    if (kafka_set(conf, "bootstrap.servers", cfg->kafka_brokers,
                  "WEBHOOKD_KAFKA_BROKERS", errstr, errstr_size) ||
        kafka_set(conf, "group.id", cfg->kafka_group, "WEBHOOKD_KAFKA_GROUP",
                  errstr, errstr_size) ||
        /* The worker decides what is committed: offsets are stored only as
         * far as every earlier message is resolved, and librdkafka commits
         * what was stored. */
        kafka_set(conf, "enable.auto.offset.store", "false", "internal", errstr,
                  errstr_size) ||
        kafka_set(conf, "enable.auto.commit", "true", "internal", errstr,
                  errstr_size) ||
        kafka_set(conf, "auto.offset.reset", "earliest", "internal", errstr,
                  errstr_size) ||
        kafka_set(conf, "client.id", "webhookd", "internal", errstr,
                  errstr_size)) {
        goto out;
    }
    for (size_t i = 0; i < cfg->n_rdkafka_props; i++) {
        char variable[300];
        snprintf(variable, sizeof(variable), "WEBHOOKD_RDKAFKA_%s",
                 cfg->rdkafka_props[i].key);
        if (kafka_set(conf, cfg->rdkafka_props[i].key,
                      cfg->rdkafka_props[i].value, variable, errstr,
                      errstr_size)) {
            goto out;
        }
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_error_cb(conf, kafka_error);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    rd_kafka_conf_set_opaque(conf, e);

    e->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (e->rk == NULL) {
        snprintf(errstr, errstr_size, "cannot create the Kafka consumer: %s",
                 why);
        goto out;
    }
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(e->rk);
    e->queue = rd_kafka_queue_get_consumer(e->rk);

    if (pipe(e->wake) != 0) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        goto out;
    }
    fcntl(e->wake[0], F_SETFL, O_NONBLOCK);
    fcntl(e->wake[1], F_SETFL, O_NONBLOCK);
    rd_kafka_queue_io_event_enable(e->queue, e->wake[1], "1", 1);

    topics = rd_kafka_topic_partition_list_new((int)cfg->n_topics);
    for (size_t i = 0; i < cfg->n_topics; i++) {
        rd_kafka_topic_partition_list_add(topics, cfg->topics[i],
                                          RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(e->rk, topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "WEBHOOKD_TOPICS: cannot subscribe: %s",
                 rd_kafka_err2str(err));
        goto out;
    }
    rc = 0;
out:
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    if (topics != NULL) {
        rd_kafka_topic_partition_list_destroy(topics);
    }
    return rc;
}

/* Pauses or resumes every assigned partition (Redis outage handling). */
static void set_paused(engine_t *e, bool paused)
{
    rd_kafka_topic_partition_list_t *parts = NULL;

    if (e->paused == paused) {
        return;
    }
    if (rd_kafka_assignment(e->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (paused) {
            rd_kafka_pause_partitions(e->rk, parts);
        } else {
            rd_kafka_resume_partitions(e->rk, parts);
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    e->paused = paused;
    log_info(paused ? "consumption paused" : "consumption resumed", "{s:s}",
             "reason", "redis");
}

/* ---- Deliveries ------------------------------------------------------ */

static bool url_allowed(const engine_t *e, const char *url)
{
    if (strncmp(url, "https://", 8) == 0) {
        return true;
    }
    return e->cfg->allow_http && strncmp(url, "http://", 7) == 0;
}

static int add_header(struct curl_slist **list, const char *name,
                      const char *value)
{
    char line[512];
    struct curl_slist *grown;

    snprintf(line, sizeof(line), "%s: %s", name, value);
    grown = curl_slist_append(*list, line);
    if (grown == NULL) {
        return -1;
    }
    *list = grown;
    return 0;
}

/* Signs the body at the moment of sending and sets the request headers. */
static int prepare(delivery_t *d, void *arg)
{
    job_t *j = d->opaque;
    char ts[32];
    char attempt[16];
    char sig[SIGN_HEADER_MAX];
    int64_t now = (int64_t)time(NULL);
    struct curl_slist *h = NULL;

    (void)arg;
    snprintf(ts, sizeof(ts), "%lld", (long long)now);
    snprintf(attempt, sizeof(attempt), "%d", j->attempt);
    if (sign_header(&j->key, j->has_previous_key ? &j->previous_key : NULL,
                    j->event_id, now, d->body, d->body_len, sig,
                    sizeof(sig)) < 0) {
        snprintf(d->error, sizeof(d->error), "cannot sign the body");
        return -1;
    }
    if (add_header(&h, "Content-Type", "application/json") ||
        add_header(&h, "User-Agent", "Ordinavo-Webhooks/1") ||
        add_header(&h, "webhook-id", j->event_id) ||
        add_header(&h, "webhook-timestamp", ts) ||
        add_header(&h, "webhook-signature", sig) ||
        add_header(&h, "X-Ordinavo-Event-Type", j->event_type) ||
        add_header(&h, "X-Ordinavo-Delivery-Id", j->delivery_id) ||
        add_header(&h, "X-Ordinavo-Attempt", attempt) ||
        /* No "100 Continue" round trip before larger bodies. */
        add_header(&h, "Expect", "")) {
        curl_slist_free_all(h);
        snprintf(d->error, sizeof(d->error), "out of memory");
        return -1;
    }
    curl_slist_free_all(d->headers);
    d->headers = h;
    return 0;
}

static void delivery_done(delivery_t *d, void *arg)
{
    engine_t *e = arg;
    job_t *j = d->opaque;
    bool ok =
        d->result == CURLE_OK && d->http_status >= 200 && d->http_status < 300;

    if (d->aborted) {
        /* Not finished: the message stays unresolved, so its offset is not
         * committed and the next owner of the partition delivers it. */
        log_warn("delivery abandoned", "{s:s, s:s, s:s, s:I}", "eventId",
                 j->event_id, "deliveryId", j->delivery_id, "subscriptionId",
                 d->subscription_id, "tenantId", (json_int_t)j->tenant_id);
        goto out;
    }

    if (ok) {
        metrics_delivery(RESULT_DELIVERED, d->latency_ms);
        log_info("delivered", "{s:s, s:s, s:s, s:I, s:i, s:I, s:i}", "eventId",
                 j->event_id, "deliveryId", j->delivery_id, "subscriptionId",
                 d->subscription_id, "tenantId", (json_int_t)j->tenant_id,
                 "status", (int)d->http_status, "latencyMs",
                 (json_int_t)d->latency_ms, "attempt", j->attempt);
    } else {
        metrics_delivery(d->http_status != 0 ? RESULT_FAILED : RESULT_ERROR,
                         d->latency_ms);
        log_warn("delivery failed", "{s:s, s:s, s:s, s:I, s:i, s:I, s:i, s:s}",
                 "eventId", j->event_id, "deliveryId", j->delivery_id,
                 "subscriptionId", d->subscription_id, "tenantId",
                 (json_int_t)j->tenant_id, "status", (int)d->http_status,
                 "latencyMs", (json_int_t)d->latency_ms, "attempt", j->attempt,
                 "error",
                 d->result != CURLE_OK ? d->error : "non-2xx response");
    }
    /* Retry topics are not in place yet: a failed attempt is final, so it
     * resolves the message just as a success does. */
    offsets_release(e->offsets, j->msg);
out:
    free(j);
    delivery_free(d);
}

static void copy_id(char *dst, const char *src)
{
    snprintf(dst, ID_MAX + 1, "%s", src);
}

/* Builds and submits the delivery of ev to sub. Returns 0, or -1 when out of
 * memory (nothing was submitted). */
static int submit(engine_t *e, const event_t *ev, const subscription_t *sub,
                  const render_context_t *ctx, offsets_msg_t *msg)
{
    delivery_t *d = delivery_new();
    job_t *j = calloc(1, sizeof(*j));
    json_t *body = NULL;

    if (d == NULL || j == NULL) {
        goto fail;
    }
    if (ulid_make("del_", j->delivery_id, sizeof(j->delivery_id)) != 0) {
        goto fail;
    }
    copy_id(j->event_id, ev->event_id);
    copy_id(j->event_type, ev->event_type);
    j->tenant_id = ev->tenant_id;
    j->attempt = 1;
    j->msg = msg;
    j->key = sub->key;
    j->has_previous_key = sub->has_previous_key;
    j->previous_key = sub->previous_key;

    body = render_body(ev, sub, ctx, j->delivery_id);
    if (body == NULL) {
        goto fail;
    }
    d->body = render_dump(body, &d->body_len);
    d->url = strdup(sub->url);
    d->subscription_id = strdup(sub->id);
    if (d->body == NULL || d->url == NULL || d->subscription_id == NULL) {
        goto fail;
    }
    json_decref(body);
    d->opaque = j;
    offsets_hold(msg);

    if (!url_allowed(e, d->url)) {
        /* Refused without a request; reported like any failed attempt. */
        d->result = CURLE_UNSUPPORTED_PROTOCOL;
        snprintf(d->error, sizeof(d->error),
                 "url scheme not allowed (https only unless "
                 "WEBHOOKD_ALLOW_HTTP)");
        delivery_done(d, e);
        return 0;
    }
    deliver_submit(e->deliver, d);
    return 0;

fail:
    json_decref(body);
    free(j);
    delivery_free(d);
    return -1;
}

/* ---- Events ---------------------------------------------------------- */

static void log_bad_message(const rd_kafka_message_t *rkm, codec_result_t r,
                            const char *why)
{
    log_warn("invalid event", "{s:s, s:i, s:I, s:s, s:s}", "topic",
             rd_kafka_topic_name(rkm->rkt), "partition", (int)rkm->partition,
             "offset", (json_int_t)rkm->offset, "reason",
             codec_result_reason(r), "error", why);
}

static outcome_t process(engine_t *e, const rd_kafka_message_t *rkm,
                         offsets_msg_t *msg)
{
    event_t ev = {0};
    render_context_t ctx = {0};
    const cache_subscriptions_t *subs = NULL;
    cache_wants_t wants = {false, false, false};
    char why[256] = "";
    size_t matched = 0;
    outcome_t outcome = PROCESSED;

    codec_result_t r =
        codec_decode(rkm->payload, rkm->len, &ev, why, sizeof(why));
    if (r != CODEC_OK) {
        metrics_add(r == CODEC_DECODE_ERROR ? M_EVENTS_DECODE_ERROR
                                            : M_EVENTS_INVALID,
                    1);
        log_bad_message(rkm, r, why);
        goto out;
    }

    if (cache_subscriptions(e->cache, ev.tenant_id, &subs) != CACHE_OK) {
        outcome = STALL;
        goto out;
    }
    for (size_t i = 0; i < subs->n; i++) {
        const subscription_t *s = &subs->v[i];
        if (!subscription_matches(s, &ev)) {
            continue;
        }
        matched++;
        wants.customer |= s->include_customer_context;
        wants.location |= s->include_customer_context;
        wants.contact |= s->include_contact_details;
    }
    if (matched == 0) {
        metrics_add(M_EVENTS_UNMATCHED, 1);
        log_debug("no subscription matched", "{s:s, s:I}", "eventId",
                  ev.event_id, "tenantId", (json_int_t)ev.tenant_id);
        goto out;
    }
    if (cache_context(e->cache, &ev, wants, &ctx) != CACHE_OK) {
        outcome = STALL;
        goto out;
    }

    for (size_t i = 0; i < subs->n; i++) {
        const subscription_t *s = &subs->v[i];
        if (subscription_matches(s, &ev) && submit(e, &ev, s, &ctx, msg)) {
            /* Out of memory: hold the rest back like an outage would. */
            log_error("out of memory rendering a delivery", "{s:s, s:s}",
                      "eventId", ev.event_id, "subscriptionId", s->id);
        }
    }

out:
    cache_context_release(&ctx);
    event_clear(&ev);
    return outcome;
}

static void stall(engine_t *e, rd_kafka_message_t *rkm, offsets_msg_t *msg)
{
    stalled_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        /* Without room to hold it, drop it unresolved: it is redelivered
         * after the next restart or rebalance, never lost. */
        rd_kafka_message_destroy(rkm);
        return;
    }
    s->rkm = rkm;
    s->msg = msg;
    if (e->stalled_tail != NULL) {
        e->stalled_tail->next = s;
    } else {
        e->stalled_head = s;
    }
    e->stalled_tail = s;
    set_paused(e, true);
}

static void handle(engine_t *e, rd_kafka_message_t *rkm)
{
    offsets_msg_t *msg;

    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            log_warn("kafka consumer error", "{s:s, s:s}", "code",
                     rd_kafka_err2name(rkm->err), "error",
                     rd_kafka_message_errstr(rkm));
        }
        rd_kafka_message_destroy(rkm);
        return;
    }
    metrics_add(M_EVENTS_CONSUMED, 1);
    msg = offsets_track(e->offsets, rd_kafka_topic_name(rkm->rkt),
                        rkm->partition, rkm->offset);
    if (msg == NULL) {
        log_error("out of memory tracking a message", NULL);
        rd_kafka_message_destroy(rkm);
        return;
    }
    /* Once one message waits for Redis, later ones queue behind it. */
    if (e->stalled_head != NULL || process(e, rkm, msg) == STALL) {
        stall(e, rkm, msg);
        return;
    }
    offsets_release(e->offsets, msg);
    rd_kafka_message_destroy(rkm);
}

/* Retries the held-back messages, oldest first, once Redis answers. */
static void retry_stalled(engine_t *e)
{
    while (e->stalled_head != NULL) {
        stalled_t *s = e->stalled_head;
        if (process(e, s->rkm, s->msg) == STALL) {
            return;
        }
        e->stalled_head = s->next;
        if (e->stalled_head == NULL) {
            e->stalled_tail = NULL;
        }
        offsets_release(e->offsets, s->msg);
        rd_kafka_message_destroy(s->rkm);
        free(s);
    }
    set_paused(e, false);
}

static bool in_list(const rd_kafka_topic_partition_list_t *parts,
                    const rd_kafka_message_t *rkm)
{
    return parts == NULL ||
           rd_kafka_topic_partition_list_find(
               parts, rd_kafka_topic_name(rkm->rkt), rkm->partition) != NULL;
}

/* Forgets held-back messages of the given partitions (all when NULL); they
 * were not committed, so their next consumer processes them. */
static void drop_stalled(engine_t *e,
                         const rd_kafka_topic_partition_list_t *parts)
{
    stalled_t **ps = &e->stalled_head;

    e->stalled_tail = NULL;
    while (*ps != NULL) {
        stalled_t *s = *ps;
        if (in_list(parts, s->rkm)) {
            *ps = s->next;
            offsets_release(e->offsets, s->msg);
            rd_kafka_message_destroy(s->rkm);
            free(s);
        } else {
            e->stalled_tail = s;
            ps = &s->next;
        }
    }
    if (e->stalled_head == NULL) {
        e->paused = false;
    }
}

/* ---- Loop ------------------------------------------------------------ */

static void update_ready(engine_t *e)
{
    metrics_set(G_READY, !e->stopping && !e->paused && cache_is_up(e->cache));
    metrics_set(G_LAST_LOOP_MS, clock_wall_ms());
}

/* Lets pending deliveries finish, for at most grace_ms. */
static void drain(engine_t *e, int64_t grace_ms)
{
    int64_t deadline = clock_mono_ms() + grace_ms;

    while (deliver_pending(e->deliver) > 0) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            break;
        }
        deliver_run(e->deliver, NULL, 0,
                    (int)(left < LOOP_WAIT_MS ? left : LOOP_WAIT_MS));
        update_ready(e);
    }
}

static void consume(engine_t *e)
{
    size_t limit = (size_t)e->cfg->max_inflight;
    char buf[64];

    /* Empty the wake-up pipe first: a later arrival writes to it again. */
    while (read(e->wake[0], buf, sizeof(buf)) > 0) {
    }
    while (deliver_pending(e->deliver) < limit) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(e->rk, 0);
        if (rkm == NULL) {
            break;
        }
        handle(e, rkm);
    }
}

int engine_run(engine_t *e, volatile sig_atomic_t *stop)
{
    struct curl_waitfd fds[2];

    /* Arguments of log_info() are evaluated only when the line is
     * written, so the new array is never leaked. */
    log_info("worker started", "{s:s, s:s, s:o}", "brokers",
             e->cfg->kafka_brokers, "group", e->cfg->kafka_group, "topics",
             topic_names(e->cfg));

    while (!*stop) {
        unsigned n = 0;

        if (e->stalled_head != NULL && cache_connect(e->cache) == CACHE_OK) {
            retry_stalled(e);
        }
        if (cache_changes_fd(e->cache) < 0 && e->stalled_head == NULL) {
            cache_connect(e->cache);
        }
        consume(e);
        offsets_store(e->offsets, e->rk);
        update_ready(e);

        fds[n++] = (struct curl_waitfd){e->wake[0], CURL_WAIT_POLLIN, 0};
        if (cache_changes_fd(e->cache) >= 0) {
            fds[n++] = (struct curl_waitfd){cache_changes_fd(e->cache),
                                            CURL_WAIT_POLLIN, 0};
        }
        deliver_run(e->deliver, fds, n, LOOP_WAIT_MS);
        if (n > 1 && fds[1].revents != 0) {
            cache_read_changes(e->cache);
        }
    }

    e->stopping = true;
    update_ready(e);
    log_info("shutting down", "{s:I, s:I}", "pending",
             (json_int_t)deliver_pending(e->deliver), "graceMs",
             (json_int_t)e->cfg->shutdown_grace_ms);
    drain(e, e->cfg->shutdown_grace_ms);
    deliver_abort_all(e->deliver);
    drop_stalled(e, NULL);
    offsets_store(e->offsets, e->rk);

    /* Commits what was stored (through the revocation above) and leaves
     * the group, so the partitions move on without a session timeout. */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(e->rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("consumer close failed", "{s:s}", "error",
                 rd_kafka_err2str(err));
    }
    log_info("shutdown complete", NULL);
    return 0;
}

static void on_startup_failure(engine_t *e)
{
    engine_free(e);
}

engine_t *engine_new(const config_t *cfg, char *errstr, size_t errstr_size)
{
    engine_t *e = calloc(1, sizeof(*e));

    if (e == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    e->wake[0] = e->wake[1] = -1;
    e->offsets = offsets_new();
    e->cache = cache_new(cfg);
    if (e->offsets == NULL || e->cache == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        on_startup_failure(e);
        return NULL;
    }
    e->deliver =
        deliver_new(cfg, prepare, delivery_done, e, errstr, errstr_size);
    if (e->deliver == NULL || kafka_start(e, errstr, errstr_size) != 0) {
        on_startup_failure(e);
        return NULL;
    }
    /* Connect now so that a wrong address shows at once in the log; an
     * unreachable Redis is not fatal, the loop keeps trying. */
    cache_connect(e->cache);
    metrics_set(G_REDIS_UP, cache_is_up(e->cache));
    return e;
}

void engine_free(engine_t *e)
{
    if (e == NULL) {
        return;
    }
    deliver_free(e->deliver);
    drop_stalled(e, NULL);
    if (e->queue != NULL) {
        rd_kafka_queue_destroy(e->queue);
    }
    if (e->rk != NULL) {
        rd_kafka_destroy(e->rk);
    }
    for (int i = 0; i < 2; i++) {
        if (e->wake[i] >= 0) {
            close(e->wake[i]);
        }
    }
    cache_free(e->cache);
    offsets_free(e->offsets);
    free(e);
}
