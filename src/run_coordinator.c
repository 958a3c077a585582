/*-------------------------------------------------------------------------
 *
 * run_coordinator.c
 *	  The coordinator: what a run's worker does with its run.  It creates
 *	  or claims the run, then goes round: collect the helpers that
 *	  finished, settle the tasks that cannot run (an upstream task did not
 *	  complete, the run was cancelled), start the ready ones, and wait.
 *	  A task is ready when its dependencies completed, its retry delay has
 *	  passed and its tags' limits have a free permit (tag_limits.c); one
 *	  ready task runs in the coordinator itself, several run in helper
 *	  workers (run_worker.c).  Attempts themselves are task_attempt.c's.
 *
 *	  Cancellation comes as a flag (flow_run's channel, or the run's entry
 *	  in shared memory) plus SIGINT, which interrupts the running task like
 *	  a query cancel; the flag tells a cancel from a task's timeout.  The
 *	  flow's timeout stops the run the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "guc.h"
#include "jsonb_util.h"
#include "object_store.h"
#include "templates.h"
#include "run_coordinator.h"
#include "run_log.h"
#include "tag_limits.h"
#include "task_attempt.h"

#define COORDINATOR_NAP_MS			1000
#define COORDINATOR_PERMIT_RETRY_MS	200
#define COORDINATOR_PAUSE_CHECK_MS	500

/* Where a task of the run stands. */
typedef struct TaskProgress
{
	TaskDef    *task;
	EltState	state;			/* running: in a helper; retrying: waits its delay */
	int			attempt;		/* the last one started */
	double		delay_s;		/* before the next retry */
	TimestampTz not_before;		/* of the next attempt */
	PoolJob		helper;			/* the helper's job */
	List	   *permits;		/* of tag limits, held while an attempt runs */
	bool		told_waiting;
	uint64		rows;
	char	   *failure;
	int			group;			/* an instance: its mapped task's index; else -1 */
	int			ninstances;		/* a mapped task: its instances' count; else -1 */
} TaskProgress;

typedef struct Coordinator
{
	RunWorker  *w;
	FlowDef    *flow;
	Jsonb	   *params;
	MemoryContext cxt;
	TaskProgress *tasks;
	int			ntasks;
	TaskProgress **ready;		/* this round's */
	int			nready;
	int			running;		/* attempts in helpers */
	bool		left;			/* tasks still to settle */
	TimestampTz wake;			/* when to look again */
	List	   *reused;			/* tasks whose result the run retried had */
	/* what the run has come to so far */
	uint64		rows_loaded;
	int			cached;			/* tasks (instances too) that took a cached result */
	char	   *first_failure;
	bool		cancelled;
	bool		timed_out;		/* the flow's timeout: cancelled, and failed */
	bool		holding;		/* flow_pause asks: start nothing new */
	bool		paused;			/* ... and the running tasks have finished */
	bool		pause_expired;	/* the pause's timeout: cancelled, and failed */
	TimestampTz next_pause_check;	/* while not held: flow_pause is read this often */
} Coordinator;

static TaskProgress *
progress_of(Coordinator *c, const char *name)
{
	for (int i = 0; i < c->ntasks; i++)
		if (strcmp(c->tasks[i].task->name, name) == 0)
			return &c->tasks[i];
	return NULL;
}

/* Records the outcome of an attempt in the task's progress. */
static void
progress_apply(Coordinator *c, TaskProgress *p, EltState outcome, uint64 rows, char *failure)
{
	elt_run_log_set_task(p->task->name, p->attempt);
	p->state = outcome;
	elt_tag_permits_release(p->permits);
	p->permits = NIL;
	if (elt_state_succeeded(outcome))
	{
		if (strcmp(p->task->kind, "sql") != 0)	/* loads, subflows */
			c->rows_loaded += rows;
		if (outcome == ELT_CACHED)
			c->cached++;
	}
	else if (outcome == ELT_RETRYING)
	{
		if (p->delay_s > 0)
			elt_run_logf(INFO, "retrying in %.1f s", p->delay_s);
		else
			elt_run_logf(INFO, "retrying now");
		p->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													(int64) (p->delay_s * 1000));
		p->delay_s = Min(p->delay_s * p->task->retry_backoff, 86400.0);
	}
	else if (outcome == ELT_CANCELLED)
		c->cancelled = true;
	else if (c->first_failure == NULL)
		c->first_failure = psprintf("task \"%s\" failed: %s", p->task->name,
									failure ? failure : "unknown error");
	elt_run_log_set_task(NULL, 0);
}

/* Takes a permit of every limited tag of the task, or none and says why. */
static bool
progress_acquire_permits(Coordinator *c, TaskProgress *p)
{
	TagLimit   *full = elt_tag_limits_acquire(p->task->tags, &p->permits, c->cxt);

	if (full == NULL)
		return true;
	if (!p->told_waiting)
	{
		elt_run_log_set_task(p->task->name, 0);
		elt_run_logf(INFO, "pending: all %d slots of the concurrency limit on tag \"%s\" are taken",
					 full->max_running, full->tag);
		p->told_waiting = true;
	}
	return false;
}

/* ---------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------
 */

/*
 * Starts the task's next attempt in a helper worker, connected as the
 * flow's owner.  False when no worker is to be had (pg_elt.max_workers,
 * max_worker_processes), or the name does not fit: the caller then runs
 * the attempt itself.
 */
static bool
helper_start(Coordinator *c, TaskProgress *p)
{
	RunWorkerArgs args = c->w->args;
	bool		started;
	MemoryContext old;

	if (strlen(p->task->name) >= sizeof(args.task) || elt_max_parallel_tasks <= 1 ||
		c->running >= elt_max_parallel_tasks || elt_workers_free() <= 0)
		return false;
	args.run_id = c->w->run_id;
	args.attempt = p->attempt;
	strlcpy(args.task, p->task->name, sizeof(args.task));
	old = MemoryContextSwitchTo(c->cxt);
	started = elt_run_worker_start(&args, &p->helper);
	MemoryContextSwitchTo(old);
	if (!started)
		return false;
	p->state = ELT_RUNNING;
	elt_helper_count(1);		/* until we see it stopped */
	c->w->helpers++;
	elt_run_log_relay_only(NOTICE, p->task->name,
						   psprintf("attempt %d of %d started in a parallel worker",
									p->attempt, p->task->retries + 1));
	return true;
}

/*
 * How a helper's attempt ended, from its row in elt.task_runs: a row the
 * helper did not end (it exited mid-attempt) is ended crashed, and the
 * task failed.
 */
static EltState
helper_outcome(Coordinator *c, TaskProgress *p)
{
	EltState	outcome;
	char	   *message;
	MemoryContext home = CurrentMemoryContext;

	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	MemoryContextSwitchTo(home);
	outcome = elt_catalog_read_attempt(c->w->run_id, p->task->name, p->attempt,
									   &p->rows, &message);
	if (!elt_state_is_final(outcome) && outcome != ELT_RETRYING)
	{
		AttemptOutcome out;

		memset(&out, 0, sizeof(out));
		out.state = outcome = ELT_CRASHED;
		out.message = message = "the task's worker exited before the attempt ended";
		elt_catalog_attempt_end(c->w->run_id, p->task->name, p->attempt, &out);
	}
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	p->failure = message;
	elt_run_log_relay_only(elt_state_succeeded(outcome) ? NOTICE : WARNING, p->task->name,
						   psprintf("parallel attempt %d %s%s%s", p->attempt,
									elt_state_name(outcome),
									message ? ": " : "", message ? message : ""));
	return outcome == ELT_CRASHED ? ELT_FAILED : outcome;
}

/* Interrupts the running helpers (again each round: some start late). */
static void
helpers_signal(Coordinator *c)
{
	for (int i = 0; i < c->ntasks; i++)
		if (c->tasks[i].state == ELT_RUNNING)
			(void) elt_pool_signal(&c->tasks[i].helper, SIGINT);
}

/* Settles the attempts of helpers that are done; counts the others. */
static void
helpers_collect(Coordinator *c)
{
	c->running = 0;
	for (int i = 0; i < c->ntasks; i++)
	{
		TaskProgress *p = &c->tasks[i];
		EltState	outcome;

		if (p->state != ELT_RUNNING)
			continue;
		if (elt_pool_job_state(&p->helper, NULL) != POOL_JOB_DONE)
		{
			c->running++;
			continue;
		}
		elt_helper_count(-1);
		c->w->helpers--;
		outcome = helper_outcome(c, p);
		progress_apply(c, p, outcome, p->rows, p->failure);
	}
}

/* ---------------------------------------------------------------------
 * The rounds
 * ---------------------------------------------------------------------
 */

/*
 * The run is cancelled, or its time is up: interrupt the helpers, whose
 * attempts roll back and end cancelled; pending tasks will not start.
 */
static void
coordinator_check_cancel(Coordinator *c, TimestampTz now)
{
	if (!c->cancelled &&
		(elt_run_worker_cancelled(c->w) || (c->w->deadline != 0 && now >= c->w->deadline)))
	{
		c->timed_out = !elt_run_worker_cancelled(c->w);
		c->cancelled = true;
		QueryCancelPending = false;
		elt_run_worker_cancel(c->w);
	}
	if (c->w->deadline != 0 && !c->cancelled)
		c->wake = Min(c->wake, c->w->deadline);
	if (c->cancelled)
		helpers_signal(c);
}

/*
 * flow_pause holds the run: nothing new starts, the running tasks finish,
 * then the run is paused until flow_resume; a pause whose timeout passes
 * fails the run.
 */
static void
coordinator_check_pause(Coordinator *c, TimestampTz now)
{
	TimestampTz until = 0;

	/* a chain of quick tasks must not pay a read of the run per task */
	if (c->cancelled || (!c->holding && now < c->next_pause_check))
		return;
	c->next_pause_check = TimestampTzPlusMilliseconds(now, COORDINATOR_PAUSE_CHECK_MS);
	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	c->holding = elt_catalog_pause_requested(c->w->run_id, &until);
	if (c->holding && !TIMESTAMP_IS_NOEND(until) && now >= until)
	{
		c->holding = false;
		c->pause_expired = c->cancelled = true;
		elt_run_worker_cancel(c->w);
	}
	if (c->holding != c->paused && (c->running == 0 || !c->holding))
	{
		c->paused = c->holding;
		elt_catalog_mark_paused(c->w->run_id, c->paused);
		elt_run_log_set_task(NULL, 0);
		elt_run_logf(c->pause_expired ? WARNING : INFO, "%s",
					 c->paused ? "paused: no task starts until flow_resume" :
					 c->pause_expired ? "the pause timed out" : "resumed");
	}
	else if (c->pause_expired)
	{
		elt_run_log_set_task(NULL, 0);
		elt_run_logf(WARNING, "the pause timed out");
	}
	else
		c->holding = c->holding || c->paused;
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	if (c->holding && !TIMESTAMP_IS_NOEND(until))
		c->wake = Min(c->wake, until);
}

/* Why the task cannot run (NULL: it may, now or later); *deps_done. */
static const char *
task_blocked_by(Coordinator *c, TaskProgress *p, bool *deps_done)
{
	ListCell   *dc;
	const char *blocked_by = NULL;

	*deps_done = true;
	foreach(dc, p->task->depends_on)
	{
		TaskProgress *dep = progress_of(c, lfirst(dc));

		if (blocked_by == NULL &&
			(dep == NULL || dep->state == ELT_FAILED || dep->state == ELT_CANCELLED))
			blocked_by = lfirst(dc);
		*deps_done &= (dep != NULL && elt_state_succeeded(dep->state));
	}

	/*
	 * The instances of an extract mapped over its files wait for the first:
	 * it creates the table when it is missing (from its own file's header
	 * and types), which parallel instances would all try at once.
	 */
	if (p->group >= 0 && elt_task_maps_files(c->tasks[p->group].task) &&
		p != &c->tasks[p->group + 1])
	{
		TaskProgress *first = &c->tasks[p->group + 1];

		if (first->state == ELT_FAILED || first->state == ELT_CANCELLED)
			blocked_by = blocked_by ? blocked_by : first->task->name;
		*deps_done &= elt_state_succeeded(first->state);
	}
	return blocked_by;
}

/* Settles the tasks that will not run; lists the ready ones. */
static void
coordinator_find_ready(Coordinator *c, TimestampTz now)
{
	c->nready = 0;
	c->left = false;
	for (int i = 0; i < c->ntasks; i++)
	{
		TaskProgress *p = &c->tasks[i];
		bool		deps_done;
		const char *blocked_by;

		if ((p->state != ELT_PENDING && p->state != ELT_RETRYING) || p->ninstances >= 0)
			continue;
		blocked_by = task_blocked_by(c, p, &deps_done);
		if (c->cancelled)
		{
			p->state = ELT_CANCELLED;
			elt_task_attempt_settle(c->w, p->task, ELT_CANCELLED,
								  c->timed_out ? "not started: the flow timed out" :
								  c->pause_expired ? "not started: the pause timed out" :
								  "not started: the run was cancelled", NULL);
		}
		else if (blocked_by)
		{
			p->state = ELT_FAILED;
			elt_task_attempt_settle(c->w, p->task, ELT_FAILED,
									psprintf("not started: upstream task \"%s\" did not complete",
											 blocked_by), NULL);
		}
		else
		{
			c->left = true;
			if (!deps_done)
				continue;
			if (p->state == ELT_RETRYING && now < p->not_before)
				c->wake = Min(c->wake, p->not_before);
			else
				c->ready[c->nready++] = p;
		}
	}
}

/*
 * A mapped task ends when all its instances have: completed (its result
 * the array of theirs), else failed or cancelled as the first that did not.
 */
static void
group_settle(Coordinator *c, TaskProgress *g, int index)
{
	EltState	outcome = ELT_COMPLETED;
	const char *failed = NULL;
	List	   *names = NIL;
	Jsonb	   *results;
	StringInfoData array;

	for (int i = 0; i < c->ntasks; i++)
	{
		TaskProgress *p = &c->tasks[i];

		if (p->group != index)
			continue;
		if (!elt_state_is_final(p->state))
		{
			c->left = true;
			return;				/* not yet */
		}
		if (!elt_state_succeeded(p->state) && outcome == ELT_COMPLETED)
		{
			outcome = p->state == ELT_CANCELLED ? ELT_CANCELLED : ELT_FAILED;
			failed = p->task->name;
		}
		names = lappend(names, p->task->name);
	}
	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	MemoryContextSwitchTo(c->cxt);
	results = elt_catalog_results(c->w->run_id, names);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	initStringInfo(&array);
	appendStringInfoChar(&array, '[');
	for (int i = 0; i < list_length(names); i++)
	{
		JsonbValue *r = elt_jsonb_get(results, list_nth(names, i));

		appendStringInfoString(&array, i > 0 ? ", " : "");
		appendStringInfoString(&array, r ? elt_jsonb_value_json(r) : "null");
	}
	appendStringInfoChar(&array, ']');
	elt_task_attempt_settle(c->w, g->task, outcome,
							outcome == ELT_COMPLETED ?
							psprintf("all %d instances completed", g->ninstances) :
							psprintf("instance %s did not complete", failed),
							outcome == ELT_COMPLETED ?
							DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(array.data))) :
							NULL);
	progress_apply(c, g, outcome, 0, outcome == ELT_COMPLETED ? NULL :
				   psprintf("instance %s did not complete", failed));
}

/*
 * Starts the ready tasks: in helpers when several things can run at once,
 * else one here.  True when one ran here (the round is over).
 */
static bool
coordinator_start_ready(Coordinator *c, TimestampTz now)
{
	for (int i = 0; i < c->nready; i++)
	{
		TaskProgress *p = c->ready[i];
		uint64		rows = 0;
		char	   *failure = NULL;
		EltState	outcome;

		if (!progress_acquire_permits(c, p))
		{
			c->wake = Min(c->wake, TimestampTzPlusMilliseconds(now, COORDINATOR_PERMIT_RETRY_MS));
			continue;
		}
		p->attempt++;
		if ((c->running > 0 || c->nready > 1) && helper_start(c, p))
		{
			c->running++;
			continue;
		}
		if (c->running > 0)
		{
			/* no worker to spare: wait for one of the others */
			p->attempt--;
			elt_tag_permits_release(p->permits);
			p->permits = NIL;
			continue;
		}
		outcome = elt_task_attempt(c->w, c->flow, p->task, c->params, p->attempt, c->cxt,
								   &rows, &failure);
		progress_apply(c, p, outcome, rows, failure);
		return true;
	}
	return false;
}

static void
coordinator_wait(Coordinator *c)
{
	long		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), c->wake);

	if (wait_ms > 0)
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	if (ProcDiePending)
		CHECK_FOR_INTERRUPTS();
}

/* ---------------------------------------------------------------------
 * The run
 * ---------------------------------------------------------------------
 */

/*
 * Makes the run (flow_run's: run_params given) or claims the queued one,
 * and loads its flow.  False when a queued run was cancelled before it
 * started.
 */
static bool
run_begin(Coordinator *c, const char *flow_name, Jsonb *run_params)
{
	RunWorker  *w = c->w;
	RunLink		none = {0, 0, NULL};
	const RunLink *link = w->channel ? &w->channel->link : &none;

	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	elt_work_commit_lazily();	/* the run's end, and its tasks' ends, wait */
	MemoryContextSwitchTo(c->cxt);
	if (w->args.run_id != 0)
	{
		flow_name = elt_catalog_claim_queued_run(w->args.run_id, &c->params);
		if (flow_name == NULL)
		{
			elt_commit_work();
			RESUME_CANCEL_INTERRUPTS();
			return false;
		}
		w->run_id = w->args.run_id;
	}
	c->flow = elt_catalog_load_run_flow(flow_name, NULL, c->cxt);
	w->flow_name = MemoryContextStrdup(w->cxt, c->flow->name);
	if (w->args.run_id == 0)
	{
		c->params = elt_jsonb_merge(c->flow->params, run_params);
		w->run_id = elt_catalog_create_run(c->flow, c->params, link->retry_of ? "retry" : "manual",
										   GetCurrentTimestamp(), true, link);
	}
	elt_catalog_add_task_rows(w->run_id, c->flow);
	c->reused = elt_catalog_reuse_results(w->run_id);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	return true;
}

static TaskProgress *
progress_add(Coordinator *c, TaskDef *task, int group, int ninstances)
{
	TaskProgress *p = &c->tasks[c->ntasks++];

	p->task = task;
	p->state = ELT_PENDING;
	p->delay_s = task->retry_delay_s;
	p->group = group;
	p->ninstances = ninstances;
	if (elt_name_in_list(c->reused, task->name))
	{
		p->state = ELT_COMPLETED;
		elt_run_log_set_task(task->name, 0);
		elt_run_logf(INFO, "completed in the run this one retries: its result is reused");
		elt_run_log_set_task(NULL, 0);
	}
	return p;
}

/*
 * Lists, once for the run, the objects of the tasks mapped over their
 * files, and keeps the listing in the run's params: its helpers, and a
 * retry of the run, map over the same objects.
 */
static void
run_list_files(Coordinator *c)
{
	ListCell   *lc;
	bool		listed = false;

	foreach(lc, c->flow->tasks)
	{
		TaskDef    *task = lfirst(lc);
		List	   *urls;
		ListCell   *uc;
		StringInfoData array;
		StringInfoData kept;
		MemoryContext listing;
		MemoryContext old;
		int			nfiles;

		if (!elt_task_maps_files(task) || elt_jsonb_get(c->params, elt_task_files_key(task)))
			continue;
		/* the listing's pages and URLs go; what the params keep stays in c->cxt */
		listing = AllocSetContextCreate(c->cxt, "pg_elt files listing", ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(listing);
		urls = elt_store_list_config(elt_substitute_jsonb(task->config, c->params, NULL),
									 task->name);
		initStringInfo(&array);
		appendStringInfoChar(&array, '[');
		foreach(uc, urls)
		{
			if (uc != list_head(urls))
				appendStringInfoChar(&array, ',');
			escape_json(&array, lfirst(uc));
		}
		appendStringInfoChar(&array, ']');
		nfiles = list_length(urls);
		elt_json_begin(&kept);
		elt_json_add_json(&kept, elt_task_files_key(task), array.data);
		MemoryContextSwitchTo(old);
		c->params = elt_jsonb_merge(c->params, elt_json_end(&kept));
		MemoryContextDelete(listing);
		elt_run_log_set_task(task->name, 0);
		elt_run_logf(INFO, "%d file%s to load", nfiles, nfiles == 1 ? "" : "s");
		elt_run_log_set_task(NULL, 0);
		listed = true;
	}
	if (listed)
		elt_catalog_run_set_params(c->w->run_id, c->params);
}

/* The run's tasks in order, a mapped task followed by its instances. */
static void
run_init_tasks(Coordinator *c)
{
	List	   *order = elt_flow_order(c->flow);
	List	  **instances = palloc(sizeof(List *) * (list_length(order) + 1));
	ListCell   *lc;
	int			total = 0;
	int			i = 0;

	foreach(lc, order)
	{
		TaskDef    *task = lfirst(lc);

		instances[i] = task->for_each ? elt_flow_instances(task, c->params) : NIL;
		total += 1 + list_length(instances[i++]);
	}
	c->tasks = palloc0(sizeof(TaskProgress) * Max(total, 1));
	c->ready = palloc(sizeof(TaskProgress *) * Max(total, 1));
	c->ntasks = 0;
	i = 0;
	foreach(lc, order)
	{
		TaskDef    *task = lfirst(lc);
		int			group = c->ntasks;
		ListCell   *ic;

		(void) progress_add(c, task, -1, task->for_each ? list_length(instances[i]) : -1);
		foreach(ic, instances[i])
			(void) progress_add(c, lfirst(ic), group, -1);
		i++;
	}
}

/* How the run ended, recorded, logged and sent to the caller. */
static void
run_finish(Coordinator *c, TimestampTz started)
{
	EltState	state = ELT_COMPLETED;
	char	   *message;

	if (c->cancelled && !c->timed_out && !c->pause_expired)
	{
		state = ELT_CANCELLED;
		message = "the run was cancelled";
	}
	else if (c->timed_out || c->pause_expired || c->first_failure)
	{
		state = ELT_FAILED;
		message = c->timed_out ?
			psprintf("timed out after %.1f s (the flow's timeout)", c->flow->timeout_ms / 1000.0) :
			c->pause_expired ? "paused for longer than the pause's timeout" : c->first_failure;
	}
	else
		message = psprintf("%d task%s completed%s", list_length(c->flow->tasks),
						   list_length(c->flow->tasks) == 1 ? "" : "s",
						   c->cached > 0 ? psprintf(", %d from the cache", c->cached) : "");
	elt_run_log_set_task(NULL, 0);
	elt_run_logf(state == ELT_COMPLETED ? INFO : WARNING, "run %s: %s",
				 elt_state_name(state), message);
	elt_run_worker_finish(c->w, state, message, c->rows_loaded, started);
}

/*
 * Executes the worker's run: a new one of flow_name with run_params
 * (flow_run), or the queued run of the worker's arguments.
 */
void
elt_run_coordinate(RunWorker *w, const char *flow_name, Jsonb *run_params)
{
	Coordinator c = {.w = w};
	TimestampTz started = GetCurrentTimestamp();

	c.cxt = AllocSetContextCreate(w->cxt, "pg_elt run", ALLOCSET_DEFAULT_SIZES);
	if (!run_begin(&c, flow_name, run_params))
		return;					/* cancelled before it started */
	MemoryContextSwitchTo(c.cxt);
	elt_run_worker_started(w);
	elt_run_logf(INFO, "run %lld of flow \"%s\" started as role \"%s\"",
				 (long long) w->run_id, c.flow->name, c.flow->owner_name);
	elt_begin_work();
	MemoryContextSwitchTo(c.cxt);	/* the params outlive the transaction */
	run_list_files(&c);
	elt_commit_work();
	run_init_tasks(&c);
	if (c.flow->timeout_ms > 0)
		w->deadline = TimestampTzPlusMilliseconds(started, c.flow->timeout_ms);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();

		c.wake = TimestampTzPlusMilliseconds(now, COORDINATOR_NAP_MS);
		coordinator_check_cancel(&c, now);
		helpers_collect(&c);
		coordinator_check_pause(&c, now);
		coordinator_find_ready(&c, now);
		for (int i = 0; i < c.ntasks; i++)
			if (c.tasks[i].ninstances >= 0 && c.tasks[i].state == ELT_PENDING)
				group_settle(&c, &c.tasks[i], i);
		if (!c.left && c.running == 0)
			break;
		if (c.holding || !coordinator_start_ready(&c, now))
			coordinator_wait(&c);
	}
	run_finish(&c, started);
}
