-- Flows: the README's ingest flow, retries, failures, owners, cancellation.
\set SHOW_CONTEXT never
\set base 'http://127.0.0.1:18766'
CREATE FUNCTION last_run() RETURNS bigint LANGUAGE sql AS 'SELECT max(run_id) FROM elt.flow_runs';
CREATE VIEW attempts AS
  SELECT task, attempt, state, rows_loaded, sqlstate, message FROM elt.task_runs
   WHERE run_id = last_run() ORDER BY task, attempt;

-- The README's example, on the generated 10,000-row taxi file.
\set url 'http://127.0.0.1:18766/yellow_tripdata_2021-01.csv.gz'
\i test/ingest_flow.sql
SELECT run_id, state, message, rows_loaded, duration > '0' AS timed
  FROM flow_run('ingest', '{"table_name": "yellow_taxi_trips"}');
SELECT count(*), count(*) FILTER (WHERE passenger_count = 0) AS zero_passengers FROM yellow_taxi_trips;
SELECT * FROM attempts;
SELECT flow, owner, state, trigger, params->>'table_name' AS table_name, rows_loaded,
       ended_at >= started_at AS ended_after_start
  FROM elt.flow_runs WHERE run_id = last_run();
SELECT task, attempt, level, message FROM elt.logs WHERE run_id = last_run() ORDER BY id;
-- again: "replace" reloads, the transform cleans again
SELECT state, rows_loaded FROM flow_run('ingest', '{"table_name": "yellow_taxi_trips"}');
SELECT count(*) FROM yellow_taxi_trips;

-- A task's SET ends with the task: the next task sees the defaults.
INSERT INTO elt.flows (name) VALUES ('settings');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
  ('settings', 'a', 'sql', 'SET search_path = nowhere; SET work_mem = ''1MB''');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('settings', 'b', 'sql', $sql$DO $do$ BEGIN RAISE NOTICE 'work_mem is %', current_setting('work_mem'); END $do$$sql$, '{a}');
SELECT state FROM flow_run('settings');

-- A table-name parameter is an identifier, never SQL.
INSERT INTO elt.flows (name, params) VALUES ('inject', '{"table_name": "injected"}');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
  ('inject', 'make', 'sql', 'CREATE TABLE :"table_name" (note text); INSERT INTO :"table_name" VALUES (:''table_name'')');
SELECT state, message FROM flow_run('inject', '{"table_name": "x\"; DROP TABLE yellow_taxi_trips; --"}');
SELECT relname FROM pg_class WHERE relname LIKE 'x%DROP%';
SELECT note FROM "x""; DROP TABLE yellow_taxi_trips; --";
SELECT count(*) FROM yellow_taxi_trips;
-- and a config parameter is a value: a table name that is not a name fails the load
SELECT state, message FROM flow_run('ingest', '{"table_name": "x\"; DROP TABLE yellow_taxi_trips; --"}');
SELECT count(*) FROM yellow_taxi_trips;

-- Parameters are declared by the flow: a misspelt key is an error that
-- lists them, not a silent fall back to the default.
SELECT state FROM flow_run('ingest', '{"tabel_name": "typo"}');
-- a quoted reference to a parameter the flow lacks fails when written
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('inject', 'typo', 'sql', 'SELECT * FROM :"tbl"');
-- (config strings are not SQL: a URL may hold q=title:"x")
INSERT INTO elt.tasks (flow, name, kind, config) VALUES
  ('inject', 'lucene', 'extract', '{"url": "http://127.0.0.1:18766/x.csv?q=title:\"x\"", "table": "t"}');
DELETE FROM elt.tasks WHERE flow = 'inject' AND name = 'lucene';
-- a bare :name is left as written (as psql does): it is also a slice, a[1:n]
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('inject', 'slice', 'sql', 'SELECT (ARRAY[1,2,3])[1:n] FROM (SELECT 2 AS n) s');
-- A dry run shows what each task would execute, in run order.
SELECT task, kind, depends_on, sql, url, table_name
  FROM elt.flow_plan('ingest', '{"table_name": "plan_t", "url": "http://u:secret@127.0.0.1:18766/f.csv.gz"}');
SELECT task, sql FROM elt.flow_plan('inject', '{"table_name": "x\"y"}');
SELECT * FROM elt.flow_plan('ingest', '{"tabel_name": "typo"}');
DELETE FROM elt.tasks WHERE flow = 'inject' AND name = 'slice';

-- 503 twice, then the file: the task completes after 3 attempts.
INSERT INTO elt.flows (name, params) VALUES ('flaky', '{"key": "flow503"}');
INSERT INTO elt.tasks (flow, name, kind, config, retries, retry_delay, retry_backoff) VALUES
  ('flaky', 'extract', 'extract',
   '{"url": "http://127.0.0.1:18766/yellow_tripdata_2021-01.csv.gz?status=503&fail=2&key=:key", "table": "flaky_trips"}',
   3, '0.1 s', 2);
SELECT state, message, rows_loaded FROM flow_run('flaky');
SELECT * FROM attempts;
SELECT count(*) FROM flaky_trips;

-- 404 cannot succeed on retry: failed at once; its dependant does not start.
INSERT INTO elt.flows (name) VALUES ('missing');
INSERT INTO elt.tasks (flow, name, kind, config, retries, retry_delay) VALUES
  ('missing', 'extract', 'extract', '{"url": "http://127.0.0.1:18766/nope.csv.gz", "table": "nope"}', 3, '0.1 s');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('missing', 'clean', 'sql', 'DELETE FROM nope', '{extract}'),
  ('missing', 'independent', 'sql', 'SELECT 1', '{}');
SELECT state, message, rows_loaded FROM flow_run('missing');
SELECT * FROM attempts;

-- SQL errors: a syntax error fails at once; a serialization failure is retried.
CREATE SEQUENCE flaky_seq;
INSERT INTO elt.flows (name) VALUES ('sqlfail');
INSERT INTO elt.tasks (flow, name, kind, sql, retries, retry_delay) VALUES
  ('sqlfail', 'typo', 'sql', 'SELEC 1', 2, '0.1 s'),
  ('sqlfail', 'retried', 'sql', $sql$DO $do$ BEGIN
      IF nextval('flaky_seq') < 3 THEN
        RAISE EXCEPTION 'conflict %', currval('flaky_seq') USING ERRCODE = 'serialization_failure';
      END IF;
      RAISE NOTICE 'worked on attempt %', currval('flaky_seq');
    END $do$$sql$, 2, '0.1 s');
SELECT state, message FROM flow_run('sqlfail');
SELECT * FROM attempts;
SELECT task, attempt, level, sqlstate, message FROM elt.logs
 WHERE run_id = last_run() AND level <> 'info' ORDER BY id;

-- A task timeout stops the work, and counts as a failed attempt.
INSERT INTO elt.flows (name) VALUES ('slow');
INSERT INTO elt.tasks (flow, name, kind, sql, retries, timeout) VALUES
  ('slow', 'sleep', 'sql', 'SELECT pg_sleep(10)', 1, '0.5 s');
SELECT state, message FROM flow_run('slow');
SELECT * FROM attempts;

-- A flow timeout stops the run: the running task rolls back (and is not
-- retried), the rest do not start, the run fails.
INSERT INTO elt.flows (name, timeout) VALUES ('slowflow', '5 s');
INSERT INTO elt.tasks (flow, name, kind, sql, retries) VALUES
  ('slowflow', 's1', 'sql', 'SELECT pg_sleep(0.1)', 0);
INSERT INTO elt.tasks (flow, name, kind, sql, retries, depends_on) VALUES
  ('slowflow', 's2', 'sql', 'SELECT pg_sleep(60)', 2, '{s1}'),
  ('slowflow', 's3', 'sql', 'SELECT 1', 0, '{s2}');
SELECT state, message FROM flow_run('slowflow');
SELECT task, attempt, state, message FROM attempts;

-- Runs execute as the flow's owner, never more.
CREATE TABLE secret (x int);
CREATE TABLE whoami (cur text, ses text);
GRANT INSERT ON whoami TO elt_alice;
SET ROLE elt_alice;
INSERT INTO elt.flows (name) VALUES ('alice_flow');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
  ('alice_flow', 'who', 'sql', 'INSERT INTO whoami SELECT current_user, session_user'),
  ('alice_flow', 'peek', 'sql', 'SELECT * FROM secret');
SELECT state, message FROM flow_run('alice_flow');
RESET ROLE;
SELECT * FROM whoami;
SELECT * FROM attempts;
-- a member of the owner role may run it; anyone else may not
SET ROLE elt_carol;
SELECT state FROM flow_run('alice_flow');
SET ROLE elt_bob;
SELECT state FROM flow_run('alice_flow');
SELECT count(*) FROM elt.flow_runs;
RESET ROLE;

-- pg_elt reads and writes its catalog as the extension owner with a fixed
-- search_path: an operator a user puts first on theirs is never called.
CREATE SCHEMA evil AUTHORIZATION elt_bob;
SET ROLE elt_bob;
CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked as %', current_user; RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
SET search_path = evil, pg_catalog, public;
SELECT state FROM flow_run('alice_flow');
RESET search_path;
RESET ROLE;

-- Results reach a REPEATABLE READ caller, whose snapshot predates the run.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) > 0 AS has_runs FROM elt.flow_runs;
SELECT state, message FROM flow_run('inject', '{"table_name": "rr_table"}');
COMMIT;

-- A definition the caller has not committed cannot run yet.
BEGIN;
INSERT INTO elt.flows (name) VALUES ('fresh');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('fresh', 't', 'sql', 'SELECT 1');
SELECT state FROM flow_run('fresh');
ROLLBACK;
BEGIN;
UPDATE elt.tasks SET sql = 'SELECT 2' WHERE flow = 'inject';
SELECT state FROM flow_run('inject', '{"table_name": "t2"}');
ROLLBACK;

-- Cancelling the caller cancels the run: the task rolls back.
CREATE TABLE slow_trips (LIKE yellow_taxi_trips);
INSERT INTO slow_trips SELECT * FROM yellow_taxi_trips LIMIT 5;
INSERT INTO elt.flows (name) VALUES ('cancelme');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES
  ('cancelme', 'extract', 'extract', '{"url": "http://127.0.0.1:18766/yellow_tripdata_2021-01.csv?slow=1000", "table": "slow_trips"}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('cancelme', 'after', 'sql', 'SELECT 1', '{extract}');
-- (the load has usually started within the 3 s, but need not have, as
-- under valgrind: either way the task ends cancelled and loads nothing)
SET statement_timeout = '3s';
SELECT state FROM flow_run('cancelme');
RESET statement_timeout;
SELECT state, message FROM elt.flow_runs WHERE run_id = last_run();
SELECT task, attempt, state,
       message IN ('cancelled while running', 'not started: the run was cancelled') AS cancelled
  FROM attempts;
SELECT count(*) FROM slow_trips;

-- Bad calls.
SELECT * FROM flow_run('no_such_flow');
SELECT * FROM flow_run(NULL);
SELECT * FROM flow_run('ingest', '"x"');
INSERT INTO elt.flows (name) VALUES ('empty');
SELECT * FROM flow_run('empty');
