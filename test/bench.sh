#!/bin/bash
# pg_elt's benchmark (as root on Debian 12).
#
# 1. Loading: load_csv of the gzip taxi file over HTTP against server-side
#    COPY of the same file uncompressed, in one run, alternating, into
#    identical fresh typed tables.  Prints each run, the medians, the ratio
#    a/b, and the loading backend's peak memory in (a).
# 2. Orchestration: the latency from flow_submit of a one-task SELECT 1 flow
#    to its completed state (median over 200 runs, one after another), and
#    runs completed per second with pg_elt.max_workers = 4 (500 runs queued
#    at once).
#
#   bash test/bench.sh [--runs N] [--rows N] [--only load|runs]
#
# Uses the local cluster 15/main (as test/demo.sh sets it up, with
# shared_preload_libraries = 'pg_elt' added), database pg_elt_bench, and
# serves the file on 127.0.0.1:8767.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
rows=1369765
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --rows) rows=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "usage: $0 [--runs N] [--rows N] [--only load|runs]" >&2; exit 2 ;;
    esac
done

source test/setup.sh
source test/fixtures.sh

pg_elt_start_main_cluster pg_elt_bench
# the scheduler (flow_submit) needs the preload
if [ "$(su postgres -c "psql -qAtX -c 'SHOW shared_preload_libraries'")" != "pg_elt" ] ||
   [ "$(su postgres -c "psql -qAtX -c 'SHOW max_worker_processes'")" -lt 16 ]; then
    su postgres -c "psql -qAtX -c \"ALTER SYSTEM SET shared_preload_libraries = 'pg_elt'\""
    su postgres -c "psql -qAtX -c \"ALTER SYSTEM SET max_worker_processes = 16\""
    pg_ctlcluster 15 main restart
    for _ in $(seq 30); do su postgres -c "pg_isready -q" && break; sleep 1; done
fi

psql_bench() {
    su postgres -c "psql -qAtX -d pg_elt_bench -v ON_ERROR_STOP=1 $*"
}
echo "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_elt; ALTER EXTENSION pg_elt UPDATE;" | psql_bench
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

bench_runs() {
    psql_bench <<'SQL'
SET client_min_messages = warning;
DELETE FROM elt.flows WHERE name = 'bench_trivial';
INSERT INTO elt.flows (name, max_active_runs) VALUES ('bench_trivial', 1000);
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('bench_trivial', 'one', 'sql', 'SELECT 1');
SQL
    # latency: 200 runs, one after another, each submitted and waited for
    {
        echo "SET client_min_messages = warning;"
        for _ in $(seq 200); do
            echo "SELECT flow_submit('bench_trivial') AS id \\gset"
            echo "SELECT state FROM flow_wait(:id) \\g /dev/null"
        done
    } | psql_bench
    psql_bench <<'SQL'
SELECT format('latency flow_submit -> completed over %s runs: median %s ms, p90 %s ms (target: median <= 50 ms)',
              count(*),
              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ended_at - created_at)) * 1000)::numeric, 1),
              round((percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM ended_at - created_at)) * 1000)::numeric, 1))
  FROM (SELECT * FROM elt.flow_runs WHERE flow = 'bench_trivial' AND state = 'completed'
         ORDER BY run_id DESC LIMIT 200) r;
SQL
    # throughput: 500 runs queued at once (one commit), max_workers = 4
    psql_bench <<'SQL'
SET client_min_messages = warning;
CREATE TEMP TABLE batch AS SELECT flow_submit('bench_trivial') AS id FROM generate_series(1, 500);
SELECT count(*) FROM batch b, LATERAL flow_wait(b.id) w WHERE w.state = 'completed' \g /dev/null
SELECT format('throughput: %s of %s runs completed in %s s = %s runs/s with pg_elt.max_workers = %s (target >= 50)',
              count(*) FILTER (WHERE state = 'completed'), count(*),
              round(extract(epoch FROM max(ended_at) - min(created_at))::numeric, 2),
              round((count(*) FILTER (WHERE state = 'completed')
                     / extract(epoch FROM max(ended_at) - min(created_at)))::numeric, 1),
              current_setting('pg_elt.max_workers'))
  FROM elt.flow_runs r JOIN batch b ON b.id = r.run_id;
SQL
}

if [ "$only" = runs ]; then
    bench_runs
    exit 0
fi

data=/var/tmp/pg_elt-bench
mkdir -p "$data"
chmod 755 "$data"
gz=$data/yellow_tripdata_2021-01.csv.gz
csv=$data/yellow_tripdata_2021-01.csv
if [ ! -s "$csv" ] || [ "$(cat "$data/rows" 2>/dev/null)" != "$rows" ]; then
    echo "bench: generating $rows rows"
    python3 test/gen_taxi.py --rows "$rows" --out "$gz"
    gzip -dc "$gz" > "$csv"
    echo "$rows" > "$data/rows"
fi
chmod 644 "$gz" "$csv"
echo "bench: $(stat -c %s "$gz") bytes gzip, $(stat -c %s "$csv") bytes CSV, $rows rows"
pg_elt_start_fixture_server 8767 "$data"
url=http://127.0.0.1:8767/yellow_tripdata_2021-01.csv.gz


ddl="(vendorid bigint, tpep_pickup_datetime timestamp, tpep_dropoff_datetime timestamp,
      passenger_count bigint, trip_distance float8, ratecodeid bigint, store_and_fwd_flag text,
      pulocationid bigint, dolocationid bigint, payment_type bigint, fare_amount float8,
      extra float8, mta_tax float8, tip_amount float8, tolls_amount float8,
      improvement_surcharge float8, total_amount float8, congestion_surcharge float8)"

now() { date +%s.%N; }

# Samples the memory of the backend whose pid appears in $1 until it is
# gone or $2 exists; prints peak VmRSS and RssAnon (kB) and VmHWM.
sample_memory() {
    python3 - "$1" "$2" <<'PY'
import os, sys, time
pidfile, stopfile = sys.argv[1], sys.argv[2]
while not os.path.exists(pidfile) or not open(pidfile).read().strip():
    time.sleep(0.005)
pid = open(pidfile).read().strip()
peak = {"VmRSS": 0, "RssAnon": 0, "VmHWM": 0}
while not os.path.exists(stopfile):
    try:
        for line in open("/proc/%s/status" % pid):
            k = line.split(":")[0]
            if k in peak:
                peak[k] = max(peak[k], int(line.split()[1]))
    except FileNotFoundError:
        break
    time.sleep(0.01)
print(peak["VmRSS"], peak["RssAnon"], peak["VmHWM"])
PY
}

a_times=()
b_times=()
mem_line=""
for i in $(seq "$runs"); do
    psql_bench <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_a; DROP TABLE IF EXISTS bench_b;
CREATE TABLE bench_a $ddl; CREATE TABLE bench_b $ddl;
CHECKPOINT;
SQL

    # (a) load_csv of the gzip file over HTTP
    pidfile=$(mktemp -u /tmp/pg_elt_bench.pid.XXXX); stopfile=$(mktemp -u /tmp/pg_elt_bench.stop.XXXX)
    sample_memory "$pidfile" "$stopfile" > "$pidfile.mem" &
    sampler=$!
    t0=$(now)
    psql_bench <<SQL >/dev/null
SELECT pg_backend_pid() \g $pidfile
SET pg_elt.progress_interval = 0;
SELECT load_csv('$url', 'bench_a');
SQL
    t1=$(now)
    touch "$stopfile"; wait "$sampler"
    read -r rss anon hwm < "$pidfile.mem"
    rm -f "$pidfile" "$pidfile.mem" "$stopfile"
    a=$(awk -v s="$t0" -v e="$t1" 'BEGIN {print e - s}')

    # (b) server-side COPY of the uncompressed file
    t0=$(now)
    echo "COPY bench_b FROM '$csv' (FORMAT csv, HEADER);" | psql_bench >/dev/null
    t1=$(now)
    b=$(awk -v s="$t0" -v e="$t1" 'BEGIN {print e - s}')

    counts=$(echo "SELECT (SELECT count(*) FROM bench_a), (SELECT count(*) FROM bench_b);" | psql_bench -F,)
    [ "$counts" = "$rows,$rows" ] || { echo "bench: row counts differ: $counts" >&2; exit 1; }
    a_times+=("$a"); b_times+=("$b")
    printf 'run %d: (a) load_csv gz over HTTP %6.2f s   (b) COPY plain file %6.2f s   (a) backend peak RSS %d MB (private %d MB, VmHWM %d MB)\n' \
        "$i" "$a" "$b" $((rss / 1024)) $((anon / 1024)) $((hwm / 1024))
    mem_line="$mem_line $anon"
done

ma=$(median "${a_times[@]}")
mb=$(median "${b_times[@]}")
peak_private=$(printf '%s\n' $mem_line | sort -n | tail -1)
printf '\nmedian of %d runs: (a) %.2f s   (b) %.2f s   ratio a/b = %.2f   (target <= 1.25)\n' "$runs" "$ma" "$mb" \
    "$(awk -v a="$ma" -v b="$mb" 'BEGIN {print a / b}')"
printf 'peak private memory of the loading backend in (a): %d MB (target < 100 MB)\n' $((peak_private / 1024))

if [ "$only" != load ]; then
    echo
    bench_runs
fi
