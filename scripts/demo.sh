#!/usr/bin/env bash
# Runs webhookd against a local stack (Kafka, Redis, a webhook receiver) with
# two sample tenants and prints every delivery as it arrives. `make demo`
# builds and installs what it needs first. Extra arguments go to the demo
# (--interval SECONDS, --duration SECONDS). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

python=.deps/venv/bin/python
if [ ! -x "$python" ]; then
    echo "demo: $python is missing; run \`make deps\` first" >&2
    exit 1
fi
if [ ! -d .deps/kafka/lib ]; then
    echo "demo: the Kafka jars (.deps/kafka/lib) are missing; run \`make deps\` first" >&2
    exit 1
fi
export WEBHOOKD_BIN="${WEBHOOKD_BIN:-$PWD/build/default/webhookd}"
if [ ! -x "$WEBHOOKD_BIN" ]; then
    echo "demo: $WEBHOOKD_BIN is missing; run \`make\` first" >&2
    exit 1
fi
PYTHONPATH=tests exec "$python" -m harness.demo "$@"
