#!/bin/bash
# pg_elt's benchmark (as root on Debian 12).
#
# 1. load: load_csv of the gzip taxi file over HTTP, (a) single-stream
#    ("parallel": 0, appended) and (d) mode replace with parallel workers
#    as by default, against (b) server-side COPY of the same file
#    uncompressed, in one run, alternating, into identical fresh typed
#    tables, and (c) COPY FROM PROGRAM 'gzip -dc' of the gzip file
#    (inflating in a child process, overlapped with COPY).
#    Prints each run, the medians, the ratios a/b, c/b and d/b, the inflater
#    pg_elt was built with, and peak private memory of the loading backend
#    in (a) and (d) and of each parallel worker in (d).
# 2. insert: load_csv's two insert paths on the same file, alternating, into
#    identical fresh typed tables: (a) the direct path ("path": "copy",
#    single-stream as the executor path is: "parallel": 0) and
#    (b) the executor path ("path": "insert").  Prints each run, the
#    medians, the ratio b/a, and the loading backend's peak private memory
#    on the executor path for the full file and for a quarter of its rows.
# 3. citus: on a throwaway Citus cluster (a coordinator and two workers,
#    initdb'd under /tmp on ports 5441-5443, removed at the end), load_csv
#    of the gzip file into a distributed table (the executor path, chosen
#    by default) against native COPY of the plain file into an identical
#    distributed table, alternating; then the README's ingest flow into a
#    distributed yellow_taxi_trips once.  Skipped, with one line saying so,
#    when Citus is not installed.
# 4. runs (orchestration): the latency from flow_submit of a one-task
#    SELECT 1 flow to its completed state (median over 200 runs, one after
#    another), and runs completed per second with pg_elt.max_workers = 4
#    (500 runs queued at once).
#
# 5. map: a 200-instance map of SELECT 1 against the same 200 tasks written
#    as rows; per-instance cost, medians and their ratio.
# 6. cache: the README's ingest flow with both tasks cached for a day, run
#    (a) refreshing the cache (the full load and transform: what a run
#    without caching does, plus writing the entries) and (b) cached (one
#    conditional request answered 304, nothing loaded), and (c) a one-task
#    SELECT 1 flow, the floor of any flow_run, alternating; each timed
#    around flow_run in the session that calls it; medians, ratio a/b, and
#    (b) split into starting the run's worker and the run itself.
#
# 7. notify: the latency from a run's end (ended_at of a failed queued
#    run) to its webhook's arrival at the fixture server (its receive
#    time), over 20 runs one after another; median, p90, max.
# 8. store: load_csv of the gzip taxi file from the S3-compatible fixture
#    (test/s3_fixture.py: signed requests, each signature checked) against
#    the same file from the fixture HTTP server, alternating; and
#    elt.list_files over a prefix of 10,000 objects (ListObjectsV2 pages).
# 9. small: 1,000 loads of a 1,000-row gzip file over HTTP into an
#    existing table against 1,000 COPYs of the same rows from a local file,
#    alternating, --runs rounds: the cost per call over COPY (the median
#    of the rounds' paired differences); and (c) 1,000 fetches of the file
#    by one curl process, the fixture server's own time to answer, which
#    is part of that cost.
# 10. sched: the scheduler with 20 flows firing "every 1 seconds" (one
#    SELECT 1 task each; pg_elt.max_workers and max_idle_workers = 8), with no other scheduled
#    flow against with 1,000 more that are not due, alternating, 3 rounds
#    of 20 s: the scheduler process's CPU per run started (from
#    /proc/PID/stat) and the due -> start delay (started_at - run_at) of
#    every run, p50 and p99; medians and the CPU ratio.
#
#   bash test/bench.sh [--runs N] [--rows N] [--only load|insert|citus|runs|map|cache|notify|store|small|sched]
#
# Uses the local cluster 15/main (as test/demo.sh sets it up, with
# shared_preload_libraries = 'pg_elt' added), database pg_elt_bench, and
# serves the files on 127.0.0.1:8767.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: $0 [--runs N] [--rows N] [--only load|insert|citus|runs|map|cache|notify|store|small|sched]"
runs=5
rows=1369765
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --rows) rows=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
case "$only" in
    ""|load|insert|citus|runs|map|cache|notify|store|small|sched) ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
# Whether part $1 is to run.
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

source test/setup.sh
source test/fixtures.sh

citus_control=$("$PG_CONFIG" --sharedir)/extension/citus.control
citus_skipped="bench: citus: skipped, Citus is not installed (no $citus_control)"
if [ "$only" = citus ] && [ ! -f "$citus_control" ]; then
    echo "$citus_skipped"
    exit 0
fi

psql_bench() {
    su postgres -c "psql -qAtX -d pg_elt_bench -v ON_ERROR_STOP=1 $*"
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
now() { date +%s.%N; }
# Seconds since $1 (a now).
since() { awk -v s="$1" -v e="$(now)" 'BEGIN {print e - s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {print a / b}'; }

if want load || want insert || want runs || want map || want cache || want notify || want store || want small || want sched; then
    pg_elt_start_main_cluster pg_elt_bench
    # the scheduler (flow_submit) needs the preload
    if [ "$(su postgres -c "psql -qAtX -c 'SHOW shared_preload_libraries'")" != "pg_elt" ] ||
       [ "$(su postgres -c "psql -qAtX -c 'SHOW max_worker_processes'")" -lt 16 ]; then
        su postgres -c "psql -qAtX -c \"ALTER SYSTEM SET shared_preload_libraries = 'pg_elt'\""
        su postgres -c "psql -qAtX -c \"ALTER SYSTEM SET max_worker_processes = 16\""
    fi
    # a preloaded library is the one the postmaster loaded: restart, so that
    # what is measured is what was just built
    pg_ctlcluster 15 main restart
    for _ in $(seq 30); do su postgres -c "pg_isready -q" && break; sleep 1; done
    echo "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_elt; ALTER EXTENSION pg_elt UPDATE;" | psql_bench
fi

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

# A 200-instance map of SELECT 1 against the same 200 tasks written as
# rows (what a flow had to be before for_each): per-task cost of each, in
# flow_run, alternating, 5 rounds; medians and their ratio.
bench_map() {
    psql_bench <<'SQL'
SET client_min_messages = warning;
DELETE FROM elt.flows WHERE name IN ('bench_map', 'bench_rows');
INSERT INTO elt.flows (name, params) VALUES ('bench_map', jsonb_build_object('n', (SELECT jsonb_agg(g) FROM generate_series(1, 200) g)));
INSERT INTO elt.tasks (flow, name, kind, sql, for_each) VALUES ('bench_map', 'one', 'sql', 'SELECT :item', ':n');
INSERT INTO elt.flows (name) VALUES ('bench_rows');
INSERT INTO elt.tasks (flow, name, kind, sql) SELECT 'bench_rows', 'one_' || g, 'sql', 'SELECT ' || g FROM generate_series(1, 200) g;
CREATE TABLE IF NOT EXISTS bench_map_times (path text, ms float8);
TRUNCATE bench_map_times;
SQL
    for _ in 1 2 3 4 5; do
        for flow in bench_map bench_rows; do
            psql_bench <<SQL
SET client_min_messages = warning;
INSERT INTO bench_map_times SELECT '$flow', extract(epoch FROM duration) * 1000 / 200 FROM flow_run('$flow');
SQL
        done
    done
    psql_bench <<'SQL'
WITH m AS (SELECT path, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median FROM bench_map_times GROUP BY path)
SELECT format('map of 200 SELECT 1 instances: median %s ms per instance; the same 200 tasks as rows: median %s ms per task; ratio %s (5 rounds each, alternating)',
              round((SELECT median FROM m WHERE path = 'bench_map')::numeric, 2),
              round((SELECT median FROM m WHERE path = 'bench_rows')::numeric, 2),
              round(((SELECT median FROM m WHERE path = 'bench_map') / (SELECT median FROM m WHERE path = 'bench_rows'))::numeric, 2));
SQL
}

# 20 failed queued runs, each notifying a webhook: run end -> webhook received.
bench_notify() {
    local key
    key="bench_notify_$(date +%s)"
    mkdir -p /var/tmp/pg_elt-bench
    pg_elt_start_fixture_server 8767 /var/tmp/pg_elt-bench
    psql_bench -v key="$key" <<'SQL'
SET client_min_messages = warning;
DELETE FROM elt.notification_rules WHERE name = 'bench_hook';
DELETE FROM elt.flows WHERE name = 'bench_fails';
INSERT INTO elt.flows (name, max_active_runs) VALUES ('bench_fails', 100);
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('bench_fails', 't', 'sql', 'SELECT 1/0');
INSERT INTO elt.notification_rules (name, flow, events, target, url)
VALUES ('bench_hook', 'bench_fails', '{failed}', 'webhook', 'http://127.0.0.1:8767/hook?key=' || :'key');
SQL
    {
        echo "SET client_min_messages = warning;"
        for _ in $(seq 20); do
            echo "SELECT flow_submit('bench_fails') AS id \gset"
            echo "SELECT state FROM flow_wait(:id) \g /dev/null"
        done
    } | psql_bench
    psql_bench -v key="$key" <<'SQL'
SET client_min_messages = warning;
SET bench.key = :'key';
DROP TABLE IF EXISTS bench_posts;
DO $$
BEGIN
    FOR i IN 1..60 LOOP
        PERFORM load_csv('http://127.0.0.1:8767/_posts?key=' || current_setting('bench.key'), 'bench_posts',
                         '{"header": false, "mode": "replace", "columns": ["at", "body"]}');
        EXIT WHEN (SELECT count(*) FROM bench_posts) >= 20;
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
SQL
    psql_bench <<'SQL'
WITH l AS (SELECT (p.at::float8 - extract(epoch FROM r.ended_at)) * 1000 AS ms
             FROM bench_posts p JOIN elt.flow_runs r ON r.run_id = (p.body::jsonb ->> 'run_id')::bigint)
SELECT format('notify: %s of 20 failed runs posted their webhook; latency run end -> webhook received: median %s ms, p90 %s ms, max %s ms (target: median <= 1000 ms)',
              count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
              round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(max(ms)::numeric, 1))
  FROM l;
SQL
}

# The scheduler's CPU (user + system clock ticks of its process) now.
scheduler_ticks() {
    local pid
    pid=$(psql_bench <<<"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_elt scheduler' AND datname = current_database()")
    awk '{print $14 + $15}' "/proc/$pid/stat"
}

bench_sched() {
    local round phase ticks0 ticks1 t0 hz
    hz=$(getconf CLK_TCK)
    psql_bench <<'SQL'
SET client_min_messages = warning;
ALTER SYSTEM SET pg_elt.max_workers = 8;
ALTER SYSTEM SET pg_elt.max_idle_workers = 8;
SELECT pg_reload_conf();
DELETE FROM elt.flows WHERE name LIKE 'bench_tick_%' OR name LIKE 'bench_idle_%';
INSERT INTO elt.flows (name, schedule, enabled)
SELECT 'bench_idle_' || g, '0 3 1 1 *', false FROM generate_series(1, 1000) g;
INSERT INTO elt.flows (name, schedule, enabled)
SELECT 'bench_tick_' || g, 'every 1 seconds', false FROM generate_series(1, 20) g;
INSERT INTO elt.tasks (flow, name, kind, sql)
SELECT name, 't', 'sql', 'SELECT 1' FROM elt.flows WHERE name LIKE 'bench_tick_%' OR name LIKE 'bench_idle_%';
CREATE TABLE IF NOT EXISTS bench_sched_rounds (phase text, ms_per_run float8, runs int, t0 timestamptz, t1 timestamptz);
TRUNCATE bench_sched_rounds;
UPDATE elt.flows SET enabled = true WHERE name LIKE 'bench_tick_%';
SQL
    for round in 1 2 3; do
        for phase in none 1000; do
            psql_bench <<<"UPDATE elt.flows SET enabled = ('$phase' = '1000') WHERE name LIKE 'bench_idle_%'" >/dev/null
            sleep 3
            ticks0=$(scheduler_ticks)
            t0=$(psql_bench <<<"SELECT clock_timestamp()")
            sleep 20
            ticks1=$(scheduler_ticks)
            psql_bench <<SQL
INSERT INTO bench_sched_rounds
SELECT '$phase', ($ticks1 - $ticks0) * 1000.0 / $hz / greatest(count(*), 1), count(*), '$t0', clock_timestamp()
  FROM elt.flow_runs WHERE flow LIKE 'bench_tick_%' AND started_at >= '$t0';
SQL
        done
    done
    psql_bench <<'SQL'
SET client_min_messages = warning;
UPDATE elt.flows SET enabled = false WHERE name LIKE 'bench_tick_%' OR name LIKE 'bench_idle_%';
ALTER SYSTEM RESET pg_elt.max_workers;
ALTER SYSTEM RESET pg_elt.max_idle_workers;
SELECT pg_reload_conf() \g /dev/null
WITH d AS (SELECT b.phase, extract(epoch FROM r.started_at - r.run_at) * 1000 AS ms
             FROM bench_sched_rounds b JOIN elt.flow_runs r
               ON r.flow LIKE 'bench_tick_%' AND r.trigger = 'schedule' AND r.started_at >= b.t0 AND r.started_at < b.t1),
     c AS (SELECT phase, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms_per_run) AS cpu, sum(runs) AS runs
             FROM bench_sched_rounds GROUP BY phase)
SELECT format('sched, %s flows not due: %s runs; scheduler CPU per run started: median %s ms; due -> start: p50 %s ms, p99 %s ms',
              c.phase, c.runs, round(c.cpu::numeric, 3),
              round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM d WHERE d.phase = c.phase)::numeric, 1),
              round((SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM d WHERE d.phase = c.phase)::numeric, 1))
  FROM c ORDER BY c.phase DESC;
SELECT format('sched: CPU per run with 1,000 scheduled flows / with none: %s (target <= 1.2); due -> start p99 target <= 150 ms',
              round(((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms_per_run) FROM bench_sched_rounds WHERE phase = '1000')
                   / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms_per_run) FROM bench_sched_rounds WHERE phase = 'none'))::numeric, 2));
SQL
}

if [ "$only" = notify ]; then
    bench_notify
    exit 0
fi

if [ "$only" = sched ]; then
    bench_sched
    exit 0
fi

if [ "$only" = map ]; then
    bench_map
    exit 0
fi

if [ "$only" = runs ]; then
    bench_runs
    exit 0
fi

data=/var/tmp/pg_elt-bench
# Generates $2 rows into directory $1 (yellow_tripdata_2021-01.csv.gz and
# .csv) unless they are there already.
generate() {
    local dir=$1 n=$2
    mkdir -p "$dir"
    chmod 755 "$dir"
    if [ ! -s "$dir/yellow_tripdata_2021-01.csv" ] || [ "$(cat "$dir/rows" 2>/dev/null)" != "$n" ]; then
        echo "bench: generating $n rows"
        rm -f "$dir/rows"
        python3 test/gen_taxi.py --rows "$n" --out "$dir/yellow_tripdata_2021-01.csv.gz"
        gzip -dc "$dir/yellow_tripdata_2021-01.csv.gz" > "$dir/yellow_tripdata_2021-01.csv"
        echo "$n" > "$dir/rows"
    fi
    chmod 644 "$dir/yellow_tripdata_2021-01.csv.gz" "$dir/yellow_tripdata_2021-01.csv"
}
generate "$data" "$rows"
gz=$data/yellow_tripdata_2021-01.csv.gz
csv=$data/yellow_tripdata_2021-01.csv
echo "bench: $(stat -c %s "$gz") bytes gzip, $(stat -c %s "$csv") bytes CSV, $rows rows"
pg_elt_start_fixture_server 8767 "$data"
url=http://127.0.0.1:8767/yellow_tripdata_2021-01.csv.gz


ddl="(vendorid bigint, tpep_pickup_datetime timestamp, tpep_dropoff_datetime timestamp,
      passenger_count bigint, trip_distance float8, ratecodeid bigint, store_and_fwd_flag text,
      pulocationid bigint, dolocationid bigint, payment_type bigint, fare_amount float8,
      extra float8, mta_tax float8, tip_amount float8, tolls_amount float8,
      improvement_surcharge float8, total_amount float8, congestion_surcharge float8)"

# Samples the memory of the backend whose pid appears in $1 until it is
# gone or $2 exists; prints peak VmRSS and RssAnon (kB) and VmHWM.  Creates
# $2.ready once it is running.
sample_memory() {
    python3 - "$1" "$2" <<'PY'
import os, sys, time
pidfile, stopfile = sys.argv[1], sys.argv[2]
open(stopfile + ".ready", "w").close()
while not os.path.exists(pidfile) or not open(pidfile).read().strip():
    if os.path.exists(stopfile):
        print(0, 0, 0, 0)
        sys.exit(0)
    time.sleep(0.005)
pid = open(pidfile).read().strip()
peak = {"VmRSS": 0, "RssAnon": 0, "VmHWM": 0}
worker_peak = 0  # private memory of the backend's parallel workers, the largest
title = ("parallel worker for PID %s" % pid).encode()  # after "postgres: [cluster: ]"
rounds = 0
def private_kb(p):
    for line in open("/proc/%s/status" % p):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0
while not os.path.exists(stopfile):
    try:
        for line in open("/proc/%s/status" % pid):
            k = line.split(":")[0]
            if k in peak:
                peak[k] = max(peak[k], int(line.split()[1]))
    except (FileNotFoundError, ProcessLookupError):
        break  # the backend has gone
    rounds += 1
    if rounds % 5 == 0:
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                if title in open("/proc/%s/cmdline" % p, "rb").read():
                    worker_peak = max(worker_peak, private_kb(p))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass
    time.sleep(0.01)
print(peak["VmRSS"], peak["RssAnon"], peak["VmHWM"], worker_peak)
PY
}

# load_csv($1, $2[, $3 options]) in database pg_elt_bench, sampling the
# loading backend's memory; sets elapsed (s), and rss, anon (private) and
# hwm (kB) to the backend's peaks.
load_csv_sampled() {
    local src=$1 table=$2 options=${3:+", '$3'"}
    sql_sampled "SELECT load_csv('$src', '$table'$options);"
}

# Runs one SQL statement, timing it ($elapsed) and sampling its backend's
# memory ($rss, $anon, $hwm in kB).
sql_sampled() {
    local statement=$1 pidfile stopfile sampler t0 ok=0
    pidfile=$(mktemp -u /tmp/pg_elt_bench.pid.XXXX); stopfile=$(mktemp -u /tmp/pg_elt_bench.stop.XXXX)
    sample_memory "$pidfile" "$stopfile" > "$pidfile.mem" &
    sampler=$!
    # python takes a good part of a second to start on a busy machine
    while [ ! -e "$stopfile.ready" ] && kill -0 "$sampler" 2>/dev/null; do sleep 0.01; done
    t0=$(now)
    psql_bench <<SQL >/dev/null || ok=$?
SELECT pg_backend_pid() \g $pidfile
SET pg_elt.progress_interval = 0;
$statement
SQL
    elapsed=$(since "$t0")
    touch "$stopfile"; wait "$sampler"
    read -r rss anon hwm worker_anon < "$pidfile.mem"
    rm -f "$pidfile" "$pidfile.mem" "$stopfile" "$stopfile.ready"
    [ "$ok" = 0 ] || { echo "bench: $statement failed" >&2; exit 1; }
}

# Checks that each table named has $1 rows.
check_counts() {
    local n=$1 psql_fn=$2 expect="" query="SELECT " t counts
    shift 2
    for t in "$@"; do
        query="$query${expect:+, }(SELECT count(*) FROM $t)"
        expect="$expect${expect:+,}$n"
    done
    counts=$(echo "$query;" | $psql_fn -F,)
    [ "$counts" = "$expect" ] || { echo "bench: row counts of $* differ from $n: $counts" >&2; exit 1; }
}

# Empty typed tables named $@, made anew, and a checkpoint before a pair.
fresh_tables() {
    local t sql="SET client_min_messages = warning;"
    for t in "$@"; do sql="$sql DROP TABLE IF EXISTS $t; CREATE TABLE $t $ddl;"; done
    echo "$sql CHECKPOINT;" | psql_bench
}

bench_load() {
    local a_times=() b_times=() c_times=() d_times=() ab=() cb=() db=() mem_line="" d_mem_line=""
    local i a b c d t0 ma mb mc md peak_private inflater=zlib a_rss a_anon a_hwm d_anon d_worker_anon workers
    ldd "$("$PG_CONFIG" --pkglibdir)/pg_elt.so" | grep -q libisal && inflater="ISA-L igzip"
    workers=$(echo "SELECT least($(nproc), current_setting('max_parallel_maintenance_workers')::int);" | psql_bench)
    for i in $(seq "$runs"); do
        fresh_tables bench_a bench_b bench_c bench_d

        # (a) load_csv of the gzip file over HTTP, single stream (appended)
        load_csv_sampled "$url" bench_a '{"parallel": 0}'
        a=$elapsed; a_rss=$rss; a_anon=$anon; a_hwm=$hwm

        # (d) the same, mode replace, parallel as by default
        load_csv_sampled "$url" bench_d '{"mode": "replace"}'
        d=$elapsed; d_anon=$anon; d_worker_anon=$worker_anon

        # (b) server-side COPY of the uncompressed file
        t0=$(now)
        echo "COPY bench_b FROM '$csv' (FORMAT csv, HEADER);" | psql_bench >/dev/null
        b=$(since "$t0")

        # (c) COPY of the gzip file inflated by a child process (gzip -dc):
        # what inflating in a helper process beside the backend would give
        t0=$(now)
        echo "COPY bench_c FROM PROGRAM 'gzip -dc $gz' (FORMAT csv, HEADER);" | psql_bench >/dev/null
        c=$(since "$t0")

        check_counts "$rows" psql_bench bench_a bench_b bench_c bench_d
        a_times+=("$a"); b_times+=("$b"); c_times+=("$c"); d_times+=("$d")
        ab+=("$(ratio "$a" "$b")"); cb+=("$(ratio "$c" "$b")"); db+=("$(ratio "$d" "$b")")
        printf 'run %d: (a) load_csv gz over HTTP %6.2f s   (b) COPY plain file %6.2f s   (c) COPY FROM PROGRAM gzip -dc %6.2f s   (d) load_csv replace, parallel %6.2f s\n' \
            "$i" "$a" "$b" "$c" "$d"
        printf '       peak memory: (a) backend RSS %d MB (private %d MB, VmHWM %d MB)   (d) backend private %d MB, each worker private %d MB\n' \
            $((a_rss / 1024)) $((a_anon / 1024)) $((a_hwm / 1024)) $((d_anon / 1024)) $((d_worker_anon / 1024))
        mem_line="$mem_line $a_anon"
        d_mem_line="$d_mem_line $d_anon $d_worker_anon"
    done

    ma=$(median "${a_times[@]}")
    mb=$(median "${b_times[@]}")
    mc=$(median "${c_times[@]}")
    md=$(median "${d_times[@]}")
    peak_private=$(printf '%s\n' $mem_line | sort -n | tail -1)
    printf '\nmedian of %d runs: (a) %.2f s   (b) %.2f s   (c) %.2f s   (d) %.2f s   inflater: %s; (d) with %d parallel workers\n' \
        "$runs" "$ma" "$mb" "$mc" "$md" "$inflater" "$workers"
    printf 'median of the paired ratios (each run against its own (b)): a/b = %.2f (target <= 1.00)   c/b = %.2f   d/b = %.2f (target <= 0.80)\n' \
        "$(median "${ab[@]}")" "$(median "${cb[@]}")" "$(median "${db[@]}")"
    printf 'peak private memory: the loading backend in (a) %d MB; in (d) the backend or a worker %d MB (target < 100 MB)\n' \
        $((peak_private / 1024)) $(( $(printf '%s\n' $d_mem_line | sort -n | tail -1) / 1024 ))
}

# The taxi file from the S3-compatible fixture (port 8769, $data/s3) vs
# the same file over plain HTTP; then a listing of 10,000 objects.
bench_store() {
    local s3_times=() http_times=() list_times=() i a b t0 ms mh ml n
    mkdir -p "$data/s3/bench/many"
    ln -f "$gz" "$data/s3/bench/yellow_tripdata_2021-01.csv.gz"
    if [ "$(ls "$data/s3/bench/many" | wc -l)" -ne 10000 ]; then
        python3 -c "
import os, sys
d = sys.argv[1]
for i in range(10000):
    with open(os.path.join(d, 'part-%05d.csv' % i), 'w') as f:
        f.write('n\\n%d\\n' % i)" "$data/s3/bench/many"
    fi
    chmod -R a+rX "$data/s3"
    psql_bench <<'SQL' >/dev/null
SET client_min_messages = warning;
SELECT elt.drop_credential('bench_lake') FROM elt.credential_list WHERE name = 'bench_lake';
SELECT elt.create_credential('bench_lake', 's3', '{"secret_access_key": "test-secret"}',
                             '{"access_key_id": "AKIDTEST", "endpoint": "http://127.0.0.1:8769"}');
SQL
    for i in $(seq "$runs"); do
        fresh_tables bench_a bench_b
        t0=$(now)
        echo "SELECT load_csv('s3://bench/yellow_tripdata_2021-01.csv.gz', 'bench_a', '{\"credential\": \"bench_lake\"}');" |
            psql_bench >/dev/null
        a=$(since "$t0")
        t0=$(now)
        echo "SELECT load_csv('$url', 'bench_b');" | psql_bench >/dev/null
        b=$(since "$t0")
        check_counts "$rows" psql_bench bench_a bench_b
        s3_times+=("$a"); http_times+=("$b")
        printf 'run %d: (a) load_csv from s3:// %6.2f s   (b) load_csv over http:// %6.2f s\n' "$i" "$a" "$b"
    done
    ms=$(median "${s3_times[@]}")
    mh=$(median "${http_times[@]}")
    printf '\nmedian of %d runs: (a) s3:// %.2f s   (b) http:// %.2f s   ratio a/b = %.3f   (target <= 1.05)\n' \
        "$runs" "$ms" "$mh" "$(ratio "$ms" "$mh")"
    for i in 1 2 3; do
        t0=$(now)
        n=$(echo "SELECT count(*) FROM elt.list_files('s3://bench/many/', '{\"credential\": \"bench_lake\"}');" | psql_bench)
        list_times+=("$(since "$t0")")
    done
    ml=$(median "${list_times[@]}")
    printf 'listing %d objects (10 pages of ListObjectsV2): median of 3: %.2f s = %.0f objects/s\n' "$n" "$ml" \
        "$(awk -v n="$n" -v t="$ml" 'BEGIN {print n / t}')"
    # export: half the table and all of it, gzipped, in 5 MB parts (both
    # fill several): the backend's memory should not grow with the result
    local half=$((rows / 2)) small_anon
    sql_sampled "SELECT export_csv('SELECT * FROM bench_a LIMIT $half', 's3://bench/export/half.csv.gz', '{\"credential\": \"bench_lake\", \"part_size\": 5}');"
    small_anon=$anon
    printf 'export_csv of %d rows to s3:// (gzip, 5 MB parts): %.2f s, peak private memory %d MB\n' "$half" "$elapsed" \
        $((small_anon / 1024))
    sql_sampled "SELECT export_csv('SELECT * FROM bench_a', 's3://bench/export/all.csv.gz', '{\"credential\": \"bench_lake\", \"part_size\": 5}');"
    printf 'export_csv of %d rows to s3:// (gzip, 5 MB parts): %.2f s, peak private memory %d MB (twice the rows: %.2f times the memory)\n' \
        "$rows" "$elapsed" $((anon / 1024)) "$(ratio "$anon" "$small_anon")"
}

# 1,000 small loads against 1,000 small COPYs, each set in one session.
bench_small() {
    local a_times=() b_times=() c_times=() per_call=() i t0 a b c ma mb mc md url_base=http://127.0.0.1:8767
    if [ ! -s "$data/small.csv.gz" ]; then
        python3 test/gen_taxi.py --rows 1000 --out "$data/small.csv.gz"
        gzip -dc "$data/small.csv.gz" > "$data/small.csv"
        chmod 644 "$data/small.csv.gz" "$data/small.csv"
    fi
    # (c): the fixture server's own answer, as load_csv gets it (a new
    # connection per request), by one curl process
    for i in $(seq 1000); do
        echo "url = \"$url_base/small.csv.gz\""
        echo 'output = "/dev/null"'
    done > "$data/small.curl"
    for i in $(seq "$runs"); do
        fresh_tables bench_small_a bench_small_b >/dev/null
        t0=$(now)
        psql_bench <<SQL >/dev/null
SET client_min_messages = warning;
SET pg_elt.progress_interval = 0;
DO \$\$ BEGIN FOR i IN 1..1000 LOOP PERFORM load_csv('$url_base/small.csv.gz', 'bench_small_a'); END LOOP; END \$\$;
SQL
        a=$(since "$t0")
        t0=$(now)
        psql_bench <<SQL >/dev/null
DO \$\$ BEGIN FOR i IN 1..1000 LOOP EXECUTE format('COPY bench_small_b FROM %L (FORMAT csv, HEADER)', '$data/small.csv'); END LOOP; END \$\$;
SQL
        b=$(since "$t0")
        t0=$(now)
        curl -sf -K "$data/small.curl"
        c=$(since "$t0")
        check_counts 1000000 psql_bench bench_small_a bench_small_b
        a_times+=("$a"); b_times+=("$b"); c_times+=("$c")
        # seconds per 1,000 calls are ms per call
        per_call+=("$(awk -v a="$a" -v b="$b" 'BEGIN {print (a - b)}')")
        printf 'round %d: (a) 1,000 load_csv of a 1,000-row gz over HTTP %.2f s   (b) 1,000 COPY of the plain file %.2f s   (c) 1,000 fetches of the gz by curl %.2f s   (a-b) per call %.2f ms\n' \
            "$i" "$a" "$b" "$c" "${per_call[-1]}"
    done
    ma=$(median "${a_times[@]}")
    mb=$(median "${b_times[@]}")
    mc=$(median "${c_times[@]}")
    md=$(median "${per_call[@]}")
    printf '\nmedian of %d rounds: (a) %.2f s   (b) %.2f s   (c) %.2f s\n' "$runs" "$ma" "$mb" "$mc"
    printf 'load_csv costs %.2f ms per call over COPY (median of the rounds'"'"' (a-b); target <= 1.5 ms), of which the fixture server takes %.2f ms (c) to answer: %.2f ms is load_csv'"'"'s own\n' \
        "$md" "$mc" "$(awk -v d="$md" -v c="$mc" 'BEGIN {print (d - c)}')"
}

bench_insert() {
    local a_times=() b_times=() mem_line="" i a a_anon a_rss b ma mb peak_private quarter=$((rows / 4))
    echo "insert paths: (a) load_csv '{\"path\": \"copy\"}' against (b) load_csv '{\"path\": \"insert\"}', gz over HTTP"
    for i in $(seq "$runs"); do
        fresh_tables bench_ia bench_ib
        # (a) the direct path
        load_csv_sampled "$url" bench_ia '{"path": "copy", "parallel": 0}'
        a=$elapsed
        a_anon=$anon a_rss=$rss
        # (b) the executor path
        load_csv_sampled "$url" bench_ib '{"path": "insert"}'
        b=$elapsed

        check_counts "$rows" psql_bench bench_ia bench_ib
        a_times+=("$a"); b_times+=("$b")
        printf 'run %d: (a) path copy %6.2f s   (b) path insert %6.2f s   backend peak private memory (a) %d MB (b) %d MB, RSS (a) %d MB (b) %d MB\n' \
            "$i" "$a" "$b" $((a_anon / 1024)) $((anon / 1024)) $((a_rss / 1024)) $((rss / 1024))
        mem_line="$mem_line $anon"
    done
    ma=$(median "${a_times[@]}")
    mb=$(median "${b_times[@]}")
    peak_private=$(printf '%s\n' $mem_line | sort -n | tail -1)
    printf '\nmedian of %d runs: (a) path copy %.2f s   (b) path insert %.2f s   ratio b/a = %.2f   (target <= 1.3)\n' \
        "$runs" "$ma" "$mb" "$(ratio "$mb" "$ma")"

    # the executor path's memory on a quarter of the rows, against the full file's
    generate "$data/quarter" "$quarter"
    psql_bench <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_iq; CREATE TABLE bench_iq $ddl;
CHECKPOINT;
SQL
    load_csv_sampled "http://127.0.0.1:8767/quarter/yellow_tripdata_2021-01.csv.gz" bench_iq '{"path": "insert"}'
    check_counts "$quarter" psql_bench bench_iq
    printf 'peak private memory of the loading backend, path insert: %d MB at %d rows (full file, highest of %d runs), %d MB at %d rows (%.2f s) (target: flat in file size, < 100 MB)\n' \
        $((peak_private / 1024)) "$rows" "$runs" $((anon / 1024)) "$quarter" "$elapsed"
    echo "DROP TABLE bench_ia, bench_ib, bench_iq;" | psql_bench
}

# The ingest flow cached: (a) refreshing, (b) from the cache, (c) a
# one-task SELECT 1 flow (the floor: a run's worker from the pool), and
# (d) that flow with the pool off (a new worker), alternating.
# Sets pg_elt.worker_idle_timeout server-wide (DEFAULT: back to the config
# file's) and waits for the reload to reach new sessions.
pool_setting() {
    if [ "$1" = DEFAULT ]; then
        psql_bench <<<"ALTER SYSTEM RESET pg_elt.worker_idle_timeout" >/dev/null
    else
        psql_bench <<<"ALTER SYSTEM SET pg_elt.worker_idle_timeout = $1" >/dev/null
    fi
    psql_bench <<<"SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
}

bench_cache() {
    local i path
    psql_bench -v url="$url" <<'SQL'
SET client_min_messages = warning;
DELETE FROM elt.flows WHERE name IN ('bench_cache', 'bench_floor');
INSERT INTO elt.flows (name, params) VALUES ('bench_cache', jsonb_build_object('url', :'url', 'table_name', 'bench_cached_trips'));
INSERT INTO elt.tasks (flow, name, kind, config, cache_expiration) VALUES
  ('bench_cache', 'extract_data', 'extract', '{"url": ":url", "table": ":table_name", "mode": "replace"}', '1 day');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on, cache_expiration) VALUES
  ('bench_cache', 'transform_data', 'sql', 'DELETE FROM :"table_name" WHERE passenger_count = 0', '{extract_data}', '1 day');
INSERT INTO elt.flows (name) VALUES ('bench_floor');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('bench_floor', 'one', 'sql', 'SELECT 1');
DROP TABLE IF EXISTS bench_cache_times;
CREATE TABLE bench_cache_times (path text, ms float8, start_ms float8, run_ms float8, state text, loaded bigint);
SQL
    echo "cache: the ingest flow ($rows rows), (a) refresh_cache => true against (b) a cached run; (c) a one-task SELECT 1 flow for the floor, (d) the same with pg_elt.worker_idle_timeout = 0"
    for i in $(seq "$runs"); do
        for path in a b c d; do
            if [ "$path" = d ]; then pool_setting 0; fi
            psql_bench <<SQL
SET client_min_messages = warning;
SELECT 'the pool is still on!' WHERE '$path' = 'd' AND current_setting('pg_elt.worker_idle_timeout') <> '0';
SELECT clock_timestamp() AS t0 \\gset
CREATE TEMP TABLE r AS SELECT * FROM flow_run(CASE WHEN '$path' IN ('c', 'd') THEN 'bench_floor' ELSE 'bench_cache' END,
                                              refresh_cache => '$path' = 'a');
INSERT INTO bench_cache_times
SELECT '$path', extract(epoch FROM clock_timestamp() - :'t0') * 1000,
       extract(epoch FROM f.started_at - :'t0') * 1000, extract(epoch FROM f.ended_at - f.started_at) * 1000,
       r.state, r.rows_loaded
  FROM r JOIN elt.flow_runs f USING (run_id);
SQL
            if [ "$path" = d ]; then pool_setting DEFAULT; fi
        done
        psql_bench <<SQL
SELECT format('run %s: (a) refreshing %s ms (%s, %s rows loaded)   (b) cached %s ms (%s, %s rows loaded, tasks %s)   (c) floor %s ms   (d) unpooled floor %s ms', $i,
              round(a.ms::numeric, 1), a.state, a.loaded, round(b.ms::numeric, 1), b.state, b.loaded,
              (SELECT string_agg(t.state, ', ' ORDER BY t.task) FROM elt.task_runs t
                WHERE t.run_id = (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'bench_cache')),
              round(c.ms::numeric, 1), round(d.ms::numeric, 1))
  FROM (SELECT * FROM bench_cache_times WHERE path = 'a' ORDER BY ctid DESC LIMIT 1) a,
       (SELECT * FROM bench_cache_times WHERE path = 'b' ORDER BY ctid DESC LIMIT 1) b,
       (SELECT * FROM bench_cache_times WHERE path = 'c' ORDER BY ctid DESC LIMIT 1) c,
       (SELECT * FROM bench_cache_times WHERE path = 'd' ORDER BY ctid DESC LIMIT 1) d;
SQL
    done
    psql_bench <<'SQL'
WITH m AS (SELECT path, count(*) AS n, bool_and(state = 'completed') AS ok,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY start_ms) AS start_ms,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY run_ms) AS run_ms
             FROM bench_cache_times GROUP BY path),
     a AS (SELECT * FROM m WHERE path = 'a'), b AS (SELECT * FROM m WHERE path = 'b'), c AS (SELECT * FROM m WHERE path = 'c'),
     d AS (SELECT * FROM m WHERE path = 'd')
SELECT format(E'\nmedian of %s runs: (a) refreshing %s ms   (b) cached %s ms   ratio a/b = %s   (target: (b) < 50 ms)%s\n'
              '(b) split: %s ms until the run''s worker started it, %s ms the run itself; (c) the floor, a one-task SELECT 1 flow: %s ms (%s ms to start)\n'
              '(d) the floor with the pool off: %s ms (%s ms to start): the pool makes a run %s times as fast',
              a.n, round(a.ms::numeric, 1), round(b.ms::numeric, 1), round((a.ms / b.ms)::numeric, 1),
              CASE WHEN a.ok AND b.ok AND c.ok AND d.ok THEN '' ELSE '   (a run did not complete!)' END,
              round(b.start_ms::numeric, 1), round(b.run_ms::numeric, 1), round(c.ms::numeric, 1), round(c.start_ms::numeric, 1),
              round(d.ms::numeric, 1), round(d.start_ms::numeric, 1), round((d.ms / c.ms)::numeric, 1))
  FROM a, b, c, d;
SQL
}

citus_base=/tmp/pg_elt_bench_citus
citus_ports=(5441 5442 5443)
psql_citus() {
    local port=$1
    shift
    su postgres -c "psql -h /tmp -p $port -d postgres -qAtX -v ON_ERROR_STOP=1 $*"
}
psql_coord() { psql_citus "${citus_ports[0]}" "$@"; }
# Stops the Citus cluster's instances and removes them.
citus_stop() {
    local port
    [ -d "$citus_base" ] || return 0
    for port in "${citus_ports[@]}"; do
        [ -f "$citus_base/$port/postmaster.pid" ] &&
            { su postgres -c "$bindir/pg_ctl -D $citus_base/$port -m immediate -w stop" >/dev/null 2>&1 || true; }
    done
    rm -rf "$citus_base"
}

bench_citus() {
    local port a_times=() b_times=() i a b t0 ma mb state loaded kept expect_kept
    if [ ! -f "$citus_control" ]; then
        echo "$citus_skipped"
        return 0
    fi
    bindir=$("$PG_CONFIG" --bindir)
    for port in "${citus_ports[@]}"; do
        if su postgres -c "$bindir/pg_isready -q -h /tmp -p $port"; then
            echo "bench: citus: port $port is already in use; stop what listens there" >&2
            exit 1
        fi
    done
    trap 'citus_stop; kill $PG_ELT_FIXTURE_PID 2>/dev/null || true' EXIT
    trap 'exit 130' INT TERM
    rm -rf "$citus_base"
    mkdir -p "$citus_base"
    chown postgres: "$citus_base"
    for port in "${citus_ports[@]}"; do
        su postgres -c "$bindir/initdb -D $citus_base/$port -U postgres -A trust" >/dev/null
        cat >> "$citus_base/$port/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '/tmp'
shared_preload_libraries = 'citus,pg_elt'
citus.node_conninfo = 'sslmode=disable'
max_worker_processes = 16
CONF
        su postgres -c "$bindir/pg_ctl -D $citus_base/$port -l $citus_base/$port.log -w start" >/dev/null
        echo "SET client_min_messages = warning; CREATE EXTENSION citus;" | psql_citus "$port"
    done
    psql_coord >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pg_elt;
SELECT citus_set_coordinator_host('/tmp', ${citus_ports[0]});
SELECT citus_add_node('/tmp', ${citus_ports[1]});
SELECT citus_add_node('/tmp', ${citus_ports[2]});
CREATE TABLE bench_ca $ddl;
SELECT create_distributed_table('bench_ca', 'pulocationid');
CREATE TABLE bench_cb $ddl;
SELECT create_distributed_table('bench_cb', 'pulocationid', colocate_with => 'bench_ca');
SQL
    echo "citus: a coordinator and $(echo 'SELECT count(*) FROM citus_get_active_worker_nodes()' | psql_coord) workers" \
         "(Citus $(echo "SELECT extversion FROM pg_extension WHERE extname = 'citus'" | psql_coord)," \
         "$(echo "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'bench_ca'::regclass" | psql_coord) shards" \
         "by pulocationid): (a) load_csv gz over HTTP, mode truncate, against (b) native COPY plain file"

    for i in $(seq "$runs"); do
        echo "TRUNCATE bench_ca, bench_cb;" | psql_coord
        for port in "${citus_ports[@]}"; do echo "CHECKPOINT;" | psql_citus "$port"; done

        # (a) load_csv of the gzip file over HTTP (the executor path, chosen by default)
        t0=$(now)
        echo "SET pg_elt.progress_interval = 0; SELECT load_csv('$url', 'bench_ca', '{\"mode\": \"truncate\"}');" |
            psql_coord >/dev/null
        a=$(since "$t0")

        # (b) native COPY of the uncompressed file
        t0=$(now)
        echo "COPY bench_cb FROM '$csv' (FORMAT csv, HEADER);" | psql_coord >/dev/null
        b=$(since "$t0")

        check_counts "$rows" psql_coord bench_ca bench_cb
        a_times+=("$a"); b_times+=("$b")
        printf 'run %d: (a) load_csv into distributed table %6.2f s   (b) COPY into distributed table %6.2f s\n' "$i" "$a" "$b"
    done
    ma=$(median "${a_times[@]}")
    mb=$(median "${b_times[@]}")
    printf '\nmedian of %d runs: (a) %.2f s   (b) %.2f s   ratio a/b = %.2f   (target <= 1.15)\n' "$runs" "$ma" "$mb" \
        "$(ratio "$ma" "$mb")"

    # The README's ingest flow (test/ingest_flow.sql, unchanged: "replace"
    # keeps the distribution) into a distributed table made beforehand.
    psql_coord >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE yellow_taxi_trips $ddl;
SELECT create_distributed_table('yellow_taxi_trips', 'pulocationid');
SQL
    psql_coord -v url="$url" < test/ingest_flow.sql
    expect_kept=$(echo "SELECT count(*) FROM bench_cb WHERE passenger_count <> 0 OR passenger_count IS NULL" | psql_coord)
    t0=$(now)
    IFS=, read -r state loaded < <(echo "SET client_min_messages = warning; SELECT state, rows_loaded FROM flow_run('ingest');" |
                                   psql_coord -F,)
    a=$(since "$t0")
    kept=$(echo "SELECT count(*) FROM yellow_taxi_trips" | psql_coord)
    printf 'ingest flow into distributed yellow_taxi_trips: %s in %.2f s, rows_loaded %s (expected %s), count after the transform %s (expected %s)\n' \
        "$state" "$a" "$loaded" "$rows" "$kept" "$expect_kept"
    [ "$state,$loaded,$kept" = "completed,$rows,$expect_kept" ] || { echo "bench: the ingest flow on Citus differs" >&2; exit 1; }

    citus_stop
    trap 'kill $PG_ELT_FIXTURE_PID 2>/dev/null || true' EXIT
}

sep=""
for part in load insert citus; do
    if want "$part"; then
        [ -z "$sep" ] || echo
        "bench_$part"
        sep=1
    fi
done
if want cache; then
    [ -z "$sep" ] || echo
    bench_cache
    sep=1
fi
if want store; then
    [ -z "$sep" ] || echo
    bench_store
    sep=1
fi
if want small; then
    [ -z "$sep" ] || echo
    bench_small
    sep=1
fi
if want runs; then
    echo
    bench_runs
fi
