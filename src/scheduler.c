/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  The orchestration runtime that shared_preload_libraries = 'pg_elt'
 *	  turns on: shared state, the launcher, and one scheduler per database.
 *
 *	  The launcher starts with the server (and again after a crash).  It
 *	  connects to no database; it lists the databases and keeps one
 *	  scheduler worker for each.  A scheduler that finds no pg_elt in its
 *	  database exits, and is tried again a minute later, or at once when
 *	  CREATE EXTENSION (or ALTER EXTENSION UPDATE) commits and wakes the
 *	  launcher: installing the extension needs no restart, in any database.
 *
 *	  A scheduler, at start, marks runs whose worker is gone as crashed (a
 *	  server crash or restart, or a killed worker) and queues a re-run for
 *	  flows with retries.  Then it loops: fire due schedules (queueing
 *	  runs), start queued runs whose time has come, oldest first, as
 *	  pg_elt.max_workers allows, and sleep until the next slot or until a
 *	  commit that queued a run sets its latch.
 *
 *	  Shared memory holds the launcher's and schedulers' latches, a slot
 *	  per running run (for flow_cancel) and a condition variable that
 *	  flow_wait sleeps on.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_elt.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(elt_wake_scheduler);
PG_FUNCTION_INFO_V1(elt_scheduler_available);

EltShared  *elt_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#define LAUNCHER_NAP_MS			10000
#define SCHEDULER_RETRY_MS		60000
#define RECOVERY_INTERVAL_MS	60000
#define SCHEDULER_ERROR_NAP_MS	5000

/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */

static void
elt_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(EltShared)));
	elt_tag_limits_shmem_request();
}

static void
elt_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	elt_shared = ShmemInitStruct("pg_elt", sizeof(EltShared), &found);
	if (!found)
	{
		memset(elt_shared, 0, sizeof(EltShared));
		SpinLockInit(&elt_shared->mutex);
		ConditionVariableInit(&elt_shared->run_ended);
		for (int i = 0; i < ELT_MAX_RUN_SLOTS; i++)
			pg_atomic_init_u32(&elt_shared->runs[i].cancel_requested, 0);
		pg_atomic_init_u32(&elt_shared->helpers_running, 0);
	}
	elt_tag_limits_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init when loaded by shared_preload_libraries. */
void
elt_scheduler_preload(void)
{
	BackgroundWorker worker;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = elt_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = elt_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "pg_elt", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "elt_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "pg_elt launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "pg_elt launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * Takes the shared-memory slot of a run: the scheduler reserves it (pid 0)
 * when it starts the run's worker, so that the worker counts against
 * pg_elt.max_workers at once; the worker then adopts it, keeping a cancel
 * that came meanwhile.  flow_run's workers take a free one.
 */
static EltRunSlot *
run_slot_take(int64 run_id, pid_t pid)
{
	EltRunSlot *slot = NULL;

	if (elt_shared == NULL)
		return NULL;
	SpinLockAcquire(&elt_shared->mutex);
	for (int i = 0; i < ELT_MAX_RUN_SLOTS && slot == NULL; i++)
		if (elt_shared->runs[i].run_id == run_id && elt_shared->runs[i].database == MyDatabaseId)
			slot = &elt_shared->runs[i];
	for (int i = 0; i < ELT_MAX_RUN_SLOTS && slot == NULL; i++)
		if (elt_shared->runs[i].run_id == 0)
		{
			slot = &elt_shared->runs[i];
			slot->run_id = run_id;
			slot->database = MyDatabaseId;
			pg_atomic_write_u32(&slot->cancel_requested, 0);
		}
	if (slot)
		slot->pid = pid;
	SpinLockRelease(&elt_shared->mutex);
	return slot;
}

EltRunSlot *
elt_claim_run_slot(int64 run_id)
{
	return run_slot_take(run_id, MyProcPid);
}

static EltRunSlot *
run_slot_reserve(int64 run_id)
{
	return run_slot_take(run_id, 0);
}

void
elt_release_run_slot(EltRunSlot *slot)
{
	Oid			database;

	if (slot == NULL)
		return;

	SpinLockAcquire(&elt_shared->mutex);
	database = slot->database;
	slot->run_id = 0;
	slot->pid = 0;
	SpinLockRelease(&elt_shared->mutex);
	ConditionVariableBroadcast(&elt_shared->run_ended);
	elt_wake_scheduler_now(database);	/* a worker is free */
}

/* Asks the worker of a running run to cancel it; false if none runs it. */
bool
elt_cancel_running(int64 run_id)
{
	pid_t		pid = 0;
	bool		found = false;

	if (elt_shared == NULL)
		return false;

	SpinLockAcquire(&elt_shared->mutex);
	for (int i = 0; i < ELT_MAX_RUN_SLOTS; i++)
		if (elt_shared->runs[i].run_id == run_id && elt_shared->runs[i].database == MyDatabaseId)
		{
			pg_atomic_write_u32(&elt_shared->runs[i].cancel_requested, 1);
			pid = elt_shared->runs[i].pid;
			found = true;
		}
	SpinLockRelease(&elt_shared->mutex);
	if (pid != 0)				/* 0: not started yet; it will see the flag */
		kill(pid, SIGINT);
	return found;
}

int
elt_helpers_running(void)
{
	return elt_shared ? (int) pg_atomic_read_u32(&elt_shared->helpers_running) : 0;
}

void
elt_helper_count(int delta)
{
	if (elt_shared == NULL)
		return;
	if (delta > 0)
		pg_atomic_fetch_add_u32(&elt_shared->helpers_running, delta);
	else
	{
		pg_atomic_fetch_sub_u32(&elt_shared->helpers_running, -delta);
		elt_wake_scheduler_now(MyDatabaseId);	/* a worker is free */
	}
}

/* For a helper worker: has the run it works for been cancelled? */
bool
elt_run_cancel_requested(int64 run_id)
{
	bool		cancel = false;

	if (elt_shared == NULL)
		return false;
	for (int i = 0; i < ELT_MAX_RUN_SLOTS; i++)
		if (elt_shared->runs[i].run_id == run_id && elt_shared->runs[i].database == MyDatabaseId)
			cancel = pg_atomic_read_u32(&elt_shared->runs[i].cancel_requested) != 0;
	return cancel;
}

int
elt_workers_running(void)
{
	int			n = 0;

	if (elt_shared == NULL)
		return 0;
	SpinLockAcquire(&elt_shared->mutex);
	for (int i = 0; i < ELT_MAX_RUN_SLOTS; i++)
		n += (elt_shared->runs[i].run_id != 0);
	SpinLockRelease(&elt_shared->mutex);
	return n;
}

static EltSchedulerSlot *
scheduler_slot_for(Oid database)
{
	for (int i = 0; i < ELT_MAX_DATABASES; i++)
		if (elt_shared->schedulers[i].database == database)
			return &elt_shared->schedulers[i];
	return NULL;
}

/* Sets the latch of this database's scheduler (a run was queued). */
void
elt_wake_scheduler_now(Oid database)
{
	EltSchedulerSlot *slot;

	if (elt_shared == NULL)
		return;
	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(database);
	if (slot && slot->latch)
		SetLatch(slot->latch);
	SpinLockRelease(&elt_shared->mutex);
}

static bool wake_registered = false;
static bool wake_launcher_too = false;

static void
wake_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && elt_shared != NULL)
	{
		if (wake_launcher_too)
		{
			SpinLockAcquire(&elt_shared->mutex);
			for (int i = 0; i < ELT_MAX_DATABASES; i++)
				if (elt_shared->schedulers[i].database == MyDatabaseId)
					elt_shared->schedulers[i].retry_at = DT_NOBEGIN;	/* now */
			if (elt_shared->launcher_latch)
				SetLatch(elt_shared->launcher_latch);
			SpinLockRelease(&elt_shared->mutex);
		}
		elt_wake_scheduler_now(MyDatabaseId);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_launcher_too = false;
}

/*
 * Wakes the scheduler when the current transaction commits: a run it
 * queued starts then, and not before (nor ever, if it rolls back).
 */
void
elt_wake_scheduler_at_commit(bool launcher_too)
{
	if (!wake_registered)
	{
		RegisterXactCallback(wake_at_commit, NULL);
		wake_registered = true;
	}
	wake_launcher_too |= launcher_too;
}

/* elt._wake_scheduler(): run by the install and upgrade scripts. */
Datum
elt_wake_scheduler(PG_FUNCTION_ARGS)
{
	elt_wake_scheduler_at_commit(true);
	PG_RETURN_VOID();
}

/* elt._scheduler_available(): is pg_elt preloaded? */
Datum
elt_scheduler_available(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(elt_shared != NULL);
}

/* ---------------------------------------------------------------------
 * The launcher
 * ---------------------------------------------------------------------
 */

typedef struct LauncherDb
{
	Oid			database;
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;		/* restarts are at least a nap apart */
} LauncherDb;

static List *
launcher_databases(void)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext outer = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			result = lappend_oid(result, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

static BackgroundWorkerHandle *
launcher_start_scheduler(Oid database)
{
	BackgroundWorkerHandle *handle;

	if (!elt_start_worker("elt_scheduler_main", "pg_elt scheduler",
						  psprintf("pg_elt scheduler for database %u", database),
						  ObjectIdGetDatum(database), NULL, 0, &handle))
	{
		ereport(LOG,
				(errmsg("pg_elt launcher could not start a scheduler for database %u", database),
				 errhint("Raise max_worker_processes.")));
		return NULL;
	}
	return handle;
}

void
elt_launcher_main(Datum main_arg)
{
	List	   *running = NIL;	/* LauncherDb * */
	MemoryContext cxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	SpinLockAcquire(&elt_shared->mutex);
	elt_shared->launcher_latch = MyLatch;
	SpinLockRelease(&elt_shared->mutex);
	ereport(LOG, (errmsg("pg_elt launcher started")));

	cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt launcher", ALLOCSET_DEFAULT_SIZES);
	while (!ShutdownRequestPending)
	{
		List	   *databases;
		ListCell   *lc;
		TimestampTz now = GetCurrentTimestamp();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(cxt);
		databases = launcher_databases();
		foreach(lc, databases)
		{
			Oid			database = lfirst_oid(lc);
			LauncherDb *known = NULL;
			ListCell   *rc;
			pid_t		pid;
			TimestampTz retry_at = 0;
			EltSchedulerSlot *slot;
			bool		dropping;

			foreach(rc, running)
				if (((LauncherDb *) lfirst(rc))->database == database)
					known = lfirst(rc);
			if (known && known->handle &&
				GetBackgroundWorkerPid(known->handle, &pid) != BGWH_STOPPED)
				continue;		/* alive */
			SpinLockAcquire(&elt_shared->mutex);
			slot = scheduler_slot_for(database);
			if (slot)
				retry_at = slot->retry_at;
			dropping = slot && slot->dropping != 0;
			SpinLockRelease(&elt_shared->mutex);
			if (retry_at > now || dropping)
				continue;		/* no pg_elt there when last checked, or going */
			if (known && retry_at != DT_NOBEGIN &&
				now < TimestampTzPlusMilliseconds(known->started_at, LAUNCHER_NAP_MS))
				continue;		/* it failed a moment ago; the server log says why */

			if (known == NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				known = palloc0(sizeof(LauncherDb));
				known->database = database;
				running = lappend(running, known);
				MemoryContextSwitchTo(old);
			}
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				known->handle = launcher_start_scheduler(database);
				known->started_at = now;
				MemoryContextSwitchTo(old);
			}
		}
		MemoryContextReset(cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}

/* ---------------------------------------------------------------------
 * The scheduler of one database
 * ---------------------------------------------------------------------
 */

typedef struct Dispatched
{
	int64		run_id;
	BackgroundWorkerHandle *handle;
} Dispatched;

static List *dispatched = NIL;	/* runs this scheduler started */
static MemoryContext dispatched_cxt = NULL; /* holds dispatched and its handles */
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
		pid_t		pid;

		if (GetBackgroundWorkerPid(d->handle, &pid) == BGWH_STOPPED)
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
		EltRunSlot *slot = NULL;

		SpinLockAcquire(&elt_shared->mutex);
		for (int i = 0; i < ELT_MAX_RUN_SLOTS; i++)
			if (elt_shared->runs[i].run_id == d->run_id &&
				elt_shared->runs[i].database == MyDatabaseId && elt_shared->runs[i].pid == 0)
				slot = &elt_shared->runs[i];
		SpinLockRelease(&elt_shared->mutex);
		elt_release_run_slot(slot); /* its worker never adopted it */
		dispatched = list_delete_ptr(dispatched, d);
		pfree(d->handle);
		pfree(d);
	}
}

/* Starts the worker of a queued run, connected as the run's owner. */
static bool
scheduler_start_run(int64 run_id, Oid owner)
{
	BackgroundWorkerHandle *handle;
	EltRunSlot *reserved;
	EltRunWorkerArgs args = {MyDatabaseId, owner, run_id};
	MemoryContext old;
	Dispatched *d;
	char	   *worker_name;

	StaticAssertStmt(sizeof(EltRunWorkerArgs) <= BGW_EXTRALEN, "run worker args too long");
	reserved = run_slot_reserve(run_id);
	worker_name = psprintf("pg_elt run %lld", (long long) run_id);
	old = MemoryContextSwitchTo(dispatched_cxt);	/* the handle lives as long as d */
	if (reserved == NULL ||
		!elt_start_worker("elt_flow_worker_main", "pg_elt flow run", worker_name,
						  (Datum) 0, &args, sizeof(args), &handle))
	{
		MemoryContextSwitchTo(old);
		elt_release_run_slot(reserved);
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
	d->handle = handle;
	dispatched = lappend(dispatched, d);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Starts queued runs whose time has come, as many as pg_elt.max_workers
 * allows.  Returns when the next queued run is due (or 0 if none is).
 */
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

	free_workers = elt_max_workers - elt_workers_running() - elt_helpers_running();
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

	scheduler_begin();
	next = scheduler_query("SELECT elt._fire_schedules()", 0, NULL, NULL, &isnull);
	result = isnull ? 0 : DatumGetTimestampTz(next);
	scheduler_commit();
	return TIMESTAMP_NOT_FINITE(result) ? 0 : result;
}

static void
scheduler_prune(void)
{
	bool		isnull;

	scheduler_begin();
	(void) scheduler_query("SELECT elt._prune_history()", 0, NULL, NULL, &isnull);
	scheduler_commit();
}

static void
scheduler_claim_slot(Oid database)
{
	EltSchedulerSlot *slot;
	bool		duplicate = false;

	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(database);
	if (slot == NULL)
		slot = scheduler_slot_for(InvalidOid);
	if (slot == NULL)
		duplicate = true;
	else if ((slot->pid != 0 && slot->pid != MyProcPid && kill(slot->pid, 0) == 0) ||
			 slot->dropping != 0)
		duplicate = true;		/* or pg_elt is being dropped there */
	else
	{
		slot->database = database;
		slot->pid = MyProcPid;
		slot->latch = MyLatch;
		slot->retry_at = 0;
	}
	SpinLockRelease(&elt_shared->mutex);
	if (duplicate)
		proc_exit(0);
}

static void
scheduler_release_slot(int code, Datum arg)
{
	EltSchedulerSlot *slot;

	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(DatumGetObjectId(arg));
	if (slot && slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
	}
	SpinLockRelease(&elt_shared->mutex);
}

/* Is a DROP EXTENSION pg_elt under way in this scheduler's database? */
static bool
elt_scheduler_standing_down(void)
{
	EltSchedulerSlot *slot;
	bool		dropping;

	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(MyDatabaseId);
	dropping = slot && slot->dropping != 0;
	SpinLockRelease(&elt_shared->mutex);
	return dropping;
}

/*
 * For DROP EXTENSION pg_elt (drop_guard.c): the database's scheduler is
 * to exit and not be started again until elt_scheduler_resume.  False
 * when another backend is dropping pg_elt there already.
 */
bool
elt_scheduler_stand_down(Oid database)
{
	EltSchedulerSlot *slot;
	bool		ok = true;

	if (elt_shared == NULL)
		return true;
	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(database);
	if (slot == NULL && (slot = scheduler_slot_for(InvalidOid)) != NULL)
	{
		memset(slot, 0, sizeof(EltSchedulerSlot));
		slot->database = database;
	}
	if (slot == NULL || (slot->dropping != 0 && slot->dropping != MyProcPid))
		ok = (slot == NULL);	/* no slot: no scheduler could start anyway */
	else
	{
		slot->dropping = MyProcPid;
		if (slot->latch)
			SetLatch(slot->latch);
	}
	SpinLockRelease(&elt_shared->mutex);
	return ok;
}

/* The drop ended (committed or rolled back): the launcher may start one. */
void
elt_scheduler_resume(Oid database)
{
	EltSchedulerSlot *slot;

	if (elt_shared == NULL)
		return;
	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(database);
	if (slot && slot->dropping == MyProcPid)
	{
		slot->dropping = 0;
		slot->retry_at = DT_NOBEGIN;	/* look again now */
	}
	if (elt_shared->launcher_latch)
		SetLatch(elt_shared->launcher_latch);
	SpinLockRelease(&elt_shared->mutex);
}

bool
elt_scheduler_running(Oid database)
{
	EltSchedulerSlot *slot;
	bool		running;

	if (elt_shared == NULL)
		return false;
	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(database);
	running = slot && slot->pid != 0;
	SpinLockRelease(&elt_shared->mutex);
	return running;
}

/*
 * One round of the scheduler; returns when to wake for the next, or 0 when
 * the extension is gone or being dropped.
 */
static TimestampTz
scheduler_step(TimestampTz *next_recovery)
{
	TimestampTz now;
	TimestampTz wake;
	TimestampTz next;

	if (elt_scheduler_standing_down() || !scheduler_extension_ready())
		return 0;
	now = GetCurrentTimestamp();
	if (now >= *next_recovery || dispatched != NIL)
		scheduler_recover(false);
	if (now >= *next_recovery)
	{
		scheduler_prune();
		*next_recovery = TimestampTzPlusMilliseconds(now, RECOVERY_INTERVAL_MS);
	}
	wake = *next_recovery;
	next = elt_launch_schedules ? scheduler_fire() : 0;
	if (next != 0 && next < wake)
		wake = next;
	next = scheduler_dispatch();
	if (next != 0 && next < wake)
		wake = next;
	return wake;
}

void
elt_scheduler_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	TimestampTz next_recovery;
	MemoryContext loop_cxt;
	bool		first_start;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	scheduler_claim_slot(database);
	before_shmem_exit(scheduler_release_slot, ObjectIdGetDatum(database));
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
	pgstat_report_appname("pg_elt scheduler");
	/* it runs as a superuser: only trusted schemas resolve its names */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	if (!scheduler_extension_ready())
	{
		SpinLockAcquire(&elt_shared->mutex);
		scheduler_slot_for(database)->retry_at =
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SCHEDULER_RETRY_MS);
		SpinLockRelease(&elt_shared->mutex);
		proc_exit(0);
	}
	ereport(LOG, (errmsg("pg_elt scheduler started for database \"%s\"",
						 scheduler_database_name)));

	/*
	 * Runs left "running" are crashed only on the first start after the
	 * server (re)started; a scheduler restarted later would otherwise take
	 * runs its predecessor is still starting for dead ones.
	 */
	SpinLockAcquire(&elt_shared->mutex);
	first_start = !scheduler_slot_for(database)->recovered;
	SpinLockRelease(&elt_shared->mutex);
	scheduler_recover(first_start);
	SpinLockAcquire(&elt_shared->mutex);
	scheduler_slot_for(database)->recovered = true;
	SpinLockRelease(&elt_shared->mutex);
	next_recovery = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RECOVERY_INTERVAL_MS);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt scheduler", ALLOCSET_DEFAULT_SIZES);
	dispatched_cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt dispatched runs",
										   ALLOCSET_SMALL_SIZES);
	if (!elt_launch_schedules)
		ereport(LOG,
				(errmsg("pg_elt: schedules of database \"%s\" are not launched (pg_elt.launch_schedules is off); queued runs start",
						scheduler_database_name)));

	while (!ShutdownRequestPending)
	{
		TimestampTz wake;
		long		sleep_ms;

		MemoryContextSwitchTo(loop_cxt);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* an error in one step is logged and the loop goes on */
		PG_TRY();
		{
			wake = scheduler_step(&next_recovery);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(loop_cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			wake = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SCHEDULER_ERROR_NAP_MS);
		}
		PG_END_TRY();
		if (wake == 0)
			break;				/* DROP EXTENSION */

		MemoryContextReset(loop_cxt);
		sleep_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), wake);
		if (sleep_ms > 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}
