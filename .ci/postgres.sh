#!/usr/bin/env bash
# A private PostgreSQL server for the store tests, from Debian's binaries
# (/usr/lib/postgresql/N/bin; `make system-packages` installs them).
#
#   .ci/postgres.sh start    init the cluster if needed, start it if not running, print its URL
#   .ci/postgres.sh stop     stop it (fast shutdown); nothing to do when it is not running
#   .ci/postgres.sh status   exit 0 and print the URL when running, exit 3 when not
#   .ci/postgres.sh url      print the SQLAlchemy URL of the running server (exit 1 if stopped)
#   .ci/postgres.sh psql ... run psql against it
#   .ci/postgres.sh clean    stop it and delete its data
#
# The cluster lives in .pg/ of this checkout (gitignored; OPENBUREAU_PG_DIR overrides):
# .pg/data, .pg/postgres.log, .pg/port. It listens on 127.0.0.1 only, on a free port chosen
# at the first start and reused after, with no unix socket, and trusts every local
# connection: a throwaway test server, never one for real data. fsync is off.
#
# initdb and postgres refuse to run as root, so as root the server runs as the `postgres`
# user that Debian's package creates (OPENBUREAU_PG_OS_USER overrides). If that user cannot
# reach this checkout (a clone under /root, say), the data goes to
# /var/tmp/openbureau-pg-<hash of the checkout path> instead; `clean` removes that too.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${OPENBUREAU_PG_DIR:-$REPO/.pg}
PYTHON=${PYTHON:-python3}
DB_SUPERUSER=postgres

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        [[ -x "$PG_BINDIR/pg_ctl" ]] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
        echo "$PG_BINDIR"
        return
    fi
    local d best=
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] && best=$d
    done
    [[ -n "$best" ]] || return 1
    echo "$best"
}

# How to run a command as the server's OS user.
AS=()
OS_USER=$(id -un)
if [[ "$(id -u)" -eq 0 ]]; then
    OS_USER=${OPENBUREAU_PG_OS_USER:-postgres}
    id "$OS_USER" >/dev/null 2>&1 \
        || die "running as root and there is no '$OS_USER' user to run the server as" \
               "(Debian's postgresql package creates it; or set OPENBUREAU_PG_OS_USER)"
    AS=(runuser -u "$OS_USER" --)
fi

as_server() { "${AS[@]}" "$@"; }

# Where the data and the log live: in $STATE when the server's user can reach it.
FALLBACK=/var/tmp/openbureau-pg-$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)
mkdir -p "$STATE"
if [[ ${#AS[@]} -gt 0 ]] && ! as_server test -x "$STATE" 2>/dev/null; then
    RUNDIR=$FALLBACK
else
    RUNDIR=$STATE
fi
DATA=$RUNDIR/data
LOG=$RUNDIR/postgres.log
PORT_FILE=$STATE/port

# One start/stop at a time per checkout.
exec 9>"$STATE/lock"
flock 9

pg_ctl() { as_server "$BINDIR/pg_ctl" "$@"; }

running() {
    [[ -f "$DATA/PG_VERSION" ]] || return 1
    pg_ctl status -D "$DATA" >/dev/null 2>&1
}

running_port() { sed -n 4p "$DATA/postmaster.pid"; }

url() { echo "postgresql+psycopg://$DB_SUPERUSER@127.0.0.1:$(running_port)/postgres"; }

port_free() {
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

init_cluster() {
    local version
    version=$(basename "$(dirname "$BINDIR")")
    if [[ -f "$DATA/PG_VERSION" && "$(cat "$DATA/PG_VERSION")" == "$version" ]]; then
        return
    fi
    if [[ -e "$DATA" ]]; then
        echo "postgres.sh: $DATA is not a PostgreSQL $version cluster: recreating it"
        rm -rf "$DATA"
    fi
    mkdir -p "$RUNDIR"
    mkdir -m 700 "$DATA"
    if [[ ${#AS[@]} -gt 0 ]]; then
        chown "$OS_USER" "$DATA"
    fi
    as_server "$BINDIR/initdb" --pgdata="$DATA" --username="$DB_SUPERUSER" --auth=trust \
        --encoding=UTF8 --locale=C --no-sync >"$RUNDIR/initdb.log" 2>&1 \
        || { cat "$RUNDIR/initdb.log" >&2; die "initdb failed"; }
    cat >>"$DATA/postgresql.conf" <<'EOF'

# openbureau test server (.ci/postgres.sh): loopback TCP only, no durability.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

# Runs "$@" with no file descriptor but 0-2 (and those to /dev/null): the server outlives
# this script and must not hold the lock above, nor a pipe of whatever called it (make, a CI
# runner waiting for its output to end).
start_detached() {
    (
        local fd
        for fd in $(ls /proc/$BASHPID/fd); do
            if [[ $fd -gt 2 ]]; then eval "exec $fd>&-"; fi
        done
        exec "$@" </dev/null >/dev/null
    )
}

start() {
    if running; then
        url
        return
    fi
    init_cluster
    local port=
    [[ -f "$PORT_FILE" ]] && port=$(cat "$PORT_FILE")
    if [[ -z "$port" ]] || ! port_free "$port"; then
        port=$(free_port)
        echo "$port" >"$PORT_FILE"
    fi
    touch "$LOG"
    if [[ ${#AS[@]} -gt 0 ]]; then
        chown "$OS_USER" "$LOG"
    fi
    if ! start_detached "${AS[@]}" "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -o "-p $port"; then
        tail -n 30 "$LOG" >&2
        die "the server did not start (log: $LOG)"
    fi
    url
}

stop() {
    if running; then
        pg_ctl stop -D "$DATA" -m fast -w -t 60 >/dev/null
        echo "postgres.sh: stopped the server in $DATA"
    fi
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift

if ! BINDIR=$(find_bindir); then
    case "$cmd" in
        stop|status|clean)
            # Nothing can be running without the binaries; clean still deletes the data.
            [[ "$cmd" == clean ]] && rm -rf "$STATE" "$FALLBACK"
            [[ "$cmd" == status ]] && exit 3
            exit 0 ;;
        *) die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: run" \
               "'make system-packages' (apt-get install postgresql)" ;;
    esac
fi

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) if running; then url; else echo "postgres.sh: not running"; exit 3; fi ;;
    url) running || die "not running: 'make pg-start' first"; url ;;
    psql)
        running || die "not running: 'make pg-start' first"
        exec "$BINDIR/psql" -h 127.0.0.1 -p "$(running_port)" -U "$DB_SUPERUSER" postgres "$@" ;;
    clean)
        stop
        exec 9>&-
        rm -rf "$STATE" "$FALLBACK" ;;
    *) die "usage: $0 start|stop|status|url|psql|clean" ;;
esac
