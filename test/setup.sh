#!/bin/bash
# Installs what pg_elt needs on Debian 12 (as root), then builds and installs
# the extension.  Sourced by demo.sh and check.sh; safe to run again.
set -euo pipefail

PG_ELT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libcurl4-openssl-dev
                 zlib1g-dev libisal-dev libipc-run-perl python3 python3-botocore make gcc clang libclang-rt-14-dev
                 build-essential git debhelper postgresql-server-dev-all)

if [ "$(id -u)" != 0 ]; then
    echo "pg_elt: run this as root (it installs Debian packages)" >&2
    exit 1
fi

missing=()
for p in "${PG_ELT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "pg_elt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PG_BINDIR=$("$PG_CONFIG" --bindir)
export PG_BINDIR
make -s PG_CONFIG="$PG_CONFIG" >/dev/null
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
echo "pg_elt: built and installed into $($PG_CONFIG --pkglibdir)"

# Starts Debian's cluster 15/main (localhost:5432), creating it if needed,
# and database $1 in it.
pg_elt_start_main_cluster() {
    local db=$1
    if ! pg_lsclusters -h | awk '$1 == 15 && $2 == "main" {f = 1} END {exit !f}'; then
        pg_createcluster 15 main >/dev/null
    fi
    pg_ctlcluster 15 main start >/dev/null 2>&1 || true
    for _ in $(seq 30); do su postgres -c "pg_isready -q" && break; sleep 1; done
    su postgres -c "psql -qAtX -c \"SELECT 'CREATE DATABASE $db' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\" | psql -qX"
}
