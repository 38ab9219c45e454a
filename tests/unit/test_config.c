/* Settings from the environment: durations, defaults, overrides, every kind
 * of invalid value, secrets kept out of errors, librdkafka passthrough. */

#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

extern char **environ;

/* Removes every WEBHOOKD_* variable, so each test starts from defaults
 * whatever the environment the tests run in. */
static int clean_env(void **state)
{
    (void)state;
    for (;;) {
        char name[256];
        const char *found = NULL;

        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "WEBHOOKD_", 9) == 0) {
                found = *e;
                break;
            }
        }
        if (found == NULL) {
            return 0;
        }
        size_t len = strcspn(found, "=");
        assert_true(len < sizeof(name));
        memcpy(name, found, len);
        name[len] = '\0';
        assert_int_equal(unsetenv(name), 0);
    }
}

static void set(const char *name, const char *value)
{
    assert_int_equal(setenv(name, value, 1), 0);
}

/* Loads from the current environment and expects success. */
static void load_ok(config_t *cfg)
{
    char err[512] = "";

    if (config_load(cfg, err, sizeof(err)) != 0) {
        fail_msg("config_load failed: %s", err);
    }
    assert_string_equal(err, "");
}

static void test_duration_units(void **state)
{
    int64_t ms = -1;

    (void)state;
    assert_int_equal(config_parse_duration("0ms", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(config_parse_duration("0s", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(config_parse_duration("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(config_parse_duration("10s", &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(config_parse_duration("1m", &ms), 0);
    assert_int_equal(ms, 60000);
    assert_int_equal(config_parse_duration("90m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(config_parse_duration("2h", &ms), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(config_parse_duration("1d", &ms), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(config_parse_duration("007s", &ms), 0);
    assert_int_equal(ms, 7000);
}

static void test_sizes(void **state)
{
    int64_t n = -1;

    (void)state;
    assert_int_equal(config_parse_size("0", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(config_parse_size("65536", &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(config_parse_size("100B", &n), 0);
    assert_int_equal(n, 100);
    assert_int_equal(config_parse_size("64KiB", &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(config_parse_size("2MiB", &n), 0);
    assert_int_equal(n, 2097152);
    assert_int_equal(config_parse_size("1 MiB", &n), -1);
    assert_int_equal(config_parse_size("1mib", &n), -1);
    assert_int_equal(config_parse_size("1GiB", &n), -1);
    assert_int_equal(config_parse_size("KiB", &n), -1);
    assert_int_equal(config_parse_size("-1", &n), -1);
    assert_int_equal(config_parse_size("9223372036854775807MiB", &n), -1);
}

static void test_duration_limits(void **state)
{
    int64_t ms = -1;

    (void)state;
    assert_int_equal(config_parse_duration("9223372036854775807ms", &ms), 0);
    assert_int_equal(ms, INT64_MAX);
    assert_int_equal(config_parse_duration("106751991167d", &ms), 0);
    assert_int_equal(ms, 9223372036828800000LL);

    /* Beyond int64 either in the number or once scaled. */
    assert_int_equal(config_parse_duration("9223372036854775808ms", &ms), -1);
    assert_int_equal(config_parse_duration("9223372036854775807s", &ms), -1);
    assert_int_equal(config_parse_duration("106751991168d", &ms), -1);
    assert_int_equal(config_parse_duration("99999999999999999999999999h", &ms),
                     -1);
}

static void test_duration_malformed(void **state)
{
    static const char *const bad[] = {
        "",      "10",   "s",  "ms",  "-1s",    "+1s",  " 1s",  "1s ",
        "1 s",   "1.5s", "1S", "1MS", "1sec",   "1mm",  "1ms2", "1h30m",
        "0x10s", "1e3s", "1w", "1y",  "10s,1m", "1\ts", "\n1s", "1s\n",
    };
    int64_t ms = 0;

    (void)state;
    assert_int_equal(config_parse_duration(NULL, &ms), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (config_parse_duration(bad[i], &ms) != -1) {
            fail_msg("\"%s\" was accepted as %lld ms", bad[i], (long long)ms);
        }
    }
}

static void test_defaults(void **state)
{
    config_t cfg;

    (void)state;
    load_ok(&cfg);
    assert_string_equal(cfg.kafka_brokers, "localhost:9092");
    assert_string_equal(cfg.kafka_group, "ordinavo-webhookd");
    assert_int_equal(cfg.n_topics, 5);
    assert_string_equal(cfg.topics[0], "ordinavo.events.targets");
    assert_string_equal(cfg.topics[1], "ordinavo.events.routes");
    assert_string_equal(cfg.topics[2], "ordinavo.events.appointments");
    assert_string_equal(cfg.topics[3], "ordinavo.events.visit-reports");
    assert_string_equal(cfg.topics[4], "ordinavo.events.billing");
    assert_int_equal(cfg.n_rdkafka_props, 0);

    assert_string_equal(cfg.redis_url, "redis://localhost:6379/0");
    assert_string_equal(cfg.redis_host, "localhost");
    assert_int_equal(cfg.redis_port, 6379);
    assert_int_equal(cfg.redis_db, 0);
    assert_null(cfg.redis_password);

    assert_int_equal(cfg.n_retry_tiers, 7);
    assert_int_equal(cfg.retry_schedule_ms[0], 10000);
    assert_int_equal(cfg.retry_schedule_ms[1], 60000);
    assert_int_equal(cfg.retry_schedule_ms[2], 300000);
    assert_int_equal(cfg.retry_schedule_ms[3], 1800000);
    assert_int_equal(cfg.retry_schedule_ms[4], 7200000);
    assert_int_equal(cfg.retry_schedule_ms[5], 28800000);
    assert_int_equal(cfg.retry_schedule_ms[6], 86400000);
    assert_string_equal(cfg.retry_topic_prefix, "ordinavo.webhooks.retry.");
    assert_string_equal(cfg.dlq_topic, "ordinavo.webhooks.dlq");
    assert_null(cfg.attempts_topic);
    assert_null(cfg.schema_registry_url);
    assert_null(cfg.schema_dir);

    assert_int_equal(cfg.cache_ttl_ms, 30000);
    assert_int_equal(cfg.max_inflight, 1000);
    assert_int_equal(cfg.max_inflight_per_subscription, 50);
    assert_int_equal(cfg.max_queue_wait_ms, 2000);
    assert_int_equal(cfg.max_event_size, 512 * 1024);
    assert_int_equal(cfg.connect_timeout_ms, 5000);
    assert_int_equal(cfg.request_timeout_ms, 15000);
    assert_int_equal(cfg.min_backoff_ms, 60000);
    assert_int_equal(cfg.shutdown_grace_ms, 30000);
    assert_false(cfg.allow_http);
    assert_false(cfg.allow_private_destinations);
    assert_string_equal(cfg.http_addr, "0.0.0.0:8080");
    assert_string_equal(cfg.log_level, "info");
    config_free(&cfg);
    assert_null(cfg.kafka_brokers);
    assert_int_equal(cfg.n_topics, 0);
}

static void test_overrides(void **state)
{
    config_t cfg;

    (void)state;
    set("WEBHOOKD_KAFKA_BROKERS", "k1:9092,k2:9092");
    set("WEBHOOKD_KAFKA_GROUP", "g");
    set("WEBHOOKD_TOPICS", " a ,b.c\t, d-e ");
    set("WEBHOOKD_REDIS_URL", "redis://:pw@redis.internal:6380/3");
    set("WEBHOOKD_RETRY_SCHEDULE", "1s");
    set("WEBHOOKD_RETRY_TOPIC_PREFIX", "r.");
    set("WEBHOOKD_DLQ_TOPIC", "dead");
    set("WEBHOOKD_ATTEMPTS_TOPIC", "attempts");
    set("WEBHOOKD_SCHEMA_REGISTRY_URL", "http://registry:8081");
    set("WEBHOOKD_SCHEMA_DIR", "/schemas");
    set("WEBHOOKD_CACHE_TTL", "0s");
    set("WEBHOOKD_MAX_INFLIGHT", "100000");
    set("WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION", "1");
    set("WEBHOOKD_MAX_QUEUE_WAIT", "250ms");
    set("WEBHOOKD_MAX_EVENT_SIZE", "3MiB");
    set("WEBHOOKD_CONNECT_TIMEOUT", "1ms");
    set("WEBHOOKD_REQUEST_TIMEOUT", "10m");
    set("WEBHOOKD_MIN_BACKOFF", "1d");
    set("WEBHOOKD_SHUTDOWN_GRACE", "1h");
    set("WEBHOOKD_ALLOW_HTTP", "TRUE");
    set("WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS", "yes");
    set("WEBHOOKD_HTTP_ADDR", "127.0.0.1:0");
    set("WEBHOOKD_LOG_LEVEL", "warn");
    load_ok(&cfg);

    assert_string_equal(cfg.kafka_brokers, "k1:9092,k2:9092");
    assert_string_equal(cfg.kafka_group, "g");
    assert_int_equal(cfg.n_topics, 3);
    assert_string_equal(cfg.topics[0], "a");
    assert_string_equal(cfg.topics[1], "b.c");
    assert_string_equal(cfg.topics[2], "d-e");
    assert_string_equal(cfg.redis_host, "redis.internal");
    assert_int_equal(cfg.redis_port, 6380);
    assert_int_equal(cfg.redis_db, 3);
    assert_string_equal(cfg.redis_password, "pw");
    assert_int_equal(cfg.n_retry_tiers, 1);
    assert_int_equal(cfg.retry_schedule_ms[0], 1000);
    assert_string_equal(cfg.retry_topic_prefix, "r.");
    assert_string_equal(cfg.dlq_topic, "dead");
    assert_string_equal(cfg.attempts_topic, "attempts");
    assert_string_equal(cfg.schema_registry_url, "http://registry:8081");
    assert_string_equal(cfg.schema_dir, "/schemas");
    assert_int_equal(cfg.cache_ttl_ms, 0);
    assert_int_equal(cfg.max_inflight, 100000);
    assert_int_equal(cfg.max_inflight_per_subscription, 1);
    assert_int_equal(cfg.max_queue_wait_ms, 250);
    assert_int_equal(cfg.max_event_size, 3 * 1024 * 1024);
    assert_int_equal(cfg.connect_timeout_ms, 1);
    assert_int_equal(cfg.request_timeout_ms, 600000);
    assert_int_equal(cfg.min_backoff_ms, 86400000);
    assert_int_equal(cfg.shutdown_grace_ms, 3600000);
    assert_true(cfg.allow_http);
    assert_true(cfg.allow_private_destinations);
    assert_string_equal(cfg.http_addr, "127.0.0.1:0");
    assert_string_equal(cfg.log_level, "warn");
    config_free(&cfg);
    set("WEBHOOKD_LOG_LEVEL", "info");
    load_ok(&cfg); /* puts the log threshold back */
    config_free(&cfg);
}

static void test_booleans(void **state)
{
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"true", true}, {"1", true},      {"yes", true}, {"on", true},
        {"On", true},   {"false", false}, {"0", false},  {"no", false},
        {"off", false}, {"FALSE", false},
    };
    config_t cfg;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set("WEBHOOKD_ALLOW_HTTP", cases[i].text);
        load_ok(&cfg);
        if (cfg.allow_http != cases[i].value) {
            fail_msg("\"%s\" read as %d", cases[i].text, cfg.allow_http);
        }
        config_free(&cfg);
    }
}

static void test_empty_optional_strings_are_off(void **state)
{
    config_t cfg;

    (void)state;
    set("WEBHOOKD_ATTEMPTS_TOPIC", "");
    set("WEBHOOKD_SCHEMA_REGISTRY_URL", "");
    set("WEBHOOKD_SCHEMA_DIR", "");
    load_ok(&cfg);
    assert_null(cfg.attempts_topic);
    assert_null(cfg.schema_registry_url);
    assert_null(cfg.schema_dir);
    config_free(&cfg);
}

/* One invalid value of one variable, and what the error must say. */
typedef struct bad_case {
    const char *name;
    const char *value;
    const char *why; /* a part of the expected explanation */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    /* Strings that may not be empty. */
    {"WEBHOOKD_KAFKA_BROKERS", "", "must not be empty"},
    {"WEBHOOKD_KAFKA_GROUP", "", "must not be empty"},
    {"WEBHOOKD_RETRY_TOPIC_PREFIX", "", "must not be empty"},
    {"WEBHOOKD_DLQ_TOPIC", "", "must not be empty"},
    /* Lists. */
    {"WEBHOOKD_TOPICS", "", "comma-separated list"},
    {"WEBHOOKD_TOPICS", "a,,b", "comma-separated list"},
    {"WEBHOOKD_TOPICS", "a,", "comma-separated list"},
    {"WEBHOOKD_TOPICS", ",a", "comma-separated list"},
    {"WEBHOOKD_TOPICS", " , ", "comma-separated list"},
    /* Booleans. */
    {"WEBHOOKD_ALLOW_HTTP", "maybe", "true or false"},
    {"WEBHOOKD_ALLOW_HTTP", "", "true or false"},
    {"WEBHOOKD_ALLOW_HTTP", "2", "true or false"},
    {"WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS", "truee", "true or false"},
    /* Counts. */
    {"WEBHOOKD_MAX_INFLIGHT", "0", "from 1 to 100000"},
    {"WEBHOOKD_MAX_INFLIGHT", "100001", "from 1 to 100000"},
    {"WEBHOOKD_MAX_INFLIGHT", "-5", "from 1 to 100000"},
    {"WEBHOOKD_MAX_INFLIGHT", "12x", "whole number"},
    {"WEBHOOKD_MAX_INFLIGHT", "1.5", "whole number"},
    {"WEBHOOKD_MAX_INFLIGHT", "", "whole number"},
    {"WEBHOOKD_MAX_INFLIGHT", "99999999999999999999", "whole number"},
    {"WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION", "0", "from 1 to 100000"},
    /* Sizes. */
    {"WEBHOOKD_MAX_EVENT_SIZE", "512kb", "size like"},
    {"WEBHOOKD_MAX_EVENT_SIZE", "1023", "from 1024 to 16777216 bytes"},
    {"WEBHOOKD_MAX_EVENT_SIZE", "17MiB", "from 1024 to 16777216 bytes"},
    {"WEBHOOKD_MAX_EVENT_SIZE", "-1KiB", "size like"},
    {"WEBHOOKD_MAX_EVENT_SIZE", "", "size like"},
    /* Durations, malformed and out of bounds. */
    {"WEBHOOKD_CACHE_TTL", "30", "duration like"},
    {"WEBHOOKD_CACHE_TTL", "", "duration like"},
    {"WEBHOOKD_CACHE_TTL", "-1s", "duration like"},
    {"WEBHOOKD_CACHE_TTL", "2d", "from 0ms to 86400000ms"},
    {"WEBHOOKD_CONNECT_TIMEOUT", "0s", "from 1ms to 600000ms"},
    {"WEBHOOKD_CONNECT_TIMEOUT", "11m", "from 1ms to 600000ms"},
    {"WEBHOOKD_REQUEST_TIMEOUT", "1.5s", "duration like"},
    {"WEBHOOKD_MIN_BACKOFF", "25h", "from 0ms to 86400000ms"},
    {"WEBHOOKD_SHUTDOWN_GRACE", "2h", "from 0ms to 3600000ms"},
    /* Retry schedules. */
    {"WEBHOOKD_RETRY_SCHEDULE", "", "comma-separated list of delays"},
    {"WEBHOOKD_RETRY_SCHEDULE", "10s,,1m", "comma-separated list of delays"},
    {"WEBHOOKD_RETRY_SCHEDULE", "10s,0s", "item 2 is not a delay"},
    {"WEBHOOKD_RETRY_SCHEDULE", "8d", "item 1 is not a delay"},
    {"WEBHOOKD_RETRY_SCHEDULE", "10s,1m,5x", "item 3 is not a delay"},
    {"WEBHOOKD_RETRY_SCHEDULE", "10", "item 1 is not a delay"},
    {"WEBHOOKD_RETRY_SCHEDULE",
     "1s,2s,3s,4s,5s,6s,7s,8s,9s,10s,11s,12s,13s,14s,15s,16s,17s",
     "more than 16 delays"},
    /* Listen addresses. */
    {"WEBHOOKD_HTTP_ADDR", "8080", "host:port"},
    {"WEBHOOKD_HTTP_ADDR", "", "host:port"},
    {"WEBHOOKD_HTTP_ADDR", "host:", "invalid port"},
    {"WEBHOOKD_HTTP_ADDR", "host:99999", "invalid port"},
    {"WEBHOOKD_HTTP_ADDR", "host:http", "invalid port"},
    {"WEBHOOKD_HTTP_ADDR", "host:-1", "invalid port"},
    /* Log levels. */
    {"WEBHOOKD_LOG_LEVEL", "verbose", "debug, info, warn or error"},
    {"WEBHOOKD_LOG_LEVEL", "", "debug, info, warn or error"},
    /* Redis URLs (no password here: those are in test_redis_secret). */
    {"WEBHOOKD_REDIS_URL", "http://localhost:6379", "must start with redis://"},
    {"WEBHOOKD_REDIS_URL", "localhost:6379", "must start with redis://"},
    {"WEBHOOKD_REDIS_URL", "", "must start with redis://"},
    {"WEBHOOKD_REDIS_URL", "redis://", "has no host"},
    {"WEBHOOKD_REDIS_URL", "redis://:6379/0", "has no host"},
    {"WEBHOOKD_REDIS_URL", "redis://host:0", "invalid port"},
    {"WEBHOOKD_REDIS_URL", "redis://host:65536", "invalid port"},
    {"WEBHOOKD_REDIS_URL", "redis://host:63x9/0", "invalid port"},
    {"WEBHOOKD_REDIS_URL", "redis://host:/0", "invalid port"},
    {"WEBHOOKD_REDIS_URL", "redis://host/x", "invalid database"},
    {"WEBHOOKD_REDIS_URL", "redis://host/-1", "invalid database"},
    {"WEBHOOKD_REDIS_URL", "redis://host/1/2", "invalid database"},
};

static void test_invalid_values_name_the_variable(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *c = &bad_cases[i];
        char err[512] = "";
        char prefix[128];
        config_t cfg;

        clean_env(NULL);
        set(c->name, c->value);
        if (config_load(&cfg, err, sizeof(err)) != -1) {
            fail_msg("%s=\"%s\" was accepted", c->name, c->value);
        }
        config_free(&cfg);
        snprintf(prefix, sizeof(prefix), "%s: ", c->name);
        if (strncmp(err, prefix, strlen(prefix)) != 0 ||
            strstr(err, c->why) == NULL) {
            fail_msg("%s=\"%s\": unexpected error \"%s\"", c->name, c->value,
                     err);
        }
        /* The value is quoted so that the operator sees what was read; the
         * Redis URL is the exception (it may hold a password). */
        if (strcmp(c->name, "WEBHOOKD_REDIS_URL") != 0) {
            char quoted[256];
            snprintf(quoted, sizeof(quoted), "\"%s\"", c->value);
            if (strstr(err, quoted) == NULL) {
                fail_msg("%s: error \"%s\" does not show the value", c->name,
                         err);
            }
        }
    }
    set("WEBHOOKD_LOG_LEVEL", "info");
}

static void test_error_truncated_to_buffer(void **state)
{
    char err[16];
    config_t cfg;

    (void)state;
    memset(err, 'x', sizeof(err));
    set("WEBHOOKD_MAX_INFLIGHT", "zero");
    assert_int_equal(config_load(&cfg, err, sizeof(err)), -1);
    config_free(&cfg);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_memory_equal(err, "WEBHOOKD_MAX_IN", sizeof(err));
}

static void test_redis_urls(void **state)
{
    static const struct {
        const char *url;
        const char *host;
        int port;
        int db;
        const char *password;
    } cases[] = {
        {"redis://localhost", "localhost", 6379, 0, NULL},
        {"redis://localhost/", "localhost", 6379, 0, NULL},
        {"redis://r:1", "r", 1, 0, NULL},
        {"redis://r:65535/15", "r", 65535, 15, NULL},
        {"redis://10.0.0.5/2", "10.0.0.5", 6379, 2, NULL},
        {"redis://:s3cr3t@r:6379/1", "r", 6379, 1, "s3cr3t"},
        {"redis://default:s3cr3t@r", "r", 6379, 0, "s3cr3t"},
        {"redis://s3cr3t@r", "r", 6379, 0, "s3cr3t"},
        {"redis://:p:a:ss@r:7000", "r", 7000, 0, "p:a:ss"},
        {"redis://:@r", "r", 6379, 0, NULL},
    };
    config_t cfg;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set("WEBHOOKD_REDIS_URL", cases[i].url);
        load_ok(&cfg);
        assert_string_equal(cfg.redis_url, cases[i].url);
        assert_string_equal(cfg.redis_host, cases[i].host);
        assert_int_equal(cfg.redis_port, cases[i].port);
        assert_int_equal(cfg.redis_db, cases[i].db);
        if (cases[i].password == NULL) {
            assert_null(cfg.redis_password);
        } else {
            assert_string_equal(cfg.redis_password, cases[i].password);
        }
        config_free(&cfg);
    }
}

static void test_redis_secret_never_echoed(void **state)
{
    static const char *const urls[] = {
        "redis://:Hunter2Secret@redis:6379/x",
        "redis://:Hunter2Secret@redis:99999/0",
        "redis://:Hunter2Secret@:6379",
        "redis://user:Hunter2Secret@redis:port",
        "rediss://:Hunter2Secret@redis:6379",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char err[512] = "";
        config_t cfg;

        set("WEBHOOKD_REDIS_URL", urls[i]);
        assert_int_equal(config_load(&cfg, err, sizeof(err)), -1);
        config_free(&cfg);
        assert_non_null(strstr(err, "WEBHOOKD_REDIS_URL"));
        if (strstr(err, "Hunter2") != NULL || strstr(err, "@") != NULL) {
            fail_msg("error echoes the URL: \"%s\"", err);
        }
    }
}

/* The value of a passed-through librdkafka property, or NULL. */
static const char *prop(const config_t *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_rdkafka_props; i++) {
        if (strcmp(cfg->rdkafka_props[i].key, key) == 0) {
            return cfg->rdkafka_props[i].value;
        }
    }
    return NULL;
}

static void test_rdkafka_passthrough(void **state)
{
    config_t cfg;

    (void)state;
    set("WEBHOOKD_RDKAFKA_SOCKET_KEEPALIVE_ENABLE", "true");
    set("WEBHOOKD_RDKAFKA_SECURITY_PROTOCOL", "SASL_SSL");
    set("WEBHOOKD_RDKAFKA_FETCH_MAX_BYTES", "1048576");
    set("WEBHOOKD_RDKAFKA_SASL_JAAS_CONFIG", "a=b c=\"d\"");
    set("WEBHOOKD_RDKAFKA_Debug", "");
    /* Not the prefix: ignored. */
    set("WEBHOOKD_RDKAFKA", "x");
    set("WEBHOOKD_RDKAFKAX_Y", "x");
    set("RDKAFKA_CLIENT_ID", "x");
    load_ok(&cfg);

    assert_int_equal(cfg.n_rdkafka_props, 5);
    assert_string_equal(prop(&cfg, "socket.keepalive.enable"), "true");
    /* Names are lowercased and dotted; values are kept as written. */
    assert_string_equal(prop(&cfg, "security.protocol"), "SASL_SSL");
    assert_string_equal(prop(&cfg, "fetch.max.bytes"), "1048576");
    assert_string_equal(prop(&cfg, "sasl.jaas.config"), "a=b c=\"d\"");
    assert_string_equal(prop(&cfg, "debug"), "");
    assert_null(prop(&cfg, "SOCKET_KEEPALIVE_ENABLE"));
    config_free(&cfg);
    assert_int_equal(cfg.n_rdkafka_props, 0);
    assert_null(cfg.rdkafka_props);
}

static void test_retry_schedules(void **state)
{
    config_t cfg;

    (void)state;
    set("WEBHOOKD_RETRY_SCHEDULE", " 10s , 1m,500ms ,7d,1ms ");
    load_ok(&cfg);
    assert_int_equal(cfg.n_retry_tiers, 5);
    assert_int_equal(cfg.retry_schedule_ms[0], 10000);
    assert_int_equal(cfg.retry_schedule_ms[1], 60000);
    assert_int_equal(cfg.retry_schedule_ms[2], 500);
    assert_int_equal(cfg.retry_schedule_ms[3], 604800000);
    assert_int_equal(cfg.retry_schedule_ms[4], 1);
    config_free(&cfg);

    /* Exactly as many tiers as there is room for. */
    set("WEBHOOKD_RETRY_SCHEDULE",
        "1s,2s,3s,4s,5s,6s,7s,8s,9s,10s,11s,12s,13s,14s,15s,16s");
    load_ok(&cfg);
    assert_int_equal(cfg.n_retry_tiers, CONFIG_RETRY_TIERS_MAX);
    for (size_t i = 0; i < CONFIG_RETRY_TIERS_MAX; i++) {
        assert_int_equal(cfg.retry_schedule_ms[i], (int64_t)(i + 1) * 1000);
    }
    config_free(&cfg);
}

static void test_help_lists_variables(void **state)
{
    static const char *const names[] = {
        "WEBHOOKD_KAFKA_BROKERS",
        "WEBHOOKD_KAFKA_GROUP",
        "WEBHOOKD_TOPICS",
        "WEBHOOKD_REDIS_URL",
        "WEBHOOKD_RETRY_SCHEDULE",
        "WEBHOOKD_RETRY_TOPIC_PREFIX",
        "WEBHOOKD_DLQ_TOPIC",
        "WEBHOOKD_ATTEMPTS_TOPIC",
        "WEBHOOKD_SCHEMA_REGISTRY_URL",
        "WEBHOOKD_SCHEMA_DIR",
        "WEBHOOKD_CACHE_TTL",
        "WEBHOOKD_MAX_INFLIGHT",
        "WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION",
        "WEBHOOKD_CONNECT_TIMEOUT",
        "WEBHOOKD_REQUEST_TIMEOUT",
        "WEBHOOKD_ALLOW_HTTP",
        "WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS",
        "WEBHOOKD_HTTP_ADDR",
        "WEBHOOKD_LOG_LEVEL",
        "WEBHOOKD_RDKAFKA_",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    assert_non_null(f);
    config_print_help(f);
    assert_int_equal(fclose(f), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "  %s", names[i]);
        if (strstr(text, line) == NULL) {
            fail_msg("--help does not list %s", names[i]);
        }
    }
    assert_non_null(strstr(text, "default: 10s,1m,5m,30m,2h,8h,24h\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_limits),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_duration_malformed),
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_overrides, clean_env),
        cmocka_unit_test_setup(test_booleans, clean_env),
        cmocka_unit_test_setup(test_empty_optional_strings_are_off, clean_env),
        cmocka_unit_test_setup(test_invalid_values_name_the_variable,
                               clean_env),
        cmocka_unit_test_setup(test_error_truncated_to_buffer, clean_env),
        cmocka_unit_test_setup(test_redis_urls, clean_env),
        cmocka_unit_test_setup(test_redis_secret_never_echoed, clean_env),
        cmocka_unit_test_setup(test_rdkafka_passthrough, clean_env),
        cmocka_unit_test_setup(test_retry_schedules, clean_env),
        cmocka_unit_test(test_help_lists_variables),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
