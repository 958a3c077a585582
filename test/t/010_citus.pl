# load_csv on a Citus cluster (a coordinator and two workers, citus and
# pg_elt preloaded): a Citus table (distributed, reference, Citus-local) or
# a new table in a distributed schema is refused before a byte is read,
# in every mode, and left as it was; plain tables still load.  Skipped
# when Citus is not installed (it is not packaged in Debian 12; the README
# says how to install it).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => "Citus is not installed (no $sharedir/extension/citus.control)"
  unless -f "$sharedir/extension/citus.control";

my $base = $ENV{PG_ELT_FIXTURE_URL} // 'http://127.0.0.1:18766';
my $url = "$base/yellow_tripdata_2021-01.csv?key=citus_guard";

my @nodes;
for my $name ('coordinator', 'worker1', 'worker2')
{
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus,pg_elt'
max_worker_processes = 20
citus.node_conninfo = 'sslmode=disable'
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	push @nodes, $node;
}
my $coord = $nodes[0];
$coord->safe_psql('postgres', sprintf(
	"SELECT citus_set_coordinator_host('%s', %d)", $coord->host, $coord->port));
$coord->safe_psql('postgres', sprintf("SELECT citus_add_node('%s', %d)", $_->host, $_->port))
  for @nodes[1 .. 2];
is($coord->safe_psql('postgres', 'SELECT count(*) FROM citus_get_active_worker_nodes()'), '2',
	'a coordinator with two workers');

$coord->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE dist (vendorid int, pickup text);
    SELECT create_distributed_table('dist', 'vendorid');
    CREATE TABLE ref (vendorid int, pickup text);
    SELECT create_reference_table('ref');
    CREATE TABLE loc (vendorid int, pickup text);
    SELECT citus_add_local_table_to_metadata('loc');
    INSERT INTO dist VALUES (1, 'kept'); INSERT INTO ref VALUES (1, 'kept'); INSERT INTO loc VALUES (1, 'kept');
});

for my $table ('dist', 'ref', 'loc')
{
	for my $mode ('append', 'truncate', 'replace', 'create')
	{
		my ($ret, $out, $err) = $coord->psql('postgres', qq{
            \\set VERBOSITY verbose
            SELECT load_csv('$url', '$table', '{"mode": "$mode", "columns": ["vendorid", "pickup"]}')});
		like($err, qr/ERROR:  0A000: load_csv cannot load into Citus table "$table".*HINT:  Load into a plain table/s,
			"$mode into a Citus table ($table) is refused with 0A000 and a hint");
	}
	is($coord->safe_psql('postgres', "SELECT string_agg(pickup, ',') FROM $table"), 'kept',
		"$table is as it was");
}
is($coord->safe_psql('postgres', q{
    SELECT string_agg(logicalrelid::text || ':' || partmethod::text, ',' ORDER BY logicalrelid::text)
      FROM pg_dist_partition}), 'dist:h,loc:n,ref:n', 'and each is still the Citus table it was');
is(requests('citus_guard'), '0', 'no request was made for any of them');

# A new table in a distributed schema would be a Citus table.
$coord->safe_psql('postgres', q{
    SET citus.enable_schema_based_sharding = on;
    CREATE SCHEMA tenant;
});
my ($ret, $out, $err) = $coord->psql('postgres', "SELECT load_csv('$url', 'tenant.trips')");
like($err, qr/load_csv cannot create table "trips" in Citus distributed schema "tenant"/,
	'creating a table in a distributed schema is refused');
is($coord->safe_psql('postgres', "SELECT to_regclass('tenant.trips') IS NULL"), 't', 'and no table is left');

# Plain tables of the coordinator load as before.
is($coord->safe_psql('postgres', "SELECT load_csv('$url', 'plain_trips')"), '10000',
	'a plain table on the coordinator loads');

# A flow with an extract into a distributed table fails, and says why.
$coord->safe_psql('postgres', qq{
    INSERT INTO elt.flows (name) VALUES ('to_dist');
    INSERT INTO elt.tasks (flow, name, kind, config) VALUES
      ('to_dist', 'extract', 'extract', '{"url": "$url", "table": "dist", "columns": ["vendorid", "pickup"]}');
});
is($coord->safe_psql('postgres', "SELECT state || ': ' || message FROM flow_run('to_dist')"),
	'failed: task "extract" failed: load_csv cannot load into Citus table "dist"',
	'a flow loading into a distributed table fails instead of completing with the rows lost');

done_testing();

# The number of requests the fixture server has seen for a key.
sub requests
{
	my ($key) = @_;
	my $n = `python3 -c "import urllib.request; print(urllib.request.urlopen('$base/_requests?key=$key').read().decode())"`;
	chomp $n;
	return $n;
}
