-- Attacks on a shared server, each asserting that it fails (0.3).
\set SHOW_CONTEXT never
\set base 'http://127.0.0.1:18766'
\set other 'http://127.0.0.1:18767'
\getenv data PG_ELT_TEST_DATA
CREATE FUNCTION fixture_headers(k text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS fixture_seen;
    PERFORM load_csv('http://127.0.0.1:18766/_headers?key=' || k, 'fixture_seen',
                     '{"header": false, "columns": ["name"], "mode": "create"}');
    RETURN (SELECT string_agg(name, ',' ORDER BY name) FROM fixture_seen);
END $$;

-- 1. A load_csv nested in another (a trigger on the table being filled;
-- a temp table and a pg_temp function suffice) used to reset the outer
-- load's state: the server crashed.  Both loads now complete.
SET ROLE elt_bob;
CREATE TEMP TABLE outer_t (id int, price text, ratio text, flag text, day text, seen_at text,
                           seen_tz text, zip text, name text, empty text, big text);
CREATE FUNCTION pg_temp.nest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id % 10 = 0 THEN
        PERFORM load_csv('http://127.0.0.1:18766/types.csv', 'inner_t');
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER nest BEFORE INSERT ON outer_t FOR EACH ROW EXECUTE FUNCTION pg_temp.nest();
SELECT load_csv(:'base' || '/types.csv', 'outer_t');
SELECT (SELECT count(*) FROM outer_t) AS outer_rows, (SELECT count(*) FROM inner_t) AS inner_rows;
-- a nested load that fails leaves the outer one failed, and the server up
CREATE OR REPLACE FUNCTION pg_temp.nest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM load_csv('http://127.0.0.1:18766/ragged.csv', 'inner_t');
    RETURN NEW;
END $$;
SELECT load_csv(:'base' || '/types.csv', 'outer_t');
SELECT count(*) AS outer_rows_unchanged FROM outer_t;
DROP TABLE outer_t, inner_t;
RESET ROLE;

-- 2. Capturing a superuser: a role plants functions that match the
-- validation triggers' calls better than pg_catalog's, in a schema on the
-- superuser's search_path; the superuser then writes a flow and a task.
CREATE TABLE public.captured (who text);
GRANT INSERT ON public.captured TO PUBLIC;
SET ROLE elt_bob;
CREATE FUNCTION public.array_position(text[], text) RETURNS integer LANGUAGE sql
    AS $$ INSERT INTO public.captured VALUES (current_user) RETURNING NULL::integer $$;
CREATE FUNCTION public.pg_has_role(regrole, text) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO public.captured VALUES (current_user) RETURNING true $$;
CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE sql
    AS $$ INSERT INTO public.captured VALUES (current_user) RETURNING 'x' $$;
RESET ROLE;
SHOW search_path;
INSERT INTO elt.flows (name, params) VALUES ('victim', '{"t": "x"}');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('victim', 'v', 'sql', 'SELECT :''t''');
UPDATE elt.tasks SET retries = 1 WHERE flow = 'victim';
SELECT count(*) AS captured_calls FROM public.captured;
DELETE FROM elt.flows WHERE name = 'victim';
DROP FUNCTION public.array_position(text[], text), public.pg_has_role(regrole, text), public.btrim(text);
DROP TABLE public.captured;
-- every function of the extension has a fixed search_path, except
-- load_csv and export_csv, which resolve the caller's names (a table, a
-- query) as COPY does, in the caller's
SELECT p.oid::regprocedure AS without_search_path
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_elt'
 WHERE NOT coalesce(p.proconfig::text[] @> '{"search_path=pg_catalog, pg_temp"}', false)
 ORDER BY 1;

-- 3. Access is opt-in: a role without USAGE on schema elt can neither
-- read the catalog nor use the functions.
CREATE ROLE elt_dave LOGIN;
SET ROLE elt_dave;
SELECT count(*) FROM elt.flows;
SELECT load_csv(:'base' || '/types.csv', 'dave_t');
SELECT * FROM flow_run('ingest');
RESET ROLE;
SELECT has_schema_privilege('public', 'elt', 'USAGE') AS public_has_usage;

-- 4. Non-superusers' flows cannot jump the queue or fire every second.
SET ROLE elt_alice;
INSERT INTO elt.flows (name, priority) VALUES ('jumper', 1000000);
INSERT INTO elt.flows (name, schedule) VALUES ('hammer', 'every 1 seconds');
INSERT INTO elt.flows (name, schedule) VALUES ('hammer', '* * * * *');
SET pg_elt.min_schedule_interval = '5min';
RESET ROLE;
SET pg_elt.min_schedule_interval = '5min';
SET ROLE elt_alice;
INSERT INTO elt.flows (name, schedule) VALUES ('hammer2', '*/2 * * * *');
UPDATE elt.flows SET description = 'edits of other columns are not refused' WHERE name = 'hammer';
RESET ROLE;
RESET pg_elt.min_schedule_interval;
INSERT INTO elt.flows (name, priority, schedule) VALUES ('admin_flow', 1000000, 'every 1 seconds');
DELETE FROM elt.flows WHERE name IN ('hammer', 'admin_flow');

-- 5. Outbound requests: for roles that are not superusers, internal
-- addresses are refused unless a superuser allows them, at every hop and
-- for every address a name resolves to.
SET pg_elt.allowed_networks = '';
SET ROLE elt_bob;
SELECT load_csv(:'base' || '/types.csv', 'ssrf');
-- (which of 127.0.0.1 and ::1 is named depends on the resolver)
\set VERBOSITY sqlstate
SELECT load_csv('http://localhost:18766/types.csv', 'ssrf');
\set VERBOSITY default
SELECT load_csv('http://169.254.169.254/latest/meta-data/', 'ssrf', '{"retries": 0}');
SELECT load_csv('http://[::ffff:127.0.0.1]:18766/types.csv', 'ssrf');
RESET ROLE;
RESET pg_elt.allowed_networks;
-- allowed networks, but a port outside pg_elt.allowed_ports
SET pg_elt.allowed_ports = '443';
SET ROLE elt_bob;
SELECT load_csv(:'base' || '/types.csv', 'ssrf');
RESET ROLE;
RESET pg_elt.allowed_ports;
-- a redirect to an internal address is refused like the first hop
SET pg_elt.allowed_networks = '127.0.0.1';
SET pg_elt.allowed_ports = '18766';
SET ROLE elt_bob;
SELECT load_csv(:'base' || '/r?redirect=' || :'other' || '/types.csv', 'ssrf');
SELECT to_regclass('ssrf') IS NULL AS nothing_loaded;
RESET ROLE;
RESET pg_elt.allowed_ports;
RESET pg_elt.allowed_networks;
-- superusers are not bound by the policy
SET pg_elt.allowed_networks = '';
SELECT load_csv(:'base' || '/types.csv', 'ssrf');
DROP TABLE ssrf;
RESET pg_elt.allowed_networks;
-- settings that are not lists of addresses and ports
SET pg_elt.allowed_networks = '10.0.0.0/33';
SET pg_elt.allowed_ports = '80, http';
SET ROLE elt_bob;
SET pg_elt.allowed_networks = '0.0.0.0/0';
RESET ROLE;

-- 6. Headers (an API key) follow a redirect only within the origin.
SELECT load_csv(:'base' || '/r?redirect=/types.csv%3Fkey%3Dsame_origin', 'hdr',
                '{"headers": {"X-Api-Key": "s3cret"}}');
SELECT fixture_headers('same_origin') LIKE '%x-api-key%' AS same_origin_got_key;
SELECT load_csv(:'base' || '/r?redirect=' || :'other' || '/types.csv%3Fkey%3Dother_port', 'hdr',
                '{"headers": {"X-Api-Key": "s3cret"}, "mode": "truncate"}');
SELECT fixture_headers('other_port') LIKE '%x-api-key%' AS other_port_got_key;
SELECT count(*) FROM hdr;
DROP TABLE hdr;

-- 7. Bounded resources: one line of 1 GB in 1 MB of gzip fails at
-- pg_elt.max_line_length, naming the line, and loads nothing.
SELECT load_csv(:'base' || '/long_line.csv.gz', 'long_line');
CREATE TABLE long_line (a text, b text);
SELECT load_csv(:'base' || '/long_line.csv.gz', 'long_line');
SELECT count(*) FROM long_line;
DROP TABLE long_line;

-- 8. file:// beyond 1 MiB (libcurl's file protocol could not pause).
SELECT load_csv('file://' || :'data' || '/taxi_x3.csv', 'big_from_file');
SELECT count(*) FROM big_from_file;
DROP TABLE big_from_file;
\set VERBOSITY sqlstate
SELECT load_csv('file://' || :'data' || '/no_such_file.csv', 'big_from_file');
\set VERBOSITY default
SELECT load_csv('file://otherhost/etc/passwd', 'big_from_file');

-- 9. Header names stay distinct after truncation to 63 bytes.
SELECT load_csv(:'base' || '/long_headers.csv', 'long_headers');
SELECT attname, length(attname) FROM pg_attribute
 WHERE attrelid = 'long_headers'::regclass AND attnum > 0 ORDER BY attnum;
DROP TABLE long_headers;
DROP FUNCTION fixture_headers(text);
DROP TABLE fixture_seen;
DROP ROLE elt_dave;
