-- Task inputs and results: what each attempt ran and gave back, and
-- upstream results in downstream templates.
\set SHOW_CONTEXT never
CREATE FUNCTION last_result_run() RETURNS bigint LANGUAGE sql AS 'SELECT max(run_id) FROM elt.flow_runs';
CREATE TABLE seen (rows_loaded bigint, tbl text, etag text, top_price numeric);

-- An extract (with credentials in its URL and a header), a SQL task that
-- returns a row, and a task downstream of both that uses their results.
INSERT INTO elt.flows (name, params) VALUES ('results', '{"target": "priced"}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES
  ('results', 'extract_data', 'extract',
   '{"url": "http://reader:s3cret@127.0.0.1:18766/types.csv?etag=%22v1%22", "table": ":target",
     "mode": "replace", "headers": {"X-Api-Key": "k-123"}}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('results', 'top', 'sql', 'SELECT 1 AS unused; SELECT max(price) AS price, count(*) AS n FROM :"target"', '{extract_data}'),
  ('results', 'report', 'sql',
   $$INSERT INTO seen VALUES ((:'extract_data'::jsonb ->> 'rows')::bigint, :'extract_data'::jsonb ->> 'table',
                              :'extract_data'::jsonb ->> 'etag', (:'top'::jsonb ->> 'price')::numeric)$$, '{top}');
-- a dry run shows where the results will go
SELECT task, sql FROM elt.flow_plan('results') WHERE kind = 'sql';
SELECT state, rows_loaded FROM flow_run('results');
SELECT * FROM seen;
-- inputs: the SQL as run; the extract's config with the URL's credentials
-- removed and header values masked
SELECT task, inputs FROM elt.task_attempts WHERE run_id = last_result_run() AND task <> 'report' ORDER BY task;
-- results: the extract's (bytes are the file's: compare, not print) and the
-- first row of the SQL task's last statement that returned rows
SELECT task, result - 'bytes' - 'size' - 'loaded_at' AS result, (result ->> 'bytes')::bigint = bytes AS bytes_recorded
  FROM elt.task_attempts WHERE run_id = last_result_run() ORDER BY task;
-- the whole inputs never show the secrets
SELECT count(*) AS secrets_shown FROM elt.task_runs
 WHERE inputs::text LIKE '%s3cret%' OR inputs::text LIKE '%k-123%';

-- A result over 64 kB is not kept (the task completes, with a warning).
INSERT INTO elt.flows (name) VALUES ('big_result');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES
  ('big_result', 'wide', 'sql', 'SELECT repeat(''x'', 70000) AS filler');
SELECT state FROM flow_run('big_result');
SELECT result IS NULL AS not_kept FROM elt.task_runs WHERE run_id = last_result_run();

-- Names: a task may not be named like a parameter of its flow, nor a
-- parameter like a task; templates may name only parameters and upstream tasks.
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('results', 'target', 'sql', 'SELECT 1');
UPDATE elt.flows SET params = '{"target": "priced", "top": 1}' WHERE name = 'results';
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('results', 'sideways', 'sql', $$SELECT :'top'$$);
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES ('results', 'below', 'sql', $$SELECT :'top'$$, '{report}');
SELECT name FROM elt.tasks WHERE flow = 'results' ORDER BY 1;

-- Retry from failure: the transform fails; mended, flow_retry runs it
-- alone, on the rows the first run loaded, without downloading again.
INSERT INTO elt.flows (name) VALUES ('mend');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES
  ('mend', 'extract', 'extract', '{"url": "http://127.0.0.1:18766/types.csv?key=mend1", "table": "mended", "mode": "replace"}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('mend', 'transform', 'sql', 'DELETE FROM no_such_table', '{extract}');
SELECT state, message FROM flow_run('mend');
SELECT max(run_id) AS failed_run FROM elt.flow_runs WHERE flow = 'mend' \gset
UPDATE elt.tasks SET sql = 'DELETE FROM mended WHERE id > 40' WHERE flow = 'mend' AND name = 'transform';
SELECT flow_retry(:failed_run) AS retry_run \gset
SELECT state, trigger, retry_of = :failed_run AS retries_the_failed_run FROM elt.flow_runs WHERE run_id = :retry_run;
SELECT task, state, message, result ->> 'rows' AS rows FROM elt.task_runs WHERE run_id = :retry_run ORDER BY task;
SELECT count(*) FROM mended;
SELECT requests('mend1') AS downloads;
-- what cannot be retried
SELECT flow_retry(:retry_run);
SELECT flow_retry(-1);
SELECT flow_retry(NULL);

DELETE FROM elt.flows WHERE name IN ('results', 'big_result', 'mend');
DROP TABLE seen, priced, mended;
DROP FUNCTION last_result_run();
