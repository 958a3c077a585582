-- pg_elt's regression suite: the extension and the roles the tests use.
CREATE EXTENSION pg_elt;
SELECT extversion FROM pg_extension WHERE extname = 'pg_elt';
-- API functions are callable unqualified with the default search_path
SELECT p.proname, n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proname IN ('flow_run', 'load_csv') ORDER BY 1;

CREATE ROLE elt_alice LOGIN;
CREATE ROLE elt_bob LOGIN;
CREATE ROLE elt_team NOLOGIN;
CREATE ROLE elt_carol LOGIN IN ROLE elt_alice;
GRANT CREATE ON SCHEMA public TO elt_alice, elt_bob, elt_carol;
-- access to pg_elt is opt-in: the one step an administrator takes
GRANT USAGE ON SCHEMA elt TO elt_alice, elt_bob, elt_carol;
