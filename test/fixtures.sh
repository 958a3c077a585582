#!/bin/bash
# The test scripts' fixtures.  Sourced.
#
# The fixture servers: pg_elt_start_fixture_server PORT DIR starts the
# HTTP one on 127.0.0.1:PORT (and PORT + 1, another origin) serving DIR,
# and the S3-compatible one (s3_fixture.py) on PORT + 2 serving DIR/s3, in
# the background; both stop when the calling script exits.
#
# Scratch clusters (as root): pg_elt_start_cluster DIR PORT LOG [CONF]
# makes a cluster in DIR (which the postgres user may write) and starts it
# as postgres on the socket /tmp:PORT, with CONF's settings appended;
# pg_elt_stop_cluster DIR [MODE] stops it.
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

pg_elt_start_cluster() {
    local dir=$1 port=$2 log=$3 conf=${4:-/dev/null}
    su postgres -s /bin/bash -c "set -e
        '$PG_BINDIR/initdb' -D '$dir' --auth=trust --no-sync >/dev/null
        cat '$conf' >> '$dir/postgresql.conf'
        '$PG_BINDIR/pg_ctl' -D '$dir' -o \"-p $port -k /tmp -c listen_addresses=''\" -l '$log' -w start >/dev/null"
}

pg_elt_stop_cluster() {
    su postgres -s /bin/bash -c "'$PG_BINDIR/pg_ctl' -D '$1' -m ${2:-fast} stop" >/dev/null 2>&1 || true
}
pg_elt_port_taken() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}

pg_elt_start_fixture_server() {
    local port=$1 dir=$2 here p
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    for p in "$port" $((port + 2)); do
        if pg_elt_port_taken "$p"; then
            echo "pg_elt: port $p is already in use; stop what listens there" >&2
            return 1
        fi
    done
    python3 "$here/fixture_server.py" --port "$port" --extra-port $((port + 1)) --dir "$dir" >/dev/null 2>&1 &
    PG_ELT_FIXTURE_PID=$!
    python3 "$here/s3_fixture.py" --port $((port + 2)) --dir "$dir/s3" >/dev/null 2>&1 &
    PG_ELT_S3_FIXTURE_PID=$!
    trap 'kill $PG_ELT_FIXTURE_PID $PG_ELT_S3_FIXTURE_PID 2>/dev/null || true' EXIT
    for _ in $(seq 50); do
        python3 -c "import urllib.request,sys
for p in ($port, $((port + 2))): urllib.request.urlopen('http://127.0.0.1:%d/_requests' % p)" \
            2>/dev/null && return 0
        sleep 0.1
    done
    echo "pg_elt: the fixture servers did not start" >&2
    return 1
}
