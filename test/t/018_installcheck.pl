# `make installcheck` against a server the suite cannot run on says why in
# one line and fails before it starts anything: no server at PGHOST/PGPORT,
# or one with too few background worker slots for the suite.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('small');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 8\n");
$node->start;

# installcheck as a user runs it: the fixture servers are its own to start
sub installcheck
{
	my ($host, $port) = @_;
	local $ENV{PGHOST} = $host;
	local $ENV{PGPORT} = $port;
	local $ENV{PG_ELT_FIXTURE_URL};
	delete $ENV{PG_ELT_FIXTURE_URL};
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ 'make', '-s', 'installcheck', 'PG_CONFIG=' . ($ENV{PG_CONFIG} // 'pg_config') ],
		'>', \$stdout, '2>', \$stderr);
	return ($ok, $stdout, $stderr);
}

my ($ok, $stdout, $stderr) = installcheck($node->host, $node->port);
ok(!$ok, 'installcheck fails on a server with max_worker_processes = 8');
like($stderr,
	qr/^pg_elt: installcheck cannot run: it needs max_worker_processes >= 16 \(the server has 8; set it and restart\)$/m,
	'one line says why');
unlike($stdout . $stderr, qr/regression|contrib_regression/, 'before pg_regress starts');

$node->stop;
($ok, $stdout, $stderr) = installcheck($node->host, $node->port);
ok(!$ok, 'installcheck fails where no server answers');
like($stderr, qr/^pg_elt: installcheck cannot run: no server answers at PGHOST\/PGPORT/m,
	'one line says so');

done_testing();
