/* pg_elt 0.4 -> 0.5: what a DBA sees: the statement or load each worker is at (elt.running), a comment on every catalog object */
\echo Use "ALTER EXTENSION pg_elt UPDATE TO '0.5'" to load this file. \quit

/* ------------------------------------------------------------------
 * elt.running: every worker at a task of a running run, the coordinator
 * and its helpers alike.  A worker's application_name says its run and
 * task ("pg_elt run 20 task talk", clipped at 63 bytes, as every
 * application_name is); its query is the statement it runs, or
 * "loading URL into TABLE" (the URL without credentials), and query_start
 * when that began.
 * ------------------------------------------------------------------ */

CREATE OR REPLACE VIEW elt.running WITH (security_invoker = true) AS
    SELECT r.run_id, r.flow, a.pid,
           substring(a.application_name FROM '^pg_elt run [0-9]+ task (.*)$') AS task,
           p.tuples_processed AS rows_so_far,
           round(p.bytes_processed / 1048576.0, 1) AS mb_so_far,
           round((p.bytes_processed / 1048576.0
                  / greatest(extract(epoch FROM clock_timestamp() - a.query_start), 0.001))::numeric, 1) AS mb_per_s,
           clock_timestamp() - a.query_start AS elapsed,
           a.query AS activity
      FROM pg_catalog.pg_stat_activity a
      JOIN elt.flow_runs r
        ON r.run_id = substring(a.application_name FROM '^pg_elt run ([0-9]{1,18}) task ')::bigint
       AND r.state = 'running'
      LEFT JOIN pg_catalog.pg_stat_progress_copy p ON p.pid = a.pid
     WHERE a.backend_type IN ('pg_elt flow run', 'pg_elt task')
       AND a.state = 'active';

/* ------------------------------------------------------------------
 * A comment on every catalog object: what \d+, \df+ and pgAdmin show.
 * Objects that had a right comment already keep it; elt.tasks's said
 * nothing of subflows and is replaced.
 * ------------------------------------------------------------------ */

-- Tables

COMMENT ON TABLE elt.tasks IS
    'pg_elt tasks: the steps of a flow (kind extract, sql or flow), with their dependencies, retries, timeout, map and cache settings; one row per (flow, owner, name)';
COMMENT ON TABLE elt.flow_runs IS
    'pg_elt''s run history: one row per run of a flow, written by pg_elt only; owners see their own and may delete ended ones (elt.runs is the view for people)';
COMMENT ON TABLE elt.task_runs IS
    'pg_elt''s task attempts: one row per attempt of each task of a run (a retry is a new row), written by pg_elt only; see elt.task_attempts';
COMMENT ON TABLE elt.logs IS
    'the log lines of runs (all of them, a task''s SQL''s INFO, NOTICE and WARNING messages included) and of the scheduler (skipped slots, disabled flows, crashed runs), written by pg_elt only';
COMMENT ON TABLE elt.schedule_slots IS
    'internal: the scheduler''s next slot for each enabled, scheduled flow, kept by the keep_schedule_slot trigger and elt._sync_schedule_slots; superusers only, not for editing';
COMMENT ON TABLE elt.notification_attempts IS
    'every delivery attempt of an event of elt.notification_outbox, written by pg_elt''s notifier';

-- elt.flows

COMMENT ON COLUMN elt.flows.name IS
    'the flow''s name, unique per owner (primary key name, owner); renaming it carries its tasks along';
COMMENT ON COLUMN elt.flows.params IS
    'the flow''s parameters and their defaults, a JSON object: runs may pass only these keys, and tasks use them as :name, :''name'', :"name"';
COMMENT ON COLUMN elt.flows.owner IS
    'the role (by name) runs execute as, with its rights and settings; must have LOGIN; default the inserting role';
COMMENT ON COLUMN elt.flows.description IS 'free text for people';
COMMENT ON COLUMN elt.flows.created_at IS 'when the flow was inserted';
COMMENT ON COLUMN elt.flows.timezone IS
    'the time zone of a cron schedule (a name from pg_timezone_names, e.g. Europe/Paris); NULL: pg_elt.timezone (default UTC)';
COMMENT ON COLUMN elt.flows.enabled IS
    'false: the schedule does not fire (flow_run and flow_submit still run the flow); pg_elt sets it false when the owner role is gone or a superuser''s write failed a check';
COMMENT ON COLUMN elt.flows.catchup IS
    'true: a slot missed by more than a minute (server down) still runs once when the scheduler is back; false (default): it is skipped and logged';
COMMENT ON COLUMN elt.flows.max_active_runs IS
    'a schedule slot is skipped (and logged) while this many runs of the flow are pending or running (at least 1, default 1); flow_run and flow_submit are not held to it';
COMMENT ON COLUMN elt.flows.priority IS
    'copied to the flow''s runs: among runs due at the same time, higher starts first (default 0; at most pg_elt.max_priority for an owner who is not a superuser)';

-- elt.tasks

COMMENT ON COLUMN elt.tasks.flow IS 'the name of the task''s flow (with owner, a reference to elt.flows)';
COMMENT ON COLUMN elt.tasks.name IS
    'the task''s name, unique in its flow; downstream templates see its result under this name, so it may not be one of the flow''s parameters';
COMMENT ON COLUMN elt.tasks.kind IS
    'extract (a load_csv of config''s url into config''s table), sql (runs the sql column) or flow (runs the flow config names as a subflow)';
COMMENT ON COLUMN elt.tasks.config IS
    'extract: url, table and any load_csv option; flow: {"flow": "name", "params": {...}}; unused by sql tasks; string values take :parameters';
COMMENT ON COLUMN elt.tasks.sql IS
    'sql tasks: the statements to run (several allowed, no transaction control), after parameter substitution; unused by other kinds';
COMMENT ON COLUMN elt.tasks.depends_on IS
    'names of tasks of the same flow that must complete (or be cached) before this one starts; empty: none';
COMMENT ON COLUMN elt.tasks.retries IS 'attempts after the first when an attempt fails with an error that may succeed on retry (default 0)';
COMMENT ON COLUMN elt.tasks.retry_delay IS 'the wait before the first retry (default 0)';
COMMENT ON COLUMN elt.tasks.retry_backoff IS 'what retry_delay is multiplied by after each retry (at least 1; 1, the default, keeps it constant)';
COMMENT ON COLUMN elt.tasks.timeout IS
    'an attempt running longer is stopped, rolled back and counted as failed (retries apply); NULL: no limit but the flow''s timeout';
COMMENT ON COLUMN elt.tasks.tags IS
    'labels: a tag in elt.concurrency_limits limits how many such attempts run at once; notification rules can select flows by tag';
COMMENT ON COLUMN elt.tasks.description IS 'free text for people';

-- elt.flow_runs

COMMENT ON COLUMN elt.flow_runs.run_id IS 'the run''s id, from a sequence that pg_dump keeps, so restored ids continue';
COMMENT ON COLUMN elt.flow_runs.flow IS 'the name of the run''s flow (with owner); not a reference: the history outlives the flow';
COMMENT ON COLUMN elt.flow_runs.owner IS 'the role the run executes as: the flow''s owner when the run was made';
COMMENT ON COLUMN elt.flow_runs.state IS
    'pending, running, completed, failed, cancelled or crashed; a run flow_pause holds stays running, with paused_at set';
COMMENT ON COLUMN elt.flow_runs.trigger IS
    'what made the run: manual (flow_run, subflows too), api (flow_submit), schedule, or retry (flow_retry, or the re-run of a crashed run)';
COMMENT ON COLUMN elt.flow_runs.params IS
    'the run''s parameters: the flow''s params overlaid with those passed; a for_each ''files'' task''s listing is added under "TASK.files"';
COMMENT ON COLUMN elt.flow_runs.message IS
    'the outcome in words ("2 tasks completed", the failure, why it crashed); NULL until the run ends';
COMMENT ON COLUMN elt.flow_runs.rows_loaded IS
    'rows loaded by the run''s extract tasks and subflows (rows of SQL tasks not counted; 0 for cached tasks); set when the run ends';
COMMENT ON COLUMN elt.flow_runs.worker_pid IS
    'the process id of the run''s worker (kept after the run ends); NULL until a worker has taken the run';
COMMENT ON COLUMN elt.flow_runs.created_at IS 'when the run was made: queued, or started by flow_run (elt.runs calls it submitted_at)';
COMMENT ON COLUMN elt.flow_runs.started_at IS 'when the run''s worker started it; NULL while it is queued';
COMMENT ON COLUMN elt.flow_runs.ended_at IS 'when the run ended; NULL while it is pending or running';
COMMENT ON COLUMN elt.flow_runs.duration IS 'ended_at - started_at (generated); NULL until the run ends';
COMMENT ON COLUMN elt.flow_runs.run_at IS
    'when the run is due: flow_submit''s run_at (one in the past counts as the submit''s time) or the schedule''s slot; for flow_run, when it was called';
COMMENT ON COLUMN elt.flow_runs.priority IS 'the flow''s priority when the run was made: among runs due at the same time, higher starts first';
COMMENT ON COLUMN elt.flow_runs.attempt IS
    '1, or n + 1 for the scheduler''s re-run of a crashed run (elt.flows.retries); runs of flow_retry start at 1 again';
COMMENT ON COLUMN elt.flow_runs.retry_of IS 'the run this one re-runs (flow_retry, or the re-run of a crashed run); NULL otherwise';
COMMENT ON COLUMN elt.flow_runs.parent_task IS 'with parent_run: the task of the parent run this run is a subflow of; NULL for a top-level run';

-- elt.task_runs

COMMENT ON COLUMN elt.task_runs.run_id IS 'the run (elt.flow_runs) the attempt belongs to';
COMMENT ON COLUMN elt.task_runs.task IS 'the task''s name; the instances of a mapped task (for_each) are task[1], task[2], ...';
COMMENT ON COLUMN elt.task_runs.attempt IS 'the attempt''s number, from 1; each retry is a new row';
COMMENT ON COLUMN elt.task_runs.state IS
    'pending, running, retrying (failed, another attempt follows), completed, cached (took a cache entry''s result), failed, cancelled or crashed';
COMMENT ON COLUMN elt.task_runs.rows_loaded IS
    'extract: rows loaded; sql: rows its last statement processed; flow: rows the subflow loaded; 0 for cached and failed attempts; NULL until the attempt ends';
COMMENT ON COLUMN elt.task_runs.bytes IS
    'bytes an extract downloaded, as sent (compressed when the file is gzip); 0 for sql and flow tasks and for cached or failed attempts; NULL until the attempt ends';
COMMENT ON COLUMN elt.task_runs.sqlstate IS 'the SQLSTATE of the error that failed the attempt; NULL otherwise';
COMMENT ON COLUMN elt.task_runs.message IS
    'the error of a failed attempt, or why it ended as it did ("not started: upstream task ...", "timed out after ...", "the result of run N, reused"); NULL for a plain completion';
COMMENT ON COLUMN elt.task_runs.detail IS 'the DETAIL of the error that failed the attempt';
COMMENT ON COLUMN elt.task_runs.hint IS 'the HINT of the error that failed the attempt';
COMMENT ON COLUMN elt.task_runs.started_at IS 'when the attempt started; NULL while pending';
COMMENT ON COLUMN elt.task_runs.ended_at IS 'when the attempt ended; NULL while pending or running';
COMMENT ON COLUMN elt.task_runs.duration IS 'ended_at - started_at (generated); NULL until the attempt ends';

-- elt.logs

COMMENT ON COLUMN elt.logs.id IS 'the line''s id, from a sequence: the order lines were written in';
COMMENT ON COLUMN elt.logs.run_id IS 'the run the line belongs to; NULL for a scheduler line about a flow (see flow and owner)';
COMMENT ON COLUMN elt.logs.task IS 'the task (or mapped instance, task[n]) the line is about; NULL for the run''s own lines';
COMMENT ON COLUMN elt.logs.attempt IS 'the task''s attempt the line is about; NULL for the run''s own lines';
COMMENT ON COLUMN elt.logs.logged_at IS 'when the message was raised';
COMMENT ON COLUMN elt.logs.level IS 'info, notice or warning (failed attempts and runs are logged as warning)';
COMMENT ON COLUMN elt.logs.sqlstate IS 'the message''s SQLSTATE; NULL when it had none (00000)';
COMMENT ON COLUMN elt.logs.message IS 'the message text';
COMMENT ON COLUMN elt.logs.detail IS 'the message''s DETAIL';
COMMENT ON COLUMN elt.logs.hint IS 'the message''s HINT';
COMMENT ON COLUMN elt.logs.owner IS 'with flow: the owner of the flow of a line that belongs to no run; NULL on the lines of runs';

-- elt.concurrency_limits

COMMENT ON COLUMN elt.concurrency_limits.tag IS 'a tag of elt.tasks.tags';
COMMENT ON COLUMN elt.concurrency_limits.max_running IS
    'at most this many attempts of tasks with the tag run at once, across the database''s flows and runs (> 0); needs pg_elt in shared_preload_libraries';

-- elt.schedule_slots

COMMENT ON COLUMN elt.schedule_slots.flow IS 'the scheduled flow''s name (with owner, a reference to elt.flows)';
COMMENT ON COLUMN elt.schedule_slots.owner IS 'the scheduled flow''s owner';
COMMENT ON COLUMN elt.schedule_slots.schedule IS 'the flow''s schedule that next_slot was computed from';
COMMENT ON COLUMN elt.schedule_slots.timezone IS 'the time zone next_slot was computed in: the flow''s, else pg_elt.timezone';
COMMENT ON COLUMN elt.schedule_slots.next_slot IS
    'when the schedule next fires; -infinity: to be computed at the next round; infinity: never, or parked after an error until the schedule changes';
COMMENT ON COLUMN elt.schedule_slots.last_slot IS 'the slot that fired (or was skipped) last; NULL before the first';

-- elt.task_cache

COMMENT ON COLUMN elt.task_cache.owner IS 'the role whose runs made and may use the entry: the flow''s owner';
COMMENT ON COLUMN elt.task_cache.flow IS 'the flow of the task that made the entry';
COMMENT ON COLUMN elt.task_cache.task IS 'the task that made the entry (a mapped instance as task[n])';
COMMENT ON COLUMN elt.task_cache.rows_loaded IS 'rows_loaded of the attempt that made the entry';
COMMENT ON COLUMN elt.task_cache.bytes IS 'bytes downloaded (compressed, as sent) by the attempt that made the entry; 0 for sql and flow tasks';
COMMENT ON COLUMN elt.task_cache.inputs IS 'the inputs of the attempt that made the entry, as in elt.task_runs.inputs (URL credentials removed, header values masked)';
COMMENT ON COLUMN elt.task_cache.result IS 'the result that a cached attempt hands on, as in elt.task_runs.result';
COMMENT ON COLUMN elt.task_cache.created_at IS 'when the entry was made (or last replaced)';
COMMENT ON COLUMN elt.task_cache.expires_at IS 'created_at plus the task''s cache_expiration: an entry past it is not used, and history pruning deletes it';

-- elt.loaded_files

COMMENT ON COLUMN elt.loaded_files.owner IS 'the role that loaded the object: the caller of load_csv, or the flow''s owner in a run';
COMMENT ON COLUMN elt.loaded_files.url IS 'the object''s s3:// or gs:// URL, as the listing names it';
COMMENT ON COLUMN elt.loaded_files.size IS 'the object''s size in bytes as the store listed it (compressed, for a gzip object)';
COMMENT ON COLUMN elt.loaded_files.rows_loaded IS 'rows loaded from the object';
COMMENT ON COLUMN elt.loaded_files.loaded_at IS 'when the object was loaded (the row commits with its rows)';

-- elt.credentials

COMMENT ON COLUMN elt.credentials.owner IS 'the role (by name) the credential belongs to; that role, its members and its flows'' runs use it by name';
COMMENT ON COLUMN elt.credentials.name IS 'the name loads, tasks and notification rules use it by, unique per owner';
COMMENT ON COLUMN elt.credentials.kind IS 'http_header, bearer, basic or s3';
COMMENT ON COLUMN elt.credentials.settings IS
    'the fields that may be shown, a JSON object of strings: header (http_header), user (basic), access_key_id, region, endpoint (s3)';
COMMENT ON COLUMN elt.credentials.secret IS
    'the secret fields, a JSON object of strings, unencrypted: value, token, password, or secret_access_key and session_token (s3)';
COMMENT ON COLUMN elt.credentials.created_at IS 'when the credential was created';
COMMENT ON COLUMN elt.credentials.updated_at IS 'when elt.alter_credential last changed it';

-- elt.notification_rules

COMMENT ON COLUMN elt.notification_rules.owner IS
    'the role the rule belongs to and delivers as (default the writing role); it covers that role''s flows only';
COMMENT ON COLUMN elt.notification_rules.name IS 'the rule''s name, unique per owner';
COMMENT ON COLUMN elt.notification_rules.flow IS 'the owner''s flow the rule is for; NULL: every flow of the owner (with tag set, those with a task so tagged)';
COMMENT ON COLUMN elt.notification_rules.tag IS 'the rule is only for flows with a task tagged so; NULL: no condition on tags';
COMMENT ON COLUMN elt.notification_rules.long_running IS
    'for the event long_running: a run still running after this long is reported, once per run; NULL otherwise';
COMMENT ON COLUMN elt.notification_rules.url IS 'target webhook: the http(s) URL the event is POSTed to as JSON';
COMMENT ON COLUMN elt.notification_rules.credential IS 'target webhook: the name of an HTTP credential (http_header, bearer, basic) whose header is sent; NULL: none';
COMMENT ON COLUMN elt.notification_rules.body IS
    'target webhook: the body template, {{field}} (JSON-escaped) for an event field and {{json}} for the whole event; NULL: the event as is';
COMMENT ON COLUMN elt.notification_rules.channel IS 'target pg_notify: the channel (at most 63 bytes); the payload is the event';
COMMENT ON COLUMN elt.notification_rules.function IS
    'target function: the (schema-qualified) name of a function taking the event as jsonb, called as the owner';
COMMENT ON COLUMN elt.notification_rules.max_attempts IS 'delivery attempts of an event before it is given up (1 to 100, default 8)';
COMMENT ON COLUMN elt.notification_rules.enabled IS
    'false: the rule queues no events; pg_elt sets it false when a superuser''s write (a restore) names a flow, credential or function the owner does not have or may not use';
COMMENT ON COLUMN elt.notification_rules.last_error IS 'the last error of an event this rule gave up on; NULL if none';
COMMENT ON COLUMN elt.notification_rules.created_at IS 'when the rule was inserted';

-- elt.notification_outbox

COMMENT ON COLUMN elt.notification_outbox.id IS 'the event''s id, from a sequence';
COMMENT ON COLUMN elt.notification_outbox.owner IS 'the owner of the rule that wants the event';
COMMENT ON COLUMN elt.notification_outbox.rule IS 'the name of the rule (with owner) the event is delivered for';
COMMENT ON COLUMN elt.notification_outbox.run_id IS 'the run the event is about; NULL for slot_skipped';
COMMENT ON COLUMN elt.notification_outbox.event IS 'completed, failed, cancelled, crashed, long_running or slot_skipped';
COMMENT ON COLUMN elt.notification_outbox.payload IS
    'the event as delivered: {"event", "run_id", "flow", "owner", "database", "state", "message", "trigger", "started_at", "ended_at", "duration_s", "rows_loaded", "attempt"}; slot_skipped: event, flow, owner, database, slot, message';
COMMENT ON COLUMN elt.notification_outbox.created_at IS 'when the event was queued (in the transaction of the state change)';
COMMENT ON COLUMN elt.notification_outbox.next_attempt_at IS
    'when the next delivery attempt is due: after a failure 2, 4, 8, ... seconds later (at most an hour); 5 minutes ahead while a notifier holds it';
COMMENT ON COLUMN elt.notification_outbox.attempts IS 'delivery attempts made so far';
COMMENT ON COLUMN elt.notification_outbox.delivered_at IS 'when the event was delivered; NULL until then';
COMMENT ON COLUMN elt.notification_outbox.given_up_at IS 'when the event was given up after the rule''s max_attempts; NULL otherwise';
COMMENT ON COLUMN elt.notification_outbox.last_error IS 'the error of the latest attempt; NULL once one succeeds';

-- elt.notification_attempts

COMMENT ON COLUMN elt.notification_attempts.outbox_id IS 'the event (elt.notification_outbox.id) attempted';
COMMENT ON COLUMN elt.notification_attempts.attempt IS 'the attempt''s number, from 1';
COMMENT ON COLUMN elt.notification_attempts.at IS 'when the attempt was recorded';
COMMENT ON COLUMN elt.notification_attempts.ok IS 'whether the attempt delivered the event (a webhook: a 2xx status)';
COMMENT ON COLUMN elt.notification_attempts.status IS 'a webhook''s HTTP status; NULL when no response came and for pg_notify and function targets';
COMMENT ON COLUMN elt.notification_attempts.error IS 'why the attempt failed; NULL when ok';

-- Views

COMMENT ON VIEW elt.runs IS
    'elt.flow_runs for people: the runs the current user may see, a run that flow_pause holds shown as paused';
COMMENT ON COLUMN elt.runs.state IS 'pending, running, paused (held by flow_pause), completed, failed, cancelled or crashed';
COMMENT ON COLUMN elt.runs.submitted_at IS 'when the run was made: queued, or started by flow_run';

-- A view's column that passes a table's through says what the table's does.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT m.view, m.col, col_description(a.attrelid, a.attnum) AS comment
          FROM (SELECT 'elt.runs'::regclass, 'elt.flow_runs'::regclass,
                       unnest('{run_id,flow,owner,trigger,params,run_at,started_at,ended_at,duration,rows_loaded,attempt,message,parent_run,parent_task}'::name[])
                UNION ALL
                SELECT 'elt.task_attempts', 'elt.task_runs',
                       unnest('{run_id,task,attempt,state,rows_loaded,bytes,started_at,ended_at,duration,sqlstate,inputs,result}'::name[]))
               AS m(view, source, col)
          JOIN pg_catalog.pg_attribute a ON a.attrelid = m.source AND a.attname = m.col
    LOOP
        EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', c.view, c.col, c.comment);
    END LOOP;
END
$$;

COMMENT ON VIEW elt.task_attempts IS 'the task attempts of the runs the current user may see, with their flow';
COMMENT ON COLUMN elt.task_attempts.flow IS 'the run''s flow';
COMMENT ON COLUMN elt.task_attempts.error IS 'elt.task_runs.message: the error of a failed attempt, or why it ended as it did';

COMMENT ON VIEW elt.running IS
    'what runs now: a row per pg_elt worker (a run''s own or a helper) at a task of a running run the current user may see, from pg_stat_activity and pg_stat_progress_copy';
COMMENT ON COLUMN elt.running.run_id IS 'the run the worker works for';
COMMENT ON COLUMN elt.running.flow IS 'the run''s flow';
COMMENT ON COLUMN elt.running.pid IS 'the worker''s process id (pg_stat_activity.pid)';
COMMENT ON COLUMN elt.running.task IS 'the task the worker is at, from its application_name "pg_elt run N task NAME" (clipped at 63 bytes, as every application_name is)';
COMMENT ON COLUMN elt.running.rows_so_far IS 'rows the worker''s current COPY has processed (pg_stat_progress_copy); NULL when it is not loading';
COMMENT ON COLUMN elt.running.mb_so_far IS
    'MB (1,048,576 bytes) of CSV the current load has read, inflated as COPY counts them, not as downloaded; NULL when not loading';
COMMENT ON COLUMN elt.running.mb_per_s IS 'mb_so_far per second since the current load began; NULL when not loading';
COMMENT ON COLUMN elt.running.elapsed IS 'time since the worker''s current statement or load began (pg_stat_activity.query_start)';
COMMENT ON COLUMN elt.running.activity IS
    'pg_stat_activity.query: the statement the task runs, "loading URL into TABLE" (the URL without credentials) or "running subflow NAME"';

COMMENT ON COLUMN elt.credential_list.owner IS 'the role the credential belongs to';
COMMENT ON COLUMN elt.credential_list.name IS 'the name the credential is used by';
COMMENT ON COLUMN elt.credential_list.kind IS 'http_header, bearer, basic or s3';
COMMENT ON COLUMN elt.credential_list.settings IS 'the fields that may be shown (header, user, access_key_id, region, endpoint); never the secret';
COMMENT ON COLUMN elt.credential_list.created_at IS 'when the credential was created';
COMMENT ON COLUMN elt.credential_list.updated_at IS 'when elt.alter_credential last changed it';

-- Functions: the short API

COMMENT ON FUNCTION elt.create_flow(text, jsonb, text, text, integer, interval, integer, integer, boolean, text, name) IS
    'insert a flow into elt.flows with the caller''s rights and checks; arguments left NULL take the column defaults (owner: the current user)';
COMMENT ON FUNCTION elt.alter_flow(text, jsonb, text, text, integer, interval, integer, integer, boolean, text, name, boolean) IS
    'change the columns given of the flow the caller names; NULL leaves a column as it is (elt.unschedule clears a schedule)';
COMMENT ON FUNCTION elt.drop_flow(text) IS
    'delete the flow the caller names, with its tasks (its runs stay in the history); an error if there is none';
COMMENT ON FUNCTION elt.schedule(text, text, text) IS
    'set the flow''s schedule (cron, @daily, "every N minutes", ...) and, when given, its time zone';
COMMENT ON FUNCTION elt.unschedule(text) IS 'clear the flow''s schedule';
COMMENT ON FUNCTION elt.enable(text) IS 'set the flow''s enabled to true: its schedule fires again from the next slot';
COMMENT ON FUNCTION elt.disable(text) IS
    'set the flow''s enabled to false: its schedule stops firing (flow_run and flow_submit still run the flow)';
COMMENT ON FUNCTION elt.add_task(text, text, text, text, jsonb, text[], text[], integer, interval, double precision, interval, text, text, interval, text) IS
    'insert a task into the flow the caller names (flow, name, kind, then sql, config, ...); arguments left NULL take the column defaults';
COMMENT ON FUNCTION elt.alter_task(text, text, text, jsonb, text[], text[], integer, interval, double precision, interval, text, text, interval, text) IS
    'change the columns given of a task of the flow the caller names; NULL leaves a column as it is; an error if there is no such task';
COMMENT ON FUNCTION elt.drop_task(text, text) IS 'delete a task of the flow the caller names; an error if there is no such task, or if another task depends on it';
COMMENT ON FUNCTION elt.purge_history(interval, text) IS
    'delete ended runs the caller may see (a superuser: all), with their attempts and log lines, that ended more than older_than ago, of one flow or all; returns how many runs';
COMMENT ON FUNCTION elt.drop_credential(text) IS
    'delete the credential the caller names (its own, else one of a role it is a member of)';

-- Functions: internal (called by triggers, the scheduler and the runtime)

COMMENT ON FUNCTION elt._states() IS
    'the state names as the library spells them: pending, running, retrying, completed, cached, failed, cancelled, crashed, paused (never stored; elt.runs, flow_wait and pg_notify show it); internal, safe to call';
COMMENT ON FUNCTION elt._member_roles() IS
    'internal: the names of the roles the current user is a member of; the row-level security policies and elt.credential_list show each role its own rows with it';
COMMENT ON FUNCTION elt._flow_owner(text, oid) IS
    'internal: the owner of the flow that name means for role who (its own, else the one flow of that name among the roles it is a member of; NULL: none; 42725 if ambiguous); used by the tasks trigger and the API';
COMMENT ON FUNCTION elt._resolve_flow(text) IS
    'internal: the owner of the flow the caller names, as elt._flow_owner finds it, or an error (42704); used by the short API';
COMMENT ON FUNCTION elt._write_row(regclass, jsonb, jsonb) IS
    'internal: the short API''s writer: inserts (key NULL) or updates (the row matching key) a row of tbl with the columns of cols, with the caller''s rights and through the triggers; returns the rows written';
COMMENT ON FUNCTION elt._writer_is_superuser() IS
    'internal: whether current_user is a superuser, whose write (a restore) the flows, tasks and rules triggers keep, with a WARNING, where they would refuse another role''s';
COMMENT ON FUNCTION elt._kept_disabled_hint(text, name) IS
    'internal: the HINT of the WARNING the flows triggers give when they keep a superuser''s write of a flow disabled';
COMMENT ON FUNCTION elt._json_or_null(text) IS
    'internal: the text as jsonb, or NULL when it is not JSON; the tasks triggers read for_each with it';
COMMENT ON FUNCTION elt._upstream_tasks(text, name, text[]) IS
    'internal: the sorted names of every task that a task of the flow with these depends_on is downstream of, directly or not; used by the check_task_references trigger';

COMMENT ON FUNCTION elt._check_flow() IS
    'internal: trigger function of check_flow (BEFORE INSERT OR UPDATE on elt.flows): checks name, params, owner (exists, the writer is a member, can log in), max_active_runs, retries and timeout';
COMMENT ON FUNCTION elt._check_flow_schedule() IS
    'internal: trigger function of check_flow_schedule (BEFORE INSERT OR UPDATE on elt.flows): checks timezone, schedule and the server''s limits for the owner; wakes the scheduler on a schedule change';
COMMENT ON FUNCTION elt._check_flow_names() IS
    'internal: trigger function of check_flow_names (BEFORE UPDATE OF params on elt.flows): a parameter may not take the name of one of the flow''s tasks';
COMMENT ON FUNCTION elt._keep_schedule_slot() IS
    'internal: trigger function of keep_schedule_slot (AFTER INSERT OR UPDATE on elt.flows, SECURITY DEFINER): writes or deletes the flow''s row of elt.schedule_slots';
COMMENT ON FUNCTION elt._check_task() IS
    'internal: trigger function of check_task (BEFORE INSERT OR UPDATE on elt.tasks): fills in owner from the flow; checks name, kind, config, sql, for_each, retries, delays, timeout, depends_on and cache settings';
COMMENT ON FUNCTION elt._check_task_references() IS
    'internal: trigger function of check_task_references (BEFORE INSERT OR UPDATE on elt.tasks): checks the names a task uses (parameters, upstream tasks, subflow, credential) against what exists';
COMMENT ON FUNCTION elt._check_flow_graph() IS
    'internal: trigger function of the deferrable constraint trigger check_flow_graph (AFTER INSERT, UPDATE or DELETE on elt.tasks): depends_on must name existing tasks and make no cycle';
COMMENT ON FUNCTION elt._check_notification_rule() IS
    'internal: trigger function of check_notification_rule (BEFORE INSERT OR UPDATE on elt.notification_rules): checks events, limits, the target and what it needs, and that the flow is the owner''s';
COMMENT ON FUNCTION elt._run_ended() IS
    'internal: trigger function of run_ended (AFTER UPDATE OF state on elt.flow_runs, to completed, failed, cancelled or crashed): queues the run''s end for the notification rules';
COMMENT ON FUNCTION elt._before_drop() IS
    'internal: function of event trigger pg_elt_before_drop: before DROP EXTENSION pg_elt by its owner, stops the database''s scheduler and ends its run workers';

COMMENT ON FUNCTION elt._check_extract_config(jsonb) IS
    'internal: called by the check_task trigger; errors unless an extract''s config has url and table and only known load_csv options with valid values (values with :parameters are checked at run time)';
COMMENT ON FUNCTION elt._check_schedule(text, text) IS
    'internal: called by the check_flow_schedule trigger; errors, saying where, unless the schedule parses (cron, @daily, every N units) in the time zone';
COMMENT ON FUNCTION elt._check_flow_limits(oid, integer, text, text) IS
    'internal: called by the check_flow_schedule trigger; for an owner who is not a superuser, errors on a priority above pg_elt.max_priority or a schedule firing more often than pg_elt.min_schedule_interval (NULL: not checked)';
COMMENT ON FUNCTION elt._check_task_templates(text, text, jsonb) IS
    'internal: called by the check_task_references trigger; errors if a quoted reference (:''x'', :"x") in the task''s SQL names no key of the third argument';
COMMENT ON FUNCTION elt._check_template(text, text, jsonb) IS
    'internal: called by the check_task_references trigger; the same check for a task''s cache_key, the first argument naming it in errors';
COMMENT ON FUNCTION elt._check_subflow(text, name, text, text) IS
    'internal: called by the check_task_references trigger for a task of kind flow; errors if the subflow named (not through a template) does not exist for the owner or leads back to the flow';
COMMENT ON FUNCTION elt._check_credential(name, text, text) IS
    'internal: called by the tasks and notification rules triggers; errors unless the owner may use the named credential and its kind suits the URL (s3 for s3:// and gs://, an HTTP kind for http(s) and webhooks)';
COMMENT ON FUNCTION elt._credential_kinds() IS
    'internal: each credential kind with its settings and secret fields, required and optional; used by elt._check_credential_values';
COMMENT ON FUNCTION elt._check_credential_values(text, text, jsonb, jsonb) IS
    'internal: called by elt.create_credential and elt.alter_credential; errors unless the kind is known and settings and secret hold its fields, all strings';
COMMENT ON FUNCTION elt._check_body_template(text, text) IS
    'internal: called by the check_notification_rule trigger; errors unless a webhook''s body template, filled in with a sample event, is JSON';

COMMENT ON FUNCTION elt._scheduler_available() IS
    'internal: whether pg_elt is in shared_preload_libraries (schedules, the queue, notifications); the triggers warn when it is not';
COMMENT ON FUNCTION elt._wake_scheduler() IS
    'internal: asks for the database''s scheduler when the transaction commits (nothing without the preload); called by the install and upgrade scripts and the flows trigger';
COMMENT ON FUNCTION elt._create_run(text, name, jsonb, timestamp with time zone, text, boolean, integer, bigint, integer, bigint, text, boolean) IS
    'internal: called by flow_run, flow_submit, flow_retry and subflows (src/catalog.c), schedules and re-runs; inserts a run, running in the calling worker or pending until run_at, and returns its run_id (NULL: the flow is gone)';
COMMENT ON FUNCTION elt._notify(bigint, text, text) IS
    'internal: called at every run and task state change; sends {"run_id", "flow", "task", "state"} on channel pg_elt with pg_notify, at commit';
COMMENT ON FUNCTION elt._reuse_results(bigint) IS
    'internal: called by a re-run''s worker as it starts; marks completed the tasks that completed or were cached in the run it retries, taking over their results; returns their names';
COMMENT ON FUNCTION elt._fire_schedules() IS
    'internal: called by the scheduler each round; for each due slot queues a run (or logs the slot skipped), computes the next slot; returns the earliest next slot (infinity: none)';
COMMENT ON FUNCTION elt._sync_schedule_slots() IS
    'internal: called by the scheduler at start, on reload and once a minute; disables flows of dropped owners and makes elt.schedule_slots match elt.flows';
COMMENT ON FUNCTION elt._disable_orphaned_flows() IS
    'internal: called by the scheduler through elt._sync_schedule_slots and elt._fire_schedules; disables flows whose owner role no longer exists (logged once), fails their pending runs; returns the flows disabled';
COMMENT ON FUNCTION elt._claim_runs(integer) IS
    'internal: called by the scheduler; marks up to n due pending runs running (by run_at, priority, run_id; not those of dropped roles) and returns them with the owner''s OID';
COMMENT ON FUNCTION elt._recover_runs(boolean, bigint[]) IS
    'internal: called by the scheduler at start (at_start) and as the workers of its runs end (gone); marks running runs whose worker is gone crashed, logs them, queues re-runs for flows with retries; returns the runs marked';
COMMENT ON FUNCTION elt._prune_history(interval, boolean) IS
    'internal: called by the scheduler; deletes history older than retention (1000 runs at a time, with their attempts and logs) and, with keep_completed_details off, completed runs'' attempts and logs; returns the rows deleted';
COMMENT ON FUNCTION elt._prune_cache() IS
    'internal: called by the scheduler with elt._prune_history; deletes up to 1000 expired entries of elt.task_cache; returns how many';
COMMENT ON FUNCTION elt._queue_event(text, text, name, bigint, jsonb) IS
    'internal: called by the run_ended trigger and elt._fire_schedules; writes an event of the owner''s flow to elt.notification_outbox for each enabled rule that wants it; returns how many';
COMMENT ON FUNCTION elt._run_event(text, elt.flow_runs) IS
    'internal: the JSON event of a run that notification rules deliver (event, run_id, flow, owner, database, state, message, trigger, times, duration_s, rows_loaded, attempt)';
COMMENT ON FUNCTION elt._queue_long_runs() IS
    'internal: called by the scheduler each round; queues a long_running event, once per rule and run, for runs running longer than a rule''s long_running; returns how many';
COMMENT ON FUNCTION elt._next_delivery() IS
    'internal: called by the scheduler; when notifications next need it: the earliest due outbox event or run becoming long_running (NULL: neither)';
COMMENT ON FUNCTION elt._fdw_handler() IS
    'internal: the handler of foreign-data wrapper pg_elt: foreign tables over remote CSV files, and load_csv''s executor-path row source';
COMMENT ON FUNCTION elt._fdw_validator(text[], oid) IS
    'internal: the validator of foreign-data wrapper pg_elt: a foreign table needs url and may have header, delimiter, quote, escape, null, encoding, headers and timeout; the wrapper and server take none';

-- Not asked for by \d+ or \df+, but shown by \dy+

COMMENT ON EVENT TRIGGER pg_elt_before_drop IS
    'DROP EXTENSION pg_elt first stops the database''s scheduler and ends its run workers (elt._before_drop)';

-- 0.1's words for load_csv left out the executor path and object stores.
COMMENT ON FUNCTION @extschema@.load_csv(text, text, jsonb) IS
    'stream a CSV file (gzip or plain) from an http(s)://, s3://, gs:// or file:// URL into a table, with PostgreSQL''s COPY (or the executor, where the table needs it); all or nothing; returns the rows loaded';
