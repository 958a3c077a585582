/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  The orchestration runtime that shared_preload_libraries = 'pg_elt'
 *	  turns on: shared state, the launcher, and the schedulers.
 *
 *	  The launcher is the one long-lived pg_elt worker; it connects to no
 *	  database.  A database gets a scheduler only while it has something
 *	  to schedule: a commit that adds work (a schedule, a queued run,
 *	  CREATE or ALTER EXTENSION) bumps the database's request counter in
 *	  shared memory and sets the launcher's latch, and the launcher starts
 *	  a scheduler where requests are unserved.  A scheduler leaves when its
 *	  database has no enabled schedule and no queued run left, unless a
 *	  request came meanwhile.  After the launcher (re)starts, it looks into
 *	  every database once, one at a time, so that crashed runs are marked
 *	  and schedules resume after a restart without anyone asking.
 *
 *	  A scheduler, at start, marks runs whose worker is gone as crashed and
 *	  queues a re-run for flows with retries.  Then it loops: fire due
 *	  schedules (queueing runs), start queued runs whose time has come,
 *	  oldest first, as pg_elt.max_workers allows, and sleep until the next
 *	  slot or until its latch is set.
 *
 *	  Shared memory is sized when the server starts: a slot per database
 *	  that has a scheduler or unserved requests (pg_elt.max_databases; the
 *	  launcher frees the slots of idle and dropped databases), a slot per
 *	  running run (one per worker process), and a condition variable that
 *	  flow_wait sleeps on.  DROP DATABASE and DROP EXTENSION make the
 *	  database's scheduler stand down first, so that neither waits for it.
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
#include "tcop/utility.h"
#include "utils/acl.h"
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
static ProcessUtility_hook_type prev_process_utility_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#define LAUNCHER_NAP_MS			10000
#define LAUNCHER_PROBE_NAP_MS	50		/* while looking or about to start one */
#define LAUNCHER_RESTART_MS		200		/* between two starts for a database */
#define LAUNCHER_MAX_BACKOFF_MS	60000	/* ... doubling for one that keeps failing */
#define LAUNCHER_STEADY_MS		10000	/* a scheduler that lived this long is fine */
#define RECOVERY_INTERVAL_MS	60000
#define SCHEDULER_ERROR_NAP_MS	5000

/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */

/*
 * A run slot for every worker process (a run always has one), a scheduler
 * slot for each of pg_elt.max_databases databases.
 */
static int
shmem_run_slots(void)
{
	return max_worker_processes + 1;
}

static Size
shmem_size(void)
{
	return add_size(add_size(MAXALIGN(sizeof(EltShared)),
							 MAXALIGN(mul_size(sizeof(EltSchedulerSlot), elt_max_databases))),
					mul_size(sizeof(EltRunSlot), shmem_run_slots()));
}

static void
elt_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shmem_size());
	elt_tag_limits_shmem_request();
}

static void
elt_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	elt_shared = ShmemInitStruct("pg_elt", shmem_size(), &found);
	if (!found)
	{
		char	   *after = (char *) elt_shared + MAXALIGN(sizeof(EltShared));

		memset(elt_shared, 0, shmem_size());
		elt_shared->ndatabases = elt_max_databases;
		elt_shared->nruns = shmem_run_slots();
		elt_shared->schedulers = (EltSchedulerSlot *) after;
		elt_shared->runs = (EltRunSlot *) (after + MAXALIGN(sizeof(EltSchedulerSlot) *
															 elt_max_databases));
		SpinLockInit(&elt_shared->mutex);
		ConditionVariableInit(&elt_shared->run_ended);
		for (int i = 0; i < elt_shared->nruns; i++)
			pg_atomic_init_u32(&elt_shared->runs[i].cancel_requested, 0);
		pg_atomic_init_u32(&elt_shared->helpers_running, 0);
	}
	elt_tag_limits_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

#define DROP_DATABASE_WAIT_MS	5000

/*
 * DROP DATABASE waits (5 s, then fails) for the database's other
 * connections to end; its scheduler is one, and would keep it waiting for
 * ever if it had schedules.  So the scheduler stands down first, as for
 * DROP EXTENSION, until the transaction ends (it may start again if the
 * drop fails).
 */
static void
elt_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			database = InvalidOid;

	/* only for the database's owner: anyone else's DROP fails anyway */
	if (IsA(parsetree, DropdbStmt))
		database = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
	if (OidIsValid(database) && pg_database_ownercheck(database, GetUserId()))
		(void) elt_scheduler_stand_down(database, DROP_DATABASE_WAIT_MS);

	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params,
								  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
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
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = elt_process_utility;

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
	for (int i = 0; i < elt_shared->nruns && slot == NULL; i++)
		if (elt_shared->runs[i].run_id == run_id && elt_shared->runs[i].database == MyDatabaseId)
			slot = &elt_shared->runs[i];
	for (int i = 0; i < elt_shared->nruns && slot == NULL; i++)
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
	for (int i = 0; i < elt_shared->nruns; i++)
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
	for (int i = 0; i < elt_shared->nruns; i++)
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
	for (int i = 0; i < elt_shared->nruns; i++)
		n += (elt_shared->runs[i].run_id != 0);
	SpinLockRelease(&elt_shared->mutex);
	return n;
}

/* The slot of database (InvalidOid: a free one), or NULL.  Mutex held. */
static EltSchedulerSlot *
scheduler_slot_for(Oid database)
{
	for (int i = 0; i < elt_shared->ndatabases; i++)
		if (elt_shared->schedulers[i].database == database)
			return &elt_shared->schedulers[i];
	return NULL;
}

/* The slot of database, taking a free one if it has none.  Mutex held. */
static EltSchedulerSlot *
scheduler_slot_take(Oid database)
{
	EltSchedulerSlot *slot = scheduler_slot_for(database);

	if (slot == NULL && (slot = scheduler_slot_for(InvalidOid)) != NULL)
	{
		memset(slot, 0, sizeof(EltSchedulerSlot));
		slot->database = database;
		slot->generation = ++elt_shared->generations;
	}
	return slot;
}

/* Sets the latch of this database's scheduler (a run was queued). */
void
elt_wake_scheduler_now(Oid database)
{
	EltSchedulerSlot *slot;

	struct Latch *latch = NULL;

	if (elt_shared == NULL)
		return;
	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(database);
	if (slot)
		latch = slot->latch;
	SpinLockRelease(&elt_shared->mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * Asks for a scheduler in database: work for one (a schedule, a queued
 * run, the extension itself) has committed there.  Its scheduler, if it
 * runs, looks again; if none runs, the launcher starts one.  A database
 * without a free slot (pg_elt.max_databases) is served when one frees.
 */
void
elt_request_scheduler(Oid database)
{
	EltSchedulerSlot *slot;
	struct Latch *latch = NULL;
	struct Latch *launcher = NULL;

	if (elt_shared == NULL)
		return;
	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_take(database);
	if (slot)
	{
		slot->requested++;
		latch = slot->latch;
	}
	else
		elt_shared->overflow = true;	/* the launcher looks everywhere again */
	launcher = elt_shared->launcher_latch;
	SpinLockRelease(&elt_shared->mutex);
	if (slot == NULL)
		ereport(WARNING,
				(errmsg("pg_elt: no free scheduler slot for this database: pg_elt.max_databases (%d) databases have one",
						elt_max_databases),
				 errhint("Raise pg_elt.max_databases (a restart is needed); the work starts when a slot frees.")));
	if (latch)
		SetLatch(latch);
	if (launcher)
		SetLatch(launcher);
}

static bool wake_registered = false;
static bool wake_requested = false;

static void
wake_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && elt_shared != NULL && wake_requested)
		elt_request_scheduler(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_requested = false;
}

/*
 * Wakes the scheduler when the current transaction commits: a run it
 * queued starts then, and not before (nor ever, if it rolls back).
 */
void
elt_wake_scheduler_at_commit(void)
{
	if (!wake_registered)
	{
		RegisterXactCallback(wake_at_commit, NULL);
		wake_registered = true;
	}
	wake_requested = true;
}

/* elt._wake_scheduler(): run by the install and upgrade scripts. */
Datum
elt_wake_scheduler(PG_FUNCTION_ARGS)
{
	elt_wake_scheduler_at_commit();
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

/* A database the launcher knows of. */
typedef struct LauncherDb
{
	Oid			database;
	char		name[NAMEDATALEN];
} LauncherDb;

/* A scheduler the launcher started. */
typedef struct LauncherChild
{
	Oid			database;
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
	int			restarts;		/* started again after failing to serve */
	uint32		requested_at_start; /* the slot's requests when it started */
	uint32		generation;		/* and the slot's generation */
	bool		probe;			/* started to look, not because work was requested */
} LauncherChild;

/* The databases that accept connections, with their names. */
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
			LauncherDb *d = palloc(sizeof(LauncherDb));

			d->database = db->oid;
			strlcpy(d->name, NameStr(db->datname), NAMEDATALEN);
			result = lappend(result, d);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

/*
 * Frees the slots nothing needs: of databases that are gone (DROP
 * DATABASE), and of idle ones (no scheduler, no request it has not seen).
 */
static void
launcher_free_slots(List *databases)
{
	SpinLockAcquire(&elt_shared->mutex);
	for (int i = 0; i < elt_shared->ndatabases; i++)
	{
		EltSchedulerSlot *slot = &elt_shared->schedulers[i];
		bool		exists = false;
		ListCell   *lc;

		if (slot->database == InvalidOid || slot->pid != 0 || slot->dropping != 0)
			continue;
		foreach(lc, databases)
			exists |= ((LauncherDb *) lfirst(lc))->database == slot->database;
		if (!exists || slot->requested == slot->served)
			memset(slot, 0, sizeof(EltSchedulerSlot));
	}
	SpinLockRelease(&elt_shared->mutex);
}

static bool
launcher_child_alive(LauncherChild *child)
{
	pid_t		pid;

	return child->handle != NULL &&
		GetBackgroundWorkerPid(child->handle, &pid) != BGWH_STOPPED;
}

void
elt_launcher_main(Datum main_arg)
{
	List	   *children = NIL; /* LauncherChild *, one per database seen */
	List	   *probed = NIL;	/* databases looked at since the launcher started */
	MemoryContext cxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	SpinLockAcquire(&elt_shared->mutex);
	elt_shared->launcher_latch = MyLatch;
	SpinLockRelease(&elt_shared->mutex);
	ereport(LOG, (errmsg("pg_elt launcher started")));

	/*
	 * Each round: free unneeded slots, then start a scheduler where work was
	 * requested, and look once into every database (crashed runs to mark,
	 * schedules to fire after a restart), one database at a time so that a
	 * server with many databases does not fill max_worker_processes.
	 */
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt launcher", ALLOCSET_DEFAULT_SIZES);
	while (!ShutdownRequestPending)
	{
		List	   *databases;
		ListCell   *lc;
		TimestampTz now = GetCurrentTimestamp();
		bool		probing = false;
		bool		soon = false;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(cxt);
		databases = launcher_databases();
		launcher_free_slots(databases);

		/*
		 * A probe is done when its scheduler has left, or has marked crashed
		 * runs and stays because the database has work.
		 */
		foreach(lc, children)
		{
			LauncherChild *child = lfirst(lc);
			EltSchedulerSlot *slot;
			bool		looked;

			if (!child->probe)
				continue;
			SpinLockAcquire(&elt_shared->mutex);
			slot = scheduler_slot_for(child->database);
			looked = slot && slot->pid != 0 && slot->recovered;
			SpinLockRelease(&elt_shared->mutex);
			if (looked || !launcher_child_alive(child))
				child->probe = false;
			else
				probing = true;
		}

		/* a request found no free slot: look into every database again */
		SpinLockAcquire(&elt_shared->mutex);
		if (elt_shared->overflow)
		{
			elt_shared->overflow = false;
			list_free(probed);
			probed = NIL;
		}
		SpinLockRelease(&elt_shared->mutex);

		foreach(lc, databases)
		{
			LauncherDb *db = lfirst(lc);
			LauncherChild *child = NULL;
			EltSchedulerSlot *slot;
			ListCell   *cc;
			bool		requested;
			bool		probe;
			uint32		served;
			uint32		requested_now;
			uint32		generation;
			bool		failed;

			foreach(cc, children)
				if (((LauncherChild *) lfirst(cc))->database == db->database)
					child = lfirst(cc);

			SpinLockAcquire(&elt_shared->mutex);
			slot = scheduler_slot_for(db->database);
			requested = slot && slot->requested != slot->served && slot->dropping == 0 &&
				slot->pid == 0;
			served = slot ? slot->served : 0;
			requested_now = slot ? slot->requested : 0;
			generation = slot ? slot->generation : 0;
			SpinLockRelease(&elt_shared->mutex);
			if (child && launcher_child_alive(child))
			{
				/* a scheduler on its way out: start the next one soon */
				soon |= requested;
				continue;
			}
			probe = !requested && !probing && !list_member_oid(probed, db->database);
			if (!requested && !probe)
				continue;
			/* the last one left requests of its own slot unserved */
			failed = child && child->generation == generation &&
				(int32) (served - child->requested_at_start) < 0;
			if (failed &&
				now < TimestampTzPlusMilliseconds(child->started_at,
												  Min(LAUNCHER_RESTART_MS << Min(child->restarts, 10),
													  LAUNCHER_MAX_BACKOFF_MS)))
			{
				soon = true;	/* started a moment ago: not in a tight loop */
				continue;
			}

			if (child == NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				child = palloc0(sizeof(LauncherChild));
				child->database = db->database;
				children = lappend(children, child);
				MemoryContextSwitchTo(old);
			}
			if (child->handle)
				pfree(child->handle);
			child->handle = NULL;
			/*
			 * One that keeps failing (it left without serving the requests
			 * it was started for) is tried less and less often; one that
			 * served them and left idle is started again at once.
			 */
			if (failed && now < TimestampTzPlusMilliseconds(child->started_at, LAUNCHER_STEADY_MS))
				child->restarts++;
			else
				child->restarts = 0;
			child->requested_at_start = requested_now;
			child->generation = generation;
			child->started_at = now;
			child->probe = probe;
			{
				char	   *name = psprintf("pg_elt scheduler for database %s", db->name);
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				if (!elt_start_worker("elt_scheduler_main", "pg_elt scheduler", name,
									  ObjectIdGetDatum(db->database), NULL, 0, &child->handle))
				{
					child->handle = NULL;
					ereport(LOG,
							(errmsg("pg_elt launcher could not start a scheduler for database \"%s\": no free background worker slot",
									db->name),
							 errhint("Raise max_worker_processes (a restart is needed); it is tried again.")));
				}
				MemoryContextSwitchTo(old);
			}
			if (probe && child->handle)
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				probed = lappend_oid(probed, db->database);
				MemoryContextSwitchTo(old);
				probing = true;
			}
		}

		/* forget what belongs to dropped databases */
		foreach(lc, children)
		{
			LauncherChild *child = lfirst(lc);
			bool		exists = false;
			ListCell   *dc;

			foreach(dc, databases)
				exists |= ((LauncherDb *) lfirst(dc))->database == child->database;
			if (!exists && !launcher_child_alive(child))
			{
				probed = list_delete_oid(probed, child->database);
				if (child->handle)
					pfree(child->handle);
				children = foreach_delete_current(children, lc);
				pfree(child);
			}
		}
		MemoryContextReset(cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (probing || soon) ? LAUNCHER_PROBE_NAP_MS : LAUNCHER_NAP_MS,
						 PG_WAIT_EXTENSION);
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
		for (int i = 0; i < elt_shared->nruns; i++)
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

/*
 * Takes the database's slot for this scheduler; exits when another
 * scheduler has it, when pg_elt is being dropped there, or when no slot
 * is free (pg_elt.max_databases).
 */
static void
scheduler_claim_slot(Oid database)
{
	EltSchedulerSlot *slot;
	bool		leave = false;

	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_take(database);
	if (slot == NULL)
		elt_shared->overflow = true;	/* be looked for again when one frees */
	if (slot == NULL || slot->dropping != 0 ||
		(slot->pid != 0 && slot->pid != MyProcPid && kill(slot->pid, 0) == 0))
		leave = true;
	else
	{
		slot->pid = MyProcPid;
		slot->latch = MyLatch;
	}
	SpinLockRelease(&elt_shared->mutex);
	if (slot == NULL)
		ereport(LOG,
				(errmsg("pg_elt: no free scheduler slot: pg_elt.max_databases (%d) databases have one",
						elt_max_databases)));
	if (leave)
		proc_exit(0);
}

/* Marks the requests made so far as seen by this scheduler; returns them. */
static uint32
scheduler_take_requests(void)
{
	EltSchedulerSlot *slot;
	uint32		requested = 0;

	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(MyDatabaseId);
	if (slot)
	{
		requested = slot->requested;
		slot->served = requested;
	}
	SpinLockRelease(&elt_shared->mutex);
	return requested;
}

static bool scheduler_idle(void);

/* scheduler_idle, an error in it (logged) meaning not idle */
static bool
scheduler_idle_quietly(void)
{
	volatile bool idle = false;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		idle = scheduler_idle();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();
	return idle;
}

/*
 * Gives up the slot unless a request came after the ones seen: a run
 * queued just now must not wait for a scheduler that is leaving.
 */
static bool
scheduler_leave_unless_requested(uint32 seen)
{
	EltSchedulerSlot *slot;
	bool		leave = true;

	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(MyDatabaseId);
	if (slot && slot->requested != seen)
		leave = false;
	else if (slot)
	{
		slot->pid = 0;
		slot->latch = NULL;
	}
	SpinLockRelease(&elt_shared->mutex);
	return leave;
}

/*
 * Has the database nothing for a scheduler: no enabled schedule, no queued
 * run, no run this scheduler started that is still to be watched, no run
 * left running by a worker that is gone (to be marked crashed)?
 */
static bool
scheduler_idle(void)
{
	bool		isnull;
	bool		idle;

	if (dispatched != NIL)
		return false;
	scheduler_begin();
	idle = DatumGetBool(scheduler_query("SELECT NOT EXISTS (SELECT 1 FROM elt.flows"
										"                    WHERE enabled AND schedule IS NOT NULL)"
										"   AND NOT EXISTS (SELECT 1 FROM elt.flow_runs WHERE state = 'pending')"
										"   AND NOT EXISTS (SELECT 1 FROM elt.flow_runs r WHERE r.state = 'running'"
										"                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a"
										"                                       WHERE a.pid = r.worker_pid))",
										0, NULL, NULL, &isnull));
	scheduler_commit();
	return idle && !isnull;
}

static void
scheduler_release_slot(int code, Datum arg)
{
	EltSchedulerSlot *slot;
	ListCell   *lc;

	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(DatumGetObjectId(arg));
	if (slot && slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
	}
	/* run slots reserved for workers that never adopted them */
	foreach(lc, dispatched)
		for (int i = 0; i < elt_shared->nruns; i++)
			if (elt_shared->runs[i].run_id == ((Dispatched *) lfirst(lc))->run_id &&
				elt_shared->runs[i].database == MyDatabaseId && elt_shared->runs[i].pid == 0)
				elt_shared->runs[i].run_id = 0;
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
 * The database whose scheduler this backend made stand down, until the
 * end of the transaction: commit or abort (FATAL included) clears it.
 */
static Oid	stood_down = InvalidOid;
static bool stand_down_callback_registered = false;

static void
stand_down_at_end(XactEvent event, void *arg)
{
	if (OidIsValid(stood_down) &&
		(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT))
	{
		Oid			database = stood_down;

		stood_down = InvalidOid;
		elt_scheduler_resume(database);
	}
}

/*
 * For DROP EXTENSION pg_elt (drop_guard.c) and DROP DATABASE: the
 * database's scheduler is to exit and not start again until this
 * transaction ends; waits up to wait_ms for it to be gone.  False when
 * another backend is dropping there already.
 */
bool
elt_scheduler_stand_down(Oid database, int wait_ms)
{
	EltSchedulerSlot *slot;
	bool		ok = true;
	struct Latch *latch = NULL;
	TimestampTz end;

	if (elt_shared == NULL)
		return true;
	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_take(database);
	if (slot == NULL || (slot->dropping != 0 && slot->dropping != MyProcPid))
		ok = (slot == NULL);	/* no slot: no scheduler could start anyway */
	else
	{
		slot->dropping = MyProcPid;
		latch = slot->latch;
	}
	SpinLockRelease(&elt_shared->mutex);
	if (!ok || slot == NULL)
		return ok;
	if (!stand_down_callback_registered)
	{
		RegisterXactCallback(stand_down_at_end, NULL);
		stand_down_callback_registered = true;
	}
	stood_down = database;
	if (latch)
		SetLatch(latch);

	end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);
	while (elt_scheduler_running(database) && GetCurrentTimestamp() < end)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/* The drop ended (committed or rolled back): the launcher may start one. */
void
elt_scheduler_resume(Oid database)
{
	EltSchedulerSlot *slot;
	struct Latch *launcher;

	if (elt_shared == NULL)
		return;
	SpinLockAcquire(&elt_shared->mutex);
	slot = scheduler_slot_for(database);
	if (slot && slot->dropping == MyProcPid)
	{
		slot->dropping = 0;
		slot->requested++;		/* look again: the drop may have rolled back */
	}
	launcher = elt_shared->launcher_latch;
	SpinLockRelease(&elt_shared->mutex);
	if (launcher)
		SetLatch(launcher);
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

	/* an error before the requests are taken leaves them for a retry */
	if (!scheduler_extension_ready())
	{
		(void) scheduler_take_requests();
		proc_exit(0);			/* no pg_elt here, or another version */
	}
	ereport(DEBUG1, (errmsg("pg_elt scheduler started for database \"%s\"",
							scheduler_database_name)));

	/*
	 * Runs left "running" without a worker are crashed only by the first
	 * scheduler of the slot: a scheduler that failed and was started again
	 * would otherwise take runs its predecessor is still starting for dead
	 * ones.  (One that left idle had no run to start.)
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
		uint32		seen = scheduler_take_requests();

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
		if (scheduler_idle_quietly() && scheduler_leave_unless_requested(seen))
			break;				/* nothing to do: the launcher starts one when there is */

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
