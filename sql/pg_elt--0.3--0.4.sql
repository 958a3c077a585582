/* pg_elt 0.3 -> 0.4: task inputs and results, caching, subflows, map, pause, retry, the short API, credentials, notifications */
\echo Use "ALTER EXTENSION pg_elt UPDATE TO '0.4'" to load this file. \quit

/* ------------------------------------------------------------------
 * The runtime's restructuring: a flow's schedule checked by a trigger of
 * its own; runs made and state changes announced in one place each, by C
 * and SQL alike; the state names shared with the library.
 * ------------------------------------------------------------------ */

-- A superuser's write (a restore, say) is kept, disabled, where the owner's
-- state refuses it; a WARNING says why, with this hint.
CREATE FUNCTION elt._writer_is_superuser() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false)
$$;

CREATE FUNCTION elt._kept_disabled_hint(flow text, owner name) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('The flow is kept, disabled; mend it, then: UPDATE elt.flows SET enabled = true WHERE name = %L AND owner = %L.',
                  flow, owner)
$$;

-- What a flow is and who owns it.  When and how often it runs is
-- _check_flow_schedule's, a trigger of its own that fires after this one.
CREATE OR REPLACE FUNCTION elt._check_flow() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner_role pg_roles;
BEGIN
    IF NEW.name IS NULL OR NEW.name = '' THEN
        RAISE EXCEPTION 'a flow needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(NEW.params) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'params of flow "%" must be a JSON object', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write them as ''{"name": "value"}''.';
    END IF;
    SELECT * INTO owner_role FROM pg_roles r WHERE r.rolname = NEW.owner;
    IF owner_role.oid IS NULL THEN
        -- a restore (pg_dump keeps flows by owner name) where the role is
        -- missing: a superuser keeps the flow, disabled; anyone else errs
        IF NOT elt._writer_is_superuser() THEN
            RAISE EXCEPTION 'role "%" does not exist', NEW.owner USING ERRCODE = 'undefined_object';
        END IF;
        RAISE WARNING 'flow "%" is owned by role "%", which does not exist', NEW.name, NEW.owner
            USING DETAIL = 'The flow is kept, disabled: its runs would have no role to run as.',
                  HINT = format('Create the role, or make an existing role the owner, then enable the flow: UPDATE elt.flows SET owner = ..., enabled = true WHERE name = %L AND owner = %L.',
                                NEW.name, NEW.owner);
        NEW.enabled := false;
        RETURN NEW;
    END IF;
    IF NOT pg_has_role(owner_role.oid, 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to make role "%" the owner of flow "%"', NEW.owner, NEW.name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A flow can be owned only by a role the current user is a member of.';
    END IF;
    IF NOT owner_role.rolcanlogin AND elt._writer_is_superuser() THEN
        RAISE WARNING 'flow owner "%" cannot log in', NEW.owner
            USING HINT = elt._kept_disabled_hint(NEW.name, NEW.owner);
        NEW.enabled := false;
    ELSIF NOT owner_role.rolcanlogin THEN
        RAISE EXCEPTION 'flow owner "%" cannot log in', NEW.owner
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'Flow runs execute in a background worker connected as the flow''s owner; PostgreSQL 15 lets background workers connect only as roles with LOGIN.',
                  HINT = format('Give the role LOGIN (ALTER ROLE %s LOGIN) or make a login role the owner.', quote_ident(NEW.owner));
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
    RETURN NEW;
END
$$;

-- When a flow runs: its schedule and time zone, and the server's limits
-- on schedules and priorities (pg_elt.min_schedule_interval,
-- pg_elt.max_priority) for its owner.
CREATE FUNCTION elt._check_flow_schedule() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tz text := coalesce(NEW.timezone, current_setting('pg_elt.timezone', true), 'UTC');
    owner_changed boolean := TG_OP = 'INSERT' OR NEW.owner IS DISTINCT FROM OLD.owner;
    owner_oid oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = NEW.owner);
BEGIN
    IF owner_oid IS NULL THEN
        RETURN NEW;             -- kept disabled by _check_flow, with a warning
    END IF;
    IF NEW.timezone IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = NEW.timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%" for flow "%"', NEW.timezone, NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, e.g. Europe/Paris or UTC.';
    END IF;
    BEGIN
        PERFORM elt._check_flow_limits(owner_oid,
            CASE WHEN owner_changed OR NEW.priority IS DISTINCT FROM OLD.priority THEN NEW.priority END,
            CASE WHEN owner_changed OR NEW.schedule IS DISTINCT FROM OLD.schedule
                      OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN NEW.schedule END,
            tz);
    EXCEPTION WHEN insufficient_privilege THEN
        IF NOT elt._writer_is_superuser() THEN
            RAISE;
        END IF;
        RAISE WARNING '%', SQLERRM USING HINT = elt._kept_disabled_hint(NEW.name, NEW.owner);
        NEW.enabled := false;
    END;
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
CREATE TRIGGER check_flow_schedule BEFORE INSERT OR UPDATE ON elt.flows
    FOR EACH ROW EXECUTE FUNCTION elt._check_flow_schedule();

/* ------------------------------------------------------------------
 * Runs are made, and state changes announced, in one place each: by C
 * (flow_run, flow_submit) and by SQL (schedules, re-runs) alike
 * ------------------------------------------------------------------ */

-- Tells listeners on channel pg_elt of a state change, when it commits.
-- (The hot functions the runtime calls are plpgsql, whose plans a session
-- keeps: an SQL function with a SET clause is planned at every call.)
CREATE FUNCTION elt._notify(run_id bigint, task text, state text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_notify('pg_elt',
                      format('{"run_id": %s, "flow": %s%s, "state": %s}', _notify.run_id,
                             to_json((SELECT r.flow FROM elt.flow_runs r WHERE r.run_id = _notify.run_id))::text,
                             CASE WHEN _notify.task IS NOT NULL THEN ', "task": ' || to_json(_notify.task)::text ELSE '' END,
                             to_json(_notify.state)::text));
END
$$;
REVOKE EXECUTE ON FUNCTION elt._notify(bigint, text, text) FROM PUBLIC;

-- Makes a run of the flow: running in the calling worker (flow_run), or
-- pending until run_at; a retry of retry_of, a subflow of parent_run's
-- parent_task.  A run refreshes the cache when asked to, or when the run
-- it is a subflow or a retry of does.  NULL when the flow is gone.
CREATE FUNCTION elt._create_run(flow text, owner name, params jsonb, run_at timestamptz,
                                trigger text, running_here boolean,
                                attempt integer DEFAULT 1, retry_of bigint DEFAULT NULL,
                                priority integer DEFAULT NULL,
                                parent_run bigint DEFAULT NULL, parent_task text DEFAULT NULL,
                                refresh_cache boolean DEFAULT NULL)
    RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id bigint;
BEGIN
    INSERT INTO elt.flow_runs AS r (flow, owner, params, run_at, trigger, priority, attempt, retry_of,
                                    parent_run, parent_task, refresh_cache, state, worker_pid, started_at)
    SELECT f.name, f.owner, _create_run.params, _create_run.run_at, _create_run.trigger,
           coalesce(_create_run.priority, f.priority), _create_run.attempt, _create_run.retry_of,
           _create_run.parent_run, _create_run.parent_task,
           coalesce(_create_run.refresh_cache,
                    (SELECT o.refresh_cache FROM elt.flow_runs o
                      WHERE o.run_id IN (_create_run.parent_run, _create_run.retry_of) ORDER BY o.refresh_cache DESC LIMIT 1),
                    false),
           CASE WHEN running_here THEN 'running' ELSE 'pending' END,
           CASE WHEN running_here THEN pg_backend_pid() END,
           CASE WHEN running_here THEN clock_timestamp() END
      FROM elt.flows f WHERE f.name = _create_run.flow AND f.owner = _create_run.owner
    RETURNING r.run_id INTO id;
    IF id IS NOT NULL THEN
        PERFORM elt._notify(id, NULL, CASE WHEN running_here THEN 'running' ELSE 'pending' END);
    END IF;
    RETURN id;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._create_run(text, name, jsonb, timestamptz, text, boolean, integer, bigint, integer, bigint, text, boolean) FROM PUBLIC;

-- The names of states, as the library spells them (src/states.c).
CREATE FUNCTION elt._states() RETURNS text[]
    AS 'MODULE_PATHNAME', 'elt_states' LANGUAGE C IMMUTABLE
    SET search_path = pg_catalog, pg_temp;

/*
 * A wake-up of the scheduler costs what is due, not what is scheduled: each
 * enabled, scheduled flow has a row in elt.schedule_slots, kept by a trigger
 * and found by its next slot through an index.  A row the trigger writes is
 * dirty (next_slot -infinity): due at once, for the scheduler to compute.
 */
CREATE INDEX schedule_slots_due ON elt.schedule_slots (next_slot);

-- Runs as the extension's owner: the row it writes is that of the flow
-- the caller was allowed to change.  It fires on every UPDATE, since the
-- checks before it may disable a flow whatever the statement set.
CREATE FUNCTION elt._keep_schedule_slot() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT (NEW.enabled AND NEW.schedule IS NOT NULL) THEN
        -- disabled or unscheduled flows start afresh when scheduled again
        IF TG_OP = 'UPDATE' AND OLD.enabled AND OLD.schedule IS NOT NULL THEN
            DELETE FROM elt.schedule_slots WHERE flow = NEW.name AND owner = NEW.owner;
        END IF;
    ELSIF TG_OP = 'INSERT' OR NOT OLD.enabled OR OLD.schedule IS NULL
          OR NEW.schedule IS DISTINCT FROM OLD.schedule OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN
        INSERT INTO elt.schedule_slots (flow, owner, schedule, timezone, next_slot)
        VALUES (NEW.name, NEW.owner, NEW.schedule,
                coalesce(NEW.timezone, current_setting('pg_elt.timezone')), '-infinity')
        ON CONFLICT (flow, owner) DO UPDATE
           SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, next_slot = EXCLUDED.next_slot;
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._keep_schedule_slot() FROM PUBLIC;
CREATE TRIGGER keep_schedule_slot AFTER INSERT OR UPDATE ON elt.flows
    FOR EACH ROW EXECUTE FUNCTION elt._keep_schedule_slot();

/*
 * The slots made right with the flows, in one pass over all of them: when
 * the scheduler starts (after an upgrade or a restore, whose rows no trigger
 * saw), when the configuration is reloaded (pg_elt.timezone), and once a
 * minute, with the flows of dropped owners disabled.  A slot locked by an
 * open transaction (a user's change of the flow) is skipped, not waited
 * for: the trigger of that change writes it.
 */
CREATE FUNCTION elt._sync_schedule_slots() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET lock_timeout = '2s' AS $$
BEGIN
    PERFORM elt._disable_orphaned_flows();
    DELETE FROM elt.schedule_slots s
     WHERE s.ctid IN (SELECT x.ctid FROM elt.schedule_slots x
                       WHERE NOT EXISTS (SELECT 1 FROM elt.flows f
                                          WHERE f.name = x.flow AND f.owner = x.owner
                                            AND f.enabled AND f.schedule IS NOT NULL)
                         FOR UPDATE SKIP LOCKED);
    UPDATE elt.schedule_slots s
       SET schedule = f.schedule, timezone = coalesce(f.timezone, current_setting('pg_elt.timezone')),
           next_slot = '-infinity'
      FROM elt.flows f
     WHERE f.name = s.flow AND f.owner = s.owner
       AND s.ctid IN (SELECT x.ctid FROM elt.schedule_slots x JOIN elt.flows g
                          ON g.name = x.flow AND g.owner = x.owner
                       WHERE x.schedule IS DISTINCT FROM g.schedule
                          OR x.timezone IS DISTINCT FROM coalesce(g.timezone, current_setting('pg_elt.timezone'))
                         FOR UPDATE OF x SKIP LOCKED);
    INSERT INTO elt.schedule_slots (flow, owner, schedule, timezone, next_slot)
    SELECT f.name, f.owner, f.schedule, coalesce(f.timezone, current_setting('pg_elt.timezone')), '-infinity'
      FROM elt.flows f
     WHERE f.enabled AND f.schedule IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM elt.schedule_slots x WHERE x.flow = f.name AND x.owner = f.owner)
    ON CONFLICT (flow, owner) DO NOTHING;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._sync_schedule_slots() FROM PUBLIC;

-- The scheduler's claim of runs due, each round: plpgsql, for a kept plan.
CREATE OR REPLACE FUNCTION elt._claim_runs(n integer) RETURNS TABLE (run_id bigint, owner oid)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    UPDATE elt.flow_runs r SET state = 'running'
     WHERE r.run_id IN (SELECT q.run_id FROM elt.flow_runs q
                         WHERE q.state = 'pending' AND q.run_at <= clock_timestamp()
                           AND EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = q.owner)
                         ORDER BY q.run_at, q.priority DESC, q.run_id
                         LIMIT _claim_runs.n FOR UPDATE SKIP LOCKED)
    RETURNING r.run_id, (SELECT a.oid FROM pg_roles a WHERE a.rolname = r.owner);
END
$$;

/*
 * Queues runs for due slots and computes dirty ones; returns the next slot.
 * Each due slot is locked as it is read (one that an open transaction
 * holds, a change of its flow, is left for the next round), and its flow
 * read after: the two are as that change committed them.
 */
CREATE OR REPLACE FUNCTION elt._fire_schedules() RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    slot record;
    sched record;
    now_ts timestamptz := clock_timestamp();
    nxt timestamptz;
    active integer;
    skipped text;
BEGIN
    FOR slot IN
        SELECT s.flow, s.owner, s.schedule, s.timezone, s.next_slot
          FROM elt.schedule_slots s
         WHERE s.next_slot <= now_ts
         ORDER BY s.next_slot
           FOR UPDATE SKIP LOCKED
    LOOP
      SELECT fl.name, fl.schedule, fl.catchup, fl.max_active_runs, fl.params, fl.owner,
             coalesce(fl.timezone, current_setting('pg_elt.timezone')) AS tz
        INTO sched
        FROM elt.flows fl
       WHERE fl.name = slot.flow AND fl.owner = slot.owner AND fl.enabled AND fl.schedule IS NOT NULL;
      IF NOT FOUND THEN
          -- a slot no trigger dropped (a restore with triggers off, say)
          DELETE FROM elt.schedule_slots WHERE flow = slot.flow AND owner = slot.owner;
          CONTINUE;
      END IF;
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = sched.owner) THEN
            PERFORM elt._disable_orphaned_flows();	-- which drops the slot
        ELSIF slot.next_slot = '-infinity' OR slot.schedule IS DISTINCT FROM sched.schedule
              OR slot.timezone IS DISTINCT FROM sched.tz THEN
            UPDATE elt.schedule_slots
               SET schedule = sched.schedule, timezone = sched.tz,
                   next_slot = elt.schedule_next(sched.schedule, now_ts, sched.tz)
             WHERE flow = sched.name AND owner = sched.owner;
        ELSE
            skipped := NULL;
            SELECT count(*) INTO active FROM elt.flow_runs r
             WHERE r.flow = sched.name AND r.owner = sched.owner AND r.state IN ('pending', 'running');
            IF now_ts - slot.next_slot > interval '1 minute' AND NOT sched.catchup THEN
                skipped := format('slot %s skipped: it was missed (pg_elt was not running) and catchup is off', slot.next_slot);
            ELSIF active >= sched.max_active_runs THEN
                skipped := format('slot %s skipped: %s run(s) of the flow still active (max_active_runs %s)',
                                  slot.next_slot, active, sched.max_active_runs);
            END IF;
            IF skipped IS NOT NULL THEN
                INSERT INTO elt.logs (flow, owner, logged_at, level, message)
                VALUES (sched.name, sched.owner, now_ts, 'warning', skipped);
                PERFORM elt._queue_event('slot_skipped', sched.name, sched.owner, NULL,
                    jsonb_build_object('event', 'slot_skipped', 'flow', sched.name, 'owner', sched.owner,
                                       'database', current_database(), 'slot', slot.next_slot,
                                       'message', skipped));
            ELSE
                PERFORM elt._create_run(sched.name, sched.owner, sched.params, slot.next_slot,
                                        'schedule', false);
            END IF;
            nxt := elt.schedule_next(sched.schedule, now_ts, sched.tz);
            UPDATE elt.schedule_slots SET last_slot = next_slot, next_slot = nxt
             WHERE flow = sched.name AND owner = sched.owner;
        END IF;
      EXCEPTION WHEN OTHERS THEN
        -- one broken schedule must not stop the others: park it until it changes
        UPDATE elt.schedule_slots SET schedule = sched.schedule, timezone = sched.tz, next_slot = 'infinity'
         WHERE flow = sched.name AND owner = sched.owner;
        INSERT INTO elt.logs (flow, owner, logged_at, level, sqlstate, message)
        VALUES (sched.name, sched.owner, clock_timestamp(), 'warning', SQLSTATE,
                'schedule disabled until it is changed: ' || SQLERRM);
      END;
    END LOOP;
    RETURN coalesce((SELECT min(next_slot) FROM elt.schedule_slots), 'infinity');
END
$$;

-- Runs whose worker is gone become crashed; flows with retries run again.
CREATE OR REPLACE FUNCTION elt._recover_runs(at_start boolean, gone bigint[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
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
        IF current_setting('pg_elt.log_runs', true) IS DISTINCT FROM 'none' THEN
            -- (its worker, which would have said how it ended, is gone)
            RAISE LOG 'pg_elt: run % of flow "%" of role "%" in database "%" crashed: %',
                r.run_id, r.flow, r.owner, current_database(), r.message;
        END IF;
        PERFORM elt._notify(r.run_id, NULL, 'crashed');
        SELECT f.retries INTO flow_retries FROM elt.flows f WHERE f.name = r.flow AND f.owner = r.owner;
        IF flow_retries IS NOT NULL AND r.attempt <= flow_retries THEN
            PERFORM elt._create_run(r.flow, r.owner, r.params, clock_timestamp(), 'retry', false,
                                    r.attempt + 1, r.run_id, r.priority);
            INSERT INTO elt.logs (run_id, flow, logged_at, level, message)
            VALUES (r.run_id, r.flow, clock_timestamp(), 'info',
                    format('queued a re-run (attempt %s of %s)', r.attempt + 1, flow_retries + 1));
        END IF;
    END LOOP;
    RETURN n;
END
$$;

/* ------------------------------------------------------------------
 * Task inputs and results
 * ------------------------------------------------------------------ */

ALTER TABLE elt.task_runs ADD COLUMN inputs jsonb, ADD COLUMN result jsonb;
ALTER TABLE elt.flow_runs ADD COLUMN parent_run bigint, ADD COLUMN parent_task text;
ALTER TABLE elt.tasks ADD COLUMN for_each text;
COMMENT ON COLUMN elt.tasks.for_each IS
    'a JSON array, or a template that gives one (:months): the task runs once per element, bound as :item (an object''s keys too), as task[1], task[2], ...; for an extract, ''files'': once per object its url lists';
COMMENT ON COLUMN elt.flow_runs.parent_run IS 'with parent_task: the run and task this run is a subflow of';
COMMENT ON COLUMN elt.task_runs.inputs IS
    'what the attempt ran, after substitution: {"sql": ...}, or an extract''s config with the URL''s credentials removed and header values masked';
COMMENT ON COLUMN elt.task_runs.result IS
    'what a completed attempt gave back: an extract''s rows, bytes, url, table and the source''s validators; a SQL task''s first row of its last statement that returned rows (at most 64 kB); downstream templates see it under the task''s name';

CREATE OR REPLACE VIEW elt.task_attempts WITH (security_invoker = true) AS
    SELECT t.run_id, r.flow, t.task, t.attempt, t.state, t.rows_loaded,
           t.bytes, t.started_at, t.ended_at, t.duration, t.sqlstate, t.message AS error,
           t.inputs, t.result
      FROM elt.task_runs t JOIN elt.flow_runs r USING (run_id);

/* ------------------------------------------------------------------
 * The names a task's templates may use: the flow's parameters and the
 * tasks upstream of it (their results).  Checked by a trigger of its own,
 * so that _check_task keeps to the task's own columns.
 * ------------------------------------------------------------------ */

-- The tasks a task with these dependencies is downstream of.
CREATE FUNCTION elt._json_or_null(value text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN value::jsonb;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

CREATE FUNCTION elt._upstream_tasks(flow text, owner name, depends_on text[]) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE up(name) AS (
        SELECT d FROM unnest(depends_on) d
        UNION
        SELECT d FROM up JOIN elt.tasks t ON t.flow = _upstream_tasks.flow
                                         AND t.owner = _upstream_tasks.owner AND t.name = up.name,
                      unnest(t.depends_on) d
    )
    SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM up
$$;

CREATE OR REPLACE FUNCTION elt._check_task() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.owner IS NULL THEN
        NEW.owner := elt._flow_owner(NEW.flow, (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user));
        IF NEW.owner IS NULL THEN
            RAISE EXCEPTION 'flow "%" does not exist', NEW.flow
                USING ERRCODE = 'foreign_key_violation',
                      HINT = 'Insert the flow into elt.flows first.';
        END IF;
    END IF;
    IF NEW.name IS NULL OR NEW.name = '' THEN
        RAISE EXCEPTION 'a task of flow "%" needs a name', NEW.flow
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.kind IS NULL OR NEW.kind NOT IN ('extract', 'sql', 'flow') THEN
        RAISE EXCEPTION 'unknown kind "%" for task "%" of flow "%"', NEW.kind, NEW.name, NEW.flow
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Task kinds are extract, sql and flow.';
    END IF;
    IF NEW.kind = 'flow' AND (jsonb_typeof(NEW.config -> 'flow') IS DISTINCT FROM 'string'
                              OR NEW.config ? 'params' AND jsonb_typeof(NEW.config -> 'params') <> 'object') THEN
        RAISE EXCEPTION 'flow task "%" of flow "%" needs a config like {"flow": "name", "params": {...}}', NEW.name, NEW.flow
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The subflow''s name and params may use the parent''s parameters (:name).';
    END IF;
    IF NEW.kind = 'sql' AND (NEW.sql IS NULL OR btrim(NEW.sql) = '') THEN
        RAISE EXCEPTION 'sql task "%" of flow "%" has no SQL', NEW.name, NEW.flow
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Put the statements to run in the sql column.';
    END IF;
    IF NEW.kind = 'extract' THEN
        PERFORM elt._check_extract_config(NEW.config);
    END IF;
    -- JSON must be an array; anything else must be a template (:months), or
    -- 'files' for an extract: an instance per object its url lists
    IF NEW.for_each = 'files' AND NEW.kind <> 'extract' THEN
        RAISE EXCEPTION 'task "%" of flow "%" maps over files, which only an extract task can', NEW.name, NEW.flow
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'for_each ''files'' runs an instance per object an extract''s s3:// or gs:// url lists.';
    END IF;
    IF NEW.for_each IS NOT NULL AND NEW.for_each <> 'files'
       AND (CASE WHEN elt._json_or_null(NEW.for_each) IS NOT NULL
                 THEN jsonb_typeof(elt._json_or_null(NEW.for_each)) <> 'array'
                 ELSE NEW.for_each NOT LIKE '%:%' END) THEN
        RAISE EXCEPTION 'for_each of task "%" of flow "%" is not a JSON array', NEW.name, NEW.flow
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write a JSON array (''[1, 2, 3]''), or a parameter that holds one (:months).';
    END IF;
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
    IF NEW.cache_expiration IS NOT NULL AND NEW.cache_expiration <= '0' THEN
        RAISE EXCEPTION 'cache_expiration of task "%" must be positive', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is how long a result is kept, e.g. ''1 day''; NULL turns caching off.';
    END IF;
    IF NEW.cache_key IS NOT NULL AND NEW.cache_expiration IS NULL THEN
        RAISE EXCEPTION 'task "%" of flow "%" has a cache_key but no cache_expiration', NEW.name, NEW.flow
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set cache_expiration (e.g. ''1 day'') to cache the task''s result.';
    END IF;
    IF NEW.cache_key IS NOT NULL AND btrim(NEW.cache_key) = '' THEN
        RAISE EXCEPTION 'cache_key of task "%" is empty', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write a template such as :''url'', or NULL for the default key (the task''s inputs and upstream results).';
    END IF;
    RETURN NEW;
END
$$;

-- A subflow named as written (not by a template, which only a run can
-- resolve) must be a flow its owner may run, and must not lead back to
-- the flow: runs catch what this cannot see, by a depth limit.
CREATE FUNCTION elt._check_subflow(flow text, owner name, task text, child text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    who oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = owner);
    path text[];
BEGIN
    IF child LIKE '%:%' THEN
        RETURN;
    END IF;
    IF child <> flow AND elt._flow_owner(child, who) IS NULL THEN
        RAISE EXCEPTION 'task "%" of flow "%" runs flow "%", which does not exist for role "%"', task, flow, child, owner
            USING ERRCODE = 'undefined_object', HINT = 'Create the subflow first.';
    END IF;
    WITH RECURSIVE walk(f, path) AS (
        SELECT child, ARRAY[flow, child]
        UNION ALL
        SELECT t.config ->> 'flow', w.path || (t.config ->> 'flow')
          FROM walk w JOIN elt.tasks t ON t.flow = w.f AND t.owner = _check_subflow.owner AND t.kind = 'flow'
         WHERE w.f <> _check_subflow.flow AND NOT (t.config ->> 'flow') = ANY (w.path[2:])
    )
    SELECT w.path INTO path FROM walk w WHERE w.f = _check_subflow.flow LIMIT 1;
    IF path IS NOT NULL THEN
        RAISE EXCEPTION 'task "%" of flow "%" makes a cycle of subflows: %', task, flow, array_to_string(path, ' -> ')
            USING ERRCODE = 'invalid_object_definition',
                  HINT = 'A flow may not run itself, directly or through other flows.';
    END IF;
END
$$;

-- Checks a template's references against names (an object: its keys);
-- what names the template in the error.
CREATE FUNCTION elt._check_template(what text, template text, names jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_check_template' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION elt._check_task_references() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    params jsonb := (SELECT f.params FROM elt.flows f WHERE f.name = NEW.flow AND f.owner = NEW.owner);
    names jsonb;
BEGIN
    IF params ? NEW.name THEN
        RAISE EXCEPTION 'task "%" of flow "%" has the name of one of the flow''s parameters', NEW.name, NEW.flow
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'Templates name a parameter and an upstream task''s result the same way (:''name'').',
                  HINT = 'Rename the task or the parameter.';
    END IF;
    IF NEW.kind = 'flow' THEN
        PERFORM elt._check_subflow(NEW.flow, NEW.owner, NEW.name, NEW.config ->> 'flow');
    END IF;
    -- a credential named as written must be one the owner may use (a
    -- superuser's restore keeps the task: pg_dump leaves credentials out)
    IF NEW.kind = 'extract' AND jsonb_typeof(NEW.config -> 'credential') = 'string'
       AND NEW.config ->> 'credential' NOT LIKE '%:%' THEN
        BEGIN
            PERFORM elt._check_credential(NEW.owner, NEW.config ->> 'credential', coalesce(NEW.config ->> 'url', ''));
        EXCEPTION WHEN undefined_object OR insufficient_privilege OR wrong_object_type THEN
            IF NOT elt._writer_is_superuser() THEN
                RAISE;
            END IF;
            RAISE WARNING '%', SQLERRM
                USING HINT = 'pg_dump does not keep credentials: make it with elt.create_credential before the flow runs.';
        END;
    END IF;
    -- a mapped task also sees :item, and the keys of the objects it maps over
    names := params || coalesce((SELECT jsonb_object_agg(u, true)
                              FROM unnest(elt._upstream_tasks(NEW.flow, NEW.owner, NEW.depends_on)) u), '{}')
               || CASE WHEN NEW.for_each IS NULL THEN '{}'::jsonb ELSE '{"item": true}'::jsonb END
               || coalesce((SELECT jsonb_object_agg(k, true)
                              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(elt._json_or_null(NEW.for_each)) = 'array'
                                                             THEN elt._json_or_null(NEW.for_each) END) e,
                                   jsonb_object_keys(CASE WHEN jsonb_typeof(e) = 'object' THEN e ELSE '{}' END) k), '{}');
    PERFORM elt._check_task_templates(NEW.name, NEW.sql, names);
    PERFORM elt._check_template(format('the cache_key of task "%s"', NEW.name), NEW.cache_key, names);
    RETURN NEW;
END
$$;
CREATE TRIGGER check_task_references BEFORE INSERT OR UPDATE ON elt.tasks
    FOR EACH ROW EXECUTE FUNCTION elt._check_task_references();

-- A parameter may not take the name of one of the flow's tasks.
CREATE FUNCTION elt._check_flow_names() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    clash text := (SELECT t.name FROM elt.tasks t
                    WHERE t.flow = NEW.name AND t.owner = NEW.owner AND NEW.params ? t.name
                    ORDER BY 1 LIMIT 1);
BEGIN
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'parameter "%" of flow "%" has the name of one of its tasks', clash, NEW.name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'Templates name a parameter and an upstream task''s result the same way (:''name'').',
                  HINT = 'Rename the task or the parameter.';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_flow_names BEFORE UPDATE OF params ON elt.flows
    FOR EACH ROW EXECUTE FUNCTION elt._check_flow_names();

-- 0.4 refuses a task named like a parameter of its flow: say which are.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tk.flow, tk.name FROM elt.tasks tk JOIN elt.flows f ON f.name = tk.flow AND f.owner = tk.owner
              WHERE f.params ? tk.name
    LOOP
        RAISE WARNING 'task "%" of flow "%" has the name of a parameter of the flow', t.name, t.flow
            USING HINT = 'From 0.4 on, templates see upstream tasks'' results by name: rename the task or the parameter.';
    END LOOP;
END
$$;

/* ------------------------------------------------------------------
 * Retry from failure: a re-run takes over the results of the tasks that
 * completed in the run it retries (flow_retry, and re-runs of crashed
 * runs), and runs only the others.
 * ------------------------------------------------------------------ */

CREATE FUNCTION elt._reuse_results(run bigint) RETURNS SETOF text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM elt.flow_runs r WHERE r.run_id = _reuse_results.run AND r.retry_of IS NOT NULL) THEN
        RETURN;				-- not a re-run: the common case, made cheap
    END IF;
    RETURN QUERY
    WITH old AS (
        SELECT DISTINCT ON (t.task) t.*
          FROM elt.task_runs t JOIN elt.flow_runs r ON t.run_id = r.retry_of
         WHERE r.run_id = _reuse_results.run AND t.state IN ('completed', 'cached')
         ORDER BY t.task, t.attempt DESC),
    -- the flow's tasks have their rows already; instances of mapped ones get theirs
    taken AS (
        UPDATE elt.task_runs n
           SET state = 'completed', rows_loaded = o.rows_loaded, bytes = o.bytes,
               inputs = o.inputs, result = o.result,
               message = format('the result of run %s, reused', o.run_id),
               started_at = clock_timestamp(), ended_at = clock_timestamp()
          FROM old o
         WHERE n.run_id = _reuse_results.run AND n.attempt = 1 AND n.task = o.task
        RETURNING n.task),
    added AS (
        INSERT INTO elt.task_runs (run_id, task, attempt, state, rows_loaded, bytes, inputs, result,
                                   message, started_at, ended_at)
        SELECT _reuse_results.run, o.task, 1, 'completed', o.rows_loaded, o.bytes, o.inputs, o.result,
               format('the result of run %s, reused', o.run_id), clock_timestamp(), clock_timestamp()
          FROM old o
         WHERE NOT EXISTS (SELECT 1 FROM elt.task_runs x
                            WHERE x.run_id = _reuse_results.run AND x.task = o.task)
        RETURNING task)
    SELECT t.task FROM taken t UNION ALL SELECT a.task FROM added a;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._reuse_results(bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.flow_retry(run_id bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'elt_flow_retry'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.flow_retry(bigint) IS
    'a new run of a failed, crashed or cancelled run: completed tasks keep their results, the others run; returns its id';

/* ------------------------------------------------------------------
 * A short API over the rows, in the manner of pg_cron and pg_timetable:
 * each function writes the rows a user could write (and still edit) in
 * elt.flows and elt.tasks, with the caller's rights, through the same
 * triggers.  A flow is named as flow_run names it (the caller's own, else
 * the one of that name among the roles the caller is a member of).
 * ------------------------------------------------------------------ */

-- The owner of the flow the caller calls name, or an error.
CREATE FUNCTION elt._resolve_flow(flow text) RETURNS name
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner name := elt._flow_owner(flow, (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user));
BEGIN
    IF owner IS NULL THEN
        RAISE EXCEPTION 'flow "%" does not exist', flow
            USING ERRCODE = 'undefined_object', HINT = 'elt.create_flow makes one.';
    END IF;
    RETURN owner;
END
$$;

-- Inserts (key NULL) or updates (the row whose columns match key) a row of
-- tbl, writing the columns of cols: those absent keep their defaults or
-- values.  Returns the rows written.
CREATE FUNCTION elt._write_row(tbl regclass, cols jsonb, key jsonb) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    names text := (SELECT string_agg(quote_ident(k), ', ' ORDER BY k) FROM jsonb_object_keys(cols) k);
    vals text := (SELECT string_agg('c.' || quote_ident(k), ', ' ORDER BY k) FROM jsonb_object_keys(cols) k);
    n bigint;
BEGIN
    IF key IS NULL THEN
        EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1) c',
                       tbl, names, vals, tbl) USING cols;
    ELSIF names IS NULL THEN
        RETURN 0;
    ELSE
        EXECUTE format('UPDATE %s t SET (%s) = ROW(%s) FROM jsonb_populate_record(NULL::%s, $1) c,'
                       ' jsonb_populate_record(NULL::%s, $2) k WHERE %s',
                       tbl, names, vals, tbl, tbl,
                       (SELECT string_agg(format('t.%I = k.%I', x, x), ' AND ') FROM jsonb_object_keys(key) x))
            USING cols, key;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE FUNCTION elt.create_flow(name text, params jsonb DEFAULT NULL, schedule text DEFAULT NULL,
                                timezone text DEFAULT NULL, retries integer DEFAULT NULL,
                                timeout interval DEFAULT NULL, max_active_runs integer DEFAULT NULL,
                                priority integer DEFAULT NULL, catchup boolean DEFAULT NULL,
                                description text DEFAULT NULL, owner name DEFAULT NULL)
    RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT elt._write_row('elt.flows', jsonb_strip_nulls(jsonb_build_object(
        'name', name, 'params', params, 'schedule', schedule, 'timezone', timezone,
        'retries', retries, 'timeout', timeout, 'max_active_runs', max_active_runs,
        'priority', priority, 'catchup', catchup, 'description', description, 'owner', owner)), NULL);
$$;

-- Changes what is given; NULL leaves a column as it is (elt.unschedule
-- clears a schedule).
CREATE FUNCTION elt.alter_flow(name text, params jsonb DEFAULT NULL, schedule text DEFAULT NULL,
                               timezone text DEFAULT NULL, retries integer DEFAULT NULL,
                               timeout interval DEFAULT NULL, max_active_runs integer DEFAULT NULL,
                               priority integer DEFAULT NULL, catchup boolean DEFAULT NULL,
                               description text DEFAULT NULL, owner name DEFAULT NULL,
                               enabled boolean DEFAULT NULL)
    RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT elt._write_row('elt.flows', jsonb_strip_nulls(jsonb_build_object(
        'params', params, 'schedule', schedule, 'timezone', timezone,
        'retries', retries, 'timeout', timeout, 'max_active_runs', max_active_runs,
        'priority', priority, 'catchup', catchup, 'description', description, 'owner', owner,
        'enabled', enabled)),
        jsonb_build_object('name', name, 'owner', elt._resolve_flow(name)));
$$;

-- (the owner is resolved first, so that a missing flow is an error)
CREATE FUNCTION elt.drop_flow(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    flow_owner name := elt._resolve_flow(name);
BEGIN
    DELETE FROM elt.flows f WHERE f.name = drop_flow.name AND f.owner = flow_owner;
END
$$;

CREATE FUNCTION elt.schedule(flow text, schedule text, timezone text DEFAULT NULL) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT elt.alter_flow(flow, schedule => schedule, timezone => timezone);
$$;

CREATE FUNCTION elt.unschedule(flow text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    flow_owner name := elt._resolve_flow(flow);
BEGIN
    UPDATE elt.flows f SET schedule = NULL WHERE f.name = unschedule.flow AND f.owner = flow_owner;
END
$$;

CREATE FUNCTION elt.enable(flow text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT elt.alter_flow(flow, enabled => true);
$$;

CREATE FUNCTION elt.disable(flow text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT elt.alter_flow(flow, enabled => false);
$$;

CREATE FUNCTION elt.add_task(flow text, name text, kind text, sql text DEFAULT NULL,
                             config jsonb DEFAULT NULL, depends_on text[] DEFAULT NULL,
                             tags text[] DEFAULT NULL, retries integer DEFAULT NULL,
                             retry_delay interval DEFAULT NULL, retry_backoff double precision DEFAULT NULL,
                             timeout interval DEFAULT NULL, description text DEFAULT NULL,
                             for_each text DEFAULT NULL, cache_expiration interval DEFAULT NULL,
                             cache_key text DEFAULT NULL)
    RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT elt._write_row('elt.tasks', jsonb_strip_nulls(jsonb_build_object(
        'flow', flow, 'owner', elt._resolve_flow(flow), 'name', name, 'kind', kind, 'sql', sql,
        'config', config, 'depends_on', depends_on, 'tags', tags, 'retries', retries,
        'retry_delay', retry_delay, 'retry_backoff', retry_backoff, 'timeout', timeout,
        'description', description, 'for_each', for_each, 'cache_expiration', cache_expiration,
        'cache_key', cache_key)), NULL);
$$;

CREATE FUNCTION elt.alter_task(flow text, name text, sql text DEFAULT NULL,
                               config jsonb DEFAULT NULL, depends_on text[] DEFAULT NULL,
                               tags text[] DEFAULT NULL, retries integer DEFAULT NULL,
                               retry_delay interval DEFAULT NULL, retry_backoff double precision DEFAULT NULL,
                               timeout interval DEFAULT NULL, description text DEFAULT NULL,
                               for_each text DEFAULT NULL, cache_expiration interval DEFAULT NULL,
                               cache_key text DEFAULT NULL)
    RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF elt._write_row('elt.tasks', jsonb_strip_nulls(jsonb_build_object(
            'sql', sql, 'config', config, 'depends_on', depends_on, 'tags', tags, 'retries', retries,
            'retry_delay', retry_delay, 'retry_backoff', retry_backoff, 'timeout', timeout,
            'description', description, 'for_each', for_each, 'cache_expiration', cache_expiration,
            'cache_key', cache_key)),
            jsonb_build_object('flow', flow, 'owner', elt._resolve_flow(flow), 'name', name)) = 0
       AND NOT EXISTS (SELECT 1 FROM elt.tasks t
                        WHERE t.flow = alter_task.flow AND t.name = alter_task.name
                          AND t.owner = elt._resolve_flow(alter_task.flow)) THEN
        RAISE EXCEPTION 'flow "%" has no task "%"', flow, name USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE FUNCTION elt.drop_task(flow text, name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    flow_owner name := elt._resolve_flow(flow);
BEGIN
    DELETE FROM elt.tasks t
     WHERE t.flow = drop_task.flow AND t.name = drop_task.name AND t.owner = flow_owner;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'flow "%" has no task "%"', flow, name USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

-- One's own history: ended runs (with their attempts and log lines) that
-- ended before older_than ago, of one flow or all.  Runs that are pending
-- or running are the runtime's, and stay.
CREATE POLICY flow_runs_owner_purge ON elt.flow_runs FOR DELETE
    USING (owner IN (SELECT elt._member_roles()) AND state IN ('completed', 'failed', 'cancelled', 'crashed'));
GRANT DELETE ON elt.flow_runs TO PUBLIC;

CREATE FUNCTION elt.purge_history(older_than interval DEFAULT '0', flow text DEFAULT NULL)
    RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (
        DELETE FROM elt.flow_runs r
         WHERE r.state IN ('completed', 'failed', 'cancelled', 'crashed')
           AND r.ended_at < clock_timestamp() - older_than
           AND (purge_history.flow IS NULL OR r.flow = purge_history.flow)
        RETURNING 1)
    SELECT count(*) FROM gone;
$$;

/* ------------------------------------------------------------------
 * Seeing a flow and a run: the task graph as Graphviz DOT and Mermaid,
 * and a run's attempts as a text Gantt chart (psql, pgAdmin's grid).
 * ------------------------------------------------------------------ */

CREATE FUNCTION elt.flow_graph(flow text, OUT dot text, OUT mermaid text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    flow_owner name := elt._resolve_flow(flow);
BEGIN
    WITH t AS (
        SELECT tk.name, tk.kind, tk.depends_on, row_number() OVER (ORDER BY tk.name) AS n
          FROM elt.tasks tk
         WHERE tk.flow = flow_graph.flow AND tk.owner = flow_owner),
    e AS (
        SELECT d.n AS from_n, d.name AS from_name, t.n AS to_n, t.name AS to_name
          FROM t, unnest(t.depends_on) dep JOIN t d ON d.name = dep)
    SELECT
        format(E'digraph %s {\n  rankdir=LR;\n  node [shape=box];\n%s%s}\n',
               to_json(flow_graph.flow),
               (SELECT string_agg(format(E'  %s [label=%s];\n', to_json(name), to_json(name || E'\n(' || kind || ')')), '' ORDER BY n) FROM t),
               coalesce((SELECT string_agg(format(E'  %s -> %s;\n', to_json(from_name), to_json(to_name)), '' ORDER BY from_n, to_n) FROM e), '')),
        format(E'flowchart LR\n%s%s',
               (SELECT string_agg(format(E'  t%s["%s (%s)"]\n', n, replace(name, '"', '#quot;'), kind), '' ORDER BY n) FROM t),
               coalesce((SELECT string_agg(format(E'  t%s --> t%s\n', from_n, to_n), '' ORDER BY from_n, to_n) FROM e), ''))
      INTO dot, mermaid;
END
$$;
COMMENT ON FUNCTION elt.flow_graph(text) IS
    'the flow''s tasks and dependencies as Graphviz DOT and as Mermaid flowchart text';

-- One row per attempt, in the order they started, with a bar placed and
-- sized on the run's span (width columns): = completed, * cached,
-- x failed, ~ retrying (failed, retried), ! crashed, - cancelled, > still
-- running.
CREATE FUNCTION elt.run_timeline(run_id bigint, width integer DEFAULT 40)
    RETURNS TABLE (task text, attempt integer, state text, started interval, duration interval, bar text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH r AS (
        SELECT min(t.started_at) AS t0,
               greatest(extract(epoch FROM max(coalesce(t.ended_at, clock_timestamp())) - min(t.started_at)), 0.000001) AS span
          FROM elt.task_runs t WHERE t.run_id = run_timeline.run_id AND t.started_at IS NOT NULL),
    a AS (
        SELECT t.task, t.attempt, t.state, t.started_at - r.t0 AS started,
               coalesce(t.ended_at, clock_timestamp()) - t.started_at AS duration,
               floor(extract(epoch FROM t.started_at - r.t0) / r.span * width)::int AS lead,
               greatest(round(extract(epoch FROM coalesce(t.ended_at, clock_timestamp()) - t.started_at)
                              / r.span * width)::int, 1) AS len
          FROM elt.task_runs t, r
         WHERE t.run_id = run_timeline.run_id AND t.started_at IS NOT NULL)
    SELECT a.task, a.attempt, a.state, a.started, a.duration,
           rpad(repeat(' ', least(a.lead, width - 1))
                || repeat(CASE a.state WHEN 'completed' THEN '=' WHEN 'cached' THEN '*' WHEN 'failed' THEN 'x'
                                       WHEN 'retrying' THEN '~' WHEN 'crashed' THEN '!'
                                       WHEN 'cancelled' THEN '-' ELSE '>' END,
                          least(a.len, width - least(a.lead, width - 1))),
                width) AS bar
      FROM a ORDER BY a.started, a.task, a.attempt
$$;
COMMENT ON FUNCTION elt.run_timeline(bigint, integer) IS
    'the run''s attempts as a text Gantt chart: = completed, * cached, x failed, ~ retrying, ! crashed, - cancelled, > running';

/* ------------------------------------------------------------------
 * Pause and resume.  A paused run keeps its worker, and its state in
 * elt.flow_runs stays "running" for the runtime (it is active, it counts
 * against max_active_runs, it is recovered if its worker dies); people
 * see "paused" (elt.runs, flow_wait).
 * ------------------------------------------------------------------ */

ALTER TABLE elt.flow_runs ADD COLUMN paused_at timestamptz, ADD COLUMN pause_until timestamptz;
COMMENT ON COLUMN elt.flow_runs.pause_until IS
    'set by flow_pause: no new task starts until flow_resume, or the run fails at this time (infinity: no timeout)';
COMMENT ON COLUMN elt.flow_runs.paused_at IS 'when the run''s worker paused it (its running tasks had finished)';

CREATE OR REPLACE VIEW elt.runs WITH (security_invoker = true) AS
    SELECT run_id, flow, owner,
           CASE WHEN state = 'running' AND paused_at IS NOT NULL THEN 'paused' ELSE state END AS state,
           trigger, params, run_at, created_at AS submitted_at,
           started_at, ended_at, duration, rows_loaded, attempt, message, parent_run, parent_task
      FROM elt.flow_runs;

CREATE FUNCTION @extschema@.flow_pause(run_id bigint, timeout interval DEFAULT NULL) RETURNS boolean
    AS 'MODULE_PATHNAME', 'elt_flow_pause'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.flow_pause(bigint, interval) IS
    'pause a running run: its running tasks finish, no new one starts, until flow_resume (or it fails after timeout)';
CREATE FUNCTION @extschema@.flow_resume(run_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'elt_flow_resume'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.flow_resume(bigint) IS 'resume a paused run';

/* ------------------------------------------------------------------
 * Caching, as Prefect's cache_key_fn=task_input_hash with
 * cache_expiration: a task with a cache_expiration is skipped, in state
 * cached, while an unexpired entry exists for its key, and hands on the
 * entry's result.  The key is a hash of the task's kind and substituted
 * inputs plus its upstream results, or of its cache_key template.  An
 * extract's entry is also stale when its table was dropped or re-created,
 * or when the source answers a conditional request with anything but 304.
 * Entries belong to the flow's owner: one role's cache never serves
 * another.  Written by the runtime only; owners see and clear theirs.
 * ------------------------------------------------------------------ */

ALTER TABLE elt.tasks ADD COLUMN cache_expiration interval, ADD COLUMN cache_key text;
COMMENT ON COLUMN elt.tasks.cache_expiration IS
    'how long a completed result is reused by later runs (NULL: not cached); see elt.task_cache';
COMMENT ON COLUMN elt.tasks.cache_key IS
    'a template whose substitution is the cache key (NULL: the task''s kind, substituted inputs and upstream results)';

ALTER TABLE elt.task_runs DROP CONSTRAINT task_runs_state_check,
    ADD CONSTRAINT task_runs_state_check
        CHECK (state IN ('pending', 'running', 'retrying', 'completed', 'cached', 'failed', 'cancelled', 'crashed'));
ALTER TABLE elt.flow_runs ADD COLUMN refresh_cache boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN elt.flow_runs.refresh_cache IS
    'the run ignores cache entries, and replaces those of the tasks it completes (flow_run(..., refresh_cache => true))';

CREATE TABLE elt.task_cache (
    owner       name NOT NULL,
    key         text NOT NULL,
    flow        text NOT NULL,
    task        text NOT NULL,
    run_id      bigint NOT NULL,
    rows_loaded bigint,
    bytes       bigint,
    inputs      jsonb,
    result      jsonb,
    target      oid,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX task_cache_expiry ON elt.task_cache (expires_at);
COMMENT ON TABLE elt.task_cache IS
    'pg_elt''s cache of task results, per owner; elt.clear_cache empties it, history pruning drops expired entries';
COMMENT ON COLUMN elt.task_cache.key IS 'SHA-256 (hex) of what identifies the work: see elt.tasks.cache_key';
COMMENT ON COLUMN elt.task_cache.run_id IS 'the run whose attempt made the entry (its history may be gone)';
COMMENT ON COLUMN elt.task_cache.target IS 'an extract''s table as loaded: the entry is stale once the name finds another table, or none';
ALTER TABLE elt.task_cache ENABLE ROW LEVEL SECURITY;
CREATE POLICY task_cache_owner ON elt.task_cache FOR SELECT
    USING (owner IN (SELECT elt._member_roles()));
CREATE POLICY task_cache_owner_clear ON elt.task_cache FOR DELETE
    USING (owner IN (SELECT elt._member_roles()));
GRANT SELECT, DELETE ON elt.task_cache TO PUBLIC;

-- Empties the caller's cache: of one flow, of one task (a mapped task's
-- instances too), or all; returns the entries removed.
CREATE FUNCTION elt.clear_cache(flow text DEFAULT NULL, task text DEFAULT NULL) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (
        DELETE FROM elt.task_cache c
         WHERE (clear_cache.flow IS NULL OR c.flow = clear_cache.flow)
           AND (clear_cache.task IS NULL OR c.task = clear_cache.task
                OR left(c.task, length(clear_cache.task) + 1) = clear_cache.task || '[')
        RETURNING 1)
    SELECT count(*) FROM gone;
$$;
COMMENT ON FUNCTION elt.clear_cache(text, text) IS
    'remove the cache entries of the caller''s flows (one flow''s, one task''s, or all); returns how many';

-- Drops expired cache entries, a batch at a time; the scheduler calls it
-- with elt._prune_history.
CREATE FUNCTION elt._prune_cache() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM elt.task_cache WHERE (owner, key) IN
        (SELECT c.owner, c.key FROM elt.task_cache c WHERE c.expires_at < clock_timestamp() LIMIT 1000);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._prune_cache() FROM PUBLIC;

-- flow_run and flow_submit take the run option refresh_cache.
DROP FUNCTION @extschema@.flow_run(text, jsonb);
CREATE FUNCTION @extschema@.flow_run(flow text, params jsonb DEFAULT '{}',
                                     refresh_cache boolean DEFAULT false,
                                     OUT run_id bigint, OUT state text, OUT message text,
                                     OUT rows_loaded bigint, OUT duration interval)
    RETURNS record
    AS 'MODULE_PATHNAME', 'elt_flow_run'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.flow_run(text, jsonb, boolean) IS
    'run a flow in a background worker as its owner, relaying its log; returns the run''s outcome (refresh_cache: ignore and replace cached results)';
DROP FUNCTION @extschema@.flow_submit(text, jsonb, timestamptz);
CREATE FUNCTION @extschema@.flow_submit(flow text, params jsonb DEFAULT '{}',
                                        run_at timestamptz DEFAULT now(),
                                        refresh_cache boolean DEFAULT false)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'elt_flow_submit'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.flow_submit(text, jsonb, timestamptz, boolean) IS
    'queue a run of a flow (it starts after the transaction commits); returns its run_id (refresh_cache: ignore and replace cached results)';

/* ------------------------------------------------------------------
 * Credentials, as Prefect's blocks: named secrets per owner role that
 * loads use by name.  Their values are write-only: the table is the
 * extension owner's alone (no role but a superuser reads it); the
 * elt.credential_list view shows each role what it may use, without the
 * values; the functions below write them.  pg_dump leaves the table out
 * (a superuser copies it, explicitly, to move credentials).
 * ------------------------------------------------------------------ */

CREATE TABLE elt.credentials (
    owner       name NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL,
    settings    jsonb NOT NULL DEFAULT '{}',
    secret      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (owner, name)
);
REVOKE ALL ON elt.credentials FROM PUBLIC;
COMMENT ON TABLE elt.credentials IS
    'pg_elt''s credentials; readable by superusers only (see elt.credential_list), written by elt.create_credential and elt.alter_credential';

-- What each kind holds: settings (shown) and secret (never shown), by key.
CREATE FUNCTION elt._credential_kinds() RETURNS TABLE (kind text, settings text[], optional_settings text[], secrets text[], optional_secrets text[])
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    VALUES ('http_header', '{header}'::text[], '{}'::text[], '{value}'::text[], '{}'::text[]),
           ('bearer', '{}', '{}', '{token}', '{}'),
           ('basic', '{user}', '{}', '{password}', '{}'),
           ('s3', '{access_key_id}', '{region,endpoint}', '{secret_access_key}', '{session_token}')
$$;

CREATE FUNCTION elt._check_credential_values(name text, kind text, settings jsonb, secret jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
    missing text;
    extra text;
BEGIN
    SELECT * INTO k FROM elt._credential_kinds() c WHERE c.kind = _check_credential_values.kind;
    IF k.kind IS NULL THEN
        RAISE EXCEPTION 'unknown kind "%" for credential "%"', kind, name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Credential kinds are http_header, bearer, basic and s3.';
    END IF;
    IF jsonb_typeof(settings) IS DISTINCT FROM 'object' OR jsonb_typeof(secret) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'the settings and secret of credential "%" must be JSON objects', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(x, ', ') INTO missing FROM unnest(k.settings) x WHERE NOT settings ? x;
    IF missing IS NULL THEN
        SELECT string_agg(x, ', ') INTO missing FROM unnest(k.secrets) x WHERE NOT secret ? x;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'credential "%" of kind % lacks %', name, kind, missing
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('A %s credential has settings %s and a secret %s.', kind,
                                coalesce(nullif(array_to_string(k.settings || k.optional_settings, ', '), ''), '(none)'),
                                array_to_string(k.secrets || k.optional_secrets, ', '));
    END IF;
    SELECT string_agg(x, ', ') INTO extra FROM jsonb_object_keys(settings) x
     WHERE NOT x = ANY (k.settings || k.optional_settings);
    IF extra IS NULL THEN
        SELECT string_agg(x, ', ') INTO extra FROM jsonb_object_keys(secret) x
         WHERE NOT x = ANY (k.secrets || k.optional_secrets);
    END IF;
    IF extra IS NOT NULL THEN
        RAISE EXCEPTION 'credential "%" of kind % has no field %', name, kind, extra
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('A %s credential has settings %s and a secret %s.', kind,
                                coalesce(nullif(array_to_string(k.settings || k.optional_settings, ', '), ''), '(none)'),
                                array_to_string(k.secrets || k.optional_secrets, ', '));
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_each(settings || secret) e WHERE jsonb_typeof(e.value) <> 'string') THEN
        RAISE EXCEPTION 'the fields of credential "%" must be strings', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._check_credential_values(text, text, jsonb, jsonb) FROM PUBLIC;

-- What each role may use, without the values.
CREATE VIEW elt.credential_list WITH (security_barrier) AS
    SELECT c.owner, c.name, c.kind, c.settings, c.created_at, c.updated_at
      FROM elt.credentials c WHERE c.owner IN (SELECT elt._member_roles());
GRANT SELECT ON elt.credential_list TO PUBLIC;
COMMENT ON VIEW elt.credential_list IS
    'the credentials of the roles the current user is a member of: names, kinds and settings, never the secret values';

CREATE FUNCTION elt.create_credential(name text, kind text, secret jsonb, settings jsonb DEFAULT '{}',
                                      owner name DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_create_credential' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION elt.create_credential(text, text, jsonb, jsonb, name) IS
    'keep a credential (kinds http_header, bearer, basic, s3) under a name; its secret can be used, never read back';
CREATE FUNCTION elt.alter_credential(name text, secret jsonb DEFAULT NULL, settings jsonb DEFAULT NULL)
    RETURNS void
    AS 'MODULE_PATHNAME', 'elt_alter_credential' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION elt.alter_credential(text, jsonb, jsonb) IS 'replace a credential''s secret or settings (NULL keeps them)';
CREATE FUNCTION elt.drop_credential(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_drop_credential' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
-- url: the extract's, for which the credential's kind must do (s3 for
-- s3:// and gs://, an HTTP kind for http(s), either for a template); NULL
-- for a webhook (an HTTP kind).
CREATE FUNCTION elt._check_credential(owner name, name text, url text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_check_credential' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;

/* ------------------------------------------------------------------
 * Notifications: rules (per owner) say which events of which flows
 * notify whom: a webhook (a JSON POST, its body a template, its headers
 * from a credential), a pg_notify channel, or a function called with the
 * event, as the rule's owner.  An event is written to the outbox in the
 * transaction of the state change that makes it; the scheduler's
 * notifier delivers it after commit, retrying with backoff, and records
 * every attempt.  Delivery never delays or fails a run.
 * ------------------------------------------------------------------ */

CREATE TABLE elt.notification_rules (
    owner        name NOT NULL DEFAULT current_user,
    name         text NOT NULL,
    events       text[] NOT NULL DEFAULT '{failed,crashed}',
    flow         text,
    tag          text,
    long_running interval,
    target       text NOT NULL,
    url          text,
    credential   text,
    body         text,
    channel      text,
    function     text,
    max_attempts integer NOT NULL DEFAULT 8,
    enabled      boolean NOT NULL DEFAULT true,
    given_up     bigint NOT NULL DEFAULT 0,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (owner, name)
);
COMMENT ON TABLE elt.notification_rules IS
    'who is told of which events: of one flow (flow), of flows with a task tagged tag, or of all the owner''s flows';
COMMENT ON COLUMN elt.notification_rules.events IS
    'completed, failed, cancelled, crashed, long_running (a run still running after long_running), slot_skipped';
COMMENT ON COLUMN elt.notification_rules.target IS
    'webhook (POST url, body a template of {{field}}s, headers from credential), pg_notify (channel) or function (name of a function taking jsonb)';
COMMENT ON COLUMN elt.notification_rules.given_up IS 'events this rule gave up delivering after max_attempts; last_error says why';
ALTER TABLE elt.notification_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY notification_rules_owner ON elt.notification_rules
    USING (owner IN (SELECT elt._member_roles()));
GRANT SELECT, DELETE ON elt.notification_rules TO PUBLIC;
GRANT INSERT (owner, name, events, flow, tag, long_running, target, url, credential, body, channel,
              function, max_attempts, enabled),
      UPDATE (name, events, flow, tag, long_running, target, url, credential, body, channel,
              function, max_attempts, enabled)
   ON elt.notification_rules TO PUBLIC;

CREATE TABLE elt.notification_outbox (
    id              bigserial PRIMARY KEY,
    owner           name NOT NULL,
    rule            text NOT NULL,
    run_id          bigint,
    event           text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts        integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    given_up_at     timestamptz,
    last_error      text,
    FOREIGN KEY (owner, rule) REFERENCES elt.notification_rules ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX notification_outbox_due ON elt.notification_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;
CREATE TABLE elt.notification_attempts (
    outbox_id   bigint NOT NULL REFERENCES elt.notification_outbox ON DELETE CASCADE,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    ok          boolean NOT NULL,
    status      integer,
    error       text,
    PRIMARY KEY (outbox_id, attempt)
);
COMMENT ON TABLE elt.notification_outbox IS
    'events to deliver, written with the state change that made them; pg_elt''s notifier delivers them after commit';
ALTER TABLE elt.notification_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE elt.notification_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY notification_outbox_owner ON elt.notification_outbox FOR SELECT
    USING (owner IN (SELECT elt._member_roles()));
CREATE POLICY notification_attempts_owner ON elt.notification_attempts FOR SELECT
    USING (EXISTS (SELECT 1 FROM elt.notification_outbox o WHERE o.id = outbox_id));
GRANT SELECT ON elt.notification_outbox, elt.notification_attempts TO PUBLIC;
-- pg_dump keeps the rules (as it keeps flows), not the events
SELECT pg_catalog.pg_extension_config_dump('elt.notification_rules', '');

-- A rule is checked when written: its events, its flow (the owner's), its
-- target and what the target needs.
CREATE FUNCTION elt._check_notification_rule() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    known text[] := '{completed,failed,cancelled,crashed,long_running,slot_skipped}';
    bad text;
BEGIN
    IF NEW.name IS NULL OR NEW.name = '' THEN
        RAISE EXCEPTION 'a notification rule needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(e, ', ') INTO bad FROM unnest(NEW.events) e WHERE e IS NULL OR NOT e = ANY (known);
    IF bad IS NOT NULL OR cardinality(NEW.events) = 0 THEN
        RAISE EXCEPTION 'unknown event "%" in notification rule "%"', coalesce(bad, ''), NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Events are completed, failed, cancelled, crashed, long_running and slot_skipped.';
    END IF;
    IF 'long_running' = ANY (NEW.events) AND (NEW.long_running IS NULL OR NEW.long_running <= '0') THEN
        RAISE EXCEPTION 'notification rule "%" has the event long_running but no positive long_running interval', NEW.name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Set long_running, e.g. ''30 minutes''.';
    END IF;
    IF NEW.max_attempts NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'max_attempts of notification rule "%" must be between 1 and 100', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.target = 'webhook' THEN
        IF NEW.url IS NULL OR NEW.url !~* '^https?://' THEN
            RAISE EXCEPTION 'the webhook URL of notification rule "%" must be an http:// or https:// URL', NEW.name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Webhooks are posted over HTTP(S) only.';
        END IF;
        PERFORM elt._check_body_template(NEW.name, NEW.body);
    ELSIF NEW.target = 'pg_notify' THEN
        IF NEW.channel IS NULL OR NEW.channel = '' OR octet_length(NEW.channel) > 63 THEN
            RAISE EXCEPTION 'notification rule "%" needs a channel (at most 63 bytes) for pg_notify', NEW.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSIF NEW.target = 'function' THEN
        NULL;                   -- its function is a reference, below
    ELSE
        RAISE EXCEPTION 'unknown target "%" of notification rule "%"', NEW.target, NEW.name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Targets are webhook, pg_notify and function.';
    END IF;
    -- what the rule names must be there, and its owner's to use; a
    -- superuser's write (a restore, where the flow, the credential or the
    -- function may come later) is kept, disabled, with a WARNING
    BEGIN
        IF NEW.flow IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM elt.flows f WHERE f.name = NEW.flow AND f.owner = NEW.owner) THEN
            RAISE EXCEPTION 'notification rule "%" names flow "%", which role "%" does not own', NEW.name, NEW.flow, NEW.owner
                USING ERRCODE = 'undefined_object',
                      HINT = 'A rule is for one of its owner''s flows, a tag, or (flow and tag NULL) all of them.';
        END IF;
        IF NEW.target = 'webhook' AND NEW.credential IS NOT NULL THEN
            PERFORM elt._check_credential(NEW.owner, NEW.credential);
        END IF;
        IF NEW.target = 'function' AND to_regprocedure(coalesce(NEW.function, '') || '(jsonb)') IS NULL THEN
            RAISE EXCEPTION 'notification rule "%" names no function %(jsonb)', NEW.name, coalesce(NEW.function, '')
                USING ERRCODE = 'undefined_function',
                      HINT = 'Give the (schema-qualified) name of a function that takes the event as jsonb.';
        END IF;
        IF NEW.target = 'function'
           AND NOT has_function_privilege(NEW.owner, to_regprocedure(NEW.function || '(jsonb)'), 'EXECUTE') THEN
            RAISE EXCEPTION 'role "%" may not execute %(jsonb)', NEW.owner, NEW.function
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    EXCEPTION WHEN undefined_object OR undefined_function OR insufficient_privilege OR wrong_object_type THEN
        IF NOT elt._writer_is_superuser() THEN
            RAISE;
        END IF;
        RAISE WARNING '%', SQLERRM
            USING HINT = format('The rule is kept, disabled; mend it, then: UPDATE elt.notification_rules SET enabled = true WHERE name = %L AND owner = %L.',
                                NEW.name, NEW.owner);
        NEW.enabled := false;
    END;
    IF NOT elt._scheduler_available() AND TG_OP = 'INSERT' THEN
        RAISE WARNING 'notification rule "%" will not deliver: pg_elt is not in shared_preload_libraries', NEW.name
            USING HINT = 'Events wait in elt.notification_outbox; the scheduler''s notifier delivers them once pg_elt is preloaded.';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_notification_rule BEFORE INSERT OR UPDATE ON elt.notification_rules
    FOR EACH ROW EXECUTE FUNCTION elt._check_notification_rule();

CREATE FUNCTION elt._check_body_template(rule text, body text) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_check_body_template' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;

-- An event of a flow of owner: one outbox row per enabled rule that wants
-- it; the scheduler's notifier delivers them once this commits.
CREATE FUNCTION elt._queue_event(event text, flow text, owner name, run_id bigint, payload jsonb)
    RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO elt.notification_outbox (owner, rule, run_id, event, payload)
    SELECT r.owner, r.name, _queue_event.run_id, _queue_event.event, _queue_event.payload
      FROM elt.notification_rules r
     WHERE r.enabled AND r.owner = _queue_event.owner AND _queue_event.event = ANY (r.events)
       AND (r.flow IS NULL OR r.flow = _queue_event.flow)
       AND (r.tag IS NULL OR EXISTS (SELECT 1 FROM elt.tasks t
                                      WHERE t.flow = _queue_event.flow AND t.owner = _queue_event.owner
                                        AND r.tag = ANY (t.tags)));
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM elt._wake_scheduler();
    END IF;
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._queue_event(text, text, name, bigint, jsonb) FROM PUBLIC;

-- What every event of a run says.
CREATE FUNCTION elt._run_event(event text, r elt.flow_runs) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN jsonb_build_object('event', event, 'run_id', r.run_id, 'flow', r.flow, 'owner', r.owner,
                              'database', current_database(), 'state', r.state, 'message', r.message,
                              'trigger', r.trigger, 'started_at', r.started_at, 'ended_at', r.ended_at,
                              'duration_s', round(extract(epoch FROM coalesce(r.ended_at, clock_timestamp()) - r.started_at)::numeric, 3),
                              'rows_loaded', r.rows_loaded, 'attempt', r.attempt);
END
$$;

-- A run's end is an event, in the transaction that records it.
CREATE FUNCTION elt._run_ended() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM elt._queue_event(NEW.state, NEW.flow, NEW.owner, NEW.run_id, elt._run_event(NEW.state, NEW));
    RETURN NULL;
END
$$;
CREATE TRIGGER run_ended AFTER UPDATE OF state ON elt.flow_runs
    FOR EACH ROW WHEN (NEW.state IN ('completed', 'failed', 'cancelled', 'crashed')
                       AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION elt._run_ended();

-- Runs running for longer than a rule's long_running: one event per rule
-- and run.  The scheduler calls this each round.
CREATE FUNCTION elt._queue_long_runs() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO elt.notification_outbox (owner, rule, run_id, event, payload)
    SELECT q.owner, q.name, fr.run_id, 'long_running', elt._run_event('long_running', fr)
      FROM elt.notification_rules q
      JOIN elt.flow_runs fr ON fr.owner = q.owner AND fr.state = 'running'
                           AND fr.started_at < clock_timestamp() - q.long_running
     WHERE q.enabled AND 'long_running' = ANY (q.events)
       AND (q.flow IS NULL OR q.flow = fr.flow)
       AND (q.tag IS NULL OR EXISTS (SELECT 1 FROM elt.tasks t
                                      WHERE t.flow = fr.flow AND t.owner = fr.owner AND q.tag = ANY (t.tags)))
       AND NOT EXISTS (SELECT 1 FROM elt.notification_outbox o
                        WHERE o.owner = q.owner AND o.rule = q.name AND o.run_id = fr.run_id
                          AND o.event = 'long_running');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION elt._queue_long_runs() FROM PUBLIC;

-- When the scheduler is next wanted for notifications: an event is due,
-- or a run becomes long-running for a rule (NULL: neither).
CREATE FUNCTION elt._next_delivery() RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN least(
        (SELECT min(next_attempt_at) FROM elt.notification_outbox
          WHERE delivered_at IS NULL AND given_up_at IS NULL),
        (SELECT min(coalesce(fr.started_at, clock_timestamp()) + q.long_running)
           FROM elt.notification_rules q
           JOIN elt.flow_runs fr ON fr.owner = q.owner AND fr.state = 'running'
          WHERE q.enabled AND 'long_running' = ANY (q.events)
            AND (q.flow IS NULL OR q.flow = fr.flow)
            AND NOT EXISTS (SELECT 1 FROM elt.notification_outbox o
                             WHERE o.owner = q.owner AND o.rule = q.name AND o.run_id = fr.run_id
                               AND o.event = 'long_running')));
END
$$;

-- The ledger of incremental loads: the objects each role loaded into each
-- table (by name: a ledger outlives a re-created table, as a pipeline's
-- state would), written in the transaction of the rows, so an object is
-- loaded exactly once whatever crashes.  Users see and delete their own.
CREATE TABLE elt.loaded_files (
    owner       name NOT NULL,
    target      text NOT NULL,
    url         text NOT NULL,
    etag        text,
    size        bigint,
    rows_loaded bigint NOT NULL,
    target_oid  oid NOT NULL,
    run_id      bigint,
    loaded_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (owner, target, url)
);
COMMENT ON TABLE elt.loaded_files IS
    'the objects incremental loads ("incremental": true) have loaded, per role and table; delete a row to load its object again';
COMMENT ON COLUMN elt.loaded_files.target IS 'the table, schema-qualified, as it was named when the object was loaded';
COMMENT ON COLUMN elt.loaded_files.etag IS 'the object''s ETag when loaded: a new one means the object changed ("reload_changed" loads it again)';
COMMENT ON COLUMN elt.loaded_files.target_oid IS 'the table loaded into: another OID now means the table was re-created since';
COMMENT ON COLUMN elt.loaded_files.run_id IS 'the run whose task loaded it; NULL for a load_csv outside a run';
ALTER TABLE elt.loaded_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY loaded_files_owner ON elt.loaded_files FOR SELECT
    USING (owner IN (SELECT elt._member_roles()));
CREATE POLICY loaded_files_owner_forget ON elt.loaded_files FOR DELETE
    USING (owner IN (SELECT elt._member_roles()));
GRANT SELECT, DELETE ON elt.loaded_files TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('elt.loaded_files', '');

-- The objects an s3:// or gs:// URL names (a glob or a prefix ending in /),
-- as load_csv would load them; options credential, region, endpoint.
CREATE FUNCTION elt.list_files(url text, options jsonb DEFAULT '{}')
RETURNS TABLE (url text, key text, size bigint, etag text, last_modified timestamptz)
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'elt_list_files';
COMMENT ON FUNCTION elt.list_files(text, jsonb) IS
    'the objects an s3:// or gs:// URL (glob, or prefix ending in /) names: url, key, size, etag, last_modified';

-- A query's rows as CSV to an object store (multipart upload) or a URL
-- (PUT).  Like load_csv it keeps the caller's search_path: the query's
-- names resolve in it, as COPY (query) TO's do.
CREATE FUNCTION @extschema@.export_csv(query text, url text, options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'elt_export_csv';
COMMENT ON FUNCTION @extschema@.export_csv(text, text, jsonb) IS
    'writes a query''s rows as CSV (gzip when asked) to s3://, gs:// (multipart upload, aborted on error) or an http(s) URL (PUT); returns the rows written';

-- The scheduler for this database notices the new version when this commits.
SELECT elt._wake_scheduler();
