# What a DBA sees of a flow at work, from another session: a run's
# workers show in pg_stat_activity with the statement each is running (a
# task blocked on a lock shows the UPDATE it waits in, as any session
# would), or what they load, the URL without its credentials; elt.running
# says the same per task, helpers included.
#
# Needs the fixture HTTP server (make tapcheck starts it) at
# $PG_ELT_FIXTURE_URL, default http://127.0.0.1:18766.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $base = $ENV{PG_ELT_FIXTURE_URL} // 'http://127.0.0.1:18766';
(my $authed = $base) =~ s{^http://}{http://alice:s3cret\@};

my $node = PostgreSQL::Test::Cluster->new('activity');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16\npg_elt.progress_interval = 0\n");
$node->start;
$node->safe_psql('postgres', qq{
    CREATE EXTENSION pg_elt;
    CREATE TABLE accounts (id int, n int);
    CREATE TABLE ledger (n int);
    INSERT INTO accounts VALUES (1, 0);
    INSERT INTO ledger VALUES (0);
    INSERT INTO elt.flows (name) VALUES ('pair'), ('fetch');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
      ('pair', 'a', 'sql', 'SELECT 1; UPDATE accounts SET n = n + 1 WHERE id = 1'),
      ('pair', 'b', 'sql', 'UPDATE ledger SET n = n + 1');
    INSERT INTO elt.tasks (flow, name, kind, config) VALUES
      ('fetch', 'extract', 'extract',
       '{"url": "$authed/yellow_tripdata_2021-01.csv?slow=300&token=abc", "table": "trips"}');});

sub start_run
{
	my ($flow) = @_;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/sent/, "\\echo sent\nSELECT state FROM flow_run('$flow');\n");
	return $bg;
}

sub last_run
{
	return $node->safe_psql('postgres', 'SELECT max(run_id) FROM elt.flow_runs');
}

sub run_ends_completed
{
	my ($run_id) = @_;
	return $node->poll_query_until('postgres',
		"SELECT state FROM elt.flow_runs WHERE run_id = $run_id", 'completed');
}

# 1. Two independent tasks, each in a helper, both blocked by a session
# holding locks: the blocked workers show their statements.
my $blocker = $node->background_psql('postgres');
my $blocker_pid = $blocker->query_safe('SELECT pg_backend_pid()');
$blocker->query_safe('BEGIN; LOCK accounts, ledger IN ACCESS EXCLUSIVE MODE;');
my $pair = start_run('pair');
ok( $node->poll_query_until('postgres', qq{
        SELECT count(*) = 2 FROM pg_stat_activity WHERE $blocker_pid = ANY (pg_blocking_pids(pid))}),
	'both tasks wait for the locks');
my $run = last_run();
is( $node->safe_psql('postgres', qq{
        SELECT string_agg(application_name || ' | ' || backend_type || ' | ' || state || ' | ' || query,
                          E'\n' ORDER BY application_name)
          FROM pg_stat_activity WHERE $blocker_pid = ANY (pg_blocking_pids(pid))}),
	"pg_elt run $run task a | pg_elt task | active | UPDATE accounts SET n = n + 1 WHERE id = 1\n"
	  . "pg_elt run $run task b | pg_elt task | active | UPDATE ledger SET n = n + 1",
	'each blocked worker shows its run and task, and the statement it waits in (not the whole task SQL)');
is( $node->safe_psql('postgres', qq{
        SELECT string_agg(run_id || ' ' || task || ': ' || activity, E'\n' ORDER BY task) FROM elt.running}),
	"$run a: UPDATE accounts SET n = n + 1 WHERE id = 1\n$run b: UPDATE ledger SET n = n + 1",
	'elt.running shows both helpers, with their task and activity');
$blocker->query_safe('COMMIT');
ok(run_ends_completed($run), 'the run completes once the locks are gone');
$pair->quit;
is($node->safe_psql('postgres', q{SELECT (SELECT n FROM accounts) || ' ' || (SELECT n FROM ledger)}), '1 1',
	'both updates ran once');
is($node->safe_psql('postgres', "SELECT count(*) FROM elt.running"), '0',
	'elt.running is empty once the run ended');

# 2. A slow load from a URL with a user, a password and a token: its
# worker (the run's own; the task is alone) shows what it loads, none of
# the three secrets.
my $fetch = start_run('fetch');
ok( $node->poll_query_until('postgres', q{
        SELECT count(*) = 1 FROM pg_stat_activity
         WHERE backend_type = 'pg_elt flow run' AND query LIKE 'loading %'}),
	'the loading worker shows in pg_stat_activity');
$run = last_run();
my $shown = $node->safe_psql('postgres', q{
    SELECT application_name || ' | ' || query FROM pg_stat_activity
     WHERE backend_type = 'pg_elt flow run' AND query LIKE 'loading %'});
is($shown,
	"pg_elt run $run task extract | loading $base/yellow_tripdata_2021-01.csv?slow=300&token=*** into trips",
	'the query is the load: URL and table');
unlike($shown, qr/alice|s3cret|abc/, 'no user, password or token in pg_stat_activity');
ok( $node->poll_query_until('postgres', q{
        SELECT rows_so_far > 0 AND activity LIKE 'loading %' AND task = 'extract' FROM elt.running}),
	'elt.running shows the load with its rows so far');
ok(run_ends_completed($run), 'the slow load completes');
$fetch->quit;
is($node->safe_psql('postgres', 'SELECT count(*) FROM trips'), '10000', 'and loads every row');

$node->stop;
done_testing();
