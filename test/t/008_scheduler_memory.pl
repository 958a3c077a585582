# The scheduler's memory stays flat however many runs it starts (0.2 leaked
# about 400 bytes a run).  Measured with pg_log_backend_memory_contexts
# after a warm-up and again after PG_ELT_SOAK_RUNS more runs (default
# 3000; the soak in the README uses 100000).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $runs = $ENV{PG_ELT_SOAK_RUNS} || 3000;
my $batch = 500;

my $node = PostgreSQL::Test::Cluster->new('scheduler_memory');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
max_worker_processes = 16
pg_elt.max_workers = 8
pg_elt.keep_completed_details = off
});
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    INSERT INTO elt.flows (name, max_active_runs) VALUES ('noop', 1000);
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('noop', 't', 'sql', 'SELECT 1');
    -- a schedule far ahead keeps the same scheduler for the whole test
    INSERT INTO elt.flows (name, schedule) VALUES ('keeper', '0 0 1 1 *');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('keeper', 't', 'sql', 'SELECT 1');
});
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_elt scheduler'"),
	'the scheduler runs');
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_elt scheduler'");

sub run_batches
{
	my ($n) = @_;
	for (my $done = 0; $done < $n; $done += $batch)
	{
		$node->safe_psql('postgres', "SELECT flow_submit('noop') FROM generate_series(1, $batch)");
		$node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM elt.flow_runs WHERE state IN ('pending', 'running')", 't')
		  or die 'runs did not finish';
	}
}

# The scheduler's memory that a leak per run would grow, from the server
# log: what TopMemoryContext holds itself (0.2 leaked worker handles and
# names there) and pg_elt's own contexts; not the catalog and plan caches,
# which fill once (e.g. when history is first pruned) and stay.
sub scheduler_bytes
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	for (1 .. 100)
	{
		my $log = substr(slurp_file($node->logfile), $offset);
		if ($log =~ /\[$pid\] .*?LOG:  Grand total:/)
		{
			my $used = 0;
			$used += $1
			  while $log =~ /\[$pid\] .*?LOG:  level: \d+; (?:TopMemoryContext|pg_elt [^:]*): .*?; (\d+) used/g;
			return $used;
		}
		select(undef, undef, undef, 0.1);
	}
	return undef;
}

run_batches(2 * $batch);    # warm-up: caches, plans, list arrays at size
my $before = scheduler_bytes();
run_batches($runs);
my $after = scheduler_bytes();
is($node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_elt scheduler'"), $pid,
	'the same scheduler started all the runs');
is($node->safe_psql('postgres', "SELECT count(*) FROM elt.flow_runs WHERE flow = 'noop' AND state = 'completed'"),
	2 * $batch + $runs, "all runs completed");
ok(defined $before && defined $after, 'the scheduler reported its memory');
my $growth = $after - $before;
cmp_ok($growth, '<', 16 * 1024,
	"scheduler memory flat over $runs runs (grew $growth bytes, from $before to $after)");
diag("scheduler memory: $before bytes after warm-up, $after after $runs more runs; "
	  . sprintf('%.1f', $growth / $runs) . ' bytes a run');

done_testing();
