/*-------------------------------------------------------------------------
 *
 * run_worker_main.c
 *	  The entry points of a run's workers.
 *
 *	  Every worker connects to the run's database as the flow's owner
 *	  (PostgreSQL 15 requires that role to have LOGIN, which flow
 *	  definitions check), so every task runs with the owner's rights and
 *	  never more.  A run's worker coordinates the run (run_coordinator.c);
 *	  a helper runs one task attempt beside it (task_attempt.c).  Both log
 *	  through run_log.c.
 *
 *	  A run's end is recorded by its worker, also when it fails outside any
 *	  task; a worker that exits without recording it (terminated, say)
 *	  leaves the run "running", and asks for the database's scheduler,
 *	  which marks it crashed.  With pg_elt preloaded a worker whose job is
 *	  done waits for the next one of its kind (worker_pool.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "catalog.h"
#include "run_coordinator.h"
#include "run_log.h"
#include "run_worker.h"
#include "run_worker_main.h"
#include "tag_limits.h"
#include "task_attempt.h"
#include "worker_pool.h"

/*
 * This process's job: the run it coordinates, or the attempt it runs
 * beside one.  A pooled worker (worker_pool.c) does one job after another.
 */
static RunWorker this_run;

/*
 * As a job ends, or the worker exits mid-job.  A run that did not record
 * its end is left "running": ask for the database's scheduler, which
 * marks it crashed (and queues its re-run).
 */
static void
job_release(void)
{
	if (this_run.run_id != 0 && !this_run.ended && !this_run.is_helper)
		elt_request_scheduler(MyDatabaseId);
	if (this_run.helpers > 0)
		elt_helper_count(-this_run.helpers);
	this_run.helpers = 0;
	if (this_run.channel && !this_run.is_helper)
		this_run.channel->shared->worker_pid = 0;
	elt_run_entry_release(this_run.entry);
	this_run.entry = NULL;
}

static void
worker_exit(int code, Datum arg)
{
	job_release();
}

/*
 * Sets up the process: its first job's args (from its pool slot, or
 * bgw_extra), and a connection as the flow's owner.
 */
static void
worker_setup(Datum main_arg, const char *resowner_name, RunWorkerArgs *args)
{
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	elt_pool_attach(main_arg, args, sizeof(RunWorkerArgs));
	CurrentResourceOwner = ResourceOwnerCreate(NULL, resowner_name);
	before_shmem_exit(worker_exit, (Datum) 0);
	BackgroundWorkerInitializeConnectionByOid(args->database, args->owner, 0);
}

/*
 * Starts a job in cxt: this_run from args, attached to flow_run's channel
 * (the run's worker also to its queue), its log collected afresh.
 */
static void
job_begin(const RunWorkerArgs *args, bool is_helper, MemoryContext cxt)
{
	MemoryContextSwitchTo(cxt);
	memset(&this_run, 0, sizeof(this_run));
	this_run.args = *args;
	this_run.cxt = cxt;
	this_run.is_helper = is_helper;
	this_run.run_id = args->run_id;
	if (args->caller_segment != 0)
	{
		this_run.channel = elt_run_channel_attach(args->caller_segment, !is_helper);
		if (this_run.channel == NULL && !is_helper)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_elt run worker could not attach to its shared memory")));
	}
	elt_run_log_start(this_run.channel && !is_helper ? this_run.channel->queue : NULL);
	if (is_helper)
	{
		elt_run_log_set_run(this_run.run_id);
		elt_run_worker_name_task(args->run_id, args->task);
	}
	else
		pgstat_report_appname("pg_elt run");
}

/*
 * Ends the job: what it held is released, the session is reset, and then
 * its requester is told (letting go of flow_run's channel last).  A worker
 * that may not stay (it exits next) is not offered to the pool.
 */
static void
job_end(bool may_stay)
{
	MemoryContext cxt = this_run.cxt;

	job_release();
	elt_tag_permits_release_all();
	elt_run_log_stop();
	MemoryContextSwitchTo(TopMemoryContext);
	elt_pool_job_done(may_stay);
	if (this_run.channel)
		dsm_detach(this_run.channel->seg);
	memset(&this_run, 0, sizeof(this_run));
	MemoryContextDelete(cxt);
}

/*
 * An error outside any task (a changed definition, the catalog) ends the
 * run as failed, recorded, rather than leaving it "running".
 */
static void
worker_fail_run(MemoryContext cxt)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	EmitErrorReport();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	QueryCancelPending = false;
	if (this_run.run_id != 0 && !this_run.ended)
	{
		char	   *message = psprintf("the run failed: %s", edata->message);

		elt_run_log_set_task(NULL, 0);
		elt_run_log(WARNING, edata->sqlerrcode, message, edata->detail, edata->hint);
		elt_run_worker_finish(&this_run, ELT_FAILED, message, 0, GetCurrentTimestamp());
	}
	RESUME_INTERRUPTS();
}

/*
 * Entry point of a run's worker.  A run that failed outside its tasks
 * leaves the worker unpooled: it exits.
 */
void
elt_flow_worker_main(Datum main_arg)
{
	RunWorkerArgs args;
	volatile bool failed = false;

	worker_setup(main_arg, "pg_elt flow run", &args);
	do
	{
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt run worker",
												  ALLOCSET_DEFAULT_SIZES);

		job_begin(&args, false, cxt);
		PG_TRY();
		{
			const char *params_text = this_run.channel ? this_run.channel->params : "{}";
			Jsonb	   *params = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	CStringGetDatum(params_text)));

			elt_run_coordinate(&this_run, this_run.channel ? this_run.channel->flow : NULL,
							   params);
		}
		PG_CATCH();
		{
			worker_fail_run(cxt);
			failed = true;
		}
		PG_END_TRY();
		job_end(!failed);
	} while (!failed && elt_pool_next_job(&args, sizeof(args)));
	proc_exit(0);
}

/* The task the helper is to run, from the run's flow as it is now. */
static TaskDef *
helper_task(MemoryContext cxt, FlowDef **flow_out, Jsonb **params)
{
	char	   *flow_name;
	FlowDef    *flow;
	TaskDef    *task;

	elt_begin_work();
	MemoryContextSwitchTo(cxt);
	flow_name = elt_catalog_run_flow(this_run.run_id, params);
	flow = flow_name ? elt_catalog_load_run_flow(flow_name, this_run.args.task, cxt) : NULL;
	task = flow ? elt_flow_find_task(flow, *params, this_run.args.task) : NULL;
	if (task)
	{
		elt_commit_work();
		*flow_out = flow;
		return task;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("task \"%s\" of run %lld no longer exists", this_run.args.task,
					(long long) this_run.run_id)));
	return NULL;				/* keep the compiler quiet */
}

/* A helper's job: one attempt of one task of a run. */
static void
helper_attempt(MemoryContext cxt)
{
	FlowDef    *flow;
	TaskDef    *task;
	Jsonb	   *params = NULL;
	uint64		rows;
	char	   *failure;

	task = helper_task(cxt, &flow, &params);
	MemoryContextSwitchTo(cxt);
	if (elt_run_worker_cancelled(&this_run))
	{
		AttemptOutcome out;

		memset(&out, 0, sizeof(out));
		out.state = ELT_CANCELLED;
		out.message = "cancelled before it started";
		elt_begin_work();
		elt_catalog_attempt_end(this_run.run_id, task->name, this_run.args.attempt, &out);
		elt_commit_work();
		return;
	}
	(void) elt_task_attempt(&this_run, flow, task, params, this_run.args.attempt, cxt,
							&rows, &failure);
}

/*
 * Entry point of a helper worker.  An error outside the attempt (its task
 * is gone) ends the process, as an uncaught error ends any worker.
 */
void
elt_task_worker_main(Datum main_arg)
{
	RunWorkerArgs args;

	worker_setup(main_arg, "pg_elt task", &args);
	do
	{
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt task",
												  ALLOCSET_DEFAULT_SIZES);

		job_begin(&args, true, cxt);
		helper_attempt(cxt);
		job_end(true);
	} while (elt_pool_next_job(&args, sizeof(args)));
	proc_exit(0);
}
