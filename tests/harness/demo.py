"""The local demo stack: Kafka, Redis, a webhook receiver and one webhookd,
with two sample tenants and a steady trickle of domain events.

Run through `make demo` (scripts/demo.sh). Ctrl-C stops everything: the
worker first, with SIGTERM, so it finishes and commits, then the services.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import threading
import time

from . import ordinavo, proc
from .kafka import KafkaBroker
from .receiver import Receiver, describe, secrets_for
from .redis_server import RedisServer
from .worker import Worker, webhookd_bin

# Two tenants as core would have stored them; the secrets are made fresh
# each run and only the receiver learns them.
RHEIN_RUHR = 15
NORDSEE = 42

HEADER = """\
Ordinavo Connect webhooks: local demo
=====================================
What runs here, all on 127.0.0.1:
  Kafka   {kafka}   domain topics: {topics}
  Redis   {redis}   subscriptions and CustomerContext of two tenants
  webhookd          consuming the topics, health/metrics on http://{http}/
  receiver          http://127.0.0.1:{port}/ playing the integrators' endpoints

Subscriptions:
  tenant 15  /tenant-15/erp     appointment.*, target.*; sourceSystem logistics_erp;
                                secret being rotated (previousSecret set: two signatures)
  tenant 15  /tenant-15/crm     visit_report.*, billing.event_created; sourceSystem crm;
                                summary preview and billing details on, no contact block
  tenant 42  /tenant-42/all     every event type; no customerContext at all
  tenant 42  /tenant-42/paused  inactive: must never receive anything

Every event carries internal fields (internalNotes, access codes, the full
visit report, cost centres...); none of them may appear below.
Each line is one delivery:
  time  method path  type  webhook-id  attempt  signature (checked with the
  subscription's secret by the standardwebhooks library)  body
Worker warnings and errors are echoed with a "worker:" prefix; the full log
is {log}.
Press Ctrl-C to stop.
"""


def seed(rc, receiver: Receiver) -> list[tuple[str, str]]:
    """Write the two tenants' subscriptions and context records into Redis.

    Returns (path, secret) pairs for the receiver's signature check.
    """
    checks: list[tuple[str, str]] = []

    def sub(tenant, path, **kwargs):
        secret = ordinavo.new_secret()
        doc = ordinavo.subscription(tenant, receiver.url(path), secret, **kwargs)
        ordinavo.put_subscription(rc, doc)
        checks.append((path, secret))
        if doc.get("previousSecret"):
            checks.append((path, doc["previousSecret"]))
        return doc

    sub(RHEIN_RUHR, "/tenant-15/erp", source_system="logistics_erp",
        event_types=["appointment.*", "target.*"],
        previous_secret=ordinavo.new_secret())
    sub(RHEIN_RUHR, "/tenant-15/crm", source_system="crm",
        event_types=["visit_report.*", "billing.event_created"], billing_allowed=True,
        options={"includeCustomerContext": True, "includeContactDetails": False,
                 "includeSummaryPreview": True, "includeBillingDetails": True})
    sub(NORDSEE, "/tenant-42/all", source_system="fieldops", event_types=["*"],
        options={"includeCustomerContext": False, "includeContactDetails": False})
    sub(NORDSEE, "/tenant-42/paused", source_system="fieldops", event_types=["*"],
        active=False)

    put = ordinavo.put_context
    put(rc, RHEIN_RUHR, "customer", 12, {
        "name": "Rhein-Ruhr Medical Supply", "customerNumber": "RRM-001",
        "externalId:logistics_erp": "CUST-10042", "externalId:crm": "ACC-0042",
        "internalNotes": "INTERNAL: disputes every second invoice"})
    put(rc, RHEIN_RUHR, "location", 34, {
        "name": "Essen Center", "externalId:logistics_erp": "LOC-ESSEN-01",
        "internalNotes": "INTERNAL: gate code 4711"})
    put(rc, RHEIN_RUHR, "contact", 56, {
        "displayName": "Anna Weber", "phone": "+49 201 555 0100",
        "email": "anna.weber@example.com", "externalId:logistics_erp": "CONT-44",
        "internalNotes": "INTERNAL: private mobile 0170 000000"})
    put(rc, NORDSEE, "customer", 7, {
        "name": "Nordsee Facility Services", "customerNumber": "NFS-7",
        "externalId:fieldops": "FO-C-7", "internalNotes": "INTERNAL: VIP"})
    put(rc, NORDSEE, "location", 8, {
        "name": "Bremerhaven Harbour Office", "externalId:fieldops": "FO-L-8"})
    return checks


LONG_SUMMARY = (
    "Replaced the pump seal in the basement plant room and tested the system "
    "under full load for forty minutes. The customer asked for a follow-up visit "
    "to inspect the second pump, which shows early signs of wear on the bearing. "
    "INTERNAL: technician suspects the previous contractor used the wrong parts.")


class Events:
    """An endless, varied supply of domain events for the two tenants."""

    def __init__(self):
        self.next_id = itertools.count(1000)

    def _t15(self, event_type, data, **refs):
        return ordinavo.event(event_type, RHEIN_RUHR, source_system="logistics_erp",
                              data=data, customer_id=12, location_id=34, contact_id=56,
                              **refs)

    def _t42(self, event_type, data):
        return ordinavo.event(event_type, NORDSEE, source_system="fieldops", data=data,
                              customer_id=7, location_id=8)

    def batch(self) -> list[tuple[str, dict]]:
        """One of each kind, as (topic, event)."""
        n = next(self.next_id)
        ext = f"DEL-2026-{n:06d}"
        now = ordinavo.utc_now()
        erp = "logistics_erp"
        return [
            ("ordinavo.events.targets", self._t15("target.imported", {
                "targetId": n, "externalId": ext, "sourceSystem": erp, "status": "Imported",
                "importedAtUtc": now, "customerNumber": "INTERNAL-K-99",
                "internalNotes": "INTERNAL: import took three tries"})),
            ("ordinavo.events.targets", self._t15("target.scheduled", {
                "targetId": n, "externalId": ext, "sourceSystem": erp, "status": "Scheduled",
                "appointmentId": n + 1, "scheduledStartUtc": "2026-06-26T08:00:00Z",
                "scheduledEndUtc": "2026-06-26T09:00:00Z", "accessCode": "INTERNAL-4711"})),
            ("ordinavo.events.routes", self._t42("route.published", {
                "routeId": n, "routeDate": "2026-06-26", "employeeId": 3,
                "driverPin": "INTERNAL-0000",
                "stops": [{"sequence": 1, "appointmentId": n + 1, "targetId": n,
                           "externalId": ext, "plannedArrivalUtc": "2026-06-26T08:05:00Z",
                           "internalNotes": "INTERNAL: ring twice"}]})),
            ("ordinavo.events.appointments", self._t15("appointment.completed", {
                "appointmentId": n + 1, "targetId": n, "externalId": ext,
                "sourceSystem": erp, "status": "Completed", "completedAtUtc": now,
                "internalNotes": "INTERNAL: customer unhappy with the parking"})),
            ("ordinavo.events.appointments", self._t42("appointment.problem_reported", {
                "appointmentId": n + 2, "targetId": n, "externalId": None,
                "sourceSystem": "fieldops", "status": "Problem",
                "problemCode": "NO_ACCESS", "problemDescription": "Nobody at the door",
                "internalNotes": "INTERNAL: third time this month"})),
            ("ordinavo.events.visit-reports", self._t15("visit_report.approved", {
                "visitReportId": n, "appointmentId": n + 1, "targetId": n,
                "externalId": ext, "sourceSystem": erp, "approvedAtUtc": now,
                "summary": LONG_SUMMARY})),
            ("ordinavo.events.billing", self._t15("billing.event_created", {
                "billingEventId": n, "visitReportId": n, "appointmentId": n + 1,
                "targetId": n, "externalId": ext, "sourceSystem": erp,
                "billing": {"billingCode": "SRV-STD", "quantity": 1, "unitPrice": 89.5,
                            "amount": 89.5, "currency": "EUR",
                            "internalCostCentre": "INTERNAL-CC-7"}})),
        ]

    def one(self) -> tuple[str, dict]:
        return random.choice(self.batch())


def run(interval: float, duration: float | None) -> int:
    binary = webhookd_bin()
    if not binary.exists():
        print(f"demo: {binary} does not exist; build it with `make`", file=sys.stderr)
        return 1
    print_lock = threading.Lock()

    def say(text: str, stream=sys.stdout) -> None:
        with print_lock:
            print(text, file=stream, flush=True)

    kafka = redis = receiver = worker = None
    try:
        say("demo: starting Kafka and Redis (a few seconds)...", sys.stderr)
        kafka = KafkaBroker().start()
        redis = RedisServer().start()
        kafka.create_topics(ordinavo.DOMAIN_TOPICS + ordinavo.retry_topics()
                            + [ordinavo.DEFAULT_DLQ_TOPIC], partitions=1)

        checks: list[tuple[str, str]] = []
        receiver = Receiver(on_request=lambda r: say(describe(r, secrets_for(r.path, checks))))
        receiver.start()
        checks.extend(seed(redis.client(), receiver))

        def echo(stream: str, line: str) -> None:
            if stream == "stderr":
                say(f"worker: {line}", sys.stderr)
                return
            try:
                entry = json.loads(line)
            except ValueError:
                say(f"worker: {line}", sys.stderr)
                return
            if entry.get("level") in ("warn", "error"):
                say(f"worker: {line}", sys.stderr)

        http_addr = f"127.0.0.1:{proc.free_port()}"
        worker = Worker({
            "WEBHOOKD_KAFKA_BROKERS": kafka.bootstrap,
            "WEBHOOKD_KAFKA_GROUP": "ordinavo-webhooks-demo",
            "WEBHOOKD_TOPICS": ",".join(ordinavo.DOMAIN_TOPICS),
            "WEBHOOKD_REDIS_URL": redis.url,
            "WEBHOOKD_ALLOW_HTTP": "true",
            "WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS": "true",
            "WEBHOOKD_HTTP_ADDR": http_addr,
            "WEBHOOKD_LOG_LEVEL": "info",
        }, binary=binary, on_line=echo)
        say(HEADER.format(kafka=kafka.bootstrap, redis=redis.url, http=http_addr,
                          port=receiver.port, log=worker.stdout_path,
                          topics=", ".join(t.rsplit(".", 1)[1] for t in ordinavo.DOMAIN_TOPICS)))
        worker.start()

        producer = kafka.producer()
        events = Events()
        # A malformed message among the first batch: the worker logs it and
        # carries on.
        ordinavo.produce(producer, "ordinavo.events.targets", b"{not json at all")
        for topic, ev in events.batch():
            ordinavo.produce(producer, topic, ev, key=str(ev["data"].get("targetId", "")))
        began = time.monotonic()
        while duration is None or time.monotonic() - began < duration:
            time.sleep(interval)
            if not worker.running():
                say(f"demo: webhookd exited with status {worker.stop()}; "
                    f"see {worker.stderr_path}", sys.stderr)
                return 1
            topic, ev = events.one()
            ordinavo.produce(producer, topic, ev, key=str(ev["data"].get("targetId", "")))
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        # Ctrl-C again while stopping would leave things half-stopped; the
        # atexit hook and the children's death signal cover that case.
        if worker is not None:
            say("demo: stopping webhookd (SIGTERM)...", sys.stderr)
            code = worker.stop(timeout=30)
            say(f"demo: webhookd exited with status {code}; its log is kept in "
                f"{worker.tmp}", sys.stderr)
        if receiver is not None:
            receiver.stop()
        if redis is not None:
            redis.cleanup()
        if kafka is not None:
            kafka.stop()
        say("demo: stopped", sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/demo.sh",
                                 description="Run webhookd against a local stack.")
    ap.add_argument("--interval", type=float, default=2.0,
                    help="seconds between events after the first batch (default 2)")
    ap.add_argument("--duration", type=float, default=None,
                    help="stop by itself after this many seconds (default: run until Ctrl-C)")
    args = ap.parse_args(argv)
    proc.install_signal_exit()
    return run(args.interval, args.duration)


if __name__ == "__main__":
    sys.exit(main())
