/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: the one long-lived pg_elt worker, connected to no
 *	  database, that starts a database's scheduler (scheduler.c) when work
 *	  for one is requested there (runtime.c keeps the requests).
 *
 *	  A database gets a scheduler only while it has something to schedule.
 *	  After the launcher (re)starts, it also looks into every database
 *	  once, one at a time (a "probe"), so that crashed runs are marked and
 *	  schedules resume after a restart without anyone asking.  A scheduler
 *	  that keeps leaving without serving the requests it was started for is
 *	  started again less and less often.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "launcher.h"
#include "runtime.h"

#define LAUNCHER_NAP_MS			10000
#define LAUNCHER_PROBE_NAP_MS	50		/* while looking or about to start one */
#define LAUNCHER_RESTART_MS		200		/* between two starts for a database */
#define LAUNCHER_MAX_BACKOFF_MS	60000	/* ... doubling for one that keeps failing */
#define LAUNCHER_STEADY_MS		10000	/* a scheduler that lived this long is fine */

/* A database that accepts connections. */
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
	uint32		requested_at_start; /* the entry's requests when it started */
	uint32		generation;		/* and the entry's generation */
	bool		probe;			/* started to look, not because work was requested */
} LauncherChild;

/* What the launcher remembers between rounds (in TopMemoryContext). */
typedef struct Launcher
{
	List	   *children;		/* LauncherChild *, one per database seen */
	List	   *probed;			/* databases looked at since the launcher started */
	bool		probing;		/* a probe is under way */
	bool		soon;			/* a start is due shortly: nap briefly */
} Launcher;

void
elt_launcher_register(void)
{
	BackgroundWorker worker;

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

static List *
launcher_database_oids(List *databases)
{
	List	   *oids = NIL;
	ListCell   *lc;

	foreach(lc, databases)
		oids = lappend_oid(oids, ((LauncherDb *) lfirst(lc))->database);
	return oids;
}

static bool
launcher_child_alive(LauncherChild *child)
{
	pid_t		pid;

	return child->handle != NULL &&
		GetBackgroundWorkerPid(child->handle, &pid) != BGWH_STOPPED;
}

static LauncherChild *
launcher_child_of(Launcher *l, Oid database)
{
	ListCell   *lc;

	foreach(lc, l->children)
		if (((LauncherChild *) lfirst(lc))->database == database)
			return lfirst(lc);
	return NULL;
}

/*
 * A probe is done when its scheduler has left, or has marked crashed runs
 * and stays because the database has work.
 */
static void
launcher_end_probes(Launcher *l)
{
	ListCell   *lc;

	l->probing = false;
	foreach(lc, l->children)
	{
		LauncherChild *child = lfirst(lc);
		DatabaseEntry entry;
		bool		looked;

		if (!child->probe)
			continue;
		looked = elt_database_entry(child->database, &entry) &&
			entry.scheduler_pid != 0 && entry.recovered;
		if (looked || !launcher_child_alive(child))
			child->probe = false;
		else
			l->probing = true;
	}
}

static List *
launcher_remember(List *children, LauncherChild *child)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	children = lappend(children, child);
	MemoryContextSwitchTo(old);
	return children;
}

/* Starts the database's scheduler as child; false when no worker is free. */
static bool
launcher_start_scheduler(LauncherChild *child, LauncherDb *db)
{
	char	   *name = psprintf("pg_elt scheduler for database %s", db->name);
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	bool		started;

	if (child->handle)
		pfree(child->handle);
	child->handle = NULL;
	started = elt_start_worker("elt_scheduler_main", "pg_elt scheduler", name,
							   &db->database, sizeof(Oid), (Datum) 0, &child->handle);
	MemoryContextSwitchTo(old);
	if (!started)
	{
		child->handle = NULL;
		ereport(LOG,
				(errmsg("pg_elt launcher could not start a scheduler for database \"%s\": no free background worker slot",
						db->name),
				 errhint("Raise max_worker_processes (a restart is needed); it is tried again.")));
	}
	return started;
}

/*
 * Starts a scheduler in db if work was requested there and none runs, or
 * to probe it once; unless the last one started a moment ago and left
 * without serving the requests it was started for.
 */
static void
launcher_serve(Launcher *l, LauncherDb *db, TimestampTz now)
{
	LauncherChild *child = launcher_child_of(l, db->database);
	DatabaseEntry entry;
	bool		requested;
	bool		probe;
	bool		failed;

	if (!elt_database_entry(db->database, &entry))
		memset(&entry, 0, sizeof(entry));
	requested = entry.database != InvalidOid && entry.requested != entry.served &&
		entry.dropping == 0 && entry.scheduler_pid == 0;
	if (child && launcher_child_alive(child))
	{
		l->soon |= requested;	/* a scheduler on its way out: start the next soon */
		return;
	}
	probe = !requested && !l->probing && !list_member_oid(l->probed, db->database);
	if (!requested && !probe)
		return;
	failed = child && child->generation == entry.generation &&
		(int32) (entry.served - child->requested_at_start) < 0;
	if (failed &&
		now < TimestampTzPlusMilliseconds(child->started_at,
										  Min(LAUNCHER_RESTART_MS << Min(child->restarts, 10),
											  LAUNCHER_MAX_BACKOFF_MS)))
	{
		l->soon = true;			/* started a moment ago: not in a tight loop */
		return;
	}
	if (child == NULL)
	{
		child = MemoryContextAllocZero(TopMemoryContext, sizeof(LauncherChild));
		child->database = db->database;
		l->children = launcher_remember(l->children, child);
	}
	/* one that keeps failing is tried less and less often */
	if (failed && now < TimestampTzPlusMilliseconds(child->started_at, LAUNCHER_STEADY_MS))
		child->restarts++;
	else
		child->restarts = 0;
	child->requested_at_start = entry.requested;
	child->generation = entry.generation;
	child->started_at = now;
	child->probe = probe;
	if (launcher_start_scheduler(child, db) && probe)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		l->probed = lappend_oid(l->probed, db->database);
		MemoryContextSwitchTo(old);
		l->probing = true;
	}
}

/* Forgets what belongs to dropped databases. */
static void
launcher_forget_dropped(Launcher *l, List *existing)
{
	ListCell   *lc;

	foreach(lc, l->children)
	{
		LauncherChild *child = lfirst(lc);

		if (!list_member_oid(existing, child->database) && !launcher_child_alive(child))
		{
			l->probed = list_delete_oid(l->probed, child->database);
			if (child->handle)
				pfree(child->handle);
			l->children = foreach_delete_current(l->children, lc);
			pfree(child);
		}
	}
}

/*
 * Each round: free unneeded database entries, then start a scheduler
 * where work was requested, and probe every database once, one at a time
 * so that a server with many databases does not fill max_worker_processes.
 */
void
elt_launcher_main(Datum main_arg)
{
	Launcher	l = {NIL, NIL, false, false};
	MemoryContext round_cxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	elt_launcher_attach();
	ereport(LOG, (errmsg("pg_elt launcher started")));

	round_cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt launcher", ALLOCSET_DEFAULT_SIZES);
	while (!ShutdownRequestPending)
	{
		List	   *databases;
		List	   *existing;
		ListCell   *lc;
		TimestampTz now = GetCurrentTimestamp();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(round_cxt);
		databases = launcher_databases();
		existing = launcher_database_oids(databases);
		elt_free_database_entries(existing);
		launcher_end_probes(&l);
		l.soon = false;
		if (elt_database_overflowed())
		{
			/* a request found no free entry: look into every database again */
			list_free(l.probed);
			l.probed = NIL;
		}
		foreach(lc, databases)
			launcher_serve(&l, lfirst(lc), now);
		launcher_forget_dropped(&l, existing);
		MemoryContextReset(round_cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (l.probing || l.soon) ? LAUNCHER_PROBE_NAP_MS : LAUNCHER_NAP_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}
