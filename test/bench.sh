#!/bin/bash
# pg_elt's benchmark (as root on Debian 12): load_csv of the gzip taxi file
# over HTTP against server-side COPY of the same file uncompressed, in one
# run, alternating, into identical fresh typed tables.  Prints each run, the
# medians, the ratio a/b, and the loading backend's peak memory in (a).
#
#   bash test/bench.sh [--runs N] [--rows N]
#
# Uses the local cluster 15/main (as test/demo.sh sets it up), database
# pg_elt_bench, and serves the file on 127.0.0.1:8767.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
rows=1369765
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --rows) rows=$2; shift 2 ;;
        *) echo "usage: $0 [--runs N] [--rows N]" >&2; exit 2 ;;
    esac
done

source test/setup.sh
source test/fixtures.sh

pg_elt_start_main_cluster pg_elt_bench

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

psql_bench() {
    su postgres -c "psql -qAtX -d pg_elt_bench -v ON_ERROR_STOP=1 $*"
}

echo "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_elt;" | psql_bench

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

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ma=$(median "${a_times[@]}")
mb=$(median "${b_times[@]}")
peak_private=$(printf '%s\n' $mem_line | sort -n | tail -1)
printf '\nmedian of %d runs: (a) %.2f s   (b) %.2f s   ratio a/b = %.2f   (target <= 1.25)\n' "$runs" "$ma" "$mb" \
    "$(awk -v a="$ma" -v b="$mb" 'BEGIN {print a / b}')"
printf 'peak private memory of the loading backend in (a): %d MB (target < 100 MB)\n' $((peak_private / 1024))
