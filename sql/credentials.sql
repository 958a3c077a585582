-- Credentials, as Prefect's blocks: named secrets per owner role that
-- loads use by name.  No role reads a value back; another role's
-- credential is refused before any request is made.
\set SHOW_CONTEXT never
\set base 'http://127.0.0.1:18766'

SET ROLE elt_alice;
SELECT elt.create_credential('nyc_token', 'bearer', '{"token": "t0k3n-of-alice"}');
SELECT elt.create_credential('nyc_basic', 'basic', '{"password": "pa55"}', '{"user": "reader"}');
SELECT elt.create_credential('nyc_key', 'http_header', '{"value": "k3y"}', '{"header": "X-Api-Key"}');
SELECT elt.create_credential('lake', 's3', '{"secret_access_key": "s3cr3t"}',
                             '{"access_key_id": "AKIAEXAMPLE", "region": "us-east-1"}');
-- what alice sees: names, kinds and settings, never the values
SELECT owner, name, kind, settings FROM elt.credential_list ORDER BY name;
-- every way to read a value back fails
SELECT error_of('SELECT secret FROM elt.credentials');
SELECT error_of('SELECT count(*) FROM elt.credentials');
SELECT error_of($$UPDATE elt.credentials SET kind = kind RETURNING secret$$);
SELECT error_of($$INSERT INTO elt.credentials (owner, name, kind, secret) VALUES ('elt_alice', 'x', 'bearer', '{"token": "t"}')$$);
SELECT error_of($$SELECT elt._check_credential_values('x', 'bearer', '{}', '{"token": "t"}')$$);

-- Loads use them by name; the fixture server requires the value.
SELECT load_csv(:'base' || '/types.csv?auth=t0k3n-of-alice', 'cred_bearer', '{"credential": "nyc_token"}');
SELECT load_csv(:'base' || '/types.csv?basic=reader:pa55', 'cred_basic', '{"credential": "nyc_basic"}');
SELECT load_csv(:'base' || '/types.csv?need_header=X-Api-Key:k3y', 'cred_header', '{"credential": "nyc_key"}');
-- without it the server refuses (and the token in the URL is masked)
SELECT error_of($$SELECT load_csv('http://127.0.0.1:18766/types.csv?auth=t0k3n-of-alice', 'cred_none')$$);
-- a kind HTTP cannot use, an unknown name
SELECT error_of($$SELECT load_csv('http://127.0.0.1:18766/types.csv', 'cred_none', '{"credential": "lake"}')$$);
SELECT error_of($$SELECT load_csv('http://127.0.0.1:18766/types.csv', 'cred_none', '{"credential": "nope"}')$$);
-- a new value replaces the old one
SELECT elt.alter_credential('nyc_token', '{"token": "n3w"}');
SELECT error_of($$SELECT load_csv('http://127.0.0.1:18766/types.csv?auth=t0k3n-of-alice', 'cred_bearer', '{"credential": "nyc_token", "mode": "replace"}')$$);
SELECT load_csv(:'base' || '/types.csv?auth=n3w', 'cred_bearer', '{"credential": "nyc_token", "mode": "replace"}');
RESET ROLE;

-- Bob may not use, see, change or drop alice's credentials; his load is
-- refused before a request is made.
SET ROLE elt_bob;
SELECT count(*) FROM elt.credential_list;
SELECT error_of($$SELECT load_csv('http://127.0.0.1:18766/types.csv?key=bob_cred', 'bob_t', '{"credential": "nyc_token"}')$$);
SELECT error_of($$SELECT elt.alter_credential('nyc_token', '{"token": "mine"}')$$);
SELECT error_of($$SELECT elt.drop_credential('nyc_token')$$);
SELECT error_of($$SELECT elt.create_credential('x', 'bearer', '{"token": "t"}', owner => 'elt_alice')$$);
-- nor name it in a task
INSERT INTO elt.flows (name) VALUES ('bob_flow');
SELECT error_of($$INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('bob_flow', 'e', 'extract', '{"url": "http://x/y.csv", "table": "t", "credential": "nyc_token"}')$$);
SELECT error_of($$INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('bob_flow', 'e', 'extract', '{"url": "http://x/y.csv", "table": "t", "credential": "nope"}')$$);
DELETE FROM elt.flows WHERE name = 'bob_flow';
RESET ROLE;
SELECT fixture_count('requests', 'bob_cred') AS requests_made;
-- carol, a member of alice, may use them
SET ROLE elt_carol;
SELECT load_csv(:'base' || '/types.csv?auth=n3w', 'cred_carol', '{"credential": "nyc_token"}');
DROP TABLE cred_carol;
RESET ROLE;

-- Tasks name them, checked when written: a kind HTTP cannot use is refused.
SET ROLE elt_alice;
INSERT INTO elt.flows (name) VALUES ('cred_flow');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES
  ('cred_flow', 'e', 'extract', '{"url": "http://127.0.0.1:18766/types.csv?auth=n3w", "table": "cred_flow_t", "credential": "nyc_token"}');
SELECT error_of($$INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('cred_flow', 'f', 'extract', '{"url": "http://x/y.csv", "table": "t", "credential": "lake"}')$$);
SELECT name, config ->> 'credential' AS credential FROM elt.tasks WHERE flow = 'cred_flow';
DELETE FROM elt.flows WHERE name = 'cred_flow';

-- Bad definitions.
SELECT error_of($$SELECT elt.create_credential('x', 'ftp', '{"token": "t"}')$$);
SELECT error_of($$SELECT elt.create_credential('x', 'basic', '{"password": "p"}')$$);
SELECT error_of($$SELECT elt.create_credential('x', 'bearer', '{"token": "t", "extra": "e"}')$$);
SELECT error_of($$SELECT elt.create_credential('x', 'bearer', '{"token": 42}')$$);
SELECT error_of($$SELECT elt.create_credential('nyc_token', 'bearer', '{"token": "t"}')$$);
SELECT error_of($$SELECT elt.create_credential('x', 'bearer', NULL)$$);
SELECT error_of($$SELECT elt.drop_credential('nope')$$);
RESET ROLE;

-- A superuser reads the table, as any table (the README says so).
SELECT owner, name, kind, secret ? 'token' AS has_token FROM elt.credentials ORDER BY name;
-- and a query string's secrets are masked wherever a URL is shown
SELECT error_of($$SELECT load_csv('http://127.0.0.1:18766/missing.csv?X-Amz-Signature=abc123&x=1&token=t', 't')$$);

SET ROLE elt_alice;
SELECT elt.drop_credential(name) FROM elt.credential_list WHERE owner = 'elt_alice';
SELECT count(*) FROM elt.credential_list;
DROP TABLE cred_bearer, cred_basic, cred_header;
RESET ROLE;
