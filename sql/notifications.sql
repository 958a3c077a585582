-- Notification rules: checked when written, per owner; a run's end queues
-- an event in the outbox for each rule that wants it, in the transaction
-- that ends the run.  (Delivery needs the preload: test/t/013.)
\set SHOW_CONTEXT never
SET ROLE elt_alice;
INSERT INTO elt.flows (name) VALUES ('nightly'), ('other');
INSERT INTO elt.tasks (flow, name, kind, sql, tags) VALUES
  ('nightly', 't', 'sql', 'SELECT 1', '{critical}'), ('other', 't', 'sql', 'SELECT 1', '{}');
-- a webhook for one flow, pg_notify for a tag, and for all the owner's flows
INSERT INTO elt.notification_rules (name, flow, events, target, url, body) VALUES
  ('slack', 'nightly', '{failed,crashed}', 'webhook', 'https://hooks.example.com/T0/B0',
   '{"text": "{{flow}} {{state}}: {{message}}"}');
INSERT INTO elt.notification_rules (name, tag, events, target, channel) VALUES
  ('critical', 'critical', '{failed}', 'pg_notify', 'alerts');
INSERT INTO elt.notification_rules (name, events, target, channel) VALUES
  ('everything', '{completed,failed}', 'pg_notify', 'all_runs');
SELECT owner, name, flow, tag, events, target, max_attempts, enabled FROM elt.notification_rules ORDER BY name;

-- Bad rules are refused.
SET client_min_messages = error;
SELECT error_of($$INSERT INTO elt.notification_rules (name, events, target, channel) VALUES ('x', '{exploded}', 'pg_notify', 'c')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, events, target, channel) VALUES ('x', '{long_running}', 'pg_notify', 'c')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, flow, target, channel) VALUES ('x', 'nope', 'pg_notify', 'c')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, url) VALUES ('x', 'webhook', 'file:///etc/passwd')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, url) VALUES ('x', 'webhook', 'ftp://host/x')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, url, body) VALUES ('x', 'webhook', 'https://h/x', '{"text": "{{flow"}')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, url, body) VALUES ('x', 'webhook', 'https://h/x', '{"text": "{{flwo}}"}')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, url, body) VALUES ('x', 'webhook', 'https://h/x', '{"text": {{message}}}')$$, '%Filled in%');
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, url, credential) VALUES ('x', 'webhook', 'https://h/x', 'nope')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target) VALUES ('x', 'pg_notify')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, function) VALUES ('x', 'function', 'public.nope')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, channel) VALUES ('x', 'email', 'c')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, channel, max_attempts) VALUES ('x', 'pg_notify', 'c', 0)$$);
RESET client_min_messages;
RESET ROLE;
-- a function the owner may not execute
CREATE FUNCTION public.private_hook(e jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
REVOKE EXECUTE ON FUNCTION public.private_hook(jsonb) FROM PUBLIC;
SET ROLE elt_alice;
SET client_min_messages = error;
SELECT error_of($$INSERT INTO elt.notification_rules (name, target, function) VALUES ('x', 'function', 'public.private_hook')$$);
RESET client_min_messages;
RESET ROLE;
DROP FUNCTION public.private_hook(jsonb);

-- Rules are their owner's: bob sees none, and cannot make one for alice
-- or for her flow.
SET ROLE elt_bob;
SELECT count(*) FROM elt.notification_rules;
SELECT error_of($$INSERT INTO elt.notification_rules (owner, name, target, channel) VALUES ('elt_alice', 'x', 'pg_notify', 'c')$$);
SELECT error_of($$INSERT INTO elt.notification_rules (name, flow, target, channel) VALUES ('x', 'nightly', 'pg_notify', 'c')$$);
RESET ROLE;

-- A run's end queues one event per rule that wants it: nightly failed is
-- for slack (its flow), critical (its tag) and everything; other
-- completed only for everything.  (Runs are made here as the runtime
-- makes them.)
INSERT INTO elt.flow_runs (run_id, flow, owner, state, trigger, started_at) VALUES
  (900001, 'nightly', 'elt_alice', 'running', 'schedule', now()),
  (900002, 'other', 'elt_alice', 'running', 'api', now());
UPDATE elt.flow_runs SET state = 'failed', message = 'boom', ended_at = now() WHERE run_id = 900001;
UPDATE elt.flow_runs SET state = 'completed', message = '1 task completed', ended_at = now() WHERE run_id = 900002;
SELECT rule, run_id, event, payload ->> 'flow' AS flow, payload ->> 'message' AS message,
       payload ->> 'trigger' AS trigger, payload ->> 'owner' AS owner, attempts, delivered_at IS NULL AS pending
  FROM elt.notification_outbox ORDER BY run_id, rule;
-- a change that is not a new state queues nothing
UPDATE elt.flow_runs SET message = 'boom!' WHERE run_id = 900001;
SELECT count(*) FROM elt.notification_outbox;
-- alice sees her events, bob none of them
SET ROLE elt_alice;
SELECT count(*) FROM elt.notification_outbox;
SET ROLE elt_bob;
SELECT count(*) FROM elt.notification_outbox;
RESET ROLE;
-- a disabled rule queues nothing; a rule deleted takes its events along
UPDATE elt.notification_rules SET enabled = false WHERE name = 'everything';
INSERT INTO elt.flow_runs (run_id, flow, owner, state, trigger, started_at) VALUES (900003, 'other', 'elt_alice', 'running', 'api', now());
UPDATE elt.flow_runs SET state = 'completed', ended_at = now() WHERE run_id = 900003;
SELECT count(*) FROM elt.notification_outbox WHERE run_id = 900003;
SET ROLE elt_alice;
DELETE FROM elt.notification_rules WHERE name = 'slack';
SELECT rule, count(*) FROM elt.notification_outbox GROUP BY rule ORDER BY rule;
RESET ROLE;

DELETE FROM elt.flow_runs WHERE run_id IN (900001, 900002, 900003);
SET ROLE elt_alice;
DELETE FROM elt.notification_rules;
DELETE FROM elt.flows WHERE name IN ('nightly', 'other');
RESET ROLE;
