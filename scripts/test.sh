#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh machine.
#
#   bash scripts/test.sh
#
# Environment: FUZZ_SECONDS (per fuzz target, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "format"
cargo fmt --all -- --check

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "real SDKs for the end-to-end tests (sentry-sdk from PyPI, @sentry/node from npm)"
bash scripts/install-sdks.sh

step "tests"
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

step "benchmarks run (one iteration each)"
cargo bench -p sentry-envelope --bench parse --locked -- --test

step "fuzz targets (${FUZZ_SECONDS:-20} s each)"
bash fuzz/run.sh "${FUZZ_SECONDS:-20}"

step "done in $(( $(date +%s) - start )) s"
