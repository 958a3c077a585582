/*-------------------------------------------------------------------------
 *
 * run_worker.c
 *	  The workers of a run: the one way to start them (a RunWorkerArgs in
 *	  bgw_extra, whoever starts them), whether their run is cancelled, and
 *	  what a run's worker records as the run starts and ends.  Their entry
 *	  points are in run_worker_main.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "run_log.h"
#include "run_worker.h"

StaticAssertDecl(sizeof(RunWorkerArgs) <= BGW_EXTRALEN, "run worker args too long");

/*
 * Gives args to a worker, pooled (worker_pool.c) or new: a helper when
 * args names a task, else the run's worker.  A new worker's handle is
 * allocated in the current memory context, and nothing else is (the
 * scheduler keeps jobs in a long-lived one).
 */
bool
elt_run_worker_start(const RunWorkerArgs *args, PoolJob *job)
{
	char		name[BGW_MAXLEN];

	if (args->task[0] != '\0')
	{
		snprintf(name, sizeof(name), "pg_elt run %lld task %s", (long long) args->run_id,
				 args->task);
		return elt_pool_start("elt_task_worker_main", "pg_elt task", name, args->database,
							  args->owner, args, sizeof(RunWorkerArgs), job);
	}
	if (args->run_id != 0)
		snprintf(name, sizeof(name), "pg_elt run %lld", (long long) args->run_id);
	else
		strlcpy(name, "pg_elt run for flow_run", sizeof(name));
	return elt_pool_start("elt_flow_worker_main", "pg_elt flow run", name, args->database,
						  args->owner, args, sizeof(RunWorkerArgs), job);
}

bool
elt_run_worker_cancelled(const RunWorker *w)
{
	return (w->channel && pg_atomic_read_u32(&w->channel->shared->cancel_requested) != 0) ||
		elt_run_entry_cancelled(w->entry) ||
		(w->is_helper && elt_run_cancel_requested(w->run_id));
}

/* The coordinator cancels the run (its timeout): so helpers see the flag. */
void
elt_run_worker_cancel(RunWorker *w)
{
	if (w->channel)
		pg_atomic_write_u32(&w->channel->shared->cancel_requested, 1);
	elt_run_entry_cancel(w->entry);
}

/* The run exists: count it, name it, tell the caller its id. */
void
elt_run_worker_started(RunWorker *w)
{
	RunMessage	msg = {.type = RUN_MSG_STARTED};

	w->entry = elt_run_entry_adopt(w->run_id);
	elt_run_log_set_run(w->run_id);
	pgstat_report_appname(psprintf("pg_elt run %lld", (long long) w->run_id));
	msg.run_id = w->run_id;
	elt_run_log_send(&msg);
}

/*
 * The application_name of a worker at a task: pg_stat_activity's readers
 * and elt.running (which takes the task from it) see which run and task.
 */
void
elt_run_worker_name_task(int64 run_id, const char *task)
{
	pgstat_report_appname(psprintf("pg_elt run %lld task %s", (long long) run_id, task));
}

/* Records how the run ended, writes its log, sends the caller the result. */
void
elt_run_worker_finish(RunWorker *w, EltState state, const char *message, uint64 rows,
					  TimestampTz started)
{
	RunMessage	msg = {.type = RUN_MSG_RESULT};

	HOLD_CANCEL_INTERRUPTS();
	elt_run_log_flush();		/* first: the run's end waits for its lines */
	elt_begin_work();
	elt_run_log_to_server(w->flow_name, w->run_id, state, message);
	elt_catalog_run_end(w->run_id, state, message, rows);
	elt_commit_work();
	w->ended = true;
	RESUME_CANCEL_INTERRUPTS();

	msg.run_id = w->run_id;
	msg.state = unconstify(char *, elt_state_name(state));
	msg.message = unconstify(char *, message);
	msg.rows = (int64) rows;
	msg.duration_us = (int64) (GetCurrentTimestamp() - started);
	if (w->channel)
		pg_atomic_write_u32(&w->channel->shared->finished, 1);
	elt_run_log_send(&msg);
}

