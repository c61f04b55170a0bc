#!/usr/bin/env bash
# Real backing services for the tests, as plain background processes on
# 127.0.0.1 with their own data directories and non-default ports (no Docker):
#
#   bash scripts/services.sh start [SERVICE...]   # install if missing, start, wait until ready
#   bash scripts/services.sh stop [SERVICE...]    # stop by pid
#   bash scripts/services.sh status [SERVICE...]  # exits 3 if one is stopped
#   eval "$(bash scripts/services.sh env [SERVICE...])"
#
# SERVICE is one of: redis, clickhouse (the default is all of them). `start` is
# idempotent: a service that already runs is left alone. `env` prints the
# `export SENTRY_TEST_*_URL=...` line of each running service; the tests
# read those variables.
#
# Environment:
#   SERVICES_DIR        where data, logs and pid files go (/tmp/sentry-rs-services)
#   SERVICES_TIMEOUT    seconds to wait for a service to become ready (30)
#   SENTRY_TEST_REDIS_PORT  (16379)
#   SENTRY_TEST_CLICKHOUSE_PORT, SENTRY_TEST_CLICKHOUSE_TCP_PORT  (18123, 19000)
#
# Adding a service (Postgres, ClickHouse, a Kafka broker): write its
# `<name>_program` (the executable's name, to recognise its pid),
# `<name>_install`, `<name>_start` (daemonized, pid in "$(pidfile NAME)",
# log in "$(datadir NAME)/NAME.log"), `<name>_ready` and `<name>_env`
# functions, and add NAME to SERVICES.
set -euo pipefail

SERVICES=(redis clickhouse)
SERVICES_DIR=${SERVICES_DIR:-/tmp/sentry-rs-services}
SERVICES_TIMEOUT=${SERVICES_TIMEOUT:-30}
REDIS_PORT=${SENTRY_TEST_REDIS_PORT:-16379}
CLICKHOUSE_HTTP_PORT=${SENTRY_TEST_CLICKHOUSE_PORT:-18123}
CLICKHOUSE_TCP_PORT=${SENTRY_TEST_CLICKHOUSE_TCP_PORT:-19000}

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

datadir() { printf '%s/%s' "$SERVICES_DIR" "$1"; }
pidfile() { printf '%s/%s.pid' "$(datadir "$1")" "$1"; }

# Installs Debian packages that are missing, quietly; refreshes the package
# lists only if the first attempt fails without them.
apt_install() {
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
        log "apt-get update, then install $*"
        "${sudo[@]}" apt-get update -qq >/dev/null
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
}

# Whether a pid is a live process (a zombie counts as gone: daemons here are
# re-parented to pid 1, which may reap them late).
alive() {
    local pid=$1 stat
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    # The state is the field after the parenthesised command name.
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# The pid of a service that runs, from its pid file; nothing if it does not
# (a stale pid file whose pid now belongs to another program does not count).
running_pid() {
    local file pid
    file=$(pidfile "$1")
    [ -f "$file" ] || return 1
    pid=$(tr -dc 0-9 <"$file")
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$("${1}_program")" || return 1
    printf '%s' "$pid"
}

wait_ready() {
    local name=$1 deadline=$((SECONDS + SERVICES_TIMEOUT))
    until "${name}_ready"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name not ready after ${SERVICES_TIMEOUT} s; its log:"
            tail -n 20 "$(datadir "$name")/$name.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.2
    done
}

# ---- redis ---------------------------------------------------------------

redis_program() { echo redis-server; }

redis_install() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
    apt_install redis-server redis-tools
}

redis_start() {
    local dir
    dir=$(datadir redis)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
        --save '' --appendonly no \
        --daemonize yes --dir "$dir" --pidfile "$(pidfile redis)" \
        --logfile "$dir/redis.log" >/dev/null
}

redis_ready() {
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

redis_env() {
    printf 'export SENTRY_TEST_REDIS_URL=redis://127.0.0.1:%s/0\n' "$REDIS_PORT"
}

# ---- clickhouse ----------------------------------------------------------
# Debian's ClickHouse is 18.16 (2018): the SQL of sentry-snuba sticks to what
# it and a modern server both accept. The server runs as root with its own
# config; the clock of every DateTime is UTC.

clickhouse_program() { echo clickhouse-server; }

clickhouse_install() {
    command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null &&
        command -v curl >/dev/null && return
    apt_install clickhouse-server clickhouse-client curl
}

clickhouse_start() {
    local dir
    dir=$(datadir clickhouse)
    mkdir -p "$dir/data" "$dir/tmp"
    cat >"$dir/config.xml" <<XML
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/clickhouse.log</log>
        <errorlog>$dir/clickhouse.err.log</errorlog>
    </logger>
    <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
    <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
XML
    cat >"$dir/users.xml" <<XML
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default></default></quotas>
</yandex>
XML
    clickhouse-server --config-file="$dir/config.xml" --pid-file="$(pidfile clickhouse)" \
        --daemon >>"$dir/clickhouse.log" 2>&1
}

clickhouse_ready() {
    [ "$(curl -s "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ]
}

clickhouse_env() {
    printf 'export SENTRY_TEST_CLICKHOUSE_URL=http://127.0.0.1:%s/\n' "$CLICKHOUSE_HTTP_PORT"
}

# ---- generic -------------------------------------------------------------

start() {
    local name=$1 pid
    if pid=$(running_pid "$name"); then
        wait_ready "$name"
        log "$name already running (pid $pid)"
        return
    fi
    "${name}_install"
    mkdir -p "$(datadir "$name")"
    rm -f "$(pidfile "$name")"
    "${name}_start"
    wait_ready "$name"
    # A daemon may write its pid file a moment after it answers.
    local deadline=$((SECONDS + 5))
    until pid=$(running_pid "$name"); do
        [ "$SECONDS" -lt "$deadline" ] || die "$name: no live pid in $(pidfile "$name")"
        sleep 0.1
    done
    log "$name started (pid $pid, data in $(datadir "$name"))"
}

stop() {
    local name=$1 pid deadline
    if ! pid=$(running_pid "$name"); then
        rm -f "$(pidfile "$name")"
        log "$name not running"
        return
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name (pid $pid) ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    rm -f "$(pidfile "$name")"
    log "$name stopped (pid $pid)"
}

# Exits non-zero if any of the named services is stopped.
status() {
    local name=$1 pid
    if pid=$(running_pid "$name"); then
        echo "$name: running (pid $pid)"
    else
        echo "$name: stopped"
        return 3
    fi
}

env_of() {
    if running_pid "$1" >/dev/null; then
        "${1}_env"
    fi
}

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1 name
    shift
    case $cmd in
        start | stop | status) ;;
        env) cmd=env_of ;;
        *) usage ;;
    esac
    local names=("$@")
    [ ${#names[@]} -gt 0 ] || names=("${SERVICES[@]}")
    for name in "${names[@]}"; do
        [[ " ${SERVICES[*]} " == *" $name "* ]] || die "unknown service: $name (known: ${SERVICES[*]})"
    done
    if [ "$cmd" = status ]; then
        local rc=0
        for name in "${names[@]}"; do
            status "$name" || rc=$?
        done
        return "$rc"
    fi
    # Not in an `||` list: `set -e` must stay in force inside start and stop.
    for name in "${names[@]}"; do
        "$cmd" "$name"
    done
}

main "$@"
