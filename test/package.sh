#!/bin/bash
# pg_elt's Debian package test (test/check.sh runs it; as root, from the
# repo): builds postgresql-15-elt with `dpkg-buildpackage -us -uc -b` from a
# clean copy of the tree (the files git tracks or would track: no build
# products), installs the .deb, and on a cluster of its own runs CREATE
# EXTENSION and the tutorial's ingest flow on a small generated taxi file
# served on 127.0.0.1:18866-18868; then the package's autopkgtest
# (debian/tests/installcheck: the regression suite against the installed
# package, which brings up its own fixture servers on 127.0.0.1:18766-18768).
# Prints `ok package STEP` or `not ok package STEP` for each check, and keeps
# its logs in /tmp/pg_elt-package.  Without the packaging tools it prints one
# line saying so and exits 0.
#
# The package's files replace those `make install` put into
# /usr/lib/postgresql/15 and /usr/share/postgresql/15/extension.  They are
# saved before the install; at exit the package is removed (dpkg -r) and they
# are put back byte for byte (step "restore"), so the machine is left as it
# was found, whichever tree installed them.  A postgresql-15-elt installed
# before the test is left alone: the test is skipped.
#
#   bash test/package.sh [--rows N]     # N taxi rows in the ingest file (5000)
set -euo pipefail
cd "$(dirname "$0")/.."

rows=5000
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows=$2; shift 2 ;;
        *) echo "usage: $0 [--rows N]" >&2; exit 2 ;;
    esac
done

skip() {
    echo "pg_elt: package test skipped: $*"
    exit 0
}

# What the test needs, each said in the one line: the packaging tools, the
# package's build dependencies (debian/control), and what its autopkgtest
# needs beyond them (debian/tests/control).
[ "$(id -u)" = 0 ] || skip "it installs a package: run it as root"
for tool in dpkg-buildpackage:dpkg-dev dh:debhelper pg_buildext:postgresql-common git:git; do
    command -v "${tool%%:*}" >/dev/null || skip "${tool%%:*} is not installed (Debian package ${tool#*:})"
done
[ -f /usr/share/perl5/Debian/Debhelper/Sequence/pgxs_loop.pm ] ||
    skip "debhelper's pgxs_loop sequence is not installed (Debian package postgresql-server-dev-all)"
[ -f debian/control ] || skip "the tree has no debian/control"
git -c safe.directory="$PWD" rev-parse --git-dir >/dev/null 2>&1 ||
    skip "the tree is not a git checkout (the package is built from the files git tracks)"
if ! unmet=$(dpkg-checkbuilddeps 2>&1); then
    why=$(echo "$unmet" | sed -n 's/.*[Uu]nmet build dependencies: /unmet build dependencies: /p' | head -1)
    skip "${why:-$(echo "$unmet" | head -1)}"
fi
for p in make python3 python3-botocore; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        skip "$p is not installed (the autopkgtest needs it)"
done
if dpkg-query -W -f='${Status}' postgresql-15-elt 2>/dev/null | grep -q "install ok installed"; then
    skip "postgresql-15-elt is installed already; dpkg -r postgresql-15-elt, then make install, to test"
fi

source test/fixtures.sh
PG_CONFIG=$PG_BINDIR/pg_config
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" pg_elt.control)
logs=/tmp/pg_elt-package
rm -rf "$logs"
mkdir -p "$logs"
work=$(mktemp -d /tmp/pg_elt-package.XXXXXX)
chmod 755 "$work"   # apt reads the .deb as _apt; the cluster's user reads the taxi file
failed=0
interrupted=""
step=copy
installed=""
cluster=""
PG_ELT_FIXTURE_PID=""
PG_ELT_S3_FIXTURE_PID=""

ok() { echo "ok package $1"; }
not_ok() {
    echo "not ok package $1${2:+: $2}"
    failed=1
}
# The end of a log, indented so that check.sh's counts (anchored at the
# start of a line) do not take pg_regress's lines in it for its own.
show_log() {
    echo "    --- last lines of $1"
    tail -n "${2:-30}" "$1" | sed 's/^/    /'
}

# First free port in [lo, hi]: nothing listening on 127.0.0.1 and no socket
# of that number in /tmp or /var/run/postgresql.
free_port() {
    local p
    for p in $(seq "$1" "$2"); do
        pg_elt_port_taken "$p" || [ -e "/tmp/.s.PGSQL.$p" ] || [ -e "/var/run/postgresql/.s.PGSQL.$p" ] ||
            { echo "$p"; return 0; }
    done
    return 1
}

as_postgres() { su postgres -s /bin/bash -c "$1"; }

# At exit: the cluster and fixture servers stopped, the package removed and
# the files it replaced put back (checked against their saved checksums),
# the work directory removed.
cleanup() {
    local rc=$?
    set +e
    if [ -n "$interrupted" ] && [ -n "$step" ]; then
        not_ok "$step" "interrupted (logs in $logs)"
    elif [ "$rc" -ne 0 ] && [ -n "$step" ]; then
        not_ok "$step" "stopped by a failing command (exit $rc; logs in $logs)"
    fi
    if [ -n "$cluster" ]; then
        pg_elt_stop_cluster "$cluster" immediate
    fi
    [ -n "$PG_ELT_FIXTURE_PID" ] && kill "$PG_ELT_FIXTURE_PID" 2>/dev/null
    [ -n "$PG_ELT_S3_FIXTURE_PID" ] && kill "$PG_ELT_S3_FIXTURE_PID" 2>/dev/null
    if [ -n "$installed" ]; then
        local restored=1 f
        dpkg -r postgresql-15-elt >"$logs/remove.log" 2>&1 || restored=0
        if [ -s "$work/saved.list" ]; then
            tar -xpPf "$work/saved.tar" || restored=0
            md5sum --quiet -c "$work/saved.md5" >>"$logs/remove.log" 2>&1 || restored=0
        fi
        # what the package brought and was not there before is gone
        while read -r f; do
            grep -qxF "$f" "$work/saved.list" || [ ! -e "$f" ] || { echo "left behind: $f" >>"$logs/remove.log"; restored=0; }
        done <"$work/files.list"
        if [ "$restored" = 1 ]; then
            ok restore
        else
            not_ok restore "dpkg -r postgresql-15-elt or putting back the files make install had installed failed (see $logs/remove.log)"
        fi
    fi
    rm -rf "$work"
    [ "$failed" = 0 ] && [ "$rc" = 0 ] || exit 1
    exit 0
}
trap cleanup EXIT
trap 'interrupted=1; exit 1' INT TERM HUP

# A clean copy of the tree: what git tracks (as in the work tree) and
# untracked files it does not ignore; never *.o, *.so, results/ and such.
# The autopkgtest runs in a copy of its own, as autopkgtest gives it one.
src="$work/build/pg-elt-$version"
mkdir -p "$src" "$work/test-tree"
git -c safe.directory="$PWD" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf "$work/tree.tar"
tar -xf "$work/tree.tar" -C "$src"
tar -xf "$work/tree.tar" -C "$work/test-tree"

step=build
if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$logs/build.log" 2>&1; then
    ok build
else
    not_ok build "dpkg-buildpackage -us -uc -b failed (log: $logs/build.log)"
    show_log "$logs/build.log"
    step=""
    exit 1
fi
step=deb
debs=("$work"/build/postgresql-15-elt_*.deb)
deb=${debs[0]}
cp "$deb" "$logs/"

# The package's upstream version is the extension's default_version.
step=version
deb_version=$(dpkg-deb -f "$deb" Version)
if [ "${deb_version%-*}" = "$version" ]; then
    ok version
else
    not_ok version "the package is $deb_version, pg_elt.control's default_version '$version'"
fi

# Save what the package will replace, then install it.
step=install
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print substr($6, 2)}' >"$work/files.list"
while read -r f; do [ -e "$f" ] && echo "$f"; done <"$work/files.list" >"$work/saved.list"
if [ -s "$work/saved.list" ]; then
    tar -cpf "$work/saved.tar" -P -T "$work/saved.list"
    xargs -d '\n' md5sum <"$work/saved.list" >"$work/saved.md5"
fi
installed=1
if DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" >"$logs/install.log" 2>&1 &&
   dpkg-query -W -f='${Status}' postgresql-15-elt | grep -q "install ok installed" &&
   [ "$(dpkg -S "$("$PG_CONFIG" --pkglibdir)/pg_elt.so" 2>/dev/null | cut -d: -f1)" = postgresql-15-elt ] &&
   [ "$(dpkg -S "$("$PG_CONFIG" --sharedir)/extension/pg_elt.control" 2>/dev/null | cut -d: -f1)" = postgresql-15-elt ]; then
    ok install
else
    not_ok install "apt-get install $(basename "$deb") failed, or the files are not the package's (log: $logs/install.log)"
    show_log "$logs/install.log"
    step=""
    exit 1
fi

# A cluster of the test's own, as the postgres user, on a free port.
step=create_extension
port=$(free_port 56040 56059) || { not_ok create_extension "no free port in 56040-56059"; step=""; exit 1; }
cluster="$work/cluster"
mkdir -p "$cluster"
touch "$logs/cluster.log"
chown postgres: "$cluster" "$logs/cluster.log"
pg_elt_start_cluster "$cluster" "$port" "$logs/cluster.log"
as_postgres "'$PG_BINDIR/createdb' -h /tmp -p $port taxi"
psql_taxi() { as_postgres "'$PG_BINDIR/psql' -X -q -At -h /tmp -p $port -d taxi -v ON_ERROR_STOP=1 $*"; }
if ext=$(psql_taxi "-c 'CREATE EXTENSION pg_elt' -c \"SELECT extversion FROM pg_extension WHERE extname = 'pg_elt'\"" \
        2>>"$logs/psql.log") && [ "$ext" = "$version" ]; then
    ok create_extension
else
    not_ok create_extension "CREATE EXTENSION pg_elt gave '${ext:-}', not version $version (log: $logs/psql.log)"
fi

# The tutorial's ingest flow on a generated file; the count it should leave
# is the file's rows less those with passenger_count 0 (the flow's cleanup).
step=ingest_run
data="$work/data"
mkdir -p "$data/s3"
file="$data/yellow_tripdata_2021-01.csv.gz"
python3 "$work/test-tree/test/gen_taxi.py" --rows "$rows" --out "$file"
expected=$(python3 - "$file" <<'PY'
import csv, gzip, sys
with gzip.open(sys.argv[1], "rt", newline="") as f:
    r = csv.reader(f)
    col = next(r).index("passenger_count")
    print(sum(1 for row in r if row[col] != "0"))
PY
)
chmod -R a+rX "$data"
fixture_port=18866
served=0
pg_elt_start_fixture_server "$fixture_port" "$data" 2>>"$logs/psql.log" || served=$?
trap cleanup EXIT   # pg_elt_start_fixture_server replaces the EXIT trap with its own
[ "$served" = 0 ] ||
    { not_ok ingest_run "the taxi file's server could not start on 127.0.0.1:$fixture_port-$((fixture_port + 2))"; step=""; exit 1; }
url="http://127.0.0.1:$fixture_port/$(basename "$file")"
run=$(psql_taxi "-F ' ' -v url='$url'" <<SQL 2>>"$logs/psql.log"
\i $work/test-tree/test/ingest_flow.sql
SELECT state, rows_loaded FROM flow_run('ingest', '{"table_name": "yellow_taxi_trips"}');
SQL
) || true
if [ "$run" = "completed $rows" ]; then
    ok ingest_run
else
    not_ok ingest_run "flow_run gave '${run:-nothing}', not 'completed $rows' (log: $logs/psql.log)"
fi
step=ingest_count
count=$(psql_taxi "-c 'SELECT count(*) FROM yellow_taxi_trips'" 2>>"$logs/psql.log") || true
if [ "$count" = "$expected" ]; then
    ok ingest_count
else
    not_ok ingest_count "yellow_taxi_trips has '${count:-no}' rows, $expected expected ($rows less those with passenger_count 0)"
fi
pg_elt_stop_cluster "$cluster"
cluster=""
kill "$PG_ELT_FIXTURE_PID" "$PG_ELT_S3_FIXTURE_PID" 2>/dev/null || true
PG_ELT_FIXTURE_PID=""
PG_ELT_S3_FIXTURE_PID=""

# The autopkgtest, as autopkgtest runs it: the script in the source tree,
# against the installed package (pg_virtualenv's cluster on a free port).
step=autopkgtest
vport=$(free_port 56060 56079) || { not_ok autopkgtest "no free port in 56060-56079"; step=""; exit 1; }
if (cd "$work/test-tree" && PGPORT=$vport debian/tests/installcheck) >"$logs/autopkgtest.log" 2>&1; then
    ok autopkgtest
else
    not_ok autopkgtest "debian/tests/installcheck failed (log: $logs/autopkgtest.log)"
    grep -hE '^pg_elt: |\.\.\. FAILED|tests failed' "$logs/autopkgtest.log" | sed 's/^/    /' || true
    if [ -f "$work/test-tree/regression.diffs" ]; then
        cp "$work/test-tree/regression.diffs" "$work/test-tree/regression.out" "$logs/"
        echo "    --- first lines of $logs/regression.diffs"
        head -n 40 "$logs/regression.diffs" | sed 's/^/    /'
    else
        show_log "$logs/autopkgtest.log" 40
    fi
fi
step=""
