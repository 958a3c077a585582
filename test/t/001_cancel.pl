# Cancelling and abandoning flow runs from other sessions: pg_cancel_backend
# on the caller mid-download, and a caller that goes away.  Also checks that
# the load shows in pg_stat_progress_copy while it runs.
#
# Needs the fixture HTTP server (test/check.sh starts it) at
# $PG_ELT_FIXTURE_URL, default http://127.0.0.1:18766.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $base = $ENV{PG_ELT_FIXTURE_URL} // 'http://127.0.0.1:18766';

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16\npg_elt.progress_interval = 0\n");
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_elt');
BAIL_OUT("the fixture HTTP server is not serving at $base")
  unless $node->safe_psql('postgres',
	"SELECT load_csv('$base/types.csv', 'fixture_check')") eq '50';

$node->safe_psql('postgres', qq{
    CREATE TABLE trips (vendorid bigint, tpep_pickup_datetime timestamp,
        tpep_dropoff_datetime timestamp, passenger_count bigint, trip_distance float8,
        ratecodeid bigint, store_and_fwd_flag text, pulocationid bigint, dolocationid bigint,
        payment_type bigint, fare_amount float8, extra float8, mta_tax float8, tip_amount float8,
        tolls_amount float8, improvement_surcharge float8, total_amount float8,
        congestion_surcharge float8);
    INSERT INTO trips (vendorid) SELECT g FROM generate_series(1, 5) g;
    INSERT INTO elt.flows (name) VALUES ('slow');
    INSERT INTO elt.tasks (flow, name, kind, config) VALUES
      ('slow', 'extract', 'extract',
       '{"url": "$base/yellow_tripdata_2021-01.csv?slow=300", "table": "trips"}');
    INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
      ('slow', 'after', 'sql', 'SELECT 1', '{extract}');
});

# Starts flow_run('slow') in a background session; returns the session and
# the backend pid of the caller.
sub start_slow_run
{
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_until(qr/sent/, "\\echo sent\nSELECT state FROM flow_run('slow');\n");
	return ($bg, $pid);
}

sub last_run_state
{
	return $node->safe_psql('postgres',
		'SELECT state FROM elt.flow_runs ORDER BY run_id DESC LIMIT 1');
}

# 1. pg_cancel_backend on the caller while the worker is loading.
my ($bg, $caller) = start_slow_run();
ok( $node->poll_query_until('postgres', qq{
        SELECT count(*) > 0 FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
         WHERE p.relid = 'trips'::regclass AND p.type = 'CALLBACK'
           AND a.backend_type = 'pg_elt flow run' AND p.tuples_processed > 0}),
	'the load shows in pg_stat_progress_copy, run by the flow worker');
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($caller)"), 't', 'caller cancelled');
ok($node->poll_query_until('postgres',
		"SELECT state = 'cancelled' FROM elt.flow_runs ORDER BY run_id DESC LIMIT 1"),
	'the run ends cancelled');
$bg->query_until(qr/done/, "\\echo done\n");
like($bg->{stderr}, qr/canceling statement due to user request/, 'the caller sees the cancel');
$bg->quit;
is( $node->safe_psql('postgres',
		"SELECT string_agg(task || ':' || state, ',' ORDER BY task) FROM elt.task_runs
		  WHERE run_id = (SELECT max(run_id) FROM elt.flow_runs)"),
	'after:cancelled,extract:cancelled', 'running task and pending task are cancelled');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trips'), '5', 'the target table is unchanged');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_elt flow run'"),
	'the worker exits');

# 2. A caller that goes away (its backend terminated) cancels its run too.
($bg, $caller) = start_slow_run();
ok($node->poll_query_until('postgres',
		"SELECT state = 'running' FROM elt.flow_runs ORDER BY run_id DESC LIMIT 1"),
	'second run is running');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($caller)");
ok($node->poll_query_until('postgres',
		"SELECT state = 'cancelled' FROM elt.flow_runs ORDER BY run_id DESC LIMIT 1"),
	'a run whose caller went away is cancelled');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trips'), '5', 'the target table is still unchanged');
eval { $bg->quit; };

# 3. The same flow completes when nobody interrupts it (fast URL).
$node->safe_psql('postgres', qq{
    UPDATE elt.tasks SET config = '{"url": "$base/yellow_tripdata_2021-01.csv.gz", "table": "trips"}'
     WHERE flow = 'slow' AND name = 'extract'});
is($node->safe_psql('postgres', "SELECT state || ' ' || rows_loaded FROM flow_run('slow')"),
	'completed 10000', 'an uninterrupted run completes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trips'), '10005', 'and loads every row once');

$node->stop;
done_testing();
