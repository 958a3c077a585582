# The pool of run workers: a run's worker, or a helper, whose job is done
# waits for the next job of its database, role and kind.  Every job gets a
# fresh session; a worker never serves another role; statements that
# change new sessions, DROP DATABASE and a full server retire idle workers;
# a cancel of one run never reaches the next run of the same worker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pool');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
max_worker_processes = 16
pg_elt.max_workers = 8
pg_elt.worker_idle_timeout = 60
pg_elt.max_idle_workers = 4
});
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE seen (flow text, pid int, usr text, temp_tables bigint, advisory bigint,
                       prepared bigint, cursors bigint, work_mem text);
    -- what a task's session carries: all 0 in a fresh session
    CREATE FUNCTION probe(f text) RETURNS void LANGUAGE sql AS $$
      INSERT INTO seen SELECT f, pg_backend_pid(), current_user,
        (SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND relname = 'scratch'),
        (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'),
        (SELECT count(*) FROM pg_prepared_statements),
        (SELECT count(*) FROM pg_cursors),
        current_setting('work_mem') $$;
    GRANT INSERT ON seen TO PUBLIC;});
for my $role (qw(alice bob carol dave))
{
	$node->safe_psql('postgres', qq{
        CREATE ROLE $role LOGIN;
        GRANT USAGE ON SCHEMA elt TO $role;
        SET ROLE $role;
        INSERT INTO elt.flows (name) VALUES ('${role}_check');
        INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('${role}_check', 'check', 'sql', \$\$SELECT probe('${role}_check')\$\$);});
}
$node->safe_psql('postgres', q{
    SET ROLE alice;
    INSERT INTO elt.flows (name) VALUES ('dirty'), ('fan'), ('sleepy'), ('nap');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
      ('dirty', 'leave_state', 'sql', $$CREATE TEMP TABLE scratch (x int);
                                        SELECT pg_advisory_lock(42);
                                        PREPARE p AS SELECT 1;
                                        DECLARE c CURSOR WITH HOLD FOR SELECT 1;
                                        SELECT probe('dirty')$$),
      ('fan', 'a', 'sql', $$SELECT pg_sleep(0.3), probe('fan')$$),
      ('fan', 'b', 'sql', $$SELECT pg_sleep(0.3), probe('fan')$$),
      ('fan', 'c', 'sql', $$SELECT pg_sleep(0.3), probe('fan')$$),
      ('sleepy', 'nap', 'sql', 'SELECT pg_sleep(30)'),
      ('nap', 'nap', 'sql', 'SELECT pg_sleep(2)');});

sub run_as
{
	my ($role, $flow) = @_;
	return $node->safe_psql('postgres',
		"SET ROLE $role; SELECT state FROM flow_run('$flow')");
}

sub worker_of_last
{
	my ($flow) = @_;
	return $node->safe_psql('postgres',
		"SELECT worker_pid FROM elt.flow_runs WHERE flow = '$flow' ORDER BY run_id DESC LIMIT 1");
}

sub alive
{
	my ($pid) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid");
}

# 1. A run's worker waits for the next run of its role, and gives it a
# fresh session: what the first run's task left (a temporary table, a
# session advisory lock, a prepared statement, a WITH HOLD cursor) is gone.
# The probe sees it all in the first run's own session.  (LISTEN cannot
# run in a background worker at all.)
is(run_as('alice', 'dirty'), 'completed', 'a task that leaves session state behind completes');
my $w = worker_of_last('dirty');
is( $node->safe_psql('postgres',
		"SELECT application_name || ' ' || state FROM pg_stat_activity WHERE pid = $w"),
	'pg_elt idle worker idle', 'its worker waits, idle, for the next job');
is(run_as('alice', 'alice_check'), 'completed', 'the next run of the role completes');
is(worker_of_last('alice_check'), $w, 'in the same worker');
is( $node->safe_psql('postgres',
		"SELECT string_agg(format('%s %s %s %s %s', temp_tables, advisory, prepared, cursors, usr), ' | ' ORDER BY flow DESC)
		   FROM seen WHERE pid = $w"),
	'1 1 1 1 alice | 0 0 0 0 alice',
	'which has none of the state the run before left in it');

# 2. Another role never gets alice's worker.
is(run_as('bob', 'bob_check'), 'completed', "bob's run completes");
isnt(worker_of_last('bob_check'), $w, "in a worker of bob's own");
is($node->safe_psql('postgres', "SELECT usr FROM seen WHERE flow = 'bob_check'"),
	'bob', 'as bob');
is(alive($w), '1', "alice's worker still waits for alice's next run");

# 3. Helpers are pooled too: a second run of three parallel tasks reuses
# helpers of the first.
is(run_as('alice', 'fan'), 'completed', 'a run of three parallel tasks completes');
my $first = $node->safe_psql('postgres',
	"SELECT string_agg(DISTINCT pid::text, ',') FROM seen WHERE flow = 'fan'");
$node->safe_psql('postgres', "DELETE FROM seen WHERE flow = 'fan'");
is(run_as('alice', 'fan'), 'completed', 'and so does the second');
ok( $node->safe_psql('postgres',
		"SELECT count(*) FROM seen WHERE flow = 'fan' AND pid = ANY ('{$first}'::int[])") >= 2,
	'whose tasks run in workers of the first run');
ok( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_elt idle worker'") <= 4,
	'no more than pg_elt.max_idle_workers wait');

# A helper is idle the moment its job is done: a run of 40 short
# independent tasks (4 at a time) keeps its few helpers, instead of
# starting a worker whenever the coordinator is quicker than the helper's
# way back to the pool.  At most the coordinator and 4 helpers run them.
$node->safe_psql('postgres', q{
    SET ROLE alice;
    INSERT INTO elt.flows (name) VALUES ('many');
    INSERT INTO elt.tasks (flow, name, kind, sql)
    SELECT 'many', 't' || g, 'sql', $$SELECT probe('many')$$ FROM generate_series(1, 40) g;});
is(run_as('alice', 'many'), 'completed', 'a run of 40 independent tasks completes');
is($node->safe_psql('postgres', "SELECT count(*) FROM seen WHERE flow = 'many'"), '40', 'every task ran');
ok( $node->safe_psql('postgres', "SELECT count(DISTINCT pid) FROM seen WHERE flow = 'many'") <= 5,
	'in no more processes than ran at once');

# 4. A cancelled run's worker goes on to the next run, which its cancel
# does not reach.
my ($ret, $out, $err) = $node->psql('postgres',
	"SET ROLE alice; SET statement_timeout = '1s'; SELECT state FROM flow_run('sleepy')");
like($err, qr/canceling statement due to statement timeout/, 'a run is cancelled mid-task');
my $cancelled = worker_of_last('sleepy');
is($node->safe_psql('postgres', "SELECT state FROM elt.flow_runs WHERE flow = 'sleepy'"),
	'cancelled', 'and recorded cancelled');
is(run_as('alice', 'alice_check'), 'completed', 'the next run of its worker completes');
is(worker_of_last('alice_check'), $cancelled, 'in the same worker');

# 5. ALTER ROLE ... SET retires the role's idle workers: the next run gets
# a new session, with the setting.
$w = worker_of_last('alice_check');
$node->safe_psql('postgres', "ALTER ROLE alice SET work_mem = '7MB'");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $w"),
	'ALTER ROLE retires the idle workers');
$node->safe_psql('postgres', "DELETE FROM seen WHERE flow = 'alice_check'");
is(run_as('alice', 'alice_check'), 'completed', 'the next run completes');
is($node->safe_psql('postgres', "SELECT work_mem FROM seen WHERE flow = 'alice_check'"),
	'7MB', 'with the role setting a new session gets');

# A worker busy as such a statement commits takes no job after its run.
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/sent/, "\\echo sent\nSET ROLE alice;\nSELECT state FROM flow_run('nap');\n");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM elt.flow_runs WHERE flow = 'nap' AND state = 'running' AND worker_pid IS NOT NULL"),
	'a run is busy');
my $busy = worker_of_last('nap');
$node->safe_psql('postgres', "ALTER ROLE alice SET work_mem = '9MB'");
$bg->query_until(qr/done/, "\\echo done\n");
$bg->quit;
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $busy"),
	'its worker leaves after the run instead of waiting for the next');
$node->safe_psql('postgres', "DELETE FROM seen WHERE flow = 'alice_check'");
is(run_as('alice', 'alice_check'), 'completed', 'the next run completes');
isnt(worker_of_last('alice_check'), $busy, 'in another worker');
is($node->safe_psql('postgres', "SELECT work_mem FROM seen WHERE flow = 'alice_check'"),
	'9MB', 'with the setting committed meanwhile');

# 6. A role that may no longer log in: its idle workers leave, and its
# flows do not run.
$w = worker_of_last('alice_check');
$node->safe_psql('postgres', 'ALTER ROLE alice NOLOGIN');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $w"),
	'NOLOGIN retires the idle workers of the role');
($ret, $out, $err) = $node->psql('postgres', "SET ROLE alice; SELECT state FROM flow_run('alice_check')");
like($err, qr/flow owner "alice" cannot log in/, 'and its flows no longer run');
$node->safe_psql('postgres', 'ALTER ROLE alice LOGIN');

# 7. DROP DATABASE does not wait for the idle workers connected to it.
$node->safe_psql('postgres', 'CREATE DATABASE tenant');
$node->safe_psql('tenant', q{
    CREATE EXTENSION pg_elt;
    INSERT INTO elt.flows (name) VALUES ('once');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('once', 't', 'sql', 'SELECT 1');});
is($node->safe_psql('tenant', "SELECT state FROM flow_run('once')"), 'completed', 'a run in a second database');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE datname = 'tenant' AND application_name = 'pg_elt idle worker'"),
	'1', 'leaves an idle worker connected to it');
($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '4s'; DROP DATABASE tenant");
is($ret, 0, 'DROP DATABASE succeeds at once');

# 8. When the idle workers hold every free background worker slot, the
# one idle longest makes room for a new run.  With 4 slots, the logical
# replication launcher and pg_elt's hold two; after the launcher's first
# look into each database, two are free.
$node->safe_psql('postgres', 'ALTER SYSTEM SET max_worker_processes = 4');
$node->restart;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 AND now() - pg_postmaster_start_time() > '3 s'
		   FROM pg_stat_activity WHERE backend_type LIKE 'pg_elt%'"),
	'after a restart only the launcher runs');
is(run_as('alice', 'alice_check'), 'completed', "alice's run");
my $oldest = worker_of_last('alice_check');
is(run_as('bob', 'bob_check'), 'completed', "bob's run");
my $newer = worker_of_last('bob_check');
is( $node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE application_name = 'pg_elt idle worker') || ' of ' || count(*)
		   FROM pg_stat_activity WHERE backend_type LIKE 'pg_elt%' OR backend_type = 'logical replication launcher'"),
	'2 of 4', 'leave two idle workers, in the last free slots');
($ret, $out, $err) = $node->psql('postgres',
	"SET ROLE carol; SET statement_timeout = '20s'; SELECT state FROM flow_run('carol_check')");
is($out, 'completed', "carol's run completes all the same");
is(alive($oldest), '0', 'for which the worker idle longest made room');
is(alive($newer), '1', 'and only that one');

done_testing();
