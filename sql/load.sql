-- load_csv: gz and plain files, type inference and overrides, modes.
\set base 'http://127.0.0.1:18766'

-- The same file, gzip and plain, loads the same rows.
SELECT load_csv(:'base' || '/yellow_tripdata_2021-01.csv.gz', 'trips_gz');
SELECT load_csv(:'base' || '/yellow_tripdata_2021-01.csv', 'trips_plain');
SELECT count(*), count(vendorid), sum(passenger_count), round(sum(total_amount)::numeric, 2) FROM trips_gz;
SELECT count(*) AS rows_that_differ
  FROM (SELECT * FROM trips_gz EXCEPT ALL SELECT * FROM trips_plain) d;
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_name = 'trips_gz' ORDER BY ordinal_position;

-- Inference: one column of each type; ids with leading zeros stay text;
-- an all-empty column is text; more than 15 digits is numeric.
SELECT load_csv(:'base' || '/types.csv.gz', 'typed');
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_name = 'typed' ORDER BY ordinal_position;
SELECT id, price, ratio, flag, day, seen_at, zip, name, empty, big FROM typed WHERE id IN (1, 7) ORDER BY id;

-- "types" overrides any column, by header name or by column name.
SELECT load_csv(:'base' || '/types.csv', 'typed2',
                '{"types": {"zip": "integer", "price": "numeric(10,2)", "seen_tz": "text"}}');
SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns
 WHERE table_name = 'typed2' AND column_name IN ('zip', 'price', 'seen_tz') ORDER BY 1;
SELECT sum(zip) FROM typed2;
-- a type override for a column the file lacks, or a type that is not one
SELECT load_csv(:'base' || '/types.csv', 'typed3', '{"types": {"nope": "text"}}');
SELECT load_csv(:'base' || '/types.csv', 'typed3', '{"types": {"zip": "int); DROP TABLE typed; --"}}');
SELECT to_regclass('typed3') IS NULL AS not_created, (SELECT count(*) FROM typed) AS typed_rows;

-- Modes.  append (the default) adds rows:
SELECT load_csv(:'base' || '/types.csv', 'typed');
SELECT count(*) FROM typed;
-- create refuses an existing table
SELECT load_csv(:'base' || '/types.csv', 'typed', '{"mode": "create"}');
-- truncate empties the table first and keeps its definition
ALTER TABLE typed ADD COLUMN note text DEFAULT 'kept';
SELECT load_csv(:'base' || '/types.csv', 'typed', '{"mode": "truncate"}');
SELECT count(*), min(note) FROM typed;
-- replace makes a new table from the file (the added column is gone)
SELECT load_csv(:'base' || '/types.csv', 'typed', '{"mode": "replace"}');
SELECT count(*) FROM typed;
SELECT count(*) AS note_columns FROM information_schema.columns WHERE table_name = 'typed' AND column_name = 'note';
-- a replace that fails leaves the old table and rows as they were
SELECT load_csv(:'base' || '/ragged.csv', 'typed', '{"mode": "replace"}');
SELECT count(*) FROM typed;
-- so does a truncate that fails
SELECT error_of(format('SELECT load_csv(%L, %L, %L)', :'base' || '/corrupt.csv.gz', 'trips_plain',
                       '{"mode": "truncate"}'),
                '%: %.  The error is after 0 bytes of inflated data.');
SELECT count(*) FROM trips_plain;

-- Appending maps header fields to columns by name, whatever their order.
CREATE TABLE reordered (label text, n text, extra text DEFAULT 'x');
SELECT load_csv(:'base' || '/late_break.csv', 'reordered');
SELECT * FROM reordered ORDER BY label DESC LIMIT 2;
-- a header field without a column
CREATE TABLE mismatch (x int);
SELECT load_csv(:'base' || '/header_only.csv', 'mismatch');
-- a value the existing column's type rejects
CREATE TABLE strict_n (n int, label text);
SELECT load_csv(:'base' || '/late_break.csv', 'strict_n');
SELECT count(*) FROM strict_n;

-- A schema-qualified name; a name that is not one.
CREATE SCHEMA staging;
SELECT load_csv(:'base' || '/types.csv', 'staging.typed');
SELECT count(*) FROM staging.typed;
SELECT load_csv(:'base' || '/types.csv', 'x"; DROP TABLE typed; --');
SELECT count(*) FROM typed;

-- Multi-member gzip, and gzip as a Content-Encoding.
SELECT load_csv(:'base' || '/multi.csv.gz', 'multi');
SELECT count(*) FROM multi;
SELECT load_csv(:'base' || '/yellow_tripdata_2021-01.csv?encode=gzip', 'encoded');
SELECT load_csv(:'base' || '/yellow_tripdata_2021-01.csv.gz?encode=gzip', 'encoded');
SELECT count(*) FROM encoded;

-- Privileges: loading needs INSERT on the table; RLS targets are refused.
CREATE TABLE guarded (a int, b int, c int);
SET ROLE elt_bob;
SELECT load_csv(:'base' || '/header_only.csv', 'guarded');
RESET ROLE;
-- Row-level security: the load goes through the executor, and the
-- table's policies hold for every row (one row they refuse fails it all).
CREATE TABLE rls_target (a int, b text);
ALTER TABLE rls_target ENABLE ROW LEVEL SECURITY;
CREATE POLICY small ON rls_target FOR INSERT WITH CHECK (a < 3);
GRANT INSERT ON rls_target TO elt_bob;
SET ROLE elt_bob;
SELECT load_csv(:'base' || '/no_header.csv', 'rls_target', '{"header": false}');
RESET ROLE;
SELECT count(*) FROM rls_target;
ALTER POLICY small ON rls_target WITH CHECK (a <= 3);
SET ROLE elt_bob;
SELECT load_csv(:'base' || '/no_header.csv', 'rls_target', '{"header": false}');
-- "path": "copy" would bypass the policies: refused
SELECT load_csv(:'base' || '/no_header.csv', 'rls_target', '{"header": false, "path": "copy"}');
RESET ROLE;
SELECT a, b FROM rls_target ORDER BY a;

-- A load nested in another (a trigger on the target loads a file too):
-- each has memory of its own; a nested load that fails fails the outer
-- one, and the next load works.
CREATE TABLE nest_outer (a int, b text);
CREATE TABLE nest_inner (a int, b text);
CREATE FUNCTION nest_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.a = 2 THEN
        PERFORM load_csv(current_setting('nest.url'), 'nest_inner', '{"header": false}');
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER nest_load BEFORE INSERT ON nest_outer FOR EACH ROW EXECUTE FUNCTION nest_load();
SELECT set_config('nest.url', :'base' || '/no_header.csv', false) IS NOT NULL AS set;
SELECT load_csv(:'base' || '/no_header.csv', 'nest_outer', '{"header": false}');
SELECT (SELECT count(*) FROM nest_outer) AS outer_rows, (SELECT count(*) FROM nest_inner) AS inner_rows;
SELECT set_config('nest.url', :'base' || '/ragged.csv', false) IS NOT NULL AS set;
SELECT load_csv(:'base' || '/no_header.csv', 'nest_outer', '{"header": false}');
SELECT (SELECT count(*) FROM nest_outer) AS outer_rows, (SELECT count(*) FROM nest_inner) AS inner_rows;
RESET nest.url;
SELECT load_csv(:'base' || '/no_header.csv', 'nest_inner', '{"header": false}');
DROP TABLE nest_outer, nest_inner;
DROP FUNCTION nest_load();

-- Bad arguments.
SELECT load_csv(NULL, 't');
SELECT load_csv(:'base' || '/types.csv', 't', '{"mode": "upsert"}');
SELECT load_csv(:'base' || '/types.csv', 't', '{"delimiter": ";;"}');
SELECT load_csv(:'base' || '/types.csv', 't', '{"header": "yes"}');
SELECT load_csv(:'base' || '/types.csv', 't', '{"retries": -1}');
SELECT load_csv(:'base' || '/types.csv', 't', '{"colums": ["a"]}');
SELECT load_csv(:'base' || '/types.csv', 't', '[1, 2]');
