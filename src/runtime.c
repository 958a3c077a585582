/*-------------------------------------------------------------------------
 *
 * runtime.c
 *	  The runtime's shared state, and the services every other part of the
 *	  control path uses: starting a worker, a worker's unit of work, an
 *	  interruptible sleep, wake-ups and worker accounting.
 *
 *	  Shared memory exists only when pg_elt is preloaded.  It is sized when
 *	  the server starts: an entry per database that has a scheduler or
 *	  unserved requests for one (pg_elt.max_databases; the launcher frees
 *	  the entries of idle and dropped databases), an entry per running run
 *	  (one per worker process, which every run has), the count of helper
 *	  workers, and a condition variable that flow_wait sleeps on.  One
 *	  LWLock of a named tranche guards the entries; latches are set only
 *	  after it is released (a cancel's signal is sent under it).
 *
 *	  A commit that adds work for a scheduler (a schedule, a queued run,
 *	  CREATE or ALTER EXTENSION) bumps its database's request counter and
 *	  sets the launcher's latch; the launcher starts a scheduler where
 *	  requests are unserved (launcher.c), and the scheduler marks them
 *	  served as it looks (scheduler.c).  DROP DATABASE and DROP EXTENSION
 *	  make the database's scheduler stand down until their transaction
 *	  ends, so that neither waits for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "runtime.h"

struct RunEntry
{
	int64		run_id;			/* 0 = free */
	Oid			database;
	pid_t		pid;			/* 0 while reserved for a worker starting */
	pg_atomic_uint32 cancel_requested;
};

typedef struct RuntimeShared
{
	LWLock	   *lock;
	struct Latch *launcher_latch;
	int			ndatabases;
	int			nruns;
	bool		overflow;		/* a database found no free entry */
	uint32		generations;	/* database entries taken since the server started */
	pg_atomic_uint32 helpers_running;
	ConditionVariable run_ended;
	/* then ndatabases DatabaseEntry, then nruns RunEntry */
} RuntimeShared;

#define RUNTIME_TRANCHE "pg_elt"

PG_FUNCTION_INFO_V1(elt_wake_scheduler);
PG_FUNCTION_INFO_V1(elt_scheduler_available);

static RuntimeShared *runtime = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void wake_scheduler_now(Oid database);

static DatabaseEntry *
database_entries(void)
{
	return (DatabaseEntry *) ((char *) runtime + MAXALIGN(sizeof(RuntimeShared)));
}

static RunEntry *
run_entries(void)
{
	return (RunEntry *) ((char *) database_entries() +
						 MAXALIGN(mul_size(sizeof(DatabaseEntry), runtime->ndatabases)));
}

/* A run entry for every worker process (a run always has one). */
static int
run_entry_count(void)
{
	return max_worker_processes + 1;
}

static Size
runtime_shmem_size(void)
{
	return add_size(add_size(MAXALIGN(sizeof(RuntimeShared)),
							 MAXALIGN(mul_size(sizeof(DatabaseEntry), elt_max_databases))),
					mul_size(sizeof(RunEntry), run_entry_count()));
}

static void
runtime_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(runtime_shmem_size());
	RequestNamedLWLockTranche(RUNTIME_TRANCHE, 1);
}

static void
runtime_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	runtime = ShmemInitStruct("pg_elt", runtime_shmem_size(), &found);
	if (!found)
	{
		memset(runtime, 0, runtime_shmem_size());
		runtime->lock = &(GetNamedLWLockTranche(RUNTIME_TRANCHE))->lock;
		runtime->ndatabases = elt_max_databases;
		runtime->nruns = run_entry_count();
		ConditionVariableInit(&runtime->run_ended);
		pg_atomic_init_u32(&runtime->helpers_running, 0);
		for (int i = 0; i < runtime->nruns; i++)
			pg_atomic_init_u32(&run_entries()[i].cancel_requested, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
elt_runtime_preload(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = runtime_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = runtime_shmem_startup;
}

bool
elt_runtime_preloaded(void)
{
	return runtime != NULL;
}

/* ---------------------------------------------------------------------
 * Starting workers, units of work
 * ---------------------------------------------------------------------
 */

/*
 * Registers a dynamic background worker of this library that connects to a
 * database, with main_arg; its exit sets the caller's latch.  The handle is allocated in
 * the current memory context.  False when no worker slot is free.
 */
bool
elt_start_worker(const char *function, const char *type, const char *name,
				 const void *extra, Size extra_len, Datum main_arg,
				 BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	Assert(extra_len <= BGW_EXTRALEN);
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "pg_elt", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	if (extra_len > 0)
		memcpy(worker.bgw_extra, extra, extra_len);
	worker.bgw_main_arg = main_arg;
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

static MemoryContext work_home_cxt = NULL;

/*
 * A background worker's unit of work: a transaction with a snapshot.
 * elt_commit_work returns to the memory context that was current here,
 * so what the caller allocates outside the transaction survives it.
 */
void
elt_begin_work(void)
{
	Assert(!IsTransactionState());	/* never nested: one home is enough */
	work_home_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
elt_commit_work(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(work_home_cxt);
}

/*
 * Lets the current unit of work commit without waiting for its WAL to
 * reach disk.  For a run's bookkeeping (an attempt's start, log lines):
 * nothing durable depends on it before the next commit that waits, which
 * flushes it too, as WAL is written in order; a crash before then loses
 * only such records, and recovery marks the run crashed.
 */
void
elt_work_commit_lazily(void)
{
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * Runs work (units of work of a worker's own); an error in it is logged
 * and rolled back, and the worker goes on.  False after an error.
 */
bool
elt_try_work(void (*work) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		work(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		ok = false;
	}
	PG_END_TRY();
	return ok;
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

/* ---------------------------------------------------------------------
 * Runs with a worker
 * ---------------------------------------------------------------------
 */

/* The entry of run_id in this database, or NULL.  Lock held. */
static RunEntry *
run_entry_find(int64 run_id)
{
	for (int i = 0; i < runtime->nruns; i++)
		if (run_entries()[i].run_id == run_id && run_entries()[i].database == MyDatabaseId)
			return &run_entries()[i];
	return NULL;
}

/* The run's entry, taking a free one if it has none; pid marks it adopted. */
static RunEntry *
run_entry_take(int64 run_id, pid_t pid)
{
	RunEntry   *entry;

	if (runtime == NULL)
		return NULL;
	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = run_entry_find(run_id);
	for (int i = 0; i < runtime->nruns && entry == NULL; i++)
		if (run_entries()[i].run_id == 0)
		{
			entry = &run_entries()[i];
			entry->run_id = run_id;
			entry->database = MyDatabaseId;
			pg_atomic_write_u32(&entry->cancel_requested, 0);
		}
	if (entry)
		entry->pid = pid;
	LWLockRelease(runtime->lock);
	return entry;
}

RunEntry *
elt_run_entry_reserve(int64 run_id)
{
	return run_entry_take(run_id, 0);
}

/* The worker takes its run's entry, keeping a cancel that came meanwhile. */
RunEntry *
elt_run_entry_adopt(int64 run_id)
{
	return run_entry_take(run_id, MyProcPid);
}

void
elt_run_entry_release(RunEntry *entry)
{
	Oid			database;

	if (entry == NULL)
		return;
	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	database = entry->database;
	entry->run_id = 0;
	entry->pid = 0;
	LWLockRelease(runtime->lock);
	ConditionVariableBroadcast(&runtime->run_ended);
	wake_scheduler_now(database);	/* a worker is free */
}

/* Frees the entry reserved for a run whose worker never adopted it. */
void
elt_run_entry_release_unadopted(int64 run_id)
{
	RunEntry   *entry;

	if (runtime == NULL)
		return;
	LWLockAcquire(runtime->lock, LW_SHARED);
	entry = run_entry_find(run_id);
	if (entry && entry->pid != 0)
		entry = NULL;
	LWLockRelease(runtime->lock);
	elt_run_entry_release(entry);
}

bool
elt_run_entry_cancelled(RunEntry *entry)
{
	return entry != NULL && pg_atomic_read_u32(&entry->cancel_requested) != 0;
}

void
elt_run_entry_cancel(RunEntry *entry)
{
	if (entry != NULL)
		pg_atomic_write_u32(&entry->cancel_requested, 1);
}

/*
 * Asks the worker of a running run to cancel it; false if none runs it.
 * The signal goes under the lock the worker takes to release the entry:
 * a pooled worker (worker_pool.c) gets it before it can take another run.
 */
bool
elt_run_cancel(int64 run_id)
{
	RunEntry   *entry;

	if (runtime == NULL)
		return false;
	LWLockAcquire(runtime->lock, LW_SHARED);
	entry = run_entry_find(run_id);
	if (entry)
	{
		pg_atomic_write_u32(&entry->cancel_requested, 1);
		if (entry->pid != 0)	/* 0: not started yet; it will see the flag */
			kill(entry->pid, SIGINT);
	}
	LWLockRelease(runtime->lock);
	return entry != NULL;
}

/* For a helper worker: has the run it works for been cancelled? */
bool
elt_run_cancel_requested(int64 run_id)
{
	bool		cancel;

	if (runtime == NULL)
		return false;
	LWLockAcquire(runtime->lock, LW_SHARED);
	cancel = elt_run_entry_cancelled(run_entry_find(run_id));
	LWLockRelease(runtime->lock);
	return cancel;
}

/* Sleeps until some run ends, or timeout_ms passes (flow_wait). */
void
elt_wait_for_run_end(long timeout_ms)
{
	if (runtime)
		(void) ConditionVariableTimedSleep(&runtime->run_ended, timeout_ms, PG_WAIT_EXTENSION);
	else
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
elt_wait_for_run_end_done(void)
{
	if (runtime)
		ConditionVariableCancelSleep();
}

/* How many more workers pg_elt.max_workers allows (runs and helpers). */
int
elt_workers_free(void)
{
	int			used;

	if (runtime == NULL)
		return elt_max_workers;
	used = (int) pg_atomic_read_u32(&runtime->helpers_running);
	LWLockAcquire(runtime->lock, LW_SHARED);
	for (int i = 0; i < runtime->nruns; i++)
		used += (run_entries()[i].run_id != 0);
	LWLockRelease(runtime->lock);
	return elt_max_workers - used;
}

void
elt_helper_count(int delta)
{
	if (runtime == NULL)
		return;
	if (delta > 0)
		pg_atomic_fetch_add_u32(&runtime->helpers_running, delta);
	else
	{
		pg_atomic_fetch_sub_u32(&runtime->helpers_running, -delta);
		wake_scheduler_now(MyDatabaseId);	/* a worker is free */
	}
}

/* ---------------------------------------------------------------------
 * Databases and their schedulers
 * ---------------------------------------------------------------------
 */

/* The entry of database (InvalidOid: a free one), or NULL.  Lock held. */
static DatabaseEntry *
database_entry_find(Oid database)
{
	for (int i = 0; i < runtime->ndatabases; i++)
		if (database_entries()[i].database == database)
			return &database_entries()[i];
	return NULL;
}

/* The entry of database, taking a free one if it has none.  Lock held. */
static DatabaseEntry *
database_entry_take(Oid database)
{
	DatabaseEntry *entry = database_entry_find(database);

	if (entry == NULL && (entry = database_entry_find(InvalidOid)) != NULL)
	{
		memset(entry, 0, sizeof(DatabaseEntry));
		entry->database = database;
		entry->generation = ++runtime->generations;
	}
	if (entry == NULL)
		runtime->overflow = true;	/* the launcher looks everywhere again */
	return entry;
}

/* Sets the latch of this database's scheduler (a worker is free, say). */
static void
wake_scheduler_now(Oid database)
{
	DatabaseEntry *entry;
	struct Latch *latch = NULL;

	if (runtime == NULL)
		return;
	LWLockAcquire(runtime->lock, LW_SHARED);
	entry = database_entry_find(database);
	if (entry)
		latch = entry->scheduler_latch;
	LWLockRelease(runtime->lock);
	if (latch)
		SetLatch(latch);
}

/*
 * Asks for a scheduler in database: work for one (a schedule, a queued
 * run, the extension itself) has committed there.  Its scheduler, if it
 * runs, looks again; if none runs, the launcher starts one.  A database
 * without a free entry (pg_elt.max_databases) is served when one frees.
 */
void
elt_request_scheduler(Oid database)
{
	DatabaseEntry *entry;
	struct Latch *latch = NULL;
	struct Latch *launcher;

	if (runtime == NULL)
		return;
	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = database_entry_take(database);
	if (entry)
	{
		entry->requested++;
		latch = entry->scheduler_latch;
	}
	launcher = runtime->launcher_latch;
	LWLockRelease(runtime->lock);
	if (entry == NULL)
		ereport(WARNING,
				(errmsg("pg_elt: no free scheduler slot for this database: pg_elt.max_databases (%d) databases have one",
						elt_max_databases),
				 errhint("Raise pg_elt.max_databases (a restart is needed); the work starts when a slot frees.")));
	if (latch)
		SetLatch(latch);
	if (launcher)
		SetLatch(launcher);
}

/*
 * Whether the current transaction asked for the scheduler: set by
 * elt_wake_scheduler_at_commit, consumed when the transaction ends.
 */
static bool wake_requested = false;

static void
wake_at_commit(XactEvent event, void *arg)
{
	bool		ended = event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT;

	if (event == XACT_EVENT_COMMIT && wake_requested)
		elt_request_scheduler(MyDatabaseId);
	if (ended)
		wake_requested = false;
}

/*
 * Wakes the scheduler when the current transaction commits: a run it
 * queued starts then, and not before (nor ever, if it rolls back).
 */
void
elt_wake_scheduler_at_commit(void)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(wake_at_commit, NULL);
		registered = true;
	}
	wake_requested = true;
}

bool
elt_scheduler_running(Oid database)
{
	DatabaseEntry copy;

	return elt_database_entry(database, &copy) && copy.scheduler_pid != 0;
}

/*
 * The database whose scheduler this backend made stand down, until the
 * end of the transaction: commit or abort (FATAL included) resumes it.
 */
static Oid	stood_down = InvalidOid;

/* The drop ended (committed or rolled back): the launcher may start one. */
static void
scheduler_resume(Oid database)
{
	DatabaseEntry *entry;
	struct Latch *launcher;

	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = database_entry_find(database);
	if (entry && entry->dropping == MyProcPid)
	{
		entry->dropping = 0;
		entry->requested++;		/* look again: the drop may have rolled back */
	}
	launcher = runtime->launcher_latch;
	LWLockRelease(runtime->lock);
	if (launcher)
		SetLatch(launcher);
}

static void
stand_down_at_end(XactEvent event, void *arg)
{
	if (OidIsValid(stood_down) &&
		(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT))
	{
		Oid			database = stood_down;

		stood_down = InvalidOid;
		scheduler_resume(database);
	}
}

/*
 * For DROP EXTENSION pg_elt and DROP DATABASE (drop_guard.c): the
 * database's scheduler is to exit and not start again until this
 * transaction ends; waits up to wait_ms for it to be gone.  False when
 * another backend is dropping there already.
 */
bool
elt_scheduler_stand_down(Oid database, int wait_ms)
{
	static bool registered = false;
	DatabaseEntry *entry;
	bool		ok = true;
	struct Latch *latch = NULL;
	TimestampTz end;

	if (runtime == NULL)
		return true;
	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = database_entry_take(database);
	if (entry == NULL)
		ok = true;				/* no entry: no scheduler could start anyway */
	else if (entry->dropping != 0 && entry->dropping != MyProcPid)
		ok = false;
	else
	{
		entry->dropping = MyProcPid;
		latch = entry->scheduler_latch;
	}
	LWLockRelease(runtime->lock);
	if (!ok || entry == NULL)
		return ok;
	if (!registered)
	{
		RegisterXactCallback(stand_down_at_end, NULL);
		registered = true;
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

/* The launcher says where it can be woken. */
void
elt_launcher_attach(void)
{
	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	runtime->launcher_latch = MyLatch;
	LWLockRelease(runtime->lock);
}

/* A copy of the database's entry; false when it has none. */
bool
elt_database_entry(Oid database, DatabaseEntry *copy)
{
	DatabaseEntry *entry;

	if (runtime == NULL)
		return false;
	LWLockAcquire(runtime->lock, LW_SHARED);
	entry = database_entry_find(database);
	if (entry)
		*copy = *entry;
	LWLockRelease(runtime->lock);
	return entry != NULL;
}

/*
 * Frees the entries nothing needs: of databases not in existing (an OID
 * list: the others were dropped), and of idle ones (no scheduler, no
 * request it has not seen).
 */
void
elt_free_database_entries(List *existing)
{
	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	for (int i = 0; i < runtime->ndatabases; i++)
	{
		DatabaseEntry *entry = &database_entries()[i];

		if (entry->database == InvalidOid || entry->scheduler_pid != 0 || entry->dropping != 0)
			continue;
		if (!list_member_oid(existing, entry->database) || entry->requested == entry->served)
			memset(entry, 0, sizeof(DatabaseEntry));
	}
	LWLockRelease(runtime->lock);
}

/* Did a database find no free entry since the last call? */
bool
elt_database_overflowed(void)
{
	bool		overflow;

	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	overflow = runtime->overflow;
	runtime->overflow = false;
	LWLockRelease(runtime->lock);
	return overflow;
}

/*
 * Takes the database's entry for this scheduler.  False when another
 * scheduler has it, when pg_elt is being dropped there, or when no entry
 * is free (pg_elt.max_databases).  *first: no scheduler of this taking of
 * the entry has marked crashed runs yet.
 */
bool
elt_scheduler_attach(Oid database, bool *first)
{
	DatabaseEntry *entry;
	pid_t		other = 0;
	bool		ok;

	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = database_entry_take(database);
	ok = entry != NULL && entry->dropping == 0;
	if (ok && entry->scheduler_pid != 0 && entry->scheduler_pid != MyProcPid)
		other = entry->scheduler_pid;
	if (ok && other == 0)
	{
		entry->scheduler_pid = MyProcPid;
		entry->scheduler_latch = MyLatch;
		*first = !entry->recovered;
	}
	LWLockRelease(runtime->lock);
	if (entry == NULL)
		ereport(LOG,
				(errmsg("pg_elt: no free scheduler slot: pg_elt.max_databases (%d) databases have one",
						elt_max_databases)));
	if (other != 0 && kill(other, 0) != 0)
	{
		/* the other one died without detaching (a crash resets all of this) */
		LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
		if (entry->scheduler_pid == other)
		{
			entry->scheduler_pid = MyProcPid;
			entry->scheduler_latch = MyLatch;
			*first = !entry->recovered;
			other = 0;
		}
		LWLockRelease(runtime->lock);
	}
	return ok && other == 0;
}

void
elt_scheduler_detach(Oid database)
{
	DatabaseEntry *entry;

	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = database_entry_find(database);
	if (entry && entry->scheduler_pid == MyProcPid)
	{
		entry->scheduler_pid = 0;
		entry->scheduler_latch = NULL;
	}
	LWLockRelease(runtime->lock);
}

/* Marks the requests made so far as seen by this scheduler; returns them. */
uint32
elt_scheduler_take_requests(void)
{
	DatabaseEntry *entry;
	uint32		requested = 0;

	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = database_entry_find(MyDatabaseId);
	if (entry)
	{
		requested = entry->requested;
		entry->served = requested;
	}
	LWLockRelease(runtime->lock);
	return requested;
}

/*
 * Gives up the entry unless a request came after the ones seen: a run
 * queued just now must not wait for a scheduler that is leaving.
 */
bool
elt_scheduler_leave_unless_requested(uint32 seen)
{
	DatabaseEntry *entry;
	bool		leave = true;

	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = database_entry_find(MyDatabaseId);
	if (entry && entry->requested != seen)
		leave = false;
	else if (entry)
	{
		entry->scheduler_pid = 0;
		entry->scheduler_latch = NULL;
	}
	LWLockRelease(runtime->lock);
	return leave;
}

void
elt_scheduler_mark_recovered(void)
{
	DatabaseEntry *entry;

	LWLockAcquire(runtime->lock, LW_EXCLUSIVE);
	entry = database_entry_find(MyDatabaseId);
	if (entry)
		entry->recovered = true;
	LWLockRelease(runtime->lock);
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
	PG_RETURN_BOOL(runtime != NULL);
}

/* Is a DROP EXTENSION pg_elt or DROP DATABASE under way here? */
bool
elt_scheduler_standing_down(void)
{
	DatabaseEntry copy;

	return elt_database_entry(MyDatabaseId, &copy) && copy.dropping != 0;
}
