-- Upgrading from 0.1 keeps flows and history, and adds 0.2's columns.
CREATE DATABASE pg_elt_upgrade;
\c pg_elt_upgrade
CREATE EXTENSION pg_elt VERSION '0.1';
INSERT INTO elt.flows (name, params) VALUES ('old', '{"a": 1}');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('old', 't', 'sql', 'SELECT 1');
-- the library is newer than the catalog: the error says how to fix it
SELECT * FROM flow_run('old');
ALTER EXTENSION pg_elt UPDATE TO '0.2';
SELECT * FROM flow_run('old');
SELECT extversion FROM pg_extension WHERE extname = 'pg_elt';
SELECT name, params, schedule, enabled, max_active_runs, retries FROM elt.flows;
SELECT count(*) FROM elt.tasks;
ALTER EXTENSION pg_elt UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_elt';
SELECT name, params, schedule, enabled FROM elt.flows;
SELECT state FROM flow_run('old');
-- every function of the upgraded catalog runs with a fixed search_path, and
-- the run-id sequence is among what pg_dump keeps
SELECT p.oid::regprocedure::text AS function, p.proconfig FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'elt' ORDER BY 1;
SELECT c::regclass::text AS dumped FROM pg_extension e, unnest(e.extconfig) c
 WHERE e.extname = 'pg_elt' ORDER BY 1;
\c contrib_regression
DROP DATABASE pg_elt_upgrade;
