/* The worker's main loop; see engine.h. */

#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "breaker.h"
#include "cache.h"
#include "clock.h"
#include "deliver.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "producer.h"
#include "record.h"
#include "render.h"
#include "sign.h"
#include "ulid.h"

/* Longest wait of the loop when nothing happens, so that the stop flag,
 * due retries, Redis reconnection and liveness are looked at often. */
#define LOOP_WAIT_MS 100

/* How long the start may wait for Kafka to describe the topics. */
#define METADATA_TIMEOUT_MS 15000

/* After the grace, how long the hand-offs of abandoned deliveries may take
 * to be acknowledged before the worker lets go without them (their events
 * are then processed again by the next owner). Kafka acknowledges in
 * milliseconds when it is up. */
#define HANDOFF_FLUSH_MS 5000

/* Event types are the 13 known ones; delivery ids are made here. Event and
 * subscription ids are checked against their own limits where they come in
 * (codec, subscription parser, retry record parser), so they always fit. */
#define TYPE_MAX     64
#define DELIVERY_MAX 64
#define ENDPOINT_MAX 300

/* What the engine keeps about one attempt, beside what deliver.c needs. */
typedef struct job {
    offsets_msg_t *msg; /* the consumed message (domain event or retry) */
    char event_id[EVENT_ID_MAX + 1];
    char event_type[TYPE_MAX + 1];
    char delivery_id[DELIVERY_MAX + 1];
    char subscription_id[SUBSCRIPTION_ID_MAX + 1];
    char endpoint[ENDPOINT_MAX];
    int64_t tenant_id;
    int attempt; /* this attempt's number, from 1 */
    int64_t first_attempt_ms;
    int64_t started_ms; /* wall clock when the request started */
    record_origin_t origin;
    json_t *body;     /* the rendered payload, as sent */
    json_t *attempts; /* history of the earlier attempts */
    bool probe;       /* the half-open breaker's probe request */
    subscription_key_t key;
    bool has_previous_key;
    subscription_key_t previous_key;
} job_t;

/* How an attempt ended, with or without a request. */
typedef struct attempt_result {
    long http_status; /* 0: no response */
    const char *error;
    int64_t latency_ms;
    const char *response;
    size_t response_len;
    bool timed_out;
    int64_t retry_after_s;
} attempt_result_t;

/* A consumed message held in memory: behind a Redis outage (stalled), or
 * a retry record waiting for its due time with its partition paused. */
typedef struct held {
    rd_kafka_message_t *rkm;
    offsets_msg_t *msg;
    int64_t due_ms; /* wall clock; 0 for stalled messages */
    struct held *next;
} held_t;

/* One retry topic per distinct delay of the schedule. */
typedef struct tier {
    char *topic;
    char label[16];
    int64_t delay_ms;
} tier_t;

struct engine {
    const config_t *cfg;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int wake[2]; /* librdkafka writes to wake[1] when messages arrive */
    offsets_t *offsets;
    cache_t *cache;
    deliver_t *deliver;
    producer_t *producer;
    breakers_t *breakers;
    tier_t tiers[CONFIG_RETRY_TIERS_MAX];
    size_t n_tiers;
    size_t tier_of[CONFIG_RETRY_TIERS_MAX]; /* schedule index -> tier */
    held_t *stalled_head; /* FIFO, processed in order when Redis is back */
    held_t *stalled_tail;
    held_t *waiting; /* retry records not yet due, one per partition */
    bool paused;     /* every partition paused for a Redis outage */
    bool stopping;
    int64_t stop_deadline_ms; /* monotonic; set when stopping begins */
    const char *failure;      /* why the worker must stop and exit 1, or NULL */
};

typedef enum outcome { PROCESSED, STALL } outcome_t;

static void hand_back(engine_t *e);
static void drop_held(engine_t *e, held_t **list,
                      const rd_kafka_topic_partition_list_t *parts,
                      bool forgotten);
static void resume_own_pauses(engine_t *e,
                              const rd_kafka_topic_partition_list_t *parts);

/* ---- Small helpers --------------------------------------------------- */

/* Copies an id whole, or fails: a cut id would be another id. */
static bool copy_id(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size) {
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

static json_t *topic_names(const config_t *cfg)
{
    json_t *a = json_array();

    for (size_t i = 0; i < cfg->n_topics; i++) {
        json_array_append_new(a, json_string(cfg->topics[i]));
    }
    return a;
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

/* The retry tier a topic belongs to, or -1 for a domain topic. */
static int tier_of_topic(const engine_t *e, const char *topic)
{
    for (size_t i = 0; i < e->n_tiers; i++) {
        if (strcmp(e->tiers[i].topic, topic) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static rd_kafka_topic_partition_list_t *one_partition(const char *topic,
                                                      int32_t partition)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    return l;
}

static bool held_in(const held_t *h, const rd_kafka_topic_partition_list_t *l)
{
    return l == NULL ||
           rd_kafka_topic_partition_list_find(
               l, rd_kafka_topic_name(h->rkm->rkt), h->rkm->partition) != NULL;
}

/* ---- Kafka consumer -------------------------------------------------- */

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

/*
 * Eager rebalancing: on revocation every in-flight delivery gets the grace
 * period to finish or is handed to a retry tier, the hand-offs are
 * acknowledged, and the positions are committed before the partitions go
 * to another worker.
 */
static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    engine_t *e = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        if (e->paused) {
            rd_kafka_pause_partitions(rk, parts);
        }
        metrics_set(G_ASSIGNED_PARTITIONS, parts->cnt);
        log_info("partitions assigned", "{s:o}", "partitions",
                 partition_names(parts));
        return;
    }

    /* At shutdown the grace started with the stop; on a rebalance, now. */
    if (!e->stopping) {
        e->stop_deadline_ms = clock_mono_ms() + e->cfg->shutdown_grace_ms;
    }
    hand_back(e);
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
    resume_own_pauses(e, parts);
    /* Held messages were not committed: their next owner processes them. */
    drop_held(e, &e->stalled_head, parts, true);
    drop_held(e, &e->waiting, parts, true);
    rd_kafka_assign(rk, NULL);
    metrics_set(G_ASSIGNED_PARTITIONS, 0);
    log_info("partitions revoked", "{s:o}", "partitions",
             partition_names(parts));
}

/*
 * librdkafka keeps a pause made by the application across unassign and
 * assign, so a revoked partition this worker paused (for a Redis outage, or
 * behind a retry record not yet due) would stay stopped for good if it came
 * back to this worker. Resumes those before they are let go. Only what was
 * paused is resumed: resuming a running partition can restart its fetch.
 */
static void resume_own_pauses(engine_t *e,
                              const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *l;

    if (e->paused) {
        l = rd_kafka_topic_partition_list_copy(parts);
    } else {
        l = rd_kafka_topic_partition_list_new(1);
        for (const held_t *w = e->waiting; w != NULL; w = w->next) {
            if (held_in(w, parts)) {
                rd_kafka_topic_partition_list_add(
                    l, rd_kafka_topic_name(w->rkm->rkt), w->rkm->partition);
            }
        }
    }
    if (l->cnt > 0) {
        rd_kafka_resume_partitions(e->rk, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
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
        /* A crash repeats what was resolved since the last commit: commit
         * every second rather than librdkafka's five. Overridable. */
        kafka_set(conf, "auto.commit.interval.ms", "1000", "internal", errstr,
                  errstr_size) ||
        /* librdkafka prefetches up to 64 MiB by default, which would make
         * the worker's memory follow the backlog. A few thousand messages
         * keep it busy. Overridable. */
        kafka_set(conf, "queued.max.messages.kbytes", "8192", "internal",
                  errstr, errstr_size) ||
        kafka_set(conf, "queued.min.messages", "10000", "internal", errstr,
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

    /* The domain topics and the retry tiers, in one consumer group. */
    topics =
        rd_kafka_topic_partition_list_new((int)(cfg->n_topics + e->n_tiers));
    for (size_t i = 0; i < cfg->n_topics; i++) {
        rd_kafka_topic_partition_list_add(topics, cfg->topics[i],
                                          RD_KAFKA_PARTITION_UA);
    }
    for (size_t i = 0; i < e->n_tiers; i++) {
        rd_kafka_topic_partition_list_add(topics, e->tiers[i].topic,
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

/* Pauses or resumes every assigned partition for a Redis outage; waiting
 * retry partitions stay paused until their record is due. */
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
            for (held_t *w = e->waiting; w != NULL; w = w->next) {
                rd_kafka_topic_partition_list_del(
                    parts, rd_kafka_topic_name(w->rkm->rkt), w->rkm->partition);
            }
            rd_kafka_resume_partitions(e->rk, parts);
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    e->paused = paused;
    log_info(paused ? "consumption paused" : "consumption resumed", "{s:s}",
             "reason", "redis");
}

/* ---- Hand-offs: retry tiers, dead letters, attempts ------------------- */

static void job_free(job_t *j)
{
    if (j == NULL) {
        return;
    }
    json_decref(j->body);
    json_decref(j->attempts);
    free(j->origin.topic);
    free(j);
}

static char *dump(const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT);
    *len = s != NULL ? strlen(s) : 0;
    return s;
}

/* Publishes one attempt's outcome (no body) when WEBHOOKD_ATTEMPTS_TOPIC is
 * set. Analytics only: it holds nothing back. */
static void publish_attempt(engine_t *e, const job_t *j,
                            const attempt_result_t *r, const char *outcome)
{
    char at[40];
    size_t len;
    json_t *v;
    char *s;

    if (e->cfg->attempts_topic == NULL) {
        return;
    }
    record_format_utc(j->started_ms, at, sizeof(at));
    v = json_pack("{s:s, s:s, s:I, s:s, s:s, s:i, s:s, s:o, s:s?, s:I, s:s}",
                  "eventId", j->event_id, "eventType", j->event_type,
                  "tenantId", (json_int_t)j->tenant_id, "subscriptionId",
                  j->subscription_id, "deliveryId", j->delivery_id, "attempt",
                  j->attempt, "atUtc", at, "httpStatus",
                  r->http_status != 0 ? json_integer(r->http_status)
                                      : json_null(),
                  "error", r->error, "latencyMs", (json_int_t)r->latency_ms,
                  "outcome", outcome);
    s = v != NULL ? dump(v, &len) : NULL;
    if (s != NULL) {
        producer_send(e->producer, e->cfg->attempts_topic, j->subscription_id,
                      s, len, NULL, NULL);
    }
    free(s);
    json_decref(v);
}

/* Writes the Kafka Connect dead-letter headers, so that tools made for
 * Connect's dead-letter queues can read ours. */
static rd_kafka_headers_t *connect_headers(const record_origin_t *o,
                                           const char *message)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    char partition[16];
    char offset[24];

    snprintf(partition, sizeof(partition), "%d", (int)o->partition);
    snprintf(offset, sizeof(offset), "%lld", (long long)o->offset);
    rd_kafka_header_add(h, "__connect.errors.topic", -1, o->topic, -1);
    rd_kafka_header_add(h, "__connect.errors.partition", -1, partition, -1);
    rd_kafka_header_add(h, "__connect.errors.offset", -1, offset, -1);
    rd_kafka_header_add(h, "__connect.errors.exception.message", -1, message,
                        -1);
    return h;
}

/*
 * Sends a record to topic with a hold on the job's message, then drops the
 * job's own hold: the message is resolved once Kafka acknowledges. When the
 * write cannot be queued the job's hold is kept, so the offset stays put.
 */
static void hand_off(engine_t *e, job_t *j, const char *topic, json_t *rec,
                     rd_kafka_headers_t *headers)
{
    size_t len = 0;
    char *s = rec != NULL ? dump(rec, &len) : NULL;

    if (s == NULL || producer_send(e->producer, topic, j->subscription_id, s,
                                   len, headers, j->msg) != 0) {
        if (s == NULL && headers != NULL) {
            rd_kafka_headers_destroy(headers);
        }
        log_error("hand-off failed; the event will be delivered again after "
                  "a restart",
                  "{s:s, s:s, s:s}", "eventId", j->event_id, "subscriptionId",
                  j->subscription_id, "topic", topic);
        free(s);
        return;
    }
    free(s);
    offsets_release(e->offsets, j->msg);
}

static void dead_letter(engine_t *e, job_t *j, metric_reason_t reason,
                        const char *reason_name, const char *detail)
{
    char message[300];
    json_t *rec =
        record_build(j->event_id, j->event_type, j->tenant_id,
                     j->subscription_id, j->attempt, j->first_attempt_ms, -1,
                     reason_name, &j->origin, j->body, j->attempts);

    snprintf(message, sizeof(message), "%s: %s", reason_name, detail);
    metrics_reason(reason);
    log_warn("dead-lettered", "{s:s, s:s, s:I, s:i, s:s, s:s}", "eventId",
             j->event_id, "subscriptionId", j->subscription_id, "tenantId",
             (json_int_t)j->tenant_id, "attempt", j->attempt, "reason",
             reason_name, "error", detail);
    hand_off(e, j, e->cfg->dlq_topic, rec,
             connect_headers(&j->origin, message));
    json_decref(rec);
}

static void schedule_retry(engine_t *e, job_t *j, int64_t delay_ms)
{
    size_t idx = record_tier_for(e->cfg->retry_schedule_ms,
                                 e->cfg->n_retry_tiers, j->attempt, delay_ms);
    const tier_t *t = &e->tiers[e->tier_of[idx]];
    int64_t next = clock_wall_ms() + delay_ms;
    char when[40];
    json_t *rec =
        record_build(j->event_id, j->event_type, j->tenant_id,
                     j->subscription_id, j->attempt, j->first_attempt_ms, next,
                     NULL, &j->origin, j->body, j->attempts);

    record_format_utc(next, when, sizeof(when));
    metrics_retry(e->tier_of[idx]);
    log_info("retry scheduled", "{s:s, s:s, s:I, s:i, s:s, s:s}", "eventId",
             j->event_id, "subscriptionId", j->subscription_id, "tenantId",
             (json_int_t)j->tenant_id, "attempt", j->attempt, "retryTopic",
             t->topic, "nextAttemptAtUtc", when);
    hand_off(e, j, t->topic, rec, NULL);
    json_decref(rec);
}

/*
 * Hands a delivery that was never sent to the first retry tier, due at
 * once, with the attempts made so far (one fewer than the one it waited
 * to make), so that its next owner sends that same attempt without
 * waiting a tier's delay. Frees the job.
 */
static void hand_over_unsent(engine_t *e, job_t *j)
{
    const tier_t *t = &e->tiers[e->tier_of[0]];
    json_t *rec =
        record_build(j->event_id, j->event_type, j->tenant_id,
                     j->subscription_id, j->attempt - 1, j->first_attempt_ms,
                     clock_wall_ms(), NULL, &j->origin, j->body, j->attempts);

    metrics_retry(e->tier_of[0]);
    log_info("handed over unsent", "{s:s, s:s, s:I, s:i, s:s}", "eventId",
             j->event_id, "subscriptionId", j->subscription_id, "tenantId",
             (json_int_t)j->tenant_id, "attempt", j->attempt, "retryTopic",
             t->topic);
    hand_off(e, j, t->topic, rec, NULL);
    json_decref(rec);
    job_free(j);
}

/*
 * Everything after an attempt, whether a request was made or not: the
 * history, the attempts topic, and then delivered, retried or
 * dead-lettered. Frees the job.
 */
static void finish_attempt(engine_t *e, job_t *j, const attempt_result_t *r)
{
    bool ok = r->http_status >= 200 && r->http_status < 300 && r->error == NULL;

    if (ok) {
        metrics_delivery(RESULT_DELIVERED, r->latency_ms);
        log_info("delivered", "{s:s, s:s, s:s, s:I, s:i, s:I, s:i}", "eventId",
                 j->event_id, "deliveryId", j->delivery_id, "subscriptionId",
                 j->subscription_id, "tenantId", (json_int_t)j->tenant_id,
                 "status", (int)r->http_status, "latencyMs",
                 (json_int_t)r->latency_ms, "attempt", j->attempt);
        publish_attempt(e, j, r, "delivered");
        offsets_release(e->offsets, j->msg);
        job_free(j);
        return;
    }

    /* The history goes into retry and dead-letter records only, so it is
     * built for failed attempts alone. */
    record_attempt_t a = {j->delivery_id, j->started_ms, r->http_status,
                          r->error,       r->latency_ms, r->response,
                          r->response_len};
    json_t *entry = record_attempt_json(&a);
    if (entry != NULL) {
        json_array_append_new(j->attempts, entry);
    }

    metrics_delivery(r->http_status != 0 ? RESULT_FAILED : RESULT_ERROR,
                     r->latency_ms);
    log_warn("delivery failed", "{s:s, s:s, s:s, s:I, s:i, s:I, s:i, s:s}",
             "eventId", j->event_id, "deliveryId", j->delivery_id,
             "subscriptionId", j->subscription_id, "tenantId",
             (json_int_t)j->tenant_id, "status", (int)r->http_status,
             "latencyMs", (json_int_t)r->latency_ms, "attempt", j->attempt,
             "error", r->error != NULL ? r->error : "non-2xx response");

    if (r->http_status == 410) {
        publish_attempt(e, j, r, "dead_lettered");
        dead_letter(e, j, REASON_ENDPOINT_GONE, "endpoint_gone",
                    "the endpoint answered 410 Gone");
        job_free(j);
        return;
    }

    record_failure_t f = {r->http_status, r->timed_out, r->retry_after_s};
    int64_t delay = record_next_delay(
        e->cfg->retry_schedule_ms, e->cfg->n_retry_tiers, j->attempt, &f,
        e->cfg->min_backoff_ms, drand48() * 2.0 - 1.0);
    if (delay < 0) {
        char detail[200];
        snprintf(detail, sizeof(detail),
                 "no success after %d attempts; last: %s", j->attempt,
                 r->error != NULL ? r->error : "non-2xx response");
        if (r->error == NULL) {
            snprintf(detail, sizeof(detail),
                     "no success after %d attempts; last: HTTP %ld", j->attempt,
                     r->http_status);
        }
        publish_attempt(e, j, r, "dead_lettered");
        dead_letter(e, j, REASON_EXHAUSTED, "exhausted", detail);
    } else {
        publish_attempt(e, j, r, "retry_scheduled");
        schedule_retry(e, j, delay);
    }
    job_free(j);
}

/* An attempt that ends without a request (open breaker, backlog, policy). */
static void finish_without_request(engine_t *e, job_t *j, const char *error)
{
    attempt_result_t r = {0, error, 0, NULL, 0, false, -1};

    j->started_ms = clock_wall_ms();
    finish_attempt(e, j, &r);
}

/* ---- Deliveries ------------------------------------------------------ */

static bool url_allowed(const engine_t *e, const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0) {
        return true;
    }
    return e->cfg->allow_http && strncasecmp(url, "http://", 7) == 0;
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
    j->started_ms = clock_wall_ms();
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
    attempt_result_t r = {
        d->http_status,  d->result != CURLE_OK ? d->error : NULL,
        d->latency_ms,   d->response,
        d->response_len, d->timed_out,
        d->retry_after_s};

    if (j->started_ms == 0) {
        j->started_ms = clock_wall_ms();
    }
    if (d->never_sent) {
        /* Waiting behind its subscription's bound at shutdown or
         * revocation: nothing was sent, so no attempt is spent. */
        d->opaque = NULL;
        delivery_free(d);
        hand_over_unsent(e, j);
        return;
    }
    if (d->shed) {
        /* Never started: the subscription's queue was stuck. */
        r.error = d->error;
    } else if (d->aborted) {
        /* Given up at shutdown or revocation: the request may or may not
         * have arrived. It counts as an attempt and goes to a retry tier,
         * so the message can be committed without losing the delivery. */
        r.http_status = 0;
        r.error = "abandoned at shutdown or rebalance";
    } else if (!d->refused_destination) {
        bool failure = d->http_status == 0 || d->http_status == 429 ||
                       d->http_status >= 500;
        if (breakers_report(e->breakers, j->endpoint, failure, j->probe,
                            clock_mono_ms())) {
            metrics_add(M_BREAKER_OPENED, 1);
            log_warn("circuit breaker opened", "{s:s, s:I}", "subscriptionId",
                     j->subscription_id, "cooldownMs",
                     (json_int_t)e->cfg->breaker_cooldown_ms);
        }
    }
    d->opaque = NULL;
    finish_attempt(e, j, &r);
    delivery_free(d);
}

/*
 * Sends one attempt of j to sub, or ends it at once without a request when
 * the scheme is not allowed, the subscription's backlog is full or its
 * endpoint's breaker is open. Takes ownership of j (and of its hold).
 */
static void send_attempt(engine_t *e, job_t *j, const subscription_t *sub)
{
    delivery_t *d = NULL;

    j->key = sub->key;
    j->has_previous_key = sub->has_previous_key;
    j->previous_key = sub->previous_key;
    if (breakers_endpoint(sub->url, j->endpoint, sizeof(j->endpoint)) != 0) {
        snprintf(j->endpoint, sizeof(j->endpoint), "%s", sub->id);
    }

    if (!url_allowed(e, sub->url)) {
        finish_without_request(e, j,
                               "url scheme not allowed (https only unless "
                               "WEBHOOKD_ALLOW_HTTP)");
        return;
    }
    if (!deliver_has_room(e->deliver, sub->id, clock_mono_ms())) {
        finish_without_request(e, j, "subscription backlog full");
        return;
    }
    breaker_decision_t b =
        breakers_check(e->breakers, j->endpoint, clock_mono_ms());
    if (b == BREAKER_SKIP) {
        finish_without_request(e, j, "circuit breaker open");
        return;
    }
    j->probe = b == BREAKER_PROBE;

    d = delivery_new();
    if (d == NULL || (d->url = strdup(sub->url)) == NULL ||
        (d->subscription_id = strdup(sub->id)) == NULL ||
        (d->body = render_dump(j->body, &d->body_len)) == NULL) {
        delivery_free(d);
        log_error("out of memory preparing a delivery; the event will be "
                  "delivered again after a restart",
                  "{s:s, s:s}", "eventId", j->event_id, "subscriptionId",
                  sub->id);
        /* The job's hold stays: the offset never moves past the event. */
        j->msg = NULL;
        job_free(j);
        return;
    }
    d->opaque = j;
    deliver_submit(e->deliver, d);
}

/* A new job for an attempt of an event to a subscription, or NULL. */
static job_t *job_new(const char *event_id, const char *event_type,
                      int64_t tenant_id, const char *subscription_id,
                      offsets_msg_t *msg)
{
    job_t *j = calloc(1, sizeof(*j));

    if (j == NULL) {
        return NULL;
    }
    if (ulid_make("del_", j->delivery_id, sizeof(j->delivery_id)) != 0 ||
        !copy_id(j->event_id, sizeof(j->event_id), event_id) ||
        !copy_id(j->event_type, sizeof(j->event_type), event_type) ||
        !copy_id(j->subscription_id, sizeof(j->subscription_id),
                 subscription_id)) {
        free(j);
        return NULL;
    }
    j->tenant_id = tenant_id;
    j->msg = msg;
    offsets_hold(msg);
    return j;
}

/* ---- Domain events ---------------------------------------------------- */

static void origin_of(const rd_kafka_message_t *rkm, record_origin_t *o)
{
    o->topic = (char *)rd_kafka_topic_name(rkm->rkt);
    o->partition = rkm->partition;
    o->offset = rkm->offset;
}

/* Dead-letters an inbound message that cannot be used, with its bytes. */
static void dead_letter_raw(engine_t *e, const rd_kafka_message_t *rkm,
                            offsets_msg_t *msg, metric_reason_t reason,
                            const char *reason_name, const char *why)
{
    record_origin_t o;
    char message[400];
    size_t len = 0;
    char *s;

    origin_of(rkm, &o);
    json_t *rec = record_build_undecodable(
        reason_name, why, &o, rkm->key, rkm->key_len, rkm->payload, rkm->len,
        (size_t)e->cfg->max_event_size, clock_wall_ms());
    snprintf(message, sizeof(message), "%s: %s", reason_name, why);
    metrics_reason(reason);
    log_warn("invalid event", "{s:s, s:i, s:I, s:s, s:s}", "topic", o.topic,
             "partition", (int)o.partition, "offset", (json_int_t)o.offset,
             "reason", reason_name, "error", why);

    s = rec != NULL ? dump(rec, &len) : NULL;
    if (s == NULL || producer_send(e->producer, e->cfg->dlq_topic, NULL, s, len,
                                   connect_headers(&o, message), msg) != 0) {
        /* No release: without a durable dead letter the offset stays. */
        offsets_hold(msg);
        log_error("dead-letter write failed; the message will be processed "
                  "again after a restart",
                  "{s:s, s:I}", "topic", o.topic, "offset",
                  (json_int_t)o.offset);
    }
    free(s);
    json_decref(rec);
}

static outcome_t process_event(engine_t *e, const rd_kafka_message_t *rkm,
                               offsets_msg_t *msg)
{
    event_t ev = {0};
    render_context_t ctx = {0};
    const cache_subscriptions_t *subs = NULL;
    cache_wants_t wants = {false, false, false};
    char why[256] = "";
    size_t matched = 0;
    outcome_t outcome = PROCESSED;

    if (rkm->len > (size_t)e->cfg->max_event_size) {
        /* Refused before decoding: it would not fit in a retry record. */
        snprintf(why, sizeof(why),
                 "message of %zu bytes is larger than WEBHOOKD_MAX_EVENT_SIZE "
                 "(%lld bytes)",
                 rkm->len, (long long)e->cfg->max_event_size);
        metrics_add(M_EVENTS_INVALID, 1);
        dead_letter_raw(e, rkm, msg, REASON_INVALID_EVENT, "invalid_event",
                        why);
        goto out;
    }
    codec_result_t r =
        codec_decode(rkm->payload, rkm->len, &ev, why, sizeof(why));
    if (r != CODEC_OK) {
        bool decode = r == CODEC_DECODE_ERROR;
        metrics_add(decode ? M_EVENTS_DECODE_ERROR : M_EVENTS_INVALID, 1);
        dead_letter_raw(e, rkm, msg,
                        decode ? REASON_DECODE_ERROR : REASON_INVALID_EVENT,
                        codec_result_reason(r), why);
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
        job_t *j;

        if (!subscription_matches(s, &ev)) {
            continue;
        }
        j = job_new(ev.event_id, ev.event_type, ev.tenant_id, s->id, msg);
        if (j == NULL) {
            log_error("out of memory; the event will be delivered again "
                      "after a restart",
                      "{s:s, s:s}", "eventId", ev.event_id, "subscriptionId",
                      s->id);
            offsets_hold(msg); /* never resolved: the offset stays */
            continue;
        }
        j->attempt = 1;
        j->first_attempt_ms = clock_wall_ms();
        j->origin.topic = strdup(rd_kafka_topic_name(rkm->rkt));
        j->origin.partition = rkm->partition;
        j->origin.offset = rkm->offset;
        j->attempts = json_array();
        j->body = render_body(&ev, s, &ctx, j->delivery_id);
        if (j->origin.topic == NULL || j->attempts == NULL || j->body == NULL) {
            log_error("out of memory rendering; the event will be delivered "
                      "again after a restart",
                      "{s:s, s:s}", "eventId", ev.event_id, "subscriptionId",
                      s->id);
            job_free(j); /* its hold stays: the offset never moves */
            continue;
        }
        send_attempt(e, j, s);
    }

out:
    cache_context_release(&ctx);
    event_clear(&ev);
    return outcome;
}

/* ---- Retry records ----------------------------------------------------- */

static const subscription_t *find_subscription(const cache_subscriptions_t *s,
                                               const char *id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].id, id) == 0) {
            return &s->v[i];
        }
    }
    return NULL;
}

static outcome_t process_retry(engine_t *e, const rd_kafka_message_t *rkm,
                               offsets_msg_t *msg)
{
    record_t rec = {0};
    const cache_subscriptions_t *subs = NULL;
    const subscription_t *sub;
    char why[256] = "";
    job_t *j;
    outcome_t outcome = PROCESSED;

    if (record_parse(rkm->payload, rkm->len, &rec, why, sizeof(why)) != 0) {
        dead_letter_raw(e, rkm, msg, REASON_INVALID_EVENT, "invalid_event",
                        why);
        goto out;
    }
    if (cache_subscriptions(e->cache, rec.tenant_id, &subs) != CACHE_OK) {
        outcome = STALL;
        goto out;
    }
    sub = find_subscription(subs, rec.subscription_id);
    if (sub == NULL || !sub->active) {
        metrics_reason(REASON_SUBSCRIPTION_INACTIVE);
        log_info("retry dropped", "{s:s, s:s, s:I, s:s}", "eventId",
                 rec.event_id, "subscriptionId", rec.subscription_id,
                 "tenantId", (json_int_t)rec.tenant_id, "reason",
                 "subscription_inactive");
        goto out;
    }

    j = job_new(rec.event_id, rec.event_type, rec.tenant_id, sub->id, msg);
    if (j == NULL) {
        offsets_hold(msg); /* never resolved: the offset stays */
        goto out;
    }
    j->attempt = rec.attempt + 1;
    j->first_attempt_ms = rec.first_attempt_ms;
    j->origin.topic = strdup(rec.origin.topic);
    j->origin.partition = rec.origin.partition;
    j->origin.offset = rec.origin.offset;
    /* The same payload, with this attempt's delivery id, and without what
     * the subscription has stopped allowing since (contact details, billing
     * withdrawn in the meantime are not sent again). */
    j->body = json_incref(rec.body);
    j->attempts = json_incref(rec.attempts);
    if (j->origin.topic == NULL ||
        json_object_set_new(j->body, "deliveryId",
                            json_string(j->delivery_id)) != 0) {
        job_free(j); /* its hold stays: the offset never moves */
        goto out;
    }
    render_narrow(j->body, sub);
    send_attempt(e, j, sub);

out:
    record_clear(&rec);
    return outcome;
}

/* ---- Consumed messages ------------------------------------------------- */

static outcome_t process(engine_t *e, const rd_kafka_message_t *rkm,
                         offsets_msg_t *msg)
{
    if (tier_of_topic(e, rd_kafka_topic_name(rkm->rkt)) >= 0) {
        return process_retry(e, rkm, msg);
    }
    return process_event(e, rkm, msg);
}

static held_t *held_new(rd_kafka_message_t *rkm, offsets_msg_t *msg,
                        int64_t due_ms)
{
    held_t *h = calloc(1, sizeof(*h));

    if (h != NULL) {
        h->rkm = rkm;
        h->msg = msg;
        h->due_ms = due_ms;
    }
    return h;
}

static void stall(engine_t *e, rd_kafka_message_t *rkm, offsets_msg_t *msg)
{
    held_t *h = held_new(rkm, msg, 0);

    if (h == NULL) {
        /* Without room to hold it, drop it unresolved: it is processed
         * again after the next restart or rebalance, never lost. */
        rd_kafka_message_destroy(rkm);
        return;
    }
    if (e->stalled_tail != NULL) {
        e->stalled_tail->next = h;
    } else {
        e->stalled_head = h;
    }
    e->stalled_tail = h;
    set_paused(e, true);
}

/* Processes a message now, or holds it behind a Redis outage. */
static void process_or_stall(engine_t *e, rd_kafka_message_t *rkm,
                             offsets_msg_t *msg)
{
    /* Once one message waits for Redis, later ones queue behind it. */
    if (e->stalled_head != NULL || process(e, rkm, msg) == STALL) {
        stall(e, rkm, msg);
        return;
    }
    offsets_release(e->offsets, msg);
    rd_kafka_message_destroy(rkm);
}

/* A retry record read before its time: pause its partition and keep it
 * until due. Later records of the partition are fetched again on resume. */
static bool wait_if_early(engine_t *e, rd_kafka_message_t *rkm,
                          offsets_msg_t *msg)
{
    record_t rec = {0};
    char why[256];
    held_t *h;

    if (record_parse(rkm->payload, rkm->len, &rec, why, sizeof(why)) != 0) {
        return false; /* process_retry() dead-letters it */
    }
    int64_t due = rec.next_attempt_ms;
    if (due <= clock_wall_ms() || (h = held_new(rkm, msg, due)) == NULL) {
        record_clear(&rec);
        return false;
    }
    log_debug("retry waiting", "{s:s, s:s, s:i, s:I}", "eventId", rec.event_id,
              "subscriptionId", rec.subscription_id, "partition",
              (int)rkm->partition, "dueInMs",
              (json_int_t)(due - clock_wall_ms()));
    record_clear(&rec);
    h->next = e->waiting;
    e->waiting = h;
    rd_kafka_topic_partition_list_t *l =
        one_partition(rd_kafka_topic_name(rkm->rkt), rkm->partition);
    rd_kafka_pause_partitions(e->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return true;
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
        /* An untracked message could be committed past by the ones after
         * it. Stop taking any: the commit position stays in front of it,
         * and the next owner of the partition processes it. */
        e->failure = "out of memory tracking a consumed message";
        log_error("out of memory tracking a message; stopping",
                  "{s:s, s:i, s:I}", "topic", rd_kafka_topic_name(rkm->rkt),
                  "partition", (int)rkm->partition, "offset",
                  (json_int_t)rkm->offset);
        rd_kafka_message_destroy(rkm);
        return;
    }
    if (tier_of_topic(e, rd_kafka_topic_name(rkm->rkt)) >= 0 &&
        wait_if_early(e, rkm, msg)) {
        return;
    }
    process_or_stall(e, rkm, msg);
}

/* Retries the stalled messages, oldest first, once Redis answers. */
static void retry_stalled(engine_t *e)
{
    while (e->stalled_head != NULL) {
        held_t *h = e->stalled_head;
        if (process(e, h->rkm, h->msg) == STALL) {
            return;
        }
        e->stalled_head = h->next;
        if (e->stalled_head == NULL) {
            e->stalled_tail = NULL;
        }
        offsets_release(e->offsets, h->msg);
        rd_kafka_message_destroy(h->rkm);
        free(h);
    }
    set_paused(e, false);
}

/* Sends the retry records whose time has come and resumes their
 * partitions. Returns the ms until the next one is due (or LOOP_WAIT_MS). */
static int64_t release_due(engine_t *e)
{
    int64_t now = clock_wall_ms();
    int64_t next = LOOP_WAIT_MS;
    held_t **pw = &e->waiting;

    while (*pw != NULL) {
        held_t *h = *pw;
        if (h->due_ms > now) {
            if (h->due_ms - now < next) {
                next = h->due_ms - now;
            }
            pw = &h->next;
            continue;
        }
        *pw = h->next;
        if (!e->paused) {
            rd_kafka_topic_partition_list_t *l = one_partition(
                rd_kafka_topic_name(h->rkm->rkt), h->rkm->partition);
            rd_kafka_resume_partitions(e->rk, l);
            rd_kafka_topic_partition_list_destroy(l);
        }
        process_or_stall(e, h->rkm, h->msg);
        free(h);
    }
    return next;
}

/*
 * Lets go of held messages of the given partitions (all when NULL) without
 * processing them: they stay unresolved, so their offsets are never
 * committed and their next consumer processes them. Their holds are
 * released only when their partitions were forgotten already (revocation),
 * where a release frees memory but can no longer move a position.
 */
static void drop_held(engine_t *e, held_t **list,
                      const rd_kafka_topic_partition_list_t *parts,
                      bool forgotten)
{
    held_t **ph = list;

    while (*ph != NULL) {
        held_t *h = *ph;
        if (held_in(h, parts)) {
            *ph = h->next;
            if (forgotten) {
                offsets_release(e->offsets, h->msg);
            }
            rd_kafka_message_destroy(h->rkm);
            free(h);
        } else {
            ph = &h->next;
        }
    }
    if (list == &e->stalled_head) {
        e->stalled_tail = NULL;
        for (held_t *h = e->stalled_head; h != NULL; h = h->next) {
            e->stalled_tail = h;
        }
        if (e->stalled_head == NULL) {
            e->paused = false;
        }
    }
}

/* ---- Loop ------------------------------------------------------------- */

static void update_ready(engine_t *e)
{
    metrics_set(G_READY, !e->stopping && !e->paused && cache_is_up(e->cache));
    metrics_set(G_UNRESOLVED, (int64_t)offsets_unresolved(e->offsets));
    metrics_set(G_LAST_LOOP_MS, clock_wall_ms());
}

/*
 * Lets pending deliveries finish until e->stop_deadline_ms, hands the rest
 * to a retry tier and waits for Kafka to acknowledge the hand-offs, for at
 * most HANDOFF_FLUSH_MS more. Shutdown and revocation share it, and the
 * revocation that closing the consumer causes finds nothing left to do, so
 * a stop takes at most the grace and twice HANDOFF_FLUSH_MS.
 */
static void hand_back(engine_t *e)
{
    int64_t deadline = e->stop_deadline_ms;

    while (deliver_pending(e->deliver) > 0) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            break;
        }
        deliver_run(e->deliver, NULL, 0,
                    (int)(left < LOOP_WAIT_MS ? left : LOOP_WAIT_MS));
        producer_poll(e->producer);
        update_ready(e);
    }
    deliver_abort_all(e->deliver);
    if (producer_flush(e->producer, HANDOFF_FLUSH_MS) > 0) {
        log_warn("hand-offs not acknowledged in time; their events will be "
                 "processed again by the partitions' next owner",
                 "{s:i}", "outstanding", producer_outstanding(e->producer));
    }
}

static void consume(engine_t *e)
{
    size_t limit = (size_t)e->cfg->max_inflight;
    char buf[64];

    /* Empty the wake-up pipe first: a later arrival writes to it again. */
    while (read(e->wake[0], buf, sizeof(buf)) > 0) {
    }
    while (e->failure == NULL && deliver_pending(e->deliver) < limit) {
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

    while (!*stop && e->failure == NULL) {
        unsigned n = 0;

        if (producer_failed(e->producer)) {
            e->failure = "the Kafka producer failed for good";
            break;
        }
        if (e->stalled_head != NULL && cache_connect(e->cache) == CACHE_OK) {
            retry_stalled(e);
        }
        if (cache_changes_fd(e->cache) < 0 && e->stalled_head == NULL) {
            cache_connect(e->cache);
        }
        int64_t wait = release_due(e);
        deliver_shed_stuck(e->deliver, clock_mono_ms());
        consume(e);
        producer_poll(e->producer);
        offsets_store(e->offsets, e->rk);
        update_ready(e);

        fds[n++] = (struct curl_waitfd){e->wake[0], CURL_WAIT_POLLIN, 0};
        if (cache_changes_fd(e->cache) >= 0) {
            fds[n++] = (struct curl_waitfd){cache_changes_fd(e->cache),
                                            CURL_WAIT_POLLIN, 0};
        }
        deliver_run(e->deliver, fds, n, (int)(wait > 0 ? wait : 0));
        if (n > 1 && fds[1].revents != 0) {
            cache_read_changes(e->cache);
        }
    }

    e->stopping = true;
    e->stop_deadline_ms = clock_mono_ms() + e->cfg->shutdown_grace_ms;
    update_ready(e);
    if (e->failure != NULL) {
        log_error("stopping after a failure; exiting with status 1", "{s:s}",
                  "error", e->failure);
    }
    log_info("shutting down", "{s:I, s:I}", "pending",
             (json_int_t)deliver_pending(e->deliver), "graceMs",
             (json_int_t)e->cfg->shutdown_grace_ms);
    hand_back(e);
    drop_held(e, &e->stalled_head, NULL, false);
    drop_held(e, &e->waiting, NULL, false);
    offsets_store(e->offsets, e->rk);

    /* Commits what was stored (through the revocation callback) and
     * leaves the group, so the partitions move on without a timeout. */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(e->rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("consumer close failed", "{s:s}", "error",
                 rd_kafka_err2str(err));
    }
    log_info("shutdown complete", NULL);
    return e->failure != NULL ? 1 : 0;
}

/* One retry topic per distinct delay of WEBHOOKD_RETRY_SCHEDULE. */
static int setup_tiers(engine_t *e, char *errstr, size_t errstr_size)
{
    const config_t *cfg = e->cfg;

    for (size_t i = 0; i < cfg->n_retry_tiers; i++) {
        int64_t delay = cfg->retry_schedule_ms[i];
        size_t t = 0;

        while (t < e->n_tiers && e->tiers[t].delay_ms != delay) {
            t++;
        }
        if (t == e->n_tiers) {
            tier_t *tier = &e->tiers[e->n_tiers++];
            size_t len;
            record_delay_label(delay, tier->label, sizeof(tier->label));
            len = strlen(cfg->retry_topic_prefix) + strlen(tier->label) + 1;
            tier->topic = malloc(len);
            if (tier->topic == NULL) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
            }
            snprintf(tier->topic, len, "%s%s", cfg->retry_topic_prefix,
                     tier->label);
            tier->delay_ms = delay;
            metrics_set_tier_label(t, tier->label);
        }
        e->tier_of[i] = t;
    }
    return 0;
}

static int start_producer(engine_t *e, char *errstr, size_t errstr_size)
{
    const char *required[CONFIG_RETRY_TIERS_MAX + 2];
    size_t n = 0;

    for (size_t i = 0; i < e->n_tiers; i++) {
        required[n++] = e->tiers[i].topic;
    }
    required[n++] = e->cfg->dlq_topic;
    if (e->cfg->attempts_topic != NULL) {
        required[n++] = e->cfg->attempts_topic;
    }
    e->producer = producer_new(e->cfg, e->offsets, required, n,
                               METADATA_TIMEOUT_MS, errstr, errstr_size);
    return e->producer != NULL ? 0 : -1;
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
    srand48((long)(clock_wall_ms() ^ (int64_t)getpid()));
    e->offsets = offsets_new();
    e->cache = cache_new(cfg);
    e->breakers =
        breakers_new((int)cfg->breaker_threshold, cfg->breaker_cooldown_ms);
    if (e->offsets == NULL || e->cache == NULL || e->breakers == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    e->deliver =
        deliver_new(cfg, prepare, delivery_done, e, errstr, errstr_size);
    if (e->deliver == NULL || setup_tiers(e, errstr, errstr_size) != 0 ||
        start_producer(e, errstr, errstr_size) != 0 ||
        kafka_start(e, errstr, errstr_size) != 0) {
        goto fail;
    }
    /* Connect now so that a wrong address shows at once in the log; an
     * unreachable Redis is not fatal, the loop keeps trying. */
    cache_connect(e->cache);
    metrics_set(G_REDIS_UP, cache_is_up(e->cache));
    return e;

fail:
    engine_free(e);
    return NULL;
}

void engine_free(engine_t *e)
{
    if (e == NULL) {
        return;
    }
    if (e->deliver != NULL) {
        deliver_free(e->deliver);
        e->deliver = NULL;
    }
    drop_held(e, &e->stalled_head, NULL, false);
    drop_held(e, &e->waiting, NULL, false);
    if (e->queue != NULL) {
        rd_kafka_queue_destroy(e->queue);
    }
    if (e->rk != NULL) {
        rd_kafka_destroy(e->rk);
    }
    producer_free(e->producer, 0);
    for (int i = 0; i < 2; i++) {
        if (e->wake[i] >= 0) {
            close(e->wake[i]);
        }
    }
    for (size_t i = 0; i < e->n_tiers; i++) {
        free(e->tiers[i].topic);
    }
    breakers_free(e->breakers);
    cache_free(e->cache);
    offsets_free(e->offsets);
    free(e);
}
