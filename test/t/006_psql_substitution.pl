# elt.substitute gives what psql gives: a differential test against psql's
# own variable substitution (psql -v, the query buffer shown by \p), over
# templates made of the tokens where the two could part: quotes of every
# kind, E'' strings, comments, dollar quotes next to words, numbers and
# parameters, casts, :{?name}, undefined names.
#
# In scope, as the README says: templates psql reads as one query (no ';'
# or backslash outside quotes, no blank line, no leading comment) and
# values psql would not read again as SQL (a bare :v gets a plain value;
# the value with quotes and a backslash is used quoted only).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('psql_substitution');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_elt');

my %value = (v => 'ab 12', q => q{it's a\b "x"});
my $params = q[{"v": "ab 12", "q": "it's a\\\\b \"x\""}];

my @tokens = (
	'x', 'ab', 'e', 'E', 'a$b', 'x$$', 'U&"d:v"', '1', '1.5', '.5', '1e5', '$1', '$1a',
	q{'a:v'}, q{'it''s :v'}, q{E'a\\':v'}, q{e'\\\\'}, q{B'01'}, q{N':v'},
	'"x:v"', '"a""b:v"', '/* :v */', '/* /* :v */ :v */', "-- :v\n",
	'$$ :v $$', '$q$ :v $q$', '$a$:v$a$', '1$q$ :v $q$', '.5$$ :v $$', '$1$$ :v $$',
	':v$q$ :v $q$', ':w$q$ :v $q$',
	':v', q{:'v'}, ':"v"', q{:'q'}, ':"q"', ':w', q{:'w'}, ':"w"', ':{?v}', ':{?w}',
	'::int', ':::v', ':', ':=', '[1:v]',
	' ', ' ', ' ', '+', '(', ')', ',', '=', '*', '.', '&', "\n");

srand(20261126);
my @templates;
for my $n (1 .. 250)
{
	my $t = 'SELECT ';
	$t .= $tokens[ int(rand(@tokens)) ] for 1 .. 2 + int(rand(10));
	$t .= ' x' if $t =~ /\n$/;    # no trailing newline, no comment at the end
	$t =~ s/\n\n+/\n/g;           # no blank line
	push @templates, $t;
}

my @differ;
for my $t (@templates)
{
	my ($psql_out, $psql_err) = ('', '');

	# \p shows the buffer; a template that ends inside a quote swallows
	# the meta-commands, and psql sends (and with -e echoes) it at the end
	$node->psql('postgres', "$t\n\\p\n\\r\n\\q\n",
		stdout => \$psql_out, stderr => \$psql_err,
		extra_params => [ '-e', '-v', "v=$value{v}", '-v', "q=$value{q}" ]);
	$psql_out =~ s/\n\\p\n\\r\n\\q$//;
	my $ours = $node->safe_psql('postgres', "SELECT elt.substitute(:'t', :'p'::jsonb)",
		extra_params => [ '-v', "t=$t", '-v', "p=$params" ]);
	push @differ, "template: $t\n    psql: $psql_out\n  pg_elt: $ours"
	  if $psql_out ne $ours;
}
is(scalar(@differ), 0, scalar(@templates) . ' templates substitute as psql substitutes them')
  or diag(join("\n", @differ[ 0 .. ($#differ < 9 ? $#differ : 9) ]));

# The generator reaches the cases that parted before 0.3.
ok((grep { /\d\$q\$/ || /\$1\$\$/ } @templates) > 0, 'templates put a dollar quote right after a number');
ok((grep { /:[vw]\$q\$/ } @templates) > 0, 'templates put a dollar quote right after a reference');
ok((grep { /:\{\?/ } @templates) > 0, 'templates test for a parameter with :{?name}');
ok((grep { /:'q'/ } @templates) > 0, 'templates quote a value with a backslash');

done_testing();
