/* Acknowledged writes for retries and dead letters; see producer.h. */

#include "producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "metrics.h"

struct producer {
    rd_kafka_t *rk;
    offsets_t *offsets;
    bool failed; /* a fatal error: nothing more can be written */
};

/* How often, and how long each time, a write is tried again while
 * librdkafka's queue is full, before it counts as not queued. */
#define QUEUE_FULL_TRIES   10
#define QUEUE_FULL_WAIT_MS 100

/* What rides along with a write until its acknowledgement. */
typedef struct pending {
    producer_t *p;
    offsets_msg_t *hold;
} pending_t;

/* Errors that writing the same record again cannot cure. */
static bool permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return true;
    default:
        return false;
    }
}

static void on_ack(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    producer_t *p = opaque;
    pending_t *pd = m->_private;

    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && permanent(m->err)) {
        /* Writing it again would fail the same way, at once and forever.
         * The hold stays: the consumed message is never committed, so
         * nothing is lost, and the error says what the operator must fix
         * (a topic's max.message.bytes, its ACLs). */
        metrics_add(M_PRODUCE_ERRORS, 1);
        log_error("write refused; its message stays uncommitted until the "
                  "topic accepts it (the worker must be restarted)",
                  "{s:s, s:s, s:s, s:I}", "topic", rd_kafka_topic_name(m->rkt),
                  "code", rd_kafka_err2name(m->err), "error",
                  rd_kafka_err2str(m->err), "bytes", (json_int_t)m->len);
        free(pd);
        return;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Give up on nothing: the consumed message stays uncommitted while
         * we write again; an operator sees the errors in the log. */
        rd_kafka_headers_t *h = NULL;
        rd_kafka_headers_t *copy = NULL;
        metrics_add(M_PRODUCE_ERRORS, 1);
        log_error("write failed, retrying", "{s:s, s:s}", "topic",
                  rd_kafka_topic_name(m->rkt), "error",
                  rd_kafka_err2str(m->err));
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            copy = rd_kafka_headers_copy(h);
        }
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(rd_kafka_topic_name(m->rkt)),
            RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(copy),
            RD_KAFKA_V_OPAQUE(pd), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return;
        }
        if (copy != NULL) {
            rd_kafka_headers_destroy(copy);
        }
        /* Not even queued: leave the hold, so the offset never moves past
         * the message and it is processed again after a restart. */
        log_error("write abandoned; its message will be reprocessed after a "
                  "restart",
                  "{s:s}", "error", rd_kafka_err2str(err));
        free(pd);
        return;
    }
    if (pd != NULL) {
        if (pd->hold != NULL) {
            offsets_release(p->offsets, pd->hold);
        }
        free(pd);
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    producer_t *p = opaque;
    char fatal[256];

    if (err != RD_KAFKA_RESP_ERR__FATAL) {
        log_warn("kafka producer error", "{s:s, s:s}", "code",
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), "error", reason);
        return;
    }
    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    log_error("kafka producer failed for good", "{s:s}", "error", fatal);
    p->failed = true;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    (void)rk;
    if (level <= 4) {
        log_warn("kafka producer", "{s:s, s:s}", "facility", fac, "error", buf);
    }
}

static int check_topics(producer_t *p, const char *const *required, size_t n,
                        int timeout_ms, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(p->rk, 1, NULL, &md, timeout_ms);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size,
                 "WEBHOOKD_KAFKA_BROKERS: cannot read topic metadata: %s",
                 rd_kafka_err2str(err));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (int t = 0; t < md->topic_cnt && !found; t++) {
            found = strcmp(md->topics[t].topic, required[i]) == 0 &&
                    md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        if (!found) {
            snprintf(errstr, errstr_size,
                     "topic %s does not exist; create the retry, "
                     "dead-letter and attempts topics before starting "
                     "(see docs/operations.md)",
                     required[i]);
            rd_kafka_metadata_destroy(md);
            return -1;
        }
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

producer_t *producer_new(const config_t *cfg, offsets_t *offsets,
                         const char *const *required, size_t n, int timeout_ms,
                         char *errstr, size_t errstr_size)
{
    producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[512];
    static const char *const fixed[][2] = {
        /* Durable and without duplicates from internal retries. */
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"client.id", "webhookd"},
    };

    if (p == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->offsets = offsets;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, why,
                          sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "WEBHOOKD_KAFKA_BROKERS: %s", why);
        goto fail;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], why, sizeof(why));
    }
    for (size_t i = 0; i < cfg->n_rdkafka_props; i++) {
        /* Consumer-only properties are not errors here: skip them. */
        rd_kafka_conf_set(conf, cfg->rdkafka_props[i].key,
                          cfg->rdkafka_props[i].value, why, sizeof(why));
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_ack);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (p->rk == NULL) {
        snprintf(errstr, errstr_size, "cannot create the Kafka producer: %s",
                 why);
        goto fail;
    }
    conf = NULL;
    if (check_topics(p, required, n, timeout_ms, errstr, errstr_size) != 0) {
        goto fail;
    }
    return p;

fail:
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    if (p->rk != NULL) {
        rd_kafka_destroy(p->rk);
    }
    free(p);
    return NULL;
}

void producer_free(producer_t *p, int timeout_ms)
{
    if (p == NULL) {
        return;
    }
    producer_flush(p, timeout_ms);
    rd_kafka_destroy(p->rk);
    free(p);
}

int producer_send(producer_t *p, const char *topic, const char *key,
                  const void *value, size_t len, rd_kafka_headers_t *headers,
                  offsets_msg_t *hold)
{
    pending_t *pd = calloc(1, sizeof(*pd));
    rd_kafka_resp_err_t err;

    if (pd == NULL) {
        if (headers != NULL) {
            rd_kafka_headers_destroy(headers);
        }
        return -1;
    }
    size_t key_len = key != NULL ? strlen(key) : 0;

    pd->p = p;
    pd->hold = hold;
    for (int tries = 0;; tries++) {
        err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(pd), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
            tries + 1 >= QUEUE_FULL_TRIES) {
            break;
        }
        /* Serving acknowledgements makes room. */
        rd_kafka_poll(p->rk, QUEUE_FULL_WAIT_MS);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_error("cannot queue a write", "{s:s, s:s}", "topic", topic, "error",
                  rd_kafka_err2str(err));
        if (headers != NULL) {
            rd_kafka_headers_destroy(headers);
        }
        free(pd);
        return -1;
    }
    if (hold != NULL) {
        offsets_hold(hold);
    }
    return 0;
}

void producer_poll(producer_t *p)
{
    rd_kafka_poll(p->rk, 0);
}

int producer_flush(producer_t *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    return rd_kafka_outq_len(p->rk);
}

int producer_outstanding(producer_t *p)
{
    return rd_kafka_outq_len(p->rk);
}

bool producer_failed(const producer_t *p)
{
    return p->failed;
}
