#!/usr/bin/env bash
# Throughput and latency benchmark of webhookd against real Kafka, Redis and
# nginx on loopback, compared with wrk against the same nginx. `make bench`
# installs and builds what it needs first. Results: a table on stdout and
# bench-results/latest.json. Knobs (environment): see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

python=.deps/venv/bin/python
if [ ! -x "$python" ]; then
    echo "bench: $python is missing; run \`make deps\` first" >&2
    exit 1
fi
export WEBHOOKD_BIN="${WEBHOOKD_BIN:-$PWD/build/default/webhookd}"
if [ ! -x "$WEBHOOKD_BIN" ]; then
    echo "bench: $WEBHOOKD_BIN is missing; run \`make\` first" >&2
    exit 1
fi
# BENCH_SCRIPT=instructions runs the instruction count instead (make
# bench-instructions).
PYTHONPATH=tests exec "$python" "tests/bench/${BENCH_SCRIPT:-bench}.py" "$@"
