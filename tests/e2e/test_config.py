"""Configuration from WEBHOOKD_* variables (SPEC section 8)."""

import subprocess

import pytest

from conftest import base_worker_env
from harness.worker import base_env, webhookd_bin

SPEC_VARIABLES = [
    "WEBHOOKD_KAFKA_BROKERS", "WEBHOOKD_KAFKA_GROUP", "WEBHOOKD_TOPICS",
    "WEBHOOKD_REDIS_URL", "WEBHOOKD_RETRY_SCHEDULE", "WEBHOOKD_RETRY_TOPIC_PREFIX",
    "WEBHOOKD_DLQ_TOPIC", "WEBHOOKD_ATTEMPTS_TOPIC", "WEBHOOKD_SCHEMA_REGISTRY_URL",
    "WEBHOOKD_SCHEMA_DIR", "WEBHOOKD_CACHE_TTL", "WEBHOOKD_MAX_INFLIGHT",
    "WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION", "WEBHOOKD_CONNECT_TIMEOUT",
    "WEBHOOKD_REQUEST_TIMEOUT", "WEBHOOKD_ALLOW_HTTP",
    "WEBHOOKD_ALLOW_PRIVATE_DESTINATIONS", "WEBHOOKD_HTTP_ADDR", "WEBHOOKD_LOG_LEVEL",
]


def run(args, env, timeout=20):
    binary = webhookd_bin()
    if not binary.exists():
        pytest.fail(f"webhookd not built: {binary} does not exist (run `make`)")
    try:
        return subprocess.run([str(binary), *args], env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"webhookd {' '.join(args)} still running after {timeout}s "
                    f"(stderr: {exc.stderr!r})")


def test_help_lists_every_variable_and_exits_zero():
    result = run(["--help"], base_env())
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    missing = [v for v in SPEC_VARIABLES if v not in text]
    assert missing == [], f"--help does not mention {missing}"
    # Defaults are shown next to the names (these two are fixed by the spec).
    assert "ordinavo.webhooks.dlq" in text
    assert "ordinavo.webhooks.retry." in text


@pytest.mark.parametrize("name,value", [
    ("WEBHOOKD_MAX_INFLIGHT", "abc"),
    ("WEBHOOKD_MAX_INFLIGHT", "-1"),
    ("WEBHOOKD_MAX_INFLIGHT_PER_SUBSCRIPTION", "12x"),
    ("WEBHOOKD_REQUEST_TIMEOUT", "-3s"),
    ("WEBHOOKD_CONNECT_TIMEOUT", "5 parsecs"),
    ("WEBHOOKD_CACHE_TTL", "soon"),
    ("WEBHOOKD_REDIS_URL", "http://x"),
    ("WEBHOOKD_LOG_LEVEL", "loud"),
    ("WEBHOOKD_ALLOW_HTTP", "perhaps"),
])
def test_invalid_value_exits_2_naming_the_variable(kafka, redis, name, value):
    """Everything else valid, so the one bad variable is the only reason to stop."""
    env = base_env(base_worker_env(kafka, redis, "e2e-config", ["e2e.config.unused"]))
    env[name] = value
    result = run([], env)
    assert result.returncode == 2, (
        f"{name}={value!r}: exit status {result.returncode}, stderr: {result.stderr!r}")
    assert name in result.stderr, f"stderr does not name {name}: {result.stderr!r}"
