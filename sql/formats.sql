-- load_csv: CSV dialects and awkward files.
\set base 'http://127.0.0.1:18766'

-- A UTF-8 byte order mark is skipped; CRLF line ends; quoted delimiters,
-- doubled quotes and newlines inside quotes; names are normalised.
SELECT load_csv(:'base' || '/bom_crlf.csv', 'cities');
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_name = 'cities' ORDER BY ordinal_position;
SELECT city_name, note, count, length(city_name) FROM cities ORDER BY count;

-- An empty file cannot make a table, but loads nothing into one.
SELECT load_csv(:'base' || '/empty.csv', 'from_empty');
CREATE TABLE empty_target (a int);
SELECT load_csv(:'base' || '/empty.csv', 'empty_target');
SELECT load_csv(:'base' || '/empty.csv', 'from_empty', '{"columns": ["a", "b"]}');
SELECT count(*) FROM from_empty;

-- A header-only file makes a table of text columns and loads no rows.
SELECT load_csv(:'base' || '/header_only.csv', 'from_header');
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_name = 'from_header' ORDER BY ordinal_position;

-- A ragged row fails with its line number; nothing is loaded.
SELECT load_csv(:'base' || '/ragged.csv', 'ragged');
SELECT to_regclass('ragged') IS NULL AS not_created;
SELECT load_csv(:'base' || '/short_row.csv', 'short_row');

-- A value that breaks the type inferred from the sample names the line,
-- the column and the value, and says how to fix it.
SELECT load_csv(:'base' || '/late_break.csv', 'late_break');
SELECT load_csv(:'base' || '/late_break.csv', 'late_break', '{"types": {"n": "text"}}');
SELECT count(*), max(n) FROM late_break;
-- or sample the whole file
SELECT load_csv(:'base' || '/late_break.csv', 'late_break2', '{"sample_rows": 100000}');
SELECT data_type FROM information_schema.columns WHERE table_name = 'late_break2' AND column_name = 'n';

-- Delimiter and NULL string; no header with explicit columns.
SELECT load_csv(:'base' || '/semicolon.csv', 'semi', '{"delimiter": ";", "null": "NA"}');
SELECT a, b, c, b IS NULL AS b_null FROM semi ORDER BY a;
SELECT load_csv(:'base' || '/no_header.csv', 'numbers', '{"header": false, "columns": ["n", "word"]}');
SELECT * FROM numbers ORDER BY n;
SELECT load_csv(:'base' || '/no_header.csv', 'numbers2', '{"header": false}');
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_name = 'numbers2' ORDER BY ordinal_position;
-- header and explicit columns: the header line is skipped, columns name the fields
SELECT load_csv(:'base' || '/semicolon.csv', 'renamed', '{"delimiter": ";", "columns": ["x", "y", "z"]}');
SELECT * FROM renamed ORDER BY x;
-- force_null, and a file in another encoding
SELECT load_csv(:'base' || '/bom_crlf.csv', 'forced', '{"force_null": ["note"], "encoding": "UTF8"}');
SELECT count(*) FILTER (WHERE note IS NULL) FROM forced;
