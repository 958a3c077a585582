-- Upgrading from 0.1 keeps flows and history, and adds 0.2's columns.
CREATE DATABASE pg_elt_upgrade;
\c pg_elt_upgrade
CREATE EXTENSION pg_elt VERSION '0.1';
INSERT INTO elt.flows (name, params) VALUES ('old', '{"a": 1}');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('old', 't', 'sql', 'SELECT 1');
ALTER EXTENSION pg_elt UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'pg_elt';
SELECT name, params, schedule, enabled, max_active_runs, retries FROM elt.flows;
SELECT count(*) FROM elt.tasks;
\c contrib_regression
DROP DATABASE pg_elt_upgrade;
