/*
 * pg_elt 0.2 -> 0.3: safe on a shared server.
 *
 *  - Every function runs with search_path = pg_catalog, pg_temp, so that a
 *    trigger fired by a superuser never resolves a name to a user's object.
 *  - Access is opt-in, as with pg_cron: schema elt is no longer PUBLIC's;
 *    an administrator lets a role in with GRANT USAGE ON SCHEMA elt.
 *  - Non-superusers' schedules and priorities are bounded by settings.
 *  - A flow whose owner role was dropped is disabled, once, and logged.
 *  - Flow names are per owner; owners are role names, so that a restore
 *    with a role missing keeps every flow.
 *  - pg_dump keeps the run-id sequence, so restored run ids do not repeat,
 *    and the runs not yet started.
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
 * Flow names are per owner, and owners are kept by name
 *
 * A flow is (owner, name): two roles may each have an "ingest", and no
 * error on writing a flow reveals another role's.  Owners are role names,
 * as pg_cron keeps them, so that a pg_dump restored where a role is
 * missing keeps every flow (disabled until it has an owner) instead of
 * failing the whole COPY of elt.flows on one regrole.
 * ------------------------------------------------------------------ */

-- The roles the current user is a member of: who sees which flows and runs.
CREATE FUNCTION elt._member_roles() RETURNS SETOF name
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.rolname FROM pg_roles r WHERE pg_has_role(r.oid, 'MEMBER')
$$;

-- Policies and views that name a column go before the column changes type.
DROP POLICY flows_owner ON elt.flows;
DROP POLICY tasks_owner ON elt.tasks;
DROP POLICY flow_runs_owner ON elt.flow_runs;
DROP POLICY logs_owner ON elt.logs;
DROP VIEW elt.runs;
ALTER TABLE elt.tasks DROP CONSTRAINT tasks_flow_fkey;
ALTER TABLE elt.schedule_slots DROP CONSTRAINT schedule_slots_flow_fkey;

ALTER TABLE elt.flows
    DROP CONSTRAINT flows_pkey,
    ALTER COLUMN owner DROP DEFAULT,
    ALTER COLUMN owner TYPE name USING pg_catalog.pg_get_userbyid(owner::oid),
    ALTER COLUMN owner SET DEFAULT CURRENT_USER,
    ADD PRIMARY KEY (name, owner);
ALTER TABLE elt.flow_runs
    ALTER COLUMN owner TYPE name USING pg_catalog.pg_get_userbyid(owner::oid);
CREATE INDEX flow_runs_by_flow ON elt.flow_runs (flow, owner) WHERE state IN ('pending', 'running');
DROP INDEX elt.flow_runs_active;

-- A task's owner is its flow's: written by the check_task trigger when the
-- INSERT leaves it out (the flow is found by name among the writer's).
ALTER TABLE elt.tasks ADD COLUMN owner name;
ALTER TABLE elt.tasks DISABLE TRIGGER USER;
UPDATE elt.tasks t SET owner = f.owner FROM elt.flows f WHERE f.name = t.flow;
ALTER TABLE elt.tasks ENABLE TRIGGER USER;
ALTER TABLE elt.tasks
    ALTER COLUMN owner SET NOT NULL,
    DROP CONSTRAINT tasks_pkey,
    ADD PRIMARY KEY (flow, owner, name),
    ADD FOREIGN KEY (flow, owner) REFERENCES elt.flows (name, owner) ON UPDATE CASCADE ON DELETE CASCADE;
COMMENT ON COLUMN elt.tasks.owner IS 'the owner of the task''s flow; filled in from the flow when left out';

ALTER TABLE elt.schedule_slots ADD COLUMN owner name;
UPDATE elt.schedule_slots s SET owner = f.owner FROM elt.flows f WHERE f.name = s.flow;
DELETE FROM elt.schedule_slots WHERE owner IS NULL;
ALTER TABLE elt.schedule_slots
    ALTER COLUMN owner SET NOT NULL,
    DROP CONSTRAINT schedule_slots_pkey,
    ADD PRIMARY KEY (flow, owner),
    ADD FOREIGN KEY (flow, owner) REFERENCES elt.flows (name, owner) ON UPDATE CASCADE ON DELETE CASCADE;

-- Log lines of the scheduler name their flow by name and owner.
ALTER TABLE elt.logs ADD COLUMN owner name;
UPDATE elt.logs l SET owner = f.owner FROM elt.flows f WHERE l.run_id IS NULL AND f.name = l.flow;
COMMENT ON COLUMN elt.logs.flow IS 'with owner: the flow of a line that belongs to no run (the scheduler''s)';

CREATE POLICY flows_owner ON elt.flows
    USING (owner IN (SELECT elt._member_roles()));
CREATE POLICY tasks_owner ON elt.tasks
    USING (owner IN (SELECT elt._member_roles()));
CREATE POLICY flow_runs_owner ON elt.flow_runs FOR SELECT
    USING (owner IN (SELECT elt._member_roles()));
CREATE POLICY logs_owner ON elt.logs FOR SELECT
    USING (EXISTS (SELECT 1 FROM elt.flow_runs r WHERE r.run_id = logs.run_id)
           OR (logs.run_id IS NULL AND logs.owner IN (SELECT elt._member_roles())));

CREATE VIEW elt.runs WITH (security_invoker = true) AS
    SELECT run_id, flow, owner, state, trigger, params, run_at, created_at AS submitted_at,
           started_at, ended_at, duration, rows_loaded, attempt, message
      FROM elt.flow_runs;
GRANT SELECT ON elt.runs TO PUBLIC;

-- The owner of the flow called name that role who means (src/catalog.c):
-- its own, else the one flow of that name among the roles it is a member
-- of; NULL when there is none it may see.
CREATE FUNCTION elt._flow_owner(flow text, who oid) RETURNS name
    AS 'MODULE_PATHNAME', 'elt_flow_owner_sql' LANGUAGE C STABLE STRICT
    SET search_path = pg_catalog, pg_temp;

/* ------------------------------------------------------------------
 * A fixed search_path for the functions whose bodies do not change
 * ------------------------------------------------------------------ */

ALTER FUNCTION elt._check_extract_config(jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt.substitute(text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt.schedule_next(text, timestamptz, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt._scheduler_available() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION elt._wake_scheduler() SET search_path = pg_catalog, pg_temp;
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
    owner_role pg_roles;
    -- a superuser's write (a restore, say) is kept, disabled, where the
    -- owner's state refuses it: a WARNING says why
    writer_is_superuser boolean := coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false);
    keep_hint text := format('The flow is kept, disabled; mend it, then: UPDATE elt.flows SET enabled = true WHERE name = %L AND owner = %L.',
                             NEW.name, NEW.owner);
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
        IF NOT writer_is_superuser THEN
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
    IF NOT owner_role.rolcanlogin AND writer_is_superuser THEN
        RAISE WARNING 'flow owner "%" cannot log in', NEW.owner USING HINT = keep_hint;
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
    IF NEW.timezone IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = NEW.timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%" for flow "%"', NEW.timezone, NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, e.g. Europe/Paris or UTC.';
    END IF;
    BEGIN
        PERFORM elt._check_flow_limits(owner_role.oid,
            CASE WHEN owner_changed OR NEW.priority IS DISTINCT FROM OLD.priority THEN NEW.priority END,
            CASE WHEN owner_changed OR NEW.schedule IS DISTINCT FROM OLD.schedule
                      OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN NEW.schedule END,
            tz);
    EXCEPTION WHEN insufficient_privilege THEN
        IF NOT writer_is_superuser THEN
            RAISE;
        END IF;
        RAISE WARNING '%', SQLERRM USING HINT = keep_hint;
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
                                      (SELECT f.params FROM elt.flows f
                                        WHERE f.name = NEW.flow AND f.owner = NEW.owner));
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

-- A flow's tasks are those of its name and owner.
CREATE OR REPLACE FUNCTION elt._check_flow_graph() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f text := CASE WHEN TG_OP = 'DELETE' THEN OLD.flow ELSE NEW.flow END;
    o name := CASE WHEN TG_OP = 'DELETE' THEN OLD.owner ELSE NEW.owner END;
    bad record;
    cycle text[];
BEGIN
    SELECT t.name, d INTO bad
      FROM elt.tasks t, unnest(t.depends_on) d
     WHERE t.flow = f AND t.owner = o
       AND NOT EXISTS (SELECT 1 FROM elt.tasks u WHERE u.flow = f AND u.owner = o AND u.name = d)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'task "%" of flow "%" depends on task "%", which does not exist', bad.name, f, bad.d
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Insert the task it depends on first, or correct depends_on.';
    END IF;

    WITH RECURSIVE walk(start, cur, path, closed) AS (
        SELECT t.name, d, ARRAY[t.name, d], d = t.name
          FROM elt.tasks t, unnest(t.depends_on) d
         WHERE t.flow = f AND t.owner = o
        UNION ALL
        SELECT w.start, d, w.path || d, d = w.start
          FROM walk w
          JOIN elt.tasks t ON t.flow = f AND t.owner = o AND t.name = w.cur,
               unnest(t.depends_on) d
         WHERE NOT w.closed AND (d = w.start OR NOT d = ANY (w.path))
    )
    SELECT path INTO cycle FROM walk WHERE closed LIMIT 1;
    IF cycle IS NOT NULL THEN
        RAISE EXCEPTION 'dependency cycle in flow "%": %', f, array_to_string(cycle, ' -> ')
            USING ERRCODE = 'invalid_object_definition',
                  HINT = 'depends_on must form a directed acyclic graph.';
    END IF;
    RETURN NULL;
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
         WHERE fl.enabled AND NOT EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = fl.owner)
        RETURNING fl.name, fl.owner
    LOOP
        n := n + 1;
        INSERT INTO elt.logs (flow, owner, logged_at, level, sqlstate, message, hint)
        VALUES (f.name, f.owner, clock_timestamp(), 'warning', '42704',
                format('flow disabled: its owner role "%s" no longer exists', f.owner),
                format('Create the role, or make an existing role the owner, and enable the flow again: UPDATE elt.flows SET owner = ..., enabled = true WHERE name = %L AND owner = %L',
                       f.name, f.owner));
        RAISE LOG 'pg_elt: flow "%" in database "%" disabled: its owner role "%" no longer exists',
            f.name, current_database(), f.owner;
    END LOOP;
    UPDATE elt.flow_runs r SET state = 'failed', ended_at = clock_timestamp(),
           started_at = coalesce(r.started_at, clock_timestamp()),
           message = 'not started: the flow''s owner role no longer exists'
     WHERE r.state = 'pending' AND NOT EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = r.owner);
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
                        WHERE f.name = s.flow AND f.owner = s.owner AND f.enabled AND f.schedule IS NOT NULL);
    FOR sched IN
        SELECT fl.name, fl.schedule, fl.catchup, fl.max_active_runs, fl.params, fl.owner, fl.priority,
               coalesce(fl.timezone, current_setting('pg_elt.timezone')) AS tz,
               s.schedule AS slot_schedule, s.timezone AS slot_tz, s.next_slot
          FROM elt.flows fl LEFT JOIN elt.schedule_slots s ON s.flow = fl.name AND s.owner = fl.owner
         WHERE fl.enabled AND fl.schedule IS NOT NULL
    LOOP
      BEGIN
        IF sched.slot_schedule IS DISTINCT FROM sched.schedule OR sched.slot_tz IS DISTINCT FROM sched.tz THEN
            nxt := elt.schedule_next(sched.schedule, now_ts, sched.tz);
            INSERT INTO elt.schedule_slots (flow, owner, schedule, timezone, next_slot)
            VALUES (sched.name, sched.owner, sched.schedule, sched.tz, nxt)
            ON CONFLICT (flow, owner) DO UPDATE
               SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, next_slot = EXCLUDED.next_slot;
        ELSIF sched.next_slot <= now_ts THEN
            SELECT count(*) INTO active FROM elt.flow_runs r
             WHERE r.flow = sched.name AND r.owner = sched.owner AND r.state IN ('pending', 'running');
            IF now_ts - sched.next_slot > interval '1 minute' AND NOT sched.catchup THEN
                INSERT INTO elt.logs (flow, owner, logged_at, level, message)
                VALUES (sched.name, sched.owner, now_ts, 'warning',
                        format('slot %s skipped: it was missed (pg_elt was not running) and catchup is off', sched.next_slot));
            ELSIF active >= sched.max_active_runs THEN
                INSERT INTO elt.logs (flow, owner, logged_at, level, message)
                VALUES (sched.name, sched.owner, now_ts, 'warning',
                        format('slot %s skipped: %s run(s) of the flow still active (max_active_runs %s)',
                               sched.next_slot, active, sched.max_active_runs));
            ELSE
                INSERT INTO elt.flow_runs (flow, owner, state, trigger, params, run_at, priority)
                VALUES (sched.name, sched.owner, 'pending', 'schedule', sched.params, sched.next_slot, sched.priority);
            END IF;
            nxt := elt.schedule_next(sched.schedule, now_ts, sched.tz);
            UPDATE elt.schedule_slots SET last_slot = next_slot, next_slot = nxt
             WHERE flow = sched.name AND owner = sched.owner;
        ELSE
            nxt := sched.next_slot;
        END IF;
        wake := least(wake, nxt);
      EXCEPTION WHEN OTHERS THEN
        -- one broken schedule must not stop the others: park it until it changes
        INSERT INTO elt.schedule_slots (flow, owner, schedule, timezone, next_slot)
        VALUES (sched.name, sched.owner, sched.schedule, sched.tz, 'infinity')
        ON CONFLICT (flow, owner) DO UPDATE
           SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, next_slot = 'infinity';
        INSERT INTO elt.logs (flow, owner, logged_at, level, sqlstate, message)
        VALUES (sched.name, sched.owner, clock_timestamp(), 'warning', SQLSTATE,
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
                           AND EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = q.owner)
                         ORDER BY q.run_at, q.priority DESC, q.run_id
                         LIMIT n FOR UPDATE SKIP LOCKED)
    RETURNING r.run_id, (SELECT a.oid FROM pg_roles a WHERE a.rolname = r.owner)
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
        PERFORM pg_catalog.pg_notify('pg_elt', json_build_object('run_id', r.run_id, 'state', 'crashed')::text);
        SELECT f.retries INTO flow_retries FROM elt.flows f WHERE f.name = r.flow AND f.owner = r.owner;
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

/* ------------------------------------------------------------------
 * pg_dump keeps the run-id sequence (restored ids continue, never
 * repeat) and the runs not yet started
 * ------------------------------------------------------------------ */

SELECT pg_catalog.pg_extension_config_dump('elt.flow_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('elt.flow_runs', $$WHERE state = 'pending'$$);

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
 * Remote CSV files as foreign tables (src/csv_scan.c), and the row
 * source of load_csv's executor path
 *
 * CREATE FOREIGN TABLE t (...) SERVER pg_elt OPTIONS (url '...') reads
 * the file on every scan, with load_csv's rules (checked at scan time):
 * USAGE on schema elt, the outbound policy, file:// only for roles that
 * may read server files.  USAGE on the server is PUBLIC's so that any
 * role may declare such a table (and load_csv may declare its own
 * temporary one); reading one still needs USAGE on schema elt.
 * ------------------------------------------------------------------ */

CREATE FUNCTION elt._fdw_handler() RETURNS fdw_handler
    AS 'MODULE_PATHNAME', 'elt_fdw_handler' LANGUAGE C STRICT
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION elt._fdw_validator(text[], oid) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_fdw_validator' LANGUAGE C STRICT
    SET search_path = pg_catalog, pg_temp;
CREATE FOREIGN DATA WRAPPER pg_elt HANDLER elt._fdw_handler VALIDATOR elt._fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER pg_elt IS 'CSV files (gzip or plain) read from a URL as they stream';
CREATE SERVER pg_elt FOREIGN DATA WRAPPER pg_elt;
COMMENT ON SERVER pg_elt IS 'CREATE FOREIGN TABLE ... SERVER pg_elt OPTIONS (url ''...'') reads a remote CSV';
GRANT USAGE ON FOREIGN SERVER pg_elt TO PUBLIC;

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
               FROM elt.tasks tk JOIN elt.flows f ON f.name = tk.flow AND f.owner = tk.owner
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
