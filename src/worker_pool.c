/*-------------------------------------------------------------------------
 *
 * worker_pool.c
 *	  Pooled run workers.  A new background worker costs tens of
 *	  milliseconds (a fork, a connection, cold caches): more than a cached
 *	  run or a SELECT 1 task takes.  So a run's worker or a helper whose
 *	  job is done waits, still connected, for pg_elt.worker_idle_timeout,
 *	  and the next job for the same database, role and kind of worker goes
 *	  to it rather than to a new process.  At most pg_elt.max_idle_workers
 *	  wait at a time: idle workers hold background worker slots, which
 *	  parallel query also needs.
 *
 *	  Every job gets a fresh session: between jobs a worker does what
 *	  DISCARD ALL does (portals, settings, session authorization, prepared
 *	  statements, LISTEN, session advisory locks, temporary tables,
 *	  sequence caches), keeping only cached plans, which invalidation keeps
 *	  right; the reset is done before the requester hears the job is done.
 *	  A worker takes a job only while its role may still log in.  When a
 *	  statement that changes what a new session would get commits (ALTER
 *	  ROLE and ALTER DATABASE with their SETs, DROP, RENAME and GRANT on
 *	  them, pg_elt's own DDL: drop_guard.c's hook), the pool's generation
 *	  moves on: idle workers leave, and busy ones leave after their job,
 *	  as every worker connected before is of an older generation.  A start
 *	  that finds every background worker slot taken retires an idle
 *	  worker too.  A worker that ended its job in an error is not reused,
 *	  and none serves more than POOL_MAX_JOBS jobs.
 *
 *	  Shared memory has a slot per worker process.  A requester holds a
 *	  PoolJob, the slot and the job's number there: it asks whether its
 *	  job is done, and it signals the worker only while the worker still
 *	  does that job, under the pool's lock, which the worker takes to mark
 *	  the job done, so that a late cancel never reaches the next job.
 *	  Without shared memory (pg_elt not preloaded) every job gets a new
 *	  worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/async.h"
#include "commands/prepare.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/portal.h"
#include "utils/ps_status.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "runtime.h"
#include "worker_pool.h"

/* A slot reserved for a worker that never came is reclaimed after this. */
#define POOL_START_LOST_MS	60000
/* a bound on what a long-lived worker's caches and allocator hold */
#define POOL_MAX_JOBS		1000
/* bgw_main_arg: the slot + 1 in the low bits, the job's number above */
#define POOL_SLOT_BITS		16

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_STARTING,				/* reserved for a worker being started */
	SLOT_BUSY,					/* doing a job, or between jobs (job_done) */
	SLOT_IDLE,					/* waiting for a job */
	SLOT_RETIRED				/* leaving; nobody may give it a job */
} SlotState;

typedef struct PoolSlot
{
	SlotState	state;
	pid_t		pid;
	struct Latch *latch;		/* the worker's */
	struct Latch *requester;	/* set when the job is done */
	Oid			database;
	Oid			role;
	char		function[BGW_MAXLEN];	/* the kind of worker */
	uint64		job;			/* the job it does, or did last */
	bool		job_done;
	uint64		generation;		/* the pool's, as the worker connected */
	TimestampTz since;			/* of the state */
	char		args[BGW_EXTRALEN];
} PoolSlot;

typedef struct PoolShared
{
	LWLock	   *lock;
	uint64		jobs;			/* numbers given so far */
	pg_atomic_uint64 generation;	/* moves on when new sessions would differ */
	int			nslots;
	PoolSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} PoolShared;

static PoolShared *pool = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This worker's slot, for the life of the process; -1 when unpooled. */
static int	my_slot = -1;
static int	my_jobs = 0;
static bool my_pooled = false;	/* idle in the pool after the last job */

/* Whether the current transaction moves the generation on as it commits. */
static bool invalidate_at_commit = false;

static Size
pool_shmem_size(void)
{
	return add_size(offsetof(PoolShared, slots), mul_size(sizeof(PoolSlot), max_worker_processes));
}

static void
pool_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(pool_shmem_size());
	RequestNamedLWLockTranche("pg_elt pool", 1);
}

static void
pool_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pool = ShmemInitStruct("pg_elt pool", pool_shmem_size(), &found);
	if (!found)
	{
		memset(pool, 0, pool_shmem_size());
		pool->lock = &(GetNamedLWLockTranche("pg_elt pool"))->lock;
		pool->nslots = max_worker_processes;
		pg_atomic_init_u64(&pool->generation, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
elt_pool_preload(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pool_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pool_shmem_startup;
}

static bool
pooling(void)
{
	return pool != NULL && elt_worker_idle_timeout_s > 0 && elt_max_idle_workers > 0;
}

/* ---------------------------------------------------------------------
 * The requester's side
 * ---------------------------------------------------------------------
 */

/* Retires the idle worker that waited longest: its slot is wanted.  Lock held. */
static struct Latch *
retire_longest_idle(void)
{
	PoolSlot   *oldest = NULL;

	for (int i = 0; i < pool->nslots; i++)
		if (pool->slots[i].state == SLOT_IDLE &&
			(oldest == NULL || pool->slots[i].since < oldest->since))
			oldest = &pool->slots[i];
	if (oldest == NULL)
		return NULL;
	oldest->state = SLOT_RETIRED;
	return oldest->latch;
}

/*
 * Gives the job (args, for a worker running function as role in
 * database) to an idle worker of that kind, or starts one for it.  False
 * when no background worker slot is free; an idle worker of another kind
 * is then retired, so that a retry soon finds one.
 */
bool
elt_pool_start(const char *function, const char *type, const char *name,
			   Oid database, Oid role, const void *args, Size args_len, PoolJob *job)
{
	TimestampTz now = GetCurrentTimestamp();
	PoolSlot   *slot = NULL;
	struct Latch *latch = NULL;
	bool		reused = false;

	Assert(args_len <= BGW_EXTRALEN);
	memset(job, 0, sizeof(PoolJob));
	job->slot = -1;
	if (!pooling())
		return elt_start_worker(function, type, name, args, args_len, (Datum) 0, &job->handle);

	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	for (int i = 0; i < pool->nslots && slot == NULL; i++)
	{
		PoolSlot   *s = &pool->slots[i];

		if (s->state == SLOT_IDLE && s->database == database && s->role == role &&
			strcmp(s->function, function) == 0 &&
			s->generation == pg_atomic_read_u64(&pool->generation))
			slot = s, reused = true;
	}
	for (int i = 0; i < pool->nslots && slot == NULL; i++)
	{
		PoolSlot   *s = &pool->slots[i];

		if (s->state == SLOT_FREE ||
			(s->state == SLOT_STARTING && s->pid == 0 &&
			 TimestampDifferenceExceeds(s->since, now, POOL_START_LOST_MS)))
			slot = s;
	}
	if (slot)
	{
		if (!reused)
		{
			slot->pid = 0;
			slot->latch = NULL;
			slot->database = database;
			slot->role = role;
			strlcpy(slot->function, function, sizeof(slot->function));
		}
		memset(slot->args, 0, sizeof(slot->args));
		memcpy(slot->args, args, args_len);
		slot->state = reused ? SLOT_BUSY : SLOT_STARTING;
		slot->job = ++pool->jobs;
		slot->job_done = false;
		slot->requester = MyLatch;
		slot->since = now;
		job->slot = slot - pool->slots;
		job->job = slot->job;
		latch = slot->latch;
	}
	LWLockRelease(pool->lock);

	if (reused)
	{
		SetLatch(latch);
		return true;
	}
	if (slot == NULL)			/* cannot be: a slot per worker process */
		return elt_start_worker(function, type, name, args, args_len, (Datum) 0, &job->handle);
	if (elt_start_worker(function, type, name, args, args_len,
						 UInt64GetDatum((job->job << POOL_SLOT_BITS) | (uint64) (job->slot + 1)),
						 &job->handle))
		return true;

	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	if (slot->state == SLOT_STARTING && slot->job == job->job)
		slot->state = SLOT_FREE;
	latch = retire_longest_idle();
	LWLockRelease(pool->lock);
	if (latch)
		SetLatch(latch);
	job->slot = -1;
	return false;
}

/* Where the job stands; *pid (if given) is its worker's while it runs. */
PoolJobState
elt_pool_job_state(PoolJob *job, pid_t *pid)
{
	PoolJobState state;
	PoolSlot   *slot;
	pid_t		p = 0;

	if (job->slot < 0)
	{
		switch (GetBackgroundWorkerPid(job->handle, &p))
		{
			case BGWH_STARTED:
				state = POOL_JOB_RUNNING;
				break;
			case BGWH_NOT_YET_STARTED:
				state = POOL_JOB_STARTING;
				break;
			default:
				state = POOL_JOB_DONE;
				break;
		}
		if (pid)
			*pid = state == POOL_JOB_RUNNING ? p : 0;
		return state;
	}

	slot = &pool->slots[job->slot];
	LWLockAcquire(pool->lock, LW_SHARED);
	if (slot->job != job->job || slot->job_done || slot->state == SLOT_FREE)
		state = POOL_JOB_DONE;
	else if (slot->state == SLOT_STARTING)
		state = POOL_JOB_STARTING;
	else
		state = POOL_JOB_RUNNING, p = slot->pid;
	LWLockRelease(pool->lock);

	/* a worker started for the job that is gone before it took its slot */
	if (state == POOL_JOB_STARTING && job->handle &&
		GetBackgroundWorkerPid(job->handle, &p) == BGWH_STOPPED)
	{
		LWLockAcquire(pool->lock, LW_EXCLUSIVE);
		if (slot->job == job->job && slot->state == SLOT_STARTING)
			slot->state = SLOT_FREE;
		LWLockRelease(pool->lock);
		state = POOL_JOB_DONE;
		p = 0;
	}
	if (pid)
		*pid = p;
	return state;
}

/*
 * Signals the job's worker if it is still doing the job.  The signal is
 * sent under the lock the worker takes to mark its job done, so it
 * arrives before the worker can take another job.
 */
bool
elt_pool_signal(const PoolJob *job, int signo)
{
	PoolSlot   *slot;
	bool		sent = false;
	pid_t		pid;

	if (job->slot < 0)
		return job->handle && GetBackgroundWorkerPid(job->handle, &pid) == BGWH_STARTED &&
			kill(pid, signo) == 0;
	slot = &pool->slots[job->slot];
	LWLockAcquire(pool->lock, LW_SHARED);
	if (slot->job == job->job && !slot->job_done && slot->state == SLOT_BUSY && slot->pid != 0)
		sent = kill(slot->pid, signo) == 0;
	LWLockRelease(pool->lock);
	return sent;
}

static void
invalidate_on_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && invalidate_at_commit && pool != NULL)
	{
		pg_atomic_fetch_add_u64(&pool->generation, 1);
		elt_pool_retire_idle(InvalidOid);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		invalidate_at_commit = false;
}

/*
 * The current transaction changes what new sessions get: when it commits,
 * no worker connected before takes another job.
 */
void
elt_pool_invalidate_at_commit(void)
{
	static bool registered = false;

	if (pool == NULL)
		return;
	if (!registered)
	{
		RegisterXactCallback(invalidate_on_commit, NULL);
		registered = true;
	}
	invalidate_at_commit = true;
}

/*
 * Makes the idle workers of database (InvalidOid: of every database)
 * leave.
 */
void
elt_pool_retire_idle(Oid database)
{
	struct Latch **latches;
	int			n = 0;

	if (pool == NULL)
		return;
	latches = palloc(sizeof(struct Latch *) * pool->nslots);
	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	for (int i = 0; i < pool->nslots; i++)
	{
		PoolSlot   *s = &pool->slots[i];

		if (s->state == SLOT_IDLE && (!OidIsValid(database) || s->database == database))
		{
			s->state = SLOT_RETIRED;
			latches[n++] = s->latch;
		}
	}
	LWLockRelease(pool->lock);
	for (int i = 0; i < n; i++)
		SetLatch(latches[i]);
	pfree(latches);
}

/* ---------------------------------------------------------------------
 * The worker's side
 * ---------------------------------------------------------------------
 */

/* As the worker exits: its slot frees, and its requester learns of it. */
static void
pool_worker_exit(int code, Datum arg)
{
	PoolSlot   *slot = &pool->slots[my_slot];
	struct Latch *requester;
	bool		was_done;

	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	was_done = slot->job_done;
	requester = slot->requester;
	slot->state = SLOT_FREE;
	slot->pid = 0;
	slot->latch = NULL;
	slot->requester = NULL;
	slot->job_done = true;
	LWLockRelease(pool->lock);
	if (requester && !was_done)
		SetLatch(requester);
	my_slot = -1;
}

/*
 * First thing in a worker: its slot, if it was started for one, and its
 * first job's args (else bgw_extra's).
 */
void
elt_pool_attach(Datum main_arg, void *args, Size args_len)
{
	uint64		packed = DatumGetUInt64(main_arg);
	int			i = (int) (packed & ((1 << POOL_SLOT_BITS) - 1)) - 1;
	uint64		job = packed >> POOL_SLOT_BITS;
	PoolSlot   *slot;
	bool		mine;

	if (i < 0 || pool == NULL || i >= pool->nslots)
	{
		memcpy(args, MyBgworkerEntry->bgw_extra, args_len);
		return;
	}
	slot = &pool->slots[i];
	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	/* its job, not one given to the slot after it was given up for lost */
	mine = slot->state == SLOT_STARTING && slot->pid == 0 && slot->job == job &&
		strcmp(slot->function, MyBgworkerEntry->bgw_function_name) == 0;
	if (mine)
	{
		slot->pid = MyProcPid;
		slot->latch = MyLatch;
		slot->state = SLOT_BUSY;
		slot->generation = pg_atomic_read_u64(&pool->generation);	/* before connecting */
		memcpy(args, slot->args, args_len);
	}
	LWLockRelease(pool->lock);
	if (!mine)
	{
		ereport(LOG,
				(errmsg("pg_elt: a worker started too late for its job: the job was given up")));
		proc_exit(0);
	}
	my_slot = i;
	before_shmem_exit(pool_worker_exit, (Datum) 0);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
}

static void pool_reset_session(void *arg);

/*
 * The job is done: a pooled worker resets its session first (what the job
 * held, session locks say, is let go), then its requester may go on (and
 * no longer signal us).  A worker that stays is idle from the same moment,
 * under the same lock: a requester that goes on at once (a run's next
 * task) finds it, instead of starting a worker while this one is still on
 * its way to the pool.  When pg_elt.max_idle_workers wait already, the
 * one that waited longest makes room: a worker just done is the likelier
 * to be wanted (the run's worker, after its helpers).  It stays unless
 * the caller says it may not (it is about to exit), it is unpooled, served
 * POOL_MAX_JOBS jobs, its session could not be reset, or it is of an older
 * generation: a worker marked idle must take the job it is given.
 */
void
elt_pool_job_done(bool may_stay)
{
	PoolSlot   *slot;
	struct Latch *requester;
	struct Latch *retired = NULL;
	bool		reset;

	if (my_slot < 0)
		return;
	my_jobs++;
	reset = may_stay && pooling() && my_jobs < POOL_MAX_JOBS &&
		elt_try_work(pool_reset_session, NULL);
	slot = &pool->slots[my_slot];
	LWLockAcquire(pool->lock, LW_EXCLUSIVE);
	slot->job_done = true;
	requester = slot->requester;
	slot->requester = NULL;
	my_pooled = reset && slot->generation == pg_atomic_read_u64(&pool->generation);
	if (my_pooled)
	{
		int			nidle = 0;

		for (int i = 0; i < pool->nslots; i++)
			nidle += pool->slots[i].state == SLOT_IDLE;
		if (nidle >= elt_max_idle_workers)
			retired = retire_longest_idle();
		slot->state = SLOT_IDLE;
		slot->since = GetCurrentTimestamp();
	}
	LWLockRelease(pool->lock);
	if (retired)
		SetLatch(retired);
	if (requester)
		SetLatch(requester);
}

/* What DISCARD ALL does but for cached plans. */
static void
pool_reset_session(void *arg)
{
	elt_begin_work();
	PortalHashTableDeleteAll();
	SetPGVariable("session_authorization", NIL, false);
	ResetAllOptions();
	DropAllPreparedStatements();
	Async_UnlistenAll();
	LockReleaseAll(USER_LOCKMETHOD, true);
	ResetTempTableNamespace();
	ResetSequenceCaches();
	elt_commit_work();
}

/* May this worker's role still log in, as a new worker's would have to? */
static void
pool_check_role(void)
{
	HeapTuple	tuple;
	bool		may_login;

	StartTransactionCommand();
	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetAuthenticatedUserId()));
	may_login = HeapTupleIsValid(tuple) && ((Form_pg_authid) GETSTRUCT(tuple))->rolcanlogin;
	if (HeapTupleIsValid(tuple))
		ReleaseSysCache(tuple);
	CommitTransactionCommand();
	if (!may_login)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role with OID %u is not permitted to log in", GetAuthenticatedUserId()),
				 errdetail("The role of an idle pg_elt worker lost LOGIN, or was dropped.")));
}

/*
 * After a job (and elt_pool_job_done, which made the worker idle or not):
 * waits for the next job, whose args it copies.  False when the worker is
 * to exit instead: it was not pooled, its idle time is up, or it was
 * retired or is of an older generation.
 */
bool
elt_pool_next_job(void *args, Size args_len)
{
	PoolSlot   *slot;
	TimestampTz deadline;

	if (my_slot < 0 || !my_pooled)
		return false;
	slot = &pool->slots[my_slot];

	pgstat_report_appname("pg_elt idle worker");
	pgstat_report_activity(STATE_IDLE, NULL);
	set_ps_display("idle");
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   elt_worker_idle_timeout_s * 1000L);
	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		bool		assigned;

		if (left > 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left,
							 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		QueryCancelPending = false; /* a cancel of the job before: not ours now */
		CHECK_FOR_INTERRUPTS();		/* SIGTERM */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(pool->lock, LW_EXCLUSIVE);
		assigned = slot->state == SLOT_BUSY;
		if (assigned)
			memcpy(args, slot->args, args_len);
		else if (slot->state == SLOT_RETIRED || !pooling() ||
				 slot->generation != pg_atomic_read_u64(&pool->generation) ||
				 GetCurrentTimestamp() >= deadline)
			slot->state = SLOT_RETIRED;
		LWLockRelease(pool->lock);
		if (assigned)
		{
			pool_check_role();
			set_ps_display("");
			return true;
		}
		if (slot->state == SLOT_RETIRED)
			return false;
	}
}
