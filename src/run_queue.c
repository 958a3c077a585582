/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  Queued runs: flow_submit, flow_wait and flow_cancel.
 *
 *	  flow_submit inserts a pending run in the caller's transaction, so the
 *	  run exists (and the scheduler starts it) only if and when that
 *	  transaction commits; the commit wakes the scheduler.  flow_wait reads
 *	  the run with the latest snapshot, whatever the caller's isolation
 *	  level, and sleeps on a condition variable that every ending run
 *	  broadcasts.  flow_cancel cancels a pending run at once and interrupts
 *	  a running one through its slot in shared memory.
 *
 *	  These need shared_preload_libraries = 'pg_elt' (the scheduler).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "flow_run.h"
#include "guc.h"
#include "runtime.h"
#include "schedule_expr.h"

PG_FUNCTION_INFO_V1(elt_flow_submit);
PG_FUNCTION_INFO_V1(elt_flow_wait);
PG_FUNCTION_INFO_V1(elt_flow_cancel);
PG_FUNCTION_INFO_V1(elt_flow_retry);
PG_FUNCTION_INFO_V1(elt_flow_pause);
PG_FUNCTION_INFO_V1(elt_flow_resume);
PG_FUNCTION_INFO_V1(elt_check_flow_limits);

#define QUEUE_POLL_MS	100

static void
queue_require_scheduler(const char *function)
{
	if (!elt_runtime_preloaded())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs pg_elt in shared_preload_libraries", function),
				 errdetail("Queued and scheduled runs are started by pg_elt's scheduler, which runs only when the library is preloaded."),
				 errhint("Add pg_elt to shared_preload_libraries and restart the server, or use flow_run.")));
}

/* The run, which the caller must be allowed to see. */
static void
queue_read_run(int64 run_id, RunRow *row)
{
	if (!elt_catalog_read_run(run_id, row) || !is_member_of_role(GetUserId(), row->owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %lld does not exist", (long long) run_id),
				 errhint("Runs are rows of elt.flow_runs; each role sees the runs of the roles it is a member of.")));
}

/*
 * Waits until the run has ended or deadline (0: none) has passed, and
 * returns it as it is then.
 */
static void
queue_wait(int64 run_id, TimestampTz deadline, RunRow *row)
{
	for (;;)
	{
		long		wait_ms = QUEUE_POLL_MS;

		queue_read_run(run_id, row);
		if (elt_state_is_final(elt_state_from_name(row->state)))
			break;
		if (row->ours)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("run %lld was queued by the current transaction", (long long) run_id),
					 errdetail("It starts when the transaction commits; waiting for it here would wait for ever."),
					 errhint("Commit, then call flow_wait.")));
		if (deadline != 0)
		{
			long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

			if (left <= 0)
				break;
			wait_ms = Min(wait_ms, left);
		}
		elt_wait_for_run_end(wait_ms);
		CHECK_FOR_INTERRUPTS();
	}
	elt_wait_for_run_end_done();
}

/*
 * flow_submit(flow text, params jsonb DEFAULT '{}', run_at timestamptz
 * DEFAULT now(), refresh_cache boolean DEFAULT false) RETURNS bigint:
 * queues a run and returns its id.
 */
Datum
elt_flow_submit(PG_FUNCTION_ARGS)
{
	char	   *name;
	Jsonb	   *params;
	TimestampTz run_at;
	FlowDef    *flow;
	int64		run_id;
	RunLink		link = {0};

	elt_require_usage("flow_submit");
	queue_require_scheduler("flow_submit");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_submit needs a flow name")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	params = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);

	/*
	 * The queue is ordered by run_at: a time in the past would overtake
	 * runs that were due before this one was submitted.
	 */
	run_at = GetCurrentTransactionStartTimestamp();
	if (!PG_ARGISNULL(2) && PG_GETARG_TIMESTAMPTZ(2) > run_at)
		run_at = PG_GETARG_TIMESTAMPTZ(2);

	flow = elt_check_runnable_flow(name, true);
	link.refresh_cache = PG_NARGS() > 3 && !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	run_id = elt_catalog_create_run(flow, elt_run_params(flow, params, "flow_submit's params"),
									"api", run_at, false, &link);
	elt_wake_scheduler_at_commit();
	PG_RETURN_INT64(run_id);
}

/*
 * flow_wait(run_id bigint, timeout interval DEFAULT NULL): waits for the
 * run to end and returns the row flow_run returns; after timeout, returns
 * the run as it is then (pending or running).
 */
Datum
elt_flow_wait(PG_FUNCTION_ARGS)
{
	int64		run_id;
	TimestampTz deadline = 0;
	RunRow		row;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_wait needs a run id")));
	elt_require_usage("flow_wait");
	run_id = PG_GETARG_INT64(0);
	if (!PG_ARGISNULL(1))
		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   PG_GETARG_DATUM(1)));
	queue_wait(run_id, deadline, &row);
	PG_RETURN_DATUM(elt_run_result(fcinfo, row.run_id, row.state, row.message, row.rows,
								   row.duration_us));
}

/*
 * flow_cancel(run_id bigint) RETURNS boolean: cancels a queued or running
 * run and waits (pg_elt.cancel_wait) for it to roll back; false, with a
 * notice, when the run had already ended.
 */
Datum
elt_flow_cancel(PG_FUNCTION_ARGS)
{
	int64		run_id;
	RunRow		row;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_cancel needs a run id")));
	elt_require_usage("flow_cancel");
	run_id = PG_GETARG_INT64(0);
	queue_read_run(run_id, &row);
	if (elt_state_is_final(elt_state_from_name(row.state)))
	{
		ereport(NOTICE,
				(errmsg("run %lld has already ended (%s); nothing to cancel",
						(long long) run_id, row.state)));
		PG_RETURN_BOOL(false);
	}
	if (elt_catalog_cancel_unstarted(run_id))
		PG_RETURN_BOOL(true);
	if (!elt_run_cancel(run_id))
	{
		queue_require_scheduler("flow_cancel of a running run");
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld has no worker that could be cancelled", (long long) run_id),
				 errhint("If it was started by flow_run, cancel the session that called flow_run.")));
	}
	queue_wait(run_id, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), elt_cancel_wait_s * 1000L),
			   &row);
	PG_RETURN_BOOL(true);
}

/*
 * elt._check_flow_limits(owner oid, priority integer, schedule text,
 * timezone text): for the flows trigger.  A flow owned by a role that is
 * not a superuser may not jump the queue (priority above
 * pg_elt.max_priority) nor fire more often than
 * pg_elt.min_schedule_interval.  Arguments that did not change are NULL.
 */
Datum
elt_check_flow_limits(PG_FUNCTION_ARGS)
{
	Oid			owner = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);

	if (superuser_arg(owner))
		PG_RETURN_VOID();
	if (!PG_ARGISNULL(1) && PG_GETARG_INT32(1) > elt_max_priority)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("priority %d is above pg_elt.max_priority (%d)",
						PG_GETARG_INT32(1), elt_max_priority),
				 errhint("Flows owned by roles that are not superusers have priorities up to pg_elt.max_priority, which a superuser sets.")));
	if (!PG_ARGISNULL(2) && !PG_ARGISNULL(3))
	{
		char	   *schedule = text_to_cstring(PG_GETARG_TEXT_PP(2));
		EltSchedule s;
		int64		gap;

		elt_schedule_parse(schedule, &s);
		gap = elt_schedule_shortest_gap(&s, text_to_cstring(PG_GETARG_TEXT_PP(3)));
		if (gap < (int64) elt_min_schedule_interval_s * USECS_PER_SEC)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("schedule \"%s\" fires more often than pg_elt.min_schedule_interval (%d s) allows",
							schedule, elt_min_schedule_interval_s),
					 errdetail("It fires as often as every " INT64_FORMAT " s.", gap / USECS_PER_SEC),
					 errhint("Flows owned by roles that are not superusers are scheduled at most once per pg_elt.min_schedule_interval, which a superuser sets.")));
	}
	PG_RETURN_VOID();
}

/*
 * flow_retry(run_id bigint) RETURNS bigint: a new run of an ended run that
 * did not complete, with its params, taking over the results of the tasks
 * that completed and running the others.  Queued when pg_elt is preloaded
 * (flow_wait waits for it); else it runs at once, as flow_run does.
 */
Datum
elt_flow_retry(PG_FUNCTION_ARGS)
{
	int64		run_id;
	RunRow		row;
	EltState	state;
	char	   *flow_name;
	Jsonb	   *params;
	FlowDef    *flow;
	RunLink		link = {0, 0, NULL};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_retry needs a run id")));
	elt_require_usage("flow_retry");
	run_id = PG_GETARG_INT64(0);
	queue_read_run(run_id, &row);
	state = elt_state_from_name(row.state);
	if (state == ELT_COMPLETED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld completed: there is nothing to retry", (long long) run_id),
				 errhint("flow_run starts a new run of the flow.")));
	if (!elt_state_is_final(state))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld has not ended (it is %s)", (long long) run_id, row.state),
				 errhint("Wait for it with flow_wait, or cancel it with flow_cancel, then retry it.")));
	flow_name = elt_catalog_run_flow(run_id, &params);
	flow = elt_check_runnable_flow(flow_name, elt_runtime_preloaded());
	if (flow->owner != row.owner)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flow \"%s\" of run %lld is no longer the flow that ran", flow_name,
						(long long) run_id),
				 errdetail("The name now finds the flow of role \"%s\".", flow->owner_name),
				 errhint("SET ROLE to the run's owner, or start a new run with flow_run.")));
	link.retry_of = run_id;
	if (!elt_runtime_preloaded())
		PG_RETURN_INT64(elt_run_at_once(flow, params, &link)->run_id);
	run_id = elt_catalog_create_run(flow, params, "retry", GetCurrentTransactionStartTimestamp(),
									false, &link);
	elt_wake_scheduler_at_commit();
	PG_RETURN_INT64(run_id);
}

/* A run to pause or resume: the caller's to see, and running. */
static void
queue_pausable_run(int64 run_id, const char *function)
{
	RunRow		row;
	EltState	state;

	queue_read_run(run_id, &row);
	state = elt_state_from_name(row.state);
	if (elt_state_is_final(state))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld has ended (%s): there is nothing to %s", (long long) run_id,
						row.state, function),
				 state != ELT_COMPLETED ? errhint("flow_retry starts it again from where it stopped.") : 0));
	if (state == ELT_PENDING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld has not started", (long long) run_id),
				 errhint("A queued run can be cancelled with flow_cancel.")));
}

/*
 * flow_pause(run_id bigint, timeout interval DEFAULT NULL) RETURNS
 * boolean: the run's running tasks finish and no new one starts until
 * flow_resume; after timeout the run fails.  False if already paused.
 */
Datum
elt_flow_pause(PG_FUNCTION_ARGS)
{
	int64		run_id;
	TimestampTz until = DT_NOEND;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_pause needs a run id")));
	elt_require_usage("flow_pause");
	run_id = PG_GETARG_INT64(0);
	queue_pausable_run(run_id, "pause");
	if (!PG_ARGISNULL(1))
		until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														TimestampTzGetDatum(GetCurrentTimestamp()),
														PG_GETARG_DATUM(1)));
	if (elt_catalog_request_pause(run_id, true, until))
		PG_RETURN_BOOL(true);
	ereport(NOTICE, (errmsg("run %lld is paused already", (long long) run_id)));
	PG_RETURN_BOOL(false);
}

/* flow_resume(run_id bigint) RETURNS boolean: false if it was not paused. */
Datum
elt_flow_resume(PG_FUNCTION_ARGS)
{
	int64		run_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_resume needs a run id")));
	elt_require_usage("flow_resume");
	run_id = PG_GETARG_INT64(0);
	queue_pausable_run(run_id, "resume");
	if (elt_catalog_request_pause(run_id, false, 0))
		PG_RETURN_BOOL(true);
	ereport(NOTICE, (errmsg("run %lld is not paused", (long long) run_id)));
	PG_RETURN_BOOL(false);
}
