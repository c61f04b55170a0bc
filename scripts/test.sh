#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh machine.
#
#   bash scripts/test.sh
#
# Starts the backing services the tests need (Redis, ClickHouse, PostgreSQL
# and a Kafka-protocol broker, with scripts/services.sh) and stops at exit
# those it started.
#
# Environment: FUZZ_SECONDS (per fuzz target, default 20); SERVICES_DIR and
# the ports of scripts/services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "format"
cargo fmt --all -- --check

step "clippy (all targets, warnings are errors)"
# The workspace build has every backend feature on (bins/services asks for
# Kafka, PostgreSQL and Redis); these crates also build without them.
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p sentry-stream -p sentry-eventstore -p sentry-relay-core --all-targets --locked -- -D warnings

step "real SDKs for the end-to-end tests (sentry-sdk from PyPI, @sentry/node from npm)"
bash scripts/install-sdks.sh

step "headless Chromium and chromedriver for the browser tests (Debian packages)"
bash scripts/install-browser.sh

step "backing services for the tests (Redis, ClickHouse, PostgreSQL and Kafka on 127.0.0.1, see scripts/services.sh)"
# Stop at exit only what this run started; a developer's running services stay.
started=()
# (The broker keeps its log through the s3 service, which it starts.)
for service in redis clickhouse postgres kafka s3; do
    bash scripts/services.sh status "$service" >/dev/null || started+=("$service")
done
if ((${#started[@]} > 0)); then
    trap 'bash scripts/services.sh stop "${started[@]}" || true' EXIT
fi
bash scripts/services.sh start redis clickhouse postgres kafka
eval "$(bash scripts/services.sh env redis clickhouse postgres kafka)"
echo "SENTRY_TEST_REDIS_URL=$SENTRY_TEST_REDIS_URL"
echo "SENTRY_TEST_CLICKHOUSE_URL=$SENTRY_TEST_CLICKHOUSE_URL"
echo "SENTRY_TEST_POSTGRES_URL=$SENTRY_TEST_POSTGRES_URL"
echo "SENTRY_TEST_KAFKA_URL=$SENTRY_TEST_KAFKA_URL"

step "tests"
# With the workspace's features: the Redis quota counter, the PostgreSQL
# store and the Kafka stream run their conformance suites against the real
# servers, and bins/services runs the scaled deployment end to end.
cargo test --workspace --locked

step "layer-0 and layer-1 crates have no runtime, network or database dependency"
forbidden='^(tokio|hyper|reqwest|ureq|sqlx|rdkafka|redis|clickhouse|axum|mio)$'
for crate in sentry-envelope sentry-relay-core; do
    deps=$(cargo tree -p "$crate" -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
    if bad=$(grep -E "$forbidden" <<<"$deps"); then
        echo "$crate depends on: $bad" >&2
        exit 1
    fi
    echo "ok: $crate: $(wc -l <<<"$deps") crates, none of them I/O"
done
# With its `redis` feature, sentry-relay-core gains the synchronous Redis
# client and still no async runtime.
deps=$(cargo tree -p sentry-relay-core --features redis -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
if bad=$(grep -E "$forbidden" <<<"$deps" | grep -vx redis); then
    echo "sentry-relay-core --features redis depends on: $bad" >&2
    exit 1
fi
echo "ok: sentry-relay-core --features redis: the redis client, no async runtime"
# librdkafka (a C build) only where Kafka is used: bins/services.
for crate in sentry-envelope sentry-relay-core sentry-snuba sentry-eventstore sentry-stream sentry-web sentry-server; do
    if cargo tree -p "$crate" -e normal --prefix none --format '{p}' | grep -q '^rdkafka'; then
        echo "$crate builds librdkafka" >&2
        exit 1
    fi
done
echo "ok: only bins/services builds librdkafka"

step "benchmarks run (one iteration each)"
cargo bench -p sentry-envelope --bench parse --locked -- --test
cargo bench -p sentry-relay-core --bench process --locked -- --test

step "fuzz targets (${FUZZ_SECONDS:-20} s each)"
bash fuzz/run.sh "${FUZZ_SECONDS:-20}"

step "done in $(( $(date +%s) - start )) s"
