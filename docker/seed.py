"""Seeds the compose stack: one tenant's subscriptions and CustomerContext in
Redis, then a domain event every few seconds. Demo data only: the secret
below is public and must never be used for a real subscription."""

import json
import os
import sys
import time

sys.path.insert(0, "/tests")

import redis  # noqa: E402
from confluent_kafka import Producer  # noqa: E402

from harness import ordinavo  # noqa: E402

SECRET = "whsec_ZGVtby1vbmx5LXNlY3JldC1kby1ub3QtdXNl"
TENANT = 15


def main() -> None:
    rc = redis.Redis.from_url(os.environ["REDIS_URL"])
    url = os.environ["RECEIVER_URL"]
    doc = ordinavo.subscription(TENANT, url, SECRET, source_system="logistics_erp",
                                event_types=["*"])
    ordinavo.put_subscription(rc, doc)
    ordinavo.put_context(rc, TENANT, "customer", 12, {
        "name": "Rhein-Ruhr Medical Supply", "customerNumber": "RRM-001",
        "externalId:logistics_erp": "CUST-10042", "internalNotes": "never sent"})
    rc.publish("ordinavo:webhook-subscriptions:changed", str(TENANT))

    producer = Producer({"bootstrap.servers": os.environ["KAFKA_BROKERS"]})
    n = 0
    while True:
        n += 1
        ev = ordinavo.event("appointment.completed", TENANT, {
            "appointmentId": 400 + n, "targetId": 900 + n,
            "externalId": f"DEL-2026-{n:06d}", "sourceSystem": "logistics_erp",
            "status": "Completed", "completedAtUtc": ordinavo.utc_now(),
            "internalNotes": "never sent"}, source_system="logistics_erp",
            customer_id=12)
        producer.produce("ordinavo.events.appointments", json.dumps(ev).encode())
        producer.flush(10)
        time.sleep(float(os.environ.get("INTERVAL", "3")))


if __name__ == "__main__":
    main()
