"""Assertions about delivered webhooks, written from SPEC section 5."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

from standardwebhooks import Webhook

DELIVERY_ID = re.compile(r"^del_[0-9A-HJKMNP-TV-Z]{26}$")


def compact(obj) -> bytes:
    """The wire form the spec asks for: compact JSON, UTF-8, keys as given."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def envelope(event: dict, delivery_id: str) -> dict:
    """The first keys of every body, in SPEC section 5 order."""
    return {
        "eventId": event["eventId"],
        "eventType": event["eventType"],
        "eventVersion": event["eventVersion"],
        "tenantId": event["tenantId"],
        "occurredAtUtc": event["occurredAtUtc"],
        "deliveryId": delivery_id,
        "source": "ordinavo",
    }


def assert_headers(req, event: dict, attempt: int = 1) -> str:
    """Check the SPEC section 5 headers of one request; return its deliveryId."""
    h = req.headers
    assert req.method == "POST"
    assert h.get("content-type") == "application/json"
    assert h.get("user-agent") == "Ordinavo-Webhooks/1"
    assert h.get("webhook-id") == event["eventId"]
    ts = h.get("webhook-timestamp", "")
    assert ts.isdigit(), f"webhook-timestamp is not integer seconds: {ts!r}"
    # The attempt's own time: generous bounds, only catching units or epochs
    # gone wrong (milliseconds, a fixed date), not scheduling.
    assert abs(int(ts) - req.received_at) < 300
    assert h.get("x-ordinavo-event-type") == event["eventType"]
    assert h.get("x-ordinavo-attempt") == str(attempt)
    delivery_id = h.get("x-ordinavo-delivery-id", "")
    assert DELIVERY_ID.match(delivery_id), f"bad deliveryId {delivery_id!r}"
    return delivery_id


def signatures(req) -> list[str]:
    return req.headers.get("webhook-signature", "").split(" ")


def expected_signature(secret: str, req) -> str:
    """Computed here from the spec, independently of standardwebhooks."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg = (f"{req.headers['webhook-id']}.{req.headers['webhook-timestamp']}.".encode()
           + req.body)
    return "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def verifies(secret: str, body: bytes, headers: dict) -> bool:
    """True when the reference Standard Webhooks verifier accepts it."""
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
        return True
    except Exception:
        return False


def assert_body(req, expected: dict) -> None:
    """Byte-for-byte comparison, with a readable diff of the parsed forms."""
    want = compact(expected)
    if req.body != want:
        got = req.body.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(req.body)
        except ValueError:
            parsed = None
        detail = ("same content, different bytes (key order or spacing)"
                  if parsed == expected else "different content")
        raise AssertionError(f"body differs: {detail}\n  got:  {got}\n  want: {want.decode()}")


# Retry and dead-letter records (SPEC section 6).

UTC_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
ATTEMPT_KEYS = {"deliveryId", "atUtc", "httpStatus", "error", "latencyMs", "responseSnippet"}
CONNECT_HEADERS = ("__connect.errors.topic", "__connect.errors.partition",
                   "__connect.errors.offset", "__connect.errors.exception.message")


def utc_seconds(stamp: str) -> float:
    """Unix seconds of an RFC 3339 UTC stamp with Z, as the records write it."""
    from datetime import datetime
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def assert_attempt_entry(entry: dict, *, http_status=None, error=None) -> None:
    """One entry of a record's attempts history: every field, well formed.
    http_status/error, when given, must match exactly (None skips the check;
    pass "null" to require a JSON null)."""
    assert set(entry) == ATTEMPT_KEYS, f"attempt entry keys {sorted(entry)}"
    assert DELIVERY_ID.match(entry["deliveryId"] or ""), entry
    assert UTC_MS.match(entry["atUtc"] or ""), entry
    assert isinstance(entry["latencyMs"], int) and entry["latencyMs"] >= 0, entry
    if http_status == "null":
        assert entry["httpStatus"] is None, entry
    elif http_status is not None:
        assert entry["httpStatus"] == http_status, entry
    if error == "null":
        assert entry["error"] is None, entry
    elif error is not None:
        assert entry["error"] is not None and error in entry["error"], entry


def assert_connect_headers(msg: dict, topic: str, partition: int, offset: int,
                           reason: str) -> None:
    """The Kafka Connect dead-letter headers of a dead-letter message."""
    h = msg["headers"]
    missing = [n for n in CONNECT_HEADERS if n not in h]
    assert not missing, f"dead letter lacks headers {missing}; has {sorted(h)}"
    assert h["__connect.errors.topic"] == topic.encode()
    assert h["__connect.errors.partition"] == str(partition).encode()
    assert h["__connect.errors.offset"] == str(offset).encode()
    assert h["__connect.errors.exception.message"].decode().startswith(reason), h


def assert_no_secret(raw: bytes, *secrets: str) -> None:
    """Neither a secret nor its base64 key part appears in raw bytes."""
    for s in secrets:
        key = s[len("whsec_"):] if s.startswith("whsec_") else s
        assert s.encode() not in raw and key.encode() not in raw, \
            "a subscription secret was written into a record"
