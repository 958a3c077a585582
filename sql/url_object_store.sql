-- (Named to run last: its flow run must not move the run ids the other
-- files expect.)
-- Object stores: s3:// and gs:// URLs against the S3-compatible fixture
-- (test/s3_fixture.py on 127.0.0.1:18768), which checks every request's
-- AWS Signature V4 as S3 does and answers with S3's error documents.
\set SHOW_CONTEXT never
\set store 'http://127.0.0.1:18768'

-- s3_requests(k): the requests the store saw whose path contained k.
CREATE FUNCTION s3_requests(k text) RETURNS bigint LANGUAGE sql
    RETURN fixture_count('requests', k, 'http://127.0.0.1:18768');

SET ROLE elt_alice;
SELECT elt.create_credential('lake', 's3', '{"secret_access_key": "test-secret"}',
                             jsonb_build_object('access_key_id', 'AKIDTEST', 'endpoint', :'store'));

-- 1. One object, streamed and inflated as over https.
SELECT load_csv('s3://lake/yellow/yellow_tripdata_2021-01.csv.gz', 's3_trips',
                '{"credential": "lake", "mode": "replace"}');
SELECT count(*), min(tpep_pickup_datetime) IS NOT NULL AS typed FROM s3_trips;

-- 2. A glob: the three months in key order, into one table (README.txt
-- does not match); a prefix lists everything under it.
SELECT load_csv('s3://lake/yellow/yellow_tripdata_2021-0?.csv.gz', 's3_trips',
                '{"credential": "lake", "mode": "replace"}');
SELECT count(*) FROM s3_trips;
SELECT url, key, size, etag FROM elt.list_files('s3://lake/yellow/', '{"credential": "lake"}');
SELECT key FROM elt.list_files('s3://lake/yellow/yellow_tripdata_2021-0[13].csv.gz', '{"credential": "lake"}');
-- an object's own URL lists just it
SELECT key FROM elt.list_files('s3://lake/yellow/README.txt', '{"credential": "lake"}');

-- 3. More than 1,000 objects: the listing follows continuation tokens.
RESET ROLE;
SELECT s3_requests('list-type') AS listings_before \gset
SET ROLE elt_alice;
SELECT count(*), count(DISTINCT key), min(key), max(key)
  FROM elt.list_files('s3://lake/many/', '{"credential": "lake"}');
RESET ROLE;
SELECT s3_requests('list-type') - :listings_before AS listing_pages;
SET ROLE elt_alice;
SELECT load_csv('s3://lake/many/part-00*.csv', 's3_parts', '{"credential": "lake", "mode": "replace"}');
SELECT count(*), sum(n) FROM s3_parts;

-- 4. A key with a space and a non-ASCII letter, encoded as the signature
-- requires; gs:// goes through the same API (HMAC keys).
SELECT load_csv('s3://lake/odd names/trips ü 1.csv', 's3_odd', '{"credential": "lake", "mode": "replace"}');
SELECT load_csv('gs://lake/odd names/trips ü 1.csv', 's3_odd',
                '{"credential": "lake", "region": "us-east-1", "mode": "append"}');
SELECT sum(n) FROM s3_odd;

-- 5. A session token; a public bucket needs no credential.
SELECT elt.create_credential('lake_session', 's3',
                             '{"secret_access_key": "token-secret", "session_token": "good-token"}',
                             jsonb_build_object('access_key_id', 'AKIDTOKEN', 'endpoint', :'store'));
SELECT load_csv('s3://lake/odd names/trips ü 1.csv', 's3_odd', '{"credential": "lake_session", "mode": "replace"}');
SELECT load_csv('s3://public-lake/trips.csv.gz', 's3_public',
                jsonb_build_object('endpoint', :'store', 'mode', 'replace'));

-- 6. A transfer cut halfway resumes with a signed Range request.
SELECT load_csv('s3://lake/flaky/trips.csv.gz', 's3_flaky', '{"credential": "lake", "mode": "replace"}');
SELECT count(*) FROM s3_flaky;
-- a store that does not do Range cannot resume: the load restarts (its
-- retries), and then fails saying so; the table keeps its rows
SELECT error_of($$SELECT load_csv('s3://norange-lake/flaky/trips.csv.gz', 's3_flaky', '{"credential": "lake", "retries": 1, "retry_delay": 0}')$$,
                '%does not allow resuming it%');
SELECT count(*) FROM s3_flaky;

-- 7. An extract task reads the store too, with its owner's credential.
INSERT INTO elt.flows (name, params) VALUES ('lake_months', '{"months": "0[12]"}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES
  ('lake_months', 'extract', 'extract',
   '{"url": "s3://lake/yellow/yellow_tripdata_2021-:months.csv.gz", "table": "s3_flow_trips", "mode": "replace", "credential": "lake"}');
SELECT state, rows_loaded FROM flow_run('lake_months');
SELECT count(*) FROM s3_flow_trips;

-- 8. Bad input: a clear error each, with the store's code, and the target
-- as it was.  Wrong keys, a wrong region, an expired token, no signature
-- for a private bucket, clock skew:
SELECT elt.create_credential('lake_wrong', 's3', '{"secret_access_key": "not-it"}',
                             jsonb_build_object('access_key_id', 'AKIDTEST', 'endpoint', :'store'));
SELECT elt.create_credential('lake_nobody', 's3', '{"secret_access_key": "test-secret"}',
                             jsonb_build_object('access_key_id', 'AKIDNOBODY', 'endpoint', :'store'));
\set VERBOSITY default
SELECT load_csv('s3://lake/yellow/yellow_tripdata_2021-01.csv.gz', 's3_trips', '{"credential": "lake_wrong"}');
SELECT load_csv('s3://lake/yellow/yellow_tripdata_2021-01.csv.gz', 's3_trips', '{"credential": "lake_nobody"}');
SELECT load_csv('s3://lake/yellow/yellow_tripdata_2021-01.csv.gz', 's3_trips',
                '{"credential": "lake", "region": "eu-west-1"}');
SELECT elt.alter_credential('lake_session', '{"secret_access_key": "token-secret", "session_token": "expired"}');
SELECT load_csv('s3://lake/odd names/trips ü 1.csv', 's3_odd', '{"credential": "lake_session"}');
SELECT load_csv('s3://lake/yellow/yellow_tripdata_2021-01.csv.gz', 's3_trips', jsonb_build_object('endpoint', :'store'));
SELECT load_csv('s3://skewed-lake/trips.csv', 's3_trips', '{"credential": "lake"}');
-- a missing key or bucket: 58P01
SELECT error_of($$SELECT load_csv('s3://lake/yellow/nope.csv', 's3_trips', '{"credential": "lake"}')$$);
SELECT error_of($$SELECT load_csv('s3://no-such-bucket/x.csv', 's3_trips', '{"credential": "lake"}')$$);
-- a listing that matches nothing: a notice and nothing loaded, or, when
-- asked, an error
SELECT load_csv('s3://lake/yellow/*.parquet', 's3_trips', '{"credential": "lake"}');
SELECT error_of($$SELECT load_csv('s3://lake/yellow/*.parquet', 's3_trips', '{"credential": "lake", "require_match": true}')$$);
-- globs and URLs that cannot be meant, a credential of another kind
SELECT error_of($$SELECT load_csv('s3://lake/yellow/[0-9.csv', 's3_trips', '{"credential": "lake"}')$$);
SELECT error_of($$SELECT load_csv('s3://lake/yellow/a\b*.csv', 's3_trips', '{"credential": "lake"}')$$);
SELECT error_of($$SELECT load_csv('s3:///x.csv', 's3_trips', '{"credential": "lake"}')$$);
SELECT error_of($$SELECT load_csv('s3://lake/x.csv', 's3_trips', '{"endpoint": "ftp://127.0.0.1"}')$$);
SELECT error_of($$SELECT load_csv('s3://lake/x.csv', 's3_trips', '{"credential": "lake", "region": "us east"}')$$);
SELECT elt.create_credential('not_s3', 'bearer', '{"token": "t"}');
SELECT error_of($$SELECT load_csv('s3://lake/x.csv', 's3_trips', '{"credential": "not_s3"}')$$);
SELECT error_of($$SELECT load_csv('http://127.0.0.1:18766/types.csv', 's3_trips', '{"credential": "lake"}')$$);
-- a listing whose first object is no month (README.txt sorts first): the
-- whole load fails, and the table keeps the three months
SELECT error_of($$SELECT load_csv('s3://lake/yellow/*', 's3_trips', '{"credential": "lake", "mode": "replace"}')$$);
SELECT count(*) FROM s3_trips;
-- another role's credential is not bob's to use
SET ROLE elt_bob;
SELECT error_of($$SELECT load_csv('s3://lake/odd names/trips ü 1.csv', 'bob_odd', '{"credential": "lake"}')$$);
SELECT error_of($$SELECT * FROM elt.list_files('s3://lake/many/', '{"credential": "lake"}')$$);
RESET ROLE;

-- 9. Incremental loads: each object of a prefix once, however often the
-- load runs; the ledger (elt.loaded_files) commits with the rows.  New
-- and changed objects are written into the fixture's bucket here.
\getenv data PG_ELT_TEST_DATA
SELECT :'data' || '/s3/lake/inbox/b.csv' AS b_csv, :'data' || '/s3/lake/inbox/a.csv' AS a_csv \gset
SET ROLE elt_alice;
SELECT load_csv('s3://lake/inbox/', 'inbox', '{"credential": "lake", "incremental": true}');
SELECT load_csv('s3://lake/inbox/', 'inbox', '{"credential": "lake", "incremental": true}');
SELECT sum(n), count(*) FROM inbox;
SELECT owner, target, url, size, rows_loaded, run_id FROM elt.loaded_files ORDER BY url;
-- a new object: only it is loaded
RESET ROLE;
COPY (VALUES ('n'), ('20'), ('21')) TO :'b_csv';
SET ROLE elt_alice;
SELECT load_csv('s3://lake/inbox/', 'inbox', '{"credential": "lake", "incremental": true}');
SELECT sum(n), count(*) FROM inbox;
-- a changed object: skipped with a notice, or loaded again when asked
RESET ROLE;
COPY (VALUES ('n'), ('100')) TO :'a_csv';
SET ROLE elt_alice;
SELECT load_csv('s3://lake/inbox/', 'inbox', '{"credential": "lake", "incremental": true}');
SELECT load_csv('s3://lake/inbox/', 'inbox', '{"credential": "lake", "incremental": true, "reload_changed": true}');
SELECT sum(n), count(*) FROM inbox;
-- a load that fails records nothing: the next one loads the object
SELECT error_of($$SELECT load_csv('s3://lake/inbox/', 'inbox_typed', '{"credential": "lake", "incremental": true, "types": {"n": "boolean"}}')$$);
SELECT count(*) FROM elt.loaded_files WHERE target = 'public.inbox_typed';
-- one role's ledger is hidden from another
SET ROLE elt_bob;
SELECT count(*) FROM elt.loaded_files;
RESET ROLE;
-- incremental loads append
SELECT error_of($$SELECT load_csv('s3://lake/inbox/', 'inbox', '{"credential": "lake", "incremental": true, "mode": "replace"}')$$);
SELECT error_of($$SELECT load_csv('s3://lake/inbox/', 'inbox', '{"credential": "lake", "reload_changed": true}')$$);

-- 10. Azure Blob Storage: a SAS URL is plain https; its signature is
-- masked wherever the URL is shown.
SELECT error_of($$SELECT load_csv('http://127.0.0.1:18766/no_such_blob.csv?sv=2022-11-02&sr=b&se=2030-01-01&sp=r&sig=c2VjcmV0LXNpZw%3D%3D', 'blob')$$);
SELECT load_csv('http://127.0.0.1:18766/types.csv?sv=2022-11-02&sr=b&sp=r&sig=c2VjcmV0LXNpZw%3D%3D', 'blob', '{"mode": "replace"}');

-- 11. Export: a query's rows as CSV (COPY's quoting), gzipped for a .gz
-- name, to a bucket by a multipart upload; loaded back, they are the same.
SET ROLE elt_alice;
CREATE TABLE export_src AS SELECT g AS id, repeat(md5(g::text), 4) AS body FROM generate_series(1, 120000) g;
SELECT export_csv('SELECT * FROM export_src WHERE id <= 2000', 's3://lake/exports/small.csv.gz', '{"credential": "lake"}');
SELECT load_csv('s3://lake/exports/small.csv.gz', 's3_back', '{"credential": "lake", "mode": "replace"}');
SELECT count(*), sum(id), bool_and(body = repeat(md5(id::text), 4)) FROM s3_back;
SELECT export_csv($$SELECT * FROM (VALUES (1, 'a,b', 'say "hi"', E'two\nlines', NULL::text, '')) v(id, comma, quotes, lines, nothing, empty)$$,
                  's3://lake/exports/quoting.csv', '{"credential": "lake"}');
SELECT load_csv('s3://lake/exports/quoting.csv', 's3_quoting', '{"credential": "lake", "mode": "replace"}');
SELECT comma, quotes, lines, nothing IS NULL AS null_stays_null, empty = '' AS empty_stays_empty FROM s3_quoting;
-- more than one part (16 MB in parts of 5 MB)
RESET ROLE;
SELECT s3_requests('partNumber') AS parts_before \gset
SET ROLE elt_alice;
SELECT export_csv('SELECT * FROM export_src', 's3://lake/exports/big.csv', '{"credential": "lake", "part_size": 5}');
RESET ROLE;
SELECT s3_requests('partNumber') - :parts_before AS parts;
SET ROLE elt_alice;
SELECT load_csv('s3://lake/exports/big.csv', 's3_back', '{"credential": "lake", "mode": "replace"}');
SELECT count(*), sum(id) FROM s3_back;
-- an export that fails after two parts leaves no object and no open upload
RESET ROLE;
SELECT s3_requests('partNumber') AS parts_before \gset
SET ROLE elt_alice;
SELECT error_of($$SELECT export_csv('SELECT CASE WHEN id = 100000 THEN id / (id - id) ELSE id END, body FROM export_src',
                                    's3://lake/exports/broken.csv', '{"credential": "lake", "part_size": 5}')$$);
SELECT count(*) AS objects FROM elt.list_files('s3://lake/exports/broken.csv', '{"credential": "lake"}');
RESET ROLE;
SELECT s3_requests('partNumber') - :parts_before AS parts_sent_first;
SELECT fixture_count('uploads', '', :'store') AS open_uploads;
-- a plain URL takes one PUT (the fixture's public bucket takes unsigned ones)
SET ROLE elt_alice;
SELECT export_csv('SELECT id FROM export_src WHERE id <= 3', 'http://127.0.0.1:18768/public-lake/put.csv');
SELECT load_csv('s3://public-lake/put.csv', 's3_put', jsonb_build_object('endpoint', :'store', 'mode', 'replace'));
-- bad input
SELECT error_of($$SELECT export_csv('SELECT 1', 's3://lake/exports/*.csv', '{"credential": "lake"}')$$);
SELECT error_of($$SELECT export_csv('SELECT 1', 's3://lake/exports/x.csv', '{"credential": "lake", "part_size": 1}')$$);
SELECT error_of($$SELECT export_csv('SELECT 1', 's3://lake/exports/x.csv', '{"credential": "lake", "level": 3}')$$);
SELECT error_of($$SELECT export_csv('SELECT 1', 's3://lake/exports/x.csv', '{"credential": "lake_wrong"}')$$);
SELECT error_of($$SELECT export_csv('SELECT * FROM no_such_table', 's3://lake/exports/x.csv', '{"credential": "lake"}')$$);
SET ROLE elt_bob;
SELECT error_of($$SELECT export_csv('SELECT 1', 's3://lake/exports/x.csv', '{"credential": "lake"}')$$);
RESET ROLE;

-- 12. An extract mapped over its files: an instance per object the URL
-- lists (listed once, kept in the run's params), each its own attempt and
-- transaction, so an incremental load records each object as it commits.
SET ROLE elt_alice;
INSERT INTO elt.flows (name) VALUES ('lake_files');
INSERT INTO elt.tasks (flow, name, kind, config, for_each) VALUES
  ('lake_files', 'load_month', 'extract',
   '{"url": "s3://lake/yellow/yellow_tripdata_2021-0?.csv.gz", "table": "s3_month_trips", "credential": "lake", "incremental": true}',
   'files');
SELECT task, url FROM elt.flow_plan('lake_files') ORDER BY task;
SELECT state, rows_loaded FROM flow_run('lake_files');
SELECT count(*) FROM s3_month_trips;
SELECT jsonb_array_length(params -> 'load_month.files') AS files_kept FROM elt.flow_runs WHERE flow = 'lake_files';
SELECT url, rows_loaded, run_id IS NOT NULL AS by_a_run FROM elt.loaded_files WHERE target = 'public.s3_month_trips' ORDER BY url;
-- the next run maps over the same files and loads none again
SELECT state, rows_loaded FROM flow_run('lake_files');
SELECT count(*) FROM s3_month_trips;
-- with mode replace the first instance replaces the table, the others append
INSERT INTO elt.flows (name) VALUES ('lake_files_replace');
INSERT INTO elt.tasks (flow, name, kind, config, for_each) VALUES
  ('lake_files_replace', 'load_month', 'extract',
   '{"url": "s3://lake/yellow/yellow_tripdata_2021-0?.csv.gz", "table": "s3_month_trips", "credential": "lake", "mode": "replace"}',
   'files');
SET client_min_messages = warning;
SELECT state, rows_loaded FROM flow_run('lake_files_replace');
RESET client_min_messages;
SELECT count(*) FROM s3_month_trips;
-- only an extract maps over files
SELECT error_of($$INSERT INTO elt.tasks (flow, name, kind, sql, for_each) VALUES ('lake_files', 'x', 'sql', 'SELECT 1', 'files')$$);
RESET ROLE;

-- 13. Attacks on the credential and the bucket.  An endpoint other than
-- the credential's would receive its signed (replayable) requests: refused
-- before any request; so are the caller's own headers (a Host among them
-- would point the signature elsewhere).
SET ROLE elt_alice;
SELECT error_of($$SELECT load_csv('s3://lake/attack-probe.csv', 'stolen', '{"credential": "lake", "endpoint": "http://127.0.0.1:18766"}')$$);
SELECT error_of($$SELECT load_csv('s3://lake/attack-probe.csv', 'stolen', '{"credential": "lake", "headers": {"Host": "victim.example"}}')$$);
SELECT error_of($$SELECT export_csv('SELECT 1', 's3://lake/attack-probe.csv', '{"credential": "lake", "endpoint": "http://127.0.0.1:18766"}')$$);
RESET ROLE;
SELECT fixture_count('requests', 'attack-probe') AS requests_at_the_other_host;
-- "../" in a key stays in the key (no request reaches another bucket)
SET ROLE elt_alice;
SELECT error_of($$SELECT load_csv('s3://lake/inbox/../../public-lake/trips.csv.gz', 'crossed', '{"credential": "lake"}')$$);
RESET ROLE;
