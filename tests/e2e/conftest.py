"""Fixtures for the end-to-end tests: one Kafka, one Redis and one webhook
receiver for the whole session; workers and names per test.

Tests share the services but never their data: every test gets its own
topics, consumer group, tenant ids and receiver paths from the `case`
fixture, so they can run in any order without seeing each other's events.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import KafkaBroker, Receiver, RedisServer, Worker, webhookd_bin  # noqa: E402
from harness import ordinavo, proc  # noqa: E402

# Generous bound for anything the worker should do "soon"; tests never sleep
# for a fixed time, they wait for a condition up to this long.
WAIT = float(os.environ.get("E2E_WAIT", "60"))

# Every subscription secret any test handed to a worker; no worker may ever
# print one (SPEC section 4 and 5).
_ALL_SECRETS: set[str] = set()


def pytest_configure(config):
    proc.install_signal_exit()


@pytest.fixture(scope="session")
def kafka():
    broker = KafkaBroker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def redis():
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def receiver():
    recv = Receiver().start()
    yield recv
    recv.stop()


@pytest.fixture
def another_receiver():
    """Factory: a further Receiver on its own port, stopped (and its held
    requests released) when the test ends. A different port is a different
    endpoint for the worker's connection reuse and circuit breaker, which
    key on scheme, host and port."""
    started: list[Receiver] = []

    def make() -> Receiver:
        recv = Receiver().start()
        started.append(recv)
        return recv

    yield make
    for recv in started:
        recv.stop()


@pytest.fixture(scope="session")
def producer(kafka):
    p = kafka.producer()
    yield p
    p.flush(10)
    del p


@pytest.fixture(scope="session")
def tenant_ids():
    """Tenant ids unique within the session (Redis is shared by all tests)."""
    return itertools.count(random.randint(10_000, 90_000) * 100)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the output of the test's workers to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
    if rep.failed and rep.when == "call":
        for w in getattr(item, "_workers", []):
            rep.sections.append((f"{w.name} stdout ({w.stdout_path})",
                                 "\n".join(w.stdout_lines()[-200:])))
            rep.sections.append((f"{w.name} stderr ({w.stderr_path})",
                                 "\n".join(w.stderr_lines()[-100:])))


def base_worker_env(kafka, redis, group: str, topics: list[str]) -> dict[str, str]:
    """The environment the tests run webhookd with (overridable per test)."""
    return {
        "WEBHOOKD_KAFKA_BROKERS": kafka.bootstrap,
        "WEBHOOKD_KAFKA_GROUP": group,
        "WEBHOOKD_TOPICS": ",".join(topics),
        "WEBHOOKD_REDIS_URL": redis.url,
        "WEBHOOKD_ALLOW_HTTP": "true",
        "WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS": "true",
        "WEBHOOKD_HTTP_ADDR": f"127.0.0.1:{proc.free_port()}",
        # debug logs the most, which makes the secret-leak check stronger.
        "WEBHOOKD_LOG_LEVEL": "debug",
    }


@pytest.fixture
def start_worker(request, kafka, redis):
    """Factory: start_worker(group=..., topics=[...], **WEBHOOKD_overrides).

    Every worker is stopped when the test ends (SIGTERM, then SIGKILL after
    a minute, twice the default shutdown grace), its output is checked for
    subscription secrets, and it must have exited 0: a crash or a hang in a
    test that otherwise passed is still a failure. A test that ends a worker
    on purpose sets `worker.expect_clean_exit = False`.
    """
    workers: list[Worker] = []
    request.node._workers = workers

    def start(group: str, topics: list[str], **overrides) -> Worker:
        binary = webhookd_bin()
        if not binary.exists():
            pytest.fail(f"webhookd not built: {binary} does not exist (run `make`)")
        env = base_worker_env(kafka, redis, group, topics)
        env.update({k: str(v) for k, v in overrides.items()})
        w = Worker(env, binary=binary, name=f"webhookd-{len(workers) + 1}")
        workers.append(w)
        return w.start()

    yield start

    problems = []
    for w in workers:
        code = w.stop(timeout=60)
        if getattr(w, "expect_clean_exit", True) and code != 0:
            problems.append(f"{w.name} exited with status {code} (stderr: {w.stderr_path})")
        leaks = _secret_leaks(w)
        if leaks:
            problems.append("subscription secret printed by the worker:\n" + "\n".join(leaks))
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.passed and not problems:
        for w in workers:
            w.remove_files()
    if problems:
        pytest.fail("\n".join(problems))


def _secret_leaks(worker: Worker) -> list[str]:
    """Lines of worker output that contain a secret, or its base64 key part.

    The report names the stream and line number, not the secret.
    """
    needles = set()
    for s in _ALL_SECRETS:
        needles.add(s)
        key = s[len("whsec_"):] if s.startswith("whsec_") else s
        if len(key) >= 16:
            needles.add(key)
    found = []
    for stream, lines in (("stdout", worker.stdout_lines()), ("stderr", worker.stderr_lines())):
        for n, line in enumerate(lines, 1):
            if any(needle in line for needle in needles):
                found.append(f"  {worker.name} {stream} line {n}")
    return found


class Case:
    """Unique names and small helpers for one test.

    Paths look like /<test-name>/<label>, so a failure message that lists the
    receiver's paths shows which test a stray request belonged to.
    """

    def __init__(self, request, kafka, redis, receiver, producer, tenant_ids, start_worker):
        self.slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
        self.uid = ordinavo.ulid()[-8:].lower()
        self.kafka = kafka
        self.redis = redis
        self.rc = redis.client()
        self.receiver = receiver
        self.producer = producer
        self._tenant_ids = tenant_ids
        self._start_worker = start_worker
        self.group = f"e2e-{self.slug}-{self.uid}"
        # Retry and dead-letter topics of this test's workers.
        self.retry_prefix = f"e2e.{self.slug}.{self.uid}.retry."
        self.dlq_topic = f"e2e.{self.slug}.{self.uid}.dlq"
        self._delivery_topics: set[str] = set()

    # Names.
    def topic(self, label: str = "events", partitions: int = 1,
              config: dict | None = None) -> str:
        """A new topic for this test, created before it is returned
        (config: topic-level settings such as max.message.bytes)."""
        name = f"e2e.{self.slug}.{label}.{self.uid}"
        self.kafka.create_topics([name], partitions=partitions, config=config)
        return name

    def delivery_topic(self, name: str, config: dict | None = None) -> str:
        """Create a retry, dead-letter or attempts topic ahead of worker(),
        with topic settings (worker() then leaves it as it is)."""
        if name not in self._delivery_topics:
            self.kafka.create_topics([name], config=config)
            self._delivery_topics.add(name)
        return name

    def retry_topic(self, label: str) -> str:
        """This test's retry topic for a schedule delay such as "1s"."""
        return self.retry_prefix + label

    def tenant(self) -> int:
        return next(self._tenant_ids)

    def path(self, label: str) -> str:
        return f"/{self.slug}-{self.uid}/{label}"

    def secret(self) -> str:
        s = ordinavo.new_secret()
        _ALL_SECRETS.add(s)
        return s

    # Core's side: Redis records and events.
    def subscribe(self, tenant: int, label: str, *, secret: str | None = None,
                  previous_secret: str | None = None, receiver: Receiver | None = None,
                  url: str | None = None, **kwargs) -> dict:
        """Store an active subscription posting to the path `label` of the
        session's receiver (or of `receiver`), or to `url` when given."""
        if url is None:
            url = (receiver or self.receiver).url(self.path(label))
        doc = ordinavo.subscription(
            tenant, url, secret or self.secret(),
            previous_secret=previous_secret, **kwargs)
        if previous_secret:
            _ALL_SECRETS.add(previous_secret)
        _ALL_SECRETS.add(doc["secret"])
        ordinavo.put_subscription(self.rc, doc)
        return doc

    def context(self, tenant: int, kind: str, record_id: int, fields: dict) -> None:
        ordinavo.put_context(self.rc, tenant, kind, record_id, fields)

    def produce(self, topic: str, value, key=None) -> int:
        """Produce and wait for the ack; the key is the aggregate id, as core does."""
        if key is None and isinstance(value, dict):
            target = (value.get("data") or {}).get("targetId")
            key = str(target) if target is not None else None
        return ordinavo.produce(self.producer, topic, value, key=key)

    def produce_many(self, topic: str, values, timeout: float = 120.0) -> list[tuple[int, int]]:
        """Produce many events at once (keyed like produce()) and wait for
        every ack; return their (partition, offset) in order."""
        results: list = [None] * len(values)

        def ack(i):
            def on_delivery(err, msg):
                results[i] = err if err is not None else (msg.partition(), msg.offset())
            return on_delivery

        for i, value in enumerate(values):
            key = None
            if isinstance(value, dict):
                target = (value.get("data") or {}).get("targetId")
                key = str(target) if target is not None else None
                value = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
            while True:
                try:
                    self.producer.produce(topic, value=value, key=key, on_delivery=ack(i))
                    break
                except BufferError:  # local queue full: let acks drain it
                    self.producer.poll(0.1)
            self.producer.poll(0)
        if self.producer.flush(timeout):
            raise TimeoutError(f"messages to {topic} not acknowledged within {timeout:.0f}s")
        failed = [r for r in results if not isinstance(r, tuple)]
        if failed:
            raise RuntimeError(f"{len(failed)} produce(s) to {topic} failed: {failed[0]}")
        return results

    def read(self, topic: str, count: int | None = None, timeout: float = WAIT) -> list[dict]:
        """The messages of a topic (see KafkaBroker.read_topic), each with
        its value parsed as JSON under "json" when it is JSON."""
        msgs = self.kafka.read_topic(topic, count, timeout)
        for m in msgs:
            try:
                m["json"] = json.loads(m["value"]) if m["value"] is not None else None
            except ValueError:
                m["json"] = None
        return msgs

    # The worker.
    def worker(self, topics: list[str] | str, group: str | None = None, **env) -> Worker:
        """Start webhookd on topics with this test's group, retry and DLQ
        topics (created here first; the worker requires them)."""
        if isinstance(topics, str):
            topics = [topics]
        env.setdefault("WEBHOOKD_RETRY_TOPIC_PREFIX", self.retry_prefix)
        env.setdefault("WEBHOOKD_DLQ_TOPIC", self.dlq_topic)
        needed = ordinavo.retry_topics(
            env["WEBHOOKD_RETRY_TOPIC_PREFIX"],
            env.get("WEBHOOKD_RETRY_SCHEDULE", ordinavo.DEFAULT_RETRY_SCHEDULE))
        needed.append(env["WEBHOOKD_DLQ_TOPIC"])
        if env.get("WEBHOOKD_ATTEMPTS_TOPIC"):
            needed.append(env["WEBHOOKD_ATTEMPTS_TOPIC"])
        missing = [t for t in needed if t not in self._delivery_topics]
        if missing:
            self.kafka.create_topics(missing)
            self._delivery_topics.update(missing)
        return self._start_worker(group or self.group, topics, **env)

    def wait_committed(self, topic: str, at_least: int, group: str | None = None,
                       timeout: float = WAIT, partition: int = 0) -> int:
        """Wait until the group's committed offset reaches at_least."""
        group = group or self.group
        last = {"offset": -1}

        def reached():
            last["offset"] = self.kafka.committed_offset(group, topic, partition)
            return last["offset"] >= at_least
        try:
            proc.wait_until(reached, timeout, interval=0.25,
                            what=f"group {group} to commit {topic}[{partition}] "
                                 f"offset {at_least}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; last committed offset: {last['offset']}") from None
        return last["offset"]


@pytest.fixture
def case(request, kafka, redis, receiver, producer, tenant_ids, start_worker):
    return Case(request, kafka, redis, receiver, producer, tenant_ids, start_worker)
