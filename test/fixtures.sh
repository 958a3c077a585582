#!/bin/bash
# The fixture servers: pg_elt_start_fixture_server PORT DIR starts the
# HTTP one on 127.0.0.1:PORT (and PORT + 1, another origin) serving DIR,
# and the S3-compatible one (s3_fixture.py) on PORT + 2 serving DIR/s3, in
# the background; both stop when the calling script exits.  Sourced.
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
