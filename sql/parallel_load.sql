-- The parallel path: workers parse chunks of whole records, the loading
-- backend inserts.  Small chunks cut these small files into many.
\set base 'http://127.0.0.1:18766'
SET pg_elt.parallel_chunk_size = '1kB';

-- same_as(a, b): whether tables a and b hold the same rows, and in the
-- same stored order
CREATE FUNCTION pg_temp.same_as(a regclass, b regclass, OUT file_order boolean, OUT same_rows boolean) AS $$
DECLARE
    sql text := 'SELECT md5(string_agg(id::text, '','' ORDER BY ctid)),
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

-- The marker and line ends as COPY reads them, on both paths: the same
-- rows, or the same error.
CREATE TABLE one_col (label text);
CREATE TABLE two_col (a text, b text);
CREATE FUNCTION pg_temp.both_paths(url text, t regclass, options jsonb,
                                   OUT single text, OUT parallel text) AS $$
DECLARE
    outcome text;
BEGIN
    FOR p IN 0..1 LOOP
        EXECUTE format('TRUNCATE %s', t);
        BEGIN
            PERFORM load_csv(url, t::text, options || jsonb_build_object('parallel', p * 3));
            EXECUTE format('SELECT count(*) || '' rows'' FROM %s', t) INTO STRICT outcome;
        EXCEPTION WHEN OTHERS THEN
            outcome := SQLSTATE || ': ' || SQLERRM;
        END;
        IF p = 0 THEN single := outcome; ELSE parallel := outcome; END IF;
    END LOOP;
END
$$ LANGUAGE plpgsql;
SELECT f, single = parallel AS same, single AS outcome
  FROM (VALUES ('marker_at_eof.csv', 'one_col'::regclass, '{}'::jsonb),
               ('marker_style.csv', 'one_col', '{}'),
               ('marker_header.csv', 'one_col', '{"header": false}'),
               ('nl_then_crlf.csv', 'two_col', '{}'),
               ('cr_then_crlf.csv', 'two_col', '{}')) v(f, t, o),
       pg_temp.both_paths(:'base' || '/' || f, t, o);

-- A partition's bound is checked, as COPY checks it: rows outside it are
-- refused (the parallel path does not take a partition).
CREATE TABLE parted (id int, note text, amount numeric) PARTITION BY RANGE (id);
CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (10);
SELECT load_csv(:'base' || '/tricky_nl.csv', 'parted_low', '{"parallel": 2}');
SELECT count(*) FROM parted;

-- The file is read in the client's encoding, as the single stream reads
-- it (a parallel worker's own client_encoding is the database's).
CREATE DATABASE pg_elt_latin1 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c pg_elt_latin1
SET client_min_messages = warning;
CREATE EXTENSION pg_elt;
RESET client_min_messages;
SET pg_elt.parallel_chunk_size = '1kB';
SET client_encoding = 'LATIN1';
SELECT load_csv(:'base' || '/latin1.csv', 'latin1_single', '{"parallel": 0}');
SELECT load_csv(:'base' || '/latin1.csv', 'latin1_parallel', '{"parallel": 2}');
RESET client_encoding;
SELECT count(*), count(*) FILTER (WHERE s.name = 'café ' || s.id) AS as_written,
       count(*) FILTER (WHERE s.name = p.name) AS same
  FROM latin1_single s JOIN latin1_parallel p USING (id);
\c contrib_regression
DROP DATABASE pg_elt_latin1;
LOAD 'pg_elt';
SET pg_elt.parallel_chunk_size = '1kB';

-- A user cannot make chunks (memory) larger: the setting is a superuser's.
SET ROLE elt_bob;
SET pg_elt.parallel_chunk_size = '1GB';
RESET ROLE;

-- A line longer than pg_elt.max_line_length is refused by the leader too.
SELECT load_csv(:'base' || '/long_line.csv.gz', 'long_line', '{"parallel": 2}');

-- The option
SELECT load_csv(:'base' || '/tricky_nl.csv', 'bad', '{"parallel": -1}');
SELECT load_csv(:'base' || '/tricky_nl.csv', 'bad', '{"parallel": 1.5}');
SELECT load_csv(:'base' || '/tricky_nl.csv', 'bad', '{"parallel": 65}');
