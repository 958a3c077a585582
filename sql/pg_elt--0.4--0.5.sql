/* pg_elt 0.4 -> 0.5: what a DBA sees: the statement or load each worker is at, a comment on every catalog object */
\echo Use "ALTER EXTENSION pg_elt UPDATE TO '0.5'" to load this file. \quit

/* ------------------------------------------------------------------
 * elt.running: every worker at a task of a running run, the coordinator
 * and its helpers alike.  A worker's application_name says its run and
 * task ("pg_elt run 20 task talk"); its query is the statement it runs, or
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
        ON r.run_id = substring(a.application_name FROM '^pg_elt run ([0-9]+) task ')::bigint
       AND r.state = 'running'
      LEFT JOIN pg_catalog.pg_stat_progress_copy p ON p.pid = a.pid
     WHERE a.backend_type IN ('pg_elt flow run', 'pg_elt task')
       AND a.state = 'active';
