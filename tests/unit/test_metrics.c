/* The Prometheus exposition: counters, gauges, deliveries by result and the
 * cumulative latency histogram. The metrics are process-wide, so every check
 * compares a render before and after the change it makes. */

#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(void)
{
    size_t len = 0;
    char *text = metrics_render(&len);

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_true(len > 0 && text[len - 1] == '\n');
    return text;
}

/* The value of one series ("name" or "name{labels}") in a rendering; fails
 * the test when the series is missing or appears twice. */
static double value(const char *text, const char *series)
{
    char needle[256];
    const char *p;
    char *end;
    double v;

    snprintf(needle, sizeof(needle), "\n%s ", series);
    p = strstr(text, needle);
    if (p == NULL) {
        fail_msg("no series %s", series);
        return -1;
    }
    if (strstr(p + 1, needle) != NULL) {
        fail_msg("series %s appears twice", series);
    }
    p += strlen(needle);
    v = strtod(p, &end);
    if (end == p || *end != '\n') {
        fail_msg("series %s has a malformed value", series);
    }
    return v;
}

static void assert_has_line(const char *text, const char *line)
{
    char needle[256];

    snprintf(needle, sizeof(needle), "\n%s\n", line);
    if (strstr(text, needle) == NULL) {
        fail_msg("missing line: %s", line);
    }
}

static void test_counters(void **state)
{
    char *before = render();
    char *after;

    (void)state;
    metrics_add(M_CACHE_HITS, 3);
    metrics_add(M_CACHE_HITS, 4);
    metrics_add(M_REDIS_ERRORS, 1);
    metrics_add(M_EVENTS_CONSUMED, 1000000007ULL);
    after = render();

    assert_true(value(after, "webhookd_cache_hits_total") ==
                value(before, "webhookd_cache_hits_total") + 7);
    assert_true(value(after, "webhookd_redis_errors_total") ==
                value(before, "webhookd_redis_errors_total") + 1);
    assert_true(value(after, "webhookd_events_consumed_total") ==
                value(before, "webhookd_events_consumed_total") + 1000000007.0);
    assert_true(value(after, "webhookd_cache_misses_total") ==
                value(before, "webhookd_cache_misses_total"));

    assert_has_line(after, "# TYPE webhookd_cache_hits_total counter");
    assert_has_line(after, "# TYPE webhookd_cache_misses_total counter");
    assert_has_line(after, "# TYPE webhookd_redis_errors_total counter");
    assert_has_line(after, "# TYPE webhookd_events_consumed_total counter");
    assert_non_null(strstr(after, "\n# HELP webhookd_cache_hits_total "));
    free(before);
    free(after);
}

static void test_every_counter_rendered(void **state)
{
    static const char *const names[] = {
        "webhookd_events_consumed_total",
        "webhookd_events_decode_error_total",
        "webhookd_events_invalid_total",
        "webhookd_events_unmatched_total",
        "webhookd_subscriptions_skipped_total",
        "webhookd_cache_hits_total",
        "webhookd_cache_misses_total",
        "webhookd_redis_errors_total",
    };
    char *text = render();

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char type[128];
        snprintf(type, sizeof(type), "# TYPE %s counter", names[i]);
        assert_has_line(text, type);
        assert_true(value(text, names[i]) >= 0);
    }
    free(text);
}

static void test_gauges(void **state)
{
    char *text;

    (void)state;
    metrics_set(G_INFLIGHT, 42);
    metrics_set(G_QUEUED, 0);
    metrics_set(G_REDIS_UP, 1);
    metrics_set(G_READY, 0);
    metrics_set(G_ASSIGNED_PARTITIONS, 12);
    metrics_set(G_LAST_LOOP_MS, 1718000000123LL);
    assert_int_equal(metrics_get(G_INFLIGHT), 42);
    assert_int_equal(metrics_get(G_LAST_LOOP_MS), 1718000000123LL);

    text = render();
    assert_has_line(text, "webhookd_inflight_deliveries 42");
    assert_has_line(text, "webhookd_queued_deliveries 0");
    assert_has_line(text, "webhookd_redis_up 1");
    assert_has_line(text, "webhookd_ready 0");
    assert_has_line(text, "webhookd_assigned_partitions 12");
    assert_has_line(text, "webhookd_last_loop_timestamp_ms 1718000000123");
    assert_has_line(text, "# TYPE webhookd_inflight_deliveries gauge");
    assert_has_line(text, "# TYPE webhookd_ready gauge");
    free(text);

    /* Gauges go down as well as up, and are set, not added. */
    metrics_set(G_INFLIGHT, 7);
    metrics_set(G_READY, 1);
    text = render();
    assert_has_line(text, "webhookd_inflight_deliveries 7");
    assert_has_line(text, "webhookd_ready 1");
    free(text);
    metrics_set(G_INFLIGHT, 0);
}

/* The histogram's bucket bounds, in seconds, as rendered. */
static const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1",
                                  "0.25",  "0.5",  "1",     "2.5",  "5",
                                  "10",    "30",   "+Inf"};
#define N_LES (sizeof(les) / sizeof(les[0]))

static double bucket(const char *text, const char *le)
{
    char series[128];

    snprintf(series, sizeof(series),
             "webhookd_delivery_latency_seconds_bucket{le=\"%s\"}", le);
    return value(text, series);
}

static double result(const char *text, const char *name)
{
    char series[128];

    snprintf(series, sizeof(series), "webhookd_deliveries_total{result=\"%s\"}",
             name);
    return value(text, series);
}

static void test_histogram(void **state)
{
    static const struct {
        metric_result_t result;
        int64_t ms;
    } recorded[] = {
        {RESULT_DELIVERED, 0},    {RESULT_DELIVERED, 5},
        {RESULT_DELIVERED, 6},    {RESULT_DELIVERED, 10},
        {RESULT_FAILED, 250},     {RESULT_FAILED, 1000},
        {RESULT_ERROR, 30000},    {RESULT_ERROR, 30001},
        {RESULT_DELIVERED, -3},   {RESULT_ERROR, 15000},
        {RESULT_DELIVERED, 2500},
    };
    /* How many of the recorded fall at or below each bound, as counted by
     * hand: a latency equal to a bound belongs to that bound's bucket, and
     * a negative one to the first. */
    static const double expect[N_LES] = {3, 5, 5, 5, 5,  6, 6,
                                         7, 8, 8, 8, 10, 11};
    char *before = render();
    char *after;
    double prev = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++) {
        metrics_delivery(recorded[i].result, recorded[i].ms);
    }
    after = render();

    assert_has_line(after,
                    "# TYPE webhookd_delivery_latency_seconds histogram");
    for (size_t i = 0; i < N_LES; i++) {
        double delta = bucket(after, les[i]) - bucket(before, les[i]);
        if (delta != expect[i]) {
            fail_msg("le=%s: %g new, expected %g", les[i], delta, expect[i]);
        }
        /* Cumulative: never below the bucket before it. */
        assert_true(bucket(after, les[i]) >= prev);
        prev = bucket(after, les[i]);
    }

    /* +Inf, _count and the results all count every delivery. */
    assert_true(bucket(after, "+Inf") ==
                value(after, "webhookd_delivery_latency_seconds_count"));
    assert_true(value(after, "webhookd_delivery_latency_seconds_count") -
                    value(before, "webhookd_delivery_latency_seconds_count") ==
                11);
    assert_true(result(after, "delivered") - result(before, "delivered") == 6);
    assert_true(result(after, "failed") - result(before, "failed") == 2);
    assert_true(result(after, "error") - result(before, "error") == 3);
    assert_true(bucket(after, "+Inf") == result(after, "delivered") +
                                             result(after, "failed") +
                                             result(after, "error"));

    /* The sum in seconds; the negative latency adds nothing. */
    double sum = value(after, "webhookd_delivery_latency_seconds_sum") -
                 value(before, "webhookd_delivery_latency_seconds_sum");
    assert_true(fabs(sum - 78.772) < 1e-9);
    free(before);
    free(after);
}

static void test_histogram_buckets_in_order(void **state)
{
    char *text = render();
    const char *p = text;

    (void)state;
    /* Prometheus wants the buckets in increasing order, +Inf last, then
     * the sum and the count. */
    for (size_t i = 0; i < N_LES; i++) {
        char series[128];
        snprintf(series, sizeof(series),
                 "\nwebhookd_delivery_latency_seconds_bucket{le=\"%s\"} ",
                 les[i]);
        const char *at = strstr(p, series);
        if (at == NULL) {
            fail_msg("bucket le=%s missing or out of order", les[i]);
            break;
        }
        p = at + 1;
    }
    assert_non_null(strstr(p, "\nwebhookd_delivery_latency_seconds_sum "));
    assert_non_null(strstr(p, "\nwebhookd_delivery_latency_seconds_count "));
    free(text);
}

static void test_sum_keeps_milliseconds(void **state)
{
    char *before = render();
    char *after;
    double sum;

    (void)state;
    /* A busy worker's total latency soon passes a million seconds; the sum
     * must still move by each millisecond added, or rate() of it is wrong. */
    for (int i = 0; i < 1000; i++) {
        metrics_delivery(RESULT_ERROR, 1000000001LL);
    }
    free(before);
    before = render();
    metrics_delivery(RESULT_DELIVERED, 1);
    after = render();
    sum = value(after, "webhookd_delivery_latency_seconds_sum") -
          value(before, "webhookd_delivery_latency_seconds_sum");
    if (fabs(sum - 0.001) > 1e-6) {
        fail_msg("sum moved by %.9f s for 1 ms", sum);
    }
    free(before);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_every_counter_rendered),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_buckets_in_order),
        cmocka_unit_test(test_sum_keeps_milliseconds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
