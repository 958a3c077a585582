-- The short API over the rows: the same rows as INSERTs would write, the
-- same checks, and one's own history to purge.
\set SHOW_CONTEXT never

-- The README's ingest flow, once by INSERTs and once by the API.
INSERT INTO elt.flows (name, params, retries) VALUES
  ('by_rows', '{"url": "http://127.0.0.1:18766/types.csv", "table_name": "api_t"}', 1);
INSERT INTO elt.tasks (flow, name, kind, config, retries, retry_delay, tags) VALUES
  ('by_rows', 'extract_data', 'extract', '{"url": ":url", "table": ":table_name", "mode": "replace"}',
   3, '2 seconds', '{extract}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('by_rows', 'transform_data', 'sql', 'DELETE FROM :"table_name" WHERE id > 40', '{extract_data}');

SELECT elt.create_flow('by_api', params => '{"url": "http://127.0.0.1:18766/types.csv", "table_name": "api_t"}',
                       retries => 1);
SELECT elt.add_task('by_api', 'extract_data', 'extract',
                    config => '{"url": ":url", "table": ":table_name", "mode": "replace"}',
                    retries => 3, retry_delay => '2 seconds', tags => '{extract}');
SELECT elt.add_task('by_api', 'transform_data', 'sql', 'DELETE FROM :"table_name" WHERE id > 40',
                    depends_on => '{extract_data}');
-- the same rows, but for the flow's name
SELECT count(*) AS flow_differences FROM (
  SELECT params, owner, schedule, timezone, enabled, catchup, max_active_runs, retries, priority, timeout
    FROM elt.flows WHERE name = 'by_rows'
  EXCEPT SELECT params, owner, schedule, timezone, enabled, catchup, max_active_runs, retries, priority, timeout
    FROM elt.flows WHERE name = 'by_api') d;
SELECT count(*) AS task_differences FROM (
  SELECT name, kind, config, sql, depends_on, retries, retry_delay, retry_backoff, timeout, tags, owner
    FROM elt.tasks WHERE flow = 'by_rows'
  EXCEPT SELECT name, kind, config, sql, depends_on, retries, retry_delay, retry_backoff, timeout, tags, owner
    FROM elt.tasks WHERE flow = 'by_api') d;
SELECT count(*) AS tasks FROM elt.tasks WHERE flow = 'by_api';
SELECT state, rows_loaded FROM flow_run('by_api');
SELECT count(*) FROM api_t;
-- seeing it: the graph as DOT and Mermaid, the run as a timeline
SELECT dot FROM elt.flow_graph('by_api');
SELECT mermaid FROM elt.flow_graph('by_api');
SELECT max(run_id) AS api_run FROM elt.flow_runs WHERE flow = 'by_api' \gset
SELECT task, attempt, state, started >= '0' AS started_after_run_start, duration > '0' AS took_time,
       length(bar) AS width, bar ~ '^ *=+ *$' AS bar_is_completed FROM elt.run_timeline(:api_run);
-- the transform's bar starts where the extract's ends, or after
SELECT position('=' IN (SELECT bar FROM elt.run_timeline(:api_run) WHERE task = 'transform_data'))
       >= length(rtrim((SELECT bar FROM elt.run_timeline(:api_run) WHERE task = 'extract_data'))) AS in_order;
SELECT elt.flow_graph('no_such_flow');

-- alter, schedule, enable and disable change what they name, no more
SELECT elt.alter_flow('by_api', priority => 2, description => 'the API''s');
SELECT elt.alter_task('by_api', 'transform_data', sql => 'DELETE FROM :"table_name" WHERE id > 30');
SELECT elt.schedule('by_api', '0 3 * * *', 'Europe/Paris');
SELECT elt.disable('by_api');
SELECT priority, description, schedule, timezone, enabled, retries FROM elt.flows WHERE name = 'by_api';
SELECT sql, retries FROM elt.tasks WHERE flow = 'by_api' AND name = 'transform_data';
SELECT elt.unschedule('by_api');
SELECT elt.enable('by_api');
SELECT schedule, timezone, enabled FROM elt.flows WHERE name = 'by_api';

-- the triggers' checks apply, and nothing is half-done
SELECT elt.add_task('by_api', 'bad', 'sql', 'SELECT 1', depends_on => '{nowhere}');
SELECT elt.alter_flow('by_api', max_active_runs => 0);
SELECT elt.schedule('by_api', 'every day at noon');
SELECT elt.add_task('by_api', 'typo', 'shell', 'rm -rf /');
SELECT count(*) AS tasks, max(priority) AS priority FROM elt.tasks JOIN elt.flows f ON f.name = flow
 WHERE flow = 'by_api' GROUP BY f.priority;
-- names that do not exist
SELECT elt.alter_flow('no_such_flow', priority => 1);
SELECT elt.add_task('no_such_flow', 't', 'sql', 'SELECT 1');
SELECT elt.alter_task('by_api', 'no_such_task', sql => 'SELECT 1');
SELECT elt.drop_task('by_api', 'no_such_task');
SELECT elt.drop_flow('no_such_flow');
SELECT elt.drop_task('by_api', 'transform_data');
SELECT name FROM elt.tasks WHERE flow = 'by_api';
SELECT elt.drop_flow('by_api');
SELECT count(*) FROM elt.flows WHERE name = 'by_api';

-- Another role's flow of the same name is not the caller's to change.
SET ROLE elt_alice;
SELECT elt.create_flow('by_rows');
SELECT elt.add_task('by_rows', 'own', 'sql', 'SELECT 1');
SELECT state FROM flow_run('by_rows');
SELECT state FROM flow_run('by_rows');
RESET ROLE;
SET ROLE elt_bob;
SELECT elt.drop_flow('by_rows');
-- one's own history: ended runs of one's own flows only
SELECT elt.purge_history();
RESET ROLE;
SELECT count(*) AS alices_runs FROM elt.flow_runs WHERE owner = 'elt_alice' AND flow = 'by_rows';
SELECT count(*) AS postgres_runs FROM elt.flow_runs WHERE owner = 'postgres' \gset
SET ROLE elt_alice;
SELECT elt.purge_history(flow => 'by_rows');
DELETE FROM elt.flow_runs WHERE owner = 'postgres';
SELECT elt.drop_flow('by_rows');
RESET ROLE;
SELECT count(*) AS alices_runs_left FROM elt.flow_runs WHERE owner = 'elt_alice' AND flow = 'by_rows';
SELECT count(*) = :postgres_runs AS others_runs_untouched FROM elt.flow_runs WHERE owner = 'postgres';
-- a run still pending (or running) is the runtime's: not even its owner deletes it
SET ROLE elt_alice;
SELECT elt.create_flow('queued_one');
SELECT elt.add_task('queued_one', 't', 'sql', 'SELECT 1');
RESET ROLE;
INSERT INTO elt.flow_runs (flow, owner, state, trigger, params, run_at)
VALUES ('queued_one', 'elt_alice', 'pending', 'api', '{}', now());
SET ROLE elt_alice;
SELECT elt.purge_history(flow => 'queued_one');
DELETE FROM elt.flow_runs WHERE flow = 'queued_one';
RESET ROLE;
SELECT count(*) AS pending_left FROM elt.flow_runs WHERE flow = 'queued_one' AND state = 'pending';
DELETE FROM elt.flow_runs WHERE flow = 'queued_one';
DELETE FROM elt.flows WHERE name = 'queued_one';
SELECT owner FROM elt.flows WHERE name = 'by_rows';

DELETE FROM elt.flows WHERE name = 'by_rows';
DROP TABLE api_t;
