"""Retries, dead letters and the attempts topic (SPEC sections 5 and 6),
against the real Kafka, Redis and HTTP receiver.

Every test uses a short retry schedule, so a whole retry history plays out in
seconds. Timing is only ever asserted as a lower bound ("not earlier than"):
a slow machine makes the tests slower, never wrong.
"""

import email.utils
import json
import time

from checks import (DELIVERY_ID, UTC_MS, assert_attempt_entry, assert_connect_headers,
                    assert_headers, assert_no_secret, expected_signature, signatures,
                    utc_seconds, verifies)
from conftest import WAIT
from harness import ordinavo

RECORD_KEYS = ["eventId", "eventType", "tenantId", "subscriptionId", "attempt",
               "firstAttemptAtUtc", "nextAttemptAtUtc", "origin", "body", "attempts"]
DEAD_LETTER_KEYS = ["eventId", "eventType", "tenantId", "subscriptionId", "attempt",
                    "firstAttemptAtUtc", "nextAttemptAtUtc", "reason", "origin", "body",
                    "attempts"]

# A marker in the event's public data: it must be in every body, and its
# internal sibling in none and in no record.
LEAK = "INTERNAL-ONLY"


def target_event(tenant, n=1, event_type="target.imported"):
    return ordinavo.event(event_type, tenant, source_system="logistics_erp",
                          data={"targetId": n, "externalId": f"T-{n}",
                                "sourceSystem": "logistics_erp", "status": "Imported",
                                "internalNotes": f"{LEAK} do not send"})


def without_delivery_id(req) -> bytes:
    """The body bytes with this attempt's deliveryId blanked out, so bodies
    of different attempts can be compared byte for byte."""
    delivery_id = req.json()["deliveryId"]
    assert req.body.count(delivery_id.encode()) == 1
    return req.body.replace(delivery_id.encode(), b"del_" + b"X" * 26)


def assert_record(rec: dict, keys: list[str], *, event: dict, sub: dict, attempt: int,
                  origin: tuple[str, int, int]) -> None:
    """The common fields of a retry or dead-letter record."""
    assert list(rec) == keys, f"record keys {list(rec)}, expected {keys}"
    assert rec["eventId"] == event["eventId"]
    assert rec["eventType"] == event["eventType"]
    assert rec["tenantId"] == event["tenantId"]
    assert rec["subscriptionId"] == sub["subscriptionId"]
    assert rec["attempt"] == attempt
    assert UTC_MS.match(rec["firstAttemptAtUtc"]), rec["firstAttemptAtUtc"]
    topic, partition, offset = origin
    assert rec["origin"] == {"topic": topic, "partition": partition, "offset": offset}
    assert isinstance(rec["attempts"], list) and len(rec["attempts"]) == attempt
    assert rec["body"]["eventId"] == event["eventId"]
    assert LEAK not in json.dumps(rec), "an internal field reached a record"


def test_two_failures_then_success_keep_the_webhook_id_and_sign_every_attempt(case):
    """500, 500, then 204: the third attempt is delivered.

    Every attempt carries the same webhook-id, a new deliveryId (the header
    and the body agree), X-Ordinavo-Attempt 1, 2, 3, a valid Standard Webhooks
    signature over its own timestamp, and otherwise the very same body. The
    two retry records on the retry topic carry the growing attempts history
    (with the response snippet) and never the secret; the domain message's
    offset and both retry records are committed once the delivery succeeded.
    """
    topic = case.topic()
    tenant = case.tenant()
    secret = case.secret()
    sub = case.subscribe(tenant, "flaky", secret=secret)
    path = case.path("flaky")
    case.receiver.set_sequence(path, [
        {"status": 500, "body": b"first failure"},
        {"status": 500, "body": b"second failure"},
        204])
    ev = target_event(tenant)
    offset = case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s,1s")

    reqs = case.receiver.wait_for(path, 3, WAIT)
    worker.wait_for_log("delivered", eventId=ev["eventId"], timeout=WAIT)
    delivery_ids = []
    for n, req in enumerate(reqs, 1):
        delivery_id = assert_headers(req, ev, attempt=n)
        assert req.json()["deliveryId"] == delivery_id, "header and body deliveryId differ"
        assert verifies(secret, req.body, req.headers), f"attempt {n} does not verify"
        assert signatures(req) == [expected_signature(secret, req)]
        assert LEAK.encode() not in req.body
        delivery_ids.append(delivery_id)
    assert len(set(delivery_ids)) == 3, f"deliveryIds repeat: {delivery_ids}"
    assert without_delivery_id(reqs[1]) == without_delivery_id(reqs[0])
    assert without_delivery_id(reqs[2]) == without_delivery_id(reqs[0])
    # Not before the schedule's 1 s (minus 10 % jitter) after the failure.
    assert reqs[1].received_at - reqs[0].received_at >= 0.9
    assert reqs[2].received_at - reqs[1].received_at >= 0.9

    entry = worker.find_logs("delivered", eventId=ev["eventId"])[-1]
    assert entry["attempt"] == 3 and entry["deliveryId"] == delivery_ids[2]
    failures = worker.find_logs("delivery failed", eventId=ev["eventId"])
    assert [(f["attempt"], f["status"]) for f in failures] == [(1, 500), (2, 500)]

    # "1s,1s" is one distinct delay: one retry topic, two records on it.
    retry_topic = case.retry_topic("1s")
    assert [e["retryTopic"] for e in worker.find_logs("retry scheduled")] == [retry_topic] * 2
    records = case.read(retry_topic, 2)
    assert len(records) == 2
    for n, msg in enumerate(records, 1):
        assert msg["key"] == sub["subscriptionId"].encode()
        assert_no_secret(msg["value"] + (msg["key"] or b""), secret)
        for value in msg["headers"].values():
            assert_no_secret(value or b"", secret)
        rec = msg["json"]
        assert_record(rec, RECORD_KEYS, event=ev, sub=sub, attempt=n,
                      origin=(topic, 0, offset))
        assert UTC_MS.match(rec["nextAttemptAtUtc"])
        assert utc_seconds(rec["nextAttemptAtUtc"]) >= utc_seconds(rec["attempts"][-1]["atUtc"]) + 0.9
        assert [a["deliveryId"] for a in rec["attempts"]] == delivery_ids[:n]
        for a, snippet in zip(rec["attempts"], ["first failure", "second failure"]):
            assert_attempt_entry(a, http_status=500)
            assert a["responseSnippet"] == snippet
        # The record's body is the payload that was sent, re-sent as it is.
        sent = reqs[0].json()
        assert {k: v for k, v in rec["body"].items() if k != "deliveryId"} == \
            {k: v for k, v in sent.items() if k != "deliveryId"}
    assert records[0]["json"]["firstAttemptAtUtc"] == records[1]["json"]["firstAttemptAtUtc"]

    assert case.wait_committed(topic, offset + 1) == offset + 1
    case.wait_committed(retry_topic, 2)
    assert len(case.receiver.requests(path)) == 3
    assert case.read(case.dlq_topic) == []


def test_410_gone_is_dead_lettered_at_once(case):
    """410 Gone is permanent: one request, then a dead letter with reason
    endpoint_gone and the Connect headers, and no retry record at all, so no
    second request can follow."""
    topic = case.topic()
    tenant = case.tenant()
    secret = case.secret()
    sub = case.subscribe(tenant, "gone", secret=secret)
    path = case.path("gone")
    case.receiver.set(path, status=410, body=b"subscription deleted")
    ev = target_event(tenant)
    offset = case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s,1s")

    req = case.receiver.wait_for(path, 1, WAIT)[0]
    delivery_id = assert_headers(req, ev, attempt=1)
    entry = worker.wait_for_log("dead-lettered", eventId=ev["eventId"], timeout=WAIT)
    assert entry["reason"] == "endpoint_gone"
    assert entry["attempt"] == 1
    msg = case.read(case.dlq_topic, 1)[0]
    rec = msg["json"]
    assert_record(rec, DEAD_LETTER_KEYS, event=ev, sub=sub, attempt=1,
                  origin=(topic, 0, offset))
    assert rec["reason"] == "endpoint_gone"
    assert rec["nextAttemptAtUtc"] is None
    assert rec["attempts"][0]["deliveryId"] == delivery_id
    assert_attempt_entry(rec["attempts"][0], http_status=410)
    assert rec["attempts"][0]["responseSnippet"] == "subscription deleted"
    assert msg["key"] == sub["subscriptionId"].encode()
    assert_connect_headers(msg, topic, 0, offset, "endpoint_gone")
    assert_no_secret(msg["value"], secret)

    assert case.wait_committed(topic, offset + 1) == offset + 1
    assert case.read(case.retry_topic("1s")) == [], "a 410 must not be retried"
    assert worker.find_logs("retry scheduled") == []
    assert len(case.receiver.requests(path)) == 1


def test_permanent_failure_is_exhausted_after_the_last_tier(case):
    """Always 500 with schedule "1s,2s": three attempts (one per tier, not
    earlier than each tier's delay minus jitter), then a dead letter with
    reason exhausted, attempt 3, the full history of three attempts, the
    origin of the domain event and the Kafka Connect headers. Once the domain
    message and both retry records are committed nothing is pending, and the
    endpoint has seen exactly three requests."""
    topic = case.topic()
    tenant = case.tenant()
    secret = case.secret()
    sub = case.subscribe(tenant, "down", secret=secret)
    path = case.path("down")
    case.receiver.set(path, status=500, body=b"boom")
    ev = target_event(tenant)
    offset = case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s,2s")

    entry = worker.wait_for_log("dead-lettered", eventId=ev["eventId"], timeout=WAIT)
    assert entry["reason"] == "exhausted"
    assert entry["attempt"] == 3
    reqs = case.receiver.requests(path)
    assert len(reqs) == 3
    delivery_ids = [assert_headers(r, ev, attempt=n) for n, r in enumerate(reqs, 1)]
    assert reqs[1].received_at - reqs[0].received_at >= 0.9
    assert reqs[2].received_at - reqs[1].received_at >= 1.8

    msg = case.read(case.dlq_topic, 1)[0]
    rec = msg["json"]
    assert_record(rec, DEAD_LETTER_KEYS, event=ev, sub=sub, attempt=3,
                  origin=(topic, 0, offset))
    assert rec["reason"] == "exhausted"
    assert rec["nextAttemptAtUtc"] is None
    assert [a["deliveryId"] for a in rec["attempts"]] == delivery_ids
    for a in rec["attempts"]:
        assert_attempt_entry(a, http_status=500)
        assert a["responseSnippet"] == "boom"
    stamps = [utc_seconds(a["atUtc"]) for a in rec["attempts"]]
    assert stamps == sorted(stamps)
    assert utc_seconds(rec["firstAttemptAtUtc"]) <= stamps[0] + 0.001
    # The dead letter keeps the payload as last sent.
    assert rec["body"] == reqs[2].json()
    assert msg["key"] == sub["subscriptionId"].encode()
    assert_connect_headers(msg, topic, 0, offset, "exhausted")
    assert_no_secret(msg["value"], secret)

    # One record per tier on the way.
    assert [m["json"]["attempt"] for m in case.read(case.retry_topic("1s"), 1)] == [1]
    assert [m["json"]["attempt"] for m in case.read(case.retry_topic("2s"), 1)] == [2]
    assert case.wait_committed(topic, offset + 1) == offset + 1
    case.wait_committed(case.retry_topic("1s"), 1)
    case.wait_committed(case.retry_topic("2s"), 1)
    assert len(case.read(case.dlq_topic)) == 1
    assert len(case.receiver.requests(path)) == 3, "a request after the dead letter"


def test_retry_after_is_honoured(case):
    """429 with Retry-After: 3 (seconds) and 503 with Retry-After as an HTTP
    date about 5 s ahead: the next attempt is not earlier than what the
    endpoint asked for, although the schedule's first delay is 1 s.

    WEBHOOKD_MIN_BACKOFF=0ms takes the separate 429 floor out of the picture.
    The last tier (5s) is longer than both waits, so the SPEC's cap ("capped
    at the last tier's delay") does not shorten them.
    """
    topic = case.topic()
    tenant = case.tenant()
    case.subscribe(tenant, "busy")
    case.subscribe(tenant, "unavailable")
    busy, unavailable = case.path("busy"), case.path("unavailable")
    case.receiver.set_sequence(busy, [{"status": 429, "retry_after": 3}, 204])
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    case.receiver.set_sequence(unavailable, [{"status": 503, "retry_after": when}, 204])
    ev = target_event(tenant)
    case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s,5s",
                         WEBHOOKD_MIN_BACKOFF="0ms")

    first, second = case.receiver.wait_for(busy, 2, WAIT)[:2]
    assert second.headers["x-ordinavo-attempt"] == "2"
    assert second.received_at - first.received_at >= 3.0 - 0.01, (
        f"429 Retry-After: 3 retried after {second.received_at - first.received_at:.2f}s")

    first, second = case.receiver.wait_for(unavailable, 2, WAIT)[:2]
    assert second.headers["x-ordinavo-attempt"] == "2"
    # The date has whole seconds: at least 4 s after the first request.
    assert second.received_at - first.received_at >= 4.0 - 0.01, (
        f"503 Retry-After: {when} retried after {second.received_at - first.received_at:.2f}s")
    assert len(worker.find_logs("delivered", eventId=ev["eventId"])) >= 1


def test_429_and_timeouts_wait_at_least_the_minimum_backoff(case):
    """A 429 without Retry-After, and a request that times out
    (WEBHOOKD_REQUEST_TIMEOUT=1s against an endpoint that takes 3 s), are
    retried not earlier than WEBHOOKD_MIN_BACKOFF=4s, although the
    schedule's first delay is 1 s."""
    topic = case.topic()
    tenant = case.tenant()
    case.subscribe(tenant, "throttled")
    case.subscribe(tenant, "slow")
    throttled, slow = case.path("throttled"), case.path("slow")
    case.receiver.set_sequence(throttled, [429, 204])
    case.receiver.set_sequence(slow, [{"status": 204, "delay": 3}, 204])
    ev = target_event(tenant)
    case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s,1s",
                         WEBHOOKD_MIN_BACKOFF="4s", WEBHOOKD_REQUEST_TIMEOUT="1s")

    first, second = case.receiver.wait_for(throttled, 2, WAIT)[:2]
    assert second.headers["x-ordinavo-attempt"] == "2"
    assert second.received_at - first.received_at >= 4.0 - 0.01, (
        f"429 retried after {second.received_at - first.received_at:.2f}s")

    first, second = case.receiver.wait_for(slow, 2, WAIT)[:2]
    assert second.headers["x-ordinavo-attempt"] == "2"
    # 1 s until the timeout, then at least 4 s.
    assert second.received_at - first.received_at >= 4.0 - 0.01, (
        f"timeout retried after {second.received_at - first.received_at:.2f}s")
    failed = [e for e in worker.find_logs("delivery failed", eventId=ev["eventId"])
              if e["deliveryId"] == first.headers["x-ordinavo-delivery-id"]]
    assert failed and failed[0]["status"] == 0 and "time" in failed[0]["error"].lower(), failed
    worker.wait_for_log("delivered", eventId=ev["eventId"],
                        deliveryId=second.headers["x-ordinavo-delivery-id"], timeout=WAIT)


def test_retry_of_a_subscription_made_inactive_is_dropped(case):
    """A subscription deactivated while its first attempt is failing gets no
    retry: the retry record is dropped with reason subscription_inactive
    (logged "retry dropped"), no further request reaches it, nothing goes to
    the dead-letter topic, and the retry record is committed.

    No timing is involved: the first request is held open by the receiver
    while the test deactivates the subscription and proves the worker has
    seen the change (a probe subscription written in the same change gets a
    probe event); only then does the held request answer 500.
    """
    topic = case.topic()
    tenant = case.tenant()
    sub = case.subscribe(tenant, "leaving", event_types=["target.*"])
    path = case.path("leaving")
    case.receiver.set(path, status=500)
    case.receiver.hold(path)
    ev = target_event(tenant)
    offset = case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s")
    try:
        case.receiver.wait_for(path, 1, WAIT)

        # Core deactivates it; the probe subscription comes in the same change.
        ordinavo.put_subscription(case.rc, {**sub, "active": False}, notify=False)
        case.subscribe(tenant, "probe", event_types=["route.published"])
        probe = ordinavo.event("route.published", tenant, data={"routeId": 1, "stops": []})
        case.produce(topic, probe)
        case.receiver.wait_for(case.path("probe"), 1, WAIT)
    finally:
        case.receiver.release(path)

    worker.wait_for_log("retry scheduled", eventId=ev["eventId"], timeout=WAIT)
    dropped = worker.wait_for_log("retry dropped", eventId=ev["eventId"], timeout=WAIT)
    assert dropped["reason"] == "subscription_inactive"
    assert dropped["subscriptionId"] == sub["subscriptionId"]
    case.wait_committed(case.retry_topic("1s"), 1)
    assert case.wait_committed(topic, offset + 2) == offset + 2
    assert len(case.receiver.requests(path)) == 1
    assert case.read(case.dlq_topic) == []
    assert worker.find_logs("dead-lettered") == []


def test_attempts_topic_gets_one_record_per_attempt_without_body(case):
    """With WEBHOOKD_ATTEMPTS_TOPIC set, every attempt publishes its outcome:
    ids, attempt number, HTTP status and outcome (delivered,
    retry_scheduled, dead_lettered), keyed by subscription, and never the
    body (nor anything of it)."""
    topic = case.topic()
    tenant = case.tenant()
    ok = case.subscribe(tenant, "ok")
    flaky = case.subscribe(tenant, "flaky")
    gone = case.subscribe(tenant, "gone")
    case.receiver.set_sequence(case.path("flaky"), [500, 204])
    case.receiver.set(case.path("gone"), status=410)
    ev = target_event(tenant)
    ev["data"]["externalId"] = "BODY-MARKER-4711"
    case.produce(topic, ev)
    attempts_topic = f"e2e.{case.slug}.{case.uid}.attempts"
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s",
                         WEBHOOKD_ATTEMPTS_TOPIC=attempts_topic)

    case.receiver.wait_for(case.path("flaky"), 2, WAIT)
    worker.wait_for_log("delivered", subscriptionId=flaky["subscriptionId"], timeout=WAIT)
    msgs = case.read(attempts_topic, 4)
    sent = {r.headers["x-ordinavo-delivery-id"]: r for r in case.receiver.requests()
            if r.headers.get("webhook-id") == ev["eventId"]}
    got = []
    for m in msgs:
        rec = m["json"]
        assert rec is not None, f"attempts record is not JSON: {m['value'][:200]!r}"
        assert b"BODY-MARKER-4711" not in m["value"], "the attempts record carries the body"
        assert "body" not in rec
        assert rec["eventId"] == ev["eventId"]
        assert rec["tenantId"] == tenant
        assert DELIVERY_ID.match(rec["deliveryId"])
        assert rec["deliveryId"] in sent, "attempts record for a request never seen"
        assert str(rec["attempt"]) == sent[rec["deliveryId"]].headers["x-ordinavo-attempt"]
        assert m["key"] == rec["subscriptionId"].encode()
        assert isinstance(rec.get("latencyMs"), int)
        got.append((rec["subscriptionId"], rec["attempt"], rec["httpStatus"], rec["outcome"]))
    assert sorted(got) == sorted([
        (ok["subscriptionId"], 1, 204, "delivered"),
        (flaky["subscriptionId"], 1, 500, "retry_scheduled"),
        (flaky["subscriptionId"], 2, 204, "delivered"),
        (gone["subscriptionId"], 1, 410, "dead_lettered"),
    ])
    assert len(case.read(attempts_topic)) == 4
