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

# Each database asks for a scheduler (CREATE EXTENSION does), and is
# dropped; one psql session does it all (FILE_COPY is the quicker strategy
# for a template this small).
my $script = join('', map {
	"CREATE DATABASE db$_ STRATEGY FILE_COPY;\n\\c db$_\nCREATE EXTENSION pg_elt;\n\\c postgres\nDROP DATABASE db$_;\n"
} 1 .. 79);
my ($ret, $out, $err) = $node->psql('postgres', $script, on_error_stop => 1);
is($ret, 0, 'each of 79 databases with pg_elt is created and dropped');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE 'db%'"), '0',
	'and all of them are gone');

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
