#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh machine.
#
#   bash scripts/test.sh
#
# Starts the backing services the tests need (Redis and ClickHouse, with
# scripts/services.sh)
# and stops at exit those it started.
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
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p sentry-relay-core --features redis --all-targets --locked -- -D warnings

step "real SDKs for the end-to-end tests (sentry-sdk from PyPI, @sentry/node from npm)"
bash scripts/install-sdks.sh

step "headless Chromium and chromedriver for the browser tests (Debian packages)"
bash scripts/install-browser.sh

step "backing services for the tests (Redis and ClickHouse on 127.0.0.1, see scripts/services.sh)"
# Stop at exit only what this run started; a developer's running services stay.
started=()
for service in redis clickhouse; do
    bash scripts/services.sh status "$service" >/dev/null || started+=("$service")
done
if ((${#started[@]} > 0)); then
    trap 'bash scripts/services.sh stop "${started[@]}" || true' EXIT
fi
bash scripts/services.sh start redis clickhouse
eval "$(bash scripts/services.sh env redis clickhouse)"
echo "SENTRY_TEST_REDIS_URL=$SENTRY_TEST_REDIS_URL"
echo "SENTRY_TEST_CLICKHOUSE_URL=$SENTRY_TEST_CLICKHOUSE_URL"

step "tests"
cargo test --workspace --locked
# The Redis quota counter: feature `redis` of sentry-relay-core, real server.
cargo test -p sentry-relay-core --features redis --locked --test it redis

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

step "benchmarks run (one iteration each)"
cargo bench -p sentry-envelope --bench parse --locked -- --test
cargo bench -p sentry-relay-core --bench process --locked -- --test

step "fuzz targets (${FUZZ_SECONDS:-20} s each)"
bash fuzz/run.sh "${FUZZ_SECONDS:-20}"

step "done in $(( $(date +%s) - start )) s"
