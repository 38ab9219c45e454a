/* Commit positions: in-order and out-of-order resolution, holds, re-fetched
 * older offsets, revoked partitions with messages still held, the store. */

#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "offsets.h"

static int64_t pos(const offsets_t *o, const char *topic, int32_t partition)
{
    return offsets_position(o, topic, partition);
}

static void test_new_is_empty(void **state)
{
    offsets_t *o = offsets_new();

    (void)state;
    assert_non_null(o);
    assert_int_equal(offsets_unresolved(o), 0);
    assert_int_equal(pos(o, "t", 0), -1);
    offsets_free(o);
    offsets_free(NULL);
}

static void test_message_accessors(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *m;

    (void)state;
    m = offsets_track(o, "ordinavo.events.targets", 7, 123456789012LL);
    assert_non_null(m);
    assert_string_equal(offsets_msg_topic(m), "ordinavo.events.targets");
    assert_int_equal(offsets_msg_partition(m), 7);
    assert_int_equal(offsets_msg_offset(m), 123456789012LL);
    offsets_release(o, m);
    assert_int_equal(pos(o, "ordinavo.events.targets", 7), 123456789013LL);
    offsets_free(o);
}

static void test_in_order(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *m10 = offsets_track(o, "t", 0, 10);
    offsets_msg_t *m11 = offsets_track(o, "t", 0, 11);
    offsets_msg_t *m12 = offsets_track(o, "t", 0, 12);

    (void)state;
    assert_int_equal(offsets_unresolved(o), 3);
    /* Tracking alone moves nothing: nothing is known to be done yet. */
    assert_int_equal(pos(o, "t", 0), -1);

    offsets_release(o, m10);
    assert_int_equal(pos(o, "t", 0), 11);
    assert_int_equal(offsets_unresolved(o), 2);
    offsets_release(o, m11);
    assert_int_equal(pos(o, "t", 0), 12);
    offsets_release(o, m12);
    assert_int_equal(pos(o, "t", 0), 13);
    assert_int_equal(offsets_unresolved(o), 0);
    offsets_free(o);
}

static void test_out_of_order(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *m[5];

    (void)state;
    for (int i = 0; i < 5; i++) {
        m[i] = offsets_track(o, "t", 3, 10 + i);
        assert_non_null(m[i]);
    }
    assert_int_equal(offsets_unresolved(o), 5);

    /* 12 done while 10 is not: the position is 10, never past it. */
    offsets_release(o, m[2]);
    assert_int_equal(pos(o, "t", 3), 10);
    assert_int_equal(offsets_unresolved(o), 4);
    offsets_release(o, m[4]);
    assert_int_equal(pos(o, "t", 3), 10);
    assert_int_equal(offsets_unresolved(o), 3);

    offsets_release(o, m[0]);
    assert_int_equal(pos(o, "t", 3), 11);
    assert_int_equal(offsets_unresolved(o), 2);

    /* 11 done: 12 was already, so the position jumps to 13. */
    offsets_release(o, m[1]);
    assert_int_equal(pos(o, "t", 3), 13);
    assert_int_equal(offsets_unresolved(o), 1);

    offsets_release(o, m[3]);
    assert_int_equal(pos(o, "t", 3), 15);
    assert_int_equal(offsets_unresolved(o), 0);
    offsets_free(o);
}

static void test_holds(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *a = offsets_track(o, "t", 0, 5);
    offsets_msg_t *b = offsets_track(o, "t", 0, 6);

    (void)state;
    /* a spawned two deliveries besides its processing hold. */
    offsets_hold(a);
    offsets_hold(a);
    offsets_release(o, a); /* processing done */
    assert_int_equal(pos(o, "t", 0), -1);
    assert_int_equal(offsets_unresolved(o), 2);

    offsets_release(o, b);
    assert_int_equal(pos(o, "t", 0), 5);
    assert_int_equal(offsets_unresolved(o), 1);

    offsets_release(o, a); /* first delivery */
    assert_int_equal(pos(o, "t", 0), 5);
    assert_int_equal(offsets_unresolved(o), 1);

    offsets_release(o, a); /* second delivery */
    assert_int_equal(pos(o, "t", 0), 7);
    assert_int_equal(offsets_unresolved(o), 0);
    offsets_free(o);
}

static void test_gaps(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *a = offsets_track(o, "t", 0, 100);
    offsets_msg_t *b = offsets_track(o, "t", 0, 250);

    (void)state;
    /* Compacted topics and transaction markers leave holes in the offsets:
     * after 100 the next to commit is the next one held, 250. */
    offsets_release(o, a);
    assert_int_equal(pos(o, "t", 0), 250);
    offsets_release(o, b);
    assert_int_equal(pos(o, "t", 0), 251);
    offsets_free(o);
}

static void test_refetched_older_inserted_in_order(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *m10 = offsets_track(o, "t", 0, 10);
    offsets_msg_t *m13 = offsets_track(o, "t", 0, 13);
    offsets_msg_t *m15 = offsets_track(o, "t", 0, 15);
    /* Older ones arrive after a pause: one at the head, others between. */
    offsets_msg_t *m12 = offsets_track(o, "t", 0, 12);
    offsets_msg_t *m14 = offsets_track(o, "t", 0, 14);
    offsets_msg_t *m11 = offsets_track(o, "t", 0, 11);
    offsets_msg_t *m9 = offsets_track(o, "t", 0, 9);

    (void)state;
    assert_int_equal(offsets_unresolved(o), 7);

    offsets_release(o, m15);
    offsets_release(o, m14);
    offsets_release(o, m13);
    assert_int_equal(pos(o, "t", 0), 9);
    assert_int_equal(offsets_unresolved(o), 4);

    offsets_release(o, m9);
    assert_int_equal(pos(o, "t", 0), 10);
    offsets_release(o, m10);
    assert_int_equal(pos(o, "t", 0), 11);
    offsets_release(o, m12);
    assert_int_equal(pos(o, "t", 0), 11);
    assert_int_equal(offsets_unresolved(o), 1);

    /* 11 was the last in the way of 12..15. */
    offsets_release(o, m11);
    assert_int_equal(pos(o, "t", 0), 16);
    assert_int_equal(offsets_unresolved(o), 0);
    offsets_free(o);
}

static void test_refetched_duplicate(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *a = offsets_track(o, "t", 0, 20);
    offsets_msg_t *b = offsets_track(o, "t", 0, 21);
    offsets_msg_t *again;

    (void)state;
    /* 21 comes a second time while its first copy is still held. */
    again = offsets_track(o, "t", 0, 21);
    assert_int_equal(offsets_unresolved(o), 3);

    offsets_release(o, a);
    assert_int_equal(pos(o, "t", 0), 21);
    /* The copy is done but the first one is not: 21 is still owed. */
    offsets_release(o, again);
    assert_int_equal(pos(o, "t", 0), 21);
    assert_int_equal(offsets_unresolved(o), 1);
    offsets_release(o, b);
    assert_int_equal(pos(o, "t", 0), 22);
    assert_int_equal(offsets_unresolved(o), 0);
    offsets_free(o);
}

static void test_refetched_behind_position(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *m10 = offsets_track(o, "t", 0, 10);
    offsets_msg_t *m11 = offsets_track(o, "t", 0, 11);
    offsets_msg_t *m12 = offsets_track(o, "t", 0, 12);
    offsets_msg_t *again;

    (void)state;
    offsets_release(o, m10);
    assert_int_equal(pos(o, "t", 0), 11);

    /* 10 comes again after the position passed it: until this copy is
     * done the position goes back to it. */
    again = offsets_track(o, "t", 0, 10);
    assert_int_equal(pos(o, "t", 0), 10);
    assert_int_equal(offsets_unresolved(o), 3);
    offsets_release(o, m12);
    offsets_release(o, m11);
    assert_int_equal(pos(o, "t", 0), 10);
    assert_int_equal(offsets_unresolved(o), 1);
    offsets_release(o, again);
    assert_int_equal(pos(o, "t", 0), 13);
    assert_int_equal(offsets_unresolved(o), 0);

    /* The same with nothing else held. */
    again = offsets_track(o, "t", 0, 5);
    assert_int_equal(pos(o, "t", 0), 5);
    offsets_release(o, again);
    assert_int_equal(pos(o, "t", 0), 6);

    /* An offset at or above the position leaves it alone. */
    offsets_msg_t *next = offsets_track(o, "t", 0, 6);
    assert_int_equal(pos(o, "t", 0), 6);
    offsets_release(o, next);
    assert_int_equal(pos(o, "t", 0), 7);
    offsets_free(o);
}

static void test_partitions_are_independent(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *a0 = offsets_track(o, "a", 0, 10);
    offsets_msg_t *a1 = offsets_track(o, "a", 1, 10);
    offsets_msg_t *b0 = offsets_track(o, "b", 0, 10);
    offsets_msg_t *a0_next = offsets_track(o, "a", 0, 11);

    (void)state;
    assert_int_equal(offsets_unresolved(o), 4);
    offsets_release(o, a1);
    assert_int_equal(pos(o, "a", 1), 11);
    assert_int_equal(pos(o, "a", 0), -1);
    assert_int_equal(pos(o, "b", 0), -1);
    assert_int_equal(pos(o, "a", 2), -1);
    assert_int_equal(pos(o, "c", 0), -1);

    offsets_release(o, a0_next);
    assert_int_equal(pos(o, "a", 0), 10);
    offsets_release(o, b0);
    assert_int_equal(pos(o, "b", 0), 11);
    offsets_release(o, a0);
    assert_int_equal(pos(o, "a", 0), 12);
    assert_int_equal(offsets_unresolved(o), 0);
    offsets_free(o);
}

static void test_many_partitions(void **state)
{
    enum { N = 1000 };
    static offsets_msg_t *m[N];
    offsets_t *o = offsets_new();
    char topic[32];

    (void)state;
    /* More partitions than buckets, so that chains form. */
    for (int i = 0; i < N; i++) {
        snprintf(topic, sizeof(topic), "topic-%d", i % 7);
        m[i] = offsets_track(o, topic, i, 1000 + i);
        assert_non_null(m[i]);
    }
    assert_int_equal(offsets_unresolved(o), N);
    for (int i = 0; i < N; i += 2) {
        offsets_release(o, m[i]);
    }
    assert_int_equal(offsets_unresolved(o), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(topic, sizeof(topic), "topic-%d", i % 7);
        assert_int_equal(pos(o, topic, i), i % 2 == 0 ? 1001 + i : -1);
        /* The same partition number under another topic is not tracked. */
        assert_int_equal(pos(o, "other", i), -1);
    }
    /* The odd ones stay held: offsets_free releases them. */
    offsets_free(o);
}

static void test_forget_with_held_messages(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *m1 = offsets_track(o, "t", 0, 1);
    offsets_msg_t *m2 = offsets_track(o, "t", 0, 2);
    offsets_msg_t *m3 = offsets_track(o, "t", 0, 3);
    offsets_msg_t *other = offsets_track(o, "t", 1, 50);
    offsets_msg_t *again;

    (void)state;
    offsets_hold(m3);
    offsets_release(o, m2);
    assert_int_equal(pos(o, "t", 0), 1);
    assert_int_equal(offsets_unresolved(o), 3);

    offsets_forget(o, "t", 0);
    assert_int_equal(offsets_unresolved(o), 1); /* only t/1 counts now */
    assert_int_equal(pos(o, "t", 0), -1);

    /* The partition comes back: tracked afresh, apart from the old one. */
    again = offsets_track(o, "t", 0, 3);
    assert_int_equal(offsets_unresolved(o), 2);
    assert_int_equal(pos(o, "t", 0), -1);

    /* The old messages stay readable and releasable, and move nothing. */
    assert_string_equal(offsets_msg_topic(m1), "t");
    assert_int_equal(offsets_msg_partition(m1), 0);
    assert_int_equal(offsets_msg_offset(m3), 3);
    offsets_release(o, m1);
    offsets_release(o, m3);
    assert_int_equal(pos(o, "t", 0), -1);
    assert_int_equal(offsets_unresolved(o), 2);
    offsets_release(o, m3); /* the last one: frees the old partition */
    assert_int_equal(offsets_unresolved(o), 2);

    offsets_release(o, again);
    assert_int_equal(pos(o, "t", 0), 4);
    offsets_release(o, other);
    assert_int_equal(pos(o, "t", 1), 51);
    assert_int_equal(offsets_unresolved(o), 0);
    offsets_free(o);
}

static void test_forget_resolved_and_unknown(void **state)
{
    offsets_t *o = offsets_new();
    offsets_msg_t *a = offsets_track(o, "t", 0, 8);
    offsets_msg_t *b = offsets_track(o, "t", 2, 9);

    (void)state;
    offsets_release(o, a);
    assert_int_equal(pos(o, "t", 0), 9);
    offsets_forget(o, "t", 0); /* nothing held: freed at once */
    assert_int_equal(pos(o, "t", 0), -1);
    offsets_forget(o, "t", 5);     /* never tracked */
    offsets_forget(o, "other", 2); /* same partition, other topic */
    assert_int_equal(offsets_unresolved(o), 1);
    assert_int_equal(pos(o, "t", 2), -1);
    offsets_release(o, b);
    assert_int_equal(pos(o, "t", 2), 10);
    offsets_free(o);
}

static rd_kafka_t *consumer(void)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    assert_int_equal(
        rd_kafka_conf_set(conf, "group.id", "unit-offsets", err, sizeof(err)),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:1",
                                       err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    /* As the engine sets it: positions are stored only by offsets_store. */
    assert_int_equal(rd_kafka_conf_set(conf, "enable.auto.offset.store",
                                       "false", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err)),
        RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    return rk;
}

static void test_store(void **state)
{
    rd_kafka_t *rk = consumer();
    offsets_t *o = offsets_new();
    offsets_msg_t *a = offsets_track(o, "t", 0, 40);
    offsets_msg_t *b = offsets_track(o, "t", 0, 41);

    (void)state;
    /* No position known yet: nothing goes to librdkafka. */
    assert_int_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);

    offsets_release(o, a);
    assert_int_equal(pos(o, "t", 0), 41);
    /* The partition is not assigned to this handle, so librdkafka refuses;
     * the call reaching it at all shows the moved position was given. */
    assert_int_not_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);
    /* Nothing moved since: no second call. */
    assert_int_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(pos(o, "t", 0), 41);

    offsets_release(o, b);
    assert_int_equal(pos(o, "t", 0), 42);
    assert_int_not_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);

    /* A re-fetched older message moves the position back: stored again. */
    offsets_msg_t *old = offsets_track(o, "t", 0, 41);
    assert_int_equal(pos(o, "t", 0), 41);
    assert_int_not_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);
    offsets_release(o, old);
    assert_int_equal(pos(o, "t", 0), 42);
    assert_int_not_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);

    /* A forgotten partition is never stored again. */
    offsets_msg_t *c = offsets_track(o, "t", 0, 42);
    offsets_msg_t *d = offsets_track(o, "t", 0, 43);
    offsets_release(o, d);
    offsets_forget(o, "t", 0);
    offsets_release(o, c);
    assert_int_equal(offsets_store(o, rk), RD_KAFKA_RESP_ERR_NO_ERROR);

    offsets_free(o);
    rd_kafka_destroy(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_empty),
        cmocka_unit_test(test_message_accessors),
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_holds),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_refetched_older_inserted_in_order),
        cmocka_unit_test(test_refetched_duplicate),
        cmocka_unit_test(test_refetched_behind_position),
        cmocka_unit_test(test_partitions_are_independent),
        cmocka_unit_test(test_many_partitions),
        cmocka_unit_test(test_forget_with_held_messages),
        cmocka_unit_test(test_forget_resolved_and_unknown),
        cmocka_unit_test(test_store),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
