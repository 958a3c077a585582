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

# The Debian cluster 15/main, on localhost:5432.
if ! pg_lsclusters -h | awk '$1 == 15 && $2 == "main" {f = 1} END {exit !f}'; then
    pg_createcluster 15 main >/dev/null
fi
pg_ctlcluster 15 main start >/dev/null 2>&1 || true
for _ in $(seq 30); do su postgres -c "pg_isready -q" && break; sleep 1; done
su postgres -c "psql -qAtX -c \"SELECT 'CREATE DATABASE taxi' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'taxi')\" | psql -qX"

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
su postgres -c "psql -X -d taxi -v ON_ERROR_STOP=1 -v url='$url'" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_elt;
DELETE FROM elt.flows WHERE name = 'ingest';
INSERT INTO elt.flows (name, params) VALUES
  ('ingest', jsonb_build_object('url', :'url', 'table_name', 'yellow_taxi_trips'));
INSERT INTO elt.tasks (flow, name, kind, config, retries, retry_delay, tags) VALUES
  ('ingest', 'extract_data', 'extract',
   '{"url": ":url", "table": ":table_name", "mode": "replace"}', 3, '2 seconds', '{extract}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('ingest', 'transform_data', 'sql',
   'DELETE FROM :"table_name" WHERE passenger_count = 0', '{extract_data}');
\x auto
SELECT * FROM flow_run('ingest', '{"table_name": "yellow_taxi_trips"}');
SELECT count(*) AS yellow_taxi_trips FROM yellow_taxi_trips;
SQL
