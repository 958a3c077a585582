# Notifications, delivered by the scheduler's notifier: a failed scheduled
# run posts one webhook with the documented JSON; an endpoint that fails
# first is retried with backoff until it takes it, each attempt recorded;
# a restart between the failure and the delivery still delivers once; an
# endpoint that never takes it is given up on after max_attempts, and the
# rule says so; pg_notify and function targets, the latter as the rule's
# owner; a run that runs too long.
#
# Needs the fixture HTTP server at $PG_ELT_FIXTURE_URL.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $base = $ENV{PG_ELT_FIXTURE_URL} // 'http://127.0.0.1:18766';

my $node = PostgreSQL::Test::Cluster->new('notifications');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
max_worker_processes = 16
pg_elt.allowed_networks = '127.0.0.1'
});
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE fixture_posts (at text, body text);
    CREATE FUNCTION posts(k text) RETURNS SETOF fixture_posts LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM load_csv(current_setting('test.base') || '/_posts?key=' || k, 'fixture_posts',
                         '{"header": false, "mode": "truncate", "columns": ["at", "body"]}');
        RETURN QUERY SELECT * FROM fixture_posts;
    END $$;});
$node->safe_psql('postgres', "ALTER DATABASE postgres SET test.base = '$base'");

# Defines a flow that fails, with a webhook rule posting to $query.
sub failing_flow
{
	my ($flow, $query, $extra) = @_;
	$extra //= ['', ''];
	$node->safe_psql('postgres', qq{
	    INSERT INTO elt.flows (name) VALUES ('$flow');
	    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('$flow', 't', 'sql', 'SELECT 1/0');
	    INSERT INTO elt.notification_rules (name, flow, events, target, url $extra->[0])
	    VALUES ('$flow-hook', '$flow', '{failed}', 'webhook', '$base/hook?$query' $extra->[1]);});
	my $id = $node->safe_psql('postgres', "SELECT flow_submit('$flow')");
	is($node->safe_psql('postgres', "SELECT state FROM flow_wait($id, '30 s')"), 'failed', "$flow fails");
	return $id;
}

sub posts_of
{
	my ($key) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM posts('$key')");
}

# 1. A scheduled run that fails: one delivery, with the documented JSON (a
# Slack-style body from a template here).
$node->safe_psql('postgres', qq{
    INSERT INTO elt.flows (name, schedule) VALUES ('hooked', 'every 2 seconds');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('hooked', 't', 'sql', 'SELECT 1/0');
    INSERT INTO elt.notification_rules (name, flow, events, target, url, body)
    VALUES ('hooked-hook', 'hooked', '{failed}', 'webhook', '$base/hook?key=n1',
            '{"text": "run {{run_id}} of {{flow}} {{state}}: {{message}}", "event": {{json}}}');});
ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM elt.flow_runs WHERE flow = 'hooked' AND state = 'failed'"),
	'the scheduled run fails');
$node->safe_psql('postgres', "UPDATE elt.flows SET enabled = false WHERE name = 'hooked'");
ok($node->poll_query_until('postgres', q{
    SELECT count(*) = 0 FROM elt.flow_runs WHERE flow = 'hooked' AND state IN ('pending', 'running')}),
	'and no run of it is left');
my $failed_runs = $node->safe_psql('postgres', "SELECT count(*) FROM elt.flow_runs WHERE flow = 'hooked'");
ok($node->poll_query_until('postgres', "SELECT count(*) = $failed_runs FROM posts('n1')"), 'the webhook gets the event');
sleep 2;
is(posts_of('n1'), $failed_runs, 'exactly once per failed run');
my $id = $node->safe_psql('postgres', "SELECT min(run_id) FROM elt.flow_runs WHERE flow = 'hooked'");
is($node->safe_psql('postgres', qq{
    SELECT (b ->> 'text') || ' | ' || (b -> 'event' ->> 'event') || ',' || (b -> 'event' ->> 'flow') || ','
           || (b -> 'event' ->> 'owner') || ',' || (b -> 'event' ->> 'trigger') || ',' || (b -> 'event' ->> 'database')
      FROM (SELECT body::jsonb AS b FROM posts('n1')) p WHERE (b -> 'event' ->> 'run_id')::bigint = $id}),
	qq{run $id of hooked failed: task "t" failed: division by zero | failed,hooked,} . $node->safe_psql('postgres', 'SELECT current_user') . ',schedule,postgres',
	'its body is the template filled in, the event in it');
is($node->safe_psql('postgres', qq{
    SELECT attempts || ',' || (delivered_at IS NOT NULL) FROM elt.notification_outbox
     WHERE rule = 'hooked-hook' AND run_id = $id}),
	'1,true', 'the outbox records the delivery');

# 2. An endpoint down for two attempts: retried with backoff, delivered on the third.
failing_flow('flaky', 'key=n2&status=503&fail=2');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM posts('n2')"), 'a flaky endpoint gets it in the end');
is($node->safe_psql('postgres', q{
    SELECT string_agg(a.attempt || ':' || a.ok || ':' || coalesce(a.status::text, '-'), ',' ORDER BY a.attempt)
      FROM elt.notification_attempts a JOIN elt.notification_outbox o ON o.id = a.outbox_id
     WHERE o.rule = 'flaky-hook'}),
	'1:false:503,2:false:503,3:true:200', 'each attempt is recorded');
cmp_ok($node->safe_psql('postgres', q{
    SELECT extract(epoch FROM max(a.at) - min(a.at)) FROM elt.notification_attempts a
      JOIN elt.notification_outbox o ON o.id = a.outbox_id WHERE o.rule = 'flaky-hook'}),
	'>=', 5, 'with backoff between them (2 s, then 4 s)');

# 3. A restart between the failure and the delivery still delivers, once.
failing_flow('restarted', 'key=n3&status=503&fail=1');
ok($node->poll_query_until('postgres', q{
    SELECT count(*) = 1 FROM elt.notification_attempts a JOIN elt.notification_outbox o ON o.id = a.outbox_id
     WHERE o.rule = 'restarted-hook'}), 'the first attempt fails');
$node->restart;
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM posts('n3')"), 'after the restart it is delivered');
sleep 3;
is(posts_of('n3'), '1', 'once');

# 4. An endpoint that never takes it: given up after max_attempts.
failing_flow('hopeless', 'key=n4&status=500', [", max_attempts", ", 2"]);
ok($node->poll_query_until('postgres', q{
    SELECT given_up = 1 FROM elt.notification_rules WHERE name = 'hopeless-hook'}),
	'the rule says it gave up');
is($node->safe_psql('postgres', q{
    SELECT attempts || ',' || (given_up_at IS NOT NULL) || ',' || last_error
      FROM elt.notification_outbox WHERE rule = 'hopeless-hook'}),
	"2,true,HTTP status 500 from \"$base/hook?key=***&status=500\"", 'after two attempts, with the last error');

# 5. pg_notify, and a function called as the rule's owner (not a superuser).
$node->safe_psql('postgres', q{
    CREATE ROLE alice LOGIN;
    GRANT USAGE ON SCHEMA elt TO alice;
    CREATE TABLE heard (who name, event text, flow text);
    GRANT INSERT ON heard TO alice;
    CREATE FUNCTION public.record_event(e jsonb) RETURNS void LANGUAGE sql
        AS $$ INSERT INTO public.heard VALUES (current_user, e ->> 'event', e ->> 'flow') $$;
    SET ROLE alice;
    INSERT INTO elt.flows (name) VALUES ('watched');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('watched', 't', 'sql', 'SELECT 1');
    INSERT INTO elt.notification_rules (name, events, target, function)
    VALUES ('to_table', '{completed}', 'function', 'public.record_event');
    INSERT INTO elt.notification_rules (name, events, target, channel)
    VALUES ('to_channel', '{completed}', 'pg_notify', 'alerts');});
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN alerts');
$id = $node->safe_psql('postgres', "SET ROLE alice; SELECT flow_submit('watched')");
$node->safe_psql('postgres', "SELECT flow_wait($id, '30 s')");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM heard"), 'the function is called');
is($node->safe_psql('postgres', q{SELECT who || ',' || event || ',' || flow FROM heard}),
	'alice,completed,watched', 'as the rule\'s owner, with the event');
ok($node->poll_query_until('postgres', q{
    SELECT count(*) = 1 FROM elt.notification_outbox WHERE rule = 'to_channel' AND delivered_at IS NOT NULL}),
	'the pg_notify event is delivered');
my $heard = $listener->query_safe('SELECT 1');
like($heard, qr/Asynchronous notification "alerts" with payload "\{.*"event": "completed"/, 'and a listener hears it');
like($heard, qr/Asynchronous notification "alerts" with payload "\{.*"flow": "watched"/, 'naming the flow');
$listener->quit;

# 6. A run that runs too long, once per run.
$node->safe_psql('postgres', q{
    SET ROLE alice;
    INSERT INTO elt.flows (name) VALUES ('slow');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('slow', 't', 'sql', 'SELECT pg_sleep(4)');
    INSERT INTO elt.notification_rules (name, flow, events, long_running, target, function)
    VALUES ('too_long', 'slow', '{long_running}', '1 second', 'function', 'public.record_event');});
$id = $node->safe_psql('postgres', "SET ROLE alice; SELECT flow_submit('slow')");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM heard WHERE event = 'long_running'"),
	'a run over long_running is an event');
is($node->safe_psql('postgres', "SELECT state FROM flow_wait($id, '30 s')"), 'completed', 'the run goes on');
is($node->safe_psql('postgres', "SELECT count(*) FROM heard WHERE event = 'long_running'"), '1', 'once');

$node->stop;
done_testing();
