/*
 * pg_elt 0.2 -> 0.3: safe on a shared server.
 *
 *  - Every function runs with search_path = pg_catalog, pg_temp, so that a
 *    trigger fired by a superuser never resolves a name to a user's object.
 *  - Access is opt-in, as with pg_cron: schema elt is no longer PUBLIC's;
 *    an administrator lets a role in with GRANT USAGE ON SCHEMA elt.
 *  - Non-superusers' schedules and priorities are bounded by settings.
 *  - A flow whose owner role was dropped is disabled, once, and logged.
 *  - pg_dump keeps the run-id sequence, so restored run ids do not repeat.
 *
 * CREATE EXTENSION pg_elt installs 0.1 and applies 0.1->0.2 and this.
 */
\echo Use "ALTER EXTENSION pg_elt UPDATE TO '0.3'" to load this file. \quit

/* ------------------------------------------------------------------
 * Opt-in access
 * ------------------------------------------------------------------ */

REVOKE USAGE ON SCHEMA elt FROM PUBLIC;
COMMENT ON SCHEMA elt IS
    'pg_elt''s catalog; GRANT USAGE ON SCHEMA elt TO a role to let it define and run flows';

/* ------------------------------------------------------------------
 * A fixed search_path for the functions whose bodies do not change
 * ------------------------------------------------------------------ */

ALTER FUNCTION elt._check_extract_config(jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt._check_flow_graph() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt.substitute(text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt.schedule_next(text, timestamptz, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt._scheduler_available() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt._wake_scheduler() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt._recover_runs(boolean, bigint[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt._prune_history(interval, boolean) SET search_path = pg_catalog, pg_temp;
-- load_csv keeps the caller's search_path: table names resolve in it, as COPY's do;
-- its own catalog queries run under a fixed one (src/catalog.c).
ALTER FUNCTION @extschema@.flow_run(text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.flow_submit(text, jsonb, timestamptz) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.flow_wait(bigint, interval) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.flow_cancel(bigint) SET search_path = pg_catalog, pg_temp;

/* ------------------------------------------------------------------
 * Validation on write
 * ------------------------------------------------------------------ */

ALTER FUNCTION elt._check_schedule(text, text) SET search_path = pg_catalog, pg_temp;

-- The bounds a superuser sets on flows of other roles: priority at most
-- pg_elt.max_priority, a schedule firing at most once per
-- pg_elt.min_schedule_interval.  NULL: unchanged, not checked.
CREATE FUNCTION elt._check_flow_limits(owner oid, priority integer, schedule text, timezone text)
    RETURNS void
    AS 'MODULE_PATHNAME', 'elt_check_flow_limits' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;

-- Quoted template references in a task's SQL must name the flow's parameters.
CREATE FUNCTION elt._check_task_templates(task text, sql text, params jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_check_task_templates' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION elt._check_flow() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tz text := coalesce(NEW.timezone, current_setting('pg_elt.timezone', true), 'UTC');
    owner_changed boolean := TG_OP = 'INSERT' OR NEW.owner IS DISTINCT FROM OLD.owner;
BEGIN
    IF NEW.name IS NULL OR NEW.name = '' THEN
        RAISE EXCEPTION 'a flow needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(NEW.params) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'params of flow "%" must be a JSON object', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write them as ''{"name": "value"}''.';
    END IF;
    IF NOT pg_has_role(NEW.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to make role "%" the owner of flow "%"', NEW.owner, NEW.name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A flow can be owned only by a role the current user is a member of.';
    END IF;
    IF NOT (SELECT r.rolcanlogin FROM pg_roles r WHERE r.oid = NEW.owner) THEN
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
    IF NEW.timezone IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = NEW.timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%" for flow "%"', NEW.timezone, NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, e.g. Europe/Paris or UTC.';
    END IF;
    PERFORM elt._check_flow_limits(NEW.owner,
        CASE WHEN owner_changed OR NEW.priority IS DISTINCT FROM OLD.priority THEN NEW.priority END,
        CASE WHEN owner_changed OR NEW.schedule IS DISTINCT FROM OLD.schedule
                  OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN NEW.schedule END,
        tz);
    IF NEW.schedule IS NOT NULL THEN
        PERFORM elt._check_schedule(NEW.schedule, tz);
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

CREATE OR REPLACE FUNCTION elt._check_task() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.name IS NULL OR NEW.name = '' THEN
        RAISE EXCEPTION 'a task of flow "%" needs a name', NEW.flow
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.kind IS NULL OR NEW.kind NOT IN ('extract', 'sql') THEN
        RAISE EXCEPTION 'unknown kind "%" for task "%" of flow "%"', NEW.kind, NEW.name, NEW.flow
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Task kinds are extract and sql.';
    END IF;
    IF NEW.kind = 'sql' AND (NEW.sql IS NULL OR btrim(NEW.sql) = '') THEN
        RAISE EXCEPTION 'sql task "%" of flow "%" has no SQL', NEW.name, NEW.flow
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Put the statements to run in the sql column.';
    END IF;
    IF NEW.kind = 'extract' THEN
        PERFORM elt._check_extract_config(NEW.config);
    END IF;
    PERFORM elt._check_task_templates(NEW.name, NEW.sql,
                                      (SELECT f.params FROM elt.flows f WHERE f.name = NEW.flow));
    IF NEW.retries < 0 THEN
        RAISE EXCEPTION 'retries of task "%" must not be negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.retry_delay < '0' THEN
        RAISE EXCEPTION 'retry_delay of task "%" must not be negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.retry_backoff < 1 THEN
        RAISE EXCEPTION 'retry_backoff of task "%" must be at least 1', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It multiplies retry_delay after each attempt; 1 keeps the delay constant.';
    END IF;
    IF NEW.timeout IS NOT NULL AND NEW.timeout <= '0' THEN
        RAISE EXCEPTION 'timeout of task "%" must be positive', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_position(NEW.depends_on, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'depends_on of task "%" contains a null', NEW.name
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN NEW;
END
$$;

/* ------------------------------------------------------------------
 * The scheduler's steps
 * ------------------------------------------------------------------ */

/*
 * Disables the flows whose owner role no longer exists (DROP ROLE does not
 * know about elt.flows): once, with a line in elt.logs and in the server
 * log.  Their runs could only fail to connect.
 */
CREATE FUNCTION elt._disable_orphaned_flows() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f record;
    n integer := 0;
BEGIN
    FOR f IN
        UPDATE elt.flows fl SET enabled = false
         WHERE fl.enabled AND NOT EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = fl.owner)
        RETURNING fl.name, fl.owner::oid AS owner_oid
    LOOP
        n := n + 1;
        INSERT INTO elt.logs (flow, logged_at, level, sqlstate, message, hint)
        VALUES (f.name, clock_timestamp(), 'warning', '42704',
                format('flow disabled: its owner role (oid %s) no longer exists', f.owner_oid),
                'Make an existing role the owner and enable it again: UPDATE elt.flows SET owner = ..., enabled = true WHERE name = ...');
        RAISE LOG 'pg_elt: flow "%" in database "%" disabled: its owner role (oid %) no longer exists',
            f.name, current_database(), f.owner_oid;
    END LOOP;
    UPDATE elt.flow_runs r SET state = 'failed', ended_at = clock_timestamp(),
           started_at = coalesce(r.started_at, clock_timestamp()),
           message = 'not started: the flow''s owner role no longer exists'
     WHERE r.state = 'pending' AND NOT EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = r.owner);
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._disable_orphaned_flows() FROM PUBLIC;

CREATE OR REPLACE FUNCTION elt._fire_schedules() RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sched record;
    now_ts timestamptz := clock_timestamp();
    nxt timestamptz;
    wake timestamptz := 'infinity';
    active integer;
BEGIN
    PERFORM elt._disable_orphaned_flows();
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

-- Takes up to n due queued runs, oldest (then highest priority) first;
-- never a run whose owner role is gone (its worker could not connect).
CREATE OR REPLACE FUNCTION elt._claim_runs(n integer) RETURNS TABLE (run_id bigint, owner oid)
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE elt.flow_runs r SET state = 'running'
     WHERE r.run_id IN (SELECT q.run_id FROM elt.flow_runs q
                         WHERE q.state = 'pending' AND q.run_at <= clock_timestamp()
                           AND EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = q.owner)
                         ORDER BY q.run_at, q.priority DESC, q.run_id
                         LIMIT n FOR UPDATE SKIP LOCKED)
    RETURNING r.run_id, r.owner::oid
$$;

/* ------------------------------------------------------------------
 * pg_dump keeps the run-id sequence: restored ids continue, never repeat
 * ------------------------------------------------------------------ */

SELECT pg_catalog.pg_extension_config_dump('elt.flow_runs_run_id_seq', '');

/* ------------------------------------------------------------------
 * DROP EXTENSION pg_elt stops the database's scheduler and run workers
 * first, so that it neither deadlocks with them nor leaves them running
 * (src/drop_guard.c).  Other DROP EXTENSIONs pass straight through.
 * ------------------------------------------------------------------ */

CREATE FUNCTION elt._before_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'elt_before_drop' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;
CREATE EVENT TRIGGER pg_elt_before_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION') EXECUTE FUNCTION elt._before_drop();

/* ------------------------------------------------------------------
 * A dry run: what each task would execute
 * ------------------------------------------------------------------ */

CREATE FUNCTION elt.flow_plan(flow text, params jsonb DEFAULT '{}',
                              OUT task text, OUT kind text, OUT depends_on text[],
                              OUT sql text, OUT url text, OUT table_name text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'elt_flow_plan'
    LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION elt.flow_plan(text, jsonb) IS
    'a dry run: each task in run order with its SQL, URL (credentials hidden) and table after substitution';

-- 0.3 refuses what 0.2 let pass: run parameters a flow does not declare,
-- and quoted references to them.  Say which definitions are affected.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tk.flow, tk.name, tk.sql, f.params
               FROM elt.tasks tk JOIN elt.flows f ON f.name = tk.flow
              WHERE tk.sql IS NOT NULL
    LOOP
        BEGIN
            PERFORM elt._check_task_templates(t.name, t.sql, t.params);
        EXCEPTION WHEN undefined_object THEN
            RAISE WARNING 'flow "%": %', t.flow, SQLERRM
                USING HINT = 'Declare the parameter, with a default, in the flow''s params: from 0.3 on, runs may pass only declared parameters.';
        END;
    END LOOP;
END
$$;

-- The scheduler for this database notices the new version when this commits.
SELECT elt._wake_scheduler();
