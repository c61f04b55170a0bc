#!/usr/bin/env bash
# Benchmarks the scaled deployment: every service its own process (release
# build) on the real PostgreSQL, ClickHouse, Kafka broker and Redis of
# scripts/services.sh, fed by `sentry load` through relay.
#
#   bash scripts/bench-services.sh [CONSUMERS] [EVENTS] [PROJECTS]
#
# CONSUMERS (1) is the number of ingest-consumer and of snuba-consumer
# processes, EVENTS (20000) the events sent, split evenly over PROJECTS (2)
# projects with one `sentry load` each (a project's events share a
# partition, so one project cannot use two consumers). Prints the rate relay
# accepted at, the end-to-end rate (until every event is a ClickHouse row), the
# ingest consumers' lag sampled every 0.5 s during the burst, and the RSS of
# each service at the end (post-process-forwarder included, with no hooks
# to send; the shared cache is on Redis). Each run uses a new namespace (PostgreSQL and
# ClickHouse databases, topic prefix) and stops its services at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

consumers=${1:-1}
events=${2:-20000}
projects=${3:-2}
bin=${CARGO_TARGET_DIR:-target}/release
token=5e2f0c4b8a7d4e1f9c3b6a2d8e7f1c4b5e2f0c4b8a7d4e1f9c3b6a2d8e7f1c4b

cargo build --release --locked -q -p sentry-services -p sentry-server
bash scripts/services.sh start postgres clickhouse kafka redis >&2
eval "$(bash scripts/services.sh env postgres clickhouse kafka redis)"

ns=bench$(date +%s%N | cut -c1-15)
work=$(mktemp -d)
pg_server=${SENTRY_TEST_POSTGRES_URL%/*}
ch=${SENTRY_TEST_CLICKHOUSE_URL%/}
psql -X -q "$pg_server/postgres" -c "CREATE DATABASE $ns"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web_port=$(port)
relay_port=$(port)
export SENTRY_STREAM_URL="$SENTRY_TEST_KAFKA_URL?prefix=$ns-&partitions=4"
export SENTRY_METADATA_URL="$pg_server/$ns"
export SENTRY_EVENT_STORE_URL="clickhouse://${ch#http://}/$ns"
export SENTRY_QUOTAS_URL="$SENTRY_TEST_REDIS_URL?prefix=$ns:"
export SENTRY_CACHE_URL="$SENTRY_TEST_REDIS_URL?prefix=$ns:cache:"
export SENTRY_URL="http://127.0.0.1:$web_port"
export SENTRY_ADMIN_TOKEN=$token
export RUST_LOG=warn

pids=()
admins=()
names=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -X -q "$pg_server/postgres" -c "DROP DATABASE IF EXISTS $ns WITH (FORCE)" || true
    curl -s -X POST "$ch/" --data-binary "DROP DATABASE IF EXISTS $ns" >/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

spawn() { # NAME [BIND_PORT]
    local name=$1 admin
    admin=$(port)
    if [ -n "${2:-}" ]; then
        SENTRY_BIND=127.0.0.1:$2 SENTRY_ADMIN_BIND=127.0.0.1:$admin \
            "$bin/$name" >"$work/$name-${#pids[@]}.log" 2>&1 &
    else
        SENTRY_ADMIN_BIND=127.0.0.1:$admin "$bin/$name" >"$work/$name-${#pids[@]}.log" 2>&1 &
    fi
    pids+=("$!")
    admins+=("$admin")
    names+=("$name")
}
wait_ready() {
    local i deadline=$((SECONDS + 60))
    for i in "${!admins[@]}"; do
        until curl -sf "http://127.0.0.1:${admins[$i]}/health/ready" >/dev/null; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                echo "${names[$i]} not ready:" >&2
                cat "$work/${names[$i]}-$i.log" >&2
                exit 1
            fi
            sleep 0.2
        done
    done
}

spawn web "$web_port"
wait_ready
spawn relay "$relay_port"
for _ in $(seq "$consumers"); do
    spawn ingest-consumer
    spawn snuba-consumer
done
spawn snuba-replacer
spawn worker
spawn post-process-forwarder
wait_ready

api() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$web_port$1"; }
dsns=()
for p in $(seq "$projects"); do
    slug=internal
    if [ "$p" -gt 1 ]; then
        slug=bench-$p
        curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
            -d "{\"name\": \"$slug\", \"platform\": \"python\"}" \
            "http://127.0.0.1:$web_port/api/0/teams/sentry/sentry/projects/" >/dev/null
    fi
    project=$(api "/api/0/projects/sentry/$slug/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    key=$(api "/api/0/projects/sentry/$slug/keys/" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["public"])')
    dsns+=("http://$key@127.0.0.1:$relay_port/$project")
done

# Lag of the ingest consumers' group, every 0.5 s, while the load runs.
ingest_admin=${admins[2]}
(
    while sleep 0.5; do
        curl -s "http://127.0.0.1:$ingest_admin/metrics" |
            awk -v t="$(date +%s.%N)" '/^sentry_consumer_lag\{.*topic="ingest-events"/ {print t, $2; exit}'
    done
) >"$work/lag" &
sampler=$!

# CPU seconds of the backing servers' processes (with their children).
server_cpu() { # NAME PROGRAM
    local total=0 pid
    for pid in $(pgrep -x "$2"); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$1 $total"
}
servers_cpu() {
    server_cpu kafka-broker tansu
    server_cpu postgres postgres
    server_cpu clickhouse clickhouse-serv
    server_cpu redis redis-server
}
servers_cpu >"$work/cpu-before"
start=$(date +%s.%N)
loads=()
for i in "${!dsns[@]}"; do
    "$bin/sentry" load --dsn "${dsns[$i]}" --token "$token" --url "http://127.0.0.1:$web_port" \
        --org sentry -n $((events / projects)) -c $((32 / projects)) -k 100 --timeout 1 --json \
        >"$work/load-$i.json" 2>/dev/null &
    loads+=("$!")
done
for pid in "${loads[@]}"; do wait "$pid" || true; done
accepted_at=$(date +%s.%N)
events=$(((events / projects) * projects))
rows=0
deadline=$((SECONDS + 600))
while [ "$rows" -lt "$events" ] && [ "$SECONDS" -lt "$deadline" ]; do
    rows=$(curl -s -X POST "$ch/?database=$ns" --data-binary "SELECT count() FROM errors_local FINAL" || echo 0)
    sleep 0.2
done
end=$(date +%s.%N)
kill "$sampler" 2>/dev/null || true

echo "consumers: $consumers ingest-consumer + $consumers snuba-consumer, events: $events (5 KiB each) to $projects projects"
python3 - "$work" "$start" "$accepted_at" "$end" "$rows" "$events" <<'EOF'
import glob, json, sys
loads = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/load-*.json"))]
start, accepted_at, end = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rows, events = int(sys.argv[5]), int(sys.argv[6])
accepted = sum(l["accepted"] for l in loads)
p50 = max(l["latency_ms"]["p50"] for l in loads)
p99 = max(l["latency_ms"]["p99"] for l in loads)
print(f"relay accepted: {accepted} in {accepted_at - start:.1f} s = {accepted / (accepted_at - start):.0f}/s "
      f"(p50 {p50:.1f} ms, p99 {p99:.1f} ms, worst of the generators)")
print(f"end to end (ClickHouse rows): {rows} of {events} in {end - start:.1f} s = {rows / (end - start):.0f}/s")
EOF
awk 'NR==1 {t0=$1} {if ($2 > max) max = $2; n++} END {printf "ingest-events lag: peak %d over %d samples (%.1f s)\n", max, n, n * 0.5}' "$work/lag"
servers_cpu >"$work/cpu-after"
for i in "${!admins[@]}"; do
    metrics=$(curl -s "http://127.0.0.1:${admins[$i]}/metrics")
    rss=$(awk '/^process_resident_memory_bytes/ {printf "%.0f", $2 / 1048576}' <<<"$metrics")
    cpu=$(awk '/^process_cpu_seconds_total/ {printf "%.1f", $2}' <<<"$metrics")
    echo "${names[$i]}: RSS ${rss} MiB, CPU ${cpu} s"
done
join "$work/cpu-before" "$work/cpu-after" |
    awk '{printf "%s: CPU %.1f s during the run\n", $1, ($3 - $2) / 100}'
echo "load generators: $(python3 -c 'import glob, json, sys; print(round(sum(json.load(open(f))["loadgen_cpu_seconds"] for f in glob.glob(sys.argv[1] + "/load-*.json")), 1))' "$work") s CPU"
