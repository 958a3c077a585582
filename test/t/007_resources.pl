# Bounded resources on a server with many databases, with the default
# max_worker_processes (8): schedulers run only where there is something
# to schedule or queue and leave when idle, their shared-memory slots are
# reused (4 slots serve 80 databases) and freed by DROP DATABASE, which a
# scheduler never blocks; flow_run waits for a worker rather than failing;
# an idle server keeps one pg_elt worker, the launcher.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('resources');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
pg_elt.max_databases = 4
pg_elt.min_schedule_interval = 1
});
$node->start;
is($node->safe_psql('postgres', 'SHOW max_worker_processes'), '8', 'the default max_worker_processes');

my $only_the_launcher = q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type LIKE 'pg_elt%'};

# 1. 80 databases, in turn: pg_elt installed, a queued run (and, in every
# tenth, a schedule that fires), then DROP DATABASE.
my ($completed, $fired, $dropped) = (0, 0, 0);
for my $i (1 .. 80)
{
	my $db = "tenant_$i";
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
        CREATE EXTENSION pg_elt;
        CREATE TABLE beats (at timestamptz DEFAULT clock_timestamp());
        INSERT INTO elt.flows (name) VALUES ('once');
        INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('once', 't', 'sql', 'INSERT INTO beats DEFAULT VALUES');});
	my $id = $node->safe_psql($db, "SELECT flow_submit('once')");
	$completed++
	  if $node->safe_psql($db, "SELECT state FROM flow_wait($id, '30 s')") eq 'completed';
	if ($i % 10 == 0)
	{
		$node->safe_psql($db, q{
            INSERT INTO elt.flows (name, schedule) VALUES ('tick', 'every 1 seconds');
            INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('tick', 't', 'sql', 'INSERT INTO beats DEFAULT VALUES');});
		$fired++ if $node->poll_query_until($db, 'SELECT count(*) >= 3 FROM beats');
	}
	my ($ret, $out, $err) = $node->psql('postgres', "DROP DATABASE $db");
	$dropped++ if $ret == 0;
	diag("DROP DATABASE $db: $err") if $ret != 0;
}
is($completed, 80, 'a queued run completes in each of 80 databases (4 scheduler slots)');
is($fired, 8, 'the schedules fire');
is($dropped, 80, 'DROP DATABASE is never blocked by a scheduler, scheduled flows or not');

# 2. Idle, the server keeps one pg_elt worker: the launcher.
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE naps (at timestamptz DEFAULT clock_timestamp());
    INSERT INTO elt.flows (name) VALUES ('nap');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('nap', 't', 'sql', 'INSERT INTO naps SELECT clock_timestamp() FROM pg_sleep(0.3)');});
ok($node->poll_query_until('postgres', $only_the_launcher),
	'with nothing to schedule, the launcher is the only pg_elt worker');

# 3. 40 flow_runs at once, with 8 worker slots in all: each waits for a
# worker and completes.
my @runs;
for my $i (1 .. 40)
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', "SELECT state FROM flow_run('nap')" ],
		'>', \$out, '2>', \$err);
	push @runs, [ $h, \$out, \$err ];
}
my $ok = 0;
for my $r (@runs)
{
	$r->[0]->finish;
	$ok++ if ${ $r->[1] } =~ /^completed$/m;
}
is($ok, 40, '40 concurrent flow_runs all complete with max_worker_processes = 8');
is($node->safe_psql('postgres', 'SELECT count(*) FROM naps'), '40', 'and each ran its task once');

# 4. A queued run in an idle database starts at once: its commit asks the
# launcher for a scheduler.
my $id = $node->safe_psql('postgres', "SELECT flow_submit('nap')");
is($node->safe_psql('postgres', "SELECT state FROM flow_wait($id, '10 s')"), 'completed',
	'a run queued in an idle database starts');
ok($node->poll_query_until('postgres', $only_the_launcher), 'and its scheduler leaves again');

# 5. After a restart, schedules fire without anyone asking: the launcher
# looks into every database once (a database whose scheduler stays, having
# schedules, does not keep it from looking into the next).
my $schedule = q{
    INSERT INTO elt.flows (name, schedule) VALUES ('tick', 'every 1 seconds');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('tick', 't', 'sql', 'INSERT INTO naps DEFAULT VALUES');};
$node->safe_psql('postgres', $schedule);
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('later', "CREATE EXTENSION pg_elt; CREATE TABLE naps (at timestamptz DEFAULT clock_timestamp()); $schedule");
$node->restart;
my $naps = $node->safe_psql('postgres', 'SELECT count(*) FROM naps');
my $later = $node->safe_psql('later', 'SELECT count(*) FROM naps');
ok($node->poll_query_until('postgres', "SELECT count(*) > $naps + 1 FROM naps"),
	'after a restart, the schedule fires');
ok($node->poll_query_until('later', "SELECT count(*) > $later + 1 FROM naps"),
	'and so does the one in another database');
unlike(slurp_file($node->logfile), qr/could not start a scheduler|no free scheduler slot/,
	'no scheduler was ever refused a worker or a slot');

done_testing();
