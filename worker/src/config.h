#ifndef ORDINAVO_CONFIG_H
#define ORDINAVO_CONFIG_H

/*
 * webhookd's settings. One table in config.c names every WEBHOOKD_*
 * variable with its type, default, bounds and description; that table
 * drives parsing, validation and `webhookd --help`.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_RETRY_TIERS_MAX 16

typedef struct config_kv {
    char *key;
    char *value;
} config_kv_t;

typedef struct config {
    char *kafka_brokers;
    char *kafka_group;
    char **topics;
    size_t n_topics;
    /* librdkafka properties passed through from WEBHOOKD_RDKAFKA_*. */
    config_kv_t *rdkafka_props;
    size_t n_rdkafka_props;

    char *redis_url;
    char *redis_host;
    int redis_port;
    int redis_db;
    char *redis_password; /* NULL when none; never logged */

    int64_t retry_schedule_ms[CONFIG_RETRY_TIERS_MAX];
    size_t n_retry_tiers;
    char *retry_topic_prefix;
    char *dlq_topic;
    char *attempts_topic; /* NULL: off */
    char *schema_registry_url;
    char *schema_dir;

    int64_t cache_ttl_ms;
    int64_t max_inflight;
    int64_t max_inflight_per_subscription;
    int64_t max_queue_wait_ms;
    int64_t max_event_size; /* bytes */
    int64_t connect_timeout_ms;
    int64_t request_timeout_ms;
    int64_t min_backoff_ms;
    int64_t shutdown_grace_ms;
    int64_t breaker_threshold;
    int64_t breaker_cooldown_ms;
    bool allow_http;
    bool allow_private_destinations;
    char *http_addr;
    char *log_level;
} config_t;

/*
 * Fills *cfg from the environment (getenv). Returns 0, or -1 after writing a
 * message naming the offending variable into errstr. Release with
 * config_free() in both cases.
 */
int config_load(config_t *cfg, char *errstr, size_t errstr_size);

/* Releases what *cfg owns. */
void config_free(config_t *cfg);

/* Prints the variables, their defaults and descriptions (for --help). */
void config_print_help(FILE *out);

/* Prints the same as a Markdown table (docs/configuration.md is made from
 * it, so the docs cannot drift from the code). */
void config_print_markdown(FILE *out);

/*
 * Parses a duration such as "500ms", "10s", "1m", "2h" or "1d" into
 * milliseconds. Returns 0, or -1 when malformed or negative.
 */
int config_parse_duration(const char *s, int64_t *ms);

/* Parses a size in bytes, plain or with a B, KiB or MiB suffix. Returns 0,
 * or -1 when malformed or negative. */
int config_parse_size(const char *s, int64_t *bytes);

#endif
