"""CPU instructions per delivery, counted by callgrind (`make bench-instructions`).

Throughput on a shared two-core virtual machine moves by a third from one
run to the next; the number of instructions webhookd executes for a
delivery does not. This measures it for the same events, subscriptions and
nginx receiver as `make bench`:

  1. start webhookd under `valgrind --tool=callgrind` (about 50 times slower,
     so the worker's queue-wait and request bounds are raised to match);
  2. deliver a warm-up batch, so that connections, caches and Kafka fetches
     are set up;
  3. zero callgrind's counters, deliver N more events, dump the counters;
  4. instructions of the dump / deliveries.

The count covers the worker's whole process (its main thread and the
threads of librdkafka and libmicrohttpd), user space only: the kernel's
share (loopback TCP) is not included. Compare figures from the same machine
type and package versions; the number moves a little with timing (how many
deliveries a loop turn handles), by about 1 % between runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import bench
from harness import KafkaBroker, RedisServer, Worker, ordinavo, proc
from harness.worker import webhookd_bin

WARMUP_EVENTS = 200
EVENTS = {1: int(os.environ.get("BENCH_INSTR_EVENTS", "3000"))}
EVENTS[10] = max(1, EVENTS[1] // 10)
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "600"))


def wait_receipts(log: bench.AccessLog, want: int, worker: Worker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(log.receipts) < want:
        log.poll()
        if not worker.running():
            raise RuntimeError("webhookd exited\n" + worker.output()[-3000:])
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(log.receipts)} of {want} deliveries after {timeout:.0f}s")
        time.sleep(0.2)
    bad = [r for r in log.receipts if r.status != 204 or not r.signed]
    if bad:
        raise RuntimeError(f"{len(bad)} deliveries were not answered 204 or not signed")


def callgrind_control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


def dumped_instructions(out: Path) -> int:
    """The instruction total of the first dump made by callgrind_control."""
    dumps = sorted(out.parent.glob(out.name + ".*"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump next to {out}")
    for line in dumps[0].read_text(errors="replace").splitlines():
        m = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if m:
            return int(m.group(1))
    raise RuntimeError(f"no instruction total in {dumps[0]}")


def run(kafka: KafkaBroker, redis: RedisServer, nginx: bench.Nginx, fanout: int,
        events: int, tenant: int, tmp: Path) -> dict:
    tag = f"i{fanout}"
    topic = f"instr.{tag}.events"
    retry_prefix = f"instr.{tag}.retry."
    dlq = f"instr.{tag}.dlq"
    bench.create_topics(kafka, [topic], bench.DOMAIN_PARTITIONS)
    bench.create_topics(kafka, ordinavo.retry_topics(retry_prefix, bench.RETRY_SCHEDULE)
                        + [dlq], 1)
    bench.seed_tenant(redis.client(), tenant,
                      [nginx.url(f"/hook/{tenant}/{n}") for n in range(1, fanout + 1)])
    log = bench.AccessLog(nginx.access_log)
    log.poll()
    log.receipts.clear()

    out = tmp / f"callgrind.{tag}.out"
    env = bench.worker_env(kafka, redis, topic, retry_prefix, dlq,
                           f"127.0.0.1:{proc.free_port()}", f"instr-{tag}",
                           max_inflight=bench.MAX_INFLIGHT,
                           per_subscription=bench.MAX_INFLIGHT_PER_SUBSCRIPTION)
    # Under callgrind everything is slower: no delivery may be shed or time out.
    env.update({"WEBHOOKD_MAX_QUEUE_WAIT": "10m", "WEBHOOKD_REQUEST_TIMEOUT": "10m"})
    worker = Worker(env, binary=shutil.which("valgrind"),
                    args=["--tool=callgrind", f"--callgrind-out-file={out}",
                          str(webhookd_bin())], name=f"callgrind-{tag}")
    try:
        worker.start()
        bench.produce_backlog(kafka, topic, tenant, WARMUP_EVENTS, first=0)
        wait_receipts(log, WARMUP_EVENTS * fanout, worker, TIMEOUT)
        callgrind_control("--zero", str(worker.pid))
        bench.say(f"fan-out {fanout}: counting {events} events ({events * fanout} deliveries)")
        bench.produce_backlog(kafka, topic, tenant, events, first=WARMUP_EVENTS)
        wait_receipts(log, (WARMUP_EVENTS + events) * fanout, worker, TIMEOUT)
        callgrind_control("--dump", str(worker.pid))
        instructions = dumped_instructions(out)
        code = worker.stop(120)
        if code != 0:
            raise RuntimeError(f"webhookd exited with status {code}\n{worker.output()[-3000:]}")
    finally:
        worker.stop(120)
    deliveries = events * fanout
    return {"fanout": fanout, "events": events, "deliveries": deliveries,
            "instructions": instructions,
            "instructions_per_delivery": round(instructions / deliveries),
            "instructions_per_event": round(instructions / events)}


def main() -> int:
    proc.install_signal_exit()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("bench-instructions: valgrind is missing; run `make deps`")
    tmp = Path(tempfile.mkdtemp(prefix="webhookd-instr-"))
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "machine": bench.machine_info(), "git": bench.git_info(),
               "webhook_bodies": "as in make bench (792 bytes, enriched, signed)",
               "scenarios": []}
    kafka = redis = nginx = None
    try:
        bench.say("starting Kafka, Redis and nginx")
        kafka = KafkaBroker().start()
        redis = RedisServer().start()
        nginx = bench.Nginx(1).start()
        for tenant, fanout in ((7301, 1), (7310, 10)):
            results["scenarios"].append(
                run(kafka, redis, nginx, fanout, EVENTS[fanout], tenant, tmp))
    finally:
        for service in (nginx, kafka):
            if service is not None:
                service.stop()
        if redis is not None:
            redis.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    bench.RESULTS_DIR.mkdir(exist_ok=True)
    (bench.RESULTS_DIR / "instructions.json").write_text(json.dumps(results, indent=2) + "\n")
    print("instructions per delivery (callgrind, user space, whole process)")
    for s in results["scenarios"]:
        print(f"  fan-out {s['fanout']:>2}: {s['instructions_per_delivery']:>9,} per delivery, "
              f"{s['instructions_per_event']:>10,} per event ({s['deliveries']:,} deliveries)")
    print("results: bench-results/instructions.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
