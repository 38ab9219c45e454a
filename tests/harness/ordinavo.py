"""Ordinavo test data: events as core publishes them, and the Redis records
core writes (SPEC sections 2 to 4).

These helpers play the part of Ordinavo core, so they are written from the
specification and share nothing with the worker's code.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as _secrets
import time
from datetime import datetime, timezone

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

DOMAIN_TOPICS = [
    "ordinavo.events.targets",
    "ordinavo.events.routes",
    "ordinavo.events.appointments",
    "ordinavo.events.visit-reports",
    "ordinavo.events.billing",
]

SUBSCRIPTIONS_CHANGED = "ordinavo:webhook-subscriptions:changed"

# SPEC section 6 defaults; the worker refuses to start when its retry and
# dead-letter topics do not exist, so whoever starts it creates them first.
DEFAULT_RETRY_SCHEDULE = "10s,1m,5m,30m,2h,8h,24h"
DEFAULT_RETRY_PREFIX = "ordinavo.webhooks.retry."
DEFAULT_DLQ_TOPIC = "ordinavo.webhooks.dlq"


def retry_topics(prefix: str = DEFAULT_RETRY_PREFIX,
                 schedule: str = DEFAULT_RETRY_SCHEDULE) -> list[str]:
    """One topic per distinct delay of the schedule, named prefix + delay."""
    topics: list[str] = []
    for delay in schedule.split(","):
        name = prefix + delay.strip()
        if delay.strip() and name not in topics:
            topics.append(name)
    return topics


def ulid() -> str:
    """A ULID: 48 bits of Unix milliseconds and 80 random bits, 26 chars."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def event_id() -> str:
    return "evt_" + ulid()


def new_secret(nbytes: int = 24) -> str:
    """A Standard Webhooks secret: whsec_ + base64 of random bytes."""
    return "whsec_" + base64.b64encode(_secrets.token_bytes(nbytes)).decode()


def utc_now() -> str:
    """RFC 3339 UTC with a Z, to the second, as core writes timestamps."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(event_type: str, tenant_id: int, data: dict, *,
          source_system: str | None = None, customer_id: int | None = None,
          location_id: int | None = None, contact_id: int | None = None,
          occurred_at: str | None = None, eid: str | None = None,
          extra: dict | None = None) -> dict:
    """A domain event envelope (SPEC section 2) as a dict.

    `extra` adds top-level fields that are not part of the envelope, the way
    a newer producer might, to check that they never reach a webhook.
    """
    env = {
        "eventId": eid or event_id(),
        "eventType": event_type,
        "eventVersion": "v1",
        "tenantId": tenant_id,
        "occurredAtUtc": occurred_at or utc_now(),
        "sourceSystem": source_system,
        "refs": {"customerId": customer_id, "locationId": location_id,
                 "contactId": contact_id},
        "data": data,
    }
    if extra:
        env.update(extra)
    return env


def subscription(tenant_id: int, url: str, secret: str, *,
                 sid: str | None = None, event_types=("*",),
                 source_system: str | None = "logistics_erp",
                 source_systems=None, active: bool = True,
                 previous_secret: str | None = None,
                 billing_allowed: bool = False, options: dict | None = None,
                 integration_client_id: int = 7) -> dict:
    """A subscription document (SPEC section 4)."""
    doc = {
        "subscriptionId": sid or "sub_" + ulid(),
        "tenantId": tenant_id,
        "integrationClientId": integration_client_id,
        "sourceSystem": source_system,
        "url": url,
        "secret": secret,
        "previousSecret": previous_secret,
        "active": active,
        "eventTypes": list(event_types),
        "sourceSystems": list(source_systems) if source_systems is not None else None,
        "billingAllowed": billing_allowed,
    }
    if options is not None:
        doc["options"] = options
    return doc


def subscriptions_key(tenant_id: int) -> str:
    return f"ordinavo:t:{tenant_id}:webhook-subscriptions"


def context_key(tenant_id: int, kind: str, record_id: int) -> str:
    """kind is customer, location or contact."""
    return f"ordinavo:t:{tenant_id}:{kind}:{record_id}"


def put_subscription(client, doc: dict, *, raw: str | None = None,
                     notify: bool = True) -> None:
    """Store a subscription (or, with raw, any text under its id) and tell
    workers that the tenant's subscriptions changed, as core does."""
    tenant = doc["tenantId"]
    client.hset(subscriptions_key(tenant), doc["subscriptionId"],
                raw if raw is not None else json.dumps(doc))
    if notify:
        client.publish(SUBSCRIPTIONS_CHANGED, str(tenant))


def put_context(client, tenant_id: int, kind: str, record_id: int,
                fields: dict) -> None:
    """Write one CustomerContext hash."""
    client.hset(context_key(tenant_id, kind, record_id),
                mapping={k: str(v) for k, v in fields.items()})


def produce(producer, topic: str, value, key: bytes | str | None = None,
            timeout: float = 30.0) -> int:
    """Produce one message and wait for the broker's ack; return its offset.

    value is a dict (sent as compact JSON), bytes, or None (a tombstone).
    """
    if isinstance(value, dict):
        payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    else:
        payload = value
    result: dict = {}

    def on_delivery(err, msg):
        result["err"] = err
        result["offset"] = msg.offset() if err is None else None

    producer.produce(topic, value=payload, key=key, on_delivery=on_delivery)
    left = producer.flush(timeout)
    if left or "err" not in result:
        raise TimeoutError(f"message to {topic} not acknowledged within {timeout:.0f}s")
    if result["err"] is not None:
        raise RuntimeError(f"produce to {topic} failed: {result['err']}")
    return result["offset"]
