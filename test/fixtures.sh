#!/bin/bash
# Starts the fixture HTTP server on 127.0.0.1:$1 (and $1 + 1, another
# origin) serving directory $2 in the background, and stops it when the
# calling script exits.  Sourced.
pg_elt_start_fixture_server() {
    local port=$1 dir=$2 here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    if python3 - "$port" <<'PY'
import socket, sys
s = socket.socket()
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
    then
        echo "pg_elt: port $port is already in use; stop what listens there" >&2
        return 1
    fi
    python3 "$here/fixture_server.py" --port "$port" --extra-port $((port + 1)) --dir "$dir" >/dev/null 2>&1 &
    PG_ELT_FIXTURE_PID=$!
    trap 'kill $PG_ELT_FIXTURE_PID 2>/dev/null || true' EXIT
    for _ in $(seq 50); do
        python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/_requests')" \
            2>/dev/null && return 0
        sleep 0.1
    done
    echo "pg_elt: the fixture server did not start" >&2
    return 1
}
