/*-------------------------------------------------------------------------
 *
 * tag_limits.c
 *	  The slots of concurrency limits by tag (elt.concurrency_limits), in
 *	  pg_elt's shared memory.
 *
 *	  A task attempt whose tags are limited holds one slot of each limit
 *	  while it runs.  The slots live where only pg_elt's own workers reach
 *	  them, under an LWLock: a user can neither take one (advisory locks,
 *	  which 0.2 used, can be taken by any role) nor release one (a task's
 *	  SQL could call pg_advisory_unlock_all() in the coordinator).  A slot
 *	  names the process that holds it, and that process gives back what it
 *	  holds when it exits, whatever the reason; a crash resets shared
 *	  memory with everything else.  Limits count per database.
 *
 *	  The table has room for every worker process holding several slots;
 *	  it is sized from max_worker_processes when the server starts.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_elt.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#define TAG_SLOTS_PER_WORKER	8
#define TAG_KEY_LEN				64

typedef struct TagSlot
{
	pid_t		holder;			/* 0 = free */
	Oid			database;
	uint32		tag_hash;
	char		tag[TAG_KEY_LEN];	/* the tag, cut to fit; with the hash, its key */
} TagSlot;

typedef struct TagSlots
{
	LWLock	   *lock;
	int			nslots;
	TagSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} TagSlots;

static TagSlots *tag_slots = NULL;
static bool exit_callback_registered = false;

static int
tag_slots_count(void)
{
	return (max_worker_processes + 1) * TAG_SLOTS_PER_WORKER;
}

Size
elt_tag_limits_shmem_size(void)
{
	return add_size(offsetof(TagSlots, slots), mul_size(sizeof(TagSlot), tag_slots_count()));
}

void
elt_tag_limits_shmem_request(void)
{
	RequestAddinShmemSpace(elt_tag_limits_shmem_size());
	RequestNamedLWLockTranche("pg_elt tag limits", 1);
}

/* With AddinShmemInitLock held, from the shmem startup hook. */
void
elt_tag_limits_shmem_init(void)
{
	bool		found;

	tag_slots = ShmemInitStruct("pg_elt tag limits", elt_tag_limits_shmem_size(), &found);
	if (!found)
	{
		memset(tag_slots, 0, elt_tag_limits_shmem_size());
		tag_slots->nslots = tag_slots_count();
	}
	tag_slots->lock = &(GetNamedLWLockTranche("pg_elt tag limits"))->lock;
}

static bool
tag_slot_matches(const TagSlot *slot, uint32 hash, const char *tag)
{
	return slot->holder != 0 && slot->database == MyDatabaseId && slot->tag_hash == hash &&
		strncmp(slot->tag, tag, TAG_KEY_LEN - 1) == 0;
}

/* Gives back the slots this process holds, as it exits. */
static void
tag_slots_release_all(int code, Datum arg)
{
	if (tag_slots == NULL)
		return;
	LWLockAcquire(tag_slots->lock, LW_EXCLUSIVE);
	for (int i = 0; i < tag_slots->nslots; i++)
		if (tag_slots->slots[i].holder == MyProcPid)
			tag_slots->slots[i].holder = 0;
	LWLockRelease(tag_slots->lock);
}

/*
 * Takes one slot of each limit (TagLimit *) for this process, or none.
 * Returns the limit that has no free slot, or NULL when all were taken;
 * *held gets the slots to give back with elt_tag_slots_release.
 */
TagLimit *
elt_tag_slots_take(List *limits, List **held)
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
	if (tag_slots == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("concurrency limits need pg_elt in shared_preload_libraries"),
				 errdetail("Tag \"%s\" has a limit in elt.concurrency_limits.",
						   ((TagLimit *) linitial(limits))->tag),
				 errhint("Add pg_elt to shared_preload_libraries and restart the server, or delete the limit.")));
	if (!exit_callback_registered)
	{
		before_shmem_exit(tag_slots_release_all, (Datum) 0);
		exit_callback_registered = true;
	}

	LWLockAcquire(tag_slots->lock, LW_EXCLUSIVE);
	foreach(lc, limits)
	{
		TagLimit   *limit = lfirst(lc);
		uint32		hash = hash_bytes((const unsigned char *) limit->tag, strlen(limit->tag));
		int			in_use = 0;
		int			free_slot = -1;

		for (int i = 0; i < tag_slots->nslots; i++)
		{
			if (tag_slot_matches(&tag_slots->slots[i], hash, limit->tag))
				in_use++;
			else if (tag_slots->slots[i].holder == 0 && free_slot < 0)
				free_slot = i;
		}
		if (in_use >= limit->max_running || free_slot < 0)
		{
			full = limit;
			break;
		}
		tag_slots->slots[free_slot].holder = MyProcPid;
		tag_slots->slots[free_slot].database = MyDatabaseId;
		tag_slots->slots[free_slot].tag_hash = hash;
		strlcpy(tag_slots->slots[free_slot].tag, limit->tag, TAG_KEY_LEN);
		taken[ntaken++] = free_slot;
	}
	if (full)
		while (ntaken > 0)
			tag_slots->slots[taken[--ntaken]].holder = 0;
	LWLockRelease(tag_slots->lock);
	for (int i = 0; i < ntaken; i++)
		*held = lappend_int(*held, taken[i]);
	return full;
}

void
elt_tag_slots_release(List *held)
{
	ListCell   *lc;

	if (held == NIL || tag_slots == NULL)
		return;
	LWLockAcquire(tag_slots->lock, LW_EXCLUSIVE);
	foreach(lc, held)
		if (tag_slots->slots[lfirst_int(lc)].holder == MyProcPid)
			tag_slots->slots[lfirst_int(lc)].holder = 0;
	LWLockRelease(tag_slots->lock);
}
