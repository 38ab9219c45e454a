#ifndef ORDINAVO_LOG_H
#define ORDINAVO_LOG_H

/*
 * Structured logs: one JSON object per line on stdout, with "time", "level",
 * "msg" and the fields given by the caller. Fields are passed as a jansson
 * pack format ("{s:s, s:I}" ...; "s?" for a string that may be NULL), so a
 * log line is always valid JSON whatever the values are.
 *
 * Never pass a secret, a body or an inbound field value that is not public:
 * log lines are read by people and shipped to log stores.
 */

#include <stdbool.h>

typedef enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR
} log_level_t;

/* The current threshold; set once at start. */
extern log_level_t log_threshold;

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1. */
int log_level_parse(const char *s, log_level_t *out);

/* Writes one line. fmt may be NULL for a line without fields. Thread-safe:
 * the line is written with a single call. Use the log_at() macro instead,
 * which skips the formatting below the threshold. */
void log_emit(log_level_t level, const char *msg, const char *fmt, ...);

#define log_at(level, msg, ...)                                                \
    do {                                                                       \
        if ((level) >= log_threshold) {                                        \
            log_emit((level), (msg), __VA_ARGS__);                             \
        }                                                                      \
    } while (0)

#define log_debug(msg, ...) log_at(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_at(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_at(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_at(LOG_ERROR, msg, __VA_ARGS__)

#endif
