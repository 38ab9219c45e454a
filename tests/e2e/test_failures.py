"""What the worker does with bad endpoints, bad input and SIGTERM."""

import signal

from checks import assert_headers
from conftest import WAIT
from harness import ordinavo


def target_event(tenant, n=1, event_type="target.imported"):
    return ordinavo.event(event_type, tenant, source_system="logistics_erp",
                          data={"targetId": n, "externalId": f"T-{n}",
                                "sourceSystem": "logistics_erp", "status": "Imported"})


def test_failed_delivery_is_logged_and_the_offset_still_moves_on(case):
    """A non-2xx answer is logged as "delivery failed" with its status, and the
    domain message still counts as done: the failure is only logged in the
    first slice, and handed to the first retry topic once retries are in
    (SPEC section 6); either way the partition must not stall."""
    topic = case.topic()
    tenant = case.tenant()
    sub = case.subscribe(tenant, "broken")
    case.receiver.set(case.path("broken"), status=500, body=b"internal error")
    ev = target_event(tenant)
    offset = case.produce(topic, ev)
    worker = case.worker(topic)

    req = case.receiver.wait_for(case.path("broken"), 1, WAIT)[0]
    assert_headers(req, ev)
    entry = worker.wait_for_log("delivery failed", eventId=ev["eventId"])
    assert entry["level"] == "warn"
    assert entry.get("status") == 500
    assert entry.get("subscriptionId") == sub["subscriptionId"]
    assert entry.get("attempt") in (None, 1)
    assert case.wait_committed(topic, offset + 1) == offset + 1
    assert worker.find_logs("delivered", eventId=ev["eventId"]) == []


def test_invalid_messages_are_logged_and_skipped(case):
    """No input stops the partition: each bad message is logged as an invalid
    event and the next good one is still delivered."""
    topic = case.topic()
    tenant = case.tenant()
    case.subscribe(tenant, "ok")
    bad = [
        b"this is not json",
        b"{\"eventId\": \"evt_1\", \"eventType\": ",  # truncated
        b"[1, 2, 3]",
        b"\xff\xfe{\x00",
        b"{}",
        # Well-formed JSON, invalid events: unknown type, wrong field types.
        ordinavo.event("target.exploded", tenant,
                       data={"targetId": 1, "internalNotes": "INTERNAL-ONLY"}),
        {**target_event(tenant), "tenantId": "fifteen", "internalNotes": "INTERNAL-ONLY"},
        {**target_event(tenant), "data": "not an object"},
        {k: v for k, v in target_event(tenant).items() if k != "eventId"},
        # The Avro wire format with a schema id nobody knows.
        b"\x00\x00\x00\x7f\xff\x02\x04garbage",
    ]
    for value in bad:
        case.produce(topic, value, key=b"bad")
    good = target_event(tenant, 2)
    good_offset = case.produce(topic, good)
    worker = case.worker(topic)

    req = case.receiver.wait_for(case.path("ok"), 1, WAIT)[0]
    assert_headers(req, good)
    case.wait_committed(topic, good_offset + 1)
    assert worker.running()
    assert len(case.receiver.requests(case.path("ok"))) == 1
    invalid = worker.find_logs("invalid event")
    assert len(invalid) == len(bad), (
        f"expected one 'invalid event' log per bad message ({len(bad)}), got {len(invalid)}")
    assert all(e["level"] == "warn" for e in invalid)
    # Rejected input is described, not quoted: its internal fields stay out.
    assert "INTERNAL-ONLY" not in worker.output()


def test_sigterm_finishes_commits_and_exits_zero(case):
    topic = case.topic()
    tenant = case.tenant()
    case.subscribe(tenant, "sink")
    events = [target_event(tenant, n) for n in range(1, 6)]
    for ev in events:
        case.produce(topic, ev)
    worker = case.worker(topic)
    case.receiver.wait_for(case.path("sink"), len(events), WAIT)
    worker.wait_for_log("delivered", eventId=events[-1]["eventId"])

    worker.signal(signal.SIGTERM)
    assert worker.wait(WAIT) == 0
    lines = worker.stdout_lines()
    assert lines, "the worker logged nothing"
    assert worker.non_json_lines() == [], "every stdout line must be one JSON object"
    logs = worker.logs()
    assert all({"time", "level", "msg"} <= set(e) for e in logs)
    assert logs[-1]["msg"] == "shutdown complete"
    assert logs[-1]["level"] == "info"
    assert [e for e in logs if e["msg"] == "worker started"]
    assert [e for e in logs if e["msg"] == "partitions assigned"]
    # Committed before exiting: no waiting here.
    end = case.kafka.end_offset(topic)
    assert end == len(events)
    assert case.kafka.committed_offset(case.group, topic) == end
    assert sorted(r.headers["webhook-id"] for r in case.receiver.requests(case.path("sink"))) \
        == sorted(ev["eventId"] for ev in events)
