# Subflows on a server with few background worker slots: a subflow that
# finds every slot taken fails at once with an error that says why (its
# parents hold the slots and wait for it: waiting would never end), where
# a session's flow_run waits for a slot, as for a lock, until its
# statement_timeout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('slots');
$node->init;
# the logical replication launcher takes one slot: three are left
$node->append_conf('postgresql.conf', "max_worker_processes = 4\npg_elt.worker_idle_timeout = 0\n");
$node->start;
# A chain of subflows six deep: nest1 runs nest2, ... nest6.
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    INSERT INTO elt.flows (name) SELECT 'nest' || g FROM generate_series(1, 6) g;
    INSERT INTO elt.tasks (flow, name, kind, config)
      SELECT 'nest' || g, 'deeper', 'flow', format('{"flow": "nest%s"}', g + 1)::jsonb FROM generate_series(1, 5) g;
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('nest6', 'bottom', 'sql', 'SELECT 1');});

my ($stdout, $stderr);
my $rc = $node->psql('postgres', q{
    SET statement_timeout = '60s';
    SELECT state FROM flow_run('nest1');},
	stdout => \$stdout, stderr => \$stderr);
is($stdout, 'failed', 'the run fails, and does not hang');
like($stderr, qr/no free background worker for subflow "nest4"/,
	'the error names the subflow that found no slot');
is( $node->safe_psql('postgres', q{
        SELECT string_agg(flow || ':' || state, ' ' ORDER BY run_id) FROM elt.flow_runs}),
	'nest1:failed nest2:failed nest3:failed', 'three runs held the three slots; each failed');
like( $node->safe_psql('postgres', q{
        SELECT t.sqlstate || ' ' || t.message FROM elt.task_runs t JOIN elt.flow_runs r USING (run_id)
         WHERE r.flow = 'nest3' AND t.task = 'deeper'}),
	qr/^53400 no free background worker for subflow "nest4"/, 'the task that could not start it says why, with its SQLSTATE');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_elt%'}),
	'0', 'no worker is left behind');

# A session waits for a slot instead, until its statement_timeout.
my $holder = $node->background_psql('postgres', on_error_stop => 0);
$holder->query_safe(q{
    UPDATE elt.tasks SET config = '{}', kind = 'sql', sql = 'SELECT pg_sleep(8)'
     WHERE flow = 'nest3' AND name = 'deeper';});
$holder->query_until(qr/sent/, "\\echo sent\nSELECT state FROM flow_run('nest1');\n");
ok( $node->poll_query_until('postgres', q{
        SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type LIKE 'pg_elt%'}),
	'three nested runs hold every slot');
$rc = $node->psql('postgres', q{
    SET statement_timeout = '2s';
    SELECT state FROM flow_run('nest6');},
	stdout => \$stdout, stderr => \$stderr);
like($stderr, qr/NOTICE:  waiting for a free background worker for flow "nest6".*canceling statement due to statement timeout/s,
	'a session waits, says so, and its statement_timeout ends the wait');
$holder->quit;

$node->stop;
done_testing();
