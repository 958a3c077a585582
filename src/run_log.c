/*-------------------------------------------------------------------------
 *
 * run_log.c
 *	  A run's log.  Everything a run logs (its own lines, load progress,
 *	  NOTICEs raised by task SQL) goes through one path: lines are kept for
 *	  elt.logs, written in transactions of their own, and relayed as they
 *	  happen to flow_run's caller over the run's channel, so that the caller
 *	  sees them live whatever its isolation level.  An emit_log_hook
 *	  collects the messages PostgreSQL itself raises while the run works.
 *
 *	  The state is per process (a run's or a helper's worker logs for one
 *	  run) and static because the hook needs it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "guc.h"
#include "run_log.h"
#include "runtime.h"

typedef struct RunLog
{
	shm_mq_handle *relay;		/* NULL once the caller has gone, or none */
	List	   *backlog;		/* StringInfo messages not yet sent */
	MemoryContext cxt;			/* lines and messages */
	List	   *pending_lines;	/* LogLine * not yet in elt.logs */
	int64		run_id;
	const char *task;			/* the task lines are about, or NULL */
	int			attempt;
	bool		capturing;		/* the hook collects messages */
} RunLog;

static RunLog run_log;
static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * Sends what the caller has not received yet.  With wait false it never
 * blocks (it may run inside ereport); what does not fit stays queued.
 */
static void
relay_flush(bool wait)
{
	while (run_log.relay != NULL && run_log.backlog != NIL)
	{
		StringInfo	msg = linitial(run_log.backlog);
		shm_mq_result res = shm_mq_send(run_log.relay, msg->len, msg->data, !wait, true);

		if (res == SHM_MQ_WOULD_BLOCK)
			return;
		if (res == SHM_MQ_DETACHED)
			run_log.relay = NULL;	/* the caller went away: keep running */
		run_log.backlog = list_delete_first(run_log.backlog);
		pfree(msg->data);
		pfree(msg);
	}
	if (run_log.relay == NULL)
		run_log.backlog = NIL;
}

static void
relay(const RunMessage *msg)
{
	MemoryContext old;

	if (run_log.relay == NULL)
		return;
	old = MemoryContextSwitchTo(run_log.cxt);
	run_log.backlog = lappend(run_log.backlog, elt_run_message_encode(msg));
	MemoryContextSwitchTo(old);
	relay_flush(false);
}

/* Sends a line to the caller only (it is in elt.task_runs already). */
void
elt_run_log_relay_only(int elevel, const char *task, const char *message)
{
	RunMessage	msg = {.type = RUN_MSG_LOG, .elevel = elevel};

	msg.task = unconstify(char *, task);
	msg.message = unconstify(char *, message);
	relay(&msg);
}

/* Sends a message of the run's (its start, its result), waiting if need be. */
void
elt_run_log_send(const RunMessage *msg)
{
	HOLD_CANCEL_INTERRUPTS();
	relay(msg);
	relay_flush(true);
	RESUME_CANCEL_INTERRUPTS();
}

/* Records a line for elt.logs and relays it to the caller. */
void
elt_run_log(int elevel, int sqlerrcode, const char *message, const char *detail,
			const char *hint)
{
	MemoryContext old = MemoryContextSwitchTo(run_log.cxt);
	LogLine    *line = palloc0(sizeof(LogLine));
	RunMessage	msg = {.type = RUN_MSG_LOG};

	line->at = GetCurrentTimestamp();
	line->elevel = elevel;
	line->sqlerrcode = sqlerrcode;
	line->task = run_log.task ? pstrdup(run_log.task) : NULL;
	line->attempt = run_log.attempt;
	line->message = pstrdup(message);
	line->detail = detail ? pstrdup(detail) : NULL;
	line->hint = hint ? pstrdup(hint) : NULL;
	run_log.pending_lines = lappend(run_log.pending_lines, line);
	MemoryContextSwitchTo(old);

	msg.elevel = elevel;
	msg.sqlerrcode = sqlerrcode;
	msg.task = line->task;
	msg.message = line->message;
	msg.detail = line->detail;
	msg.hint = line->hint;
	relay(&msg);
}

void
elt_run_logf(int elevel, const char *fmt,...)
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
	elt_run_log(elevel, 0, buf.data, NULL, NULL);
	pfree(buf.data);
}

/*
 * Collects INFO, NOTICE and WARNING messages raised while the run works
 * (task SQL's RAISE NOTICE, load progress) into the run's log.  They are
 * kept out of the server log, where nobody would look for them.
 */
static void
run_log_hook(ErrorData *edata)
{
	if (run_log.capturing && edata->elevel >= INFO && edata->elevel < ERROR)
	{
		run_log.capturing = false;	/* no recursion */
		elt_run_log(edata->elevel, edata->sqlerrcode == ERRCODE_SUCCESSFUL_COMPLETION ? 0 :
					edata->sqlerrcode, edata->message, edata->detail, edata->hint);
		run_log.capturing = true;
		if (edata->elevel < WARNING)
			edata->output_to_server = false;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * Starts collecting a job's messages, relaying them over relay (NULL: no
 * caller listens).  NOTICE and INFO must reach the hook, which keeps them
 * out of the server log.  The hook is installed once per process; every
 * job (a pooled worker does several) starts with nothing collected.
 */
void
elt_run_log_start(shm_mq_handle *relay_to)
{
	MemoryContext cxt = run_log.cxt;

	if (cxt == NULL)
	{
		cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt log", ALLOCSET_DEFAULT_SIZES);
		SetConfigOption("log_min_messages", "info", PGC_SUSET, PGC_S_OVERRIDE);
		prev_emit_log_hook = emit_log_hook;
		emit_log_hook = run_log_hook;
	}
	else
		MemoryContextReset(cxt);
	memset(&run_log, 0, sizeof(run_log));
	run_log.cxt = cxt;
	run_log.relay = relay_to;
	run_log.capturing = true;
}

/* The job is over: nothing more is collected until the next one starts. */
void
elt_run_log_stop(void)
{
	MemoryContext cxt = run_log.cxt;

	if (cxt)
		MemoryContextReset(cxt);
	memset(&run_log, 0, sizeof(run_log));
	run_log.cxt = cxt;
}

void
elt_run_log_set_run(int64 run_id)
{
	run_log.run_id = run_id;
}

/*
 * The run and the task whose attempt this process is running, if it is
 * (flow_run inside a task makes a subflow of it).
 */
bool
elt_run_log_current(int64 *run_id, const char **task)
{
	if (run_log.run_id == 0 || run_log.task == NULL || run_log.attempt == 0)
		return false;
	if (run_id)
		*run_id = run_log.run_id;
	if (task)
		*task = run_log.task;
	return true;
}

/* The task (NULL: the run itself) and attempt the next lines are about. */
void
elt_run_log_set_task(const char *task, int attempt)
{
	run_log.task = task;
	run_log.attempt = attempt;
}

/*
 * Writes the lines to elt.logs in a transaction of their own.  Cancel
 * interrupts are held: a cancel stops tasks, never the bookkeeping that
 * records it.
 */
void
elt_run_log_flush(void)
{
	HOLD_CANCEL_INTERRUPTS();
	run_log.capturing = false;
	relay_flush(true);
	if (run_log.run_id != 0 && run_log.pending_lines != NIL)
	{
		elt_begin_work();
		elt_work_commit_lazily();	/* lines: the run's end waits for them */
		elt_catalog_write_logs(run_log.run_id, run_log.pending_lines);
		elt_commit_work();
		MemoryContextReset(run_log.cxt);
		run_log.pending_lines = NIL;
		run_log.backlog = NIL;	/* flushed above: nothing of it remains */
	}
	run_log.capturing = true;
	RESUME_CANCEL_INTERRUPTS();
}

/*
 * Writes the end of the run to the server log, as pg_elt.log_runs asks:
 * a run in the background fails unseen otherwise.
 */
void
elt_run_log_to_server(const char *flow, int64 run_id, EltState state, const char *message)
{
	if (elt_log_runs == ELT_LOG_RUNS_NONE ||
		(elt_log_runs == ELT_LOG_RUNS_FAILED && state == ELT_COMPLETED))
		return;
	ereport(LOG_SERVER_ONLY,
			(errmsg("pg_elt: run %lld of flow \"%s\" of role \"%s\" in database \"%s\" %s: %s",
					(long long) run_id, flow ? flow : "?",
					GetUserNameFromId(GetSessionUserId(), true),
					get_database_name(MyDatabaseId), elt_state_name(state), message)));
}
