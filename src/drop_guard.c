/*-------------------------------------------------------------------------
 *
 * drop_guard.c
 *	  DROP EXTENSION pg_elt and DROP DATABASE while runs are going, made
 *	  clean.
 *
 *	  DROP DATABASE waits (5 s, then fails) for the database's other
 *	  connections to end; its scheduler is one, and would keep it waiting
 *	  for ever if it had schedules.  So a ProcessUtility hook (installed
 *	  when pg_elt is preloaded) makes the scheduler stand down first, until
 *	  the transaction ends (it may start again if the drop fails).
 *
 *	  Left alone, the drop either deadlocks with the scheduler (which holds
 *	  a lock on one elt table while it waits for another the drop has
 *	  taken) or succeeds under running workers, which then fail writing
 *	  history into tables that are gone.  So an event trigger, at the start
 *	  of a DROP EXTENSION that names pg_elt and before it takes any lock,
 *	  makes the database's scheduler stand down (a flag in shared memory
 *	  that the launcher also respects), ends the database's run and task
 *	  workers (their work rolls back, as a cancel's would; their history
 *	  goes with the extension), and waits, up to pg_elt.cancel_wait, until
 *	  they are gone.  When the transaction ends, committed or rolled back,
 *	  the flag is cleared: a rolled-back drop leaves schedules running.
 *	  Only the extension's owner gets this far; anyone else's DROP would
 *	  fail, and must not stop anything on its way.
 *
 *	  The same hook tells the pool (worker_pool.c) about any statement that
 *	  changes what a new session would get: a role's or a database's
 *	  attributes and settings, their drops, renames and grants, and
 *	  pg_elt's own CREATE, ALTER and DROP EXTENSION.  Its idle workers leave
 *	  at once (DROP DATABASE would wait for them), and, once the statement
 *	  commits, no worker connected before takes another job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "utils/acl.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

#include "drop_guard.h"
#include "guc.h"
#include "runtime.h"
#include "worker_pool.h"

PG_FUNCTION_INFO_V1(elt_before_drop);

#define DROP_POLL_MS	50
#define DROP_DATABASE_WAIT_MS	5000

static ProcessUtility_hook_type prev_process_utility_hook = NULL;

static bool drop_names_pg_elt(Node *parsetree);

/* Would a session started after the statement differ from one started before? */
static bool
changes_new_sessions(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterRoleStmt:
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
		case T_AlterDatabaseStmt:
		case T_AlterDatabaseSetStmt:
		case T_AlterDatabaseRefreshCollStmt:
		case T_DropdbStmt:
			return true;
		case T_CreateExtensionStmt:
			return strcmp(((CreateExtensionStmt *) parsetree)->extname, "pg_elt") == 0;
		case T_AlterExtensionStmt:
			return strcmp(((AlterExtensionStmt *) parsetree)->extname, "pg_elt") == 0;
		case T_AlterExtensionContentsStmt:
			return strcmp(((AlterExtensionContentsStmt *) parsetree)->extname, "pg_elt") == 0;
		case T_RenameStmt:
			return ((RenameStmt *) parsetree)->renameType == OBJECT_ROLE ||
				((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE;
		case T_GrantStmt:
			return ((GrantStmt *) parsetree)->objtype == OBJECT_DATABASE;
		case T_DropStmt:
			return drop_names_pg_elt(parsetree);
		default:
			return false;
	}
}

static void
drop_database_guard(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			database = InvalidOid;
	bool		retire = changes_new_sessions(parsetree);

	if (retire)
	{
		elt_pool_retire_idle(InvalidOid);
		elt_pool_invalidate_at_commit();
	}

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

/* From _PG_init under shared_preload_libraries. */
void
elt_drop_guard_preload(void)
{
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = drop_database_guard;
}

/* Does this DROP EXTENSION name pg_elt? */
static bool
drop_names_pg_elt(Node *parsetree)
{
	DropStmt   *stmt = (DropStmt *) parsetree;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt) || stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "pg_elt") == 0)
			return true;
	return false;
}

/* The pids of pg_elt's run and task workers in this database. */
static List *
drop_run_workers(void)
{
	List	   *pids = NIL;
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(MyDatabaseId)};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT pid FROM pg_catalog.pg_stat_activity"
							  " WHERE datid OPERATOR(pg_catalog.=) $1"
							  "   AND backend_type OPERATOR(pg_catalog.=) ANY ('{pg_elt flow run,pg_elt task}')",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list pg_elt's workers");
	for (uint64 i = 0; i < SPI_processed; i++)
		pids = lappend_int(pids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc, 1,
															  &(bool) {false})));
	SPI_finish();
	return pids;
}

static bool
drop_workers_gone(List *pids)
{
	ListCell   *lc;

	foreach(lc, pids)
		if (BackendPidGetProc(lfirst_int(lc)) != NULL)
			return false;
	return true;
}

/*
 * elt._before_drop(): the event trigger on ddl_command_start for DROP
 * EXTENSION, which fires before the drop checks who may drop: so it acts
 * only for the extension's owner.
 */
Datum
elt_before_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	List	   *workers;
	ListCell   *lc;
	TimestampTz deadline;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "elt._before_drop() is an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	/* only for the extension's owner: anyone else's DROP fails anyway */
	if (!drop_names_pg_elt(trigdata->parsetree) ||
		!OidIsValid(get_extension_oid("pg_elt", true)) ||
		!pg_extension_ownercheck(get_extension_oid("pg_elt", true), GetUserId()))
		PG_RETURN_VOID();

	if (!elt_scheduler_stand_down(MyDatabaseId, 0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("another session is dropping pg_elt in database \"%s\"",
						get_database_name(MyDatabaseId))));

	workers = drop_run_workers();
	foreach(lc, workers)
		(void) kill(lfirst_int(lc), SIGTERM);
	if (workers != NIL)
		ereport(NOTICE,
				(errmsg("pg_elt: ending %d run worker(s) in database \"%s\"; their work rolls back",
						list_length(workers), get_database_name(MyDatabaseId))));

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   Max(elt_cancel_wait_s, 1) * 1000L);
	while (!drop_workers_gone(workers) || elt_scheduler_running(MyDatabaseId))
	{
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("pg_elt's workers in database \"%s\" did not stop within pg_elt.cancel_wait",
							get_database_name(MyDatabaseId)),
					 errhint("A worker may be waiting for a lock this transaction holds; drop the extension in a transaction of its own.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 DROP_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_VOID();
}
