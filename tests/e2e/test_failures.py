"""What the worker does with a failing endpoint and with SIGTERM (bad input:
test_isolation.py)."""

import signal

from checks import assert_headers
from conftest import WAIT
from harness import ordinavo


def target_event(tenant, n=1, event_type="target.imported"):
    return ordinavo.event(event_type, tenant, source_system="logistics_erp",
                          data={"targetId": n, "externalId": f"T-{n}",
                                "sourceSystem": "logistics_erp", "status": "Imported"})


def test_failed_delivery_is_logged_and_the_offset_still_moves_on(case):
    """A non-2xx answer is logged as "delivery failed" with its status and
    handed to the first retry topic (test_retries.py follows it further);
    once Kafka has acknowledged that record the domain message is done, so
    the partition does not stall behind a failing endpoint."""
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
    retry = worker.wait_for_log("retry scheduled", eventId=ev["eventId"])
    assert retry["attempt"] == 1
    assert case.wait_committed(topic, offset + 1) == offset + 1
    assert worker.find_logs("delivered", eventId=ev["eventId"]) == []


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
