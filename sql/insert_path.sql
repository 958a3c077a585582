-- load_csv's executor path (INSERT ... SELECT from the load's stream), the
-- choice of path, and remote CSV files as pg_elt foreign tables.
\set base 'http://127.0.0.1:18766'
\set taxi '/yellow_tripdata_2021-01.csv.gz'
\set SHOW_CONTEXT never

-- "path": "insert" on a plain table gives exactly the rows of the direct path.
SELECT load_csv(:'base' || :'taxi', 'by_copy');
CREATE TABLE by_insert (LIKE by_copy);
SELECT load_csv(:'base' || :'taxi', 'by_insert', '{"path": "insert"}');
SELECT (SELECT count(*) FROM (SELECT * FROM by_copy EXCEPT ALL SELECT * FROM by_insert) a) AS only_copy,
       (SELECT count(*) FROM (SELECT * FROM by_insert EXCEPT ALL SELECT * FROM by_copy) b) AS only_insert;
-- the load's temporary source table is gone with the statement
SELECT count(*) FROM pg_class WHERE relname LIKE 'pg_elt_load_%';

-- A view with an INSTEAD OF INSERT trigger: the trigger sees every row.
CREATE TABLE fares (vendor int, fare numeric, doubled numeric);
CREATE VIEW fares_in AS SELECT * FROM by_copy WHERE false;
CREATE FUNCTION fares_in_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fares VALUES (NEW.vendorid, NEW.fare_amount, NEW.fare_amount * 2);
    RETURN NEW;
END $$;
CREATE TRIGGER fares_in_insert INSTEAD OF INSERT ON fares_in
    FOR EACH ROW EXECUTE FUNCTION fares_in_insert();
SELECT load_csv(:'base' || :'taxi', 'fares_in');
SELECT count(*), sum(fare) = (SELECT sum(fare_amount) FROM by_copy) AS same_fares,
       bool_and(doubled = fare * 2) AS trigger_ran
  FROM fares;

-- An automatically updatable view needs no trigger.
CREATE TABLE plain_base (LIKE by_copy);
ALTER TABLE plain_base ADD COLUMN note text DEFAULT 'from view';
CREATE VIEW plain_view AS SELECT vendorid, tpep_pickup_datetime, tpep_dropoff_datetime, passenger_count,
    trip_distance, ratecodeid, store_and_fwd_flag, pulocationid, dolocationid, payment_type,
    fare_amount, extra, mta_tax, tip_amount, tolls_amount, improvement_surcharge, total_amount,
    congestion_surcharge FROM plain_base;
SELECT load_csv(:'base' || :'taxi', 'plain_view');
SELECT count(*), min(note) FROM plain_base;
-- a view nothing can insert into is refused before a byte is read
CREATE VIEW grouped AS SELECT vendorid, count(*) AS n FROM by_copy GROUP BY vendorid;
SELECT load_csv(:'base' || :'taxi', 'grouped');
-- and so is what no path loads
CREATE MATERIALIZED VIEW frozen AS SELECT 1 AS vendorid;
SELECT load_csv(:'base' || :'taxi', 'frozen');
SELECT load_csv(:'base' || :'taxi', 'plain_view', '{"mode": "truncate"}');

-- A rule: COPY would ignore it, so the load takes the executor path and
-- the rule sends the rows where it says.
CREATE TABLE ruled (LIKE by_copy);
CREATE TABLE ruled_elsewhere (vendorid int, fare_amount numeric);
CREATE RULE redirect AS ON INSERT TO ruled DO INSTEAD
    INSERT INTO ruled_elsewhere VALUES (NEW.vendorid, NEW.fare_amount);
SELECT load_csv(:'base' || :'taxi', 'ruled');
SELECT (SELECT count(*) FROM ruled) AS in_ruled, (SELECT count(*) FROM ruled_elsewhere) AS redirected;

-- Rules a load cannot honour (each further action would read the file
-- again, and COPY would ignore them) are refused before a byte is read.
CREATE TABLE audited (LIKE by_copy);
CREATE TABLE audit (at timestamptz);
CREATE RULE also_audit AS ON INSERT TO audited DO ALSO INSERT INTO audit VALUES (now());
SELECT load_csv(:'base' || :'taxi', 'audited');
CREATE TABLE gated (LIKE by_copy);
CREATE RULE some_only AS ON INSERT TO gated WHERE NEW.vendorid = 1 DO INSTEAD NOTHING;
SELECT load_csv(:'base' || :'taxi', 'gated', '{"path": "insert"}');
SELECT (SELECT count(*) FROM audited) + (SELECT count(*) FROM audit) + (SELECT count(*) FROM gated) AS rows_anywhere;

-- Into a heap table the INSERT writes with COPY's bulk-insert state; a
-- trigger inserting into the same table meanwhile shares it, and the
-- table is an ordinary heap table afterwards.
CREATE TABLE echoed (n int, label text);
CREATE FUNCTION echo_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO echoed VALUES (NEW.n + 10, NEW.label || ' again');
    RETURN NULL;
END $$;
CREATE TRIGGER echo_row AFTER INSERT ON echoed FOR EACH ROW WHEN (NEW.n < 10) EXECUTE FUNCTION echo_row();
SELECT load_csv(:'base' || '/no_header.csv', 'echoed', '{"header": false, "path": "insert"}');
INSERT INTO echoed VALUES (100, 'by hand');
SELECT n, label FROM echoed ORDER BY n;
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 'echoed'::regclass;

-- GENERATED ALWAYS identity columns keep the file's values, as COPY keeps them.
CREATE TABLE numbered (n int GENERATED ALWAYS AS IDENTITY, label text);
SELECT load_csv(:'base' || '/no_header.csv', 'numbered', '{"header": false, "path": "insert"}');
SELECT n, label FROM numbered ORDER BY n;

-- An attack on the load's source: a column default that the planner folds
-- scans the temporary source, swallows the scan's error and raises.  The
-- load fails with that error and nothing loaded (the error report no
-- longer reads the freed scan's state).
CREATE FUNCTION steal_source() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    -- the source's name is predictable, and the parser finds it
    FOR i IN 1..1000 LOOP
        t := format('pg_temp.pg_elt_load_%s_%s', pg_backend_pid(), i);
        IF to_regclass(t) IS NOT NULL THEN
            BEGIN
                EXECUTE format('SELECT 1 FROM %s WHERE label::int > 0', t);
            EXCEPTION WHEN others THEN
                NULL;
            END;
            RAISE EXCEPTION 'stolen';
        END IF;
    END LOOP;
    RETURN 0;
END $$;
CREATE TABLE robbed (n int, label text, extra int DEFAULT steal_source());
SELECT load_csv(:'base' || '/no_header.csv', 'robbed', '{"header": false, "columns": ["n", "label"], "path": "insert"}');
SELECT count(*) FROM robbed;

-- The executor path reads through a temporary table: without TEMP on the
-- database it is refused, before a byte is read, and says why.
CREATE TABLE bobs_view_base (n int, label text);
CREATE VIEW bobs_view AS SELECT * FROM bobs_view_base;
GRANT INSERT ON bobs_view TO elt_bob;
GRANT INSERT ON bobs_view_base TO elt_bob;
REVOKE TEMPORARY ON DATABASE contrib_regression FROM PUBLIC;
SET ROLE elt_bob;
SELECT load_csv(:'base' || '/no_header.csv', 'bobs_view', '{"header": false}');
RESET ROLE;
GRANT TEMPORARY ON DATABASE contrib_regression TO PUBLIC;
SET ROLE elt_bob;
SELECT load_csv(:'base' || '/no_header.csv', 'bobs_view', '{"header": false}');
RESET ROLE;

-- A BEFORE INSERT trigger that rewrites rows sees the same rows on both paths.
CREATE TABLE rewritten (LIKE by_copy);
ALTER TABLE rewritten ADD COLUMN path text;
CREATE FUNCTION rewrite_fare() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.fare_amount := round(NEW.fare_amount);
    RETURN CASE WHEN NEW.vendorid = 2 THEN NULL ELSE NEW END;
END $$;
CREATE TRIGGER rewrite_fare BEFORE INSERT ON rewritten FOR EACH ROW EXECUTE FUNCTION rewrite_fare();
SELECT load_csv(:'base' || :'taxi', 'rewritten', '{"path": "copy"}');
UPDATE rewritten SET path = 'copy';
SELECT load_csv(:'base' || :'taxi', 'rewritten', '{"path": "insert"}');
SELECT path IS NULL AS by_insert, count(*), sum(fare_amount), count(*) FILTER (WHERE vendorid = 2) AS vendor_2
  FROM rewritten GROUP BY 1 ORDER BY 1;

-- A partitioned table: rows reach their partitions on either path.
CREATE TABLE by_vendor (LIKE by_copy) PARTITION BY LIST (vendorid);
CREATE TABLE by_vendor_1 PARTITION OF by_vendor FOR VALUES IN (1);
CREATE TABLE by_vendor_other PARTITION OF by_vendor DEFAULT;
SELECT load_csv(:'base' || :'taxi', 'by_vendor', '{"path": "insert"}');
SELECT tableoid::regclass, count(*) FROM by_vendor GROUP BY 1 ORDER BY 1;

-- A foreign table (postgres_fdw, back into this database) takes the rows.
CREATE EXTENSION postgres_fdw;
SELECT setting AS port FROM pg_settings WHERE name = 'port' \gset
SELECT split_part(setting, ',', 1) AS sockets FROM pg_settings WHERE name = 'unix_socket_directories' \gset
CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (dbname 'contrib_regression', port :'port', host :'sockets');
CREATE USER MAPPING FOR CURRENT_USER SERVER loopback;
CREATE TABLE remote_fares (LIKE by_copy);
-- (foreign tables cannot be made with LIKE: the columns of by_copy, spelt out)
SELECT format('CREATE FOREIGN TABLE %I (%s) SERVER %I OPTIONS (%s %L)', name,
              string_agg(quote_ident(attname) || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum),
              server, option, value)
  FROM pg_attribute, (VALUES ('fares_there', 'by_copy', 'loopback', 'table_name', 'remote_fares')) v(name, src, server, option, value)
 WHERE attrelid = src::regclass AND attnum > 0 GROUP BY name, server, option, value \gexec
SELECT load_csv(:'base' || :'taxi', 'fares_there');
SELECT count(*), sum(fare_amount) = (SELECT sum(fare_amount) FROM by_copy) AS same_fares FROM remote_fares;

-- Retries and resuming work as on the direct path: a 503 is retried, a
-- transfer cut short is resumed in the same statement; every row once.
-- (their NOTICEs hold libcurl's own words: not part of what is compared)
SET client_min_messages = warning;
SELECT load_csv(:'base' || :'taxi' || '?status=503&fail=1&key=i503', 'by_insert',
                '{"mode": "truncate", "path": "insert", "retry_delay": 0.1}');
SELECT requests('i503');
SELECT load_csv(:'base' || :'taxi' || '?cut=100000&cut_times=1&key=icut', 'by_insert',
                '{"mode": "truncate", "path": "insert"}');
SELECT requests('icut'), (SELECT count(*) FROM (SELECT * FROM by_copy EXCEPT ALL SELECT * FROM by_insert) d) AS rows_that_differ;
RESET client_min_messages;

-- Errors on the executor path name the line, as on the direct path.
CREATE TABLE late (n bigint, label text);
SELECT load_csv(:'base' || '/late_break.csv', 'late', '{"path": "insert"}');
CREATE TABLE checked (LIKE by_copy);
ALTER TABLE checked ADD CHECK (vendorid < 2);
SELECT load_csv(:'base' || :'taxi', 'checked', '{"path": "insert"}');
SELECT count(*) FROM checked;
-- a RAISE in a view's trigger, at line 2
CREATE TABLE labels (n int, label text);
CREATE VIEW picky AS SELECT * FROM labels;
CREATE FUNCTION picky_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.n = 2 THEN
        RAISE EXCEPTION 'no vendor' USING HINT = 'Every row needs a vendor.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER picky_insert INSTEAD OF INSERT ON picky FOR EACH ROW EXECUTE FUNCTION picky_insert();
SELECT load_csv(:'base' || '/no_header.csv', 'picky', '{"header": false}');
SELECT count(*) FROM labels;
-- bad option values
SELECT load_csv(:'base' || :'taxi', 'late', '{"path": "fast"}');
SELECT load_csv(:'base' || :'taxi', 'new_dist', '{"shard_count": 4}');
SELECT load_csv(:'base' || :'taxi', 'new_dist', '{"distribute_by": "vendorid"}');

-- Remote CSV files as foreign tables.
CREATE FOREIGN TABLE remote_types (id int, price numeric, ratio float8, flag boolean, day date,
    seen_at timestamp, seen_tz timestamptz, zip text, name text, empty text, big numeric)
    SERVER pg_elt OPTIONS (url 'http://127.0.0.1:18766/types.csv.gz');
SELECT count(*), sum(price), count(*) FILTER (WHERE flag) AS flagged FROM remote_types;
SELECT id, price, day FROM remote_types WHERE id BETWEEN 3 AND 5 ORDER BY id;
-- a join reads both files at once
SELECT count(*) FROM remote_types a JOIN remote_types b ON a.id = b.id + 1;
EXPLAIN (COSTS OFF) SELECT * FROM remote_types;
-- credentials never show
CREATE FOREIGN TABLE secret_types (id int) SERVER pg_elt
    OPTIONS (url 'http://user:hunter2@127.0.0.1:18766/types.csv');
EXPLAIN (COSTS OFF) SELECT * FROM secret_types;
-- a value that is not of the declared type: the line and the column
CREATE FOREIGN TABLE remote_late (n int, label text)
    SERVER pg_elt OPTIONS (url 'http://127.0.0.1:18766/late_break.csv');
\set SHOW_CONTEXT errors
SELECT count(*) FROM remote_late;
\set SHOW_CONTEXT never
-- options are load_csv's
CREATE FOREIGN TABLE remote_semi (a int, b text, c text)
    SERVER pg_elt OPTIONS (url 'http://127.0.0.1:18766/semicolon.csv', delimiter ';', null 'NA');
SELECT a, b, c FROM remote_semi ORDER BY a;
CREATE FOREIGN TABLE bad_opt (a int) SERVER pg_elt OPTIONS (url 'http://x/', mode 'replace');
CREATE FOREIGN TABLE bad_opt (a int) SERVER pg_elt OPTIONS (delimiter ';');
CREATE FOREIGN TABLE bad_opt (a int) SERVER pg_elt OPTIONS (url 'http://x/', header 'maybe');
-- a value cannot add options of its own
CREATE FOREIGN TABLE bad_opt (a int) SERVER pg_elt OPTIONS (url 'http://x/', headers '{}, "mode": "replace"');
CREATE FOREIGN TABLE bad_opt (a int) SERVER pg_elt OPTIONS (url 'http://x/', timeout '5, "retries": 9');
CREATE FOREIGN TABLE bad_opt (a int) SERVER pg_elt OPTIONS (url 'http://x/', headers '[1]');
-- with load_csv's permissions: file:// only for roles that may read server
-- files, the outbound policy, USAGE on schema elt
\getenv datadir PG_ELT_TEST_DATA
SELECT 'file://' || :'datadir' || '/types.csv' AS file_url \gset
\set ECHO none
SELECT format('CREATE FOREIGN TABLE local_file (%s) SERVER pg_elt OPTIONS (url %L)',
              string_agg(quote_ident(attname) || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum),
              :'file_url')
  FROM pg_attribute WHERE attrelid = 'remote_types'::regclass AND attnum > 0 \gexec
\set ECHO all
SELECT count(*) FROM local_file;
CREATE ROLE elt_outsider LOGIN;
GRANT SELECT ON local_file, remote_types TO elt_bob, elt_outsider;
SET ROLE elt_bob;
\set VERBOSITY sqlstate
SELECT count(*) FROM local_file;
\set VERBOSITY default
RESET ROLE;
SET pg_elt.allowed_networks = '';
SET ROLE elt_bob;
SELECT count(*) FROM remote_types;
RESET ROLE;
RESET pg_elt.allowed_networks;
SET ROLE elt_outsider;
SELECT count(*) FROM remote_types;
RESET ROLE;
-- A trojan table: a role declares a table it may not read itself (a
-- server file, an internal address) and waits for a superuser to read it.
-- The owner's rights bound the scan too.
SET ROLE elt_bob;
\set ECHO none
SELECT format('CREATE FOREIGN TABLE trojan_file (id int) SERVER pg_elt OPTIONS (url %L)', :'file_url') \gexec
\set ECHO all
CREATE FOREIGN TABLE trojan_net (id int) SERVER pg_elt OPTIONS (url 'http://127.0.0.1:18766/types.csv');
RESET ROLE;
\set VERBOSITY sqlstate
SELECT count(*) FROM trojan_file;
\set VERBOSITY default
SET pg_elt.allowed_networks = '';
SELECT count(*) FROM trojan_net;
RESET pg_elt.allowed_networks;
DROP FOREIGN TABLE trojan_file, trojan_net;
DROP OWNED BY elt_outsider;
DROP ROLE elt_outsider;
