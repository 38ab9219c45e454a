#!/usr/bin/env bash
# Installs everything the build, the tests, the demo and the benchmark need,
# on Debian 12. Safe to run again: each step checks first and does nothing
# when its part is already in place.
#
#   Debian packages   compiler, -dev libraries, redis-server, nginx, wrk,
#                     Java and Maven, valgrind, clang-format
#   .deps/kafka/lib   the Apache Kafka broker jars, from Maven Central
#   .deps/venv        Python clients for the tests (tests/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    build-essential pkg-config clang-format valgrind
    librdkafka-dev libcurl4-openssl-dev libjansson-dev libhiredis-dev
    libavro-dev libssl-dev libmicrohttpd-dev libmimalloc-dev libcmocka-dev
    redis-server nginx-light wrk curl
    default-jre-headless maven
    python3 python3-venv
)

say() { printf 'deps: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Kafka jars: fetched again only when the POM changes.
pom=tests/kafka/pom.xml
stamp=.deps/kafka/pom.sha256
want=$(sha256sum "$pom" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "fetching the Kafka broker jars from Maven Central"
    rm -rf .deps/kafka/lib
    mkdir -p .deps/kafka
    mvn -q -B -f "$pom" dependency:copy-dependencies \
        -DoutputDirectory="$PWD/.deps/kafka/lib" -DincludeScope=runtime
    echo "$want" > "$stamp"
fi

# Python test clients in a virtual environment of their own.
req=tests/requirements.txt
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .deps/venv/bin/python ] || [ "$(cat .deps/venv/req.sha256 2>/dev/null)" != "$want" ]; then
    say "installing the Python test clients"
    python3 -m venv .deps/venv
    .deps/venv/bin/pip install -q --disable-pip-version-check -r "$req"
    echo "$want" > .deps/venv/req.sha256
fi
say "ready"
