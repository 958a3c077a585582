/*-------------------------------------------------------------------------
 *
 * flow_run.c
 *	  flow_run(flow, params): the caller's side of a run.  Starts a dynamic
 *	  background worker (no shared_preload_libraries needed), relays the
 *	  run's log lines to the caller as they come (pgAdmin's Messages tab),
 *	  and returns the run's outcome as one row.
 *
 *	  The worker's messages come over the run's channel (run_channel.c).
 *
 *	  If the caller is cancelled (pg_cancel_backend, statement_timeout,
 *	  pgAdmin's stop button) or goes away, the run is cancelled: a flag in
 *	  shared memory plus SIGINT interrupt the worker's task, which rolls
 *	  back.  flow_run then waits (pg_elt.cancel_wait) for the worker to
 *	  record the cancellation before it reports the cancel.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "catalog.h"
#include "csv_load.h"
#include "flow_run.h"
#include "guc.h"
#include "http_fetch.h"
#include "jsonb_util.h"
#include "run_channel.h"
#include "run_log.h"
#include "run_worker.h"
#include "templates.h"

PG_FUNCTION_INFO_V1(elt_flow_run);
PG_FUNCTION_INFO_V1(elt_flow_plan);

#define RUN_WORKER_WAIT_MS	100
#define RUN_WORKER_POLL_MS	1000	/* its messages and its end set our latch */
#define SUBFLOW_MAX_DEPTH	8

typedef struct RunCaller
{
	RunChannel *channel;
	PoolJob		job;			/* the worker's */
	bool		have_result;
	RunMessage	result;			/* RUN_MSG_RESULT, or run_id of RUN_MSG_STARTED */
} RunCaller;

/* Cancels the run, signalling its worker only while it does the run. */
static void
run_request_cancel(RunCaller *rc)
{
	elt_run_channel_cancel(rc->channel->shared, &rc->job);
}

/* Detach callback: a caller that goes away, by error or by exit, cancels. */
static void
run_cancel_on_detach(dsm_segment *seg, Datum arg)
{
	RunChannelShared *shared = (RunChannelShared *) DatumGetPointer(arg);

	if (pg_atomic_read_u32(&shared->finished) == 0)
		elt_run_channel_cancel(shared, &shared->worker);
}

/* Waits, uninterruptibly but bounded, for a cancelled worker to finish. */
static void
run_wait_for_cancel(RunCaller *rc)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  elt_cancel_wait_s * 1000L);

	HOLD_INTERRUPTS();
	while (pg_atomic_read_u32(&rc->channel->shared->finished) == 0 &&
		   GetCurrentTimestamp() < end)
	{
		RunMessage	msg;

		if (elt_pool_job_state(&rc->job, NULL) == POOL_JOB_DONE)
			break;
		/* keep the queue drained, or a worker relaying its last lines would block */
		while (elt_run_channel_receive(rc->channel, &msg) == SHM_MQ_SUCCESS)
			;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	RESUME_INTERRUPTS();
}

/* Re-raises a log line of the run in the caller. */
static void
run_relay_log(const RunMessage *msg)
{
	/* INFO would bypass client_min_messages; the run's chatter is a NOTICE */
	int			elevel = msg->elevel < WARNING ? NOTICE : WARNING;

	ereport(elevel,
			(msg->sqlerrcode ? errcode(msg->sqlerrcode) : 0,
			 msg->task ? errmsg_internal("%s: %s", msg->task, msg->message) :
			 errmsg_internal("%s", msg->message),
			 msg->detail ? errdetail_internal("%s", msg->detail) : 0,
			 msg->hint ? errhint("%s", msg->hint) : 0));
}

/*
 * Reads the worker's messages until its result arrives, or until it lets
 * go of the queue or its job is done (then what it sent before is read).
 */
static void
run_receive(RunCaller *rc)
{
	bool		done = false;

	for (;;)
	{
		RunMessage	msg;
		shm_mq_result res = elt_run_channel_receive(rc->channel, &msg);

		if (res == SHM_MQ_SUCCESS && msg.type == RUN_MSG_STARTED)
			rc->result.run_id = msg.run_id;
		else if (res == SHM_MQ_SUCCESS && msg.type == RUN_MSG_LOG)
			run_relay_log(&msg);
		else if (res == SHM_MQ_SUCCESS)
		{
			rc->result = msg;
			rc->have_result = true;
			return;
		}
		if (res == SHM_MQ_SUCCESS)
			continue;
		if (res == SHM_MQ_DETACHED || done)
			return;
		done = elt_pool_job_state(&rc->job, NULL) == POOL_JOB_DONE;
		if (done)
			continue;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 RUN_WORKER_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Checks that the caller may run the flow it calls name and that a worker
 * could: the flow exists among the caller's (elt._flow_owner: a role's
 * own flow first, so that another role's flow of the same name is never
 * found and never revealed), its owner exists and can log in, it has
 * tasks, and (unless the run starts only at commit) the calling
 * transaction has no uncommitted change to it.
 */
FlowDef *
elt_check_runnable_flow(const char *name, bool starts_at_commit)
{
	FlowDef    *flow = elt_catalog_load_flow(name, GetUserId(), NULL, CurrentMemoryContext);

	if (flow == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" does not exist", name),
				 errhint("Flows are rows of elt.flows.")));
	if (!OidIsValid(flow->owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the owner role \"%s\" of flow \"%s\" no longer exists", flow->owner_name, name),
				 errdetail("Runs execute as the flow's owner; the flow is disabled until it has one."),
				 errhint("Create the role, or make an existing role the owner: UPDATE elt.flows SET owner = 'some_role', enabled = true WHERE name = %s AND owner = %s.",
						 quote_literal_cstr(name), quote_literal_cstr(flow->owner_name))));
	/* elt._flow_owner finds only flows of roles the caller is a member of */
	if (!is_member_of_role(GetUserId(), flow->owner))
		elog(ERROR, "flow \"%s\" of role \"%s\" is not the caller's", name, flow->owner_name);
	if (flow->uncommitted && !starts_at_commit)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flow \"%s\" has changes that are not committed yet", name),
				 errdetail("The run executes in a background worker, which sees only committed definitions."),
				 errhint("Commit the transaction that defines the flow, then run it.")));
	if (!flow->owner_can_login)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("flow owner \"%s\" cannot log in", flow->owner_name),
				 errdetail("Flow runs execute in a background worker connected as the flow's owner; PostgreSQL 15 lets background workers connect only as roles with LOGIN.")));
	if (flow->tasks == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flow \"%s\" has no tasks", name),
				 errhint("Add tasks to elt.tasks.")));
	return flow;
}

/*
 * The params of a run of flow: the flow's own, overlaid by given, whose
 * keys must all be parameters the flow defines (a misspelt key would
 * otherwise be ignored and the default used without a word).
 */
Jsonb *
elt_run_params(FlowDef *flow, Jsonb *given, const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	elt_check_jsonb_object(given, what);
	if (given == NULL)
		return flow->params;
	it = JsonbIteratorInit(&given->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		if (elt_jsonb_get(flow->params, key) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("flow \"%s\" has no parameter \"%s\"", flow->name, key),
					 errdetail("Its parameters are: %s.", elt_jsonb_keys(flow->params)),
					 errhint("Parameters are declared, with their default values, in the params column of elt.flows.")));
	}
	return elt_jsonb_merge(flow->params, given);
}

/*
 * Creates the run's channel and gives the run to a worker, pooled or new.
 * Every background worker slot may be taken (max_worker_processes): a
 * session waits for one, as a lock would be waited for; statement_timeout
 * and a cancel end the wait.  A subflow does not: the slots may be held by
 * its own parent runs, which wait for it, and the wait would never end.
 */
static void
run_start_worker(RunCaller *rc, FlowDef *flow, const char *params_text, const RunLink *link)
{
	RunWorkerArgs args;

	rc->channel = elt_run_channel_create(flow->name, params_text, link);
	memset(&args, 0, sizeof(args));
	args.database = MyDatabaseId;
	args.owner = flow->owner;
	args.caller_segment = dsm_segment_handle(rc->channel->seg);
	for (bool told = false; !elt_run_worker_start(&args, &rc->job); told = true)
	{
		if (link->parent_run != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("no free background worker for subflow \"%s\"", flow->name),
					 errdetail("All max_worker_processes (%d) background worker slots are in use, and a run waiting for one may be waiting for itself: its parent runs hold slots.",
							   max_worker_processes),
					 errhint("Raise max_worker_processes, or nest subflows less deeply.")));
		if (!told)
			ereport(NOTICE,
					(errmsg("waiting for a free background worker for flow \"%s\"", flow->name),
					 errdetail("All max_worker_processes (%d) background worker slots are in use.",
							   max_worker_processes)));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 RUN_WORKER_WAIT_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	rc->channel->shared->worker = rc->job;
	rc->channel->shared->worker.handle = NULL;	/* a pointer of this process */
	on_dsm_detach(rc->channel->seg, run_cancel_on_detach, PointerGetDatum(rc->channel->shared));
}

/*
 * Runs the flow at once in a worker, relaying its log, and returns how
 * the run ended (flow_run, and flow_retry without the preload).
 */
RunMessage *
elt_run_at_once(FlowDef *flow, Jsonb *params, const RunLink *link)
{
	RunCaller	rc;
	RunMessage *result;
	RunLink		none = {0, 0, NULL};

	memset(&rc, 0, sizeof(rc));
	run_start_worker(&rc, flow,
					 params ? JsonbToCString(NULL, &params->root, VARSIZE(params)) : "{}",
					 link ? link : &none);
	PG_TRY();
	{
		run_receive(&rc);
	}
	PG_CATCH();
	{
		run_request_cancel(&rc);
		run_wait_for_cancel(&rc);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (!rc.have_result)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 rc.result.run_id ? errmsg("the worker of run %lld of flow \"%s\" exited without a result",
										   (long long) rc.result.run_id, flow->name) :
				 errmsg("the worker for flow \"%s\" exited before starting the run", flow->name),
				 errhint("The server log has the reason.")));
	dsm_detach(rc.channel->seg);
	result = palloc(sizeof(RunMessage));
	*result = rc.result;
	return result;
}

/*
 * Runs flow as a subflow of the task this worker is running (a task of
 * kind flow, or flow_run in a task's SQL): linked to the run and task,
 * nested no deeper than SUBFLOW_MAX_DEPTH, and an error (which fails the
 * task, and which its retries may cure) when it does not complete.  It
 * refreshes the cache when asked, or when the parent run does.
 */
RunMessage *
elt_run_subflow(FlowDef *flow, Jsonb *params, bool refresh_cache)
{
	RunLink		link = {.refresh_cache = refresh_cache};
	RunMessage *r;

	if (!elt_run_log_current(&link.parent_run, &link.parent_task))
		elog(ERROR, "a subflow runs only inside a task");
	if (elt_catalog_run_depth(link.parent_run) + 1 >= SUBFLOW_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("subflow \"%s\" would be nested more than %d deep", flow->name,
						SUBFLOW_MAX_DEPTH),
				 errhint("A flow that runs itself through a template never ends; check the flow names its tasks run.")));
	r = elt_run_at_once(flow, params, &link);
	if (strcmp(r->state, "completed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("subflow run %lld of flow \"%s\" %s: %s", (long long) r->run_id, flow->name,
						r->state, r->message ? r->message : "")));
	return r;
}

/*
 * flow_run(flow text, params jsonb DEFAULT '{}', refresh_cache boolean
 * DEFAULT false) RETURNS (run_id, state, message, rows_loaded, duration)
 */
Datum
elt_flow_run(PG_FUNCTION_ARGS)
{
	Jsonb	   *params;
	FlowDef    *flow;
	RunMessage *r;
	RunLink		link = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_run needs a flow name")));
	elt_require_usage("flow_run");
	params = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	flow = elt_check_runnable_flow(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	(void) elt_run_params(flow, params, "flow_run's params");
	link.refresh_cache = PG_NARGS() > 2 && !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	r = elt_run_log_current(NULL, NULL) ? elt_run_subflow(flow, params, link.refresh_cache) :
		elt_run_at_once(flow, params, &link);
	PG_RETURN_DATUM(elt_run_result(fcinfo, r->run_id, r->state, r->message, r->rows,
								   r->duration_us));
}

/* The row flow_run and flow_wait return. */
Datum
elt_run_result(FunctionCallInfo fcinfo, int64 run_id, const char *state, const char *message,
			   int64 rows, int64 duration_us)
{
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	Interval   *duration = palloc0(sizeof(Interval));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning a run must return a record");
	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(state);
	values[2] = message ? CStringGetTextDatum(message) : (Datum) 0;
	nulls[2] = message == NULL;
	values[3] = Int64GetDatum(rows);
	duration->time = duration_us;
	values[4] = IntervalPGetDatum(duration);
	nulls[4] = duration_us < 0;
	tupdesc = BlessTupleDesc(tupdesc);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * A dry run's params for a task: the run's, and for each upstream task a
 * placeholder where its result will be.
 */
static Jsonb *
plan_params(Jsonb *params, List *upstream)
{
	StringInfoData buf;
	ListCell   *lc;

	if (upstream == NIL)
		return params;
	elt_json_begin(&buf);
	foreach(lc, upstream)
		elt_json_add_string(&buf, lfirst(lc),
							psprintf("(the result of task \"%s\")", (char *) lfirst(lc)));
	return elt_jsonb_merge(params, elt_json_end(&buf));
}

/*
 * elt.flow_plan(flow text, params jsonb DEFAULT '{}'): a dry run.  Each
 * task in the order a run would take them, with its SQL, or its URL
 * (credentials hidden) and table, as the run would substitute them; the
 * same checks as flow_run, so a bad parameter fails here first.
 */
/* One row of a dry run: the task as a run would run it. */
static void
plan_row(ReturnSetInfo *rsinfo, FlowDef *flow, TaskDef *task, Jsonb *params)
{
	char	   *what = psprintf("task \"%s\"", task->name);
	Datum		values[6];
	bool		nulls[6] = {false, false, false, true, true, true};
	ListCell   *dc;
	Datum	   *deps = palloc(sizeof(Datum) * (list_length(task->depends_on) + 1));
	int			ndeps = 0;

	Jsonb	   *task_params = plan_params(params, elt_flow_upstream(flow, task));

	if (task->bound)
		task_params = elt_jsonb_merge(task_params, task->bound);

	values[0] = CStringGetTextDatum(task->name);
	values[1] = CStringGetTextDatum(task->kind);
	foreach(dc, task->depends_on)
		deps[ndeps++] = CStringGetTextDatum(lfirst(dc));
	values[2] = PointerGetDatum(construct_array(deps, ndeps, TEXTOID, -1, false, TYPALIGN_INT));
	if (task->sql)
	{
		values[3] = CStringGetTextDatum(elt_substitute(task->sql, task_params, what));
		nulls[3] = false;
	}
	if (strcmp(task->kind, "extract") == 0)
	{
		Jsonb	   *config = elt_substitute_jsonb(task->config, task_params, NULL);
		JsonbValue *url = elt_jsonb_get(config, "url");
		JsonbValue *table = elt_jsonb_get(config, "table");
		LoadOptions opts;

		elt_parse_load_options(config, &opts, true, false);
		if (url && elt_jsonb_value_text(url))
		{
			values[4] = CStringGetTextDatum(elt_redact_url(elt_jsonb_value_text(url)));
			nulls[4] = false;
		}
		if (table && elt_jsonb_value_text(table))
		{
			values[5] = CStringGetTextDatum(elt_jsonb_value_text(table));
			nulls[5] = false;
		}
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

Datum
elt_flow_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FlowDef    *flow;
	Jsonb	   *params;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_plan needs a flow name")));
	flow = elt_check_runnable_flow(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	params = elt_run_params(flow, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
							"flow_plan's params");
	InitMaterializedSRF(fcinfo, 0);

	foreach(lc, elt_flow_order(flow))
	{
		TaskDef    *task = lfirst(lc);
		ListCell   *ic;

		if (task->for_each == NULL)
			plan_row(rsinfo, flow, task, params);
		else
			foreach(ic, elt_flow_instances(task, params))
				plan_row(rsinfo, flow, lfirst(ic), params);
	}
	return (Datum) 0;
}
