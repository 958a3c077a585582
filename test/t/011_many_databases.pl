# Databases come and go: the scheduler entries of dropped databases are
# freed, so the 80th database pg_elt ever sees still gets its scheduler,
# though shared memory has entries for pg_elt.max_databases (64) at a time.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('many_databases');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
max_worker_processes = 16
pg_elt.min_schedule_interval = 1
});
$node->start;
is($node->safe_psql('postgres', 'SHOW pg_elt.max_databases'), '64',
	'shared memory has scheduler entries for 64 databases');

# Each database asks for a scheduler (CREATE EXTENSION does), and is dropped.
my $failed = 0;
for my $i (1 .. 79)
{
	$node->safe_psql('postgres', "CREATE DATABASE db$i");
	$node->safe_psql("db$i", 'CREATE EXTENSION pg_elt');
	my ($ret) = $node->psql('postgres', "DROP DATABASE db$i");
	$failed++ if $ret != 0;
}
is($failed, 0, 'each of 79 databases with pg_elt is created and dropped');

$node->safe_psql('postgres', 'CREATE DATABASE db80');
$node->safe_psql('db80', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE beats (at timestamptz DEFAULT clock_timestamp());
    INSERT INTO elt.flows (name, schedule) VALUES ('beat', 'every 1 seconds');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('beat', 't', 'sql', 'INSERT INTO beats DEFAULT VALUES');
});
ok($node->poll_query_until('db80', 'SELECT count(*) >= 2 FROM beats'),
	'the 80th database, given a schedule, gets its scheduler');
unlike(slurp_file($node->logfile), qr/no free scheduler slot/,
	'no database ever went without a scheduler entry');

done_testing();
