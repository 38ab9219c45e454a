"""Endpoints do not hurt each other, and a crash loses nothing (SPEC
section 6), against the real Kafka, Redis and HTTP receivers.

Nothing here asserts a duration as an upper bound. "Not held back" is shown
causally: the other subscription receives everything while the slow
endpoint is still holding its requests open, so no delivery of the healthy
one can have waited for the slow one to answer.
"""

import base64
import json
import signal
import time

from checks import utc_seconds
from conftest import WAIT
from harness import ordinavo, proc


def target_event(tenant, n):
    return ordinavo.event("target.imported", tenant, source_system="logistics_erp",
                          data={"targetId": n, "externalId": f"T-{n}",
                                "sourceSystem": "logistics_erp", "status": "Imported"})


def wait_for_count(what, count_fn, at_least, timeout=WAIT):
    """Wait until count_fn() >= at_least; return the last count."""
    last = {"n": 0}

    def reached():
        last["n"] = count_fn()
        return last["n"] >= at_least
    try:
        proc.wait_until(reached, timeout, interval=0.1, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; got {last['n']} of {at_least}") from None
    return last["n"]


def test_slow_endpoint_does_not_hold_back_other_subscriptions(case, another_receiver):
    """Two subscriptions get every event; one endpoint never answers.

    The slow one gets exactly WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION (5)
    requests, and as many more wait in its queue; once its oldest waiting
    delivery has waited WEBHOOKD_MAX_QUEUE_WAIT (1 s) the rest go to the
    first retry tier without a request ("subscription backlog full"). The
    fast one receives all events while the slow requests are still open.
    The stated bound: the fast subscription's events wait at most
    WEBHOOKD_MAX_QUEUE_WAIT behind a hanging endpoint, and only while the
    hanging one fills the global bound; the figure is printed, not asserted.
    """
    n_events, per_sub = 400, 5
    slow_recv = another_receiver()
    topic = case.topic()
    tenant = case.tenant()
    slow = case.subscribe(tenant, "slow", receiver=slow_recv)
    fast = case.subscribe(tenant, "fast")
    slow_path, fast_path = case.path("slow"), case.path("fast")
    slow_recv.hold(slow_path)
    events = [target_event(tenant, n) for n in range(n_events)]
    case.produce_many(topic, events)

    started = time.monotonic()
    worker = case.worker(topic, WEBHOOKD_MAX_INFLIGHT="50",
                         WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION=str(per_sub),
                         WEBHOOKD_MAX_QUEUE_WAIT="1s", WEBHOOKD_REQUEST_TIMEOUT="10m",
                         WEBHOOKD_RETRY_SCHEDULE="1h", WEBHOOKD_SHUTDOWN_GRACE="5s",
                         WEBHOOKD_LOG_LEVEL="info")
    try:
        fast_reqs = case.receiver.wait_for(fast_path, n_events, WAIT)
        took = time.monotonic() - started
        # Every fast delivery arrived while the slow endpoint held its
        # first requests open: none of them waited for the slow one.
        assert slow_recv.outstanding(slow_path) == per_sub
        assert len(slow_recv.requests(slow_path)) == per_sub, (
            "the slow endpoint got more requests than its in-flight bound")
        assert sorted(r.headers["webhook-id"] for r in fast_reqs) == \
            sorted(ev["eventId"] for ev in events)
        print(f"\nfast subscription: {n_events} deliveries in {took:.2f}s from the "
              f"worker's start while the slow endpoint hung")

        # Everything beyond the 5 running and 5 waiting was shed to the
        # first retry tier, as a failed attempt without a request.
        shed = n_events - 2 * per_sub
        wait_for_count("the slow subscription's excess to be shed",
                       lambda: len(worker.find_logs(
                           "retry scheduled", subscriptionId=slow["subscriptionId"])),
                       shed)
        failed = worker.find_logs("delivery failed", subscriptionId=slow["subscriptionId"])
        assert len(failed) == shed
        assert {f["error"] for f in failed} == {"subscription backlog full"}
        assert {f["status"] for f in failed} == {0}
        records = case.read(case.retry_topic("1h"), shed)
        assert len(records) == shed
        for rec in (m["json"] for m in records):
            assert rec["subscriptionId"] == slow["subscriptionId"]
            assert rec["attempt"] == 1
            (entry,) = rec["attempts"]
            assert entry["httpStatus"] is None
            assert entry["error"] == "subscription backlog full"
            assert entry["latencyMs"] == 0
    finally:
        slow_recv.release(slow_path)

    # Released, the 5 open requests and the 5 that waited are delivered:
    # the queue kept them, in order, and nothing else reaches the endpoint.
    wait_for_count("the slow subscription's kept deliveries",
                   lambda: len(worker.find_logs("delivered",
                                                subscriptionId=slow["subscriptionId"])),
                   2 * per_sub)
    case.wait_committed(topic, n_events)
    assert len(slow_recv.requests(slow_path)) == 2 * per_sub
    assert worker.find_logs("delivered", subscriptionId=fast["subscriptionId"],
                            attempt=1).__len__() == n_events


def test_a_burst_to_a_healthy_endpoint_is_queued_not_shed(case):
    """500 events for one subscription whose in-flight bound is 5: the queue
    grows past the bound while it moves, so none is shed to a retry tier
    and every delivery is a first attempt. (With a queue wait limit of a
    minute, only an endpoint stuck for that long would be shed.)"""
    n_events = 500
    topic = case.topic(partitions=2)
    tenant = case.tenant()
    case.subscribe(tenant, "burst")
    events = [target_event(tenant, n) for n in range(n_events)]
    case.produce_many(topic, events)
    worker = case.worker(topic, WEBHOOKD_MAX_INFLIGHT="200",
                         WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION="5",
                         WEBHOOKD_MAX_QUEUE_WAIT="60s", WEBHOOKD_LOG_LEVEL="info")

    reqs = case.receiver.wait_for(case.path("burst"), n_events, WAIT)
    assert {r.headers["x-ordinavo-attempt"] for r in reqs} == {"1"}
    assert sorted(r.headers["webhook-id"] for r in reqs) == \
        sorted(ev["eventId"] for ev in events)
    end = sum(case.kafka.end_offset(topic, p) for p in (0, 1))
    assert end == n_events
    for p in (0, 1):
        case.wait_committed(topic, case.kafka.end_offset(topic, p), partition=p)
    assert worker.find_logs("retry scheduled") == []
    assert worker.find_logs("delivery failed") == []


def test_sigkill_mid_run_loses_no_delivery(case):
    """3,000 events on 4 partitions to two subscriptions; one endpoint holds
    every request open, so that deliveries are certainly unfinished (some
    in flight, some waiting, some shed to the retry tier) when the worker is
    killed with SIGKILL. A second worker in the same group, against the
    endpoint now answering, brings every (event, subscription) pair to the
    receiver at least once; the duplicates are counted and printed."""
    n_events, partitions = 3000, 4
    topic = case.topic(partitions=partitions)
    tenant = case.tenant()
    subs = {"steady": case.subscribe(tenant, "steady"),
            "stalled": case.subscribe(tenant, "stalled")}
    paths = {label: case.path(label) for label in subs}
    case.receiver.hold(paths["stalled"])
    events = [target_event(tenant, n) for n in range(n_events)]
    case.produce_many(topic, events)
    env = dict(WEBHOOKD_RETRY_SCHEDULE="2s,5s,10s,30s", WEBHOOKD_MAX_QUEUE_WAIT="500ms",
               WEBHOOKD_REQUEST_TIMEOUT="5m", WEBHOOKD_LOG_LEVEL="info")

    first = case.worker(topic, **env)
    first.expect_clean_exit = False
    try:
        wait_for_count("the first worker to deliver a third of the steady events",
                       lambda: len(case.receiver.requests(paths["steady"])), n_events // 3)
        wait_for_count("a shed delivery", lambda: len(first.find_logs("retry scheduled")), 1)
        assert case.receiver.outstanding(paths["stalled"]) > 0
        first.signal(signal.SIGKILL)
        assert first.wait(WAIT) == -signal.SIGKILL
    finally:
        case.receiver.release(paths["stalled"])
    before = {label: len(case.receiver.requests(p)) for label, p in paths.items()}
    assert before["steady"] < n_events or before["stalled"] < n_events, \
        "the worker had finished before it was killed"

    second = case.worker(topic, **env)
    wanted = {(ev["eventId"], label) for ev in events for label in subs}

    def seen():
        return {(r.headers["webhook-id"], label)
                for label, p in paths.items() for r in case.receiver.requests(p)}
    wait_for_count("every (event, subscription) pair to arrive",
                   lambda: len(seen() & wanted), len(wanted), timeout=4 * WAIT)
    assert seen() == wanted

    for p in range(partitions):
        case.wait_committed(topic, case.kafka.end_offset(topic, p), partition=p)
    second.signal(signal.SIGTERM)
    assert second.wait(WAIT) == 0
    total = sum(len(case.receiver.requests(p)) for p in paths.values())
    print(f"\nSIGKILL after {before['steady']} steady and {before['stalled']} stalled "
          f"requests: {len(wanted)} pairs, {total} requests, "
          f"{total - len(wanted)} duplicates")
    assert case.read(case.dlq_topic) == []


def test_bad_inbound_messages_are_dead_lettered_with_their_bytes(case):
    """Garbage, truncated, wrongly typed, empty, tombstone and oversized
    messages: each one is dead-lettered with its reason, its raw bytes in
    base64 and its origin, and the Kafka Connect headers; the partition
    keeps flowing (the good event after them is delivered and everything
    is committed) and the worker does not crash. Above
    WEBHOOKD_MAX_EVENT_SIZE only the first bytes are kept, with the length
    and a flag; the whole message stays at its origin."""
    topic = case.topic()
    tenant = case.tenant()
    case.subscribe(tenant, "ok")
    limit = 64 * 1024
    big = target_event(tenant, 7)
    big["data"]["internalNotes"] = "x" * (3 * limit)
    big_bytes = json.dumps(big).encode()
    bad = [
        (b"this is not json", "decode_error"),
        (b"{\"eventId\": \"evt_1\", \"eventType\": ", "decode_error"),  # truncated
        (b"[1, 2, 3]", "decode_error"),
        (b"\xff\xfe{\x00", "decode_error"),
        (b"", "decode_error"),
        (None, "decode_error"),  # a tombstone
        (b"{}", "invalid_event"),
        (json.dumps(ordinavo.event("target.exploded", tenant, data={"targetId": 1})).encode(),
         "invalid_event"),
        (json.dumps({**target_event(tenant, 1), "tenantId": "fifteen"}).encode(),
         "invalid_event"),
        (json.dumps({**target_event(tenant, 1), "data": "not an object"}).encode(),
         "invalid_event"),
        (big_bytes, "invalid_event"),
    ]
    offsets = [case.produce(topic, value, key=b"bad") for value, _ in bad]
    good = target_event(tenant, 2)
    good_offset = case.produce(topic, good)
    worker = case.worker(topic, WEBHOOKD_MAX_EVENT_SIZE=str(limit))

    case.receiver.wait_for(case.path("ok"), 1, WAIT)
    case.wait_committed(topic, good_offset + 1)
    assert worker.running()
    dead = case.read(case.dlq_topic, len(bad))
    assert len(dead) == len(bad)
    for (value, reason), offset, msg in zip(bad, offsets, dead):
        rec = msg["json"]
        assert list(rec) == ["reason", "error", "origin", "rawKey", "rawValue",
                             "rawValueBytes", "rawValueTruncated", "atUtc"]
        assert rec["reason"] == reason, (value, rec)
        assert rec["origin"] == {"topic": topic, "partition": 0, "offset": offset}
        assert base64.b64decode(rec["rawKey"]) == b"bad"
        h = msg["headers"]
        assert h["__connect.errors.topic"] == topic.encode()
        assert h["__connect.errors.offset"] == str(offset).encode()
        assert h["__connect.errors.exception.message"].decode().startswith(reason)
        if value is None:
            assert rec["rawValue"] is None and rec["rawValueBytes"] is None
        elif value is big_bytes:
            assert rec["rawValueTruncated"] is True
            assert rec["rawValueBytes"] == len(big_bytes)
            assert base64.b64decode(rec["rawValue"]) == big_bytes[:limit]
            assert "WEBHOOKD_MAX_EVENT_SIZE" in rec["error"]
        else:
            assert rec["rawValueTruncated"] is False
            assert base64.b64decode(rec["rawValue"]) == value
            assert rec["rawValueBytes"] == len(value)
    assert len(worker.find_logs("invalid event")) == len(bad)
    assert len(case.receiver.requests(case.path("ok"))) == 1


def test_private_destinations_and_plain_http_are_refused_by_default(case):
    """With the defaults, http:// is refused before any request, and an
    https:// endpoint on a loopback address, whether written as an IP or as
    a name that resolves to one, is refused on the address actually
    connected. Each refusal is a failed attempt handed to the retry tier;
    no request leaves. Allowing private destinations lets the plain http://
    one through (the positive control)."""
    topic = case.topic()
    tenant = case.tenant()
    port = case.receiver.port
    plain = case.subscribe(tenant, "plain")
    by_ip = case.subscribe(tenant, "by-ip", url=f"https://127.0.0.1:{port}/x")
    by_name = case.subscribe(tenant, "by-name", url=f"https://localhost:{port}/x")
    ev = target_event(tenant, 1)
    case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_ALLOW_HTTP="false",
                         WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS="false",
                         WEBHOOKD_RETRY_SCHEDULE="1h")

    errors = {}
    for label, sub in (("plain", plain), ("by-ip", by_ip), ("by-name", by_name)):
        entry = worker.wait_for_log("delivery failed", subscriptionId=sub["subscriptionId"],
                                    timeout=WAIT)
        errors[label] = entry["error"]
        assert entry["status"] == 0
    assert "scheme not allowed" in errors["plain"]
    assert "destination address not allowed" in errors["by-ip"]
    assert "destination address not allowed" in errors["by-name"]
    assert [r for r in case.receiver.requests()
            if r.headers.get("webhook-id") == ev["eventId"]] == []
    assert len(worker.find_logs("retry scheduled")) == 3

    # The control: the same plain endpoint with both relaxed is delivered.
    other_tenant = case.tenant()
    case.subscribe(other_tenant, "control")
    control = target_event(other_tenant, 2)
    topic2 = case.topic("control")
    case.produce(topic2, control)
    case.worker(topic2, group=case.group + "-control", WEBHOOKD_ALLOW_HTTP="true",
                WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS="true")
    (req,) = case.receiver.wait_for(case.path("control"), 1, WAIT)
    assert req.headers["webhook-id"] == control["eventId"]


def test_circuit_breaker_opens_skips_and_a_probe_closes_it(case, another_receiver):
    """After WEBHOOKD_BREAKER_THRESHOLD (3) failures in a row the endpoint's
    breaker opens: the next deliveries go to the retry tier without a
    request ("circuit breaker open"). Once the endpoint answers again, a
    probe after the cooldown closes the breaker and deliveries flow."""
    recv = another_receiver()
    topic = case.topic()
    tenant = case.tenant()
    sub = case.subscribe(tenant, "flaky", receiver=recv)
    path = case.path("flaky")
    recv.set(path, status=503)
    worker = case.worker(topic, WEBHOOKD_BREAKER_THRESHOLD="3",
                         WEBHOOKD_BREAKER_COOLDOWN="2s", WEBHOOKD_RETRY_SCHEDULE="1h")
    sid = sub["subscriptionId"]

    def attempts_ended():
        return len(worker.find_logs("delivered", subscriptionId=sid)) + \
            len(worker.find_logs("delivery failed", subscriptionId=sid))

    for n in range(3):
        case.produce(topic, target_event(tenant, n))
        wait_for_count(f"attempt {n + 1} to end", attempts_ended, n + 1)
    opened = worker.wait_for_log("circuit breaker opened", subscriptionId=sid)
    opened_at = utc_seconds(opened["time"])
    assert len(recv.requests(path)) == 3

    # Open: these end without a request (a probe may slip in if this
    # machine is slower than the 2 s cooldown; it is then a 503 and the
    # breaker opens again).
    for n in range(3, 13):
        case.produce(topic, target_event(tenant, n))
    wait_for_count("the skipped attempts to end", attempts_ended, 13)
    skipped = [e for e in worker.find_logs("delivery failed", subscriptionId=sid)
               if e["error"] == "circuit breaker open"]
    assert len(skipped) >= 1 and len(recv.requests(path)) - 3 == 10 - len(skipped)
    for r in recv.requests(path)[3:]:
        assert r.received_at >= opened_at + 2.0 - 0.01, "a request while the breaker was open"
    assert opened["cooldownMs"] == 2000

    # The endpoint recovers; events keep coming until a probe gets through.
    recv.set(path, status=204)
    n = 13
    deadline = time.monotonic() + WAIT
    while not worker.find_logs("delivered", subscriptionId=sid):
        assert time.monotonic() < deadline, "no probe got through"
        case.produce(topic, target_event(tenant, n))
        n += 1
        wait_for_count(f"attempt for event {n}", attempts_ended, n)
        time.sleep(0.2)  # pacing only: the cooldown is 2 s
    # Closed: every further delivery is attempted and delivered.
    for m in range(n, n + 5):
        case.produce(topic, target_event(tenant, m))
    wait_for_count("the deliveries after the probe", attempts_ended, n + 5)
    after = worker.find_logs("delivered", subscriptionId=sid)
    assert len(after) == 6


def test_redirects_are_not_followed_and_responses_are_capped(case):
    """A 302 is a failed attempt (the Location is never requested); of a
    10 KiB error body at most 4 KiB is read, and its first 512 bytes are
    kept in the attempts history (RECORD_SNIPPET_MAX)."""
    topic = case.topic()
    tenant = case.tenant()
    moved = case.subscribe(tenant, "moved")
    chatty = case.subscribe(tenant, "chatty")
    target = case.path("elsewhere")
    case.receiver.set(case.path("moved"), status=302,
                      headers={"Location": case.receiver.url(target)})
    case.receiver.set(case.path("chatty"), status=500, body=b"e" * 10240)
    ev = target_event(tenant, 1)
    case.produce(topic, ev)
    case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1h")

    records = {m["json"]["subscriptionId"]: m["json"]
               for m in case.read(case.retry_topic("1h"), 2)}
    (moved_attempt,) = records[moved["subscriptionId"]]["attempts"]
    assert moved_attempt["httpStatus"] == 302
    (chatty_attempt,) = records[chatty["subscriptionId"]]["attempts"]
    assert chatty_attempt["httpStatus"] == 500
    assert chatty_attempt["responseSnippet"] == "e" * 512
    assert case.receiver.requests(target) == []
