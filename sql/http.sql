-- load_csv over HTTP: errors, retries, resumed transfers, limits, protocols.
\set base 'http://127.0.0.1:18766'
\set taxi '/yellow_tripdata_2021-01.csv.gz'
-- How many requests the fixture server saw for a key (loaded with load_csv).
CREATE FUNCTION requests(k text) RETURNS bigint LANGUAGE sql AS $$ SELECT fixture_count('requests', k) $$;

-- 503 twice, then the file: loaded after three attempts.
SELECT load_csv(:'base' || :'taxi' || '?status=503&fail=2&key=a503', 'retried', '{"retry_delay": 0.1}');
SELECT count(*) FROM retried;
SELECT requests('a503');

-- 429 with Retry-After: the wait follows the server.
SELECT load_csv(:'base' || :'taxi' || '?status=429&fail=1&retry_after=1&key=a429', 'retried', '{"mode": "truncate"}');

-- 404 fails at once, without retrying; the table is unchanged.
SELECT load_csv(:'base' || '/missing.csv.gz?key=a404', 'retried');
SELECT requests('a404'), (SELECT count(*) FROM retried);
-- 403 and 401 are permission errors; a header option can carry credentials.
SELECT load_csv(:'base' || :'taxi' || '?status=403', 'retried');
SELECT load_csv(:'base' || :'taxi' || '?auth=s3cret', 'authed');
SELECT load_csv(:'base' || :'taxi' || '?auth=s3cret', 'authed', '{"headers": {"Authorization": "Bearer s3cret"}}');
-- credentials in a URL are never shown
SELECT load_csv('http://alice:hunter2@127.0.0.1:18766/missing.csv?key=creds', 'creds');
-- (a refused connection: libcurl's words are in the detail, not compared)
DO $$
BEGIN
    PERFORM load_csv('http://alice:hunter2@127.0.0.1:1/nothing.csv', 'creds', '{"retries": 0}');
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'sqlstate %, names the URL without credentials: %, shows the password: %', SQLSTATE,
        SQLERRM = 'could not fetch "http://127.0.0.1:1/nothing.csv"', SQLERRM LIKE '%hunter2%';
END $$;

-- (the details of these NOTICEs are libcurl's words and byte counts of the
-- gzip file, which depend on the zlib that made it: terse hides them)
\set VERBOSITY terse
-- A transfer cut after 100,000 bytes is resumed (Range + If-Range) in the
-- same COPY: every row exactly once.
SELECT load_csv(:'base' || :'taxi' || '?cut=100000&cut_times=1&key=cut1', 'resumed');
SELECT count(*), count(DISTINCT (tpep_pickup_datetime, tpep_dropoff_datetime, pulocationid, total_amount)) FROM resumed;
SELECT requests('cut1');
-- Without byte ranges the partial load is rolled back and started again.
SELECT load_csv(:'base' || :'taxi' || '?cut=100000&cut_times=1&noranges=1&key=cut2', 'restarted', '{"retry_delay": 0.1}');
SELECT count(*) FROM restarted;
-- A server that closes early without Content-Length: the gzip stream is
-- truncated, which is detected and retried.
SELECT load_csv(:'base' || :'taxi' || '?nolength=1&cut=100000&cut_times=1&key=cut3', 'restarted', '{"mode": "truncate", "retry_delay": 0.1}');
SELECT count(*) FROM restarted;
-- A plain CSV cut twice: resumed once; the resumed transfer makes no
-- progress, so the load starts again.
SELECT load_csv(:'base' || '/yellow_tripdata_2021-01.csv?cut=300000&cut_times=2&key=cut4', 'restarted', '{"mode": "truncate"}');
SELECT count(*) FROM restarted;

-- Corrupt and truncated gzip fail; the target is unchanged.
SELECT error_of(format('SELECT load_csv(%L, %L)', :'base' || '/corrupt.csv.gz', 'restarted'),
                '%: %.  The error is after 0 bytes of inflated data.');
-- a header with a reserved flag set fails as RFC 1952 says, whichever
-- inflater pg_elt was built with
SELECT error_of(format('SELECT load_csv(%L, %L)', :'base' || '/reserved_flags.csv.gz', 'restarted'),
                '%: unknown header flags set.  The error is after 0 bytes of inflated data.');
SELECT error_of(format('SELECT load_csv(%L, %L, %L)', :'base' || '/truncated.csv.gz', 'restarted',
                       '{"retries": 1, "retry_delay": 0.1}'),
                'The data stopped after % inflated bytes; the transfer was probably cut short.');
\set VERBOSITY default
SELECT count(*) FROM restarted;

-- Limits: a gzip bomb and an oversized download fail cleanly.
SET pg_elt.max_inflated_size = '1MB';
SELECT load_csv(:'base' || '/bomb.csv.gz', 'bomb');
RESET pg_elt.max_inflated_size;
SET pg_elt.max_download_size = '100kB';
SELECT load_csv(:'base' || :'taxi', 'big');
\set VERBOSITY terse
SELECT load_csv(:'base' || :'taxi' || '?nolength=1', 'big');
\set VERBOSITY default
RESET pg_elt.max_download_size;
SELECT to_regclass('bomb') IS NULL AND to_regclass('big') IS NULL AS nothing_created;
-- the limits are for superusers to set
SET ROLE elt_bob;
SET pg_elt.max_download_size = '100GB';
RESET ROLE;

-- The timeout option, and statement_timeout, stop a slow download.
\set VERBOSITY terse
SELECT load_csv(:'base' || :'taxi' || '?slow=300', 'slow', '{"timeout": 1}');
SET statement_timeout = '1s';
SELECT load_csv(:'base' || :'taxi' || '?slow=300', 'slow');
RESET statement_timeout;
\set VERBOSITY default
SELECT to_regclass('slow') IS NULL AS nothing_created;

-- Redirects are followed, to http(s) only.
SELECT load_csv(:'base' || '/r?redirect=' || :'taxi', 'redirected');
SELECT load_csv(:'base' || '/r?redirect=file:///etc/passwd', 'redirected');

-- Protocols: http and https only; file:// needs pg_read_server_files.
SELECT load_csv('ftp://127.0.0.1/x.csv', 'x');
SELECT load_csv('gopher://127.0.0.1/x.csv', 'x');
SELECT load_csv('not a url', 'x');
SET ROLE elt_bob;
SELECT load_csv('file:///etc/passwd', 'x');
SELECT load_csv('FILE:///etc/passwd', 'x');
RESET ROLE;
\getenv datadir PG_ELT_TEST_DATA
SELECT load_csv('file://' || :'datadir' || '/types.csv', 'from_file') AS superuser_reads_files;

-- A response that is not 2xx is never loaded; nor is anything in a
-- read-only transaction.
SELECT load_csv(:'base' || :'taxi' || '?status=302', 'not_loaded');
SELECT to_regclass('not_loaded') IS NULL AS nothing_created;
BEGIN READ ONLY;
SELECT load_csv(:'base' || :'taxi', 'retried');
ROLLBACK;
