"""Which subscriptions an event reaches (SPEC section 4).

Proving that something was not delivered without sleeping: the events that
must not arrive are produced first, then a sentinel event on the same
single-partition topic. The worker handles a partition in order, and commits
an offset only once every delivery of that message and the ones before it
has finished, so when the sentinel has been received and its offset is
committed, every earlier event has been dealt with.
"""

import json

from checks import assert_headers, verifies
from conftest import WAIT
from harness import ordinavo


def event_ids(requests):
    return [r.headers.get("webhook-id") for r in requests]


def test_events_reach_only_matching_active_subscriptions(case):
    topic = case.topic()
    tenant, other_tenant = case.tenant(), case.tenant()
    case.subscribe(tenant, "main", event_types=["appointment.completed", "target.*"])
    case.subscribe(tenant, "inactive", event_types=["*"], active=False)
    case.subscribe(tenant, "crm-only", event_types=["*"], source_systems=["crm"])
    case.subscribe(other_tenant, "other", event_types=["*"])

    def appointment(t, system):
        return ordinavo.event("appointment.completed", t, source_system=system,
                              data={"appointmentId": 1, "targetId": 2, "externalId": "X",
                                    "sourceSystem": system, "status": "Completed"})

    # For the other tenant: reaches "other" only.
    other = appointment(other_tenant, "logistics_erp")
    # An event type "main" did not subscribe to (and no sourceSystem, so
    # "crm-only" filters it out too).
    route = ordinavo.event("route.suggestion.created", tenant, source_system=None,
                           data={"routeSuggestionId": 5, "routeDate": "2026-06-26",
                                 "employeeId": 3, "stopCount": 4})
    # Matches "main" through target.*, excluded from "crm-only" by sourceSystems.
    target = ordinavo.event("target.updated", tenant, source_system="logistics_erp",
                            data={"targetId": 2, "externalId": "X",
                                  "sourceSystem": "logistics_erp", "status": "Planned",
                                  "changedFields": ["notes"]})
    # Close to a subscribed prefix, but not in it.
    lookalike = ordinavo.event("appointment.started", tenant, source_system="logistics_erp",
                               data={"appointmentId": 1, "targetId": 2, "externalId": "X",
                                     "sourceSystem": "logistics_erp", "status": "Started"})
    sentinel = appointment(tenant, "crm")
    for ev in (other, route, target, lookalike):
        case.produce(topic, ev)
    sentinel_offset = case.produce(topic, sentinel)
    case.worker(topic)

    case.receiver.wait_for(case.path("main"), 2, WAIT)
    case.receiver.wait_for(case.path("crm-only"), 1, WAIT)
    case.wait_committed(topic, sentinel_offset + 1)

    main = case.receiver.requests(case.path("main"))
    assert event_ids(main) == [target["eventId"], sentinel["eventId"]]
    assert event_ids(case.receiver.requests(case.path("crm-only"))) == [sentinel["eventId"]]
    assert event_ids(case.receiver.requests(case.path("other"))) == [other["eventId"]]
    assert case.receiver.requests(case.path("inactive")) == []
    assert json.loads(main[1].body)["tenantId"] == tenant


def test_malformed_subscription_is_skipped_and_others_keep_working(case):
    """A broken document is logged (error, naming its id, never its secret)
    and skipped; the tenant's valid subscription still receives."""
    topic = case.topic()
    tenant = case.tenant()
    good = case.subscribe(tenant, "good", event_types=["target.*"])

    not_json_secret = case.secret()
    not_json = ordinavo.subscription(tenant, case.receiver.url(case.path("bad-1")),
                                     not_json_secret, sid="sub_BROKENJSON" + case.uid.upper())
    ordinavo.put_subscription(
        case.rc, not_json,
        raw='{"subscriptionId": "%s", "secret": "%s", "url": ' % (
            not_json["subscriptionId"], not_json_secret))
    wrong_types = ordinavo.subscription(tenant, case.receiver.url(case.path("bad-2")),
                                        case.secret(), sid="sub_WRONGTYPES" + case.uid.upper())
    wrong_types["url"] = 12345
    wrong_types["eventTypes"] = "target.*"
    ordinavo.put_subscription(case.rc, wrong_types)

    ev = ordinavo.event("target.imported", tenant, source_system="logistics_erp",
                        data={"targetId": 1, "externalId": "T-1",
                              "sourceSystem": "logistics_erp", "status": "Imported"})
    case.produce(topic, ev)
    worker = case.worker(topic)

    req = case.receiver.wait_for(case.path("good"), 1, WAIT)[0]
    assert_headers(req, ev)
    assert verifies(good["secret"], req.body, req.headers)
    for doc in (not_json, wrong_types):
        entry = worker.wait_for_log("subscription skipped",
                                    subscriptionId=doc["subscriptionId"])
        assert entry["level"] == "error"
        assert entry.get("tenantId") in (None, tenant)
    assert case.receiver.requests(case.path("bad-1")) == []
    assert case.receiver.requests(case.path("bad-2")) == []
    # The secrets themselves are checked by the worker fixture at teardown.
