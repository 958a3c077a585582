/*-------------------------------------------------------------------------
 *
 * tag_limits.c
 *	  Concurrency limits by tag (elt.concurrency_limits): their permits, in
 *	  pg_elt's shared memory, and how a task attempt acquires them.
 *
 *	  A task attempt whose tags are limited holds one permit of each limit
 *	  while it runs (max_running permits per limit).  The permits live where only pg_elt's own workers reach
 *	  them, under an LWLock: a user can neither take one (advisory locks,
 *	  which 0.2 used, can be taken by any role) nor release one (a task's
 *	  SQL could call pg_advisory_unlock_all() in the coordinator).  A permit
 *	  names the process that holds it, and that process gives back what it
 *	  holds when it exits, whatever the reason; a crash resets shared
 *	  memory with everything else.  Limits count per database.
 *
 *	  The table has room for every worker process holding several permits;
 *	  it is sized from max_worker_processes when the server starts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "catalog/pg_type.h"

#include "catalog.h"
#include "runtime.h"
#include "tag_limits.h"

#define TAG_PERMITS_PER_WORKER	8
#define TAG_KEY_LEN				64

typedef struct TagPermit
{
	pid_t		holder;			/* 0 = free */
	Oid			database;
	uint32		tag_hash;
	char		tag[TAG_KEY_LEN];	/* the tag, cut to fit; with the hash, its key */
} TagPermit;

typedef struct TagPermits
{
	LWLock	   *lock;
	int			npermits;
	TagPermit		permits[FLEXIBLE_ARRAY_MEMBER];
} TagPermits;

static TagPermits *tag_permits = NULL;
static bool exit_callback_registered = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static int
tag_permits_count(void)
{
	return (max_worker_processes + 1) * TAG_PERMITS_PER_WORKER;
}

static Size
tag_limits_shmem_size(void)
{
	return add_size(offsetof(TagPermits, permits), mul_size(sizeof(TagPermit), tag_permits_count()));
}

static void
tag_limits_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(tag_limits_shmem_size());
	RequestNamedLWLockTranche("pg_elt tag limits", 1);
}

static void
tag_limits_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	tag_permits = ShmemInitStruct("pg_elt tag limits", tag_limits_shmem_size(), &found);
	if (!found)
	{
		memset(tag_permits, 0, tag_limits_shmem_size());
		tag_permits->npermits = tag_permits_count();
	}
	tag_permits->lock = &(GetNamedLWLockTranche("pg_elt tag limits"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

/* From _PG_init under shared_preload_libraries. */
void
elt_tag_limits_preload(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = tag_limits_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = tag_limits_shmem_startup;
}

static bool
tag_permit_matches(const TagPermit *permit, uint32 hash, const char *tag)
{
	return permit->holder != 0 && permit->database == MyDatabaseId && permit->tag_hash == hash &&
		strncmp(permit->tag, tag, TAG_KEY_LEN - 1) == 0;
}

/*
 * Gives back the permits this process holds: as it exits, or as its job
 * ends (a pooled worker, whose next job holds none yet).
 */
void
elt_tag_permits_release_all(void)
{
	if (tag_permits == NULL)
		return;
	LWLockAcquire(tag_permits->lock, LW_EXCLUSIVE);
	for (int i = 0; i < tag_permits->npermits; i++)
		if (tag_permits->permits[i].holder == MyProcPid)
			tag_permits->permits[i].holder = 0;
	LWLockRelease(tag_permits->lock);
}

static void
tag_permits_release_at_exit(int code, Datum arg)
{
	elt_tag_permits_release_all();
}

/*
 * Takes one permit of each limit (TagLimit *) for this process, or none.
 * Returns the limit that has no free permit, or NULL when all were taken;
 * *held gets the permits to give back with elt_tag_permits_release.
 */
static TagLimit *
tag_permits_take(List *limits, List **held)
{
	ListCell   *lc;
	TagLimit   *full = NULL;
	int		   *taken;
	int			ntaken = 0;

	*held = NIL;
	if (limits == NIL)
		return NULL;
	/* nothing may fail while the lock is held: allocate first */
	taken = palloc(sizeof(int) * list_length(limits));
	if (tag_permits == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("concurrency limits need pg_elt in shared_preload_libraries"),
				 errdetail("Tag \"%s\" has a limit in elt.concurrency_limits.",
						   ((TagLimit *) linitial(limits))->tag),
				 errhint("Add pg_elt to shared_preload_libraries and restart the server, or delete the limit.")));
	if (!exit_callback_registered)
	{
		before_shmem_exit(tag_permits_release_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}

	LWLockAcquire(tag_permits->lock, LW_EXCLUSIVE);
	foreach(lc, limits)
	{
		TagLimit   *limit = lfirst(lc);
		uint32		hash = hash_bytes((const unsigned char *) limit->tag, strlen(limit->tag));
		int			in_use = 0;
		int			free_permit = -1;

		for (int i = 0; i < tag_permits->npermits; i++)
		{
			if (tag_permit_matches(&tag_permits->permits[i], hash, limit->tag))
				in_use++;
			else if (tag_permits->permits[i].holder == 0 && free_permit < 0)
				free_permit = i;
		}
		if (in_use >= limit->max_running || free_permit < 0)
		{
			full = limit;
			break;
		}
		tag_permits->permits[free_permit].holder = MyProcPid;
		tag_permits->permits[free_permit].database = MyDatabaseId;
		tag_permits->permits[free_permit].tag_hash = hash;
		strlcpy(tag_permits->permits[free_permit].tag, limit->tag, TAG_KEY_LEN);
		taken[ntaken++] = free_permit;
	}
	if (full)
		while (ntaken > 0)
			tag_permits->permits[taken[--ntaken]].holder = 0;
	LWLockRelease(tag_permits->lock);
	for (int i = 0; i < ntaken; i++)
		*held = lappend_int(*held, taken[i]);
	return full;
}

void
elt_tag_permits_release(List *held)
{
	ListCell   *lc;

	if (held == NIL || tag_permits == NULL)
		return;
	LWLockAcquire(tag_permits->lock, LW_EXCLUSIVE);
	foreach(lc, held)
		if (tag_permits->permits[lfirst_int(lc)].holder == MyProcPid)
			tag_permits->permits[lfirst_int(lc)].holder = 0;
	LWLockRelease(tag_permits->lock);
}

/*
 * Takes a permit of every limit on tags (a List of names), read from
 * elt.concurrency_limits in a transaction of its own, or none: then it
 * returns the limit that has none free.  *held is for
 * elt_tag_permits_release.
 */
TagLimit *
elt_tag_limits_acquire(List *tags, List **held, MemoryContext cxt)
{
	Datum	   *names = palloc(sizeof(Datum) * Max(list_length(tags), 1));
	int			n = 0;
	ListCell   *lc;
	List	   *limits = NIL;
	MemoryContext old;
	TagLimit   *full;

	*held = NIL;
	if (tags == NIL)
		return NULL;
	foreach(lc, tags)
		names[n++] = CStringGetTextDatum(lfirst(lc));
	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	elt_catalog_tag_limits(PointerGetDatum(construct_array(names, n, TEXTOID, -1, false,
														   TYPALIGN_INT)),
						   &limits, cxt);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	old = MemoryContextSwitchTo(cxt);
	full = tag_permits_take(limits, held);
	MemoryContextSwitchTo(old);
	return full;
}
