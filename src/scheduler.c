/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  The scheduler of one database: a background worker, connected as a
 *	  superuser, that the launcher (launcher.c) starts while the database
 *	  has something to schedule, and that leaves when it has nothing.
 *
 *	  At start it marks runs whose worker is gone as crashed and queues a
 *	  re-run for flows with retries (elt._recover_runs).  Then it loops:
 *	  fire due schedules, queueing runs (elt._fire_schedules, which reads
 *	  only the due slots, by index: a round costs what is due, not what is
 *	  scheduled; elt._sync_schedule_slots, a pass over every flow, runs at
 *	  start, on reload and once a minute); start queued
 *	  runs whose time has come, oldest first, as pg_elt.max_workers allows
 *	  (elt._claim_runs, then a run worker each: run_worker.c); prune
 *	  history; and sleep until the next schedule or queued run, or until
 *	  its latch is set.  The decisions are SQL in the extension's scripts;
 *	  this file is the loop and the workers it starts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "notifier.h"
#include "run_worker.h"
#include "runtime.h"
#include "scheduler.h"
#include "catalog.h"

#define RECOVERY_INTERVAL_MS	60000
#define SCHEDULER_ERROR_NAP_MS	5000
#define SCHEDULER_LOCKED_SLOT_MS 100

typedef struct Dispatched
{
	int64		run_id;
	PoolJob		job;			/* of the run's worker */
} Dispatched;

static List *dispatched = NIL;	/* runs this scheduler started */
static BackgroundWorkerHandle *notifier = NULL;	/* the database's, once started */
static MemoryContext dispatched_cxt = NULL; /* holds dispatched and its jobs */
static bool logged_worker_limit = false;

/* Runs a query of the scheduler's own; returns the first column, if any. */
static Datum
scheduler_query(const char *sql, int nargs, Oid *types, Datum *values, bool *isnull)
{
	Datum		result = (Datum) 0;

	*isnull = true;
	if (SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0) < 0)
		elog(ERROR, "pg_elt scheduler query failed: %s", sql);
	if (SPI_processed > 0 && SPI_tuptable)
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	return result;
}

static void
scheduler_begin(void)
{
	elt_begin_work();
	SPI_connect();
}

static void
scheduler_commit(void)
{
	SPI_finish();
	elt_commit_work();
}

/*
 * Is pg_elt installed in this database, at the version of this library?
 * A catalog of another version is left alone, with a word in the server
 * log, until ALTER EXTENSION pg_elt UPDATE (which wakes the launcher).
 */
static char scheduler_database_name[NAMEDATALEN];

static bool
scheduler_extension_ready(void)
{
	bool		isnull;
	Datum		version;
	bool		ready;

	scheduler_begin();
	strlcpy(scheduler_database_name, get_database_name(MyDatabaseId), NAMEDATALEN);

	/*
	 * The scheduler is a superuser: it calls elt.* functions only if they
	 * are the extension's, not objects anyone could create in a database
	 * without pg_elt.
	 */
	version = scheduler_query("SELECT e.extversion FROM pg_catalog.pg_depend d"
							  "  JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid"
							  " WHERE e.extname OPERATOR(pg_catalog.=) 'pg_elt'"
							  "   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
							  "   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass"
							  "   AND d.objid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure('elt._fire_schedules()')",
							  0, NULL, NULL, &isnull);
	ready = !isnull && strcmp(TextDatumGetCString(version), PG_ELT_VERSION) == 0;
	if (!isnull && !ready)
		ereport(LOG,
				(errmsg("pg_elt: the catalog in database \"%s\" is version %s, but the library is version %s; its schedules and queue wait",
						scheduler_database_name, TextDatumGetCString(version), PG_ELT_VERSION),
				 errhint("Run ALTER EXTENSION pg_elt UPDATE in that database.")));
	scheduler_commit();
	return ready;
}

/* Is the database's pg_elt there, at this version, and not being dropped? */
static bool
scheduler_may_work(void)
{
	return !elt_scheduler_standing_down() && scheduler_extension_ready();
}

/*
 * Marks runs whose worker is gone as crashed (and queues their re-runs):
 * at start, every run still "running"; later, runs whose worker exited.
 */
static void
scheduler_recover(bool at_start)
{
	List	   *gone = NIL;
	ListCell   *lc;
	Datum	   *elems;
	int			n = 0;
	Oid			types[2] = {BOOLOID, INT8ARRAYOID};
	Datum		values[2];
	bool		isnull;

	foreach(lc, dispatched)
	{
		Dispatched *d = lfirst(lc);

		if (elt_pool_job_state(&d->job, NULL) == POOL_JOB_DONE)
			gone = lappend(gone, d);
	}
	elems = palloc(sizeof(Datum) * (list_length(gone) + 1));
	foreach(lc, gone)
		elems[n++] = Int64GetDatum(((Dispatched *) lfirst(lc))->run_id);

	values[0] = BoolGetDatum(at_start);
	values[1] = PointerGetDatum(construct_array(elems, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	scheduler_begin();
	(void) scheduler_query("SELECT elt._recover_runs($1, $2)", 2, types, values, &isnull);
	scheduler_commit();

	foreach(lc, gone)
	{
		Dispatched *d = lfirst(lc);

		elt_run_entry_release_unadopted(d->run_id);
		dispatched = list_delete_ptr(dispatched, d);
		if (d->job.handle)
			pfree(d->job.handle);
		pfree(d);
	}
}

/* Starts the worker of a queued run, connected as the run's owner. */
static bool
scheduler_start_run(int64 run_id, Oid owner)
{
	PoolJob		job;
	RunEntry   *reserved;
	RunWorkerArgs args;
	MemoryContext old;
	Dispatched *d;

	memset(&args, 0, sizeof(args));
	args.database = MyDatabaseId;
	args.owner = owner;
	args.run_id = run_id;
	reserved = elt_run_entry_reserve(run_id);
	old = MemoryContextSwitchTo(dispatched_cxt);	/* the job lives as long as d */
	if (reserved == NULL || !elt_run_worker_start(&args, &job))
	{
		MemoryContextSwitchTo(old);
		elt_run_entry_release(reserved);
		if (!logged_worker_limit)
			ereport(LOG,
					(errmsg("pg_elt: max_worker_processes (%d) is the limit on running flows, not pg_elt.max_workers (%d); queued runs wait",
							max_worker_processes, elt_max_workers),
					 errhint("Raise max_worker_processes (a restart is needed).")));
		logged_worker_limit = true;
		return false;
	}
	logged_worker_limit = false;
	d = palloc(sizeof(Dispatched));
	d->run_id = run_id;
	d->job = job;
	dispatched = lappend(dispatched, d);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Starts queued runs whose time has come, as many as pg_elt.max_workers
 * allows.  Returns when the next queued run is due (or 0 if none is).
 */
/*
 * Notifications: queues the events of runs that have been running too
 * long, and starts the notifier when events are due and it is not running
 * (its exit wakes this scheduler).  Returns when the next event is due, or
 * 0 when none waits.
 */
static TimestampTz
scheduler_notify(void)
{
	bool		isnull;
	Datum		next;
	TimestampTz result;
	pid_t		pid;

	scheduler_begin();
	(void) scheduler_query("SELECT elt._queue_long_runs()", 0, NULL, NULL, &isnull);
	next = scheduler_query("SELECT elt._next_delivery()", 0, NULL, NULL, &isnull);
	result = isnull ? 0 : DatumGetTimestampTz(next);
	scheduler_commit();
	if (result != 0 && result <= GetCurrentTimestamp() &&
		(notifier == NULL || GetBackgroundWorkerPid(notifier, &pid) == BGWH_STOPPED))
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		if (notifier)
			pfree(notifier);
		notifier = NULL;
		if (!elt_notifier_start(MyDatabaseId, &notifier))
			notifier = NULL;	/* no worker slot: next round */
		MemoryContextSwitchTo(old);
	}
	if (result != 0 && result <= GetCurrentTimestamp())
		result = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
	return result;
}

static TimestampTz
scheduler_dispatch(void)
{
	int			free_workers;
	ListCell   *lc;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	Datum		next;
	TimestampTz result = 0;
	List	   *claimed = NIL;	/* 2-lists of run_id and owner, as text */
	MemoryContext outer = CurrentMemoryContext;

	free_workers = elt_workers_free();
	if (free_workers <= 0)
		return 0;				/* a worker's exit sets our latch */

	/*
	 * Claim first, and commit: a worker that starts before the claim is
	 * visible would not find its run.
	 */
	values[0] = Int32GetDatum(free_workers);
	scheduler_begin();
	if (SPI_execute_with_args("SELECT run_id, owner FROM elt._claim_runs($1)", 1, types, values,
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_elt scheduler could not claim runs");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(outer);

		claimed = lappend(claimed, list_make2(
			pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)),
			pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2))));
		MemoryContextSwitchTo(old);
	}
	scheduler_commit();

	scheduler_begin();
	foreach(lc, claimed)
	{
		List	   *run = lfirst(lc);
		int64		run_id = strtoll(linitial(run), NULL, 10);
		Oid			owner = (Oid) strtoul(lsecond(run), NULL, 10);

		if (!scheduler_start_run(run_id, owner))
		{
			Oid			rtypes[1] = {INT8OID};
			Datum		rvalues[1] = {Int64GetDatum(run_id)};

			(void) scheduler_query("UPDATE elt.flow_runs SET state = 'pending' WHERE run_id = $1 AND state = 'running' AND worker_pid IS NULL",
								   1, rtypes, rvalues, &isnull);
			result = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
		}
	}
	next = scheduler_query("SELECT min(run_at) FROM elt.flow_runs WHERE state = 'pending'",
						   0, NULL, NULL, &isnull);
	scheduler_commit();
	if (!isnull && (result == 0 || DatumGetTimestampTz(next) < result))
		result = DatumGetTimestampTz(next);
	return result;
}

/* Queues runs for due schedule slots; returns the next slot. */
static TimestampTz
scheduler_fire(void)
{
	bool		isnull;
	Datum		next;
	TimestampTz result;
	TimestampTz now;

	scheduler_begin();
	next = scheduler_query("SELECT elt._fire_schedules()", 0, NULL, NULL, &isnull);
	result = isnull ? 0 : DatumGetTimestampTz(next);
	scheduler_commit();
	if (TIMESTAMP_NOT_FINITE(result))
		return 0;
	/* a slot still due was locked by a change of its flow: look again soon */
	now = GetCurrentTimestamp();
	if (result <= now)
		result = TimestampTzPlusMilliseconds(now, SCHEDULER_LOCKED_SLOT_MS);
	return result;
}

static void
scheduler_prune(void)
{
	bool		isnull;

	scheduler_begin();
	(void) scheduler_query("SELECT elt._prune_history() + elt._prune_cache()", 0, NULL, NULL,
						   &isnull);
	scheduler_commit();
}

/*
 * The pass over every flow that mends the slots: a unit of work of its
 * own, so that one that fails (a lock it gave up on) does not stop the
 * rounds; it is tried again a minute later.
 */
static void
scheduler_sync_slots(void *arg)
{
	bool		isnull;

	if (!scheduler_may_work())
		return;
	scheduler_begin();
	(void) scheduler_query("SELECT elt._sync_schedule_slots()", 0, NULL, NULL, &isnull);
	scheduler_commit();
}

/*
 * Has the database nothing for a scheduler: no enabled schedule, no queued
 * run, no run this scheduler started that is still to be watched, no run
 * left running by a worker that is gone (to be marked crashed)?
 */
static void
scheduler_idle(void *arg)
{
	bool	   *result = (bool *) arg;
	bool		isnull;
	bool		idle;

	*result = false;
	if (dispatched != NIL)
		return;
	scheduler_begin();
	idle = DatumGetBool(scheduler_query("SELECT NOT EXISTS (SELECT 1 FROM elt.flows"
										"                    WHERE enabled AND schedule IS NOT NULL)"
										"   AND NOT EXISTS (SELECT 1 FROM elt.flow_runs WHERE state = 'pending')"
										"   AND NOT EXISTS (SELECT 1 FROM elt.notification_outbox"
										"                    WHERE delivered_at IS NULL AND given_up_at IS NULL)"
										"   AND NOT EXISTS (SELECT 1 FROM elt.notification_rules"
										"                    WHERE enabled AND 'long_running' = ANY (events))"
										"   AND NOT EXISTS (SELECT 1 FROM elt.flow_runs r WHERE r.state = 'running'"
										"                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a"
										"                                       WHERE a.pid = r.worker_pid))",
										0, NULL, NULL, &isnull));
	scheduler_commit();
	*result = idle && !isnull;
}

/* As the scheduler exits: its entry, and those of runs never adopted. */
static void
scheduler_detach(int code, Datum arg)
{
	ListCell   *lc;

	elt_scheduler_detach(DatumGetObjectId(arg));
	foreach(lc, dispatched)
		elt_run_entry_release_unadopted(((Dispatched *) lfirst(lc))->run_id);
}

typedef struct SchedulerRound
{
	TimestampTz next_recovery;	/* of crashed runs, pruning, a sync of slots */
	bool		sync_slots;		/* at start and after a reload: now */
	TimestampTz wake;			/* out: when to look again; 0: leave */
} SchedulerRound;

/*
 * One round of the scheduler; sets when to wake for the next, or 0 when
 * the extension is gone or being dropped.
 */
static void
scheduler_step(void *arg)
{
	SchedulerRound *round = (SchedulerRound *) arg;
	TimestampTz now;
	TimestampTz next;

	round->wake = 0;
	if (!scheduler_may_work())
		return;
	now = GetCurrentTimestamp();
	if (now >= round->next_recovery || dispatched != NIL)
		scheduler_recover(false);
	if (now >= round->next_recovery)
	{
		scheduler_prune();
		round->sync_slots = true;
		round->next_recovery = TimestampTzPlusMilliseconds(now, RECOVERY_INTERVAL_MS);
	}
	round->wake = round->next_recovery;
	next = elt_launch_schedules ? scheduler_fire() : 0;
	if (next != 0 && next < round->wake)
		round->wake = next;
	next = scheduler_dispatch();
	if (next != 0 && next < round->wake)
		round->wake = next;
	next = scheduler_notify();
	if (next != 0 && next < round->wake)
		round->wake = next;
}

/*
 * Connects to the database, if its entry is this scheduler's to take and
 * pg_elt is there at this library's version; exits otherwise.
 */
static void
scheduler_start(Oid database)
{
	bool		first_start = false;

	if (!elt_scheduler_attach(database, &first_start))
		proc_exit(0);			/* another has it, a drop is under way, or no room */
	before_shmem_exit(scheduler_detach, ObjectIdGetDatum(database));
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
	pgstat_report_appname("pg_elt scheduler");
	/* it runs as a superuser: only trusted schemas resolve its names */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	/* an error before the requests are taken leaves them for a retry */
	if (!scheduler_extension_ready())
	{
		(void) elt_scheduler_take_requests();
		proc_exit(0);			/* no pg_elt here, or another version */
	}
	ereport(DEBUG1, (errmsg("pg_elt scheduler started for database \"%s\"",
							scheduler_database_name)));

	/*
	 * Runs left "running" without a worker are crashed only by the first
	 * scheduler of the entry: a scheduler that failed and was started again
	 * would otherwise take runs its predecessor is still starting for dead
	 * ones.  (One that left idle had no run to start.)
	 */
	scheduler_recover(first_start);
	elt_scheduler_mark_recovered();
	dispatched_cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt dispatched runs",
										   ALLOCSET_SMALL_SIZES);
	if (!elt_launch_schedules)
		ereport(LOG,
				(errmsg("pg_elt: schedules of database \"%s\" are not launched (pg_elt.launch_schedules is off); queued runs start",
						scheduler_database_name)));
}


void
elt_scheduler_main(Datum main_arg)
{
	Oid			database;
	SchedulerRound round;
	MemoryContext loop_cxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	memcpy(&database, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	scheduler_start(database);
	round.next_recovery = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RECOVERY_INTERVAL_MS);
	round.sync_slots = true;
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt scheduler", ALLOCSET_DEFAULT_SIZES);

	while (!ShutdownRequestPending)
	{
		long		sleep_ms;
		bool		idle = false;
		uint32		seen = elt_scheduler_take_requests();

		MemoryContextSwitchTo(loop_cxt);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			round.sync_slots = true;	/* pg_elt.timezone may have changed */
		}
		if (round.sync_slots)
		{
			round.sync_slots = false;
			(void) elt_try_work(scheduler_sync_slots, NULL);
		}
		if (!elt_try_work(scheduler_step, &round))
			round.wake = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SCHEDULER_ERROR_NAP_MS);
		else if (round.wake == 0)
			break;				/* DROP EXTENSION */
		if (elt_try_work(scheduler_idle, &idle) && idle &&
			elt_scheduler_leave_unless_requested(seen))
			break;				/* nothing to do: the launcher starts one when there is */

		MemoryContextReset(loop_cxt);
		/* what its transactions did (dead rows of elt.schedule_slots) reaches autovacuum */
		pgstat_report_stat(true);
		sleep_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), round.wake);
		if (sleep_ms > 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}
