"""CustomerContext enrichment and the privacy rules (SPEC sections 2 to 6).

The privacy test plants a distinct marker string in every place an internal
value can come in (inbound event data at every depth, refs, unknown envelope
fields, the Redis context hashes, the subscription's secrets and unknown
fields), makes the worker deliver, retry and dead-letter, and then looks for
every marker everywhere the worker writes: request bodies and headers, its
stdout and stderr, the retry records and the dead letters.
"""

from __future__ import annotations

import base64
import json
import secrets as _secrets

from checks import assert_body, assert_headers, envelope, verifies
from conftest import WAIT
from harness import ordinavo
from observe import http_get, read_topic

SYSTEM = "logistics_erp"


class Markers:
    """Distinct, greppable stand-ins for internal values: one per place, so a
    leak report says where the value came from."""

    def __init__(self, uid: str):
        self.uid = uid
        self.by_place: dict[str, str] = {}

    def __call__(self, place: str) -> str:
        value = f"ZZLEAK-{place}-{self.uid}"
        self.by_place[place] = value
        return value

    def found_in(self, blob: bytes | str) -> list[str]:
        if isinstance(blob, bytes):
            blob = blob.decode("utf-8", errors="replace")
        return sorted(place for place, value in self.by_place.items() if value in blob)


def marked_secret(case, label: str) -> str:
    """A valid Standard Webhooks secret whose key part spells a marker.

    Any run of base64 characters of a length divisible by four decodes, so
    the key can start with readable text and still sign correctly."""
    text = f"ZZLEAKsecret{label}{case.uid}"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    while len(text) % 4 or len(text) < 32:
        text += _secrets.choice(alphabet)
    return "whsec_" + text


def secret_needles(secret: str) -> dict[str, str]:
    """The forms in which a secret could leak: whole, key part, raw key in hex."""
    key = secret[len("whsec_"):]
    raw = base64.b64decode(key)
    return {"secret": secret, "secret key (base64)": key,
            "secret key (hex)": raw.hex(), "secret key (HEX)": raw.hex().upper()}


def test_internal_values_never_leave_the_worker(case):
    """No internal value reaches a body, a header, a log line, a retry record
    or a dead letter, while the public fields and context do arrive."""
    m = Markers(case.uid)
    topic = case.topic()
    tenant = case.tenant()

    customer = {"name": "Rhein-Ruhr Medical Supply", "customerNumber": "RRM-001",
                f"externalId:{SYSTEM}": "CUST-10042",
                "internalNotes": m("customer.internalNotes"),
                "accessCode": m("customer.accessCode"),
                "apiToken": m("customer.apiToken"),
                "creditLimit": m("customer.creditLimit")}
    location = {"name": "Essen Center", f"externalId:{SYSTEM}": "LOC-ESSEN-01",
                "internalNotes": m("location.internalNotes"),
                "accessCode": m("location.accessCode"),
                "gateCode": m("location.gateCode")}
    contact = {"displayName": "Anna Weber", "phone": "+49 201 555 0100",
               "email": "anna.weber@example.com", f"externalId:{SYSTEM}": "CONT-44",
               "internalNotes": m("contact.internalNotes"),
               "apiToken": m("contact.apiToken"),
               "privateMobile": m("contact.privateMobile")}
    case.context(tenant, "customer", 12, customer)
    case.context(tenant, "location", 34, location)
    case.context(tenant, "contact", 56, contact)
    context = {
        "customer": {"ordinavoCustomerId": 12, "externalId": "CUST-10042",
                     "customerNumber": "RRM-001", "name": customer["name"]},
        "location": {"ordinavoLocationId": 34, "externalId": "LOC-ESSEN-01",
                     "name": location["name"]},
        "contact": {"ordinavoContactId": 56, "externalId": "CONT-44",
                    "displayName": contact["displayName"], "phone": contact["phone"],
                    "email": contact["email"]},
    }

    # Two subscriptions to every type: one endpoint accepts, the other fails
    # once (a retry record) and then answers 410 (dead letters).
    ok_secret = marked_secret(case, "ok")
    gone_secret, gone_previous = marked_secret(case, "gone"), marked_secret(case, "prev")
    subs = {
        "ok": case.subscribe(tenant, "ok", secret=ok_secret, event_types=["*"],
                             source_system=SYSTEM),
        "gone": case.subscribe(tenant, "gone", secret=gone_secret,
                               previous_secret=gone_previous, event_types=["*"],
                               source_system=SYSTEM),
    }
    for label, doc in subs.items():
        # Fields the worker must ignore, and not repeat.
        doc["internalNotes"] = m(f"subscription.{label}.internalNotes")
        doc["apiToken"] = m(f"subscription.{label}.apiToken")
        doc["options"] = {"includeCustomerContext": True, "includeContactDetails": True,
                          "authToken": m(f"subscription.{label}.options.authToken")}
        ordinavo.put_subscription(case.rc, doc)
    case.receiver.set(case.path("ok"), status=204)
    case.receiver.set_sequence(case.path("gone"), [500, 410])

    refs = dict(customer_id=12, location_id=34, contact_id=56)

    def envelope_extra(n):
        return {"internalNotes": m(f"e{n}.envelope.internalNotes"),
                "secret": m(f"e{n}.envelope.secret"),
                "customerNumber": m(f"e{n}.envelope.customerNumber"),
                "meta": {"apiToken": m(f"e{n}.envelope.meta.apiToken"),
                         "trace": [{"accessCode": m(f"e{n}.envelope.meta.trace[0]")}]}}

    events = []
    expected_data = []

    def add(ev, data):
        ev["refs"]["internalNotes"] = m(f"{ev['eventType']}.refs.internalNotes")
        ev["refs"]["accessToken"] = m(f"{ev['eventType']}.refs.accessToken")
        events.append(ev)
        expected_data.append(data)

    add(ordinavo.event("target.imported", tenant, source_system=SYSTEM, **refs, data={
        "targetId": 101, "externalId": "T-101", "sourceSystem": SYSTEM,
        "status": "Imported", "importedAtUtc": "2026-06-25T08:00:00Z",
        "customerNumber": m("e1.data.customerNumber"),
        "internalNotes": m("e1.data.internalNotes"),
        "accessCode": m("e1.data.accessCode"),
        "apiToken": m("e1.data.apiToken"),
        "secret": m("e1.data.secret"),
        "password": m("e1.data.password"),
        "address": {"street": "Hauptstr. 1", "accessCode": m("e1.data.address.accessCode"),
                    "internalNotes": m("e1.data.address.internalNotes")},
        "rawPayload": {"lines": [{"note": m("e1.data.rawPayload.lines[0].note")},
                                 [m("e1.data.rawPayload.lines[1][0]")]],
                       "token": m("e1.data.rawPayload.token")},
    }, extra=envelope_extra(1)), {
        "targetId": 101, "externalId": "T-101", "sourceSystem": SYSTEM,
        "status": "Imported", "importedAtUtc": "2026-06-25T08:00:00Z"})

    add(ordinavo.event("target.rejected", tenant, source_system=SYSTEM, **refs, data={
        "targetId": 102, "externalId": "T-102", "sourceSystem": SYSTEM,
        "status": "Rejected",
        # An object where a scalar belongs is dropped, contents and all.
        "rejectionReason": {"text": "bad", "internalNotes": m("e2.data.rejectionReason")},
        "validationErrors": [
            {"field": "zip", "message": "missing",
             "internalNotes": m("e2.data.validationErrors[0].internalNotes"),
             "details": [{"token": m("e2.data.validationErrors[0].details[0].token")}]},
            m("e2.data.validationErrors[1]"),
            [{"internalNotes": m("e2.data.validationErrors[2][0]")}],
        ],
        "customerNumber": m("e2.data.customerNumber"),
    }, extra=envelope_extra(2)), {
        "targetId": 102, "externalId": "T-102", "sourceSystem": SYSTEM,
        "status": "Rejected", "validationErrors": [{"field": "zip", "message": "missing"}]})

    add(ordinavo.event("target.updated", tenant, source_system=SYSTEM, **refs, data={
        "targetId": 103, "externalId": "T-103", "sourceSystem": SYSTEM, "status": "Planned",
        "changedFields": ["address", {"internalNotes": m("e3.data.changedFields[1]")},
                          ["x", m("e3.data.changedFields[2][1]")]],
        "previousValues": {"address": m("e3.data.previousValues.address")},
    }, extra=envelope_extra(3)), {
        "targetId": 103, "externalId": "T-103", "sourceSystem": SYSTEM, "status": "Planned",
        "changedFields": ["address"]})

    add(ordinavo.event("route.published", tenant, source_system=None, **refs, data={
        "routeId": 7, "routeDate": "2026-06-26", "employeeId": 9,
        "driverPin": m("e4.data.driverPin"),
        "stops": [{"sequence": 1, "appointmentId": 441, "targetId": 101,
                   "externalId": "T-101", "plannedArrivalUtc": "2026-06-26T07:30:00Z",
                   "internalNotes": m("e4.data.stops[0].internalNotes"),
                   "accessCode": m("e4.data.stops[0].accessCode"),
                   "driver": {"pin": m("e4.data.stops[0].driver.pin")}}],
    }, extra=envelope_extra(4)), {
        "routeId": 7, "routeDate": "2026-06-26", "employeeId": 9,
        "stops": [{"sequence": 1, "appointmentId": 441, "targetId": 101,
                   "externalId": "T-101", "plannedArrivalUtc": "2026-06-26T07:30:00Z"}]})

    add(ordinavo.event("visit_report.approved", tenant, source_system=SYSTEM, **refs, data={
        "visitReportId": 55, "appointmentId": 441, "targetId": 101, "externalId": "T-101",
        "sourceSystem": SYSTEM, "approvedAtUtc": "2026-06-26T10:00:00Z",
        "summary": "Replaced the pump. " + m("e5.data.summary"),
        "internalNotes": m("e5.data.internalNotes"),
        "photos": [[{"url": m("e5.data.photos[0][0].url")}]],
    }, extra=envelope_extra(5)), {
        "visitReportId": 55, "appointmentId": 441, "targetId": 101, "externalId": "T-101",
        "sourceSystem": SYSTEM, "approvedAtUtc": "2026-06-26T10:00:00Z"})

    add(ordinavo.event("billing.event_created", tenant, source_system=SYSTEM, **refs, data={
        "billingEventId": 77, "visitReportId": 55, "appointmentId": 441, "targetId": 101,
        "externalId": "T-101", "sourceSystem": SYSTEM,
        "billing": {"billingCode": m("e6.data.billing.billingCode"), "quantity": 1,
                    "unitPrice": 99.5, "amount": 99.5, "currency": "EUR",
                    "costCenter": m("e6.data.billing.costCenter")},
    }, extra=envelope_extra(6)), {
        "billingEventId": 77, "visitReportId": 55, "appointmentId": 441, "targetId": 101,
        "externalId": "T-101", "sourceSystem": SYSTEM})

    for ev in events:
        case.produce(topic, ev)
    worker = case.worker(topic, WEBHOOKD_RETRY_SCHEDULE="1s", WEBHOOKD_MIN_BACKOFF="0ms",
                         WEBHOOKD_LOG_LEVEL="debug")

    # Everything the worker will do with these events: one delivery each to
    # "ok", one dead letter each for "gone" (410 at once, or after the retry
    # that the first 500 caused; exhausted if a breaker got in the way).
    ok = case.receiver.wait_for(case.path("ok"), len(events), WAIT)
    dead = read_topic(case.kafka, case.dlq_topic, len(events), WAIT)
    retry_topic = case.retry_prefix + "1s"
    retries = read_topic(case.kafka, retry_topic, 1, WAIT)
    gone = case.receiver.requests(case.path("gone"))
    # Stop now so that every line the worker will ever write is in hand.
    assert worker.stop(timeout=WAIT) == 0, "the worker did not exit cleanly"

    # Public fields did arrive, so the absence of markers means something.
    by_id = {r.headers["webhook-id"]: r for r in ok}
    assert sorted(by_id) == sorted(ev["eventId"] for ev in events)
    for ev, data in zip(events, expected_data):
        req = by_id[ev["eventId"]]
        assert_body(req, {**envelope(ev, assert_headers(req, ev)), "data": data,
                          "customerContext": context})
        assert verifies(ok_secret, req.body, req.headers)
    assert len(gone) >= len(events) + 1, "the 500 should have caused a retry attempt"
    for req in gone:
        assert verifies(gone_secret, req.body, req.headers)
        assert verifies(gone_previous, req.body, req.headers)
    assert len(dead) == len(events), [r.json().get("reason") for r in dead]
    assert sorted(r.json()["eventId"] for r in dead) == sorted(ev["eventId"] for ev in events)
    for rec in dead + retries:
        doc = rec.json()
        assert doc["subscriptionId"] == subs["gone"]["subscriptionId"]
        assert doc["body"]["customerContext"] == context
        ev = next(e for e in events if e["eventId"] == doc["eventId"])
        assert doc["body"]["data"] == expected_data[events.index(ev)]

    # And no marker anywhere.
    leaks = []
    for req in ok + gone:
        where = f"request {req.path} {req.headers.get('webhook-id')}"
        leaks += [f"{where} body: {p}" for p in m.found_in(req.body)]
        leaks += [f"{where} headers: {p}"
                  for p in m.found_in(json.dumps(req.headers))]
    for stream, lines in (("stdout", worker.stdout_lines()),
                          ("stderr", worker.stderr_lines())):
        for n, line in enumerate(lines, 1):
            leaks += [f"worker {stream} line {n}: {p}" for p in m.found_in(line)]
    for rec in retries + dead:
        leaks += [f"{rec.topic} offset {rec.offset}: {p}" for p in m.found_in(rec.raw())]
    secrets = {"ok secret": ok_secret, "gone secret": gone_secret,
               "gone previousSecret": gone_previous}
    searched = ([("request body", r.body) for r in ok + gone]
                + [("request headers", json.dumps(r.headers).encode()) for r in ok + gone]
                + [("worker stdout", "\n".join(worker.stdout_lines()).encode()),
                   ("worker stderr", "\n".join(worker.stderr_lines()).encode())]
                + [(f"{r.topic} offset {r.offset}", r.raw()) for r in retries + dead])
    for name, secret in secrets.items():
        for form, needle in secret_needles(secret).items():
            for where, blob in searched:
                if needle.encode() in blob:
                    leaks.append(f"{where}: {name} ({form})")
    assert not leaks, "internal values left the worker:\n  " + "\n  ".join(sorted(set(leaks)))
    # Every marker really was in the input, so the search above can fail.
    inputs = json.dumps([events, customer, location, contact, list(subs.values())])
    assert m.found_in(inputs) == sorted(m.by_place)
    assert all(s in inputs for s in secrets.values())


def test_cache_miss_still_delivers_blocks_with_ids_and_nulls(case):
    """Refs whose Redis keys do not exist are a cache miss, not an error or an
    outage: the event is delivered at once, each block carrying its Ordinavo
    id and every other field null, and the worker stays ready."""
    topic = case.topic()
    tenant = case.tenant()
    sub = case.subscribe(tenant, "sink", event_types=["appointment.*"], source_system=SYSTEM)
    ev = ordinavo.event("appointment.started", tenant, source_system=SYSTEM,
                        customer_id=9101, location_id=9102, contact_id=9103,
                        data={"appointmentId": 5, "targetId": 6, "externalId": "A-5",
                              "sourceSystem": SYSTEM, "status": "Started",
                              "startedAtUtc": "2026-06-26T08:00:00Z", "employeeId": 3})
    for kind, rid in (("customer", 9101), ("location", 9102), ("contact", 9103)):
        assert case.rc.exists(ordinavo.context_key(tenant, kind, rid)) == 0
    case.produce(topic, ev)
    worker = case.worker(topic)

    req = case.receiver.wait_for(case.path("sink"), 1, WAIT)[0]
    assert_body(req, {
        **envelope(ev, assert_headers(req, ev)),
        "data": {"appointmentId": 5, "targetId": 6, "externalId": "A-5",
                 "sourceSystem": SYSTEM, "status": "Started",
                 "startedAtUtc": "2026-06-26T08:00:00Z", "employeeId": 3},
        "customerContext": {
            "customer": {"ordinavoCustomerId": 9101, "externalId": None,
                         "customerNumber": None, "name": None},
            "location": {"ordinavoLocationId": 9102, "externalId": None, "name": None},
            "contact": {"ordinavoContactId": 9103, "externalId": None,
                        "displayName": None, "phone": None, "email": None},
        },
    })
    assert verifies(sub["secret"], req.body, req.headers)
    worker.wait_for_log("delivered", eventId=ev["eventId"])
    assert http_get(worker, "/readyz")[0] == 200
    assert worker.find_logs("redis unavailable") == []
    assert worker.find_logs("consumption paused") == []
    assert [e for e in worker.logs() if e.get("level") == "error"] == []
