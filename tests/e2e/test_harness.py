"""Checks of the harness itself, so a failing end-to-end test points at the
worker and not at the receiver, Kafka or Redis helpers. None needs webhookd."""

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import ordinavo
from harness.receiver import Receiver, check_signature

TESTS_DIR = Path(__file__).resolve().parents[1]


def _post(conn, path, body=b"{}", headers=None):
    conn.request("POST", path, body=body, headers=headers or {"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, resp.getheader("Retry-After"), resp.read()


def test_receiver_records_and_answers_per_path():
    with Receiver() as recv:
        recv.set("/slow", status=429, retry_after=7, body=b"later")
        recv.set_sequence("/flaky", [500, {"status": 503, "retry_after": "2"}, 204])
        conn = http.client.HTTPConnection("127.0.0.1", recv.port, timeout=10)
        # One connection for every request: the receiver must keep it alive.
        assert _post(conn, "/plain", b'{"a":1}', {"X-Test": "yes"})[0] == 204
        assert _post(conn, "/slow") == (429, "7", b"later")
        assert [_post(conn, "/flaky")[:2] for _ in range(4)] == [
            (500, None), (503, "2"), (204, None), (204, None)]
        conn.close()

        plain = recv.wait_for("/plain", 1, timeout=5)[0]
        assert plain.method == "POST"
        assert plain.body == b'{"a":1}'
        assert plain.headers["x-test"] == "yes"
        assert plain.json() == {"a": 1}
        assert len(recv.requests()) == 6
        assert len(recv.requests("/flaky")) == 4
        with pytest.raises(TimeoutError, match="expected 1 request"):
            recv.wait_for("/never", 1, timeout=0.3)
        recv.clear()
        assert recv.requests() == []


def test_receiver_delay_and_query_strings():
    with Receiver() as recv:
        recv.set("/d", delay=0.3)
        conn = http.client.HTTPConnection("127.0.0.1", recv.port, timeout=10)
        began = time.monotonic()
        assert _post(conn, "/d?x=1")[0] == 204
        assert time.monotonic() - began >= 0.3
        assert recv.requests("/d")[0].path == "/d?x=1"


def test_receiver_checks_standard_webhooks_signatures():
    """The published Standard Webhooks test vector, through the receiver's checker."""
    from harness.receiver import Request
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    now = int(time.time())
    from standardwebhooks import Webhook
    from datetime import datetime, timezone
    body = b'{"test": 2432232314}'
    sig = Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek",
                               datetime.fromtimestamp(now, timezone.utc), body)
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
               "webhook-timestamp": str(now), "webhook-signature": sig}
    req = Request("POST", "/", headers, body, time.time())
    assert check_signature(req, [secret]) == "valid"
    assert check_signature(req, [ordinavo.new_secret()]) == "INVALID"
    tampered = Request("POST", "/", headers, body + b" ", time.time())
    assert check_signature(tampered, [secret]) == "INVALID"
    # The vector itself, at its own timestamp.
    fixed = Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek",
                                 datetime.fromtimestamp(1614265330, timezone.utc), body)
    assert fixed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_receiver_standalone_prints_one_line_per_delivery():
    from harness.proc import free_port, spawn, stop
    port = free_port()
    p = spawn([sys.executable, "-u", "-m", "harness.receiver", "--port", str(port),
               "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
              env={"PYTHONPATH": str(TESTS_DIR), "PATH": "/usr/bin:/bin"},
              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert b"listening" in p.stdout.readline()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert _post(conn, "/hook", b'{"x":1}', {
            "webhook-id": "evt_1", "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA", "X-Ordinavo-Event-Type": "target.imported",
            "X-Ordinavo-Attempt": "1"})[0] == 204
        line = p.stdout.readline().decode()
        assert "type=target.imported" in line and "id=evt_1" in line
        assert "attempt=1" in line and "signature=INVALID" in line
        assert line.rstrip().endswith('body={"x":1}')
    finally:
        stop(p)


def test_redis_restarts_on_the_same_port(redis):
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    client = redis.client(retry=Retry(NoBackoff(), 0))  # fail at once when down
    client.set("harness:probe", "1")
    port, url = redis.port, redis.url
    redis.stop()
    with pytest.raises(Exception):
        client.ping()
    redis.start()
    assert (redis.port, redis.url) == (port, url)
    assert redis.client().ping()


def test_kafka_topics_produce_and_committed_offsets(kafka, producer):
    from confluent_kafka import Consumer
    topic = f"harness.probe.{ordinavo.ulid().lower()}"
    kafka.create_topics([topic])
    offsets = [ordinavo.produce(producer, topic, {"n": i}) for i in range(3)]
    assert offsets == [0, 1, 2]
    assert kafka.end_offset(topic) == 3
    group = "harness-probe-" + ordinavo.ulid()
    assert kafka.committed_offset(group, topic) == -1
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        seen = []
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                seen.append(json.loads(m.value()))
                c.commit(m, asynchronous=False)
        assert seen == [{"n": 0}, {"n": 1}, {"n": 2}]
    finally:
        c.close()
    assert kafka.committed_offset(group, topic) == 3


def test_worker_wrapper_captures_logs_and_signals(tmp_path):
    """The Worker class around a stand-in program (a shell script)."""
    from conftest import _ALL_SECRETS, _secret_leaks
    from harness.worker import Worker
    secret = ordinavo.new_secret()
    script = tmp_path / "fake-webhookd"
    script.write_text(
        "#!/bin/sh\n"
        "echo '{\"time\":\"t\",\"level\":\"info\",\"msg\":\"worker started\"}'\n"
        f"echo 'oops {secret}' >&2\n"
        "echo 'not json'\n"
        "trap 'echo \"{\\\"time\\\":\\\"t\\\",\\\"level\\\":\\\"info\\\",\\\"msg\\\":\\\"shutdown complete\\\"}\"; exit 0' TERM\n"
        "while :; do sleep 0.1; done\n")
    script.chmod(0o755)
    w = Worker({"WEBHOOKD_LOG_LEVEL": "debug"}, binary=script).start()
    try:
        assert w.wait_for_log("worker started", timeout=10)["level"] == "info"
        with pytest.raises(TimeoutError, match="msg='delivered'"):
            w.wait_for_log("delivered", timeout=0.5)
        proc_wait = time.monotonic() + 10
        while "not json" not in w.stdout_lines() and time.monotonic() < proc_wait:
            time.sleep(0.05)
        assert w.non_json_lines() == ["not json"]
        _ALL_SECRETS.add(secret)
        try:
            assert _secret_leaks(w) == [f"  {w.name} stderr line 1"]
        finally:
            _ALL_SECRETS.discard(secret)
        assert w.stop(timeout=10) == 0
        assert w.logs()[-1]["msg"] == "shutdown complete"
        assert w.stdout_path.read_text().count("\n") == 3
    finally:
        w.stop()
        w.remove_files()
