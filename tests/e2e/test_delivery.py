"""The first slice end to end: a domain event on Kafka becomes a signed,
enriched webhook with exactly the public fields (SPEC sections 2 to 5)."""

import pytest

from checks import (assert_body, assert_headers, compact, envelope,
                    expected_signature, signatures, verifies)
from conftest import WAIT
from harness import ordinavo

# Inbound values that must never leave the worker; the marker makes a leak
# easy to find in a body or a log line.
LEAK = "INTERNAL-ONLY"

CUSTOMER = {
    "name": "Rhein-Ruhr Medical Supply GmbH & Co. KG – Düsseldorf",
    "customerNumber": "RRM-001",
    "externalId:logistics_erp": "CUST-10042",
    "externalId:crm": "CRM-ACC-7",
    "internalNotes": f"{LEAK} pays late",
    "creditLimit": f"{LEAK}-50000",
}
LOCATION = {
    "name": "Essen Center",
    "externalId:logistics_erp": "LOC-ESSEN-01",  # none for crm
    "internalNotes": f"{LEAK} dog on premises",
    "accessCode": f"{LEAK}-4711",
}
CONTACT = {
    "displayName": "Anna Weber",
    "phone": "+49 201 555 0100",
    "email": "anna.weber@example.com",
    "externalId:logistics_erp": "CONT-44",
    "externalId:crm": "CRM-CON-44",
    "internalNotes": f"{LEAK} prefers mornings",
    "privateMobile": f"{LEAK}-0170",
}


def seed_context(case, tenant):
    case.context(tenant, "customer", 12, CUSTOMER)
    case.context(tenant, "location", 34, LOCATION)
    case.context(tenant, "contact", 56, CONTACT)


def context_for(system):
    """The customerContext blocks as SPEC section 5 says they are built for a
    subscription whose sourceSystem is `system`."""
    return {
        "customer": {"ordinavoCustomerId": 12,
                     "externalId": CUSTOMER.get(f"externalId:{system}"),
                     "customerNumber": CUSTOMER["customerNumber"],
                     "name": CUSTOMER["name"]},
        "location": {"ordinavoLocationId": 34,
                     "externalId": LOCATION.get(f"externalId:{system}"),
                     "name": LOCATION["name"]},
        "contact": {"ordinavoContactId": 56,
                    "externalId": CONTACT.get(f"externalId:{system}"),
                    "displayName": CONTACT["displayName"],
                    "phone": CONTACT["phone"],
                    "email": CONTACT["email"]},
    }


def test_appointment_completed_and_target_imported_bodies(case):
    """Both bodies equal the expected compact JSON byte for byte, carry the
    SPEC headers, and verify with the subscription's secret.

    The two subscriptions have different sourceSystems, so the context's
    externalIds must be chosen per subscription (and be null where the record
    has none for it)."""
    topic = case.topic()
    tenant = case.tenant()
    seed_context(case, tenant)
    erp = case.subscribe(tenant, "erp", source_system="logistics_erp",
                         event_types=["appointment.completed"])
    crm = case.subscribe(tenant, "crm", source_system="crm",
                         event_types=["target.*"])

    # Public fields in the order of the SPEC section 2 table, with internal
    # ones in between and a nested internal object.
    completed = ordinavo.event(
        "appointment.completed", tenant, source_system="logistics_erp",
        customer_id=12, location_id=34, contact_id=56,
        occurred_at="2026-06-25T14:31:00Z",
        data={
            "appointmentId": 441,
            "internalNotes": f"{LEAK} gate code 1234",
            "targetId": 991,
            "externalId": "DEL-2026-000918",
            "sourceSystem": "logistics_erp",
            "summary": f"{LEAK} full visit report text",
            "status": "Completed",
            "accessToken": f"{LEAK}-tok",
            "completedAtUtc": "2026-06-25T14:30:12Z",
            "billing": {"amount": 120.5, "currency": "EUR", "note": LEAK},
        },
        extra={"internalNotes": f"{LEAK} envelope note"})
    imported = ordinavo.event(
        "target.imported", tenant, source_system="logistics_erp",
        customer_id=12, location_id=34, contact_id=56,
        occurred_at="2026-06-25T08:00:01Z",
        data={
            "targetId": 992,
            "externalId": "DEL-2026-000919",
            "customerNumber": f"{LEAK}-K-99",
            "sourceSystem": "logistics_erp",
            "status": "Imported",
            "apiSecret": f"{LEAK}-s3cr3t",
            "importedAtUtc": "2026-06-25T08:00:00Z",
            "rawPayload": {"internalNotes": LEAK, "lines": [1, 2]},
        })
    case.produce(topic, completed)
    case.produce(topic, imported)
    worker = case.worker(topic)

    req = case.receiver.wait_for(case.path("erp"), 1, WAIT)[0]
    delivery_id = assert_headers(req, completed)
    assert_body(req, {
        **envelope(completed, delivery_id),
        "data": {
            "appointmentId": 441,
            "targetId": 991,
            "externalId": "DEL-2026-000918",
            "sourceSystem": "logistics_erp",
            "status": "Completed",
            "completedAtUtc": "2026-06-25T14:30:12Z",
        },
        "customerContext": context_for("logistics_erp"),
    })
    assert req.json()["deliveryId"] == delivery_id
    assert verifies(erp["secret"], req.body, req.headers)
    assert not verifies(erp["secret"], req.body.replace(b"441", b"442"), req.headers), \
        "a tampered body must not verify"
    assert not verifies(crm["secret"], req.body, req.headers)
    assert signatures(req) == [expected_signature(erp["secret"], req)]

    req = case.receiver.wait_for(case.path("crm"), 1, WAIT)[0]
    delivery_id = assert_headers(req, imported)
    assert_body(req, {
        **envelope(imported, delivery_id),
        "data": {
            "targetId": 992,
            "externalId": "DEL-2026-000919",
            "sourceSystem": "logistics_erp",
            "status": "Imported",
            "importedAtUtc": "2026-06-25T08:00:00Z",
        },
        "customerContext": context_for("crm"),
    })
    assert verifies(crm["secret"], req.body, req.headers)
    assert not verifies(crm["secret"], req.body + b" ", req.headers)
    assert signatures(req) == [expected_signature(crm["secret"], req)]

    # Each event went to its own subscription only, once.
    entry = worker.wait_for_log("delivered", eventId=imported["eventId"])
    assert entry["level"] == "info"
    assert entry["subscriptionId"] == crm["subscriptionId"]
    assert entry["tenantId"] == tenant
    assert entry.get("status") == 204
    assert entry.get("deliveryId") == delivery_id
    assert len(case.receiver.requests(case.path("erp"))) == 1
    assert len(case.receiver.requests(case.path("crm"))) == 1
    # Internal values reach neither a body nor a log line.
    for r in case.receiver.requests(case.path("erp")) + case.receiver.requests(case.path("crm")):
        assert LEAK.encode() not in r.body
    assert LEAK not in worker.output()


def test_payload_options_cache_miss_and_missing_fields(case):
    """SPEC section 5 rules for the context blocks and absent fields:
    a missing Redis key still gives a block (id, other fields null); a ref
    that is null gives no block; includeContactDetails=false drops the
    contact block; with both options off there is no customerContext; a
    missing externalId is sent as null, another missing public field is
    left out."""
    topic = case.topic()
    tenant = case.tenant()
    case.context(tenant, "contact", 56, CONTACT)  # customer 77 is not cached
    no_contact = case.subscribe(tenant, "no-contact", options={
        "includeCustomerContext": True, "includeContactDetails": False})
    bare = case.subscribe(tenant, "bare", options={
        "includeCustomerContext": False, "includeContactDetails": False})
    ev = ordinavo.event(
        "target.cancelled", tenant, source_system="logistics_erp",
        customer_id=77, location_id=None, contact_id=56,
        data={"targetId": 5, "sourceSystem": "logistics_erp",
              "cancellationReason": "customer request",
              "internalNotes": LEAK})
    case.produce(topic, ev)
    case.worker(topic)

    expected_data = {"targetId": 5, "externalId": None, "sourceSystem": "logistics_erp",
                     "cancellationReason": "customer request"}
    req = case.receiver.wait_for(case.path("no-contact"), 1, WAIT)[0]
    assert_body(req, {
        **envelope(ev, assert_headers(req, ev)),
        "data": expected_data,
        "customerContext": {
            "customer": {"ordinavoCustomerId": 77, "externalId": None,
                         "customerNumber": None, "name": None},
        },
    })
    assert verifies(no_contact["secret"], req.body, req.headers)

    req = case.receiver.wait_for(case.path("bare"), 1, WAIT)[0]
    assert_body(req, {**envelope(ev, assert_headers(req, ev)), "data": expected_data})
    assert verifies(bare["secret"], req.body, req.headers)


def test_previous_secret_gives_two_signatures(case):
    """During rotation the header carries one signature per secret, and an
    integrator holding either secret alone can verify the delivery."""
    topic = case.topic()
    tenant = case.tenant()
    current, previous = case.secret(), case.secret()
    case.subscribe(tenant, "rotating", secret=current, previous_secret=previous,
                   event_types=["target.*"])
    ev = ordinavo.event("target.updated", tenant, source_system="logistics_erp",
                        data={"targetId": 7, "externalId": "T-7",
                              "sourceSystem": "logistics_erp", "status": "Planned",
                              "changedFields": ["address", "timeWindow"]})
    case.produce(topic, ev)
    case.worker(topic)

    req = case.receiver.wait_for(case.path("rotating"), 1, WAIT)[0]
    assert_headers(req, ev)
    sigs = signatures(req)
    assert len(sigs) == 2, f"expected two space-separated signatures, got {sigs}"
    assert sorted(sigs) == sorted([expected_signature(current, req),
                                   expected_signature(previous, req)])
    assert verifies(current, req.body, req.headers)
    assert verifies(previous, req.body, req.headers)
    assert not verifies(case.secret(), req.body, req.headers)
    # Each secret alone, with only its own signature in the header.
    for secret in (current, previous):
        own = [s for s in sigs if s == expected_signature(secret, req)]
        assert verifies(secret, req.body, {**req.headers, "webhook-signature": own[0]})
    assert compact(req.json()["data"]) == compact(
        {"targetId": 7, "externalId": "T-7", "sourceSystem": "logistics_erp",
         "status": "Planned", "changedFields": ["address", "timeWindow"]})


@pytest.mark.parametrize("event_type,data,public", [
    ("target.rejected",
     {"targetId": 1, "externalId": "R-1", "sourceSystem": "logistics_erp",
      "status": "Rejected", "rejectionReason": "invalid address",
      "validationErrors": [{"field": "zip", "message": "missing", "internalNotes": LEAK}],
      "internalNotes": LEAK},
     {"targetId": 1, "externalId": "R-1", "sourceSystem": "logistics_erp",
      "status": "Rejected", "rejectionReason": "invalid address",
      "validationErrors": [{"field": "zip", "message": "missing"}]}),
    ("route.published",
     {"routeId": 3, "routeDate": "2026-06-26", "employeeId": 9, "driverPin": LEAK,
      "stops": [{"sequence": 1, "appointmentId": 441, "targetId": 991,
                 "externalId": "DEL-1", "plannedArrivalUtc": "2026-06-26T07:30:00Z",
                 "internalNotes": LEAK}]},
     {"routeId": 3, "routeDate": "2026-06-26", "employeeId": 9,
      "stops": [{"sequence": 1, "appointmentId": 441, "targetId": 991,
                 "externalId": "DEL-1", "plannedArrivalUtc": "2026-06-26T07:30:00Z"}]}),
])
def test_nested_public_fields_are_allow_listed_too(case, event_type, data, public):
    """Inside arrays of objects only the listed sub-fields are sent."""
    topic = case.topic()
    tenant = case.tenant()
    case.subscribe(tenant, "all", event_types=["*"])
    ev = ordinavo.event(event_type, tenant, source_system=None, data=data)
    case.produce(topic, ev)
    case.worker(topic)
    req = case.receiver.wait_for(case.path("all"), 1, WAIT)[0]
    assert_body(req, {**envelope(ev, assert_headers(req, ev)), "data": public})
