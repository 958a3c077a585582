-- Caching, as Prefect's task_input_hash with cache_expiration: a cached
-- task is not run again while its entry stands; an extract's entry stands
-- while its table is the one it loaded and its source answers a
-- conditional request with 304.  Entries are per owner.
\set SHOW_CONTEXT never
\set base 'http://127.0.0.1:18766'
-- The header names of the last request for a key, lower case.
CREATE FUNCTION fixture_headers(k text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE seen text;
BEGIN
    PERFORM load_csv('http://127.0.0.1:18766/_headers?key=' || k, 'fixture_seen',
                     '{"header": false, "mode": "replace", "columns": ["name"]}');
    SELECT string_agg(name, ' ' ORDER BY name) INTO seen FROM fixture_seen
     WHERE name LIKE 'if-%';
    RETURN seen;
END $$;
-- The run's log, with what changes from run to run (entry keys, times) masked.
CREATE FUNCTION cache_log(run bigint) RETURNS TABLE (task text, message text) LANGUAGE sql AS $$
    SELECT l.task, regexp_replace(regexp_replace(regexp_replace(l.message,
               'entry [0-9a-f]{12}', 'entry #', 'g'), 'expires at [^)]*', 'expires at T'),
               'run [0-9]+', 'run N', 'g')
      FROM elt.logs l WHERE l.run_id = run AND l.task IS NOT NULL
       AND (l.message LIKE '%cache%' OR l.message LIKE 'loaded %')
     ORDER BY l.id
$$;
CREATE FUNCTION newest_run() RETURNS bigint LANGUAGE sql AS 'SELECT max(run_id) FROM elt.flow_runs';
-- the runs' chatter carries times; the log is read through cache_log
SET client_min_messages = warning;

-- The ingest flow, both tasks cached for a day.
INSERT INTO elt.flows (name, params) VALUES
  ('cached_ingest', '{"url": "http://127.0.0.1:18766/yellow_tripdata_2021-01.csv.gz?key=c1", "table_name": "cached_trips"}');
INSERT INTO elt.tasks (flow, name, kind, config, cache_expiration) VALUES
  ('cached_ingest', 'extract_data', 'extract', '{"url": ":url", "table": ":table_name", "mode": "replace"}', '1 day');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on, cache_expiration) VALUES
  ('cached_ingest', 'transform_data', 'sql',
   'WITH gone AS (DELETE FROM :"table_name" WHERE passenger_count = 0 RETURNING 1) SELECT count(*) AS removed FROM gone',
   '{extract_data}', '1 day');

-- First run: both tasks run, and their results are kept.
SELECT state, message, rows_loaded > 0 AS loaded FROM flow_run('cached_ingest');
SELECT newest_run() AS r1 \gset
SELECT count(*) AS kept_rows FROM cached_trips \gset
SELECT * FROM cache_log(:r1);
SELECT task, run_id = :r1 AS from_r1, expires_at - created_at AS lifetime,
       result ? 'etag' AS has_etag, target = 'cached_trips'::regclass AS target
  FROM elt.task_cache ORDER BY task;
SELECT fixture_count('requests', 'c1') AS requests, fixture_count('bytes', 'c1') AS bytes \gset

-- Second run within the day: one conditional request, answered 304, no
-- body; both tasks cached, handing on run 1's results; nothing changes.
SELECT state, message, rows_loaded FROM flow_run('cached_ingest');
SELECT newest_run() AS r2 \gset
SELECT task, state, rows_loaded, result = (SELECT t.result FROM elt.task_runs t
                                            WHERE t.run_id = :r1 AND t.task = c.task) AS same_result
  FROM elt.task_runs c WHERE run_id = :r2 ORDER BY task;
SELECT fixture_count('requests', 'c1') - :requests AS new_requests,
       fixture_count('bytes', 'c1') - :bytes AS new_bytes;
SELECT fixture_headers('c1') AS conditional_headers;
SELECT count(*) = :kept_rows AS table_unchanged FROM cached_trips;
SELECT * FROM cache_log(:r2);
SELECT task, state, bar LIKE '%*%' AS shown_cached FROM elt.run_timeline(:r2, 10) ORDER BY task;

-- The file changes (a new ETag): the extract loads it afresh, and the
-- transform, whose upstream result is new, runs too.
SELECT fixture_count('bump', 'c1');
SELECT state, message, rows_loaded > 0 AS loaded FROM flow_run('cached_ingest');
SELECT newest_run() AS r3 \gset
SELECT task, state FROM elt.task_runs WHERE run_id = :r3 ORDER BY task;
SELECT * FROM cache_log(:r3);
-- (the transform's entry for the old upstream result stays until it expires)
SELECT task, count(*) AS entries, bool_or(run_id = :r3) AS one_from_r3 FROM elt.task_cache GROUP BY task ORDER BY task;

-- The table is dropped: the entry no longer stands (no conditional request).
SELECT fixture_count('requests', 'c1') AS requests \gset
DROP TABLE cached_trips;
SELECT state FROM flow_run('cached_ingest');
SELECT * FROM cache_log(newest_run()) WHERE task = 'extract_data';
SELECT count(*) > 0 AS reloaded FROM cached_trips;
SELECT fixture_count('requests', 'c1') - :requests AS new_requests;
-- ... and so is a table dropped and made again under the same name
SELECT state FROM flow_run('cached_ingest');
ALTER TABLE cached_trips RENAME TO cached_trips_old;
CREATE TABLE cached_trips (LIKE cached_trips_old);
SELECT state FROM flow_run('cached_ingest');
SELECT * FROM cache_log(newest_run()) WHERE task = 'extract_data';
DROP TABLE cached_trips_old;

-- A run may refresh the cache: both tasks run, and replace their entries.
SELECT state, message FROM flow_run('cached_ingest', refresh_cache => true);
SELECT task, state FROM elt.task_runs WHERE run_id = newest_run() ORDER BY task;
SELECT task, bool_or(run_id = newest_run()) AS replaced FROM elt.task_cache GROUP BY task ORDER BY task;
SELECT refresh_cache FROM elt.flow_runs WHERE run_id = newest_run();

-- Expired entries are not used, and the scheduler's pruning drops them.
UPDATE elt.task_cache SET expires_at = clock_timestamp() - interval '1 second' WHERE task = 'transform_data';
SELECT state, message FROM flow_run('cached_ingest');
SELECT task, state FROM elt.task_runs WHERE run_id = newest_run() ORDER BY task;
UPDATE elt.task_cache SET expires_at = clock_timestamp() - interval '1 second';
SELECT elt._prune_cache() > 0 AS pruned;
SELECT count(*) FROM elt.task_cache;

-- A source with Last-Modified and no ETag is asked with If-Modified-Since.
UPDATE elt.flows SET params = params || '{"url": "http://127.0.0.1:18766/yellow_tripdata_2021-01.csv.gz?key=c2&noetag=1&last_modified=Sun,%2003%20Jan%202021%2010:00:00%20GMT"}'
 WHERE name = 'cached_ingest';
SELECT state FROM flow_run('cached_ingest');
SELECT state, message FROM flow_run('cached_ingest');
SELECT fixture_count('requests', 'c2') AS requests, fixture_headers('c2') AS conditional_headers;
SELECT result ->> 'last_modified' AS last_modified FROM elt.task_cache WHERE task = 'extract_data';

-- A cache_key template sets the key: the task runs once per day given.
CREATE TABLE cache_key_runs (day date);
INSERT INTO elt.flows (name, params) VALUES ('daily', '{"day": "2021-01-01"}');
INSERT INTO elt.tasks (flow, name, kind, sql, cache_expiration, cache_key) VALUES
  ('daily', 'mark', 'sql', $$INSERT INTO cache_key_runs VALUES (:'day') RETURNING day$$, '1 hour', $$:'day'$$);
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('daily', 'use', 'sql', $$SELECT (:'mark'::jsonb ->> 'day') AS marked$$, '{mark}');
SELECT state, message FROM flow_run('daily');
SELECT state, message FROM flow_run('daily');
SELECT state, message FROM flow_run('daily', '{"day": "2021-01-02"}');
SELECT day FROM cache_key_runs ORDER BY day;
-- the cached result reaches the downstream task's template
SELECT task, state, result FROM elt.task_runs WHERE run_id = newest_run() - 1 ORDER BY task;

-- Instances of a mapped task are cached one by one.
INSERT INTO elt.flows (name) VALUES ('mapped_cache');
INSERT INTO elt.tasks (flow, name, kind, sql, for_each, cache_expiration) VALUES
  ('mapped_cache', 'square', 'sql', 'SELECT :item * :item AS sq', '[2, 3]', '1 hour');
SELECT state, message FROM flow_run('mapped_cache');
SELECT state, message FROM flow_run('mapped_cache');
SELECT task, state, result FROM elt.task_runs WHERE run_id = newest_run() ORDER BY task;
-- a refreshing run's subflows refresh too
INSERT INTO elt.flows (name) VALUES ('cache_parent');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('cache_parent', 'child', 'flow', '{"flow": "mapped_cache"}');
SELECT state, message FROM flow_run('cache_parent', refresh_cache => true);
SELECT f.flow, f.refresh_cache, string_agg(t.task || ' ' || t.state, ', ' ORDER BY t.task) AS tasks
  FROM elt.flow_runs f JOIN elt.task_runs t USING (run_id)
 WHERE f.run_id >= newest_run() - 1 GROUP BY f.run_id, f.flow, f.refresh_cache ORDER BY f.run_id;

-- Entries are the owner's: alice's flow of the same inputs does not take
-- postgres's entry, she sees only hers, and may not forge or clear others'.
GRANT SELECT, INSERT ON cache_key_runs TO elt_alice;
SET ROLE elt_alice;
INSERT INTO elt.flows (name, params) VALUES ('daily', '{"day": "2021-01-01"}');
INSERT INTO elt.tasks (flow, name, kind, sql, cache_expiration, cache_key) VALUES
  ('daily', 'mark', 'sql', $$INSERT INTO public.cache_key_runs VALUES (:'day') RETURNING day$$, '1 hour', $$:'day'$$);
SELECT state, message FROM flow_run('daily');
SELECT owner, flow, task FROM elt.task_cache ORDER BY 1, 2, 3;
SELECT error_of($$INSERT INTO elt.task_cache (owner, key, flow, task, run_id, expires_at)
                  VALUES ('postgres', 'k', 'daily', 'mark', 1, 'infinity')$$);
SELECT error_of($$UPDATE elt.task_cache SET expires_at = 'infinity'$$);
SELECT elt.clear_cache() AS cleared_by_alice;
RESET ROLE;
SELECT owner, count(*) FROM elt.task_cache GROUP BY 1 ORDER BY 1;

-- Clearing: one task, one flow, or all of one's own.
SELECT elt.clear_cache('mapped_cache', 'square') AS instances_cleared;
SELECT elt.clear_cache('daily') AS cleared;
SELECT state, message FROM flow_run('daily');
SELECT elt.clear_cache() > 0 AS cleared_all;

-- Bad definitions are refused when written.
SELECT error_of($$INSERT INTO elt.tasks (flow, name, kind, sql, cache_expiration) VALUES ('daily', 'x', 'sql', 'SELECT 1', '-1 hour')$$);
SELECT error_of($$INSERT INTO elt.tasks (flow, name, kind, sql, cache_key) VALUES ('daily', 'x', 'sql', 'SELECT 1', ':''day''')$$);
SELECT error_of($$INSERT INTO elt.tasks (flow, name, kind, sql, cache_expiration, cache_key) VALUES ('daily', 'x', 'sql', 'SELECT 1', '1 hour', ':''dya''')$$);
SELECT error_of($$INSERT INTO elt.tasks (flow, name, kind, sql, cache_expiration, cache_key) VALUES ('daily', 'x', 'sql', 'SELECT 1', '1 hour', ' ')$$);
-- the short API writes the same columns
SELECT elt.add_task('daily', 'api_cached', 'sql', 'SELECT 1', cache_expiration => '2 hours', cache_key => $$:'day'$$);
SELECT cache_expiration, cache_key FROM elt.tasks WHERE flow = 'daily' AND name = 'api_cached';

RESET client_min_messages;
SET ROLE elt_alice;
DELETE FROM elt.flows WHERE name = 'daily';
RESET ROLE;
DELETE FROM elt.flows WHERE name IN ('cached_ingest', 'daily', 'mapped_cache', 'cache_parent');
DROP TABLE cached_trips, cache_key_runs, fixture_seen;
DROP FUNCTION fixture_headers(text);
DROP FUNCTION cache_log(bigint);
DROP FUNCTION newest_run();
