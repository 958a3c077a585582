-- Subflows: a task of kind flow runs another flow as a child of the run
-- and task; a failed child fails its task; flow_run in a task's SQL is a
-- child too; cycles are refused where they can be seen, and stopped at run
-- time where they cannot.
\set SHOW_CONTEXT never
CREATE TABLE child_rows (month int, at timestamptz DEFAULT clock_timestamp());

INSERT INTO elt.flows (name, params) VALUES ('load_month', '{"month": 0}');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
  ('load_month', 'load', 'sql', 'INSERT INTO child_rows (month) VALUES (:month) RETURNING month');
INSERT INTO elt.flows (name, params) VALUES ('parent', '{"month": 3}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES
  ('parent', 'march', 'flow', '{"flow": "load_month", "params": {"month": ":month"}}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('parent', 'check', 'sql', $$SELECT (:'march'::jsonb #>> '{results,load,month}')::int AS loaded_month$$, '{march}');
SELECT state, message FROM flow_run('parent');
SELECT max(run_id) AS parent_run FROM elt.flow_runs WHERE flow = 'parent' \gset
-- the child is linked to the parent's run and task; the task's result is the child's
SELECT flow, state, parent_run = :parent_run AS linked, parent_task FROM elt.flow_runs
 WHERE parent_run = :parent_run;
SELECT task, state, result - 'run_id' AS result FROM elt.task_runs WHERE run_id = :parent_run ORDER BY task;
SELECT month FROM child_rows;

-- A child that fails fails its task, and the task's retries run it again.
INSERT INTO elt.flows (name) VALUES ('breaks');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('breaks', 'oops', 'sql', 'SELECT 1/0');
INSERT INTO elt.flows (name) VALUES ('fragile_parent');
INSERT INTO elt.tasks (flow, name, kind, config, retries) VALUES
  ('fragile_parent', 'child', 'flow', '{"flow": "breaks"}', 1);
SELECT state, message FROM flow_run('fragile_parent');
SELECT max(run_id) AS fragile_run FROM elt.flow_runs WHERE flow = 'fragile_parent' \gset
SELECT count(*) AS child_runs, bool_and(state = 'failed') AS all_failed FROM elt.flow_runs
 WHERE parent_run = :fragile_run;

-- flow_run inside a task's SQL is linked the same way, and fails its task.
INSERT INTO elt.flows (name) VALUES ('calls_flow_run');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
  ('calls_flow_run', 'call', 'sql', $$SELECT state FROM flow_run('breaks')$$);
SELECT state, message FROM flow_run('calls_flow_run');
SELECT max(run_id) AS calling_run FROM elt.flow_runs WHERE flow = 'calls_flow_run' \gset
SELECT flow, state, parent_task FROM elt.flow_runs WHERE parent_run = :calling_run;

-- Bad definitions: a missing subflow, a bad config, cycles.
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('parent', 'nowhere', 'flow', '{"flow": "no_such_flow"}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('parent', 'bad', 'flow', '{"params": {}}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('parent', 'self', 'flow', '{"flow": "parent"}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('load_month', 'back', 'flow', '{"flow": "parent"}');
-- a cycle through a template is stopped by the depth limit when it runs
INSERT INTO elt.flows (name, params) VALUES ('loops', '{"me": "loops"}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('loops', 'again', 'flow', '{"flow": ":me"}');
SET client_min_messages = error;
SELECT state, message LIKE '%would be nested more than 8 deep%' AS stopped_by_depth FROM flow_run('loops');
RESET client_min_messages;
SELECT count(*) AS loop_runs FROM elt.flow_runs WHERE flow = 'loops';

-- Map: the zoomcamp parent flow in one definition: months 1..3 loaded into
-- one table (each month a task run of its own, with its own retries and
-- result), then a transform that sees all their results.
CREATE TABLE monthly (month int, n int);
CREATE SEQUENCE month_seq;
CREATE FUNCTION month_value(m int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF m = 2 AND nextval('month_seq') = 1 THEN
        RAISE EXCEPTION 'month 2 is not ready yet' USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN m * 10;
END $$;
INSERT INTO elt.flows (name, params) VALUES ('months', '{"months": [1, 2, 3]}');
INSERT INTO elt.tasks (flow, name, kind, sql, for_each, retries) VALUES
  ('months', 'load_month', 'sql', 'INSERT INTO monthly SELECT :item, month_value(:item) RETURNING month', ':months', 1);
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('months', 'transform', 'sql',
   $$SELECT jsonb_array_length(:'load_month'::jsonb) AS instances, sum(n) AS total FROM monthly$$, '{load_month}');
SELECT task, sql FROM elt.flow_plan('months') ORDER BY task;
SELECT state, message FROM flow_run('months');
SELECT max(run_id) AS months_run FROM elt.flow_runs WHERE flow = 'months' \gset
SELECT task, attempt, state, result FROM elt.task_runs WHERE run_id = :months_run ORDER BY task, attempt;
-- an element that is an object binds its keys too
INSERT INTO elt.flows (name) VALUES ('labels');
INSERT INTO elt.tasks (flow, name, kind, sql, for_each) VALUES
  ('labels', 'each', 'sql', $$SELECT :'label' AS label, :'item'::jsonb ->> 'm' AS m$$,
   '[{"m": 1, "label": "jan"}, {"m": 2, "label": "feb"}]');
SELECT state FROM flow_run('labels');
SELECT task, result FROM elt.task_runs WHERE run_id = (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'labels')
 ORDER BY task;
-- for_each that is not an array: when written, or when the run substitutes it
INSERT INTO elt.tasks (flow, name, kind, sql, for_each) VALUES ('labels', 'bad', 'sql', 'SELECT 1', '{"a": 1}');
SELECT state, message FROM flow_run('months', '{"months": "not a list"}');
SELECT task, state, message FROM elt.task_runs
 WHERE run_id = (SELECT max(run_id) FROM elt.flow_runs WHERE flow = 'months') ORDER BY task;

DELETE FROM elt.flows WHERE name IN ('load_month', 'parent', 'breaks', 'fragile_parent', 'calls_flow_run', 'loops',
                                     'months', 'labels');
DROP TABLE child_rows, monthly;
DROP FUNCTION month_value(int);
DROP SEQUENCE month_seq;
