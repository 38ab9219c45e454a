"""Test harness for the webhook workers: real Kafka, Redis and HTTP on loopback.

Each service is a class that starts a private instance in a temporary
directory and stops it again; the end-to-end tests (tests/e2e) and the demo
(scripts/demo.sh) are both built from these pieces.

The classes are imported lazily, so that `python -m harness.receiver` runs
the receiver module fresh instead of one this package already imported.
"""

_EXPORTS = {
    "KafkaBroker": "kafka",
    "RedisServer": "redis_server",
    "Receiver": "receiver",
    "Worker": "worker",
    "webhookd_bin": "worker",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
