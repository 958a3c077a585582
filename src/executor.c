/*-------------------------------------------------------------------------
 *
 * executor.c
 *	  The flow executor: the background worker that runs one flow run, and
 *	  the helper workers it starts for tasks that can run side by side.
 *
 *	  Workers connect to the run's database as the flow's owner (PostgreSQL
 *	  15 requires that role to have LOGIN, which flow definitions check), so
 *	  every task runs with the owner's rights and never more.  The run's
 *	  worker coordinates: a task starts when its dependencies completed, its
 *	  retry delay has passed and its tags' concurrency limits have a free
 *	  slot; one ready task runs in the coordinator itself, several run in
 *	  helpers.  Each attempt is one transaction, so a completed load stays
 *	  committed when a later task fails and a failed attempt leaves nothing
 *	  behind.  History (attempt rows, log lines) is written in transactions
 *	  of its own.
 *
 *	  Everything the run logs (its own lines, load progress, NOTICEs raised
 *	  by task SQL) goes through one path: an emit_log_hook collects it for
 *	  elt.logs and relays it to the waiting caller over the run's message
 *	  queue, so the caller sees it live whatever its isolation level.
 *
 *	  Cancellation comes as a flag in shared memory (flow_run's segment, or
 *	  the run's slot when preloaded) plus SIGINT, which interrupts the
 *	  running task like a query cancel; the flag tells a cancel from a
 *	  task's timeout.  The flow's timeout stops the run the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_elt.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

typedef enum TaskState
{
	TASK_PENDING,
	TASK_RUNNING,				/* in a helper worker */
	TASK_RETRY_WAIT,			/* an attempt failed; the next waits its delay */
	TASK_COMPLETED,
	TASK_FAILED,
	TASK_CANCELLED
} TaskState;

/* Where a task of the run stands, for the coordinator. */
typedef struct TaskProgress
{
	TaskDef    *task;
	TaskState	state;
	int			attempt;		/* the last one started */
	double		delay_s;		/* before the next retry */
	TimestampTz not_before;		/* of the next attempt */
	BackgroundWorkerHandle *helper;
	List	   *held_slots;		/* concurrency slots taken (tag_limits.c) */
	bool		told_waiting;
	uint64		rows;
	char	   *failure;
} TaskProgress;

/* What a helper worker gets in bgw_extra: one attempt of one task. */
typedef struct HelperArgs
{
	Oid			database;
	Oid			owner;
	int64		run_id;
	dsm_handle	caller_segment; /* flow_run's, for its cancel flag, or 0 */
	int32		attempt;
	char		task[BGW_EXTRALEN - 28];
} HelperArgs;

/* The state of this worker's run. */
typedef struct WorkerRun
{
	EltRunShared *shared;		/* flow_run's segment, or NULL if queued */
	EltRunSlot *slot;			/* shared-memory slot, if preloaded */
	shm_mq_handle *queue;		/* NULL once the caller has gone */
	List	   *relay_backlog;	/* StringInfo messages not yet sent */
	MemoryContext log_cxt;		/* log lines and relay messages */
	List	   *pending_lines;	/* LogLine * not yet in elt.logs */
	int64		run_id;
	char	   *flow_name;		/* in TopMemoryContext, for the server log */
	const char *task;			/* the task being run, for log lines */
	int			attempt;
	bool		capturing;
	bool		ended;			/* the run's end is recorded */
	bool		is_helper;		/* runs one attempt for a coordinator */
	int			helpers;		/* helpers counted in shared memory */
	TimestampTz deadline;		/* of the flow's timeout, or 0 */
	dsm_handle	caller_segment; /* flow_run's segment, for helpers */
} WorkerRun;

static WorkerRun worker_run;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* ---------------------------------------------------------------------
 * Log lines and their relay to the caller
 * ---------------------------------------------------------------------
 */

static void
msg_put_string(StringInfo buf, const char *s)
{
	pq_sendbyte(buf, s != NULL);
	if (s)
		pq_sendstring(buf, s);
}

/*
 * Sends what the caller has not received yet.  With wait false it never
 * blocks (it may run inside ereport); what does not fit stays queued.
 */
static void
relay_flush(bool wait)
{
	while (worker_run.queue != NULL && worker_run.relay_backlog != NIL)
	{
		StringInfo	msg = linitial(worker_run.relay_backlog);
		shm_mq_result res = shm_mq_send(worker_run.queue, msg->len, msg->data, !wait, true);

		if (res == SHM_MQ_WOULD_BLOCK)
			return;
		if (res == SHM_MQ_DETACHED)
			worker_run.queue = NULL;	/* the caller went away: keep running */
		worker_run.relay_backlog = list_delete_first(worker_run.relay_backlog);
		pfree(msg->data);
		pfree(msg);
	}
	if (worker_run.queue == NULL)
		worker_run.relay_backlog = NIL;
}

static void
relay_message(StringInfo msg)
{
	if (worker_run.queue == NULL)
		return;
	worker_run.relay_backlog = lappend(worker_run.relay_backlog, msg);
	relay_flush(false);
}

/* Sends a line to the caller, if one listens. */
static void
worker_relay_line(int elevel, int sqlerrcode, const char *task, const char *message,
				  const char *detail, const char *hint)
{
	MemoryContext old = MemoryContextSwitchTo(worker_run.log_cxt);
	StringInfo	msg = makeStringInfo();

	pq_sendbyte(msg, ELT_MSG_LOG);
	pq_sendint32(msg, elevel);
	pq_sendint32(msg, sqlerrcode);
	msg_put_string(msg, task);
	msg_put_string(msg, message);
	msg_put_string(msg, detail);
	msg_put_string(msg, hint);
	relay_message(msg);
	MemoryContextSwitchTo(old);
}

/* Records a line for elt.logs and relays it to the caller. */
static void
worker_log(int elevel, int sqlerrcode, const char *message, const char *detail,
		   const char *hint)
{
	MemoryContext old = MemoryContextSwitchTo(worker_run.log_cxt);
	LogLine    *line = palloc0(sizeof(LogLine));

	line->at = GetCurrentTimestamp();
	line->elevel = elevel;
	line->sqlerrcode = sqlerrcode;
	line->task = worker_run.task ? pstrdup(worker_run.task) : NULL;
	line->attempt = worker_run.attempt;
	line->message = pstrdup(message);
	line->detail = detail ? pstrdup(detail) : NULL;
	line->hint = hint ? pstrdup(hint) : NULL;
	worker_run.pending_lines = lappend(worker_run.pending_lines, line);
	MemoryContextSwitchTo(old);
	worker_relay_line(elevel, sqlerrcode, line->task, line->message, line->detail, line->hint);
}

static void
worker_logf(int elevel, const char *fmt,...) pg_attribute_printf(2, 3);

static void
worker_logf(int elevel, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	worker_log(elevel, 0, buf.data, NULL, NULL);
	pfree(buf.data);
}

/*
 * Collects INFO, NOTICE and WARNING messages raised while the run works
 * (task SQL's RAISE NOTICE, load progress) into the run's log.  They are
 * kept out of the server log, where nobody would look for them.
 */
static void
worker_emit_log_hook(ErrorData *edata)
{
	if (worker_run.capturing && edata->elevel >= INFO && edata->elevel < ERROR)
	{
		worker_run.capturing = false;	/* no recursion */
		worker_log(edata->elevel, edata->sqlerrcode == ERRCODE_SUCCESSFUL_COMPLETION ? 0 :
				   edata->sqlerrcode, edata->message, edata->detail, edata->hint);
		worker_run.capturing = true;
		if (edata->elevel < WARNING)
			edata->output_to_server = false;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* ---------------------------------------------------------------------
 * Transactions
 * ---------------------------------------------------------------------
 */


/*
 * Writes history in its own transaction.  Cancel interrupts are held: a
 * cancel stops tasks, never the bookkeeping that records it.
 */
static void
worker_flush_logs(void)
{
	HOLD_CANCEL_INTERRUPTS();
	worker_run.capturing = false;
	relay_flush(true);
	if (worker_run.run_id != 0 && worker_run.pending_lines != NIL)
	{
		elt_begin_work();
		elt_catalog_write_logs(worker_run.run_id, worker_run.pending_lines);
		elt_commit_work();
		MemoryContextReset(worker_run.log_cxt);
		worker_run.pending_lines = NIL;
	}
	worker_run.capturing = true;
	RESUME_CANCEL_INTERRUPTS();
}

static bool
worker_cancel_requested(void)
{
	return (worker_run.shared &&
			pg_atomic_read_u32(&worker_run.shared->cancel_requested) != 0) ||
		(worker_run.slot && pg_atomic_read_u32(&worker_run.slot->cancel_requested) != 0) ||
		(worker_run.is_helper && elt_run_cancel_requested(worker_run.run_id));
}

/*
 * Waits ms milliseconds, or less when interrupted: a cancel or timeout
 * ends the wait with the usual error.
 */
void
elt_sleep_interruptible(long ms)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left;

		CHECK_FOR_INTERRUPTS();
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);
		if (left <= 0)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Errors that a retry cannot cure fail a task at once: bad data, bad SQL,
 * missing objects or privileges, a missing file (HTTP 404), exceeded
 * limits, corrupt data.  Everything else (network, server errors, locks,
 * serialization failures, timeouts) is worth another attempt.
 */
bool
elt_error_is_retryable(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	if (category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		category == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ||
		category == ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION ||
		category == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		category == ERRCODE_FEATURE_NOT_SUPPORTED ||
		category == ERRCODE_DEPENDENT_PRIVILEGE_DESCRIPTORS_STILL_EXIST ||
		category == ERRCODE_INVALID_SCHEMA_NAME ||
		category == ERRCODE_INVALID_CATALOG_NAME)
		return false;
	return sqlerrcode != ERRCODE_UNDEFINED_FILE && sqlerrcode != ERRCODE_DATA_CORRUPTED;
}

/* ---------------------------------------------------------------------
 * Tasks
 * ---------------------------------------------------------------------
 */

static void
task_run_sql(TaskDef *task, Jsonb *params, AttemptOutcome *out)
{
	char	   *sql = elt_substitute(task->sql, params, psprintf("task \"%s\"", task->name));
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute(sql, false, 0);
	if (rc == SPI_ERROR_TRANSACTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("task SQL cannot contain transaction control"),
				 errhint("Each task attempt runs in a transaction of its own; split the work into tasks.")));
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	out->rows = SPI_processed;
	SPI_finish();
}

static void
task_run_extract(TaskDef *task, Jsonb *params, AttemptOutcome *out)
{
	Jsonb	   *config = elt_substitute_jsonb(task->config, params, NULL);
	LoadOptions opts;
	char	   *url = elt_jsonb_value_text(elt_jsonb_get(config, "url"));
	char	   *table = elt_jsonb_value_text(elt_jsonb_get(config, "table"));

	elt_parse_load_options(config, &opts, true, false);
	out->rows = elt_load_csv(url, table, &opts, &out->bytes);
	worker_logf(INFO, "loaded " UINT64_FORMAT " rows (" UINT64_FORMAT " bytes downloaded) into %s",
				out->rows, out->bytes, table);
}

/* One attempt of a task, in a transaction of its own. */
static AttemptOutcome
task_attempt(TaskDef *task, Jsonb *params, MemoryContext run_cxt)
{
	AttemptOutcome out;

	int64		limit_ms = task->timeout_ms;
	bool		flow_bound = false;
	int			guc_level;

	memset(&out, 0, sizeof(out));
	if (worker_run.deadline != 0)
	{
		int64		left = Max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
															   worker_run.deadline), 1);

		if (limit_ms == 0 || left < limit_ms)
			limit_ms = left, flow_bound = true;
	}
	elt_begin_work();
	/* what the task's SQL SETs ends with the attempt, as in a function */
	guc_level = NewGUCNestLevel();
	if (limit_ms > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, (int) Min(limit_ms, INT_MAX));
	PG_TRY();
	{
		if (strcmp(task->kind, "sql") == 0)
			task_run_sql(task, params, &out);
		else
			task_run_extract(task, params, &out);
		disable_timeout(STATEMENT_TIMEOUT, false);
		AtEOXact_GUC(false, guc_level);
		elt_commit_work();
		out.state = "completed";
	}
	PG_CATCH();
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(run_cxt);
		out.rows = out.bytes = 0;	/* rolled back */
		out.error = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		out.state = "failed";
	}
	PG_END_TRY();
	MemoryContextSwitchTo(run_cxt);
	QueryCancelPending = false; /* a late timeout or cancel: the flag decides */

	if (out.error && worker_cancel_requested())
	{
		out.state = "cancelled";
		out.message = "cancelled while running";
	}
	else if (out.error && out.error->sqlerrcode == ERRCODE_QUERY_CANCELED && flow_bound)
	{
		out.message = "the flow's timeout ended it";
		out.no_retry = true;
	}
	else if (out.error && out.error->sqlerrcode == ERRCODE_QUERY_CANCELED && limit_ms > 0)
		out.message = psprintf("timed out after %.1f s", task->timeout_ms / 1000.0);
	return out;
}

/*
 * Runs one attempt of a task and records it (its row in elt.task_runs and
 * its log lines).  Returns TASK_COMPLETED, TASK_RETRY_WAIT (failed, and
 * worth another attempt), TASK_FAILED or TASK_CANCELLED.  Used by the
 * coordinator for tasks it runs itself and by helper workers.
 */
static TaskState
attempt_run(TaskDef *task, Jsonb *params, int attempt, MemoryContext run_cxt,
			uint64 *rows, char **failure)
{
	AttemptOutcome out;
	bool		retry;

	worker_run.task = task->name;
	worker_run.attempt = attempt;
	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	elt_catalog_attempt_start(worker_run.run_id, task->name, attempt);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	worker_logf(INFO, "attempt %d of %d started", attempt, task->retries + 1);
	pgstat_report_activity(STATE_RUNNING, psprintf("pg_elt run %lld task %s",
												   (long long) worker_run.run_id, task->name));

	out = task_attempt(task, params, run_cxt);
	retry = out.error && !out.no_retry && strcmp(out.state, "cancelled") != 0 && attempt <= task->retries &&
		(elt_error_is_retryable(out.error->sqlerrcode) ||
		 (out.error->sqlerrcode == ERRCODE_QUERY_CANCELED));
	if (retry)
		out.state = "retrying";

	if (out.error)
		worker_log(WARNING, out.error->sqlerrcode,
				   psprintf("attempt %d %s: %s", attempt,
							strcmp(out.state, "cancelled") == 0 ? "cancelled" : "failed",
							out.message ? out.message : out.error->message),
				   out.error->detail, out.error->hint);
	else
		worker_logf(INFO, "completed");
	if (out.error && !retry && strcmp(out.state, "cancelled") != 0 && attempt <= task->retries)
		worker_logf(INFO, out.no_retry ? "not retried: the flow's time is up" :
					"not retried: the error would recur");

	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	elt_catalog_attempt_end(worker_run.run_id, task->name, attempt, &out);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	worker_flush_logs();
	pgstat_report_activity(STATE_IDLE, NULL);

	*rows = out.rows;
	*failure = out.error ? pstrdup(out.message ? out.message : out.error->message) : NULL;
	if (!out.error)
		return TASK_COMPLETED;
	if (strcmp(out.state, "cancelled") == 0)
		return TASK_CANCELLED;
	return retry ? TASK_RETRY_WAIT : TASK_FAILED;
}

/* Records a task that never ran (a dependency did not complete, or cancel). */
static void
task_skip(TaskDef *task, const char *state, const char *message)
{
	AttemptOutcome out;

	memset(&out, 0, sizeof(out));
	out.state = state;
	out.message = message;
	worker_run.task = task->name;
	worker_run.attempt = 0;
	worker_logf(strcmp(state, "failed") == 0 ? WARNING : INFO, "%s", message);
	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	elt_catalog_attempt_end(worker_run.run_id, task->name, 1, &out);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
}

/*
 * The tasks in an order that puts every task after its dependencies,
 * ties broken by name.  Definitions are checked for cycles when written,
 * so a cycle here means a concurrent change; it fails the run.
 */
List *
elt_flow_order(FlowDef *flow)
{
	List	   *order = NIL;
	List	   *left = list_copy(flow->tasks);

	while (left != NIL)
	{
		ListCell   *lc;
		bool		progress = false;

		foreach(lc, left)
		{
			TaskDef    *task = lfirst(lc);
			ListCell   *dc;
			bool		ready = true;

			foreach(dc, task->depends_on)
			{
				ListCell   *oc;
				bool		placed = false;

				foreach(oc, order)
					if (strcmp(((TaskDef *) lfirst(oc))->name, lfirst(dc)) == 0)
						placed = true;
				ready &= placed;
			}
			if (ready)
			{
				order = lappend(order, task);
				left = foreach_delete_current(left, lc);
				progress = true;
			}
		}
		if (!progress)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("the tasks of flow \"%s\" have a dependency cycle or a missing dependency",
							flow->name)));
	}
	return order;
}

static TaskProgress *
progress_of(TaskProgress *progress, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(progress[i].task->name, name) == 0)
			return &progress[i];
	return NULL;
}

/* ---------------------------------------------------------------------
 * Concurrency limits by tag: a task whose tag is in elt.concurrency_limits
 * holds one of max_running slots (tag_limits.c) while an attempt runs,
 * across all flows and runs of the database.
 * ---------------------------------------------------------------------
 */

static void
slots_release(TaskProgress *p)
{
	elt_tag_slots_release(p->held_slots);
	p->held_slots = NIL;
}

/* The limits on the task's tags, from elt.concurrency_limits. */
static List *
slots_limits_of(TaskDef *task, MemoryContext run_cxt)
{
	Datum	   *tags = palloc(sizeof(Datum) * Max(list_length(task->tags), 1));
	int			ntags = 0;
	Datum		tag_array;
	ListCell   *lc;
	List	   *limits = NIL;

	foreach(lc, task->tags)
		tags[ntags++] = CStringGetTextDatum(lfirst(lc));
	tag_array = PointerGetDatum(construct_array(tags, ntags, TEXTOID, -1, false, TYPALIGN_INT));

	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	elt_catalog_tag_limits(tag_array, &limits, run_cxt);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	return limits;
}

/* Takes a slot of every limited tag of the task, or none and says why. */
static bool
slots_acquire(TaskProgress *p, MemoryContext run_cxt)
{
	TagLimit   *full;
	MemoryContext old;

	if (p->task->tags == NIL)
		return true;
	old = MemoryContextSwitchTo(run_cxt);
	full = elt_tag_slots_take(slots_limits_of(p->task, run_cxt), &p->held_slots);
	MemoryContextSwitchTo(old);
	if (full == NULL)
		return true;
	if (!p->told_waiting)
	{
		worker_run.task = p->task->name;
		worker_run.attempt = 0;
		worker_logf(INFO, "pending: all %d slots of the concurrency limit on tag \"%s\" are taken",
					full->max_running, full->tag);
		p->told_waiting = true;
	}
	return false;
}

/* What the run has come to so far. */
typedef struct RunTally
{
	uint64		rows_loaded;
	char	   *first_failure;
	bool		cancelled;
	bool		timed_out;		/* the flow's timeout: cancelled, and failed */
} RunTally;

/* Records the outcome of an attempt in the task's progress. */
static void
progress_apply(TaskProgress *p, TaskState outcome, uint64 rows, char *failure, RunTally *tally)
{
	worker_run.task = p->task->name;
	worker_run.attempt = p->attempt;
	p->state = outcome;
	switch (outcome)
	{
		case TASK_COMPLETED:
			if (strcmp(p->task->kind, "extract") == 0)
				tally->rows_loaded += rows;
			break;
		case TASK_RETRY_WAIT:
			if (p->delay_s > 0)
				worker_logf(INFO, "retrying in %.1f s", p->delay_s);
			else
				worker_logf(INFO, "retrying now");
			p->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														(int64) (p->delay_s * 1000));
			p->delay_s = Min(p->delay_s * p->task->retry_backoff, 86400.0);
			break;
		case TASK_CANCELLED:
			tally->cancelled = true;
			break;
		default:
			if (tally->first_failure == NULL)
				tally->first_failure = psprintf("task \"%s\" failed: %s", p->task->name,
												failure ? failure : "unknown error");
			break;
	}
	worker_run.task = NULL;
	worker_run.attempt = 0;
}

/*
 * Starts the task's next attempt in a helper worker, connected as the
 * flow's owner.  False when no worker is to be had (pg_elt.max_workers,
 * max_worker_processes), or the name does not fit: the caller then runs
 * the attempt itself.
 */
static bool
helper_start(TaskProgress *p, FlowDef *flow, int helpers)
{
	HelperArgs	args;
	MemoryContext old;

	if (strlen(p->task->name) >= sizeof(args.task) || elt_max_parallel_tasks <= 1 ||
		helpers >= elt_max_parallel_tasks)
		return false;
	if (elt_shared != NULL &&
		elt_workers_running() + elt_helpers_running() >= elt_max_workers)
		return false;

	memset(&args, 0, sizeof(args));
	args.database = MyDatabaseId;
	args.owner = flow->owner;
	args.run_id = worker_run.run_id;
	args.caller_segment = worker_run.caller_segment;
	args.attempt = p->attempt;
	strlcpy(args.task, p->task->name, sizeof(args.task));

	StaticAssertStmt(sizeof(HelperArgs) <= BGW_EXTRALEN, "helper args too long");
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!elt_start_worker("elt_task_worker_main", "pg_elt task",
						  psprintf("pg_elt run %lld task %s", (long long) worker_run.run_id,
								   p->task->name),
						  (Datum) 0, &args, sizeof(args), &p->helper))
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	MemoryContextSwitchTo(old);
	p->state = TASK_RUNNING;
	elt_helper_count(1);		/* until we see it stopped */
	worker_run.helpers++;
	worker_relay_line(NOTICE, 0, p->task->name,
					  psprintf("attempt %d of %d started in a parallel worker",
							   p->attempt, p->task->retries + 1), NULL, NULL);
	return true;
}

/* How a helper's attempt ended, from its row in elt.task_runs. */
static TaskState
helper_outcome(TaskProgress *p)
{
	char	   *state;
	char	   *message;
	TaskState	outcome;
	MemoryContext home = CurrentMemoryContext;

	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	MemoryContextSwitchTo(home);
	state = elt_catalog_read_attempt(worker_run.run_id, p->task->name, p->attempt,
									 &p->rows, &message);
	if (strcmp(state, "completed") == 0)
		outcome = TASK_COMPLETED;
	else if (strcmp(state, "retrying") == 0)
		outcome = TASK_RETRY_WAIT;
	else if (strcmp(state, "cancelled") == 0)
		outcome = TASK_CANCELLED;
	else
	{
		outcome = TASK_FAILED;
		if (strcmp(state, "failed") != 0)
		{
			AttemptOutcome out;

			memset(&out, 0, sizeof(out));
			out.state = "crashed";
			out.message = message = "the task's worker exited before the attempt ended";
			elt_catalog_attempt_end(worker_run.run_id, p->task->name, p->attempt, &out);
		}
	}
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	p->failure = message;
	worker_relay_line(outcome == TASK_COMPLETED ? NOTICE : WARNING, 0, p->task->name,
					  psprintf("parallel attempt %d %s%s%s", p->attempt, state,
							   message ? ": " : "", message ? message : ""), NULL, NULL);
	return outcome;
}

/* Interrupts the running helpers (again each round: some start late). */
static void
coordinator_signal_helpers(TaskProgress *progress, int ntasks)
{
	for (int i = 0; i < ntasks; i++)
	{
		pid_t		pid;

		if (progress[i].state == TASK_RUNNING &&
			GetBackgroundWorkerPid(progress[i].helper, &pid) == BGWH_STARTED)
			kill(pid, SIGINT);
	}
}

/*
 * The run is cancelled, or its time is up: interrupt the helpers, whose
 * attempts roll back and end cancelled; pending tasks will not start.
 */
static void
coordinator_cancel(TaskProgress *progress, int ntasks, RunTally *tally)
{
	tally->cancelled = true;
	QueryCancelPending = false;
	if (worker_run.shared)
		pg_atomic_write_u32(&worker_run.shared->cancel_requested, 1);
	if (worker_run.slot)
		pg_atomic_write_u32(&worker_run.slot->cancel_requested, 1);
	coordinator_signal_helpers(progress, ntasks);
}

/* ---------------------------------------------------------------------
 * The run
 * ---------------------------------------------------------------------
 */

static void worker_log_run_end(const char *state, const char *message);

static void
worker_send_result(const char *state, const char *message, uint64 rows, TimestampTz started)
{
	StringInfo	msg = makeStringInfo();

	pq_sendbyte(msg, ELT_MSG_RESULT);
	pq_sendint64(msg, worker_run.run_id);
	msg_put_string(msg, state);
	msg_put_string(msg, message);
	pq_sendint64(msg, (int64) rows);
	pq_sendint64(msg, (int64) (GetCurrentTimestamp() - started));
	if (worker_run.shared)
		pg_atomic_write_u32(&worker_run.shared->finished, 1);
	HOLD_CANCEL_INTERRUPTS();
	relay_message(msg);
	relay_flush(true);
	RESUME_CANCEL_INTERRUPTS();
}

/*
 * The flow a run executes: the run's owner's flow of that name (the
 * worker is connected as the owner).  A run executes the definition its
 * owner approved: if the flow is gone, or the name now finds another
 * role's flow (given away, or deleted and made again by a role the owner
 * is a member of), the run must not execute it with the owner's rights.
 */
static FlowDef *
flow_load_for_run(const char *flow_name, MemoryContext cxt)
{
	FlowDef    *flow = elt_catalog_load_flow(flow_name, GetSessionUserId(), true, cxt);

	if (flow == NULL || flow->owner != GetSessionUserId())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("flow \"%s\" of role \"%s\" no longer exists", flow_name,
						GetUserNameFromId(GetSessionUserId(), false)),
				 flow ? errdetail("The name now finds the flow of role \"%s\", which this run must not execute.",
								  flow->owner_name) : 0,
				 errhint("Start a new run of the flow.")));
	return flow;
}

/*
 * Executes a run: a new one of flow_name with run_params (flow_run), or
 * the queued run queued_run_id (the scheduler's).
 */
static void
flow_execute(const char *flow_name, Jsonb *run_params, int64 queued_run_id)
{
	MemoryContext run_cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt run",
												  ALLOCSET_DEFAULT_SIZES);
	TimestampTz started = GetCurrentTimestamp();
	FlowDef    *flow;
	Jsonb	   *params;
	List	   *order;
	int			ntasks;
	TaskProgress *progress;
	TaskProgress **ready;
	RunTally	tally;
	ListCell   *lc;
	int			i = 0;
	uint64		rows_loaded = 0;
	char	   *first_failure = NULL;
	bool		cancelled = false;
	StringInfo	started_msg;
	const char *final_state;
	char	   *final_message;

	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	MemoryContextSwitchTo(run_cxt);
	if (queued_run_id != 0)
	{
		flow_name = elt_catalog_claim_queued_run(queued_run_id, &params);
		if (flow_name == NULL)
		{
			elt_commit_work();
			return;				/* cancelled before it started */
		}
		worker_run.run_id = queued_run_id;
	}
	flow = flow_load_for_run(flow_name, run_cxt);
	worker_run.flow_name = MemoryContextStrdup(TopMemoryContext, flow->name);
	if (queued_run_id == 0)
	{
		params = elt_jsonb_merge(flow->params, run_params);
		worker_run.run_id = elt_catalog_create_run(flow, params, "manual",
												   GetCurrentTimestamp(), true);
	}
	elt_catalog_add_task_rows(worker_run.run_id, flow);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	MemoryContextSwitchTo(run_cxt);
	worker_run.slot = elt_claim_run_slot(worker_run.run_id);

	pgstat_report_appname(psprintf("pg_elt run %lld", (long long) worker_run.run_id));
	started_msg = makeStringInfo();
	pq_sendbyte(started_msg, ELT_MSG_STARTED);
	pq_sendint64(started_msg, worker_run.run_id);
	relay_message(started_msg);
	worker_logf(INFO, "run %lld of flow \"%s\" started as role \"%s\"",
				(long long) worker_run.run_id, flow->name, flow->owner_name);

	order = elt_flow_order(flow);
	ntasks = list_length(order);
	progress = palloc0(sizeof(TaskProgress) * Max(ntasks, 1));
	ready = palloc(sizeof(TaskProgress *) * Max(ntasks, 1));
	foreach(lc, order)
	{
		progress[i].task = lfirst(lc);
		progress[i].delay_s = progress[i].task->retry_delay_s;
		i++;
	}
	tally.rows_loaded = 0;
	tally.first_failure = NULL;
	tally.cancelled = false;
	tally.timed_out = false;
	if (flow->timeout_ms > 0)
		worker_run.deadline = TimestampTzPlusMilliseconds(started, flow->timeout_ms);

	/*
	 * Each round: collect helpers that finished, skip tasks that cannot
	 * run, start the ready ones (in helper workers when several things can
	 * run at once, else here), then wait for a helper, a retry's time or a
	 * free concurrency slot.
	 */
	for (;;)
	{
		int			running = 0;
		int			nready = 0;
		bool		left = false;
		bool		ran_inline = false;
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz wake = TimestampTzPlusMilliseconds(now, 1000);
		long		wait_ms;

		if (!tally.cancelled && worker_cancel_requested())
			coordinator_cancel(progress, ntasks, &tally);
		if (!tally.cancelled && worker_run.deadline != 0 && now >= worker_run.deadline)
		{
			tally.timed_out = true;
			coordinator_cancel(progress, ntasks, &tally);
		}
		if (worker_run.deadline != 0 && !tally.cancelled)
			wake = Min(wake, worker_run.deadline);
		if (tally.cancelled)
			coordinator_signal_helpers(progress, ntasks);

		for (i = 0; i < ntasks; i++)
		{
			TaskProgress *p = &progress[i];
			pid_t		pid;

			if (p->state != TASK_RUNNING)
				continue;
			if (GetBackgroundWorkerPid(p->helper, &pid) != BGWH_STOPPED)
			{
				running++;
				continue;
			}
			elt_helper_count(-1);
			worker_run.helpers--;
			{
				TaskState	outcome = helper_outcome(p);

				slots_release(p);
				progress_apply(p, outcome, p->rows, p->failure, &tally);
			}
		}

		for (i = 0; i < ntasks; i++)
		{
			TaskProgress *p = &progress[i];
			ListCell   *dc;
			char	   *blocked_by = NULL;
			bool		deps_done = true;

			if (p->state != TASK_PENDING && p->state != TASK_RETRY_WAIT)
				continue;
			foreach(dc, p->task->depends_on)
			{
				TaskProgress *dep = progress_of(progress, ntasks, lfirst(dc));

				if (dep == NULL || dep->state == TASK_FAILED || dep->state == TASK_CANCELLED)
					blocked_by = blocked_by ? blocked_by : lfirst(dc);
				deps_done &= (dep != NULL && dep->state == TASK_COMPLETED);
			}
			if (tally.cancelled)
			{
				p->state = TASK_CANCELLED;
				task_skip(p->task, "cancelled", tally.timed_out ?
						  "not started: the flow timed out" : "not started: the run was cancelled");
				continue;
			}
			if (blocked_by)
			{
				p->state = TASK_FAILED;
				task_skip(p->task, "failed",
						  psprintf("not started: upstream task \"%s\" did not complete", blocked_by));
				continue;
			}
			left = true;
			if (!deps_done)
				continue;
			if (p->state == TASK_RETRY_WAIT && now < p->not_before)
			{
				wake = Min(wake, p->not_before);
				continue;
			}
			ready[nready++] = p;
		}
		if (!left && running == 0)
			break;

		for (i = 0; i < nready && !ran_inline; i++)
		{
			TaskProgress *p = ready[i];
			uint64		rows = 0;
			char	   *failure = NULL;
			TaskState	outcome;

			if (!slots_acquire(p, run_cxt))
			{
				wake = Min(wake, TimestampTzPlusMilliseconds(now, 200));
				continue;
			}
			p->attempt++;
			if ((running > 0 || nready > 1) && helper_start(p, flow, running))
			{
				running++;
				continue;
			}
			if (running > 0)
			{
				/* no worker to spare: wait for one of the others */
				p->attempt--;
				slots_release(p);
				continue;
			}
			outcome = attempt_run(p->task, params, p->attempt, run_cxt, &rows, &failure);
			slots_release(p);
			progress_apply(p, outcome, rows, failure, &tally);
			ran_inline = true;
		}
		if (ran_inline)
			continue;

		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), wake);
		if (wait_ms > 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ProcDiePending)
			CHECK_FOR_INTERRUPTS();
	}
	cancelled = tally.cancelled && !tally.timed_out;
	rows_loaded = tally.rows_loaded;
	first_failure = tally.timed_out ?
		psprintf("timed out after %.1f s (the flow's timeout)", flow->timeout_ms / 1000.0) :
		tally.first_failure;
	worker_run.task = NULL;
	worker_run.attempt = 0;

	if (cancelled)
	{
		final_state = "cancelled";
		final_message = "the run was cancelled";
	}
	else if (first_failure)
	{
		final_state = "failed";
		final_message = first_failure;
	}
	else
	{
		final_state = "completed";
		final_message = psprintf("%d task%s completed", list_length(order),
								 list_length(order) == 1 ? "" : "s");
	}
	worker_logf(strcmp(final_state, "completed") == 0 ? INFO : WARNING, "run %s: %s",
				final_state, final_message);

	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	worker_log_run_end(final_state, final_message);
	elt_catalog_run_end(worker_run.run_id, final_state, final_message, rows_loaded);
	elt_commit_work();
	worker_run.ended = true;
	worker_flush_logs();
	RESUME_CANCEL_INTERRUPTS();
	worker_send_result(final_state, final_message, rows_loaded, started);
}

/*
 * Writes the end of the run to the server log, as pg_elt.log_runs asks:
 * a run in the background fails unseen otherwise.
 */
static void
worker_log_run_end(const char *state, const char *message)
{
	if (elt_log_runs == ELT_LOG_RUNS_NONE ||
		(elt_log_runs == ELT_LOG_RUNS_FAILED && strcmp(state, "completed") == 0))
		return;
	ereport(LOG_SERVER_ONLY,
			(errmsg("pg_elt: run %lld of flow \"%s\" in database \"%s\" %s: %s",
					(long long) worker_run.run_id,
					worker_run.flow_name ? worker_run.flow_name : "?",
					get_database_name(MyDatabaseId), state, message)));
}

/*
 * Connects to the database as the flow's owner, and starts collecting the
 * run's messages: NOTICE and INFO must reach the hook, which keeps them out
 * of the server log.
 */
static void
worker_connect(Oid database, Oid owner)
{
	BackgroundWorkerInitializeConnectionByOid(database, owner, 0);
	SetConfigOption("log_min_messages", "info", PGC_SUSET, PGC_S_OVERRIDE);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = worker_emit_log_hook;
	worker_run.capturing = true;
}

/*
 * As the worker exits.  A run that did not record its end (the worker was
 * terminated, or failed outside any task) is left "running": ask for the
 * database's scheduler, which marks it crashed (and queues its re-run).
 */
static void
worker_release_slot(int code, Datum arg)
{
	if (worker_run.run_id != 0 && !worker_run.ended && !worker_run.is_helper)
		elt_request_scheduler(MyDatabaseId);
	if (worker_run.helpers > 0)
		elt_helper_count(-worker_run.helpers);
	worker_run.helpers = 0;
	if (worker_run.shared)
		worker_run.shared->worker_pid = 0;
	elt_release_run_slot(worker_run.slot);
	worker_run.slot = NULL;
}

/*
 * An error outside any task (a changed definition, the catalog) ends the
 * run as failed, recorded, rather than leaving it "running".
 */
static void
worker_fail_run(void)
{
	ErrorData  *edata;
	MemoryContext cxt = worker_run.log_cxt;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	EmitErrorReport();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	QueryCancelPending = false;
	if (worker_run.run_id != 0)
	{
		char	   *message = MemoryContextStrdup(TopMemoryContext,
												  psprintf("the run failed: %s", edata->message));

		worker_run.task = NULL;
		worker_run.attempt = 0;
		worker_log(WARNING, edata->sqlerrcode, message, edata->detail, edata->hint);
		elt_begin_work();
		worker_log_run_end("failed", message);
		elt_catalog_run_end(worker_run.run_id, "failed", message, 0);
		elt_commit_work();
		worker_run.ended = true;
		worker_flush_logs();
		worker_send_result("failed", message, 0, GetCurrentTimestamp());
	}
	RESUME_INTERRUPTS();
}

/*
 * Attaches to flow_run's shared memory (main_arg is its handle) and
 * returns the flow name and params there.
 */
static char *
worker_attach_caller(dsm_handle handle, char **params_text, Oid *database, Oid *owner)
{
	dsm_segment *seg;
	shm_toc    *toc;
	shm_mq	   *mq;

	seg = dsm_attach(handle);
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_elt run worker could not attach to its shared memory")));
	dsm_pin_mapping(seg);
	toc = shm_toc_attach(ELT_RUN_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		elog(ERROR, "bad magic number in pg_elt run shared memory");
	worker_run.shared = shm_toc_lookup(toc, ELT_KEY_SHARED, false);
	worker_run.shared->worker_pid = MyProcPid;
	worker_run.caller_segment = handle;
	mq = shm_toc_lookup(toc, ELT_KEY_QUEUE, false);
	shm_mq_set_sender(mq, MyProc);
	worker_run.queue = shm_mq_attach(mq, seg, NULL);
	*params_text = pstrdup(shm_toc_lookup(toc, ELT_KEY_PARAMS, false));
	*database = worker_run.shared->database;
	*owner = worker_run.shared->owner;
	return pstrdup(shm_toc_lookup(toc, ELT_KEY_FLOW, false));
}

/*
 * Entry point of a run's background worker.  main_arg is the handle of
 * flow_run's DSM segment, or 0 for a queued run, whose database, owner and
 * run id are in bgw_extra.
 */
void
elt_flow_worker_main(Datum main_arg)
{
	char	   *flow_name = NULL;
	char	   *params_text = "{}";
	Jsonb	   *params;
	EltRunWorkerArgs args;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	memset(&worker_run, 0, sizeof(worker_run));
	memset(&args, 0, sizeof(args));
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pg_elt flow run");
	if (DatumGetUInt32(main_arg) != 0)
		flow_name = worker_attach_caller(DatumGetUInt32(main_arg), &params_text,
										 &args.database, &args.owner);
	else
		memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	worker_run.log_cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt log",
											   ALLOCSET_DEFAULT_SIZES);
	before_shmem_exit(worker_release_slot, (Datum) 0);

	worker_connect(args.database, args.owner);

	params = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(params_text)));
	PG_TRY();
	{
		flow_execute(flow_name, params, args.run_id);
	}
	PG_CATCH();
	{
		worker_fail_run();
	}
	PG_END_TRY();
	proc_exit(0);
}

/*
 * Entry point of a helper worker: one attempt of one task of a run whose
 * coordinator runs tasks in parallel.  bgw_extra holds a HelperArgs.
 */
void
elt_task_worker_main(Datum main_arg)
{
	HelperArgs	args;
	MemoryContext cxt;
	FlowDef    *flow;
	Jsonb	   *params = NULL;
	char	   *flow_name;
	TaskDef    *task = NULL;
	ListCell   *lc;
	uint64		rows;
	char	   *failure;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));

	memset(&worker_run, 0, sizeof(worker_run));
	worker_run.is_helper = true;
	worker_run.run_id = args.run_id;
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pg_elt task");
	if (args.caller_segment != 0)
	{
		dsm_segment *seg = dsm_attach(args.caller_segment);

		if (seg != NULL)
		{
			shm_toc    *toc = shm_toc_attach(ELT_RUN_MAGIC, dsm_segment_address(seg));

			dsm_pin_mapping(seg);
			if (toc != NULL)
				worker_run.shared = shm_toc_lookup(toc, ELT_KEY_SHARED, false);
		}
	}
	worker_run.log_cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt log",
											   ALLOCSET_DEFAULT_SIZES);
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt task", ALLOCSET_DEFAULT_SIZES);

	worker_connect(args.database, args.owner);

	elt_begin_work();
	MemoryContextSwitchTo(cxt);
	flow_name = elt_catalog_run_flow(args.run_id, &params);
	flow = flow_name ? flow_load_for_run(flow_name, cxt) : NULL;
	if (flow)
		foreach(lc, flow->tasks)
			if (strcmp(((TaskDef *) lfirst(lc))->name, args.task) == 0)
				task = lfirst(lc);
	if (task == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("task \"%s\" of run %lld no longer exists", args.task, (long long) args.run_id)));
	elt_commit_work();
	MemoryContextSwitchTo(cxt);

	if (worker_cancel_requested())
	{
		AttemptOutcome out;

		memset(&out, 0, sizeof(out));
		out.state = "cancelled";
		out.message = "cancelled before it started";
		elt_begin_work();
		elt_catalog_attempt_end(args.run_id, task->name, args.attempt, &out);
		elt_commit_work();
		proc_exit(0);
	}
	MemoryContextSwitchTo(cxt);

	(void) attempt_run(task, params, args.attempt, cxt, &rows, &failure);
	proc_exit(0);
}
