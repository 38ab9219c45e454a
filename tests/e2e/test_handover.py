"""Work that changes hands: partitions revoked and given back while a retry
waits, deliveries still queued at SIGTERM, retries of a subscription whose
options changed in between, and ids at the longest the worker accepts.

Against the real Kafka, Redis and HTTP receiver, like every e2e test.
"""

import signal
import threading

from confluent_kafka import Consumer

from checks import assert_headers, verifies
from conftest import WAIT
from harness import ordinavo, proc
from observe import wait_metric


def target_event(tenant, n=1, **kwargs):
    return ordinavo.event("target.imported", tenant, source_system="logistics_erp",
                          data={"targetId": n, "externalId": f"T-{n}",
                                "sourceSystem": "logistics_erp", "status": "Imported"},
                          **kwargs)


class GroupMember:
    """A second member of the worker's consumer group, subscribed to a topic
    of its own: its joining and leaving make the group rebalance, and the
    worker's partitions are revoked and assigned back to it each time."""

    def __init__(self, case, topic: str):
        self.consumer = Consumer({"bootstrap.servers": case.kafka.bootstrap,
                                  "group.id": case.group, "enable.auto.commit": False,
                                  "log.connection.close": False})
        self.consumer.subscribe([topic])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.is_set():
            self.consumer.poll(0.2)

    def leave(self):
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


def test_a_rebalance_while_a_retry_waits_does_not_stop_its_partition(case):
    """A retry record read before its due time pauses its partition. When a
    rebalance revokes the partition and gives it back, the worker must not
    leave it paused: the retry is still attempted, and the partition (and
    the domain topic's) keep moving."""
    topic = case.topic()
    tenant = case.tenant()
    case.subscribe(tenant, "once-failing")
    path = case.path("once-failing")
    case.receiver.set_sequence(path, [500, 204])
    ev = target_event(tenant)
    case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="10s")

    case.receiver.wait_for(path, 1, WAIT)
    worker.wait_for_log("retry waiting", eventId=ev["eventId"], timeout=WAIT)
    assigned = len(worker.find_logs("partitions assigned"))
    member = GroupMember(case, case.topic("other"))
    try:
        worker.wait_for_log("partitions revoked", timeout=WAIT)
        proc.wait_until(lambda: len(worker.find_logs("partitions assigned")) > assigned,
                        WAIT, what="the worker to get its partitions back")
        reqs = case.receiver.wait_for(path, 2, WAIT)
        assert_headers(reqs[1], ev, attempt=2)
        worker.wait_for_log("delivered", eventId=ev["eventId"], timeout=WAIT)

        # The domain partition flows too: a new event is delivered.
        later = target_event(tenant, 2)
        case.produce(topic, later)
        worker.wait_for_log("delivered", eventId=later["eventId"], timeout=WAIT)
        # Nothing is left unresolved once both are delivered.
        wait_metric(worker, "webhookd_unresolved_messages", lambda v: v == 0, WAIT,
                    "every consumed message to be resolved")
    finally:
        member.leave()
    case.wait_committed(topic, 2)


def test_deliveries_queued_at_sigterm_are_handed_over_without_spending_an_attempt(case):
    """With one request in flight per subscription and the endpoint hanging,
    SIGTERM finds one request open and two waiting behind it. The open one
    may have arrived: it counts as attempt 1. The waiting ones were never
    sent: they go to the first retry tier due at once, and the next worker
    sends them as attempt 1. Nothing is lost, the exit status is 0."""
    topic = case.topic()
    tenant = case.tenant()
    case.subscribe(tenant, "hanging")
    path = case.path("hanging")
    case.receiver.hold(path)
    events = [target_event(tenant, n) for n in (1, 2, 3)]
    for ev in events:
        case.produce(topic, ev)
    env = {"WEBHOOKD_RETRY_SCHEDULE": "2s", "WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION": "1",
           "WEBHOOKD_MAX_QUEUE_WAIT": "10m", "WEBHOOKD_SHUTDOWN_GRACE": "1s"}
    worker = case.worker(topic, **env)
    first = case.receiver.wait_for(path, 1, WAIT)[0]
    wait_metric(worker, "webhookd_queued_deliveries", lambda v: v == 2, WAIT,
                "two deliveries queued behind the hanging one")

    worker.signal(signal.SIGTERM)
    assert worker.wait(WAIT) == 0
    unsent = worker.find_logs("handed over unsent")
    assert sorted(e["eventId"] for e in unsent) == sorted(
        ev["eventId"] for ev in events if ev["eventId"] != first.headers["webhook-id"])
    assert all(e["attempt"] == 1 for e in unsent)
    case.receiver.release(path)
    case.receiver.set(path, status=204)

    second = case.worker(topic, **env)
    for ev in events:
        second.wait_for_log("delivered", eventId=ev["eventId"], timeout=WAIT)
    delivered = {r.headers["webhook-id"]: r for r in case.receiver.requests(path)[1:]}
    assert set(delivered) == {ev["eventId"] for ev in events}
    for ev in events:
        want = 2 if ev["eventId"] == first.headers["webhook-id"] else 1
        assert_headers(delivered[ev["eventId"]], ev, attempt=want)
    case.wait_committed(topic, len(events))


def test_a_retry_leaves_out_what_the_subscription_withdrew_meanwhile(case):
    """The first attempt carries the contact block and the billing details.
    Before the retry, the subscription turns contact details off and loses
    billingAllowed: the retry sends neither, re-signed with the current
    secret, and keeps everything else."""
    topic = case.topic()
    tenant = case.tenant()
    secret = case.secret()
    options = {"includeCustomerContext": True, "includeContactDetails": True,
               "includeBillingDetails": True}
    sub = case.subscribe(tenant, "billing", secret=secret, billing_allowed=True,
                         options=options)
    path = case.path("billing")
    case.receiver.set_sequence(path, [500, 204])
    case.context(tenant, "customer", 12, {"name": "Rhein-Ruhr", "externalId:logistics_erp": "C-1"})
    case.context(tenant, "contact", 56, {"displayName": "Anna Weber", "phone": "+49 201"})
    ev = ordinavo.event("billing.event_created", tenant, source_system="logistics_erp",
                        customer_id=12, contact_id=56,
                        data={"billingEventId": 8, "targetId": 1, "externalId": "T-1",
                              "sourceSystem": "logistics_erp",
                              "billing": {"billingCode": "SVC", "quantity": 1,
                                          "unitPrice": 10, "amount": 10,
                                          "currency": "EUR"}})
    case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s")

    first = case.receiver.wait_for(path, 1, WAIT)[0]
    body = first.json()
    assert set(body["customerContext"]) == {"customer", "contact"}
    assert body["data"]["billing"]["amount"] == 10

    ordinavo.put_subscription(case.rc, {**sub, "billingAllowed": False,
                                        "options": {**options, "includeContactDetails": False}})
    second = case.receiver.wait_for(path, 2, WAIT)[1]
    worker.wait_for_log("delivered", eventId=ev["eventId"], timeout=WAIT)
    body2 = second.json()
    assert set(body2["customerContext"]) == {"customer"}
    assert "billing" not in body2["data"]
    assert body2["customerContext"]["customer"] == body["customerContext"]["customer"]
    assert {k: v for k, v in body2["data"].items()} == {
        k: v for k, v in body["data"].items() if k != "billing"}
    assert verifies(secret, second.body, second.headers)


def test_ids_at_the_longest_accepted_survive_retries_whole(case):
    """An eventId and a subscriptionId of 128 bytes each go through a
    retry unchanged: the webhook-id header, the body, the retry record's
    key and fields. A subscription id one byte longer is refused as
    malformed, with a log naming it, and the tenant's other subscription
    still works."""
    topic = case.topic()
    tenant = case.tenant()
    long_sid = "sub_" + "S" * 124
    too_long = "sub_" + "T" * 125
    sub = case.subscribe(tenant, "long", sid=long_sid)
    case.subscribe(tenant, "refused", sid=too_long)
    path = case.path("long")
    case.receiver.set_sequence(path, [503, 204])
    ev = target_event(tenant, eid="evt_" + "E" * 124)
    assert len(ev["eventId"]) == 128 and len(sub["subscriptionId"]) == 128
    case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s")

    reqs = case.receiver.wait_for(path, 2, WAIT)
    for n, req in enumerate(reqs, 1):
        assert_headers(req, ev, attempt=n)
        assert req.json()["eventId"] == ev["eventId"]
    worker.wait_for_log("delivered", eventId=ev["eventId"], timeout=WAIT)
    record = case.read(case.retry_topic("1s"), 1)[0]
    assert record["key"] == long_sid.encode()
    assert record["json"]["subscriptionId"] == long_sid
    assert record["json"]["eventId"] == ev["eventId"]

    entry = worker.wait_for_log("subscription skipped", timeout=WAIT)
    assert entry["subscriptionId"] == too_long
    assert case.receiver.requests(case.path("refused")) == []
