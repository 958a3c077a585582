-- Schedules: parsing and next fire times.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE cases (schedule text, after timestamptz, tz text DEFAULT 'UTC');
INSERT INTO cases (schedule, after) VALUES
  ('* * * * *',            '2021-01-01 00:00:00+00'),
  ('* * * * *',            '2021-01-01 00:00:30+00'),
  ('*/15 * * * *',         '2021-01-01 00:16:00+00'),
  ('0 8-18/2 * * *',       '2021-01-01 09:00:00+00'),
  ('30 2 * * mon-fri',     '2021-01-01 03:00:00+00'),   -- a Friday: next is Monday
  ('0 0 1 jan,jul *',      '2021-02-01 00:00:00+00'),
  ('0 0 13 * fri',         '2021-01-01 00:00:00+00'),   -- 13th OR Friday
  ('0 0 29 feb *',         '2021-01-01 00:00:00+00'),   -- next leap day
  ('5,10,50-52 * * * *',   '2021-01-01 00:51:00+00'),
  ('0 12 * * 7',           '2021-01-01 00:00:00+00'),   -- 7 is Sunday
  ('15/20 * * * *',        '2021-01-01 00:40:00+00'),
  ('@hourly',              '2021-01-01 00:00:00+00'),
  ('@daily',               '2021-01-01 00:00:00+00'),
  ('@weekly',              '2021-01-01 00:00:00+00'),
  ('@monthly',             '2021-01-15 00:00:00+00'),
  ('@yearly',              '2021-01-15 00:00:00+00'),
  ('every 30 seconds',     '2021-01-01 00:00:10+00'),
  ('every 5 minutes',      '2021-01-01 00:07:00+00'),
  ('every 2 hours',        '2021-01-01 03:00:00+00'),
  ('EVERY 1 day',          '2021-01-01 03:00:00+00');
INSERT INTO cases VALUES
  ('0 9 * * *', '2021-03-27 12:00:00+00', 'Europe/Paris'),   -- across the DST change
  ('30 2 * * *', '2021-03-27 12:00:00+00', 'Europe/Paris'),  -- 02:30 does not exist that night
  ('0 0 * * *', '2021-01-01 00:00:00+00', 'America/New_York'),
  ('*/20 * * * *', '2021-11-07 05:30:00+00', 'America/New_York'),  -- 01:30 EDT, clocks go back at 02:00
  ('*/20 * * * *', '2021-11-07 05:40:00+00', 'America/New_York'),
  ('30 1 * * *', '2021-11-07 04:00:00+00', 'America/New_York'),
  -- Lord Howe Island puts its clocks back by half an hour (02:00 -> 01:30):
  -- 01:45 happens twice that night and fires at its first occurrence only
  ('45 1 * * *', '2024-04-06 12:00:00+00', 'Australia/Lord_Howe'),
  ('45 1 * * *', '2024-04-06 14:45:00+00', 'Australia/Lord_Howe');
SELECT schedule, after, tz, elt.schedule_next(schedule, after, tz) FROM cases;

-- Invalid schedules say where the error is.
SELECT elt.schedule_next('* * * *');
SELECT elt.schedule_next('* * * * * *');
SELECT elt.schedule_next('61 * * * *');
SELECT elt.schedule_next('* * * foo *');
SELECT elt.schedule_next('*/0 * * * *');
SELECT elt.schedule_next('5-1 * * * *');
SELECT elt.schedule_next('@fortnightly');
SELECT elt.schedule_next('every fortnight');
SELECT elt.schedule_next('every 0 seconds');
SELECT elt.schedule_next('every 10 weeks');
SELECT elt.schedule_next('every 200000000 days');
-- never fires
SELECT elt.schedule_next('0 0 30 feb *', '2021-01-01');

-- Flows: schedules are checked when written.
INSERT INTO elt.flows (name, schedule) VALUES ('sched', '*/5 * * * * *');
INSERT INTO elt.flows (name, schedule) VALUES ('sched', '0 0 31 apr *');
INSERT INTO elt.flows (name, schedule, timezone) VALUES ('sched', '@daily', 'Mars/Olympus');
INSERT INTO elt.flows (name, schedule, max_active_runs) VALUES ('sched', '@daily', 0);
INSERT INTO elt.flows (name, schedule, timezone) VALUES ('sched', '@daily', 'Europe/Paris');
SELECT name, schedule, timezone, enabled, catchup, max_active_runs FROM elt.flows WHERE name = 'sched';
DELETE FROM elt.flows WHERE name = 'sched';

-- The scheduler's slots: written with the flow (dirty: -infinity), computed
-- by the scheduler, and read by a round only when due.  (No scheduler runs
-- here: the calls below are its.)
SET ROLE elt_alice;
INSERT INTO elt.flows (name, schedule) VALUES ('slot_a', '@daily'), ('slot_b', '@hourly');
RESET ROLE;
SELECT flow, owner, schedule, timezone, next_slot FROM elt.schedule_slots WHERE flow LIKE 'slot_%' ORDER BY flow;
SELECT elt._fire_schedules() > now() AS next_is_ahead;
SELECT flow, next_slot > now() AS computed FROM elt.schedule_slots WHERE flow LIKE 'slot_%' ORDER BY flow;
-- a slot not due is not read, even one out of step with its flow, which
-- only the pass over every flow mends; a due one (missed, no catchup) is
-- skipped and logged, and moves on
UPDATE elt.schedule_slots SET schedule = 'stale' WHERE flow = 'slot_b';
UPDATE elt.schedule_slots SET next_slot = now() - interval '2 hours' WHERE flow = 'slot_a';
SELECT elt._fire_schedules() > now() AS next_is_ahead;
SELECT flow, schedule, next_slot > now() AS ahead FROM elt.schedule_slots WHERE flow LIKE 'slot_%' ORDER BY flow;
SELECT flow, level, message LIKE '%was missed%catchup is off' AS missed FROM elt.logs WHERE flow LIKE 'slot_%';
SELECT count(*) AS runs FROM elt.flow_runs WHERE flow LIKE 'slot_%';
SELECT elt._sync_schedule_slots();
SELECT flow, schedule, next_slot FROM elt.schedule_slots WHERE flow = 'slot_b';
-- a change of schedule or time zone makes the slot dirty; disabling drops it
SET ROLE elt_alice;
UPDATE elt.flows SET timezone = 'Europe/Paris' WHERE name = 'slot_a';
UPDATE elt.flows SET enabled = false WHERE name = 'slot_b';
RESET ROLE;
SELECT flow, timezone, next_slot FROM elt.schedule_slots WHERE flow LIKE 'slot_%' ORDER BY flow;
-- a user cannot write slots, or reach the trigger's function
SET ROLE elt_alice;
SELECT error_of($$UPDATE elt.schedule_slots SET next_slot = now() WHERE flow = 'slot_a'$$);
SELECT error_of($$SELECT elt._keep_schedule_slot()$$);
SELECT error_of($$SELECT elt._sync_schedule_slots()$$);
RESET ROLE;
DELETE FROM elt.flows WHERE name LIKE 'slot_%';
DELETE FROM elt.logs WHERE flow LIKE 'slot_%';
SELECT count(*) AS slots_left FROM elt.schedule_slots WHERE flow LIKE 'slot_%';

-- Queued runs need the scheduler, which needs the preload.
INSERT INTO elt.flows (name) VALUES ('q');
INSERT INTO elt.tasks (flow, name, kind, sql) VALUES ('q', 't', 'sql', 'SELECT 1');
SELECT flow_submit('q');
SET client_min_messages = warning;   -- run ids depend on the other tests
SELECT state FROM flow_run('q');
SELECT flow_cancel(max(run_id)) FROM elt.flow_runs;
SELECT state FROM flow_wait((SELECT max(run_id) FROM elt.flow_runs));
RESET client_min_messages;
