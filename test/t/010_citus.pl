# load_csv on a Citus cluster (a coordinator and two workers, citus and
# pg_elt preloaded): distributed, reference and Citus-local tables load
# through the executor in every mode ("replace" re-creates them with the
# same distribution), with the rows on the shards exactly where native COPY
# puts them; a NULL
# distribution key fails the load and leaves nothing; "create" makes
# distributed and reference tables; the ingest flow ends with the rows in
# the table.  Skipped when Citus is not installed (it is not packaged in
# Debian 12; the README says how to install it).
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
my $url = "$base/yellow_tripdata_2021-01.csv.gz";
my $data = $ENV{PG_ELT_TEST_DATA} // 'test/data';

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

# Targets of each kind, and a twin of the distributed one that native COPY
# fills, to compare the shards with.
$coord->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    SELECT load_csv('} . $url . q{', 'template', '{"mode": "create"}');
    CREATE TABLE dist (LIKE template);
    SELECT create_distributed_table('dist', 'pulocationid', shard_count => 4);
    CREATE TABLE dist_copy (LIKE template);
    SELECT create_distributed_table('dist_copy', 'pulocationid', colocate_with => 'dist');
    CREATE TABLE ref (LIKE template);
    SELECT create_reference_table('ref');
    CREATE TABLE loc (LIKE template);
    SELECT citus_add_local_table_to_metadata('loc');
});
$coord->safe_psql('postgres', "COPY dist_copy FROM '$data/yellow_tripdata_2021-01.csv' (FORMAT csv, HEADER)");

for my $table ('dist', 'ref', 'loc')
{
	is($coord->safe_psql('postgres', "SELECT load_csv('$url', '$table')"), '10000',
		"append into $table reports 10000 rows");
	is($coord->safe_psql('postgres', "SELECT count(*) FROM $table"), '10000', "and $table has them");
	is($coord->safe_psql('postgres', "SELECT load_csv('$url', '$table', '{\"mode\": \"truncate\"}')"), '10000',
		"truncate into $table");
	is($coord->safe_psql('postgres', "SELECT count(*) FROM $table"), '10000', "and $table has each row once");
}
my $kinds = q{
    SELECT string_agg(format('%s:%s%s:%s:%s', p.logicalrelid, p.partmethod, p.repmodel,
                             (SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid),
                             p.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'dist_copy'::regclass)),
                      ',' ORDER BY p.logicalrelid::text)
      FROM pg_dist_partition p WHERE p.logicalrelid::text IN ('dist', 'ref', 'loc')};
my $before = $coord->safe_psql('postgres', $kinds);
for my $table ('dist', 'ref', 'loc')
{
	is($coord->safe_psql('postgres', "SELECT load_csv('$url', '$table', '{\"mode\": \"replace\"}')"), '10000',
		"replace of $table");
	is($coord->safe_psql('postgres', "SELECT count(*) FROM $table"), '10000', "and $table has the rows");
}
is($coord->safe_psql('postgres', $kinds), $before,
	"replace re-creates each with the same distribution: kind, shard count, colocation ($before)");
like($before, qr/^dist:hs:4:t,loc:ns:1:f,ref:nt:1:f$/, 'which is what they were made with');

# The rows are on the shards where native COPY puts them.
my $per_shard = q{
    SELECT string_agg(shard_rows::text, ',' ORDER BY shardid) FROM (
      SELECT s.shardid, (SELECT result::bigint FROM run_command_on_shards('%s', 'SELECT count(*) FROM %%s') r
                          WHERE r.shardid = s.shardid) AS shard_rows
        FROM pg_dist_shard s WHERE logicalrelid = '%s'::regclass) x};
my $ours = $coord->safe_psql('postgres', sprintf($per_shard, 'dist', 'dist'));
is($ours, $coord->safe_psql('postgres', sprintf($per_shard, 'dist_copy', 'dist_copy')),
	"per-shard counts equal native COPY's ($ours)");
is($coord->safe_psql('postgres', q{
    SELECT count(*) FROM (SELECT * FROM dist EXCEPT ALL SELECT * FROM dist_copy) d}), '0',
	'and the rows are the same');

# A NULL distribution key fails the load, naming the line, and leaves nothing.
my ($ret, $out, $err) = $coord->psql('postgres', q{
    CREATE TABLE nulls (a bigint, b text, c text);
    SELECT create_distributed_table('nulls', 'b');
    SELECT load_csv('} . "$base/semicolon.csv" . q{', 'nulls', '{"delimiter": ";", "null": "NA"}')});
like($err, qr/could not load line 2 of "[^"]*semicolon.csv" into table "nulls": .*cannot be NULL/,
	'a NULL distribution key fails the load and names the line');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM nulls'), '0', 'and nothing is left');

# "create" makes distributed and reference tables; a table created in a
# distributed schema is that schema's.
is($coord->safe_psql('postgres', qq{
    SELECT load_csv('$url', 'new_dist', '{"mode": "create", "distribute_by": "pulocationid", "shard_count": 3, "colocate_with": "none"}')}),
	'10000', 'create with distribute_by');
is($coord->safe_psql('postgres', q{
    SELECT partmethod::text || ' ' || column_to_column_name(logicalrelid, partkey) || ' '
           || (SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid)
      FROM pg_dist_partition p WHERE logicalrelid = 'new_dist'::regclass}),
	'h pulocationid 3', 'makes a hash-distributed table on the column, with the shard count');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM new_dist'), '10000', 'holding every row');
is($coord->safe_psql('postgres', qq{SELECT load_csv('$url', 'new_ref', '{"reference": true}')}), '10000',
	'reference: true');
is($coord->safe_psql('postgres', q{
    SELECT (SELECT count(*) FROM new_ref) || ' ' || repmodel::text
      FROM pg_dist_partition WHERE logicalrelid = 'new_ref'::regclass}),
	'10000 t', 'makes a reference table holding every row');
$coord->safe_psql('postgres', q{
    SET citus.enable_schema_based_sharding = on;
    CREATE SCHEMA tenant;
});
is($coord->safe_psql('postgres', "SELECT count(*) FROM pg_dist_schema WHERE schemaid = 'tenant'::regnamespace"),
	'1', 'tenant is a distributed schema');

is($coord->safe_psql('postgres', "SELECT load_csv('$url', 'tenant.trips')"), '10000',
	'a table created in a distributed schema loads');
is($coord->safe_psql('postgres', q{
    SELECT (SELECT count(*) FROM tenant.trips) || ' ' || count(*)
      FROM pg_dist_partition WHERE logicalrelid = 'tenant.trips'::regclass}),
	'10000 1', 'and is a Citus table of that schema, with the rows');
($ret, $out, $err) = $coord->psql('postgres', "SELECT load_csv('$url', 'dist', '{\"path\": \"copy\"}')");
like($err, qr/"path": "copy" cannot load into Citus table "dist"/, 'forcing the direct path into a Citus table is refused');

# The README's ingest flow (test/ingest_flow.sql, mode "replace"), pointed
# at a distributed table.
$coord->safe_psql('postgres', q{
    CREATE TABLE yellow_taxi_trips (LIKE template);
    SELECT create_distributed_table('yellow_taxi_trips', 'pulocationid', colocate_with => 'none');
});
$coord->safe_psql('postgres', slurp_file('test/ingest_flow.sql'), extra_params => ['-v', "url=$url"]);
my $kept = $coord->safe_psql('postgres', 'SELECT count(*) FROM dist_copy WHERE passenger_count <> 0 OR passenger_count IS NULL');
is($coord->safe_psql('postgres', "SELECT state || ' ' || rows_loaded FROM flow_run('ingest')"),
	'completed 10000', 'the ingest flow completes with every row loaded');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM yellow_taxi_trips'), $kept,
	"and the distributed table holds what the transform kept ($kept)");
is($coord->safe_psql('postgres', q{
    SELECT partmethod::text || ' ' || column_to_column_name(logicalrelid, partkey)
      FROM pg_dist_partition WHERE logicalrelid = 'yellow_taxi_trips'::regclass}),
	'h pulocationid', 'still distributed as it was');

done_testing();
