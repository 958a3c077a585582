-- Flow and task definitions: validated when written; owned and private.
\set SHOW_CONTEXT never
INSERT INTO elt.flows (name) VALUES ('f');
SELECT name, params, owner FROM elt.flows;
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('f', 'a', 'sql', 'SELECT 1');

-- unknown kind, missing SQL, bad retry settings
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('f', 'b', 'python', 'print(1)');
INSERT INTO elt.tasks (flow, name, kind) VALUES ('f', 'b', 'sql');
INSERT INTO elt.tasks (flow, name, kind, sql, retries) VALUES ('f', 'b', 'sql', 'SELECT 1', -1);
INSERT INTO elt.tasks (flow, name, kind, sql, retry_delay) VALUES ('f', 'b', 'sql', 'SELECT 1', '-1 s');
INSERT INTO elt.tasks (flow, name, kind, sql, retry_backoff) VALUES ('f', 'b', 'sql', 'SELECT 1', 0.5);
INSERT INTO elt.tasks (flow, name, kind, sql, timeout) VALUES ('f', 'b', 'sql', 'SELECT 1', '0 s');
-- extract config: required keys, option names and values
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('f', 'b', 'extract', '{"url": "http://x/y.csv"}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('f', 'b', 'extract', '{"url": "http://x/y.csv", "table": "t", "mdoe": "replace"}');
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('f', 'b', 'extract', '{"url": "http://x/y.csv", "table": "t", "mode": "merge"}');
-- a value that is a parameter is checked when the run substitutes it
INSERT INTO elt.tasks (flow, name, kind, config) VALUES ('f', 'b', 'extract', '{"url": ":url", "table": ":t", "mode": ":mode"}');
-- dependencies: on a missing task, on itself, in a cycle
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES ('f', 'c', 'sql', 'SELECT 1', '{nope}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES ('f', 'c', 'sql', 'SELECT 1', '{c}');
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES ('f', 'c', 'sql', 'SELECT 1', '{a}');
UPDATE elt.tasks SET depends_on = '{c}' WHERE flow = 'f' AND name = 'a';
-- a task others depend on cannot go
DELETE FROM elt.tasks WHERE flow = 'f' AND name = 'a';
-- tasks of one statement may come in any order
INSERT INTO elt.tasks (flow, name, kind, sql, depends_on) VALUES
  ('f', 'e', 'sql', 'SELECT 1', '{d}'), ('f', 'd', 'sql', 'SELECT 1', '{c}');
SELECT name, depends_on FROM elt.tasks WHERE flow = 'f' ORDER BY name;
-- renaming a flow carries its tasks; deleting it deletes them
UPDATE elt.flows SET name = 'g' WHERE name = 'f';
SELECT DISTINCT flow FROM elt.tasks;
DELETE FROM elt.flows WHERE name = 'g';
SELECT count(*) FROM elt.tasks;

-- Flow params must be an object; owners must be able to log in.
INSERT INTO elt.flows (name, params) VALUES ('p', '[1]');
GRANT elt_team TO elt_alice;
SET ROLE elt_alice;
INSERT INTO elt.flows (name, owner) VALUES ('p', 'elt_team');
RESET ROLE;
REVOKE elt_team FROM elt_alice;
-- a superuser's write (a restore) is kept, disabled, with a WARNING
INSERT INTO elt.flows (name, owner) VALUES ('p', 'elt_team');
SELECT name, owner, enabled FROM elt.flows WHERE name = 'p';
DELETE FROM elt.flows WHERE name = 'p';

-- Ownership: a flow belongs to the role that inserted it.  Others cannot
-- see or change it, nor make flows owned by roles they are not members of.
SET ROLE elt_alice;
INSERT INTO elt.flows (name) VALUES ('alices');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('alices', 't', 'sql', 'SELECT 1');
SELECT name, owner FROM elt.flows;
SET ROLE elt_bob;
SELECT count(*) FROM elt.flows;
SELECT count(*) FROM elt.tasks;
UPDATE elt.flows SET params = '{"x": 1}' WHERE name = 'alices';
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('alices', 'u', 'sql', 'SELECT 1');
INSERT INTO elt.flows (name, owner) VALUES ('bobs', 'elt_alice');
RESET ROLE;
SELECT params FROM elt.flows WHERE name = 'alices';
-- a member of the owner role shares the flow
SET ROLE elt_carol;
SELECT name, owner FROM elt.flows;
RESET ROLE;

-- Flow names are per owner: bob makes an "alices" of his own without
-- learning that alice has one; each sees and runs only their own.
SET ROLE elt_bob;
INSERT INTO elt.flows (name) VALUES ('alices');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('alices', 't', 'sql', 'SELECT 2');
SELECT f.name, f.owner, t.name AS task, t.owner AS task_owner, t.sql
  FROM elt.flows f JOIN elt.tasks t ON t.flow = f.name AND t.owner = f.owner;
SELECT task, sql FROM elt.flow_plan('alices');
SET ROLE elt_alice;
SELECT task, sql FROM elt.flow_plan('alices');
-- carol, a member of elt_alice, finds alice's
SET ROLE elt_carol;
SELECT task, sql FROM elt.flow_plan('alices');
RESET ROLE;
-- a superuser, a member of every role, is asked to choose
SELECT task, sql FROM elt.flow_plan('alices');
SET ROLE elt_bob;
SELECT task, sql FROM elt.flow_plan('alices');
-- changing a flow's owner carries its tasks along
RESET ROLE;
UPDATE elt.flows SET owner = 'elt_carol' WHERE name = 'alices' AND owner = 'elt_bob';
SELECT flow, owner, name FROM elt.tasks WHERE flow = 'alices' ORDER BY owner;
DELETE FROM elt.flows WHERE name = 'alices' AND owner = 'elt_carol';
-- a role that is not a superuser cannot name a missing role as owner
SET ROLE elt_alice;
INSERT INTO elt.flows (name, owner) VALUES ('ghost', 'no_such_role');
RESET ROLE;

-- History retention: old runs go, in batches; with keep_completed_details
-- off, completed runs keep their row but not their task rows and logs.
INSERT INTO elt.flow_runs (run_id, flow, owner, state, started_at, ended_at)
VALUES (900001, 'old', 'postgres', 'completed', now() - interval '40 days', now() - interval '40 days'),
       (900002, 'new', 'postgres', 'completed', now(), now()),
       (900003, 'new', 'postgres', 'failed', now(), now());
INSERT INTO elt.task_runs (run_id, task, attempt, state) VALUES (900001, 't', 1, 'completed'),
       (900002, 't', 1, 'completed'), (900003, 't', 1, 'failed');
SELECT elt._prune_history();
SELECT run_id, (SELECT count(*) FROM elt.task_runs t WHERE t.run_id = r.run_id) AS task_rows
  FROM elt.flow_runs r WHERE run_id > 900000 ORDER BY run_id;
SELECT elt._prune_history(keep_completed_details => false);
SELECT run_id, (SELECT count(*) FROM elt.task_runs t WHERE t.run_id = r.run_id) AS task_rows
  FROM elt.flow_runs r WHERE run_id > 900000 ORDER BY run_id;
DELETE FROM elt.flow_runs WHERE run_id > 900000;
-- the scheduler's functions are not for users
SET ROLE elt_bob;
SELECT elt._prune_history();
RESET ROLE;

-- The library's state names (src/states.c) are exactly those the catalog's
-- CHECK constraints allow: runs all but retrying, attempts all but paused
-- (which people see, and the catalog does not store: a paused run is running).
SELECT c.conrelid::regclass AS catalog,
       array(SELECT s FROM unnest(elt._states()) s
              WHERE pg_get_constraintdef(c.oid) LIKE '%' || quote_literal(s) || '%') AS allowed,
       (length(pg_get_constraintdef(c.oid)) - length(replace(pg_get_constraintdef(c.oid), '::text', ''))) / 6 AS names_in_check
  FROM pg_constraint c
 WHERE c.conrelid IN ('elt.flow_runs'::regclass, 'elt.task_runs'::regclass) AND c.contype = 'c'
   AND pg_get_constraintdef(c.oid) LIKE '%state%'
 ORDER BY 1;
