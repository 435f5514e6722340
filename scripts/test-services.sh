#!/usr/bin/env bash
# Sets up what `make test` needs on this machine. Idempotent, and quick when all is there
# (nothing is installed, started or apt-get updated then):
#
#   - Debian's Chromium at /usr/bin/chromium: the browser tests drive it (Playwright cannot
#     download its own browsers here). Installed with apt-get when missing.
#   - A PostgreSQL server that lets user postgres in without a password. The first that works:
#       1. CONSENTHUB_TEST_POSTGRES_URL is set: it is used as it is.
#       2. The server at 127.0.0.1:5432 answers (CONSENTHUB_TEST_PG_PORT names another port).
#       3. The Debian cluster on that port is down: it is started with pg_ctlcluster.
#       4. A throwaway cluster of our own (initdb, trust auth, a free port) in
#          /tmp/consenthub-test-pg-<user> (or CONSENTHUB_TEST_PG_DIR). It is left running
#          and reused by later runs; `scripts/test-services.sh --stop` stops and deletes it.
#     PostgreSQL is installed from Debian with apt-get when its programs are missing.
#
# The last line on stdout is the URL for CONSENTHUB_TEST_POSTGRES_URL; diagnostics go to
# stderr. What cannot be set up is an error (exit status 1), never a skip.
#
# Usage: scripts/test-services.sh [--stop]
set -euo pipefail
exec 3>&1 1>&2 # stdout is for the URL alone

PORT=${CONSENTHUB_TEST_PG_PORT:-5432}
STATE=${CONSENTHUB_TEST_PG_DIR:-/tmp/consenthub-test-pg-$(id -un)}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac
URL=
APT_UPDATED=

log() { printf 'test-services: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# Commands that may start a server (apt-get, pg_ctlcluster, pg_ctl) run with fds 3 (our
# stdout) and 9 (the lock) closed: a server keeping them open would hold the lock and keep
# `url=$(scripts/test-services.sh)` waiting for the end of its output.

# A command as root: directly, or through sudo when it asks no password.
root() {
    if is_root; then
        "$@" 3>&- 9>&-
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@" 3>&- 9>&-
    else
        log "root is needed for: $*"
        return 1
    fi
}

# apt-get, waiting while another apt-get or dpkg holds the lock.
apt_get() {
    local tries=0 err
    err=$(mktemp)
    while :; do
        if root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 "$@" >&2 2>"$err"; then
            rm -f "$err"
            return 0
        fi
        if grep -qiE 'could not get lock|unable to acquire|unable to lock' "$err" && [ $((tries += 1)) -lt 10 ]; then
            log "apt is busy (locked by another process); waiting to retry apt-get $*"
            sleep 10
            continue
        fi
        cat "$err" >&2
        rm -f "$err"
        return 1
    done
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || { log "apt-get is not available to install $*"; return 1; }
    if [ -z "$APT_UPDATED" ]; then
        log "apt-get update"
        apt_get update -qq || return 1
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    apt_get install -y -qq "$@"
}

ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    log "/usr/bin/chromium is missing; installing Debian's chromium (the browser tests drive it)"
    if ! apt_install chromium || [ ! -x /usr/bin/chromium ]; then
        die "chromium could not be installed; the browser tests need /usr/bin/chromium (apt-get install chromium)"
    fi
}

# --- PostgreSQL ------------------------------------------------------------------------

pg_up() { pg_isready -q -h 127.0.0.1 -p "$1" >/dev/null 2>&1; }

# Can user postgres log in at 127.0.0.1:<port> to <database> without a password?
pg_login() {
    PGCONNECT_TIMEOUT=5 psql -X -w -q -h 127.0.0.1 -p "$1" -U postgres -d "$2" -Atc 'select 1' >/dev/null 2>&1
}

# Prints the URL of the server at 127.0.0.1:<port> if the suite can use it.
usable() {
    pg_up "$1" || return 1
    if pg_login "$1" test; then
        echo "postgresql+psycopg://postgres@127.0.0.1:$1/test"
    elif pg_login "$1" postgres; then # no database test: the suite only needs the server
        echo "postgresql+psycopg://postgres@127.0.0.1:$1/postgres"
    else
        log "PostgreSQL at 127.0.0.1:$1 answers but does not let user postgres in without a password"
        return 1
    fi
}

# The directory with initdb and pg_ctl, newest version first.
pg_bindir() {
    local d
    d=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
        echo "$d"
        return 0
    fi
    d=$(command -v initdb 2>/dev/null || true)
    [ -n "$d" ] || return 1
    d=$(dirname "$(readlink -f "$d")")
    [ -x "$d/pg_ctl" ] || return 1
    echo "$d"
}

# Starts the Debian cluster (pg_lsclusters) configured for $PORT when it is down.
start_debian_cluster() {
    command -v pg_lsclusters >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1 || return 0
    local ver name port status rest
    while read -r ver name port status rest; do
        [ "$port" = "$PORT" ] || continue
        case $status in down*) ;; *) continue ;; esac
        log "starting PostgreSQL cluster $ver/$name on port $port"
        root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 ||
            log "pg_ctlcluster $ver $name start failed"
    done < <(pg_lsclusters -h 2>/dev/null || true)
}

# Who owns the throwaway cluster: postgres when we are root (initdb refuses root), else us.
cluster_owner() { if is_root; then echo postgres; else id -un; fi; }

as_owner() {
    if ! is_root; then
        "$@" 3>&- 9>&-
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u postgres -- "$@" 3>&- 9>&-)
    else
        (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")" 3>&- 9>&-)
    fi
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local p
    for p in $(seq 55432 55999); do
        if ! (: </dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    return 1
}

throwaway_cluster() {
    local bindir owner version port data=$STATE/data
    if ! bindir=$(pg_bindir); then
        log "PostgreSQL's server programs (initdb, pg_ctl) are missing; installing Debian's postgresql"
        if ! apt_install postgresql || ! bindir=$(pg_bindir); then
            die "PostgreSQL is required for the test suite and its server programs (initdb, pg_ctl) could not be installed"
        fi
    fi
    owner=$(cluster_owner)
    is_root && { id postgres >/dev/null 2>&1 || die "user postgres is missing: cannot run initdb as root"; }

    if [ -L "$STATE" ] || { [ -e "$STATE" ] && [ "$(stat -c %U "$STATE")" != "$owner" ]; }; then
        die "$STATE is not a directory of $owner; remove it or set CONSENTHUB_TEST_PG_DIR"
    fi
    if [ ! -d "$STATE" ]; then
        mkdir -m 700 "$STATE"
        is_root && chown postgres: "$STATE"
    fi

    # Left running by an earlier run: reuse it.
    if [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        port=$(sed -n 4p "$data/postmaster.pid")
        if URL=$(usable "$port"); then
            log "PostgreSQL: reusing the throwaway cluster in $STATE (port $port; stop it with $0 --stop)"
            return 0
        fi
        log "the throwaway cluster in $STATE is running but not usable; restarting it"
        as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || true
    fi

    version=$("$bindir/pg_ctl" --version | sed -E 's/.* ([0-9]+).*/\1/')
    if [ -f "$data/PG_VERSION" ] && [ "$(cat "$data/PG_VERSION")" != "$version" ]; then
        log "the throwaway cluster in $STATE is from PostgreSQL $(cat "$data/PG_VERSION"), not $version: making a new one"
        rm -rf "$data"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        log "PostgreSQL: making a throwaway cluster in $data (initdb, trust auth)"
        as_owner "$bindir/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$STATE/initdb.log" 2>&1 ||
            { cat "$STATE/initdb.log" >&2; die "initdb failed"; }
    fi
    port=$(free_port) || die "no free port for the throwaway PostgreSQL cluster"
    log "PostgreSQL: starting the throwaway cluster in $STATE on port $port"
    if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$STATE/log" -w -t 60 \
            -o "-p $port -k '$STATE' -c listen_addresses=127.0.0.1" start >&2; then
        tail -n 20 "$STATE/log" >&2 || true
        die "the throwaway PostgreSQL cluster did not start (log: $STATE/log)"
    fi
    pg_login "$port" test ||
        PGCONNECT_TIMEOUT=5 createdb -w -h 127.0.0.1 -p "$port" -U postgres test ||
        die "could not create database test in the throwaway cluster"
    URL=$(usable "$port") || die "the throwaway PostgreSQL cluster on port $port is not usable (log: $STATE/log)"
    log "PostgreSQL: the throwaway cluster is left running for later runs; stop it with $0 --stop"
}

ensure_postgres() {
    if ! command -v pg_isready >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
        log "PostgreSQL's programs are missing; installing Debian's postgresql"
        apt_install postgresql ||
            die "PostgreSQL could not be installed; the suite runs on it (or set CONSENTHUB_TEST_POSTGRES_URL)"
    fi
    if URL=$(usable "$PORT"); then
        return 0
    fi
    if ! pg_up "$PORT"; then
        if ! pg_bindir >/dev/null; then
            log "no PostgreSQL server is installed; installing Debian's postgresql"
            apt_install postgresql ||
                die "PostgreSQL could not be installed; the suite runs on it (or set CONSENTHUB_TEST_POSTGRES_URL)"
        fi
        start_debian_cluster
        if URL=$(usable "$PORT"); then
            return 0
        fi
    fi
    log "PostgreSQL: nothing usable at 127.0.0.1:$PORT"
    # One set-up at a time: two runs at once would make two clusters in one directory.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$STATE.lock"
        flock -w 300 9 || die "waited too long for another run's set-up of $STATE ($STATE.lock)"
    fi
    throwaway_cluster
}

stop_throwaway() {
    local bindir data=$STATE/data
    if [ ! -d "$STATE" ]; then
        log "no throwaway cluster in $STATE"
        return 0
    fi
    if [ -f "$data/postmaster.pid" ]; then
        bindir=$(pg_bindir) || die "pg_ctl not found: cannot stop the cluster in $STATE"
        if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
            as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || die "could not stop the cluster in $STATE"
        fi
    fi
    rm -rf "$STATE" "$STATE.lock"
    log "removed the throwaway cluster in $STATE"
}

case ${1:-} in
    "") ;;
    --stop) stop_throwaway; exit 0 ;;
    -h | --help) sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (usage: $0 [--stop])" ;;
esac

ensure_chromium
if [ -n "${CONSENTHUB_TEST_POSTGRES_URL:-}" ]; then
    log "PostgreSQL: CONSENTHUB_TEST_POSTGRES_URL is set; using it"
    URL=$CONSENTHUB_TEST_POSTGRES_URL
else
    ensure_postgres
fi
log "PostgreSQL for tests: $URL"
echo "$URL" >&3
