# A shared server (0.3): a dropped owner's schedule, runs in the server log,
# schedules held back for a restore, a past run_at in the queue, and
# concurrency slots that users can neither take nor release.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use PgEltTest;

my $node = PostgreSQL::Test::Cluster->new('shared');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
max_worker_processes = 20
pg_elt.min_schedule_interval = 1
pg_elt.log_runs = 'failures'
});
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE ticks (flow text, at timestamptz DEFAULT clock_timestamp());
    CREATE ROLE doomed LOGIN;
    GRANT USAGE ON SCHEMA elt TO doomed;
    GRANT INSERT ON ticks TO doomed;
});

define_probe($node);

# 1. DROP ROLE of the owner of a scheduled flow: the flow is disabled once,
# logged once, its workers never try to connect as the missing role, and
# flow_run says what to do.
$node->safe_psql('postgres', q{
    SET ROLE doomed;
    INSERT INTO elt.flows (name, schedule) VALUES ('orphan', 'every 1 seconds');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('orphan', 't', 'sql', $$INSERT INTO ticks VALUES ('orphan')$$);
});
ok($node->poll_query_until('postgres', "SELECT count(*) >= 1 FROM ticks WHERE flow = 'orphan'"),
	'the flow runs while its owner exists');
# (schedules held back first, so that no run is starting as the role goes;
# the flow stays enabled)
$node->append_conf('postgresql.conf', "pg_elt.launch_schedules = off\n");
$node->reload;
ok($node->poll_query_until('postgres', "SELECT current_setting('pg_elt.launch_schedules') = 'off'"),
	'schedules are held back');
# a round after the reload: a slot fired before it has been queued by now
ok(scheduler_round($node), 'the scheduler goes round');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM elt.flow_runs WHERE flow = 'orphan' AND state IN ('pending', 'running')"),
	'nor queued');
$node->safe_psql('postgres', q{
    REVOKE ALL ON ticks FROM doomed;
    REVOKE USAGE ON SCHEMA elt FROM doomed;
    DROP ROLE doomed;
});
$node->append_conf('postgresql.conf', "pg_elt.launch_schedules = on\n");
$node->reload;
$node->safe_psql('postgres', "SELECT elt._wake_scheduler()");
ok($node->poll_query_until('postgres', "SELECT NOT enabled FROM elt.flows WHERE name = 'orphan'"),
	'the flow of a dropped owner is disabled');
ok(scheduler_round($node) && scheduler_round($node), 'the scheduler goes round twice more');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM elt.logs WHERE flow = 'orphan' AND message LIKE 'flow disabled: its owner role%'"),
	'1', 'the flow is disabled once, with one line in elt.logs');
my $log = slurp_file($node->logfile);
my @disabled = ($log =~ /pg_elt: flow "orphan" in database "postgres" disabled: its owner role/g);
is(scalar(@disabled), 1, 'and one line in the server log, naming the database');
unlike($log, qr/role with OID \d+ does not exist/, 'no worker tried to connect as the dropped role');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM flow_run('orphan')");
like($err, qr/the owner role "doomed" of flow "orphan" no longer exists.*HINT:  Create the role, or make an existing role the owner/s,
	'flow_run refuses the flow and says how to mend it');
($ret, $out, $err) = $node->psql('postgres', "UPDATE elt.flows SET enabled = true WHERE name = 'orphan'");
like($err, qr/WARNING:  flow "orphan" is owned by role "doomed", which does not exist/,
	'enabling it again warns that the role is missing');
is($node->safe_psql('postgres', "SELECT enabled FROM elt.flows WHERE name = 'orphan'"), 'f',
	'and keeps it disabled');

# 2. pg_elt.log_runs = failures: a queued run that fails is in the server log;
# one that completes is not.
$node->safe_psql('postgres', q{
    INSERT INTO elt.flows (name) VALUES ('fails'), ('works');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('fails', 't', 'sql', 'SELECT 1/0'), ('works', 't', 'sql', 'SELECT 1');
});
# a run queued by a statement starts when that statement's transaction commits
sub submit_and_wait
{
	my ($flow) = @_;
	my $id = $node->safe_psql('postgres', "SELECT flow_submit('$flow')");
	return $node->safe_psql('postgres', "SELECT state FROM flow_wait($id, '30 s')");
}
is(submit_and_wait('fails'), 'failed', 'a queued run fails');
is(submit_and_wait('works'), 'completed', 'another completes');
$log = slurp_file($node->logfile);
like($log, qr/pg_elt: run \d+ of flow "fails" of role "\w+" in database "postgres" failed: task "t" failed: division by zero/,
	'a failed background run is in the server log');
unlike($log, qr/of flow "works"/, 'a completed one is not, with log_runs = failures');

# 3. pg_elt.launch_schedules = off (as for a restore or a copied database):
# schedules do not fire, queued runs still start.
$node->append_conf('postgresql.conf', "pg_elt.launch_schedules = off\n");
$node->reload;
ok($node->poll_query_until('postgres', "SELECT current_setting('pg_elt.launch_schedules') = 'off'"),
	'schedules are held back again');
ok(scheduler_round($node), 'the scheduler goes round after the reload');
$node->safe_psql('postgres', q{
    INSERT INTO elt.flows (name, schedule) VALUES ('held', 'every 1 seconds');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('held', 't', 'sql', $$INSERT INTO ticks VALUES ('held')$$);
});
is(submit_and_wait('works'), 'completed', 'queued runs start while schedules are held back');
ok(scheduler_round($node), 'the scheduler goes round again');
# a flow's slot is written with it, and computed (here: not) by the scheduler
is($node->safe_psql('postgres', "SELECT count(*) FROM elt.schedule_slots WHERE flow = 'held' AND next_slot > '-infinity'") . ' ' .
   $node->safe_psql('postgres', "SELECT count(*) FROM elt.flow_runs WHERE flow = 'held'"), '0 0',
	'no schedule fires while pg_elt.launch_schedules is off');
$node->append_conf('postgresql.conf', "pg_elt.launch_schedules = on\n");
$node->reload;
$node->safe_psql('postgres', "SELECT elt._wake_scheduler()");
ok($node->poll_query_until('postgres', "SELECT count(*) >= 1 FROM ticks WHERE flow = 'held'"),
	'schedules fire again when it is turned on');
$node->safe_psql('postgres', "UPDATE elt.flows SET enabled = false WHERE name = 'held'");

# 4. A run_at in the past does not overtake runs already due.
my $past = $node->safe_psql('postgres', "SELECT flow_submit('works', '{}', now() - interval '1 day')");
is($node->safe_psql('postgres', "SELECT run_at >= created_at - interval '1 second' FROM elt.flow_runs WHERE run_id = $past"),
	't', 'a past run_at is taken as the time of submission');

# 5. Concurrency slots are pg_elt's own: a role holding the advisory lock
# 0.2 used does not stall a limited task, and a task that releases every
# advisory lock of its session does not free its slot.
$node->safe_psql('postgres', q{
    CREATE TABLE spans (task text, started timestamptz, ended timestamptz);
    INSERT INTO elt.concurrency_limits VALUES ('db', 1);
    INSERT INTO elt.flows (name, max_active_runs) VALUES ('limited', 5);
    INSERT INTO elt.tasks (flow, name, kind, sql, tags) VALUES ('limited', 't', 'sql',
      $$SELECT pg_advisory_unlock_all();
        CREATE TEMP TABLE span_start ON COMMIT DROP AS SELECT clock_timestamp() AS at;
        SELECT pg_sleep(1.5);
        INSERT INTO spans SELECT 'limited', at, clock_timestamp() FROM span_start$$, '{db}');
});
my $squatter = $node->background_psql('postgres');
$squatter->query_safe("SELECT pg_advisory_lock(hashtext('pg_elt tag db'), s) FROM generate_series(0, 3) s");
is(submit_and_wait('limited'), 'completed', 'a user holding advisory locks does not take a slot');
$squatter->quit;
$node->safe_psql('postgres', q{
    TRUNCATE spans;
    SELECT flow_submit('limited') FROM generate_series(1, 2);
});
ok($node->poll_query_until('postgres', "SELECT count(*) = 2 FROM spans"), 'both limited runs end');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM spans x JOIN spans y ON x.ctid < y.ctid
     WHERE x.started < y.ended AND y.started < x.ended}), '0',
	'pg_advisory_unlock_all() in a task does not free its slot: the runs do not overlap');

# 6. DROP EXTENSION while a run is going: neither a deadlock with the
# scheduler nor a worker left to fail on the dropped catalog.  A drop that
# rolls back leaves the schedules firing.
$node->safe_psql('postgres', 'CREATE DATABASE dropper');
$node->safe_psql('dropper', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE beats (at timestamptz DEFAULT clock_timestamp());
    INSERT INTO elt.flows (name, schedule, max_active_runs) VALUES ('beat', 'every 1 seconds', 1);
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('beat', 't', 'sql', 'INSERT INTO beats DEFAULT VALUES');
    INSERT INTO elt.flows (name) VALUES ('long');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('long', 't', 'sql', 'SELECT pg_sleep(60)');
});
ok($node->poll_query_until('dropper', 'SELECT count(*) >= 2 FROM beats'), 'the schedule fires');
($ret, $out, $err) = $node->psql('dropper', 'BEGIN; DROP EXTENSION pg_elt; ROLLBACK;');
my $beats = $node->safe_psql('dropper', 'SELECT count(*) FROM beats');
ok($node->poll_query_until('dropper', "SELECT count(*) > $beats FROM beats"),
	'a DROP EXTENSION that rolls back leaves the schedules firing');
$node->safe_psql('dropper', "SELECT flow_submit('long')");
ok($node->poll_query_until('dropper',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 'dropper' AND application_name LIKE 'pg_elt run % task t' AND query = 'SELECT pg_sleep(60)' AND wait_event = 'PgSleep'"),
	'a long run is going');
# a role that may not drop the extension cannot end the run by trying
$node->safe_psql('dropper', 'CREATE ROLE intruder LOGIN');
($ret, $out, $err) = $node->psql('dropper', 'SET ROLE intruder; DROP EXTENSION pg_elt');
like($err, qr/must be owner of extension pg_elt/, 'DROP EXTENSION by another role is refused');
is($node->safe_psql('dropper',
		"SELECT count(*) FROM pg_stat_activity WHERE datname = 'dropper' AND wait_event = 'PgSleep'"),
	'1', 'and the run it would have ended is still going');
my $log_before = -s $node->logfile;
($ret, $out, $err) = $node->psql('dropper', 'DROP EXTENSION pg_elt', timeout => 60);
is($ret, 0, 'DROP EXTENSION succeeds while a run is going');
like($err, qr/ending 1 run worker\(s\) in database "dropper"/, 'and says it ended the run');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE datname = 'dropper' AND backend_type LIKE 'pg_elt%'"),
	'0', 'no pg_elt worker is left in the database');
$node->safe_psql('dropper', q{
    CREATE EXTENSION pg_elt;
    INSERT INTO elt.flows (name, schedule) VALUES ('beat', 'every 1 seconds');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('beat', 't', 'sql', 'INSERT INTO beats DEFAULT VALUES');
});
$beats = $node->safe_psql('dropper', 'SELECT count(*) FROM beats');
ok($node->poll_query_until('dropper', "SELECT count(*) > $beats FROM beats"),
	'created again, the extension schedules again');
# (read after the rounds above: a late failure would be in the log by now)
my $log_after = substr(slurp_file($node->logfile), $log_before);
unlike($log_after, qr/deadlock detected|extension "pg_elt" is not installed/,
	'no deadlock, and no worker failing on the dropped catalog');

done_testing();
