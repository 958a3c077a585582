# Incremental loads of an object-store prefix load each object exactly
# once: across runs, across a crash between objects (kill -9 of the run's
# worker while it fetches the second of three slow objects), and when two
# runs load the same prefix at the same time.  Needs the S3-compatible
# fixture (test/s3_fixture.py) on 127.0.0.1:18768, as test/check.sh starts it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;

my $store = 'http://127.0.0.1:18768';

sub store_requests
{
	my ($key) = @_;
	my $r = HTTP::Tiny->new->get("$store/_requests?key=$key");
	die "the S3 fixture does not answer at $store" unless $r->{success};
	return (split /\n/, $r->{content})[0];
}

my $node = PostgreSQL::Test::Cluster->new('incremental');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
pg_elt.max_workers = 8
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', qq{
    CREATE EXTENSION pg_elt;
    SELECT elt.create_credential('lake', 's3', '{"secret_access_key": "test-secret"}',
                                 '{"access_key_id": "AKIDTEST", "endpoint": "$store"}');
    INSERT INTO elt.flows (name, max_active_runs) VALUES ('slow_inbox', 2);
    INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('slow_inbox', 'extract', 'extract',
      '{"url": "s3://lake/slow/", "table": "slow_parts", "credential": "lake", "incremental": true}');});

# 1. kill -9 of the worker while it fetches the second object: the first
# object's rows and ledger row were in the same transaction, so neither
# survives, and the next run loads all three once.
my $before = store_requests('slow/part-2');
my $id = $node->safe_psql('postgres', "SELECT flow_submit('slow_inbox')");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM elt.flow_runs WHERE run_id = $id AND worker_pid IS NOT NULL"),
	'the run starts');
my $waited = 0;
$waited += 0.05, select(undef, undef, undef, 0.05)
  while store_requests('slow/part-2') == $before && $waited < 30;
ok(store_requests('slow/part-2') > $before, 'the worker is fetching the second object');
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM elt.flow_runs WHERE run_id = $id");
kill 'KILL', $pid;
ok($node->poll_query_until('postgres', "SELECT state = 'crashed' FROM elt.flow_runs WHERE run_id = $id"),
	'the server restarts and the run is marked crashed');
is($node->safe_psql('postgres', "SELECT count(*) FROM elt.loaded_files"), '0',
	'no object is in the ledger');
is($node->safe_psql('postgres', "SELECT to_regclass('slow_parts') IS NULL"),
	't', 'nor the table that the first object created, rows and all');

is($node->safe_psql('postgres', "SELECT state FROM flow_run('slow_inbox')"), 'completed',
	'the next run completes');
is($node->safe_psql('postgres', "SELECT count(*) || ' ' || sum(n) FROM slow_parts"), '3 6',
	'having loaded each object once');
is($node->safe_psql('postgres', "SELECT state FROM flow_run('slow_inbox')"), 'completed',
	'a run after it completes');
is( $node->safe_psql('postgres',
		"SELECT count(*) || ' ' || sum(n) || ' ' || (SELECT count(*) FROM elt.loaded_files) FROM slow_parts"),
	'3 6 3', 'and loads nothing again');

# 2. Two runs at once over the same prefix: the second waits for the
# first's claims and then finds the objects loaded.
$node->safe_psql('postgres', 'DROP TABLE slow_parts; DELETE FROM elt.loaded_files');
my @ids = map { $node->safe_psql('postgres', "SELECT flow_submit('slow_inbox')") } 1 .. 2;
for my $run (@ids)
{
	is($node->safe_psql('postgres', "SELECT state FROM flow_wait($run, '60 s')"), 'completed',
		"concurrent run $run completes");
}
is($node->safe_psql('postgres', "SELECT count(*) || ' ' || sum(n) FROM slow_parts"), '3 6',
	'and together they loaded each object once');

# 3. Mapped over its files, an extract loads the objects in parallel
# helpers, each object in an attempt (and a transaction) of its own.
$node->safe_psql('postgres', q{
    INSERT INTO elt.flows (name) VALUES ('slow_files');
    INSERT INTO elt.tasks (flow, name, kind, config, for_each) VALUES ('slow_files', 'extract', 'extract',
      '{"url": "s3://lake/slow/", "table": "slow_files_t", "credential": "lake", "incremental": true}', 'files');});
is($node->safe_psql('postgres', "SELECT state FROM flow_run('slow_files')"), 'completed',
	'a run mapped over three slow objects completes');
is($node->safe_psql('postgres', "SELECT count(*) || ' ' || sum(n) FROM slow_files_t"), '3 6',
	'each object loaded once');
ok( $node->safe_psql('postgres', q{
    SELECT count(*) FROM elt.task_runs x JOIN elt.task_runs y
        ON x.run_id = y.run_id AND x.task < y.task AND x.started_at < y.ended_at AND y.started_at < x.ended_at
     WHERE x.task LIKE 'extract[%' AND y.task LIKE 'extract[%'
       AND x.run_id = (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'slow_files')}) >= 1,
	'in instances that ran at the same time');
is($node->safe_psql('postgres', "SELECT state FROM flow_run('slow_files')"), 'completed',
	'a second run completes');
is( $node->safe_psql('postgres',
		"SELECT count(*) || ' ' || (SELECT count(*) FROM elt.loaded_files WHERE target = 'public.slow_files_t') FROM slow_files_t"),
	'3 3', 'and loads nothing again');

done_testing();
