# Independent tasks of a flow run side by side, each in its own worker; a
# concurrency limit of 1 on their tag serialises them, across runs too;
# cancelling a run interrupts all its running tasks.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('parallel');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_elt'
max_worker_processes = 20
pg_elt.max_workers = 8
});
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_elt;
    CREATE TABLE spans (run bigint, task text, started timestamptz, ended timestamptz);
    INSERT INTO elt.flows (name) VALUES ('pair');
    INSERT INTO elt.tasks (flow, name, kind, sql, tags) VALUES
      ('pair', 'a', 'sql', $$INSERT INTO spans SELECT (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'pair'), 'a', clock_timestamp(), clock_timestamp() + (pg_sleep(1.5) IS NULL)::int * interval '1 s'$$, '{db}'),
      ('pair', 'b', 'sql', $$INSERT INTO spans SELECT (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'pair'), 'b', clock_timestamp(), clock_timestamp() + (pg_sleep(1.5) IS NULL)::int * interval '1 s'$$, '{db}');
    INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
      ('pair', 'after', 'sql', 'SELECT 1', '{a,b}');
    -- the end time: pg_sleep returns void, so record it after the sleep
    CREATE FUNCTION close_span() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.ended := clock_timestamp(); RETURN NEW; END $$;
    CREATE TRIGGER close_span BEFORE INSERT ON spans FOR EACH ROW EXECUTE FUNCTION close_span();
});

my $overlap = q{
    SELECT count(*) FROM spans x JOIN spans y ON x.run = y.run AND x.task = 'a' AND y.task = 'b'
     WHERE x.run = (SELECT max(run) FROM spans)
       AND x.started < y.ended AND y.started < x.ended};

# 1. Without a limit, a and b overlap; "after" waits for both.
is($node->safe_psql('postgres', "SELECT state FROM flow_run('pair')"), 'completed', 'the flow completes');
is($node->safe_psql('postgres', $overlap), '1', 'two independent tasks run at the same time');
is($node->safe_psql('postgres', q{
    SELECT bool_and(t.started_at >= (SELECT max(ended_at) FROM elt.task_runs u
                                      WHERE u.run_id = t.run_id AND u.task IN ('a', 'b')))
      FROM elt.task_runs t WHERE t.task = 'after'}), 't', 'a task starts after all its dependencies ended');

# 2. A limit of 1 on their tag serialises them, and says why one waits.
$node->safe_psql('postgres', "INSERT INTO elt.concurrency_limits VALUES ('db', 1)");
is($node->safe_psql('postgres', "SELECT state FROM flow_run('pair')"), 'completed', 'the limited flow completes');
is($node->safe_psql('postgres', $overlap), '0', 'a limit of 1 on their tag serialises them');
like($node->safe_psql('postgres', q{
    SELECT string_agg(message, '|') FROM elt.logs
     WHERE run_id = (SELECT max(run_id) FROM elt.flow_runs) AND message LIKE 'pending:%'}),
	qr/pending: all 1 slots of the concurrency limit on tag "db" are taken/, 'the waiting task says which limit');

# 3. The limit holds across runs: two runs of a one-task flow submitted together.
$node->safe_psql('postgres', q{
    INSERT INTO elt.flows (name, max_active_runs) VALUES ('single', 5);
    INSERT INTO elt.tasks (flow, name, kind, sql, tags) VALUES
      ('single', 's', 'sql', $$INSERT INTO spans SELECT 0, 's', clock_timestamp(), NULL FROM pg_sleep(1)$$, '{db}');
});
my $ids = $node->safe_psql('postgres', "SELECT string_agg(flow_submit('single')::text, ',') FROM generate_series(1, 2)");
$node->safe_psql('postgres', "SELECT flow_wait(id) FROM unnest('{$ids}'::bigint[]) id");
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM spans x JOIN spans y ON x.task = 's' AND y.task = 's' AND x.ctid < y.ctid
     WHERE x.started < y.ended AND y.started < x.ended}), '0', 'the limit serialises tasks of different runs');
$node->safe_psql('postgres', "DELETE FROM elt.concurrency_limits");

# 4. Cancelling the caller cancels every running task of the run.
my ($ret, $out, $err) = $node->psql('postgres', q{
    SET statement_timeout = '700ms';
    SELECT state FROM flow_run('pair');});
like($err, qr/canceling statement due to statement timeout/, 'the caller is cancelled');
is($node->safe_psql('postgres', q{
    SELECT string_agg(task || ':' || state, ',' ORDER BY task) FROM elt.task_runs
     WHERE run_id = (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'pair')}),
	'a:cancelled,after:cancelled,b:cancelled', 'both running tasks and the pending one are cancelled');

# 5. A timeout in a parallel task fails that task, with the reason.
$node->safe_psql('postgres', q{
    UPDATE elt.tasks SET timeout = '300ms' WHERE flow = 'pair' AND name = 'a'});
is($node->safe_psql('postgres', "SELECT state || ': ' || message FROM flow_run('pair')"),
	'failed: task "a" failed: timed out after 0.3 s', 'a timed-out parallel task fails the run');

# 6. Queued runs start by run_at, then priority, as workers free up.
$node->safe_psql('postgres', q{
    ALTER SYSTEM SET pg_elt.max_workers = 1;
    SELECT pg_reload_conf();
    CREATE TABLE started (flow text, at timestamptz DEFAULT clock_timestamp());
    INSERT INTO elt.flows (name, priority, max_active_runs) VALUES ('p_low', 0, 5), ('p_high', 5, 5), ('blocker', 0, 5);
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
      ('p_low', 't', 'sql', $$INSERT INTO started (flow) VALUES ('low')$$),
      ('p_high', 't', 'sql', $$INSERT INTO started (flow) VALUES ('high')$$),
      ('blocker', 't', 'sql', 'SELECT pg_sleep(1)');
});
ok($node->poll_query_until('postgres', "SELECT current_setting('pg_elt.max_workers') = '1'"),
	'pg_elt.max_workers is 1 after the reload');
$node->safe_psql('postgres', "SELECT flow_submit('blocker')");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM elt.flow_runs WHERE flow = 'blocker' AND state = 'running'"),
	'the blocking run is going');
$node->safe_psql('postgres', q{
    UPDATE elt.tasks SET sql = $$INSERT INTO started (flow) VALUES ('early')$$ WHERE flow = 'blocker';
    SELECT flow_submit('blocker');});
$node->safe_psql('postgres', q{
    BEGIN;
    SELECT flow_submit('p_low');
    SELECT flow_submit('p_high');
    COMMIT;});
ok($node->poll_query_until('postgres', 'SELECT count(*) = 3 FROM started'), 'the three queued runs start');
is($node->safe_psql('postgres', "SELECT string_agg(flow, ',' ORDER BY at) FROM started"),
	'early,high,low', 'queued runs start by run_at, then priority');

# 7. Results of tasks that ran in helpers reach the task downstream of them.
$node->safe_psql('postgres', q{
    ALTER SYSTEM RESET pg_elt.max_workers;
    SELECT pg_reload_conf();
    CREATE TABLE sums (total int);
    INSERT INTO elt.flows (name) VALUES ('fan_in');
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
      ('fan_in', 'left', 'sql', 'SELECT 2 AS n FROM pg_sleep(0.5)'),
      ('fan_in', 'right', 'sql', 'SELECT 3 AS n FROM pg_sleep(0.5)');
    INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
      ('fan_in', 'total', 'sql',
       $$INSERT INTO sums VALUES ((:'left'::jsonb ->> 'n')::int + (:'right'::jsonb ->> 'n')::int)$$, '{left,right}');
});
ok($node->poll_query_until('postgres', "SELECT current_setting('pg_elt.max_workers') = '8'"),
	'pg_elt.max_workers is back to 8');
is($node->safe_psql('postgres', "SELECT state FROM flow_run('fan_in')"), 'completed', 'the fan-in flow completes');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM elt.task_runs t JOIN elt.task_runs u ON t.run_id = u.run_id
     WHERE t.run_id = (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'fan_in')
       AND t.task = 'left' AND u.task = 'right' AND t.started_at < u.ended_at AND u.started_at < t.ended_at}),
	'1', 'its two upstream tasks ran side by side (in helpers)');
is($node->safe_psql('postgres', 'SELECT total FROM sums'), '5',
	'the downstream task sees both results');

# 8. flow_pause: the running task finishes, nothing new starts, people see
# "paused"; flow_resume goes on; a pause with a timeout fails the run.
$node->safe_psql('postgres', q{
    CREATE TABLE steps (step text, at timestamptz DEFAULT clock_timestamp());
    INSERT INTO elt.flows (name, max_active_runs) VALUES ('pausable', 5);
    INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
      ('pausable', 'first', 'sql', $$INSERT INTO steps (step) SELECT 'first' FROM pg_sleep(1.5)$$);
    INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
      ('pausable', 'second', 'sql', $$INSERT INTO steps (step) VALUES ('second')$$, '{first}');});
my $run = $node->safe_psql('postgres', "SELECT flow_submit('pausable')");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM elt.task_runs WHERE run_id = $run AND task = 'first' AND state = 'running'"),
	'the first task is running');
is($node->safe_psql('postgres', "SELECT flow_pause($run)"), 't', 'flow_pause takes the run');
ok($node->poll_query_until('postgres', "SELECT state = 'paused' FROM elt.runs WHERE run_id = $run"),
	'the run is paused once its running task has finished');
is($node->safe_psql('postgres', "SELECT state FROM flow_wait($run, '1 s')"), 'paused',
	'flow_wait sees it paused');
is($node->safe_psql('postgres', "SELECT string_agg(step, ',') FROM steps"), 'first',
	'the running task finished, and no new one started');
is($node->safe_psql('postgres', "SELECT flow_resume($run)"), 't', 'flow_resume lets it go on');
is($node->safe_psql('postgres', "SELECT state FROM flow_wait($run, '60 s')"), 'completed',
	'and it completes');
is($node->safe_psql('postgres', "SELECT string_agg(step, ',' ORDER BY at) FROM steps"), 'first,second',
	'with the rest of its tasks');
($ret, $out, $err) = $node->psql('postgres', "SELECT flow_pause($run)");
like($err, qr/run $run has ended \(completed\): there is nothing to pause/, 'an ended run cannot be paused');
($ret, $out, $err) = $node->psql('postgres', "SELECT flow_resume($run)");
like($err, qr/run $run has ended/, 'nor resumed');

$run = $node->safe_psql('postgres', "SELECT flow_submit('pausable')");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM elt.task_runs WHERE run_id = $run AND task = 'first' AND state = 'running'"),
	'another run is going');
is($node->safe_psql('postgres', "SELECT flow_pause($run, '2 seconds')"), 't', 'paused for two seconds at most');
($ret, $out, $err) = $node->psql('postgres', "SELECT flow_pause($run)");
like($err, qr/is paused already/, 'a second pause says it is paused already');
is($node->safe_psql('postgres', "SELECT state || ': ' || message FROM flow_wait($run, '60 s')"),
	"failed: paused for longer than the pause's timeout", 'the run fails when its pause times out');
is($node->safe_psql('postgres', "SELECT state || ': ' || message FROM elt.task_runs WHERE run_id = $run AND task = 'second'"),
	'cancelled: not started: the pause timed out', 'and the task it held never starts');

# 9. A map's instances run side by side, each in a helper.
$node->safe_psql('postgres', q{
    INSERT INTO elt.flows (name, params) VALUES ('months', '{"months": [1, 2, 3]}');
    INSERT INTO elt.tasks (flow, name, kind, sql, for_each) VALUES
      ('months', 'load_month', 'sql', 'SELECT :item AS month FROM pg_sleep(1)', ':months');});
is($node->safe_psql('postgres', "SELECT state FROM flow_run('months')"), 'completed', 'the map completes');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM elt.task_runs a JOIN elt.task_runs b ON a.run_id = b.run_id AND a.task < b.task
     WHERE a.run_id = (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'months')
       AND a.task LIKE 'load_month[%' AND b.task LIKE 'load_month[%'
       AND a.started_at < b.ended_at AND b.started_at < a.ended_at}),
	'3', 'its three instances overlap, pairwise');
is($node->safe_psql('postgres', q{
    SELECT result FROM elt.task_runs
     WHERE run_id = (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'months') AND task = 'load_month'}),
	'[{"month": 1}, {"month": 2}, {"month": 3}]', 'and its result is theirs, in order');

$node->stop;
done_testing();
