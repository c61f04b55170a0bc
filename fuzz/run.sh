#!/usr/bin/env bash
# Fuzzes sentry-envelope on a stable toolchain, without cargo-fuzz.
#
# usage: bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds the targets of fuzz/Cargo.toml with libFuzzer's coverage
# instrumentation (stable rustc flags only), seeds fuzz/corpus/<target>/ from
# the real-SDK fixtures, replays fuzz/regressions/<target>-* and fuzzes each
# target for SECONDS_PER_TARGET seconds (default 20). Crashes go to
# fuzz/artifacts/<target>/. Exits non-zero if any target fails.
#
# Environment:
#   FUZZ_TARGET_DIR  cargo target directory (default: fuzz/target)
#   FUZZ_ARGS        extra libFuzzer arguments, e.g. "-jobs=2 -workers=2"
#   FUZZ_VERBOSE=1   show libFuzzer's output as it runs
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$fuzz_dir/.." && pwd)"
all_targets=(envelope dsn auth decompress store_body multipart minidump security_report snql search)

usage() {
    echo "usage: bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    echo "targets: ${all_targets[*]}" >&2
    exit 2
}

secs="${1:-20}"
[[ "$secs" =~ ^[0-9]+$ ]] && ((secs > 0)) || usage
(($# > 0)) && shift
if (($# > 0)); then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "unknown target: $t" >&2; usage; }
done

# --- build ---------------------------------------------------------------
# The flags cargo-fuzz uses, minus the nightly-only ones (-Zsanitizer): the
# sancov pass with inline 8-bit counters and a PC table (libFuzzer's
# coverage), comparison tracing (for its value profile and dictionary
# hints), and debug assertions and overflow checks in the release build.
# `--target` keeps the flags away from build scripts and proc macros, which
# would not link against libFuzzer's coverage callbacks.
host="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$fuzz_dir/target}"
unset CARGO_ENCODED_RUSTFLAGS
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"

bin_args=()
for t in "${targets[@]}"; do bin_args+=(--bin "$t"); done
echo "==> building ${targets[*]} (release, $host, sancov)"
cargo build --release --manifest-path "$fuzz_dir/Cargo.toml" --target "$host" "${bin_args[@]}"
bin_dir="$CARGO_TARGET_DIR/$host/release"

# --- seed ----------------------------------------------------------------
echo "==> seeding fuzz/corpus/"
for t in "${targets[@]}"; do mkdir -p "$fuzz_dir/corpus/$t" "$fuzz_dir/artifacts/$t"; done
if command -v python3 >/dev/null; then
    python3 "$fuzz_dir/seeds.py" "$repo/sentry-envelope/fixtures" "$fuzz_dir/corpus" "${targets[@]}"
else
    echo "  python3 not found: fuzzing from the existing corpus only" >&2
fi

# --- fuzz ----------------------------------------------------------------
log_dir="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$log_dir"
read -r -a extra_args <<<"${FUZZ_ARGS:-}"

# final_stat NAME LOG: the value of libFuzzer's final `stat::NAME: value` line.
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }
# field NAME LINE: the number after `NAME: ` in a libFuzzer status line.
field() { sed -n "s/.* $1: \([0-9]*\).*/\1/p" <<<" $2"; }

passed=0
failed=0
summary=()
for t in "${targets[@]}"; do
    bin="$bin_dir/$t"
    log="$log_dir/$t.log"
    problems=()

    # Known crashers must not crash any more.
    shopt -s nullglob
    regressions=("$fuzz_dir/regressions/$t"-*)
    shopt -u nullglob
    for input in "${regressions[@]}"; do
        if ! "$bin" "$input" >"$log_dir/$t.regression.log" 2>&1; then
            problems+=("regression $(basename "$input") still fails")
            echo "--- $t: fuzz/regressions/$(basename "$input") still fails:"
            grep -a -A 12 -m 1 'panicked at' "$log_dir/$t.regression.log" || tail -n 20 "$log_dir/$t.regression.log"
        fi
    done

    dict_args=()
    [[ -f "$fuzz_dir/dict/$t.dict" ]] && dict_args=(-dict="$fuzz_dir/dict/$t.dict")
    echo "==> fuzzing $t for ${secs}s (log: $log)"
    cmd=("$bin" "$fuzz_dir/corpus/$t" -max_total_time="$secs" -rss_limit_mb=2048
        -max_len=1048576 -timeout=10 -artifact_prefix="$fuzz_dir/artifacts/$t/"
        -print_final_stats=1 "${dict_args[@]}" "${extra_args[@]}")
    if [[ -n "${FUZZ_VERBOSE:-}" ]]; then
        set +e
        "${cmd[@]}" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        set -e
    elif "${cmd[@]}" >"$log" 2>&1; then
        rc=0
    else
        rc=$?
    fi

    runs="$(final_stat number_of_executed_units "$log")"
    if [[ -z "$runs" ]]; then
        runs="$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
    fi
    execs="$(final_stat average_exec_per_sec "$log")"
    new_units="$(final_stat new_units_added "$log")"
    first="$(grep -a -m 1 INITED "$log" || true)"
    last="$(grep -a " cov: " "$log" | tail -n 1 || true)"
    cov0="$(field cov "$first")" cov1="$(field cov "$last")"
    ft0="$(field ft "$first")" ft1="$(field ft "$last")"
    corp="$(field corp "$last")"

    if ((rc != 0)); then
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        kind="libFuzzer exited with $rc"
        grep -aq 'ERROR: libFuzzer: timeout' "$log" && kind="timeout"
        grep -aq 'ERROR: libFuzzer: out-of-memory' "$log" && kind="out of memory"
        grep -aq 'panicked at' "$log" && kind="panic"
        grep -aq 'ERROR: libFuzzer: deadly signal' "$log" && ! grep -aq 'panicked at' "$log" && kind="crash"
        problems+=("$kind${artifact:+: ${artifact#"$repo/"}}")
        echo "--- $t failed ($kind):"
        grep -a -A 12 -m 1 'panicked at' "$log" || tail -n 25 "$log"
    elif [[ -z "$cov1" || "$cov1" == 0 ]]; then
        problems+=("no coverage: is the sancov instrumentation missing?")
    fi

    if ((${#problems[@]} == 0)); then
        result="ok"
        passed=$((passed + 1))
    else
        result="FAILED: $(IFS=';'; echo "${problems[*]}")"
        failed=$((failed + 1))
    fi
    summary+=("$(printf '%-11s runs %-9s exec/s %-7s cov %s->%s  ft %s->%s  corpus %s (+%s)  %s' \
        "$t" "${runs:-?}" "${execs:-?}" "${cov0:-?}" "${cov1:-?}" "${ft0:-?}" "${ft1:-?}" \
        "${corp:-?}" "${new_units:-?}" "$result")")
done

echo
echo "==> summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
