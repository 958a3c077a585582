/*
 * pg_elt 0.1: catalog of flows and tasks, run history, and the API.
 *
 * The catalog lives in schema elt.  The user-facing functions (flow_run,
 * load_csv) go in the schema the extension is created in, so that with
 * the default search_path they are callable unqualified.
 */
\echo Use "CREATE EXTENSION pg_elt" to load this file. \quit

CREATE SCHEMA elt;
GRANT USAGE ON SCHEMA elt TO PUBLIC;

/* ------------------------------------------------------------------
 * Flows and tasks: plain rows that users insert and edit.
 * ------------------------------------------------------------------ */

CREATE TABLE elt.flows (
    name        text PRIMARY KEY,
    params      jsonb NOT NULL DEFAULT '{}',
    owner       regrole NOT NULL DEFAULT quote_ident(current_user)::regrole,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE elt.flows IS 'pg_elt flows: one row per flow; runs execute as the owner role';

CREATE TABLE elt.tasks (
    flow         text NOT NULL REFERENCES elt.flows (name) ON UPDATE CASCADE ON DELETE CASCADE,
    name         text NOT NULL,
    kind         text NOT NULL,
    config       jsonb NOT NULL DEFAULT '{}',
    sql          text,
    depends_on   text[] NOT NULL DEFAULT '{}',
    retries      integer NOT NULL DEFAULT 0,
    retry_delay  interval NOT NULL DEFAULT '0',
    retry_backoff double precision NOT NULL DEFAULT 1,
    timeout      interval,
    tags         text[] NOT NULL DEFAULT '{}',
    description  text,
    PRIMARY KEY (flow, name)
);
COMMENT ON TABLE elt.tasks IS 'pg_elt tasks: extract (load_csv) or sql steps of a flow, with dependencies';

/* ------------------------------------------------------------------
 * Run history: written by pg_elt only.
 * ------------------------------------------------------------------ */

CREATE TABLE elt.flow_runs (
    run_id      bigserial PRIMARY KEY,
    flow        text NOT NULL,
    owner       regrole NOT NULL,
    state       text NOT NULL DEFAULT 'pending',
    trigger     text NOT NULL DEFAULT 'manual',
    params      jsonb NOT NULL DEFAULT '{}',
    message     text,
    rows_loaded bigint NOT NULL DEFAULT 0,
    worker_pid  integer,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at  timestamptz,
    ended_at    timestamptz,
    duration    interval GENERATED ALWAYS AS (ended_at - started_at) STORED,
    CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'crashed'))
);
CREATE INDEX ON elt.flow_runs (flow, run_id);

CREATE TABLE elt.task_runs (
    run_id      bigint NOT NULL REFERENCES elt.flow_runs ON DELETE CASCADE,
    task        text NOT NULL,
    attempt     integer NOT NULL,
    state       text NOT NULL DEFAULT 'pending',
    rows_loaded bigint,
    bytes       bigint,
    sqlstate    text,
    message     text,
    detail      text,
    hint        text,
    started_at  timestamptz,
    ended_at    timestamptz,
    duration    interval GENERATED ALWAYS AS (ended_at - started_at) STORED,
    PRIMARY KEY (run_id, task, attempt),
    CHECK (state IN ('pending', 'running', 'retrying', 'completed', 'failed', 'cancelled', 'crashed'))
);

CREATE TABLE elt.logs (
    id          bigserial PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES elt.flow_runs ON DELETE CASCADE,
    task        text,
    attempt     integer,
    logged_at   timestamptz NOT NULL,
    level       text NOT NULL,
    sqlstate    text,
    message     text NOT NULL,
    detail      text,
    hint        text
);
CREATE INDEX ON elt.logs (run_id, id);

/* ------------------------------------------------------------------
 * Who sees what: a flow and its runs belong to the flow's owner role and
 * to the roles that are members of it.
 * ------------------------------------------------------------------ */

ALTER TABLE elt.flows ENABLE ROW LEVEL SECURITY;
ALTER TABLE elt.tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE elt.flow_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE elt.task_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE elt.logs ENABLE ROW LEVEL SECURITY;

CREATE POLICY flows_owner ON elt.flows
    USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
CREATE POLICY tasks_owner ON elt.tasks
    USING (EXISTS (SELECT 1 FROM elt.flows f WHERE f.name = flow));
CREATE POLICY flow_runs_owner ON elt.flow_runs FOR SELECT
    USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
CREATE POLICY task_runs_owner ON elt.task_runs FOR SELECT
    USING (EXISTS (SELECT 1 FROM elt.flow_runs r WHERE r.run_id = task_runs.run_id));
CREATE POLICY logs_owner ON elt.logs FOR SELECT
    USING (EXISTS (SELECT 1 FROM elt.flow_runs r WHERE r.run_id = logs.run_id));

GRANT SELECT, INSERT, UPDATE, DELETE ON elt.flows, elt.tasks TO PUBLIC;
GRANT SELECT ON elt.flow_runs, elt.task_runs, elt.logs TO PUBLIC;

/* ------------------------------------------------------------------
 * Validation on write, so that a broken definition fails at INSERT or
 * UPDATE and not at run time.
 * ------------------------------------------------------------------ */

CREATE FUNCTION elt._check_extract_config(config jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'elt_check_extract_config' LANGUAGE C STRICT;

CREATE FUNCTION elt._check_flow() RETURNS trigger
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
    RETURN NEW;
END
$$;

CREATE TRIGGER check_flow BEFORE INSERT OR UPDATE ON elt.flows
    FOR EACH ROW EXECUTE FUNCTION elt._check_flow();

CREATE FUNCTION elt._check_task() RETURNS trigger
LANGUAGE plpgsql AS $$
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

CREATE TRIGGER check_task BEFORE INSERT OR UPDATE ON elt.tasks
    FOR EACH ROW EXECUTE FUNCTION elt._check_task();

/*
 * The dependency graph of a flow must name existing tasks and have no
 * cycle.  Checked after each statement's rows are in, so that a flow's
 * tasks can be inserted in any order within one statement (or, with SET
 * CONSTRAINTS ALL DEFERRED, within one transaction).
 */
-- search_path: fixed (pg_catalog, pg_temp) where pg_elt--0.2--0.3.sql restates it.
CREATE FUNCTION elt._check_flow_graph() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    f text := CASE WHEN TG_OP = 'DELETE' THEN OLD.flow ELSE NEW.flow END;
    bad record;
    cycle text[];
BEGIN
    SELECT t.name, d INTO bad
      FROM elt.tasks t, unnest(t.depends_on) d
     WHERE t.flow = f
       AND NOT EXISTS (SELECT 1 FROM elt.tasks u WHERE u.flow = f AND u.name = d)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'task "%" of flow "%" depends on task "%", which does not exist', bad.name, f, bad.d
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Insert the task it depends on first, or correct depends_on.';
    END IF;

    WITH RECURSIVE walk(start, cur, path, closed) AS (
        SELECT t.name, d, ARRAY[t.name, d], d = t.name
          FROM elt.tasks t, unnest(t.depends_on) d
         WHERE t.flow = f
        UNION ALL
        SELECT w.start, d, w.path || d, d = w.start
          FROM walk w
          JOIN elt.tasks t ON t.flow = f AND t.name = w.cur,
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

CREATE CONSTRAINT TRIGGER check_flow_graph AFTER INSERT OR UPDATE OR DELETE ON elt.tasks
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION elt._check_flow_graph();

/* Definitions are user data: pg_dump keeps them. */
SELECT pg_catalog.pg_extension_config_dump('elt.flows', '');
SELECT pg_catalog.pg_extension_config_dump('elt.tasks', '');

/* ------------------------------------------------------------------
 * The API
 * ------------------------------------------------------------------ */

CREATE FUNCTION @extschema@.load_csv(url text, table_name text, options jsonb DEFAULT '{}')
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'elt_load_csv_sql'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.load_csv(text, text, jsonb) IS
    'stream a CSV (gzip or plain) from a URL into a table with COPY; returns the rows loaded';

CREATE FUNCTION @extschema@.flow_run(flow text, params jsonb DEFAULT '{}',
                                     OUT run_id bigint, OUT state text, OUT message text,
                                     OUT rows_loaded bigint, OUT duration interval)
    RETURNS record
    AS 'MODULE_PATHNAME', 'elt_flow_run'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.flow_run(text, jsonb) IS
    'run a flow in a background worker as its owner, relaying its log; returns the run''s outcome';

CREATE FUNCTION elt.substitute(template text, params jsonb DEFAULT '{}')
    RETURNS text
    AS 'MODULE_PATHNAME', 'elt_substitute_sql'
    LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION elt.substitute(text, jsonb) IS
    'a task''s SQL or config string with run parameters substituted by psql''s rules';
