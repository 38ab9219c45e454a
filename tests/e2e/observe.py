"""Looking at a running worker from the outside: its health and metrics
endpoints, and the records it wrote to Kafka (SPEC sections 6 and 8).

Small helpers for the enrichment and cache tests; nothing here knows how
the worker is built.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass

from harness import proc

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def http_get(worker, path: str, timeout: float = 10.0) -> tuple[int, str]:
    """GET path on the worker's WEBHOOKD_HTTP_ADDR; (status, body text)."""
    host, port = worker.env["WEBHOOKD_HTTP_ADDR"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", errors="replace")
    finally:
        conn.close()


def metrics(worker) -> dict[str, float]:
    """The /metrics samples as {"name" or "name{labels}": value}."""
    status, text = http_get(worker, "/metrics")
    assert status == 200, f"/metrics answered {status}: {text!r}"
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def metric(worker, name: str) -> float:
    """One sample; fails naming the metric when /metrics lacks it."""
    samples = metrics(worker)
    assert name in samples, f"/metrics has no {name}; it has {sorted(samples)}"
    return samples[name]


def wait_metric(worker, name: str, predicate, timeout: float, what: str = "") -> float:
    """Poll one metric until predicate(value) holds; return the value."""
    last = {"value": None}

    def ok():
        try:
            last["value"] = metric(worker, name)
        except OSError:  # not listening yet
            return False
        return predicate(last["value"])
    try:
        proc.wait_until(ok, timeout, interval=0.1, what=what or f"{name} to change")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; last {name} = {last['value']}") from None
    return last["value"]


def wait_ready(worker, want: int, timeout: float) -> str:
    """Poll /readyz until it answers `want`; return its body."""
    last = {"status": None, "body": ""}

    def ok():
        try:
            last["status"], last["body"] = http_get(worker, "/readyz")
        except OSError as exc:  # not listening yet
            last["status"], last["body"] = None, str(exc)
            return False
        return last["status"] == want
    try:
        proc.wait_until(ok, timeout, interval=0.1, what=f"/readyz to answer {want}")
    except TimeoutError as exc:
        raise AssertionError(
            f"{exc}; last answer {last['status']} {last['body']!r}") from None
    return last["body"]


@dataclass
class Record:
    """One Kafka record, raw and parsed."""
    topic: str
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def json(self):
        return json.loads(self.value)

    def raw(self) -> bytes:
        """Everything the record carries, for searching: key, value, headers."""
        parts = [self.key or b"", self.value or b""]
        for name, value in self.headers:
            parts.append(name.encode())
            parts.append(value or b"")
        return b"\n".join(parts)


def read_topic(kafka, topic: str, at_least: int = 0, timeout: float = 60.0,
               partition: int = 0) -> list[Record]:
    """Every record of one partition, from the beginning to its end offset,
    waiting until there are at least `at_least` of them.

    Assigned, not subscribed, so it joins no group and disturbs no worker.
    """
    from confluent_kafka import Consumer, TopicPartition

    deadline = time.monotonic() + timeout
    end = kafka.end_offset(topic, partition)
    while end < at_least and time.monotonic() < deadline:
        time.sleep(0.2)
        end = kafka.end_offset(topic, partition)
    if end < at_least:
        raise AssertionError(
            f"{topic}[{partition}] holds {end} record(s) after {timeout:.0f}s, "
            f"expected at least {at_least}")
    records: list[Record] = []
    if end == 0:
        return records
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "e2e-reader",
                  "enable.auto.commit": False, "log.connection.close": False})
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        while len(records) < end and time.monotonic() < deadline + 30:
            m = c.poll(0.5)
            if m is None or m.error() is not None:
                continue
            records.append(Record(topic, m.offset(), m.key(), m.value(),
                                  [(k, v) for k, v in (m.headers() or [])]))
    finally:
        c.close()
    if len(records) < end:
        raise AssertionError(f"read {len(records)} of {end} records from {topic}")
    return records
