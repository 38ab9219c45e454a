/* webhookd settings from WEBHOOKD_* environment variables; see config.h. */

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "event.h"
#include "log.h"

typedef enum setting_type {
    SET_STRING,    /* char *; empty allowed */
    SET_OPTSTRING, /* char *; empty means NULL (off) */
    SET_LIST,      /* comma-separated, at least one item */
    SET_BOOL,
    SET_COUNT,    /* int64_t within [min, max] */
    SET_DURATION, /* int64_t milliseconds within [min, max] */
    SET_SIZE,     /* int64_t bytes within [min, max]; KiB and MiB allowed */
    SET_SCHEDULE, /* comma-separated durations */
    SET_REDIS_URL,
    SET_ADDR,     /* host:port */
    SET_LOG_LEVEL /* debug|info|warn|error */
} setting_type_t;

typedef struct setting {
    const char *name;
    setting_type_t type;
    const char *def;
    int64_t min;
    int64_t max;
    size_t offset;
    bool secret; /* the value may hold a password: never echo it */
    const char *help;
} setting_t;

#define F(field) offsetof(config_t, field)
#define DAY_MS   (24LL * 3600 * 1000)

static const setting_t settings[] = {
    {"WEBHOOKD_KAFKA_BROKERS", SET_STRING, "localhost:9092", 0, 0,
     F(kafka_brokers), false, "Kafka bootstrap servers (host:port,...)"},
    {"WEBHOOKD_KAFKA_GROUP", SET_STRING, "ordinavo-webhookd", 0, 0,
     F(kafka_group), false, "consumer group id shared by all workers"},
    {"WEBHOOKD_TOPICS", SET_LIST,
     "ordinavo.events.targets,ordinavo.events.routes,"
     "ordinavo.events.appointments,ordinavo.events.visit-reports,"
     "ordinavo.events.billing",
     0, 0, F(topics), false, "comma-separated domain event topics"},
    {"WEBHOOKD_REDIS_URL", SET_REDIS_URL, "redis://localhost:6379/0", 0, 0,
     F(redis_url), true, "redis://[:password@]host:port[/db]"},
    {"WEBHOOKD_RETRY_SCHEDULE", SET_SCHEDULE, "10s,1m,5m,30m,2h,8h,24h", 1,
     7 * DAY_MS, F(retry_schedule_ms), false,
     "delays between attempts, one retry topic per distinct delay"},
    {"WEBHOOKD_RETRY_TOPIC_PREFIX", SET_STRING, "ordinavo.webhooks.retry.", 0,
     0, F(retry_topic_prefix), false, "prefix of the retry topics"},
    {"WEBHOOKD_DLQ_TOPIC", SET_STRING, "ordinavo.webhooks.dlq", 0, 0,
     F(dlq_topic), false, "dead-letter topic"},
    {"WEBHOOKD_ATTEMPTS_TOPIC", SET_OPTSTRING, "", 0, 0, F(attempts_topic),
     false, "topic for every attempt's outcome; empty: off"},
    {"WEBHOOKD_SCHEMA_REGISTRY_URL", SET_OPTSTRING, "", 0, 0,
     F(schema_registry_url), false,
     "Confluent-compatible schema registry (read once Avro decoding "
     "is available; Avro messages are dead-lettered until then)"},
    {"WEBHOOKD_SCHEMA_DIR", SET_OPTSTRING, "", 0, 0, F(schema_dir), false,
     "local directory of Avro schemas, used without a registry "
     "(same note as the registry)"},
    {"WEBHOOKD_CACHE_TTL", SET_DURATION, "30s", 0, DAY_MS, F(cache_ttl_ms),
     false, "longest time a subscription or context record is cached"},
    {"WEBHOOKD_MAX_INFLIGHT", SET_COUNT, "1000", 1, 100000, F(max_inflight),
     false, "requests in flight at once, all subscriptions together"},
    {"WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION", SET_COUNT, "50", 1, 100000,
     F(max_inflight_per_subscription), false,
     "requests in flight at once to one subscription; as many again may "
     "wait, more while its queue moves"},
    {"WEBHOOKD_MAX_QUEUE_WAIT", SET_DURATION, "2s", 1, 600000,
     F(max_queue_wait_ms), false,
     "how long a subscription's oldest waiting delivery may wait before "
     "its excess goes to the first retry tier"},
    {"WEBHOOKD_MAX_EVENT_SIZE", SET_SIZE, "512KiB", 1024, CODEC_MESSAGE_MAX,
     F(max_event_size), false,
     "largest inbound message processed; larger ones are dead-lettered "
     "(see docs/operations.md before raising it)"},
    {"WEBHOOKD_CONNECT_TIMEOUT", SET_DURATION, "5s", 1, 600000,
     F(connect_timeout_ms), false, "TCP and TLS connect timeout"},
    {"WEBHOOKD_REQUEST_TIMEOUT", SET_DURATION, "15s", 1, 600000,
     F(request_timeout_ms), false, "whole request timeout"},
    {"WEBHOOKD_MIN_BACKOFF", SET_DURATION, "60s", 0, DAY_MS, F(min_backoff_ms),
     false, "shortest wait before retrying after a 429 or a timeout"},
    {"WEBHOOKD_SHUTDOWN_GRACE", SET_DURATION, "30s", 0, 3600000,
     F(shutdown_grace_ms), false,
     "time to finish in-flight deliveries on SIGTERM or revocation"},
    {"WEBHOOKD_BREAKER_THRESHOLD", SET_COUNT, "5", 1, 1000000,
     F(breaker_threshold), false,
     "consecutive failures (no answer, timeout, 429, 5xx) that open an "
     "endpoint's circuit breaker"},
    {"WEBHOOKD_BREAKER_COOLDOWN", SET_DURATION, "30s", 1, DAY_MS,
     F(breaker_cooldown_ms), false,
     "time an open breaker waits before letting one probe through"},
    {"WEBHOOKD_ALLOW_HTTP", SET_BOOL, "false", 0, 0, F(allow_http), false,
     "allow plain http:// endpoints (development only)"},
    {"WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS", SET_BOOL, "false", 0, 0,
     F(allow_private_destinations), false,
     "allow loopback, private, link-local and metadata addresses"},
    {"WEBHOOKD_HTTP_ADDR", SET_ADDR, "0.0.0.0:8080", 0, 0, F(http_addr), false,
     "listen address of /healthz, /readyz and /metrics"},
    {"WEBHOOKD_LOG_LEVEL", SET_LOG_LEVEL, "info", 0, 0, F(log_level), false,
     "debug, info, warn or error"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

#define RDKAFKA_PREFIX "WEBHOOKD_RDKAFKA_"

extern char **environ;

/* A unit suffix and what one of it is worth. */
typedef struct unit {
    const char *suffix;
    int64_t factor;
} unit_t;

/* Parses a whole number followed by one of the units (exactly, no blanks)
 * into *out, refusing signs and overflow. */
static int parse_with_unit(const char *s, const unit_t *units, size_t n_units,
                           int64_t *out)
{
    char *end;

    if (s == NULL || !isdigit((unsigned char)s[0])) {
        return -1;
    }
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno != 0 || end == s) {
        return -1;
    }
    for (size_t i = 0; i < n_units; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (n > INT64_MAX / units[i].factor) {
                return -1;
            }
            *out = n * units[i].factor;
            return 0;
        }
    }
    return -1;
}

int config_parse_size(const char *s, int64_t *bytes)
{
    static const unit_t units[] = {
        {"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}};

    return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), bytes);
}

int config_parse_duration(const char *s, int64_t *ms)
{
    static const unit_t units[] = {{"ms", 1},
                                   {"s", 1000},
                                   {"m", 60000},
                                   {"h", 3600000LL},
                                   {"d", 86400000LL}};

    return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), ms);
}

/* Splits a comma-separated list, trimming blanks; empty items are errors. */
static int split_list(const char *s, char ***items, size_t *n)
{
    const char *p = s;

    *items = NULL;
    *n = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);
        const char *b = p;
        const char *e = end;

        while (b < e && isspace((unsigned char)*b)) {
            b++;
        }
        while (e > b && isspace((unsigned char)e[-1])) {
            e--;
        }
        if (e == b) {
            return -1;
        }
        char **grown = realloc(*items, (*n + 1) * sizeof(char *));
        if (grown == NULL) {
            return -1;
        }
        *items = grown;
        (*items)[*n] = strndup(b, (size_t)(e - b));
        if ((*items)[*n] == NULL) {
            return -1;
        }
        (*n)++;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i]);
    }
    free(items);
}

static int parse_redis_url(config_t *cfg, const char *s, char *why,
                           size_t why_size)
{
    const char *p;
    const char *at;
    const char *host_end;
    long port = 6379;
    long db = 0;

    if (strncmp(s, "redis://", 8) != 0) {
        snprintf(why, why_size, "must start with redis://");
        return -1;
    }
    p = s + 8;
    host_end = p + strcspn(p, "/");
    /* The last '@' ends the credentials: a password may contain '@'. */
    at = NULL;
    for (const char *q = p; q < host_end; q++) {
        if (*q == '@') {
            at = q;
        }
    }
    if (at != NULL) {
        /* "[user]:password@": Redis 5 and older know only the password. */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon != NULL ? colon + 1 : p;
        if (at > pw) {
            cfg->redis_password = strndup(pw, (size_t)(at - pw));
        }
        p = at + 1;
    }

    const char *colon = memchr(p, ':', (size_t)(host_end - p));
    const char *hend = colon != NULL ? colon : host_end;
    if (hend == p) {
        snprintf(why, why_size, "has no host");
        return -1;
    }
    cfg->redis_host = strndup(p, (size_t)(hend - p));
    if (colon != NULL) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (end != host_end || port < 1 || port > 65535) {
            snprintf(why, why_size, "has an invalid port");
            return -1;
        }
    }
    if (*host_end == '/' && host_end[1] != '\0') {
        char *end;
        db = strtol(host_end + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 1000000) {
            snprintf(why, why_size, "has an invalid database number");
            return -1;
        }
    }
    cfg->redis_port = (int)port;
    cfg->redis_db = (int)db;
    return 0;
}

static int parse_addr(const char *s, char *why, size_t why_size)
{
    const char *colon = strrchr(s, ':');
    char *end;

    if (colon == NULL || colon == s) {
        snprintf(why, why_size, "must be host:port");
        return -1;
    }
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535) {
        snprintf(why, why_size, "has an invalid port");
        return -1;
    }
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int parse_schedule(config_t *cfg, const setting_t *st, const char *s,
                          char *why, size_t why_size)
{
    char **items = NULL;
    size_t n = 0;
    int rc = -1;

    if (split_list(s, &items, &n) != 0) {
        snprintf(why, why_size, "must be a comma-separated list of delays");
        goto out;
    }
    if (n > CONFIG_RETRY_TIERS_MAX) {
        snprintf(why, why_size, "has more than %d delays",
                 CONFIG_RETRY_TIERS_MAX);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t ms;
        if (config_parse_duration(items[i], &ms) != 0 || ms < st->min ||
            ms > st->max) {
            snprintf(why, why_size,
                     "item %zu is not a delay between 1ms and 7d "
                     "(like 10s, 1m, 2h)",
                     i + 1);
            goto out;
        }
        cfg->retry_schedule_ms[i] = ms;
    }
    cfg->n_retry_tiers = n;
    rc = 0;
out:
    free_list(items, n);
    return rc;
}

static int parse_setting(config_t *cfg, const setting_t *st, const char *s,
                         char *why, size_t why_size)
{
    void *field = (char *)cfg + st->offset;
    char *end;

    switch (st->type) {
    case SET_STRING:
    case SET_ADDR:
    case SET_LOG_LEVEL:
        if (st->type == SET_ADDR && parse_addr(s, why, why_size) != 0) {
            return -1;
        }
        if (st->type == SET_LOG_LEVEL) {
            if (log_level_parse(s, &log_threshold) != 0) {
                snprintf(why, why_size, "must be debug, info, warn or error");
                return -1;
            }
        }
        if (st->type == SET_STRING && *s == '\0') {
            snprintf(why, why_size, "must not be empty");
            return -1;
        }
        *(char **)field = strdup(s);
        return 0;
    case SET_OPTSTRING:
        *(char **)field = *s != '\0' ? strdup(s) : NULL;
        return 0;
    case SET_REDIS_URL:
        *(char **)field = strdup(s);
        return parse_redis_url(cfg, s, why, why_size);
    case SET_LIST:
        if (split_list(s, &cfg->topics, &cfg->n_topics) != 0) {
            snprintf(why, why_size, "must be a comma-separated list of names");
            return -1;
        }
        return 0;
    case SET_BOOL:
        if (parse_bool(s, (bool *)field) != 0) {
            snprintf(why, why_size, "must be true or false");
            return -1;
        }
        return 0;
    case SET_COUNT: {
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || n < st->min ||
            n > st->max) {
            snprintf(why, why_size, "must be a whole number from %lld to %lld",
                     (long long)st->min, (long long)st->max);
            return -1;
        }
        *(int64_t *)field = n;
        return 0;
    }
    case SET_DURATION: {
        int64_t ms;
        if (config_parse_duration(s, &ms) != 0 || ms < st->min ||
            ms > st->max) {
            snprintf(why, why_size,
                     "must be a duration like 500ms, 5s, 1m or 2h, "
                     "from %lldms to %lldms",
                     (long long)st->min, (long long)st->max);
            return -1;
        }
        *(int64_t *)field = ms;
        return 0;
    }
    case SET_SIZE: {
        int64_t bytes;
        if (config_parse_size(s, &bytes) != 0 || bytes < st->min ||
            bytes > st->max) {
            snprintf(why, why_size,
                     "must be a size like 65536, 64KiB or 1MiB, from %lld "
                     "to %lld bytes",
                     (long long)st->min, (long long)st->max);
            return -1;
        }
        *(int64_t *)field = bytes;
        return 0;
    }
    case SET_SCHEDULE:
        return parse_schedule(cfg, st, s, why, why_size);
    }
    return -1;
}

/* WEBHOOKD_RDKAFKA_SOCKET_KEEPALIVE_ENABLE=true becomes the librdkafka
 * property socket.keepalive.enable=true. */
static int load_rdkafka_props(config_t *cfg)
{
    for (char **e = environ; *e != NULL; e++) {
        const char *eq;
        if (strncmp(*e, RDKAFKA_PREFIX, strlen(RDKAFKA_PREFIX)) != 0) {
            continue;
        }
        eq = strchr(*e, '=');
        if (eq == NULL) {
            continue;
        }
        const char *name = *e + strlen(RDKAFKA_PREFIX);
        size_t len = (size_t)(eq - name);
        config_kv_t *grown =
            realloc(cfg->rdkafka_props,
                    (cfg->n_rdkafka_props + 1) * sizeof(config_kv_t));
        if (grown == NULL) {
            return -1;
        }
        cfg->rdkafka_props = grown;
        config_kv_t *kv = &cfg->rdkafka_props[cfg->n_rdkafka_props++];
        kv->key = strndup(name, len);
        kv->value = strdup(eq + 1);
        if (kv->key == NULL || kv->value == NULL) {
            return -1;
        }
        for (char *p = kv->key; *p != '\0'; p++) {
            *p = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        }
    }
    return 0;
}

int config_load(config_t *cfg, char *errstr, size_t errstr_size)
{
    memset(cfg, 0, sizeof(*cfg));

    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *st = &settings[i];
        const char *v = getenv(st->name);
        char why[200] = "";

        if (v == NULL) {
            v = st->def;
        }
        if (parse_setting(cfg, st, v, why, sizeof(why)) != 0) {
            if (st->secret) {
                snprintf(errstr, errstr_size, "%s: %s", st->name, why);
            } else {
                snprintf(errstr, errstr_size, "%s: \"%s\" %s", st->name, v,
                         why);
            }
            return -1;
        }
    }
    if (load_rdkafka_props(cfg) != 0) {
        snprintf(errstr, errstr_size, "out of memory reading %s*",
                 RDKAFKA_PREFIX);
        return -1;
    }
    return 0;
}

void config_free(config_t *cfg)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *st = &settings[i];
        void *field = (char *)cfg + st->offset;
        bool owned = st->type == SET_STRING || st->type == SET_OPTSTRING ||
                     st->type == SET_REDIS_URL || st->type == SET_ADDR ||
                     st->type == SET_LOG_LEVEL;
        if (owned) {
            free(*(char **)field);
        }
    }
    free_list(cfg->topics, cfg->n_topics);
    for (size_t i = 0; i < cfg->n_rdkafka_props; i++) {
        free(cfg->rdkafka_props[i].key);
        free(cfg->rdkafka_props[i].value);
    }
    free(cfg->rdkafka_props);
    free(cfg->redis_host);
    free(cfg->redis_password);
    memset(cfg, 0, sizeof(*cfg));
}

void config_print_help(FILE *out)
{
    fprintf(out, "Usage: webhookd [--help]\n\n"
                 "Consumes Ordinavo domain events from Kafka and delivers "
                 "them as signed webhooks.\n"
                 "Configuration comes from the environment:\n\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *st = &settings[i];
        fprintf(out, "  %s\n      %s\n      default: %s\n", st->name, st->help,
                *st->def != '\0' ? st->def : "(empty)");
    }
    fprintf(out,
            "\n  %s<NAME>\n"
            "      any librdkafka property, with dots written as\n"
            "      underscores: %sSECURITY_PROTOCOL=ssl sets\n"
            "      security.protocol\n"
            "\nDurations are written like 500ms, 10s, 1m, 2h or 1d.\n",
            RDKAFKA_PREFIX, RDKAFKA_PREFIX);
}

void config_print_markdown(FILE *out)
{
    fprintf(out, "| variable | default | meaning |\n|---|---|---|\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *st = &settings[i];
        fprintf(out, "| `%s` | %s%s%s | %s |\n", st->name,
                *st->def != '\0' ? "`" : "",
                *st->def != '\0' ? st->def : "(empty)",
                *st->def != '\0' ? "`" : "", st->help);
    }
    fprintf(out,
            "| `%s<NAME>` | | any librdkafka property, dots written as "
            "underscores |\n",
            RDKAFKA_PREFIX);
}
