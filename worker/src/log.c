/* JSON-lines logging; see log.h. */

#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

log_level_t log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, log_level_t *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

static void format_time(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_emit(log_level_t level, const char *msg, const char *fmt, ...)
{
    char when[40];
    json_t *line = NULL;
    json_t *fields = NULL;
    char *text = NULL;

    format_time(when, sizeof(when));
    line = json_pack("{s:s, s:s, s:s?}", "time", when, "level",
                     level_names[level], "msg", msg);
    if (line == NULL) {
        goto out;
    }
    if (fmt != NULL) {
        va_list ap;
        json_error_t err;

        va_start(ap, fmt);
        fields = json_vpack_ex(&err, 0, fmt, ap);
        va_end(ap);
        if (fields != NULL) {
            json_object_update(line, fields);
        } else {
            /* A bad format is a programming error; keep the message. */
            json_object_set_new(line, "logError", json_string(err.text));
        }
    }

    text = json_dumps(line, JSON_COMPACT);
    if (text != NULL) {
        size_t len = strlen(text);
        text[len] = '\n';
        /* One write per line keeps lines whole when threads log at once. */
        ssize_t w = write(STDOUT_FILENO, text, len + 1);
        (void)w;
    }

out:
    free(text);
    json_decref(fields);
    json_decref(line);
}
