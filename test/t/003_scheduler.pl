# The scheduler runtime under shared_preload_libraries: schedules fire and
# stop, new databases are found, queued runs start at commit only, a
# running run is cancelled, a killed worker's run is crashed and re-run,
# and queued runs survive a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use PgEltTest;

my $base = $ENV{PG_ELT_FIXTURE_URL} // 'http://127.0.0.1:18766';

my $node = PostgreSQL::Test::Cluster->new('scheduler');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
max_worker_processes = 20
restart_after_crash = on
pg_elt.progress_interval = 0
pg_elt.min_schedule_interval = 1
});
$node->start;

my $trips_ddl = q{(vendorid bigint, tpep_pickup_datetime timestamp,
    tpep_dropoff_datetime timestamp, passenger_count bigint, trip_distance float8,
    ratecodeid bigint, store_and_fwd_flag text, pulocationid bigint, dolocationid bigint,
    payment_type bigint, fare_amount float8, extra float8, mta_tax float8, tip_amount float8,
    tolls_amount float8, improvement_surcharge float8, total_amount float8,
    congestion_surcharge float8)};

$node->safe_psql('postgres', qq{
    CREATE EXTENSION pg_elt;
    CREATE TABLE ticks (at timestamptz DEFAULT clock_timestamp(), who text DEFAULT current_user);
    CREATE ROLE ticker LOGIN;
    GRANT USAGE ON SCHEMA elt TO ticker;
    GRANT INSERT ON ticks TO ticker;
    CREATE TABLE trips $trips_ddl;
    INSERT INTO trips (vendorid) SELECT g FROM generate_series(1, 5) g;
});
BAIL_OUT("the fixture HTTP server is not serving at $base")
  unless $node->safe_psql('postgres', "SELECT load_csv('$base/types.csv', 'fixture_check')") eq '50';
define_probe($node);
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_elt launcher'"),
	'the launcher runs (a database gets a scheduler when it has something to schedule)');

# 1. "every 2 seconds" fires repeatedly, as the flow's owner, and stops when disabled.
$node->safe_psql('postgres', q{
    SET ROLE ticker;
    INSERT INTO elt.flows (name, schedule) VALUES ('tick', 'every 2 seconds');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('tick', 't', 'sql', 'INSERT INTO ticks DEFAULT VALUES');
});
ok($node->poll_query_until('postgres', 'SELECT count(*) >= 3 FROM ticks'), 'the schedule fires again and again');
# the scheduler lives on, so it must report what its transactions did, or
# autovacuum would never see the dead rows of elt.schedule_slots
ok($node->poll_query_until('postgres',
		"SELECT n_tup_upd > 0 FROM pg_stat_all_tables WHERE relid = 'elt.schedule_slots'::regclass"),
	'the scheduler reports its table statistics');
is($node->safe_psql('postgres', 'SELECT string_agg(DISTINCT who, \',\') FROM ticks'), 'ticker',
	'scheduled runs run as the flow owner');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM elt.flow_runs
     WHERE flow = 'tick' AND (trigger <> 'schedule' OR started_at - run_at > interval '1 second'
                              OR extract(epoch FROM run_at)::int % 2 <> 0)}),
	'0', 'runs start within a second of their slot, every 2 seconds on the dot');
$node->safe_psql('postgres', "UPDATE elt.flows SET enabled = false WHERE name = 'tick'");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM elt.flow_runs WHERE flow = 'tick' AND state IN ('pending', 'running')"),
	'no run of the disabled schedule is going');
my $ticks = $node->safe_psql('postgres', 'SELECT count(*) FROM ticks');
my $tick_runs = $node->safe_psql('postgres', "SELECT count(*) FROM elt.flow_runs WHERE flow = 'tick'");
ok(scheduler_round($node) && scheduler_round($node), 'the scheduler goes round twice more');
is($node->safe_psql('postgres', "SELECT count(*) FROM elt.schedule_slots WHERE flow = 'tick'"), '0',
	'it has dropped the disabled schedule');
is($node->safe_psql('postgres', "SELECT count(*) FROM elt.flow_runs WHERE flow = 'tick'") . ' ' .
   $node->safe_psql('postgres', 'SELECT count(*) FROM ticks'), "$tick_runs $ticks",
	'a disabled schedule stops firing');

# 2. A database where pg_elt is created later gets a scheduler without a restart.
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('later', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE ticks (at timestamptz DEFAULT clock_timestamp());
    INSERT INTO elt.flows (name, schedule) VALUES ('tick', 'every 1 second');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('tick', 't', 'sql', 'INSERT INTO ticks DEFAULT VALUES');
});
ok($node->poll_query_until('later', 'SELECT count(*) >= 2 FROM ticks'),
	'a new database with pg_elt gets its scheduler');
$node->safe_psql('later', "UPDATE elt.flows SET enabled = false");

# 2b. A database without pg_elt where someone made look-alike functions: the
# scheduler (a superuser) must not call them.
$node->safe_psql('postgres', q{
    CREATE ROLE mallory LOGIN;
    CREATE DATABASE noext OWNER mallory;});
# (the scheduler the launcher starts to look into a new database commits a
# transaction there; nothing else connects to it after this setup)
$node->safe_psql('noext', q{
    SET ROLE mallory;
    CREATE SCHEMA elt;
    CREATE TABLE elt.evidence (who text, super bool);
    CREATE FUNCTION elt._fire_schedules() RETURNS timestamptz LANGUAGE sql AS
      $$ INSERT INTO elt.evidence SELECT current_user, usesuper FROM pg_user WHERE usename = current_user;
         SELECT now() + interval '1 hour' $$;
    CREATE FUNCTION elt._recover_runs(boolean, bigint[]) RETURNS integer LANGUAGE sql AS
      $$ INSERT INTO elt.evidence SELECT current_user, usesuper FROM pg_user WHERE usename = current_user;
         SELECT 0 $$;});
my $commits = $node->safe_psql('postgres', "SELECT xact_commit FROM pg_stat_database WHERE datname = 'noext'");
ok($node->poll_query_until('postgres', "SELECT xact_commit > $commits FROM pg_stat_database WHERE datname = 'noext'"),
	'the launcher looks into the new database');
is($node->safe_psql('noext', 'SELECT count(*) FROM elt.evidence'), '0',
	'a look-alike elt schema is never run by the scheduler');

# 3. flow_submit starts a run only when the transaction commits.
$node->safe_psql('postgres', q{
    INSERT INTO elt.flows (name) VALUES ('trivial');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('trivial', 't', 'sql', 'SELECT 1');
});
my ($ret, $out, $err) = $node->psql('postgres', q{
    BEGIN;
    SELECT flow_submit('trivial');
    SELECT pg_sleep(1);
    SELECT count(*) FROM elt.flow_runs WHERE flow = 'trivial' AND state <> 'pending';
    ROLLBACK;});
like($out, qr/\n0$/, 'a run queued in an open transaction does not start');
is($node->safe_psql('postgres', "SELECT count(*) FROM elt.flow_runs WHERE flow = 'trivial'"), '0',
	'and a rolled-back submit leaves no run');
my $id = $node->safe_psql('postgres', "SELECT flow_submit('trivial')");
is($node->safe_psql('postgres', "SELECT state || ' ' || message FROM flow_wait($id)"),
	'completed 1 task completed', 'a committed submit runs; flow_wait returns its outcome');
($ret, $out, $err) = $node->psql('postgres', "BEGIN; SELECT flow_wait(flow_submit('trivial')); COMMIT;");
like($err, qr/was queued by the current transaction/, 'flow_wait on a run of its own transaction says so');
$id = $node->safe_psql('postgres', "SELECT flow_submit('trivial', '{}', now() + interval '1 second')");
is($node->safe_psql('postgres', qq{
    BEGIN ISOLATION LEVEL REPEATABLE READ;
    SELECT state FROM elt.flow_runs WHERE run_id = $id;
    SELECT state FROM flow_wait($id);
    COMMIT;}), "pending\ncompleted",
	'flow_wait sees the run end though the caller\'s snapshot shows it pending');
$id = $node->safe_psql('postgres', "SELECT flow_submit('trivial', '{}', now() + interval '1 hour')");
is($node->safe_psql('postgres', "SELECT flow_cancel($id)"), 't', 'a queued run can be cancelled');
is($node->safe_psql('postgres', "SELECT state || ': ' || message FROM elt.flow_runs WHERE run_id = $id"),
	'cancelled: cancelled before it started', 'and never starts');

# A queued run does not execute a flow that changed hands: alice's run of a
# flow that bob re-created under the same name fails instead of running
# bob's SQL as alice.
$node->safe_psql('postgres', q{
    CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;
    GRANT USAGE ON SCHEMA elt TO alice, bob;
    CREATE TABLE handed (who text); GRANT INSERT ON handed TO alice, bob;
    SET ROLE alice;
    INSERT INTO elt.flows (name) VALUES ('handoff');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('handoff', 't', 'sql', 'INSERT INTO handed VALUES (current_user)');});
$id = $node->safe_psql('postgres', "SET ROLE alice; SELECT flow_submit('handoff', '{}', now() + interval '2 seconds')");
$node->safe_psql('postgres', q{
    SET ROLE alice; DELETE FROM elt.flows WHERE name = 'handoff';
    SET ROLE bob;
    INSERT INTO elt.flows (name) VALUES ('handoff');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('handoff', 't', 'sql', 'INSERT INTO handed VALUES (current_user)');});
like($node->safe_psql('postgres', "SELECT state || ': ' || message FROM flow_wait($id)"),
	qr/^failed: the run failed: flow "handoff" of role "alice" no longer exists/, 'the run of a flow that changed owner fails');
is($node->safe_psql('postgres', 'SELECT count(*) FROM handed'), '0', 'and runs nothing');

# max_active_runs: a slot that would overlap a running run is skipped and logged.
$node->safe_psql('postgres', q{
    INSERT INTO elt.flows (name, schedule) VALUES ('busy', 'every 1 second');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('busy', 't', 'sql', 'SELECT pg_sleep(2.5)');
});
ok($node->poll_query_until('postgres', q{
    SELECT count(*) > 0 FROM elt.logs WHERE flow = 'busy'
       AND message LIKE '%skipped: 1 run(s) of the flow still active (max_active_runs 1)'}),
	'an overlapping slot is skipped and logged');
$node->safe_psql('postgres', "UPDATE elt.flows SET enabled = false WHERE name = 'busy'");
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM elt.flow_runs a JOIN elt.flow_runs b
        ON a.flow = 'busy' AND b.flow = 'busy' AND a.run_id < b.run_id
     WHERE a.started_at < coalesce(b.ended_at, now()) AND b.started_at < coalesce(a.ended_at, now())}),
	'0', 'runs of the flow never overlap');

# A missed slot (as after downtime) is skipped and logged, or run once with catchup.
$node->safe_psql('postgres', q{
    INSERT INTO elt.flows (name, schedule) VALUES ('nightly', '@daily');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('nightly', 't', 'sql', 'SELECT 1');
});
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM elt.schedule_slots WHERE flow = 'nightly' AND next_slot > now()"),
	'the daily schedule has its next slot');
$node->safe_psql('postgres', q{
    UPDATE elt.schedule_slots SET next_slot = now() - interval '2 hours' WHERE flow = 'nightly';
    SELECT elt._wake_scheduler();});
ok($node->poll_query_until('postgres', q{
    SELECT count(*) = 1 FROM elt.logs WHERE flow = 'nightly' AND message LIKE '%was missed%catchup is off'}),
	'a missed slot is skipped and logged when catchup is off');
is($node->safe_psql('postgres', "SELECT count(*) FROM elt.flow_runs WHERE flow = 'nightly'"), '0', 'and does not run');
$node->safe_psql('postgres', q{
    UPDATE elt.flows SET catchup = true WHERE name = 'nightly';
    UPDATE elt.schedule_slots SET next_slot = now() - interval '2 hours' WHERE flow = 'nightly';
    SELECT elt._wake_scheduler();});
ok($node->poll_query_until('postgres', q{
    SELECT count(*) = 1 FROM elt.flow_runs WHERE flow = 'nightly' AND trigger = 'schedule' AND state = 'completed'}),
	'with catchup, a missed slot runs once');

# State changes are notified on channel pg_elt.
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN pg_elt');
$id = $node->safe_psql('postgres', "SELECT flow_submit('trivial')");
$node->safe_psql('postgres', "SELECT flow_wait($id)");
my $heard = $listener->query_safe('SELECT 1');
like($heard, qr/Asynchronous notification "pg_elt" with payload "\{"run_id": $id, "flow": "trivial", "state": "completed"\}"/,
	'run state changes are notified on channel pg_elt');
like($heard, qr/"run_id": $id, "flow": "trivial", "task": "t", "state": "running"/, 'and task state changes, naming the flow');
$listener->quit;

# 4. flow_cancel of a running load: interrupted, rolled back.
$node->safe_psql('postgres', qq{
    INSERT INTO elt.flows (name) VALUES ('slow');
    INSERT INTO elt.tasks (flow, name, kind, config) VALUES
      ('slow', 'extract', 'extract', '{"url": "$base/yellow_tripdata_2021-01.csv?slow=300", "table": "trips"}');
});
$id = $node->safe_psql('postgres', "SELECT flow_submit('slow')");
ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM elt.running WHERE run_id = $id AND rows_so_far > 0"),
	'the running load shows in elt.running with its rows so far');
is($node->safe_psql('postgres', "SELECT flow_cancel($id)"), 't', 'flow_cancel cancels the running run');
is($node->safe_psql('postgres', "SELECT state FROM elt.flow_runs WHERE run_id = $id"), 'cancelled',
	'and has recorded the cancel when it returns');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trips'), '5', 'the target table is unchanged');
($ret, $out, $err) = $node->psql('postgres', "SELECT flow_cancel($id)");
like($err, qr/has already ended \(cancelled\); nothing to cancel/, 'cancelling an ended run is a no-op that says so');

# 5. kill -9 of a worker mid-load: crashed, table unchanged, re-run completes.
$node->safe_psql('postgres', qq{
    UPDATE elt.flows SET retries = 1 WHERE name = 'slow';
    UPDATE elt.tasks SET config = '{"url": "$base/yellow_tripdata_2021-01.csv?slow=300&cut=400000&cut_times=0&key=kill", "table": "trips"}'
     WHERE flow = 'slow';
});
$id = $node->safe_psql('postgres', "SELECT flow_submit('slow')");
ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM elt.running WHERE run_id = $id AND rows_so_far > 0"),
	'the run to be killed is loading');
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM elt.flow_runs WHERE run_id = $id");
kill 'KILL', $pid;
ok($node->poll_query_until('postgres', "SELECT state = 'crashed' FROM elt.flow_runs WHERE run_id = $id"),
	'the killed run is marked crashed after the server recovers');
like($node->safe_psql('postgres', "SELECT message FROM elt.flow_runs WHERE run_id = $id"),
	qr/worker \(pid $pid\) ended before the run did/, 'with the reason');
like(slurp_file($node->logfile), qr/pg_elt: run $id of flow "slow" of role "\w+" in database "postgres" crashed: the run's worker \(pid $pid\)/,
	'and the server log says so (its worker could not)');
is($node->safe_psql('postgres', "SELECT state FROM elt.task_runs WHERE run_id = $id"), 'crashed',
	'its running task attempt is crashed too');
$node->safe_psql('postgres', q{
    UPDATE elt.tasks SET config = jsonb_set(config, '{url}', to_jsonb(replace(config->>'url', 'slow=300&', '')))
     WHERE flow = 'slow'});
ok($node->poll_query_until('postgres', "SELECT state = 'completed' FROM elt.flow_runs WHERE retry_of = $id"),
	'the flow re-runs the crashed run, and it completes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trips'), '10005',
	'every row exactly once: no partial rows from the killed run');

# 6. Queued runs survive a restart.  (The scheduler's first round also
# prunes: expired cache entries go, the others stay.)
$node->safe_psql('postgres', q{
    SELECT flow_submit('trivial', '{}', now() + interval '4 seconds') FROM generate_series(1, 3);
    INSERT INTO elt.task_cache (owner, key, flow, task, run_id, expires_at) VALUES
      (current_user, 'expired', 'trivial', 't', 1, now() - interval '1 minute'),
      (current_user, 'fresh', 'trivial', 't', 1, now() + interval '1 day')});
$node->restart;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM elt.flow_runs WHERE flow = 'trivial' AND trigger = 'api' AND state = 'completed' AND run_id > $id"),
	'runs queued before a restart still run');
ok($node->poll_query_until('postgres', "SELECT string_agg(key, ',') = 'fresh' FROM elt.task_cache"),
	'the scheduler drops expired cache entries and keeps the others');

# 7. flow_retry queues a re-run of a failed run (flow_wait waits for it)
# that takes over the completed task's result and runs the failed one.
$node->safe_psql('postgres', q{
    CREATE TABLE mend_log (task text);
    INSERT INTO elt.flows (name) VALUES ('mend');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('mend', 'first', 'sql', $$INSERT INTO mend_log VALUES ('first') RETURNING 7 AS n$$);
    INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES ('mend', 'second', 'sql', 'SELECT 1/0', '{first}');});
my $failed = $node->safe_psql('postgres', "SELECT flow_submit('mend')");
is($node->safe_psql('postgres', "SELECT state FROM flow_wait($failed, '60 s')"), 'failed', 'the run to retry fails');
$node->safe_psql('postgres',
	q{UPDATE elt.tasks SET sql = $$INSERT INTO mend_log SELECT (:'first'::jsonb ->> 'n')$$ WHERE name = 'second'});
my $retry = $node->safe_psql('postgres', "SELECT flow_retry($failed)");
is($node->safe_psql('postgres', "SELECT state FROM flow_wait($retry, '60 s')"), 'completed',
	'flow_retry queues a run that completes');
is($node->safe_psql('postgres', "SELECT string_agg(task, ',' ORDER BY task) FROM mend_log"), '7,first',
	'the completed task ran once, and its result reached the retried one');

# flow_submit's refresh_cache is the queued run's.
my $refresh = $node->safe_psql('postgres', "SELECT flow_submit('trivial', refresh_cache => true)");
is($node->safe_psql('postgres',
		"SELECT w.state || ',' || r.refresh_cache FROM flow_wait($refresh, '60 s') w JOIN elt.flow_runs r USING (run_id)"),
	'completed,true', 'a queued run refreshes the cache when flow_submit asks it to');

# 8. The attack: a role leaves a change of its flow uncommitted, holding
# the flow's slot locked.  The other schedules still fire, and the pass
# over every flow does not wait for the lock.
$node->safe_psql('postgres', q{
    SET ROLE ticker;
    INSERT INTO elt.flows (name, schedule) VALUES ('held_open', '0 3 1 1 *');
    RESET ROLE;
    INSERT INTO elt.flows (name, schedule) VALUES ('beat', 'every 1 seconds');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('beat', 't', 'sql', 'SELECT 1');});
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM elt.schedule_slots WHERE flow IN ('held_open', 'beat') AND next_slot > now()"),
	'both schedules have their next slot');
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{BEGIN; SET ROLE ticker; UPDATE elt.flows SET schedule = '0 4 1 1 *' WHERE name = 'held_open'});
my $beats = $node->safe_psql('postgres', "SELECT count(*) FROM elt.flow_runs WHERE flow = 'beat'");
($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '10s'; SELECT elt._sync_schedule_slots()");
is($ret, 0, 'the pass over every flow completes while a slot is locked');
ok($node->poll_query_until('postgres',
		"SELECT count(*) >= $beats + 3 FROM elt.flow_runs WHERE flow = 'beat' AND state = 'completed'"),
	'and the other schedules go on firing');
$holder->query_safe('COMMIT');
$holder->quit;
ok($node->poll_query_until('postgres',
		"SELECT schedule = '0 4 1 1 *' AND next_slot > now() FROM elt.schedule_slots WHERE flow = 'held_open'"),
	'the committed change reaches the slot');
$node->safe_psql('postgres', "UPDATE elt.flows SET enabled = false WHERE name IN ('beat', 'held_open')");

$node->stop;
done_testing();
