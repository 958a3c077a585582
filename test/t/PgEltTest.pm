# Helpers shared by pg_elt's TAP tests.
package PgEltTest;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(define_probe scheduler_round);

# A flow that does nothing, for scheduler_round.
sub define_probe
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
	    INSERT INTO elt.flows (name, max_active_runs) VALUES ('probe', 10);
	    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('probe', 't', 'sql', 'SELECT 1');});
}

# Waits for one round of the database's scheduler that began after the
# caller's last commit: a queued run starts only in such a round.  So a
# test waits for the scheduler to have seen something, not for a time.
sub scheduler_round
{
	my ($node) = @_;
	my $id = $node->safe_psql('postgres', "SELECT flow_submit('probe')");
	return $node->safe_psql('postgres', "SELECT state FROM flow_wait($id, '60 s')") eq 'completed';
}

1;
