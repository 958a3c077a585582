#!/bin/bash
# pg_elt's main job, end to end, on a fresh Debian 12 machine (as root):
# installs what is missing, builds and installs the extension, starts the
# local PostgreSQL 15 cluster, generates the January 2021 yellow-taxi file
# (1,369,765 rows) and serves it on 127.0.0.1:8765, defines the tutorial's
# ingest flow, runs it, and prints the run's row and the table's count.
#
#   bash test/demo.sh                  # generated file, served locally
#   bash test/demo.sh --rows 10000     # a smaller generated file
#   bash test/demo.sh --url https://github.com/DataTalksClub/nyc-tlc-data/releases/download/yellow/yellow_tripdata_2021-01.csv.gz
#                                      # the real file, where there is internet
# Safe to run again: it replaces the flow and reloads the table.
set -euo pipefail
cd "$(dirname "$0")/.."

rows=1369765
url=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows=$2; shift 2 ;;
        --url) url=$2; shift 2 ;;
        *) echo "usage: $0 [--rows N] [--url URL]" >&2; exit 2 ;;
    esac
done

source test/setup.sh
source test/fixtures.sh

pg_elt_start_main_cluster taxi

if [ -z "$url" ]; then
    data=/var/tmp/pg_elt-demo
    file=$data/yellow_tripdata_2021-01.csv.gz
    mkdir -p "$data"
    if [ ! -s "$file" ] || [ "$(cat "$file.rows" 2>/dev/null)" != "$rows" ]; then
        echo "pg_elt: generating $rows taxi rows into $file"
        python3 test/gen_taxi.py --rows "$rows" --out "$file"
        echo "$rows" > "$file.rows"
    fi
    pg_elt_start_fixture_server 8765 "$data"
    url=http://127.0.0.1:8765/yellow_tripdata_2021-01.csv.gz
fi

echo "pg_elt: running the ingest flow on $url"
su postgres -c "psql -X -d taxi -v ON_ERROR_STOP=1 -v url='$url'" <<SQL
CREATE EXTENSION IF NOT EXISTS pg_elt;
ALTER EXTENSION pg_elt UPDATE;
DELETE FROM elt.flows WHERE name = 'ingest';
\i $PWD/test/ingest_flow.sql
\x auto
SELECT * FROM flow_run('ingest', '{"table_name": "yellow_taxi_trips"}');
SELECT count(*) AS yellow_taxi_trips FROM yellow_taxi_trips;
SQL
