"""A private single-node Kafka (KRaft, broker and controller in one JVM).

The broker runs from the jars that tests/kafka/pom.xml copies into
.deps/kafka/lib (see TESTING.md), so no Kafka installation or Docker is
needed. Everything it writes lives in one temporary directory, removed on
stop().
"""

from __future__ import annotations

import base64
import gc
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import proc

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIB = REPO_ROOT / ".deps" / "kafka" / "lib"

# The broker announces readiness with this line (logged by
# kafka.server.KafkaRaftServer in combined mode).
READY_LINE = "Kafka Server started"

# A topic the harness creates at start-up to bring up the group coordinator.
WARMUP_TOPIC = "harness.warmup"

# Small heap, serial GC and the C1 compiler only: on a 2-core machine this
# roughly halves the start time and the test broker never needs more.
JVM_OPTS = ["-Xmx512m", "-Xms128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true"]

LOG4J2 = """\
# Written by the test harness: warnings, plus the broker's start-up steps
# (to see where a slow start hangs) and the "Kafka Server started" line.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d{{HH:mm:ss,SSS}}] %-5p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = INFO
"""


def _cluster_id() -> str:
    """16 random bytes as unpadded base64url: the 22 characters KRaft expects.

    One id in 64 would start with "-", which StorageTool's argument parser
    takes for an option; those are drawn again.
    """
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _transient(err) -> bool:
    """Group-coordinator errors a fresh single-node broker gives while the
    offsets topic is created and loaded; librdkafka does not flag them all
    as retriable."""
    from confluent_kafka import KafkaError
    return err.retriable() or err.code() in (
        KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT, KafkaError._WAIT_COORD)


class KafkaBroker:
    """One Kafka node on 127.0.0.1 with its own storage, for one test run.

    Usage: broker = KafkaBroker(); broker.start(); ... broker.stop().
    `bootstrap` is the address clients use; `startup_seconds` how long the
    last start() took (the harness prints it to stderr too).
    """

    def __init__(self, lib_dir: str | os.PathLike | None = None,
                 java: str = "java", start_timeout: float = 120.0):
        self.lib_dir = Path(lib_dir or os.environ.get("KAFKA_LIB_DIR", DEFAULT_LIB))
        self.java = java
        self.start_timeout = start_timeout
        self.tmp: Path | None = None
        self.port = 0
        self.controller_port = 0
        self.startup_seconds: float | None = None
        self._served_at = 0.0
        self._proc: subprocess.Popen | None = None
        self._console = None
        self._admin = None

    # Paths inside the temporary directory.
    @property
    def log_file(self) -> Path:
        return self.tmp / "kafka.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _classpath(self) -> str:
        if not any(self.lib_dir.glob("kafka_*.jar")):
            raise RuntimeError(
                f"no Kafka jars in {self.lib_dir}; run `make deps` first")
        return str(self.lib_dir / "*")

    def _write_config(self) -> Path:
        """server.properties for a combined broker+controller node.

        Internal topics get replication factor 1 (there is one node) and a
        single partition, which makes the first consumer-group join fast;
        auto-creation is off so a test that forgets to create a topic fails
        instead of silently racing the broker.
        """
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": (f"PLAINTEXT://127.0.0.1:{self.port},"
                          f"CONTROLLER://127.0.0.1:{self.controller_port}"),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "log.dirs": str(self.tmp / "data"),
            "metadata.log.dir": str(self.tmp / "metadata"),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.segment.bytes": str(16 * 1024 * 1024),
        }
        path = self.tmp / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [self.java, *JVM_OPTS,
                f"-Dlog4j2.configurationFile={self.tmp / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.tmp}",
                "-cp", self._classpath(), main_class, *args]

    def start(self) -> "KafkaBroker":
        """Format fresh storage, start the JVM and wait until it serves."""
        if self._proc is not None:
            raise RuntimeError("broker already running")
        began = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix="webhookd-kafka-"))
        self.port = proc.free_port()
        self.controller_port = proc.free_port()
        while self.controller_port == self.port:
            self.controller_port = proc.free_port()
        try:
            formatted = self._format()
            # stdout/stderr of the JVM itself (crashes before log4j is up).
            self._console = open(self.tmp / "console.log", "wb")
            self._proc = proc.spawn(self._java("kafka.Kafka", str(self.tmp / "server.properties")),
                                    stdout=self._console, stderr=subprocess.STDOUT,
                                    cwd=str(self.tmp))
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        print(f"harness: Kafka broker on {self.bootstrap} started in "
              f"{self.startup_seconds:.1f}s (storage format {formatted - began:.1f}s, "
              f"broker {self._served_at - formatted:.1f}s, coordinators "
              f"{began + self.startup_seconds - self._served_at:.1f}s)", file=sys.stderr)
        return self

    def _format(self) -> float:
        """Write the configs and format the storage; return when it finished."""
        config = self._write_config()
        (self.tmp / "log4j2.properties").write_text(LOG4J2.format(log_file=self.log_file))
        fmt = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "--standalone",
                       "-t", _cluster_id(), "-c", str(config)),
            capture_output=True, text=True, timeout=120)
        if fmt.returncode != 0:
            raise RuntimeError(
                f"kafka storage format failed ({fmt.returncode}):\n{fmt.stdout}{fmt.stderr}")
        return time.monotonic()

    def _wait_ready(self, began: float) -> None:
        def ready():
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"Kafka exited with status {self._proc.returncode} while starting\n"
                    f"--- kafka.log ---\n{proc.tail(str(self.log_file))}"
                    f"--- console ---\n{proc.tail(str(self.tmp / 'console.log'))}")
            try:
                with open(self.log_file, "r", errors="replace") as f:
                    return READY_LINE in f.read()
            except FileNotFoundError:
                return False
        try:
            proc.wait_until(ready, self.start_timeout - (time.monotonic() - began),
                            interval=0.1, what="Kafka to start")
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}\n--- kafka.log ---\n{proc.tail(str(self.log_file))}") from None
        # The log line comes when the listeners are up; a metadata round trip
        # proves a client can really talk to it.
        admin = self.admin()
        admin.list_topics(timeout=30)
        self._served_at = time.monotonic()
        # The coordinators' internal topics are created on first use, and
        # until they are loaded every request answers "coordinator load in
        # progress". Using both once here keeps that delay (and the clients'
        # warnings about it) out of the tests: a group offset lookup brings
        # up the group coordinator, an idempotent producer the transaction
        # coordinator, which hands out producer ids.
        self.create_topics([WARMUP_TOPIC])
        self.committed_offset("harness-warmup", WARMUP_TOPIC, timeout=60)
        producer = self.producer(**{"enable.idempotence": True, "log_level": 3})
        producer.produce(WARMUP_TOPIC, b"warm-up")
        if producer.flush(60):
            raise TimeoutError("the broker did not accept an idempotent produce within 60s")

    def admin(self):
        """One shared AdminClient (it is thread-safe), dropped on stop() so it
        does not log reconnection attempts to a broker that is gone."""
        if self._admin is None:
            from confluent_kafka.admin import AdminClient
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap,
                                       "log.connection.close": False})
        return self._admin

    def create_topics(self, names, partitions: int = 1,
                      timeout: float = 60.0, config: dict | None = None) -> None:
        """Create topics and return once the broker reports them created.

        config: topic-level settings, e.g. {"max.message.bytes": "3000000"}.
        """
        from confluent_kafka.admin import NewTopic
        if isinstance(names, str):
            names = [names]
        admin = self.admin()  # must outlive the futures
        futures = admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1,
                      config={k: str(v) for k, v in (config or {}).items()})
             for n in names],
            operation_timeout=timeout, request_timeout=timeout)
        for name, fut in futures.items():
            fut.result(timeout=timeout)
        # Make sure the partitions have leaders before anyone produces.
        def all_led():
            md = admin.list_topics(timeout=10)
            for n in names:
                t = md.topics.get(n)
                if t is None or t.error is not None or len(t.partitions) != partitions:
                    return False
                if any(p.leader < 0 for p in t.partitions.values()):
                    return False
            return True
        proc.wait_until(all_led, timeout, interval=0.1,
                        what=f"topics {', '.join(names)} to get leaders")

    def producer(self, **config):
        """A confluent_kafka Producer for this broker (acks=all, no batching delay)."""
        from confluent_kafka import Producer
        return Producer({"bootstrap.servers": self.bootstrap,
                         "linger.ms": 0, "log.connection.close": False, **config})

    def committed_offset(self, group: str, topic: str, partition: int = 0,
                         timeout: float = 30.0) -> int:
        """The group's committed offset for one partition; -1 if none.

        Asked through a Consumer that never subscribes, so it does not join
        (or disturb) the group. Not through AdminClient's
        list_consumer_group_offsets: the librdkafka bundled with
        confluent-kafka 2.16.1 crashes the process (NULL consumer group in
        rd_kafka_cgrp_op, from rd_kafka_handle_OffsetFetch) when that call
        meets "coordinator load in progress" on a fresh broker.
        """
        from confluent_kafka import Consumer, KafkaException, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                      "enable.auto.commit": False, "log.connection.close": False})
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    tp = c.committed([TopicPartition(topic, partition)],
                                     timeout=max(1.0, deadline - time.monotonic()))[0]
                    break
                except KafkaException as exc:
                    if not _transient(exc.args[0]) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            c.close()
        if tp.error is not None:
            raise RuntimeError(f"offset lookup for {group} {topic}[{partition}] failed: {tp.error}")
        return tp.offset if tp.offset >= 0 else -1

    def end_offset(self, topic: str, partition: int = 0) -> int:
        """The partition's high watermark (the offset the next message gets)."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "harness-watermarks",
                      "enable.auto.commit": False, "log.connection.close": False})
        try:
            low, high = c.get_watermark_offsets(TopicPartition(topic, partition),
                                                timeout=30, cached=False)
            return high
        finally:
            c.close()

    def read_topic(self, topic: str, count: int | None = None,
                   timeout: float = 60.0, **config) -> list[dict]:
        """The messages of a topic, every partition from the beginning.

        With count, waits until at least that many were read (TimeoutError
        otherwise) and returns them all; without, reads up to the high
        watermarks as they are now. Each message is a dict: topic,
        partition, offset, key, value (bytes or None), headers (a dict of
        name to bytes), timestamp. Reads through assign(), so it joins no
        group and commits nothing.
        """
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "harness-reader",
                      "enable.auto.commit": False, "log.connection.close": False,
                      "enable.partition.eof": False, **config})
        out: list[dict] = []
        try:
            md = c.list_topics(topic, timeout=30).topics[topic]
            if md.error is not None:
                raise RuntimeError(f"cannot describe {topic}: {md.error}")
            parts = sorted(md.partitions)
            highs = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30,
                                                cached=False)[1] for p in parts}
            c.assign([TopicPartition(topic, p, 0) for p in parts])
            deadline = time.monotonic() + timeout

            def done() -> bool:
                if count is not None:
                    return len(out) >= count
                got: dict[int, int] = {}
                for m in out:
                    got[m["partition"]] = max(got.get(m["partition"], -1), m["offset"])
                return all(got.get(p, -1) >= highs[p] - 1 for p in parts if highs[p] > 0)

            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"read {len(out)} message(s) from {topic} within {timeout:.0f}s, "
                        f"expected {count if count is not None else 'up to ' + str(highs)}")
                m = c.poll(min(left, 0.5))
                if m is None:
                    continue
                if m.error() is not None:
                    raise RuntimeError(f"reading {topic}: {m.error()}")
                out.append({"topic": m.topic(), "partition": m.partition(),
                            "offset": m.offset(), "key": m.key(), "value": m.value(),
                            "headers": {k: v for k, v in (m.headers() or [])},
                            "timestamp": m.timestamp()[1]})
        finally:
            c.close()
        out.sort(key=lambda m: (m["partition"], m["offset"]))
        return out

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL; remove the data."""
        if self._admin is not None:
            self._admin = None
            gc.collect()  # destroys the client now, while the broker still answers
        if self._proc is not None:
            proc.stop(self._proc, timeout)
            self._proc = None
        if self._console is not None:
            self._console.close()
            self._console = None
        if self.tmp is not None and not os.environ.get("HARNESS_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
