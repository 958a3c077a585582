/*
 * pg_elt 0.1 -> 0.2: schedules, the run queue, crash recovery, retention,
 * views for people.  CREATE EXTENSION pg_elt installs 0.1 and applies this.
 */
\echo Use "ALTER EXTENSION pg_elt UPDATE TO '0.2'" to load this file. \quit

ALTER TABLE elt.flows
    ADD COLUMN schedule text,
    ADD COLUMN timezone text,
    ADD COLUMN enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN catchup boolean NOT NULL DEFAULT false,
    ADD COLUMN max_active_runs integer NOT NULL DEFAULT 1,
    ADD COLUMN retries integer NOT NULL DEFAULT 0,
    ADD COLUMN priority integer NOT NULL DEFAULT 0,
    ADD COLUMN timeout interval;
COMMENT ON COLUMN elt.flows.timeout IS 'a run taking longer is stopped and fails';
COMMENT ON COLUMN elt.flows.schedule IS 'cron (5 fields, @daily, ...) or "every N seconds|minutes|hours|days"';
COMMENT ON COLUMN elt.flows.retries IS 're-runs of a run that crashed (server crash or killed worker)';

ALTER TABLE elt.flow_runs
    ADD COLUMN run_at timestamptz,
    ADD COLUMN priority integer NOT NULL DEFAULT 0,
    ADD COLUMN attempt integer NOT NULL DEFAULT 1,
    ADD COLUMN retry_of bigint;
CREATE INDEX flow_runs_queue ON elt.flow_runs (run_at, priority) WHERE state = 'pending';
CREATE INDEX flow_runs_active ON elt.flow_runs (flow) WHERE state IN ('pending', 'running');

-- Log lines of the scheduler (skipped slots) belong to a flow, not a run.
ALTER TABLE elt.logs ALTER COLUMN run_id DROP NOT NULL, ADD COLUMN flow text;
DROP POLICY logs_owner ON elt.logs;
CREATE POLICY logs_owner ON elt.logs FOR SELECT
    USING (EXISTS (SELECT 1 FROM elt.flow_runs r WHERE r.run_id = logs.run_id)
           OR (logs.run_id IS NULL AND EXISTS (SELECT 1 FROM elt.flows f WHERE f.name = logs.flow)));

-- Task concurrency limits by tag, across all flows and runs (as Prefect's).
CREATE TABLE elt.concurrency_limits (
    tag         text PRIMARY KEY,
    max_running integer NOT NULL CHECK (max_running > 0)
);
COMMENT ON TABLE elt.concurrency_limits IS
    'at most max_running task attempts with this tag run at once; others wait in pending';
GRANT SELECT ON elt.concurrency_limits TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('elt.concurrency_limits', '');

-- The scheduler's memory of each scheduled flow's next slot.  Private.
CREATE TABLE elt.schedule_slots (
    flow      text PRIMARY KEY REFERENCES elt.flows (name) ON UPDATE CASCADE ON DELETE CASCADE,
    schedule  text NOT NULL,
    timezone  text NOT NULL,
    next_slot timestamptz,
    last_slot timestamptz
);

CREATE FUNCTION elt.schedule_next(schedule text, after timestamptz DEFAULT now(),
                                  timezone text DEFAULT current_setting('pg_elt.timezone'))
    RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'elt_schedule_next_sql'
    LANGUAGE C STABLE;
COMMENT ON FUNCTION elt.schedule_next(text, timestamptz, text) IS
    'the first time after "after" at which a schedule fires';

CREATE FUNCTION elt._check_schedule(schedule text, timezone text) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_check_schedule' LANGUAGE C STRICT;
CREATE FUNCTION elt._scheduler_available() RETURNS boolean
    AS 'MODULE_PATHNAME', 'elt_scheduler_available' LANGUAGE C STRICT;
CREATE FUNCTION elt._wake_scheduler() RETURNS void
    AS 'MODULE_PATHNAME', 'elt_wake_scheduler' LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION elt._check_flow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name IS NULL OR NEW.name = '' THEN
        RAISE EXCEPTION 'a flow needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(NEW.params) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'params of flow "%" must be a JSON object', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write them as ''{"name": "value"}''.';
    END IF;
    IF NOT pg_catalog.pg_has_role(NEW.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to make role "%" the owner of flow "%"', NEW.owner, NEW.name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A flow can be owned only by a role the current user is a member of.';
    END IF;
    IF NOT (SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE oid = NEW.owner) THEN
        RAISE EXCEPTION 'flow owner "%" cannot log in', NEW.owner
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'Flow runs execute in a background worker connected as the flow''s owner; PostgreSQL 15 lets background workers connect only as roles with LOGIN.',
                  HINT = format('Give the role LOGIN (ALTER ROLE %s LOGIN) or make a login role the owner.', NEW.owner);
    END IF;
    IF NEW.max_active_runs < 1 THEN
        RAISE EXCEPTION 'max_active_runs of flow "%" must be at least 1', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.retries < 0 THEN
        RAISE EXCEPTION 'retries of flow "%" must not be negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.timeout IS NOT NULL AND NEW.timeout <= '0' THEN
        RAISE EXCEPTION 'timeout of flow "%" must be positive', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.timezone IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = NEW.timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%" for flow "%"', NEW.timezone, NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, e.g. Europe/Paris or UTC.';
    END IF;
    IF NEW.schedule IS NOT NULL THEN
        PERFORM elt._check_schedule(NEW.schedule, coalesce(NEW.timezone, current_setting('pg_elt.timezone', true), 'UTC'));
        IF NOT elt._scheduler_available()
           AND (TG_OP = 'INSERT' OR NEW.schedule IS DISTINCT FROM OLD.schedule) THEN
            RAISE WARNING 'the schedule of flow "%" will not fire: pg_elt is not in shared_preload_libraries', NEW.name
                USING HINT = 'Add pg_elt to shared_preload_libraries and restart the server; flow_run works without it.';
        END IF;
    END IF;
    -- a new or changed schedule takes effect when this commits
    IF NEW.schedule IS NOT NULL OR (TG_OP = 'UPDATE' AND OLD.schedule IS NOT NULL) THEN
        PERFORM elt._wake_scheduler();
    END IF;
    RETURN NEW;
END
$$;

/* ------------------------------------------------------------------
 * The scheduler's steps, called by its worker (src/scheduler.c).
 * ------------------------------------------------------------------ */

-- Queues runs for the schedule slots that are due; returns the next slot.
CREATE FUNCTION elt._fire_schedules() RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    sched record;
    now_ts timestamptz := clock_timestamp();
    nxt timestamptz;
    wake timestamptz := 'infinity';
    active integer;
BEGIN
    -- disabled or unscheduled flows start afresh when scheduled again
    DELETE FROM elt.schedule_slots s
     WHERE NOT EXISTS (SELECT 1 FROM elt.flows f
                        WHERE f.name = s.flow AND f.enabled AND f.schedule IS NOT NULL);
    FOR sched IN
        SELECT fl.name, fl.schedule, fl.catchup, fl.max_active_runs, fl.params, fl.owner, fl.priority,
               coalesce(fl.timezone, current_setting('pg_elt.timezone')) AS tz,
               s.schedule AS slot_schedule, s.timezone AS slot_tz, s.next_slot
          FROM elt.flows fl LEFT JOIN elt.schedule_slots s ON s.flow = fl.name
         WHERE fl.enabled AND fl.schedule IS NOT NULL
    LOOP
      BEGIN
        IF sched.slot_schedule IS DISTINCT FROM sched.schedule OR sched.slot_tz IS DISTINCT FROM sched.tz THEN
            nxt := elt.schedule_next(sched.schedule, now_ts, sched.tz);
            INSERT INTO elt.schedule_slots (flow, schedule, timezone, next_slot)
            VALUES (sched.name, sched.schedule, sched.tz, nxt)
            ON CONFLICT (flow) DO UPDATE
               SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, next_slot = EXCLUDED.next_slot;
        ELSIF sched.next_slot <= now_ts THEN
            SELECT count(*) INTO active FROM elt.flow_runs r
             WHERE r.flow = sched.name AND r.state IN ('pending', 'running');
            IF now_ts - sched.next_slot > interval '1 minute' AND NOT sched.catchup THEN
                INSERT INTO elt.logs (flow, logged_at, level, message)
                VALUES (sched.name, now_ts, 'warning',
                        format('slot %s skipped: it was missed (pg_elt was not running) and catchup is off', sched.next_slot));
            ELSIF active >= sched.max_active_runs THEN
                INSERT INTO elt.logs (flow, logged_at, level, message)
                VALUES (sched.name, now_ts, 'warning',
                        format('slot %s skipped: %s run(s) of the flow still active (max_active_runs %s)',
                               sched.next_slot, active, sched.max_active_runs));
            ELSE
                INSERT INTO elt.flow_runs (flow, owner, state, trigger, params, run_at, priority)
                VALUES (sched.name, sched.owner, 'pending', 'schedule', sched.params, sched.next_slot, sched.priority);
            END IF;
            nxt := elt.schedule_next(sched.schedule, now_ts, sched.tz);
            UPDATE elt.schedule_slots SET last_slot = next_slot, next_slot = nxt WHERE flow = sched.name;
        ELSE
            nxt := sched.next_slot;
        END IF;
        wake := least(wake, nxt);
      EXCEPTION WHEN OTHERS THEN
        -- one broken schedule must not stop the others: park it until it changes
        INSERT INTO elt.schedule_slots (flow, schedule, timezone, next_slot)
        VALUES (sched.name, sched.schedule, sched.tz, 'infinity')
        ON CONFLICT (flow) DO UPDATE
           SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, next_slot = 'infinity';
        INSERT INTO elt.logs (flow, logged_at, level, sqlstate, message)
        VALUES (sched.name, clock_timestamp(), 'warning', SQLSTATE,
                'schedule disabled until it is changed: ' || SQLERRM);
      END;
    END LOOP;
    RETURN wake;
END
$$;

-- Takes up to n due queued runs, oldest (then highest priority) first.
CREATE FUNCTION elt._claim_runs(n integer) RETURNS TABLE (run_id bigint, owner oid)
LANGUAGE sql AS $$
    UPDATE elt.flow_runs r SET state = 'running'
     WHERE r.run_id IN (SELECT q.run_id FROM elt.flow_runs q
                         WHERE q.state = 'pending' AND q.run_at <= clock_timestamp()
                         ORDER BY q.run_at, q.priority DESC, q.run_id
                         LIMIT n FOR UPDATE SKIP LOCKED)
    RETURNING r.run_id, r.owner::oid
$$;

-- Runs whose worker is gone become crashed; flows with retries run again.
-- search_path: fixed (pg_catalog, pg_temp) where pg_elt--0.2--0.3.sql restates it.
CREATE FUNCTION elt._recover_runs(at_start boolean, gone bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
    flow_retries integer;
BEGIN
    FOR r IN
        UPDATE elt.flow_runs SET state = 'crashed', ended_at = clock_timestamp(),
               started_at = coalesce(started_at, clock_timestamp()),
               message = CASE WHEN worker_pid IS NULL THEN 'the run''s worker did not start'
                              ELSE format('the run''s worker (pid %s) ended before the run did: server crash or restart, or the worker was killed', worker_pid) END
         WHERE state = 'running'
           AND CASE WHEN worker_pid IS NULL THEN at_start OR run_id = ANY (gone)
                    ELSE worker_pid NOT IN (SELECT pid FROM pg_catalog.pg_stat_activity
                                             WHERE backend_type = 'pg_elt flow run') END
        RETURNING *
    LOOP
        n := n + 1;
        UPDATE elt.task_runs SET state = 'crashed', ended_at = clock_timestamp(),
               message = 'the run crashed while this attempt ran'
         WHERE run_id = r.run_id AND state = 'running';
        UPDATE elt.task_runs SET state = 'cancelled', ended_at = clock_timestamp(),
               message = 'not started: the run crashed'
         WHERE run_id = r.run_id AND state = 'pending';
        INSERT INTO elt.logs (run_id, flow, logged_at, level, message)
        VALUES (r.run_id, r.flow, clock_timestamp(), 'warning', 'run crashed: ' || r.message);
        PERFORM pg_catalog.pg_notify('pg_elt', json_build_object('run_id', r.run_id, 'state', 'crashed')::text);
        SELECT f.retries INTO flow_retries FROM elt.flows f WHERE f.name = r.flow;
        IF flow_retries IS NOT NULL AND r.attempt <= flow_retries THEN
            INSERT INTO elt.flow_runs (flow, owner, state, trigger, params, run_at, priority, attempt, retry_of)
            VALUES (r.flow, r.owner, 'pending', 'retry', r.params, clock_timestamp(), r.priority,
                    r.attempt + 1, r.run_id);
            INSERT INTO elt.logs (run_id, flow, logged_at, level, message)
            VALUES (r.run_id, r.flow, clock_timestamp(), 'info',
                    format('queued a re-run (attempt %s of %s)', r.attempt + 1, flow_retries + 1));
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- Deletes old history, a batch at a time.  (Installs of 0.2 made before its
-- search_path was fixed here get it from the ALTER FUNCTION in
-- pg_elt--0.2--0.3.sql; the body is the same.)
CREATE FUNCTION elt._prune_history(
    retention interval DEFAULT current_setting('pg_elt.history_retention')::interval,
    keep_completed_details boolean DEFAULT current_setting('pg_elt.keep_completed_details')::boolean)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer := 0;
    m integer;
BEGIN
    IF retention > '0' THEN
        DELETE FROM elt.flow_runs WHERE run_id IN
            (SELECT run_id FROM elt.flow_runs WHERE ended_at < clock_timestamp() - retention LIMIT 1000);
        GET DIAGNOSTICS n = ROW_COUNT;
        DELETE FROM elt.logs WHERE id IN
            (SELECT id FROM elt.logs WHERE run_id IS NULL AND logged_at < clock_timestamp() - retention LIMIT 1000);
    END IF;
    IF NOT keep_completed_details THEN
        DELETE FROM elt.logs WHERE id IN
            (SELECT l.id FROM elt.logs l JOIN elt.flow_runs r USING (run_id)
              WHERE r.state = 'completed' LIMIT 5000);
        DELETE FROM elt.task_runs WHERE (run_id, task, attempt) IN
            (SELECT t.run_id, t.task, t.attempt FROM elt.task_runs t JOIN elt.flow_runs r USING (run_id)
              WHERE r.state = 'completed' LIMIT 5000);
        GET DIAGNOSTICS m = ROW_COUNT;
        n := n + m;
    END IF;
    RETURN n;
END
$$;

/* ------------------------------------------------------------------
 * The API
 * ------------------------------------------------------------------ */

CREATE FUNCTION @extschema@.flow_submit(flow text, params jsonb DEFAULT '{}',
                                        run_at timestamptz DEFAULT now())
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'elt_flow_submit'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.flow_submit(text, jsonb, timestamptz) IS
    'queue a run of a flow (it starts after the transaction commits); returns its run_id';

CREATE FUNCTION @extschema@.flow_wait(run_id bigint, timeout interval DEFAULT NULL,
                                      OUT run_id bigint, OUT state text, OUT message text,
                                      OUT rows_loaded bigint, OUT duration interval)
    RETURNS record
    AS 'MODULE_PATHNAME', 'elt_flow_wait'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.flow_wait(bigint, interval) IS
    'wait for a run to end (or for timeout) and return its outcome';

CREATE FUNCTION @extschema@.flow_cancel(run_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'elt_flow_cancel'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.flow_cancel(bigint) IS
    'cancel a queued or running run; false if it had already ended';

/* ------------------------------------------------------------------
 * Views for people (pgAdmin): each shows what the viewer may see.
 * ------------------------------------------------------------------ */

CREATE VIEW elt.runs WITH (security_invoker = true) AS
    SELECT run_id, flow, owner, state, trigger, params, run_at, created_at AS submitted_at,
           started_at, ended_at, duration, rows_loaded, attempt, message
      FROM elt.flow_runs;

CREATE VIEW elt.task_attempts WITH (security_invoker = true) AS
    SELECT t.run_id, r.flow, t.task, t.attempt, t.state, t.rows_loaded,
           t.bytes, t.started_at, t.ended_at, t.duration, t.sqlstate, t.message AS error
      FROM elt.task_runs t JOIN elt.flow_runs r USING (run_id);

-- What runs now, from the server's shared memory (backend status and COPY progress).
CREATE VIEW elt.running WITH (security_invoker = true) AS
    SELECT r.run_id, r.flow, a.pid,
           substring(a.query FROM 'task (.*)$') AS task,
           p.tuples_processed AS rows_so_far,
           round(p.bytes_processed / 1048576.0, 1) AS mb_so_far,
           round((p.bytes_processed / 1048576.0
                  / greatest(extract(epoch FROM clock_timestamp() - a.query_start), 0.001))::numeric, 1) AS mb_per_s,
           clock_timestamp() - a.query_start AS elapsed
      FROM pg_catalog.pg_stat_activity a
      JOIN elt.flow_runs r ON r.worker_pid = a.pid AND r.state = 'running'
      LEFT JOIN pg_catalog.pg_stat_progress_copy p ON p.pid = a.pid
     WHERE a.backend_type = 'pg_elt flow run';

GRANT SELECT ON elt.runs, elt.task_attempts, elt.running TO PUBLIC;

-- The scheduler's steps are the scheduler's alone.
REVOKE EXECUTE ON FUNCTION elt._fire_schedules(), elt._claim_runs(integer),
    elt._recover_runs(boolean, bigint[]), elt._prune_history(interval, boolean) FROM PUBLIC;

-- A scheduler for this database starts when this commits (if preloaded).
SELECT elt._wake_scheduler();
