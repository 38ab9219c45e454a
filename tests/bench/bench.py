"""Throughput and latency benchmark of webhookd (run by `make bench`).

Everything runs on this machine, on 127.0.0.1: a Kafka broker and Redis from
the test harness, an nginx that answers every webhook with 204 and logs the
receipt time of each request, one webhookd at a time, and finally wrk against
the same nginx as the ceiling to compare with.

Two scenarios, each with its own tenant, topics and consumer group:

  fan-out 1   one subscription matches every event
  fan-out 10  ten subscriptions match every event

Each scenario has two phases:

  backlog  N events are in Kafka before webhookd starts; it drains them as
           fast as it can. Gives throughput, CPU cost and peak memory. The
           latency of this phase mostly measures how long an event waited
           behind the backlog.
  paced    events are produced at a fixed, moderate rate while webhookd is
           running. Gives the latency a live event sees: Kafka append to the
           receiver's log entry.

See docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness import KafkaBroker, Receiver, RedisServer, Worker, ordinavo, proc
from harness.receiver import check_signature

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "bench-results"

# Scenario sizes; BENCH_EVENTS overrides them (see events_per_scenario()).
DEFAULT_EVENTS = {1: 50_000, 10: 10_000}
PACED_RATE = int(os.environ.get("BENCH_PACED_RATE", "2000"))  # events/s at fan-out 1
PACED_SECONDS = float(os.environ.get("BENCH_PACED_SECONDS", "10"))
PHASE_TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "120"))  # per phase, seconds
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
WRK_THREADS = 2
WRK_CONNECTIONS = 100
NGINX_WORKERS = int(os.environ.get("BENCH_NGINX_WORKERS", "1"))

DOMAIN_PARTITIONS = 4
RETRY_SCHEDULE = "10s,1m"
MAX_INFLIGHT = 1000
# The worker's default per-subscription bound; BENCH_MAX_INFLIGHT_PER_SUBSCRIPTION
# changes it to see what concurrency to one endpoint buys.
MAX_INFLIGHT_PER_SUBSCRIPTION = os.environ.get("BENCH_MAX_INFLIGHT_PER_SUBSCRIPTION", "50")
SOURCE_SYSTEM = "logistics_erp"
CUSTOMER_ID, LOCATION_ID, CONTACT_ID = 12, 34, 56

LATENCY_NOTE = ("backlog latency counts the time an event waited in Kafka behind "
                "the events produced before it; only the paced phase measures the "
                "latency a live event sees")

CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(text: str) -> None:
    """Progress goes to stderr, so stdout holds only the final table."""
    print(f"bench: {text}", file=sys.stderr, flush=True)


def events_per_scenario() -> dict[int, int]:
    """Events to pre-produce per fan-out.

    BENCH_EVENTS=N runs N events at fan-out 1 and N/5 at fan-out 10 (the
    defaults' proportion, so both scenarios make a similar number of
    deliveries); BENCH_EVENTS=N1,N10 sets both explicitly.
    """
    raw = os.environ.get("BENCH_EVENTS", "").strip()
    if not raw:
        return dict(DEFAULT_EVENTS)
    parts = [int(p) for p in raw.split(",")]
    if len(parts) == 1:
        return {1: parts[0], 10: max(1, parts[0] // 5)}
    if len(parts) == 2:
        return {1: parts[0], 10: parts[1]}
    raise SystemExit("bench: BENCH_EVENTS must be N or N1,N10")


# ---- Figures ---------------------------------------------------------------

def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]


def latency_summary(latencies_ms: list[float]) -> dict:
    values = sorted(latencies_ms)
    return {
        "count": len(values),
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        "max_ms": values[-1] if values else None,
        "mean_ms": round(statistics.fmean(values), 1) if values else None,
    }


# ---- Machine and process readings -------------------------------------------

def machine_info() -> dict:
    """What the figures were measured on, so results can be compared."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_mib": mem_kb // 1024,
        "kernel": platform.release(),
        "nginx": _version(["nginx", "-v"]),
        "wrk": _version(["wrk", "--version"]),
    }


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def git_info() -> dict:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return out.stdout.strip()
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (or one of its threads), in seconds."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# Direct children of the benchmark, by the command they run.
SERVICE_NAMES = {"java": "kafka", "redis-server": "redis", "nginx": "nginx",
                 "webhookd": "webhookd"}


def _proc_stats() -> list[tuple[int, str, int, int, float]]:
    """(pid, comm, ppid, pgrp, cpu seconds) of every process."""
    rows = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        rows.append((int(entry), comm, int(fields[1]), int(fields[2]),
                     (int(fields[11]) + int(fields[12])) / CLK_TCK))
    return rows


def service_cpu_seconds() -> dict[str, float]:
    """CPU seconds of each service this benchmark started, and of itself.

    Every service is a child in a process group of its own (the harness
    spawns it so), so a group's total includes nginx's worker processes.
    """
    rows = _proc_stats()
    me = os.getpid()
    groups = {pid: SERVICE_NAMES.get(comm, comm) for pid, comm, ppid, _, _ in rows
              if ppid == me}
    totals = {name: 0.0 for name in groups.values()}
    for pid, _, _, pgrp, cpu in rows:
        if pgrp in groups:
            totals[groups[pgrp]] += cpu
        elif pid == me:
            totals["bench (python)"] = cpu
    return totals


STAT_COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_jiffies() -> dict[str, int]:
    """The all-CPU line of /proc/stat (guest time is already in user)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return dict(zip(STAT_COLUMNS, values))


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs together."""
    j = machine_jiffies()
    total = sum(j.values())
    return total - j["idle"] - j["iowait"], total


def background_load(seconds: float = 2.0) -> float:
    """Busy percentage of all cores before anything starts: other work on the
    machine takes CPU from the benchmark and lowers every figure."""
    busy0, total0 = machine_busy()
    time.sleep(seconds)
    busy1, total1 = machine_busy()
    return round(100 * (busy1 - busy0) / max(1, total1 - total0), 1)


def status_kib(pid: int, name: str) -> int:
    """A size field (VmRSS, VmHWM) of /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def thread_cpu(pid: int) -> list[dict]:
    """CPU seconds per thread, busiest first: shows which thread saturates."""
    rows = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            rows.append({"thread": name, "tid": int(tid),
                         "cpu_s": round(cpu_seconds(pid, int(tid)), 2)})
        except OSError:
            continue
    return sorted(rows, key=lambda r: -r["cpu_s"])


def worker_env(kafka, redis, topic: str, retry_prefix: str, dlq: str, http_addr: str,
               group_prefix: str, *, max_inflight, per_subscription) -> dict[str, str]:
    """The worker's settings in every scenario: the local services, plain
    http to loopback allowed, warnings only (logging each delivery would
    cost more than some of what is measured), a fresh consumer group."""
    return {
        "WEBHOOKD_KAFKA_BROKERS": kafka.bootstrap,
        "WEBHOOKD_KAFKA_GROUP": f"{group_prefix}-{ordinavo.ulid().lower()}",
        "WEBHOOKD_TOPICS": topic,
        "WEBHOOKD_REDIS_URL": redis.url,
        "WEBHOOKD_RETRY_SCHEDULE": RETRY_SCHEDULE,
        "WEBHOOKD_RETRY_TOPIC_PREFIX": retry_prefix,
        "WEBHOOKD_DLQ_TOPIC": dlq,
        "WEBHOOKD_ALLOW_HTTP": "true",
        "WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS": "true",
        "WEBHOOKD_HTTP_ADDR": http_addr,
        "WEBHOOKD_LOG_LEVEL": "warn",
        "WEBHOOKD_MAX_INFLIGHT": str(max_inflight),
        "WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION": str(per_subscription),
    }


class Snapshot:
    """CPU readings at one moment, to compute a phase's CPU by difference."""

    def __init__(self):
        self.at = time.monotonic()
        self.services = service_cpu_seconds()
        self.jiffies = machine_jiffies()
        self.busy, self.total = machine_busy()

    def usage_since(self, start: "Snapshot") -> dict:
        """CPU use in the interval, in percent of one core (100 = one core
        busy all the time); machine_busy_pct is of all cores together."""
        wall = self.at - start.at
        jiffies = self.total - start.total
        cpu = {name: self.services[name] - start.services.get(name, 0.0)
               for name in self.services}
        cores = os.cpu_count() or 1
        busy = (self.busy - start.busy) / jiffies if jiffies else 0.0
        # What kept the machine busy besides this benchmark's processes:
        # other users of the machine, and kernel work not charged to a process.
        cpu["other"] = max(0.0, busy * cores * wall - sum(cpu.values()))
        return {
            "wall_s": round(wall, 2),
            "webhookd_cpu_s": round(cpu.get("webhookd", 0.0), 2),
            "cpu_pct_of_one_core": {name: round(100 * v / wall, 1)
                                    for name, v in sorted(cpu.items())},
            "machine_busy_pct": round(100 * (self.busy - start.busy) / jiffies, 1)
            if jiffies else None,
            # Where the machine's time went (percent of all cores); softirq
            # is loopback network work, steal time taken by the hypervisor.
            "machine_pct": {k: round(100 * (self.jiffies[k] - start.jiffies[k]) / jiffies, 1)
                            for k in STAT_COLUMNS} if jiffies else None,
        }


class Sampler(threading.Thread):
    """Takes a reading every 100 ms until stop(); read() returns a number,
    None to skip this turn, or raises OSError once there is nothing left to
    read (the process is gone)."""

    def __init__(self, name: str):
        super().__init__(name=name, daemon=True)
        self.samples: list[int] = []
        self._done = threading.Event()

    def read(self) -> int | None:
        raise NotImplementedError

    def run(self) -> None:
        while not self._done.wait(0.1):
            try:
                value = self.read()
            except OSError:
                return
            if value is not None:
                self.samples.append(value)

    def stop(self) -> None:
        self._done.set()
        self.join(5)


class RssSampler(Sampler):
    """Samples webhookd's resident memory while it runs.

    VmHWM already gives the peak; the samples add the average and show
    whether memory still grows at the end of the run.
    """

    def __init__(self, pid: int):
        super().__init__("rss-sampler")
        self.pid = pid

    def read(self) -> int | None:
        return status_kib(self.pid, "VmRSS")


# ---- nginx ------------------------------------------------------------------

NGINX_CONF = """\
# Generated by tests/bench/bench.py for one benchmark run.
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    default_type application/octet-stream;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    # Webhook bodies are about a kilobyte: keep them in memory.
    client_body_buffer_size 64k;
    client_max_body_size 1m;
    # webhookd keeps its connections open; never make it reconnect.
    keepalive_requests 1000000;
    keepalive_timeout 300s;

    map $http_webhook_signature $signed {{
        "" 0;
        default 1;
    }}
    # One line per request. $msec is when the response was sent (ms
    # resolution); the ids join a request to the event it delivers.
    log_format bench '$msec $status $request_length $content_length '
                     '$connection $connection_requests $signed '
                     '$http_webhook_id $http_x_ordinavo_delivery_id $uri';
    # Buffered, so logging costs little; flushed every 100 ms so the
    # benchmark sees progress.
    access_log {dir}/access.log bench buffer=256k flush=100ms;

    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            return 204;
        }}
        # wrk's requests: the same work, logged to a file of their own.
        location /wrk/ {{
            access_log {dir}/wrk-access.log bench buffer=256k flush=100ms;
            return 204;
        }}
    }}
}}
"""


class Nginx:
    """A private nginx on a free loopback port, run in the foreground."""

    def __init__(self, workers: int):
        self.workers = workers
        self.dir = Path(tempfile.mkdtemp(prefix="webhookd-bench-nginx-"))
        self.port = proc.free_port()
        self._proc: subprocess.Popen | None = None

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    @property
    def wrk_log(self) -> Path:
        return self.dir / "wrk-access.log"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> "Nginx":
        # Workers drop root privileges to nobody, who must reach the temp paths.
        self.dir.chmod(0o755)
        (self.dir / "tmp").mkdir(mode=0o777)
        (self.dir / "nginx.conf").write_text(
            NGINX_CONF.format(workers=self.workers, dir=self.dir, port=self.port))
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self._proc = proc.spawn(
            [binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
             "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "console.log", "wb"))

        def listening():
            if self._proc.poll() is not None:
                raise RuntimeError(f"nginx exited with status {self._proc.returncode}:\n"
                                   f"{proc.tail(str(self.dir / 'console.log'))}"
                                   f"{proc.tail(str(self.dir / 'error.log'))}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        proc.wait_until(listening, 15, what=f"nginx on port {self.port}")
        say(f"nginx on 127.0.0.1:{self.port} ({self.workers} worker process(es))")
        return self

    def stop(self) -> None:
        if self._proc is not None:
            proc.stop(self._proc, 10)
            self._proc = None
        if not os.environ.get("HARNESS_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Receipt:
    """One line of the access log."""
    at_ms: float
    status: int
    request_bytes: int
    body_bytes: int
    connection: int
    signed: bool
    webhook_id: str
    delivery_id: str
    uri: str


class AccessLog:
    """Reads the lines nginx appends to its access log, as they come."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self._partial = b""
        self.receipts: list[Receipt] = []

    def poll(self) -> int:
        """Parse what was appended since the last call; return how many."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return 0
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self.receipts.append(_parse(line.decode("ascii", "replace")))
        return len(lines)


def _parse(line: str) -> Receipt:
    f = line.split(" ")
    return Receipt(at_ms=float(f[0]) * 1000, status=int(f[1]), request_bytes=int(f[2]),
                   body_bytes=int(f[3]) if f[3].isdigit() else 0, connection=int(f[4]),
                   signed=f[6] == "1", webhook_id=f[7], delivery_id=f[8], uri=f[9])


# ---- Test data -----------------------------------------------------------------

def seed_tenant(rc, tenant: int, urls: list[str]) -> list[str]:
    """A tenant with one subscription per URL, all matching every event, and
    the context records the events refer to, so every delivery is enriched.
    Returns the subscriptions' secrets."""
    secrets = []
    for url in urls:
        secrets.append(ordinavo.new_secret())
        doc = ordinavo.subscription(
            tenant, url, secrets[-1],
            event_types=["appointment.*"], source_system=SOURCE_SYSTEM,
            options={"includeCustomerContext": True, "includeContactDetails": True,
                     "includeSummaryPreview": False, "includeBillingDetails": False})
        ordinavo.put_subscription(rc, doc)
    ordinavo.put_context(rc, tenant, "customer", CUSTOMER_ID, {
        "name": "Rhein-Ruhr Medical Supply GmbH", "customerNumber": "RRM-001",
        f"externalId:{SOURCE_SYSTEM}": "CUST-10042", "externalId:crm": "ACC-0042",
        "internalNotes": "pays late; escalate to key account management"})
    ordinavo.put_context(rc, tenant, "location", LOCATION_ID, {
        "name": "Essen Center, Loading Dock B", f"externalId:{SOURCE_SYSTEM}": "LOC-ESSEN-01",
        "internalNotes": "gate code 4711"})
    ordinavo.put_context(rc, tenant, "contact", CONTACT_ID, {
        "displayName": "Anna Weber", "phone": "+49 201 555 0100",
        "email": "anna.weber@example.com", f"externalId:{SOURCE_SYSTEM}": "CONT-44",
        "internalNotes": "prefers calls before 10:00"})
    return secrets


class Probe:
    """One extra event, for a tenant of its own whose only subscription points
    at the harness's recording receiver: nginx does not keep bodies, so this
    shows what the benchmark's deliveries carry (the same event shape and
    subscription options), and checks it is enriched and correctly signed."""

    def __init__(self, rc, tenant: int):
        self.receiver = Receiver().start()
        self.tenant = tenant
        self.secrets = seed_tenant(rc, tenant, [self.receiver.url("/probe")])

    def produce(self, kafka: KafkaBroker, topic: str) -> None:
        _, key, value = completed_event(self.tenant, 0)
        ordinavo.produce(kafka.producer(), topic, value, key=key)

    def check(self, timeout: float = 30.0) -> dict:
        request = self.receiver.wait_for("/probe", 1, timeout)[0]
        body = request.json()
        context = body.get("customerContext") or {}
        found = {
            "body_bytes": len(request.body),
            "signature": check_signature(request, self.secrets),
            "context_blocks": sorted(context),
            "internal_fields_leaked": "internalNotes" in request.body.decode(),
        }
        if (found["signature"] != "valid"
                or found["context_blocks"] != ["contact", "customer", "location"]
                or found["internal_fields_leaked"]):
            raise RuntimeError(f"the probe delivery is not what the benchmark assumes "
                               f"(enriched with all three blocks, signed): {found}")
        return found

    def stop(self) -> None:
        self.receiver.stop()


def completed_event(tenant: int, n: int) -> tuple[str, bytes, bytes]:
    """An appointment.completed event of realistic size (about 700 bytes,
    public and internal fields mixed, as core publishes it).

    Returns (eventId, key, value).
    """
    ev = ordinavo.event("appointment.completed", tenant, source_system=SOURCE_SYSTEM,
                        customer_id=CUSTOMER_ID, location_id=LOCATION_ID,
                        contact_id=CONTACT_ID, data={
        "appointmentId": 500_000 + n, "targetId": 900_000 + n,
        "externalId": f"DEL-2026-{n:06d}", "sourceSystem": SOURCE_SYSTEM,
        "status": "Completed", "completedAtUtc": ordinavo.utc_now(),
        "employeeId": 17, "vehicleId": "VAN-E-204", "durationMinutes": 42,
        "signatureCaptured": True, "photoCount": 3,
        "internalNotes": "Customer asked to reschedule the follow-up twice; "
                         "technician had to wait 20 minutes at the gate.",
        "accessCode": "4711-B", "costCentre": "CC-ESSEN-SERVICE-07",
        "checklist": [{"item": "seal replaced", "ok": True},
                      {"item": "pressure test", "ok": True},
                      {"item": "site cleaned", "ok": True}],
    })
    value = json.dumps(ev, separators=(",", ":")).encode()
    return ev["eventId"], str(900_000 + n).encode(), value


# ---- Kafka ----------------------------------------------------------------------

def create_topics(kafka: KafkaBroker, names: list[str], partitions: int,
                  log_append_time: bool = False) -> None:
    """Create topics; domain topics stamp messages with the broker's append
    time, so the latency starts when Kafka stored the event."""
    from confluent_kafka.admin import NewTopic
    config = {"message.timestamp.type": "LogAppendTime"} if log_append_time else {}
    admin = kafka.admin()
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1, config=config)
         for n in names], operation_timeout=60, request_timeout=60)
    for fut in futures.values():
        fut.result(timeout=60)

    def led():
        md = admin.list_topics(timeout=10)
        return all(n in md.topics and md.topics[n].error is None
                   and len(md.topics[n].partitions) == partitions
                   and all(p.leader >= 0 for p in md.topics[n].partitions.values())
                   for n in names)
    proc.wait_until(led, 60, interval=0.1, what=f"leaders for {', '.join(names)}")


class Appends:
    """Delivery reports of the producer: each event's Kafka append time."""

    def __init__(self):
        self.at_ms: dict[str, int] = {}
        self.errors: list[str] = []

    def callback(self, event_id: str):
        def on_delivery(err, msg):
            if err is not None:
                self.errors.append(f"{event_id}: {err}")
            else:
                self.at_ms[event_id] = msg.timestamp()[1]
        return on_delivery


def produce_backlog(kafka: KafkaBroker, topic: str, tenant: int, count: int,
                    first: int) -> tuple[Appends, float]:
    """Produce `count` events and wait for every ack; returns the appends and
    the mean message size."""
    producer = kafka.producer(**{"linger.ms": 10, "batch.num.messages": 5000,
                                 "queue.buffering.max.messages": 200_000,
                                 "queue.buffering.max.kbytes": 262_144})
    appends = Appends()
    sizes = 0
    deadline = time.monotonic() + PHASE_TIMEOUT
    for n in range(first, first + count):
        eid, key, value = completed_event(tenant, n)
        sizes += len(value)
        while True:
            try:
                producer.produce(topic, value=value, key=key,
                                 on_delivery=appends.callback(eid))
                break
            except BufferError:
                producer.poll(0.05)
                if time.monotonic() > deadline:
                    raise TimeoutError("the producer queue stayed full")
        producer.poll(0)
    left = producer.flush(max(1.0, deadline - time.monotonic()))
    _check_acks(appends, count, left)
    return appends, sizes / count


def produce_paced(kafka: KafkaBroker, topic: str, tenant: int, rate: float,
                  seconds: float, first: int, worker: Worker) -> Appends:
    """Produce `rate` events a second for `seconds`, on a fixed schedule
    (catching up in small bursts rather than drifting)."""
    producer = kafka.producer(**{"linger.ms": 1})
    appends = Appends()
    total = int(rate * seconds)
    began = time.monotonic()
    sent = 0
    while sent < total:
        elapsed = time.monotonic() - began
        if elapsed > seconds * 2 + 5:
            raise TimeoutError(f"paced producer fell behind: {sent}/{total} sent")
        due = min(total, int(rate * elapsed) + 1)
        while sent < due:
            eid, key, value = completed_event(tenant, first + sent)
            producer.produce(topic, value=value, key=key, on_delivery=appends.callback(eid))
            sent += 1
        producer.poll(0)
        if not worker.running():
            raise RuntimeError("webhookd exited during the paced phase\n" + worker.output()[-3000:])
        time.sleep(0.005)
    left = producer.flush(30)
    _check_acks(appends, total, left)
    return appends


def _check_acks(appends: Appends, count: int, left: int) -> None:
    if appends.errors:
        raise RuntimeError(f"{len(appends.errors)} produce errors, first: {appends.errors[0]}")
    if left or len(appends.at_ms) != count:
        raise TimeoutError(f"only {len(appends.at_ms)} of {count} events acknowledged")


# ---- One scenario ------------------------------------------------------------------

@dataclass
class Phase:
    """The receipts that belong to one phase's events, and what they show."""
    name: str
    appends: Appends
    fanout: int
    receipts: list[Receipt] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return len(self.appends.at_ms) * self.fanout

    def figures(self) -> dict:
        rs = self.receipts
        first = min(r.at_ms for r in rs)
        last = max(r.at_ms for r in rs)
        span_s = (last - first) / 1000
        latencies = [r.at_ms - self.appends.at_ms[r.webhook_id] for r in rs]
        pairs = {(r.webhook_id, r.uri) for r in rs}
        return {
            "deliveries": len(rs),
            "expected": self.expected,
            "span_s": round(span_s, 3),
            "deliveries_per_s": round(len(rs) / span_s) if span_s > 0 else None,
            "latency": latency_summary(latencies),
            "duplicates": len(rs) - len(pairs),
            "distinct_delivery_ids": len({r.delivery_id for r in rs}),
            "non_2xx": sum(1 for r in rs if not 200 <= r.status < 300),
            "unsigned": sum(1 for r in rs if not r.signed),
            "connections": len({r.connection for r in rs}),
            "mean_body_bytes": round(statistics.fmean(r.body_bytes for r in rs)),
            "mean_request_bytes": round(statistics.fmean(r.request_bytes for r in rs)),
        }

    def per_second(self) -> list[dict]:
        """Latency by second of receipt: shows whether a tail comes from
        steady jitter or from a few stalls."""
        first = min(r.at_ms for r in self.receipts)
        buckets: dict[int, list[float]] = {}
        for r in self.receipts:
            buckets.setdefault(int((r.at_ms - first) // 1000), []).append(
                r.at_ms - self.appends.at_ms[r.webhook_id])
        return [{"second": sec, "deliveries": len(v),
                 **{k: s for k, s in latency_summary(v).items() if k != "count"}}
                for sec, v in sorted(buckets.items())]


def collect(log: AccessLog, phases: list[Phase], phase: Phase, worker: Worker,
            timeout: float, on_first=None) -> None:
    """Read the access log until `phase` has all its deliveries (a receipt
    belongs to the phase whose events hold its webhook-id); on_first() is
    called as soon as the phase's first delivery is seen."""
    owner = {}
    for p in phases:
        for eid in p.appends.at_ms:
            owner[eid] = p
    deadline = time.monotonic() + timeout
    last_report = time.monotonic()
    while True:
        before = len(log.receipts)
        log.poll()
        for r in log.receipts[before:]:
            p = owner.get(r.webhook_id)
            if p is not None:
                p.receipts.append(r)
        if on_first is not None and phase.receipts:
            on_first()
            on_first = None
        if len(phase.receipts) >= phase.expected:
            return
        now = time.monotonic()
        if not worker.running():
            raise RuntimeError(f"webhookd exited with status {worker.stop()} after "
                               f"{len(phase.receipts)}/{phase.expected} deliveries\n"
                               + worker.output()[-3000:])
        if now > deadline:
            raise TimeoutError(
                f"{phase.name}: only {len(phase.receipts)} of {phase.expected} deliveries "
                f"reached nginx within {timeout:.0f}s (BENCH_TIMEOUT)\n"
                + worker.output()[-3000:])
        if now - last_report > 2:
            _fail_on_failed_deliveries(worker, phase)
            say(f"  {phase.name}: {len(phase.receipts)}/{phase.expected} delivered")
            last_report = now
        time.sleep(0.05)


def _fail_on_failed_deliveries(worker: Worker, phase: Phase) -> None:
    """Stop early when webhookd reports failed attempts: every request is
    answered 204, so a failure means the worker shed or lost deliveries and
    the figures would time retries, not deliveries."""
    failed = worker.find_logs("delivery failed")
    if failed:
        reasons = sorted({str(e.get("error") or e.get("status")) for e in failed})
        raise RuntimeError(
            f"{phase.name}: webhookd reported {len(failed)} failed delivery attempts "
            f"({'; '.join(reasons)}) after {len(phase.receipts)}/{phase.expected} "
            f"deliveries; see {worker.stdout_path}")


def scrape_metrics(addr: str) -> dict:
    """webhookd's own counters, as a cross-check of what nginx logged."""
    try:
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError as exc:
        return {"error": str(exc)}
    wanted = ("webhookd_deliveries_total", "webhookd_retries_total",
              "webhookd_dead_letters_total", "webhookd_events_consumed_total")
    out = {}
    for line in text.splitlines():
        if line.startswith(wanted):
            name, value = line.rsplit(" ", 1)
            if float(value):
                out[name] = float(value)
    return out


def run_scenario(kafka: KafkaBroker, redis: RedisServer, nginx: Nginx, log: AccessLog,
                 fanout: int, events: int, tenant: int) -> dict:
    """Backlog then paced phase against a fresh webhookd; returns the figures."""
    tag = f"f{fanout}"
    topic = f"bench.{tag}.events"
    retry_prefix = f"bench.{tag}.retry."
    dlq = f"bench.{tag}.dlq"
    handoff_topics = ordinavo.retry_topics(retry_prefix, RETRY_SCHEDULE) + [dlq]
    create_topics(kafka, [topic], DOMAIN_PARTITIONS, log_append_time=True)
    create_topics(kafka, handoff_topics, 1)
    seed_tenant(redis.client(), tenant,
                [nginx.url(f"/hook/{tenant}/{n}") for n in range(1, fanout + 1)])
    probe = Probe(redis.client(), tenant + 1)
    probe.produce(kafka, topic)

    say(f"fan-out {fanout}: producing {events} events to {topic} before webhookd starts")
    began = time.monotonic()
    backlog_appends, event_bytes = produce_backlog(kafka, topic, tenant, events, first=0)
    say(f"  produced in {time.monotonic() - began:.1f}s, mean event {event_bytes:.0f} bytes")

    http_addr = f"127.0.0.1:{proc.free_port()}"
    worker = Worker(worker_env(
        kafka, redis, topic, retry_prefix, dlq, http_addr, f"bench-{tag}",
        max_inflight=MAX_INFLIGHT, per_subscription=MAX_INFLIGHT_PER_SUBSCRIPTION),
        name=f"webhookd-{tag}")
    backlog = Phase("backlog", backlog_appends, fanout)
    paced_rate = PACED_RATE / fanout
    paced = Phase("paced", Appends(), fanout)
    try:
        worker.start()
        sampler = RssSampler(worker.pid)
        sampler.start()
        # CPU is counted from the first delivery on: joining the group and
        # fetching the first batch are not part of the delivery cost.
        first: list[Snapshot] = []
        collect(log, [backlog, paced], backlog, worker, PHASE_TIMEOUT,
                on_first=lambda: first.append(Snapshot()))
        end = Snapshot()
        start = first[0]
        probe_found = probe.check()
        backlog_usage = end.usage_since(start)
        backlog_hwm = status_kib(worker.pid, "VmHWM")
        threads = thread_cpu(worker.pid)
        say(f"  backlog delivered in {backlog_usage['wall_s']}s; paced phase: "
            f"{paced_rate:g} events/s for {PACED_SECONDS:g}s")

        start = Snapshot()
        paced.appends = produce_paced(kafka, topic, tenant, paced_rate, PACED_SECONDS,
                                      first=events, worker=worker)
        collect(log, [backlog, paced], paced, worker, 60)
        paced_usage = Snapshot().usage_since(start)
        peak_hwm = status_kib(worker.pid, "VmHWM")
        final_rss = status_kib(worker.pid, "VmRSS")
        metrics = scrape_metrics(http_addr)
        sampler.stop()
        code = worker.stop(60)
        if code != 0:
            raise RuntimeError(f"webhookd exited with status {code}\n{worker.output()[-3000:]}")
    finally:
        worker.stop(60)
        probe.stop()

    # Every delivery should succeed; anything handed to a retry tier or the
    # dead-letter topic means the figures include failures.
    handoffs = {t: kafka.end_offset(t, 0) for t in handoff_topics}
    b = backlog.figures()
    b["webhookd_cpu_s"] = backlog_usage["webhookd_cpu_s"]
    b["deliveries_per_cpu_s"] = (round(b["deliveries"] / backlog_usage["webhookd_cpu_s"])
                                 if backlog_usage["webhookd_cpu_s"] else None)
    b["usage"] = backlog_usage
    b["vm_hwm_kib"] = backlog_hwm
    b["threads_cpu_s"] = threads[:5]
    p = paced.figures()
    p["target_events_per_s"] = paced_rate
    p["per_second"] = paced.per_second()
    p["usage"] = paced_usage
    samples = sampler.samples
    if not os.environ.get("HARNESS_KEEP_TMP"):
        worker.remove_files()
    return {
        "fanout": fanout,
        "events": events,
        "mean_event_bytes": round(event_bytes),
        "backlog": b,
        "paced": p,
        "memory": {"vm_hwm_kib": peak_hwm, "rss_end_kib": final_rss,
                   "rss_sampled_max_kib": max(samples) if samples else None,
                   "rss_sampled_mean_kib": round(statistics.fmean(samples)) if samples else None,
                   "samples": len(samples)},
        "probe": probe_found,
        "handoff_records": handoffs,
        "webhookd_metrics": metrics,
    }


# ---- 1,000 requests in flight --------------------------------------------------

HELD_EVENTS = int(os.environ.get("BENCH_HELD_EVENTS", "10000"))
HELD_DELAY_S = float(os.environ.get("BENCH_HELD_DELAY", "1.0"))


class InflightSampler(Sampler):
    """Reads webhookd_inflight_deliveries from /metrics."""

    def __init__(self, addr: str):
        super().__init__("inflight-sampler")
        self.addr = addr

    def read(self) -> int | None:
        try:
            with urllib.request.urlopen(f"http://{self.addr}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None  # not answering this turn; try again
        for line in text.splitlines():
            if line.startswith("webhookd_inflight_deliveries "):
                return int(float(line.split()[1]))
        return None


def run_held(kafka: KafkaBroker, redis: RedisServer, tenant: int) -> dict:
    """webhookd against an endpoint that holds every request for
    HELD_DELAY_S: with WEBHOOKD_MAX_INFLIGHT=1000 the worker keeps a
    thousand requests open; what does that cost in memory?"""
    workdir = Path(tempfile.mkdtemp(prefix="webhookd-bench-held-"))
    port = proc.free_port()
    log_path = workdir / "held.log"
    receiver = proc.spawn([sys.executable, str(Path(__file__).with_name("held_receiver.py")),
                           "--port", str(port), "--delay", str(HELD_DELAY_S),
                           "--log", str(log_path)],
                          stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr", "wb"))

    def listening():
        if receiver.poll() is not None:
            raise RuntimeError("held_receiver.py exited:\n" + proc.tail(str(workdir / "stderr")))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    proc.wait_until(listening, 15, what=f"held receiver on port {port}")

    topic, retry_prefix, dlq = "bench.held.events", "bench.held.retry.", "bench.held.dlq"
    handoff_topics = ordinavo.retry_topics(retry_prefix, RETRY_SCHEDULE) + [dlq]
    create_topics(kafka, [topic], DOMAIN_PARTITIONS, log_append_time=True)
    create_topics(kafka, handoff_topics, 1)
    seed_tenant(redis.client(), tenant, [f"http://127.0.0.1:{port}/held"])
    say(f"held: producing {HELD_EVENTS} events; the endpoint answers after "
        f"{HELD_DELAY_S:g}s")
    produce_backlog(kafka, topic, tenant, HELD_EVENTS, first=0)

    http_addr = f"127.0.0.1:{proc.free_port()}"
    worker = Worker(worker_env(
        kafka, redis, topic, retry_prefix, dlq, http_addr, "bench-held",
        max_inflight=1000, per_subscription=1000),
        name="webhookd-held")
    began = time.monotonic()
    try:
        worker.start()
        rss = RssSampler(worker.pid)
        inflight = InflightSampler(http_addr)
        rss.start()
        inflight.start()

        def delivered() -> int:
            try:
                with open(log_path) as f:
                    return sum(1 for _ in f)
            except FileNotFoundError:
                return 0
        last = time.monotonic()
        while delivered() < HELD_EVENTS:
            if not worker.running():
                raise RuntimeError("webhookd exited\n" + worker.output()[-3000:])
            if time.monotonic() - began > PHASE_TIMEOUT + HELD_EVENTS / 500:
                raise TimeoutError(f"held: {delivered()}/{HELD_EVENTS} delivered")
            if time.monotonic() - last > 2:
                say(f"  held: {delivered()}/{HELD_EVENTS} delivered")
                last = time.monotonic()
            time.sleep(0.1)
        wall = time.monotonic() - began
        hwm = status_kib(worker.pid, "VmHWM")
        inflight.stop()
        rss.stop()
        failed = worker.find_logs("delivery failed")
        code = worker.stop(60)
        if code != 0:
            raise RuntimeError(f"webhookd exited with status {code}")
    finally:
        worker.stop(60)
        proc.stop(receiver, 10)
    lines = log_path.read_text().split("\n")
    ids = [line.split(" ", 1)[1] for line in lines if line]
    if not os.environ.get("HARNESS_KEEP_TMP"):
        worker.remove_files()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "events": HELD_EVENTS,
        "delay_s": HELD_DELAY_S,
        "deliveries": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "failed_attempts": len(failed),
        "wall_s": round(wall, 2),
        "deliveries_per_s": round(len(ids) / wall),
        "inflight_max": max(inflight.samples) if inflight.samples else None,
        "inflight_samples": len(inflight.samples),
        "vm_hwm_kib": hwm,
        "rss_sampled_max_kib": max(rss.samples) if rss.samples else None,
        "handoff_records": {t: kafka.end_offset(t, 0) for t in handoff_topics},
    }


# ---- wrk --------------------------------------------------------------------------

WRK_LUA = """\
-- Generated by tests/bench/bench.py: a webhook-shaped POST, like webhookd's.
local f = assert(io.open("{body}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Ordinavo-Webhooks/1"
wrk.headers["webhook-id"] = "evt_01JBENCHWRK0000000000000000"
wrk.headers["webhook-timestamp"] = "1767225600"
wrk.headers["webhook-signature"] = "v1,{signature}"
wrk.headers["X-Ordinavo-Event-Type"] = "appointment.completed"
wrk.headers["X-Ordinavo-Delivery-Id"] = "del_01JBENCHWRK0000000000000000"
wrk.headers["X-Ordinavo-Attempt"] = "1"
"""


def run_wrk(nginx: Nginx, body_bytes: int) -> dict:
    """wrk against the same nginx with a body of webhookd's mean size: the
    most this receiver serves on this machine, to compare webhookd with."""
    workdir = nginx.dir
    filler = "x" * max(0, body_bytes - len('{"eventId":"","pad":""}') - 30)
    body = json.dumps({"eventId": "evt_01JBENCHWRK0000000000000000", "pad": filler},
                      separators=(",", ":"))
    (workdir / "wrk-body.json").write_text(body)
    (workdir / "wrk.lua").write_text(WRK_LUA.format(body=workdir / "wrk-body.json",
                                                    signature="A" * 43 + "="))
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s",
            "-s", str(workdir / "wrk.lua"), nginx.url("/wrk/hook")]
    say(f"wrk: {' '.join(argv[:4])} with a {len(body)}-byte POST body")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=WRK_SECONDS + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    lat = re.search(r"Latency\s+(\S+)", out.stdout)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out.stdout)
    if rps is None:
        raise RuntimeError(f"cannot read Requests/sec from wrk's output:\n{out.stdout}")
    return {"command": " ".join(argv[:4]) + " URL", "body_bytes": len(body),
            "requests_per_s": round(float(rps.group(1))),
            "latency_avg": lat.group(1) if lat else None,
            "non_2xx": int(errors.group(1)) if errors else 0}


# ---- Report -------------------------------------------------------------------------

def fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def table(results: dict) -> str:
    m = results["machine"]
    sc = results["scenarios"]
    rows = [("", *[f"fan-out {s['fanout']}" for s in sc])]

    def row(label, get, unit=""):
        rows.append((label, *[fmt(get(s), unit) for s in sc]))

    row("events pre-produced", lambda s: s["events"])
    row("mean event size", lambda s: s["mean_event_bytes"], " B")
    row("mean webhook body", lambda s: s["backlog"]["mean_body_bytes"], " B")
    rows.append(("backlog phase", *["" for _ in sc]))
    row("  deliveries", lambda s: s["backlog"]["deliveries"])
    row("  throughput", lambda s: s["backlog"]["deliveries_per_s"], " /s")
    row("  events/s", lambda s: s["backlog"]["deliveries_per_s"] // s["fanout"], " /s")
    row("  latency p50 (queued)", lambda s: s["backlog"]["latency"]["p50_ms"], " ms")
    row("  latency p99 (queued)", lambda s: s["backlog"]["latency"]["p99_ms"], " ms")
    row("  latency max (queued)", lambda s: s["backlog"]["latency"]["max_ms"], " ms")
    for name in ("webhookd", "kafka", "nginx", "redis", "bench (python)", "other"):
        row(f"  CPU {name}", lambda s, n=name:
            s["backlog"]["usage"]["cpu_pct_of_one_core"].get(n), " %")
    row("  machine busy (all cores)", lambda s: s["backlog"]["usage"]["machine_busy_pct"], " %")
    row("  deliveries per CPU-s", lambda s: s["backlog"]["deliveries_per_cpu_s"])
    row("  vs wrk ceiling", lambda s: round(100 * s["ratio_to_wrk"], 1), " %")
    rows.append(("paced phase", *["" for _ in sc]))
    row("  rate (events/s)", lambda s: s["paced"]["target_events_per_s"])
    row("  deliveries", lambda s: s["paced"]["deliveries"])
    row("  latency p50", lambda s: s["paced"]["latency"]["p50_ms"], " ms")
    row("  latency p99", lambda s: s["paced"]["latency"]["p99_ms"], " ms")
    row("  latency max", lambda s: s["paced"]["latency"]["max_ms"], " ms")
    row("  CPU webhookd", lambda s: s["paced"]["usage"]["cpu_pct_of_one_core"].get("webhookd"),
        " %")
    rows.append(("memory", *["" for _ in sc]))
    row("  peak RSS (VmHWM)", lambda s: s["memory"]["vm_hwm_kib"] // 1024, " MiB")
    row("  sampled RSS mean", lambda s: (s["memory"]["rss_sampled_mean_kib"] or 0) // 1024,
        " MiB")
    rows.append(("checks", *["" for _ in sc]))
    row("  non-2xx / unsigned", lambda s: f"{s['backlog']['non_2xx'] + s['paced']['non_2xx']}"
        f" / {s['backlog']['unsigned'] + s['paced']['unsigned']}")
    row("  duplicates", lambda s: s["backlog"]["duplicates"] + s["paced"]["duplicates"])
    row("  retry/DLQ records", lambda s: sum(s["handoff_records"].values()))
    row("  HTTP connections", lambda s: s["backlog"]["connections"])
    row("  probe: signature", lambda s: s["probe"]["signature"])
    row("  probe: body bytes", lambda s: s["probe"]["body_bytes"])

    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"webhookd benchmark, {results['date']}, commit {results['git']['commit']}"
             f"{' (dirty)' if results['git']['dirty'] else ''}",
             f"machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['memory_mib']} MiB, "
             f"Linux {m['kernel']}; busy before the run: {results['background_busy_pct']}%",
             ""]
    for r in rows:
        lines.append("  ".join([r[0].ljust(width[0])]
                               + [c.rjust(w) for c, w in zip(r[1:], width[1:])]))
    h = results.get("held")
    if h:
        lines += ["", f"1,000 in flight: {fmt(h['deliveries'])} deliveries to an endpoint that "
                      f"answers after {h['delay_s']:g} s, {fmt(h['deliveries_per_s'])} /s; "
                      f"in flight at most {fmt(h['inflight_max'])}; peak RSS "
                      f"{h['vm_hwm_kib'] // 1024} MiB; failed attempts "
                      f"{h['failed_attempts']}, duplicates {h['duplicates']}"]
    w = results["wrk"]
    lines += ["", f"wrk ceiling: {fmt(w['requests_per_s'])} requests/s "
                  f"({w['command']}, {w['body_bytes']}-byte body, avg latency "
                  f"{w['latency_avg']}) against the same nginx "
                  f"({results['config']['nginx_workers']} worker process(es))",
              f"note: {LATENCY_NOTE}.",
              f"results: {results['results_file']}"]
    return "\n".join(lines)


def main() -> int:
    proc.install_signal_exit()
    counts = events_per_scenario()
    results: dict = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "git": git_info(),
        "config": {"events": counts, "domain_partitions": DOMAIN_PARTITIONS,
                   "retry_schedule": RETRY_SCHEDULE, "max_inflight": MAX_INFLIGHT,
                   "max_inflight_per_subscription": MAX_INFLIGHT_PER_SUBSCRIPTION,
                   "paced_rate_deliveries_per_s": PACED_RATE,
                   "paced_seconds": PACED_SECONDS, "nginx_workers": NGINX_WORKERS,
                   "log_level": "warn"},
        "notes": [LATENCY_NOTE],
        "scenarios": [],
        "results_file": str((RESULTS_DIR / "latest.json").relative_to(REPO_ROOT)),
    }
    kafka = redis = nginx = None
    began = time.monotonic()
    results["background_busy_pct"] = background_load()
    if results["background_busy_pct"] > 10:
        say(f"warning: the machine was already {results['background_busy_pct']}% busy "
            f"before the benchmark started; the figures will be lower than on an "
            f"idle machine")
    try:
        say("starting Kafka, Redis and nginx")
        kafka = KafkaBroker().start()
        redis = RedisServer().start()
        nginx = Nginx(NGINX_WORKERS).start()
        log = AccessLog(nginx.access_log)
        for tenant, fanout in ((7101, 1), (7110, 10)):
            results["scenarios"].append(
                run_scenario(kafka, redis, nginx, log, fanout, counts[fanout], tenant))
        if HELD_EVENTS > 0:
            results["held"] = run_held(kafka, redis, 7201)
        body = results["scenarios"][0]["backlog"]["mean_body_bytes"]
        results["wrk"] = run_wrk(nginx, body)
        for s in results["scenarios"]:
            s["ratio_to_wrk"] = round(s["backlog"]["deliveries_per_s"]
                                      / results["wrk"]["requests_per_s"], 3)
        # Requests whose webhook-id belongs to no event of this run.
        results["unmatched_receipts"] = len(log.receipts) - sum(
            s["backlog"]["deliveries"] + s["paced"]["deliveries"] for s in results["scenarios"])
    except BaseException as exc:
        results["error"] = f"{type(exc).__name__}: {exc}"
        _write(results)
        say(f"FAILED: {results['error']}")
        return 1
    finally:
        if nginx is not None:
            nginx.stop()
        if redis is not None:
            redis.cleanup()
        if kafka is not None:
            kafka.stop()
    results["total_seconds"] = round(time.monotonic() - began, 1)
    _write(results)
    print(table(results))
    return 0


def _write(results: dict) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "latest.json"
    path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
