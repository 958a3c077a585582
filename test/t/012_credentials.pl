# A credential's value goes to the server it is for and nowhere else: not
# to pg_stat_activity while the request runs, the run's log and NOTICEs,
# the task's inputs or result, the server log, or pg_dump.  The fixture
# server checks the value it receives by its SHA-256, so that this test
# writes the value itself nowhere but into the credential.
#
# Needs the fixture HTTP server at $PG_ELT_FIXTURE_URL.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $base = $ENV{PG_ELT_FIXTURE_URL} // 'http://127.0.0.1:18766';

my $node = PostgreSQL::Test::Cluster->new('credentials');
$node->init;
$node->append_conf('postgresql.conf',
	"max_worker_processes = 16\npg_elt.progress_interval = 0\npg_elt.allowed_networks = '127.0.0.1'\n");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    CREATE ROLE alice LOGIN;
    GRANT USAGE ON SCHEMA elt TO alice;
    GRANT CREATE ON SCHEMA public TO alice;});

my $token = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 16);
my $digest = sha256_hex("Bearer $token");
# the statement that writes it is PostgreSQL's to log (log_statement = all
# here): pg_elt's promise starts once it is written
$node->safe_psql('postgres', qq{
    SET log_statement = 'none';
    SELECT elt.create_credential('api', 'bearer', '{"token": "$token"}', owner => 'alice');});
my $log_offset = -s $node->logfile;

$node->safe_psql('postgres', qq{
    SET ROLE alice;
    INSERT INTO elt.flows (name) VALUES ('secret_flow');
    INSERT INTO elt.tasks (flow, name, kind, config) VALUES
      ('secret_flow', 'extract', 'extract',
       '{"url": "$base/yellow_tripdata_2021-01.csv?slow=150&need_sha256=Authorization:$digest",
         "table": "trips", "mode": "replace", "credential": "api"}');});

# pg_stat_activity, sampled while the request runs
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/sent/, "\\echo sent\nSET ROLE alice;\nSELECT state FROM flow_run('secret_flow');\n\\echo finished\n");
ok($node->poll_query_until('postgres', q{
        SELECT count(*) > 0 FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
         WHERE a.backend_type = 'pg_elt flow run' AND p.tuples_processed > 0}),
	'the load runs');
my $activity = '';
for (1 .. 5)
{
	$activity .= $node->safe_psql('postgres', 'SELECT string_agg(a::text, chr(10)) FROM pg_stat_activity a');
}
unlike($activity, qr/$token/, 'pg_stat_activity never shows the value');
like($activity, qr/pg_elt run \d+ task extract/, 'while it shows the task running');
like($bg->query_until(qr/finished/, ''), qr/completed/, 'the run completes: the server got the value');
unlike($bg->{stderr}, qr/$token/, 'the NOTICEs never show it');
$bg->quit;

my $history = $node->safe_psql('postgres', q{
    SELECT concat_ws(chr(10), (SELECT string_agg(l::text, chr(10)) FROM elt.logs l),
                     (SELECT string_agg(t::text, chr(10)) FROM elt.task_runs t),
                     (SELECT string_agg(r::text, chr(10)) FROM elt.flow_runs r))});
unlike($history, qr/$token/, 'nor the run history: logs, inputs, results, messages');
like($history, qr/""credential"": ""api""/, 'the inputs name the credential');

# a value the server refuses fails the run, and the error shows no value
my $wrong = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 16);
$node->safe_psql('postgres', qq{
    SET log_statement = 'none';
    SELECT elt.alter_credential('api', '{"token": "$wrong"}');});
my ($stdout, $stderr);
$node->psql('postgres', "SET ROLE alice; SELECT state, message FROM flow_run('secret_flow')",
	stdout => \$stdout, stderr => \$stderr);
like($stdout, qr/failed\|task "extract" failed: HTTP status 401/, 'a refused value fails the run with the status');
unlike("$stdout$stderr", qr/$wrong/, 'and shows no value');

# alice uses it, and cannot read it back
($stdout, $stderr) = ('', '');
$node->psql('postgres', 'SET ROLE alice; SELECT secret FROM elt.credentials', stderr => \$stderr);
like($stderr, qr/permission denied for table credentials/, 'its owner cannot read the value');

my $server_log = slurp_file($node->logfile, $log_offset);
unlike($server_log, qr/$token|$wrong/, 'the server log never shows a value');

my ($dump, $dump_err) = run_command(['pg_dump', '--no-sync', '-d', $node->connstr('postgres')]);
unlike($dump, qr/$token|$wrong/, 'pg_dump leaves the values out');
like($dump, qr/secret_flow/, 'while it keeps the flow');

$node->stop;
done_testing();
