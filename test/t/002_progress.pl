# A long load reports progress: NOTICEs with rows, MB of CSV, MB downloaded and rate,
# at pg_elt.progress_interval; and a flow run keeps them in elt.logs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $base = $ENV{PG_ELT_FIXTURE_URL} // 'http://127.0.0.1:18766';

my $node = PostgreSQL::Test::Cluster->new('progress');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_elt');

my ($stdout, $stderr);
$node->psql('postgres', qq{
    SET pg_elt.progress_interval = '1s';
    SELECT load_csv('$base/yellow_tripdata_2021-01.csv?slow=200', 'trips');},
	stdout => \$stdout, stderr => \$stderr);
is($stdout, '10000', 'the slow load completes');
my $notice = qr/NOTICE:  loading "[^"]+": (\d+) rows, ([\d.]+) MB of CSV, ([\d.]+) MB downloaded at ([\d.]+) MB\/s/;
my @notices = ($stderr =~ /$notice/g);
cmp_ok(scalar(@notices) / 4, '>=', 2, 'at least two progress notices for a 3-second load');
cmp_ok($notices[4], '>', $notices[0], 'rows grow from one notice to the next');

# Of a gzip file, the CSV read is larger than what was downloaded: each
# size is named for what it counts.
$node->psql('postgres', qq{
    SET pg_elt.progress_interval = '1s';
    SELECT load_csv('$base/yellow_tripdata_2021-01.csv.gz?slow=800', 'trips_gz');},
	stdout => \$stdout, stderr => \$stderr);
is($stdout, '10000', 'the slow gzip load completes');
my @gz = ($stderr =~ /$notice/g);
cmp_ok(scalar(@gz), '>=', 4, 'it reported progress');
cmp_ok($gz[-3], '>', 2 * $gz[-2], 'MB of CSV (inflated) is more than twice the MB downloaded');

$node->psql('postgres', qq{
    SET pg_elt.progress_interval = 0;
    SELECT load_csv('$base/yellow_tripdata_2021-01.csv?slow=200', 'trips2');},
	stdout => \$stdout, stderr => \$stderr);
unlike($stderr, qr/loading/, 'progress_interval = 0 turns them off');

# A flow's worker uses the database's setting, and keeps the notices.
$node->safe_psql('postgres', qq{
    ALTER DATABASE postgres SET pg_elt.progress_interval = '1s';
    INSERT INTO elt.flows (name) VALUES ('slow');
    INSERT INTO elt.tasks (flow, name, kind, config) VALUES
      ('slow', 'extract', 'extract', '{"url": "$base/yellow_tripdata_2021-01.csv?slow=200", "table": "trips3"}');});
is($node->safe_psql('postgres', 'SELECT state FROM flow_run(\'slow\')'), 'completed', 'flow completes');
cmp_ok($node->safe_psql('postgres',
		"SELECT count(*) FROM elt.logs WHERE level = 'notice' AND message LIKE 'loading %MB of CSV%MB downloaded at %MB/s'"),
	'>=', 2, 'the run kept its progress notices in elt.logs');

$node->stop;
done_testing();
