-- The parallel path: workers parse chunks of whole records, the loading
-- backend inserts.  Small chunks cut these small files into many.
\set base 'http://127.0.0.1:18766'
SET pg_elt.parallel_chunk_size = '1kB';

-- same_as(a, b): whether tables a and b hold the same rows, and in the
-- same stored order (rows wide enough for TOAST apart: the parallel path
-- inserts them after the others)
CREATE FUNCTION pg_temp.same_as(a regclass, b regclass, OUT file_order boolean, OUT same_rows boolean) AS $$
DECLARE
    sql text := 'SELECT md5(string_agg(id::text, '','' ORDER BY ctid) FILTER (WHERE length(note) < 2000)),
                        md5(string_agg(x::text, ''|'' ORDER BY id)) FROM %s x';
    a_order text; a_rows text; b_order text; b_rows text;
BEGIN
    EXECUTE format(sql, a) INTO a_order, a_rows;
    EXECUTE format(sql, b) INTO b_order, b_rows;
    file_order := a_order = b_order;
    same_rows := a_rows = b_rows;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION pg_temp.dialect(f text) RETURNS jsonb
    RETURN CASE WHEN f LIKE 'escape%' THEN jsonb '{"escape": "\\"}' ELSE jsonb '{}' END;

-- Quoted line breaks, quotes and delimiters, each kind of line end, and
-- a backslash escape: the same rows as the single stream, in file order.
SELECT f, load_csv(:'base' || '/tricky_' || f, replace(f, '.', '_') || '_single',
                   '{"parallel": 0}' || pg_temp.dialect(f)) AS single,
       load_csv(:'base' || '/tricky_' || f, replace(f, '.', '_') || '_parallel',
                '{"parallel": 3}' || pg_temp.dialect(f)) AS parallel
  FROM unnest('{nl.csv,crlf.csv,cr.csv,escape.csv.gz}'::text[]) f;
SELECT f, (pg_temp.same_as(f || '_single', f || '_parallel')).*
  FROM unnest('{nl_csv,crlf_csv,cr_csv,escape_csv_gz}'::text[]) f;
SELECT count(*), count(*) FILTER (WHERE length(note) > 5000) AS wide,
       count(*) FILTER (WHERE note LIKE '%' || E'\n' || '%') AS two_lines,
       min(note) FILTER (WHERE id = 7) AS seventh
  FROM nl_csv_parallel;
SELECT min(note) FILTER (WHERE id = 7) AS seventh FROM escape_csv_gz_parallel;
SELECT min(note) FILTER (WHERE id = 7) = E'line one\rline two, with "q", and "' AS cr_kept FROM cr_csv_parallel;

-- Which path a load takes: parallel into a plain table, appended to as
-- well; single-stream into one with an index (the leader's inserts would
-- not maintain it) or a trigger.
CREATE TABLE plain (LIKE nl_csv_single);
CREATE TABLE indexed (LIKE nl_csv_single);
CREATE INDEX ON indexed (id);
CREATE TABLE triggered (LIKE nl_csv_single);
CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER noop BEFORE INSERT ON triggered FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();
SET client_min_messages = debug1;
SELECT load_csv(:'base' || '/tricky_nl.csv', 'plain', '{"parallel": 2}');
SELECT load_csv(:'base' || '/tricky_nl.csv', 'plain', '{"parallel": 2}');
SELECT load_csv(:'base' || '/tricky_nl.csv', 'indexed', '{"parallel": 2}');
SELECT load_csv(:'base' || '/tricky_nl.csv', 'triggered', '{"parallel": 2}');
RESET client_min_messages;
SELECT count(*), count(DISTINCT id) FROM plain;
SELECT count(*) FROM indexed WHERE id = 7;
SELECT count(*) FROM triggered;

-- The leader's stream is the single stream's: a cut transfer is resumed
-- (Range) in the same load, and without ranges the load is rolled back
-- and started again; every row exactly once.  (The NOTICEs' details are
-- libcurl's words: terse hides them.)
\set VERBOSITY terse
\set taxi '/yellow_tripdata_2021-01.csv.gz'
SELECT load_csv(:'base' || :'taxi' || '?cut=100000&cut_times=1&key=pcut1', 'p_resumed', '{"parallel": 2}');
SELECT fixture_count('requests', 'pcut1') AS requests;
SELECT load_csv(:'base' || :'taxi' || '?cut=100000&cut_times=1&noranges=1&key=pcut2', 'p_restarted',
                '{"parallel": 2, "retry_delay": 0.1}');
SELECT fixture_count('requests', 'pcut2') AS requests;
SELECT count(*), count(DISTINCT (tpep_pickup_datetime, tpep_dropoff_datetime, pulocationid, total_amount))
  FROM p_resumed;
SELECT count(*) AS rows_that_differ
  FROM (SELECT * FROM p_resumed EXCEPT ALL SELECT * FROM p_restarted) d;

\set VERBOSITY default

-- A statement timeout stops a parallel load mid-download, workers and all.
CREATE TABLE p_slow (LIKE p_resumed);
SET statement_timeout = '1s';
SELECT load_csv(:'base' || :'taxi' || '?slow=300', 'p_slow', '{"parallel": 2}');
RESET statement_timeout;
SELECT count(*) AS rows, (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker') AS workers
  FROM p_slow;

-- A bad value deep in the file, after quoted line breaks: the same line
-- number, column and value as the single stream, and the table it would
-- have replaced is as it was.
CREATE TABLE deep (n int, label text);
INSERT INTO deep VALUES (1, 'kept');
SELECT load_csv(:'base' || '/deep_break.csv.gz', 'deep', '{"mode": "replace", "parallel": 0}');
SELECT load_csv(:'base' || '/deep_break.csv.gz', 'deep', '{"mode": "replace", "parallel": 2}');
SELECT load_csv(:'base' || '/deep_break.csv.gz', 'deep', '{"mode": "truncate", "parallel": 2}');
SELECT * FROM deep;

-- COPY's end-of-data marker ends the rows, on both paths.
SELECT load_csv(:'base' || '/end_marker.csv', 'marker_single', '{"parallel": 0}');
SELECT load_csv(:'base' || '/end_marker.csv', 'marker_parallel', '{"parallel": 2}');

-- A line longer than pg_elt.max_line_length is refused by the leader too.
SELECT load_csv(:'base' || '/long_line.csv.gz', 'long_line', '{"parallel": 2}');

-- The option
SELECT load_csv(:'base' || '/tricky_nl.csv', 'bad', '{"parallel": -1}');
SELECT load_csv(:'base' || '/tricky_nl.csv', 'bad', '{"parallel": 1.5}');
SELECT load_csv(:'base' || '/tricky_nl.csv', 'bad', '{"parallel": 65}');
