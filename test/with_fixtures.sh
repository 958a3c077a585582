#!/bin/bash
# Runs a command with the fixtures pg_elt's tests load: the files
# (test/make_fixtures.py) in a temporary directory the server can read, and
# the fixture HTTP and S3 servers on 127.0.0.1:18766-18768, stopped when the
# command ends.  The Makefile's installcheck (pg_regress against the server
# PGHOST/PGPORT name, as PGXS users expect) and tapcheck run through it.
# When PG_ELT_FIXTURE_URL is set, the caller has started the fixture
# servers already and the command just runs.
#
#   test/with_fixtures.sh [--server] COMMAND [ARG...]
#
# --server: COMMAND tests the server PGHOST/PGPORT name, which is checked
# first: one line says why the suite cannot run there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

cannot_run() {
    echo "pg_elt: installcheck cannot run: $*" >&2
    exit 1
}

check_server() {
    local addr workers
    addr=$(psql -X -At -d postgres -c 'SELECT inet_server_addr()' 2>&1) ||
        cannot_run "no server answers at PGHOST/PGPORT ($(echo "$addr" | head -1))"
    # The server fetches from 127.0.0.1 and reads the fixture files by path.
    case "$addr" in
        ""|127.*|::1) ;;
        *) { hostname -I 2>/dev/null; ip -o addr 2>/dev/null; } | grep -qwF "$addr" ||
               cannot_run "the server ($addr) is not on this machine, and the tests serve their files on 127.0.0.1" ;;
    esac
    # The expected output is of a server without pg_elt preloaded (no
    # scheduler, no queue).
    ! psql -X -At -d postgres -c 'SHOW shared_preload_libraries' | grep -qw pg_elt ||
        cannot_run "its expected output is of a server without pg_elt in shared_preload_libraries"
    # The suite nests subflows eight deep, a worker each, beside others.
    workers=$(psql -X -At -d postgres -c 'SHOW max_worker_processes')
    [ "$workers" -ge 16 ] ||
        cannot_run "it needs max_worker_processes >= 16 (the server has $workers; set it and restart)"
}

if [ "${1:-}" = --server ]; then
    shift
    check_server
fi
if [ -n "${PG_ELT_FIXTURE_URL:-}" ]; then
    exec "$@"
fi

source "$here/fixtures.sh"
data=$(mktemp -d "${TMPDIR:-/tmp}/pg_elt-fixtures.XXXXXX")
trap 'rm -rf "$data"' EXIT
python3 "$here/make_fixtures.py" --dir "$data" >/dev/null
# The server's own user reads these files, and writes new objects into one
# bucket folder (url_object_store.sql).
chmod -R a+rX "$data"
chmod -R a+w "$data/s3/lake/inbox"
pg_elt_start_fixture_server 18766 "$data" ||
    { rm -rf "$data"; cannot_run "its fixture servers need 127.0.0.1:18766-18768"; }
trap 'kill $PG_ELT_FIXTURE_PID $PG_ELT_S3_FIXTURE_PID 2>/dev/null || true; rm -rf "$data"' EXIT

# (not exec: the trap stops the servers when the command ends)
PG_ELT_TEST_DATA=$data PG_ELT_FIXTURE_URL=http://127.0.0.1:18766 "$@"
