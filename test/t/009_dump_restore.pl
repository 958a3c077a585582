# pg_dump and pg_restore of a database with pg_elt, restored into another
# server where one flow owner's role is missing: every flow and task is
# kept (the missing role's disabled, with a warning), queued runs and the
# run-id sequence come along, and flow names stay per owner.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $source = PostgreSQL::Test::Cluster->new('source');
$source->init;
$source->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_elt'\n");
$source->start;
$source->safe_psql('postgres', q{
    CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;
    CREATE DATABASE etl;
});
$source->safe_psql('etl', q{
    CREATE EXTENSION pg_elt;
    GRANT USAGE ON SCHEMA elt TO alice, bob;
    CREATE TABLE hits (who text);
    GRANT INSERT ON hits TO alice, bob;
    INSERT INTO elt.concurrency_limits VALUES ('db', 2);
    SET ROLE alice;
    INSERT INTO elt.flows (name, params) VALUES ('ingest', '{"who": "alice"}');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('ingest', 'a', 'sql', 'INSERT INTO hits VALUES (:''who'')');
    INSERT INTO elt.tasks (flow, name, kind, sql, depends_on, tags)
        VALUES ('ingest', 'b', 'sql', 'SELECT 1', '{a}', '{db}');
    SELECT elt.create_credential('hook_token', 'bearer', '{"token": "t"}');
    INSERT INTO elt.notification_rules (name, flow, target, url, credential)
        VALUES ('alerts', 'ingest', 'webhook', 'https://hooks.example.com/x', 'hook_token');
    SET ROLE bob;
    -- the same name, another owner: a flow of its own
    INSERT INTO elt.flows (name, params) VALUES ('ingest', '{"who": "bob"}');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('ingest', 'a', 'sql', 'INSERT INTO hits VALUES (:''who'')');
});
is($source->safe_psql('etl', "SET ROLE alice; SELECT state FROM flow_run('ingest')"), 'completed',
	'alice runs her flow');
is($source->safe_psql('etl', "SET ROLE bob; SELECT state FROM flow_run('ingest')"), 'completed',
	'bob runs his flow of the same name');
is($source->safe_psql('etl', 'SELECT string_agg(who, \',\' ORDER BY who) FROM hits'), 'alice,bob',
	'each ran their own');
# a run queued for later, not yet started when the dump is taken
my $queued = $source->safe_psql('etl',
	"SET ROLE alice; SELECT flow_submit('ingest', '{}', now() + interval '1 day')");
my $last_id = $source->safe_psql('etl', 'SELECT max(run_id) FROM elt.flow_runs');

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/etl.dump';
$source->command_ok(['pg_dump', '-Fc', '-d', $source->connstr('etl'), '-f', $dump], 'pg_dump');

# The other server has alice but not bob; as the README advises, its
# schedules are held back while it is restored.
my $target = PostgreSQL::Test::Cluster->new('target');
$target->init;
$target->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_elt'\npg_elt.launch_schedules = off\n");
$target->start;
$target->safe_psql('postgres', 'CREATE ROLE alice LOGIN; CREATE DATABASE etl');
my ($stdout, $stderr) = ('', '');
IPC::Run::run(['pg_restore', '-d', $target->connstr('etl'), $dump], '>', \$stdout, '2>', \$stderr);
like(slurp_file($target->logfile), qr/WARNING:  flow "ingest" is owned by role "bob", which does not exist/,
	'the restore warns of the flow whose owner is missing');
my @errors = grep { /error:/ && !/role "bob" does not exist/ } split /\n/, $stderr;
is(join("\n", @errors), '', 'and fails nothing but the grants to the missing role');

is($target->safe_psql('etl', 'SELECT string_agg(owner || \':\' || name || \':\' || enabled, \',\' ORDER BY owner) FROM elt.flows'),
	'alice:ingest:true,bob:ingest:false', 'every flow is restored, the missing role\'s disabled');
is($target->safe_psql('etl', 'SELECT count(*) FROM elt.tasks'), '3', 'every task is restored');
is($target->safe_psql('etl', q{SELECT owner || ':' || name || ':' || enabled FROM elt.notification_rules}),
	'alice:alerts:false', 'a notification rule is restored, disabled: the credential it names is not dumped');
is($target->safe_psql('etl', 'SELECT tag || max_running FROM elt.concurrency_limits'), 'db2',
	'concurrency limits are restored');
is($target->safe_psql('etl', "SELECT state || ' ' || owner FROM elt.flow_runs WHERE run_id = $queued"),
	'pending alice', 'the queued run is restored, with its run id');
is($target->safe_psql('etl', 'SELECT count(*) FROM elt.flow_runs'), '1', 'history that ended is not dumped');

# Flow names resolve per owner after the restore as before it.  (pg_dump
# writes the grants of an object as one statement: those to alice failed
# with bob's, and are made again.)
$target->safe_psql('etl', 'GRANT USAGE ON SCHEMA elt TO alice; GRANT INSERT ON hits TO alice');
my ($ret, $out, $err) = $target->psql('etl', "SELECT state FROM flow_run('ingest')");
like($err, qr/flow name "ingest" is ambiguous.*HINT:  SET ROLE to the flow's owner first/s,
	'a superuser naming a flow two roles own is asked to choose');
like($target->safe_psql('etl', "SET ROLE alice; SELECT run_id || ' ' || state FROM flow_run('ingest')"),
	qr/^(\d+) completed$/, 'alice runs her restored flow');
$target->safe_psql('etl', "SET ROLE alice; SELECT run_id FROM flow_run('ingest')") =~ /^(\d+)$/;
cmp_ok($1, '>', $last_id, 'run ids continue after those of the dumped database');

($ret, $out, $err) = $target->psql('etl', "SET ROLE alice; SELECT flow_run('nope')");
my $missing = $err;
($ret, $out, $err) = $target->psql('etl', q{
    CREATE ROLE carol LOGIN; GRANT USAGE ON SCHEMA elt TO carol;
    SET ROLE carol; SELECT flow_run('ingest')});
s/nope/ingest/, s/^psql:<stdin>:\d+: // for ($err, $missing);
is($err, $missing, 'another role naming the flow is told exactly what a name nobody uses gives');

# The missing role comes back: the flow is enabled again and runs as it.
($ret, $out, $err) = $target->psql('etl', "UPDATE elt.flows SET enabled = true WHERE owner = 'bob'");
like($err, qr/WARNING:  flow "ingest" is owned by role "bob", which does not exist/,
	'enabling it while the role is missing warns');
is($target->safe_psql('etl', "SELECT enabled FROM elt.flows WHERE owner = 'bob'"), 'f', 'and keeps it disabled');
$target->safe_psql('etl', q{
    CREATE ROLE bob LOGIN; GRANT USAGE ON SCHEMA elt TO bob; GRANT INSERT ON hits TO bob;
    UPDATE elt.flows SET enabled = true WHERE owner = 'bob'});
is($target->safe_psql('etl', "SET ROLE bob; SELECT state FROM flow_run('ingest')"), 'completed',
	'with the role created again, its flow runs');

done_testing();
