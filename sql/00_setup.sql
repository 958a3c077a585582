-- pg_elt's regression suite: the extension and the roles the tests use.
CREATE EXTENSION pg_elt;
SELECT extversion FROM pg_extension WHERE extname = 'pg_elt';
-- The settings the suite runs under, on its own database (pg_regress makes
-- it afresh), so that they hold on any server it runs against; the files
-- after this one start new sessions, and the run workers pick them up.
SELECT current_database() AS regress_db \gset
-- messages without progress lines, which come at the pace of the machine
ALTER DATABASE :"regress_db" SET pg_elt.progress_interval = 0;
-- tasks one after another, so that the order of relayed messages is fixed;
-- the TAP tests cover parallel tasks
ALTER DATABASE :"regress_db" SET pg_elt.max_parallel_tasks = 1;
-- the fixture servers are on loopback; roles other than superusers may load
-- from them (tests of the outbound policy set this back to '' first)
ALTER DATABASE :"regress_db" SET pg_elt.allowed_networks = '127.0.0.1';
-- API functions are callable unqualified with the default search_path
SELECT p.proname, n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proname IN ('flow_run', 'load_csv') ORDER BY 1;

-- error_of(statement, detail_like): the error a statement raises, as
-- "SQLSTATE: message", and whether its detail is LIKE detail_like; for
-- errors whose detail quotes a library (libcurl, zlib) or counts bytes of
-- a gzip file, which other versions of those libraries word or size
-- differently.
CREATE FUNCTION public.error_of(statement text, detail_like text DEFAULT '%') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN format('%s: %s (detail as expected: %s)', SQLSTATE, SQLERRM, detail LIKE detail_like);
END
$$;

-- fixture_count(what, key, server): what a fixture server counted for a
-- key: the HTTP one's 'requests', body 'bytes' sent, or (as it answers) a
-- 'bump' of the file's version; the S3 one's (18768) 'requests' and open
-- 'uploads'.  Loaded with load_csv, as postgres.
CREATE FUNCTION public.fixture_count(what text, k text, server text DEFAULT 'http://127.0.0.1:18766')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE seen bigint;
BEGIN
    PERFORM load_csv(server || '/_' || what || '?key=' || k, 'fixture_counts',
                     '{"header": false, "mode": "replace", "columns": ["n"]}');
    SELECT min(n::bigint) INTO seen FROM fixture_counts;
    RETURN seen;
END $$;

CREATE ROLE elt_alice LOGIN;
CREATE ROLE elt_bob LOGIN;
CREATE ROLE elt_team NOLOGIN;
CREATE ROLE elt_carol LOGIN IN ROLE elt_alice;
GRANT CREATE ON SCHEMA public TO elt_alice, elt_bob, elt_carol;
-- access to pg_elt is opt-in: the one step an administrator takes
GRANT USAGE ON SCHEMA elt TO elt_alice, elt_bob, elt_carol;
