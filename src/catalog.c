/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading flow definitions and writing run history and the task cache
 *	  (elt.flows, elt.tasks, elt.flow_runs, elt.task_runs, elt.logs,
 *	  elt.task_cache) through SPI.
 *
 *	  Run history is pg_elt's record, not the user's: it is written as the
 *	  extension's owner (as pg_cron does), so a flow owner can read the
 *	  history of their runs but cannot forge it; so is the cache, which a
 *	  forged entry would turn into "skip this task".  The callers run each
 *	  history write in a transaction of its own, apart from the task's work,
 *	  so that the history of a failed attempt survives the attempt's
 *	  rollback; a cache entry is written in the work's own transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "jsonb_util.h"
#include "object_store.h"
#include "templates.h"

PG_FUNCTION_INFO_V1(elt_flow_owner_sql);

static Oid	catalog_extension_owner(void);

#define CATALOG_MAX_ARGS 16

/*
 * Runs the enclosed SPI work as the extension owner, the way a SECURITY
 * DEFINER function with a fixed search_path would: the caller's
 * search_path (which a task may have set) must not decide which
 * functions and operators run with the owner's rights.
 */
typedef struct CatalogScope
{
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
	MemoryContext caller_cxt;	/* for results that outlive SPI */
} CatalogScope;

static void
catalog_enter(CatalogScope *scope)
{
	scope->caller_cxt = CurrentMemoryContext;
	GetUserIdAndSecContext(&scope->saved_user, &scope->saved_sec);
	scope->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* the catalog's statements are index probes: one kept plan each */
	(void) set_config_option("plan_cache_mode", "force_generic_plan", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(catalog_extension_owner(),
						   scope->saved_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
catalog_leave(CatalogScope *scope)
{
	SPI_finish();
	AtEOXact_GUC(true, scope->guc_level);
	SetUserIdAndSecContext(scope->saved_user, scope->saved_sec);
}

/*
 * The catalog's statements are planned once per session and kept: a run's
 * bookkeeping is the same few dozen statements, and parsing and planning
 * them at every call was most of what a short task cost.  A statement is
 * found by the address of its text, so catalog_exec takes string literals
 * only (the macro refuses anything else when compiling).  The plan cache
 * makes a kept plan again when what it reads changes (DROP and CREATE
 * EXTENSION included) or when the role or search_path differs; an error
 * while planning leaves an entry without a plan, to be made next time.
 * Plans are never freed: a nested call may be running one.
 */
typedef struct CatalogPlan
{
	const char *sql;			/* key: a string literal's address */
	int			nargs;
	Oid			types[CATALOG_MAX_ARGS];
	SPIPlanPtr	plan;
} CatalogPlan;

static HTAB *catalog_plans = NULL;

static SPIPlanPtr
catalog_plan(const char *sql, int nargs, Oid *types)
{
	CatalogPlan *entry;
	bool		found;
	SPIPlanPtr	plan;

	if (nargs > CATALOG_MAX_ARGS)
		return NULL;
	if (catalog_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(const char *);
		ctl.entrysize = sizeof(CatalogPlan);
		catalog_plans = hash_create("pg_elt catalog plans", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(catalog_plans, &sql, HASH_ENTER, &found);
	if (!found)
		entry->plan = NULL;
	if (entry->plan != NULL)
		return (entry->nargs == nargs &&
				memcmp(entry->types, types, sizeof(Oid) * nargs) == 0) ? entry->plan : NULL;
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "pg_elt catalog query could not be planned (%d): %s", SPI_result, sql);
	entry->nargs = nargs;
	memcpy(entry->types, types, sizeof(Oid) * nargs);
	entry->plan = plan;
	return plan;
}

static void
catalog_exec_literal(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
					 int expected)
{
	SPIPlanPtr	plan = catalog_plan(sql, nargs, types);
	int			rc;

	if (plan)
		rc = SPI_execute_plan(plan, values, nulls, false, 0);
	else						/* the same text with other types: not kept */
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "pg_elt catalog query failed (%d): %s", rc, sql);
}

#define catalog_exec(sql, ...) catalog_exec_literal("" sql, __VA_ARGS__)

/*
 * Tells listeners on channel pg_elt about a state change, with a small
 * JSON payload; delivered when the change commits.
 */
static void
catalog_notify(int64 run_id, const char *task, const char *state)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = "   ";

	values[0] = Int64GetDatum(run_id);
	values[1] = task ? CStringGetTextDatum(task) : (Datum) 0;
	nulls[1] = task ? ' ' : 'n';
	values[2] = CStringGetTextDatum(state);
	catalog_exec("SELECT elt._notify($1, $2, $3)", 3, types, values, nulls, SPI_OK_SELECT);
}

/*
 * The extension's owner in this database.  Looked up afresh each time
 * (it is one index probe): a cached value would outlive a DROP and CREATE
 * EXTENSION by another role.  Also the one place that notices a catalog
 * older than this library, so that the error says how to fix it instead
 * of failing on a missing column.
 */
static Oid
catalog_extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;
	char	   *version = NULL;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pg_elt"));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
		version = isnull ? NULL : TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"pg_elt\" is not installed in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("Run CREATE EXTENSION pg_elt.")));
	if (version == NULL || strcmp(version, PG_ELT_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_elt's catalog in database \"%s\" is version %s, but the library is version %s",
						get_database_name(MyDatabaseId), version ? version : "?", PG_ELT_VERSION),
				 errhint("Run ALTER EXTENSION pg_elt UPDATE in that database.")));
	return owner;
}

/*
 * Access to pg_elt is opt-in, as with pg_cron: a role may use it when it
 * has USAGE on schema elt (GRANT USAGE ON SCHEMA elt TO role).  The API
 * functions live in the extension's schema, where EXECUTE is PUBLIC's by
 * PostgreSQL's default, so each checks this first.
 */
void
elt_require_usage(const char *function)
{
	Oid			nsp = get_namespace_oid(PG_ELT_SCHEMA, true);

	if (!OidIsValid(nsp) ||
		pg_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", function),
				 errdetail("Role \"%s\" has no USAGE on schema elt, which pg_elt's functions require.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("An administrator lets a role use pg_elt with GRANT USAGE ON SCHEMA elt TO that role.")));
}

/*
 * The owner of the flow called name that role who means: its own flow of
 * that name, else the one flow of that name among the roles it is a
 * member of; NULL when there is none it may see.  A superuser also finds
 * flows whose owner role is gone, to mend them.  Several candidates are
 * an error that asks the caller to SET ROLE.  The one rule for naming a
 * flow: flow_run, flow_submit, flow_plan, the scheduler's workers, and
 * tasks written without their owner (elt._flow_owner) all use it.
 */
static char *
catalog_flow_owner(const char *name, Oid who)
{
	char	   *who_name = GetUserNameFromId(who, true);
	MemoryContext caller = CurrentMemoryContext;
	StringInfoData candidates;
	char	   *found = NULL;
	int			nfound = 0;

	initStringInfo(&candidates);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_exec("SELECT f.owner::text, r.oid FROM elt.flows f"
				 "  LEFT JOIN pg_catalog.pg_roles r ON r.rolname = f.owner"
				 " WHERE f.name = $1 ORDER BY 1",
				 1, (Oid[1]) {TEXTOID}, (Datum[1]) {CStringGetTextDatum(name)},
				 NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *owner = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		bool		isnull;
		Datum		role = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

		if (isnull ? !superuser_arg(who) : !is_member_of_role(who, DatumGetObjectId(role)))
			continue;
		if (who_name && strcmp(owner, who_name) == 0)
		{
			found = owner;		/* the caller's own comes first */
			nfound = 1;
			break;
		}
		appendStringInfo(&candidates, "%s%s", nfound ? ", " : "", owner);
		found = owner;
		nfound++;
	}
	if (nfound > 1)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_FUNCTION),
				 errmsg("flow name \"%s\" is ambiguous", name),
				 errdetail("Roles %s each own a flow of that name, and role %s is a member of all of them.",
						   candidates.data, who_name ? who_name : "?"),
				 errhint("SET ROLE to the flow's owner first: a role's own flow is found before others'.")));
	found = found ? MemoryContextStrdup(caller, found) : NULL;
	SPI_finish();
	return found;
}

/* elt._flow_owner(flow text, who oid) RETURNS name */
Datum
elt_flow_owner_sql(PG_FUNCTION_ARGS)
{
	char	   *owner = catalog_flow_owner(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_OID(1));

	if (owner == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(owner)));
}

static char *
catalog_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v;
}

static Jsonb *
catalog_jsonb(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

static double
catalog_float(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetFloat8(d);
}

/* A text[] column as a List of C strings. */
static List *
catalog_text_array(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (isnull)
		return NIL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
}

static bool
catalog_xmin_is_ours(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *xmin = SPI_getvalue(tup, desc, col);

	return TransactionIdIsCurrentTransactionId((TransactionId) strtoul(xmin, NULL, 10));
}

/*
 * The flow called name that role who means (its own, else the one of that
 * name among the roles it is a member of: elt._flow_owner), with its
 * tasks (for_task set: only that task, or the mapped task it is an
 * instance of, and the tasks it depends on, near or far: what a helper
 * needs of a flow of hundreds), allocated in cxt; NULL when who may see
 * none.  Read as the
 * extension owner.  Also says whether the current transaction has
 * changed the definition: a background worker would not see those
 * changes.
 */
FlowDef *
elt_catalog_load_flow(const char *name, Oid who, const char *for_task, MemoryContext cxt)
{
	CatalogScope scope;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(name)};
	FlowDef    *flow;
	MemoryContext old;
	TupleDesc	desc;
	HeapTuple	tup;
	bool		isnull;
	Datum		owner;
	char	   *owner_name;

	catalog_enter(&scope);
	owner_name = catalog_flow_owner(name, who);
	if (owner_name == NULL)
	{
		catalog_leave(&scope);
		return NULL;
	}
	values[1] = CStringGetTextDatum(owner_name);
	catalog_exec("SELECT f.name, r.oid, r.rolcanlogin, f.params, f.xmin, f.owner,"
				 "       (extract(epoch FROM f.timeout) * 1000)::float8"
				 "  FROM elt.flows f LEFT JOIN pg_catalog.pg_roles r ON r.rolname = f.owner"
				 " WHERE f.name = $1 AND f.owner = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		catalog_leave(&scope);
		return NULL;
	}

	old = MemoryContextSwitchTo(cxt);
	desc = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	flow = palloc0(sizeof(FlowDef));
	flow->name = catalog_text(tup, desc, 1);
	owner = SPI_getbinval(tup, desc, 2, &isnull);
	flow->owner = isnull ? InvalidOid : DatumGetObjectId(owner);
	flow->owner_can_login = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) && !isnull;
	flow->params = catalog_jsonb(tup, desc, 4);
	flow->uncommitted = catalog_xmin_is_ours(tup, desc, 5);
	flow->owner_name = catalog_text(tup, desc, 6);
	flow->timeout_ms = (int64) catalog_float(tup, desc, 7);
	MemoryContextSwitchTo(old);

	values[2] = for_task ? CStringGetTextDatum(for_task) : (Datum) 0;
	catalog_exec("WITH RECURSIVE needed (name) AS ("
				 "    SELECT t.name FROM elt.tasks t"
				 "     WHERE t.flow = $1 AND t.owner = $2"
				 "       AND (t.name = $3 OR (t.for_each IS NOT NULL AND starts_with($3, t.name || '[')))"
				 "    UNION"
				 "    SELECT d.name FROM needed n"
				 "      JOIN elt.tasks t ON t.flow = $1 AND t.owner = $2 AND t.name = n.name,"
				 "           unnest(t.depends_on) AS d (name))"
				 "SELECT name, kind, config, sql, depends_on, retries,"
				 "       extract(epoch FROM retry_delay)::float8, retry_backoff,"
				 "       (extract(epoch FROM timeout) * 1000)::float8, xmin, tags, for_each,"
				 "       cache_expiration::text, cache_key"
				 "  FROM elt.tasks WHERE flow = $1 AND owner = $2"
				 "   AND ($3 IS NULL OR name IN (SELECT name FROM needed))"
				 " ORDER BY name",
				 3, types, values, for_task ? NULL : "  n", SPI_OK_SELECT);
	old = MemoryContextSwitchTo(cxt);
	desc = SPI_tuptable->tupdesc;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		TaskDef    *task = palloc0(sizeof(TaskDef));

		tup = SPI_tuptable->vals[i];
		task->name = catalog_text(tup, desc, 1);
		task->kind = catalog_text(tup, desc, 2);
		task->config = catalog_jsonb(tup, desc, 3);
		task->sql = catalog_text(tup, desc, 4);
		task->depends_on = catalog_text_array(tup, desc, 5);
		task->retries = DatumGetInt32(SPI_getbinval(tup, desc, 6, &(bool) {false}));
		task->retry_delay_s = catalog_float(tup, desc, 7);
		task->retry_backoff = catalog_float(tup, desc, 8);
		task->timeout_ms = (int64) catalog_float(tup, desc, 9);
		flow->uncommitted |= catalog_xmin_is_ours(tup, desc, 10);
		task->tags = catalog_text_array(tup, desc, 11);
		task->for_each = catalog_text(tup, desc, 12);
		task->cache_expiration = catalog_text(tup, desc, 13);
		task->cache_key = catalog_text(tup, desc, 14);
		flow->tasks = lappend(flow->tasks, task);
	}
	MemoryContextSwitchTo(old);
	catalog_leave(&scope);
	return flow;
}

/*
 * The flow a run executes: the run's owner's flow of that name (the
 * worker is connected as the owner).  A run executes the definition its
 * owner approved: if the flow is gone, or the name now finds another
 * role's flow (given away, or deleted and made again by a role the owner
 * is a member of), the run must not execute it with the owner's rights.
 */
FlowDef *
elt_catalog_load_run_flow(const char *flow_name, const char *for_task, MemoryContext cxt)
{
	FlowDef    *flow = elt_catalog_load_flow(flow_name, GetSessionUserId(), for_task, cxt);

	if (flow == NULL || flow->owner != GetSessionUserId())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("flow \"%s\" of role \"%s\" no longer exists", flow_name,
						GetUserNameFromId(GetSessionUserId(), false)),
				 flow ? errdetail("The name now finds the flow of role \"%s\", which this run must not execute.",
								  flow->owner_name) : 0,
				 errhint("Start a new run of the flow.")));
	return flow;
}

/*
 * The tasks in an order that puts every task after its dependencies,
 * ties broken by name.  Definitions are checked for cycles when written,
 * so a cycle here means a concurrent change; it fails the run.
 */
List *
elt_flow_order(FlowDef *flow)
{
	List	   *order = NIL;
	List	   *left = list_copy(flow->tasks);

	while (left != NIL)
	{
		ListCell   *lc;
		bool		progress = false;

		foreach(lc, left)
		{
			TaskDef    *task = lfirst(lc);
			ListCell   *dc;
			bool		ready = true;

			foreach(dc, task->depends_on)
			{
				ListCell   *oc;
				bool		placed = false;

				foreach(oc, order)
					if (strcmp(((TaskDef *) lfirst(oc))->name, lfirst(dc)) == 0)
						placed = true;
				ready &= placed;
			}
			if (ready)
			{
				order = lappend(order, task);
				left = foreach_delete_current(left, lc);
				progress = true;
			}
		}
		if (!progress)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("the tasks of flow \"%s\" have a dependency cycle or a missing dependency",
							flow->name)));
	}
	return order;
}

/*
 * Records a new run and returns its run_id: running in this worker
 * (flow_run), or pending until the scheduler starts it at run_at
 * (flow_submit; inserted in the caller's transaction).
 */
int64
elt_catalog_create_run(FlowDef *flow, Jsonb *params, const char *trigger,
					   TimestampTz run_at, bool running_here, const RunLink *link)
{
	CatalogScope scope;
	Oid			types[10] = {TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, BOOLOID, INT8OID,
	INT8OID, TEXTOID, BOOLOID};
	Datum		values[10];
	char		nulls[10] = "          ";
	int64		run_id;
	bool		isnull;

	values[0] = CStringGetTextDatum(flow->name);
	values[1] = CStringGetTextDatum(flow->owner_name);
	values[2] = JsonbPGetDatum(params);
	values[3] = TimestampTzGetDatum(run_at);
	values[4] = CStringGetTextDatum(trigger);
	values[5] = BoolGetDatum(running_here);
	values[6] = Int64GetDatum(link ? link->retry_of : 0);
	nulls[6] = link && link->retry_of != 0 ? ' ' : 'n';
	values[7] = Int64GetDatum(link ? link->parent_run : 0);
	values[8] = link && link->parent_run != 0 ? CStringGetTextDatum(link->parent_task) : (Datum) 0;
	nulls[7] = nulls[8] = link && link->parent_run != 0 ? ' ' : 'n';
	values[9] = BoolGetDatum(true);
	nulls[9] = link && link->refresh_cache ? ' ' : 'n';	/* else as its parent or retried run */
	catalog_enter(&scope);
	catalog_exec("SELECT elt._create_run($1, $2, $3, $4, $5, $6, 1, $7, NULL, $8, $9, $10)",
				 10, types, values, nulls, SPI_OK_SELECT);
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" of role \"%s\" no longer exists", flow->name, flow->owner_name),
				 errdetail("It was deleted, renamed or given to another role while the run was being made.")));
	catalog_leave(&scope);
	return run_id;
}

/*
 * The flow name and params (columns 1 and 2) of the run the last query
 * returned, in the caller's context; NULL when it returned none.
 */
static char *
catalog_run_flow_and_params(CatalogScope *scope, Jsonb **params)
{
	MemoryContext old;
	char	   *flow;

	if (SPI_processed != 1)
		return NULL;
	old = MemoryContextSwitchTo(scope->caller_cxt);
	flow = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*params = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
											   &(bool) {false}));
	MemoryContextSwitchTo(old);
	return flow;
}

/* The tasks of a starting run, pending. */
void
elt_catalog_add_task_rows(int64 run_id, FlowDef *flow)
{
	CatalogScope scope;
	ListCell   *lc;

	catalog_enter(&scope);
	foreach(lc, flow->tasks)
	{
		TaskDef    *task = lfirst(lc);
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		values[2] = {Int64GetDatum(run_id), CStringGetTextDatum(task->name)};

		catalog_exec("INSERT INTO elt.task_runs (run_id, task, attempt, state)"
					 " VALUES ($1, $2, 1, 'pending')",
					 2, types, values, NULL, SPI_OK_INSERT);
	}
	catalog_leave(&scope);
}

/*
 * Takes a queued run that the scheduler marked running: records this
 * worker, returns the flow's name and sets *params, or returns NULL when
 * the run is no longer ours to start (cancelled meanwhile).
 */
char *
elt_catalog_claim_queued_run(int64 run_id, Jsonb **params)
{
	CatalogScope scope;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int32GetDatum(MyProcPid)};
	char	   *flow = NULL;

	catalog_enter(&scope);
	catalog_exec("UPDATE elt.flow_runs SET worker_pid = $2, started_at = clock_timestamp()"
				 " WHERE run_id = $1 AND state = 'running' AND worker_pid IS NULL"
				 " RETURNING flow, params",
				 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	flow = catalog_run_flow_and_params(&scope, params);
	if (flow)
		catalog_notify(run_id, NULL, "running");
	catalog_leave(&scope);
	return flow;
}

void
elt_catalog_attempt_start(int64 run_id, const char *task, int attempt)
{
	CatalogScope scope;
	Oid			types[3] = {INT8OID, TEXTOID, INT4OID};
	Datum		values[3] = {Int64GetDatum(run_id), CStringGetTextDatum(task), Int32GetDatum(attempt)};

	catalog_enter(&scope);
	catalog_exec("INSERT INTO elt.task_runs (run_id, task, attempt, state, started_at)"
				 " VALUES ($1, $2, $3, 'running', clock_timestamp())"
				 " ON CONFLICT (run_id, task, attempt)"
				 " DO UPDATE SET state = 'running', started_at = clock_timestamp()",
				 3, types, values, NULL, SPI_OK_INSERT);
	catalog_notify(run_id, task, "running");
	catalog_leave(&scope);
}

static Datum
catalog_text_or_null(const char *s, char *null_flag)
{
	*null_flag = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* Ends an attempt (or, attempt 1 never started, a task that did not run). */
void
elt_catalog_attempt_end(int64 run_id, const char *task, int attempt,
						const AttemptOutcome *outcome)
{
	CatalogScope scope;
	Oid			types[12] = {INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID};
	Datum		values[12];
	char		nulls[12] = "            ";
	ErrorData  *e = outcome->error;

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(task);
	values[2] = Int32GetDatum(attempt);
	values[3] = CStringGetTextDatum(elt_state_name(outcome->state));
	values[4] = Int64GetDatum((int64) outcome->rows);
	values[5] = Int64GetDatum((int64) outcome->bytes);
	values[6] = catalog_text_or_null(e ? unpack_sql_state(e->sqlerrcode) : NULL, &nulls[6]);
	values[7] = catalog_text_or_null(outcome->message ? outcome->message : e ? e->message : NULL,
									 &nulls[7]);
	values[8] = catalog_text_or_null(e ? e->detail : NULL, &nulls[8]);
	values[9] = catalog_text_or_null(e ? e->hint : NULL, &nulls[9]);
	values[10] = outcome->inputs ? JsonbPGetDatum(outcome->inputs) : (Datum) 0;
	nulls[10] = outcome->inputs ? ' ' : 'n';
	values[11] = outcome->result ? JsonbPGetDatum(outcome->result) : (Datum) 0;
	nulls[11] = outcome->result ? ' ' : 'n';

	catalog_enter(&scope);
	catalog_exec("UPDATE elt.task_runs SET state = $4, rows_loaded = $5, bytes = $6,"
				 "       sqlstate = $7, message = $8, detail = $9, hint = $10,"
				 "       inputs = $11, result = $12,"
				 "       ended_at = clock_timestamp(),"
				 "       started_at = coalesce(started_at, clock_timestamp())"
				 " WHERE run_id = $1 AND task = $2 AND attempt = $3",
				 12, types, values, nulls, SPI_OK_UPDATE);
	catalog_notify(run_id, task, elt_state_name(outcome->state));
	catalog_leave(&scope);
}

void
elt_catalog_run_end(int64 run_id, EltState state, const char *message, uint64 rows)
{
	CatalogScope scope;
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[4];
	char		nulls[4] = "    ";

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(elt_state_name(state));
	values[2] = catalog_text_or_null(message, &nulls[2]);
	values[3] = Int64GetDatum((int64) rows);

	catalog_enter(&scope);
	catalog_exec("UPDATE elt.flow_runs SET state = $2, message = $3, rows_loaded = $4,"
				 "       ended_at = clock_timestamp()"
				 " WHERE run_id = $1",
				 4, types, values, nulls, SPI_OK_UPDATE);
	/* a run that failed before its tasks were settled (at its start, say) */
	catalog_exec("UPDATE elt.task_runs SET state = 'cancelled', message = 'not started: the run ended',"
				 "       started_at = coalesce(started_at, clock_timestamp()), ended_at = clock_timestamp()"
				 " WHERE run_id = $1 AND state = 'pending'",
				 1, types, values, NULL, SPI_OK_UPDATE);
	catalog_notify(run_id, NULL, elt_state_name(state));
	catalog_leave(&scope);
}

static const char *
catalog_level_name(int elevel)
{
	if (elevel >= ERROR)
		return "error";
	if (elevel >= WARNING)
		return "warning";
	if (elevel == NOTICE)
		return "notice";
	if (elevel == INFO || elevel == LOG)
		return "info";
	return "debug";
}

void
elt_catalog_write_logs(int64 run_id, List *lines)
{
	CatalogScope scope;
	ListCell   *lc;

	if (lines == NIL)
		return;
	catalog_enter(&scope);
	foreach(lc, lines)
	{
		LogLine    *l = lfirst(lc);
		Oid			types[9] = {INT8OID, TEXTOID, INT4OID, TIMESTAMPTZOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID};
		Datum		values[9];
		char		nulls[9] = "         ";

		values[0] = Int64GetDatum(run_id);
		values[1] = catalog_text_or_null(l->task, &nulls[1]);
		values[2] = Int32GetDatum(l->attempt);
		if (l->attempt == 0)
			nulls[2] = 'n';
		values[3] = TimestampTzGetDatum(l->at);
		values[4] = CStringGetTextDatum(catalog_level_name(l->elevel));
		values[5] = catalog_text_or_null(l->sqlerrcode ? unpack_sql_state(l->sqlerrcode) : NULL,
										 &nulls[5]);
		values[6] = CStringGetTextDatum(l->message);
		values[7] = catalog_text_or_null(l->detail, &nulls[7]);
		values[8] = catalog_text_or_null(l->hint, &nulls[8]);
		catalog_exec("INSERT INTO elt.logs (run_id, task, attempt, logged_at, level, sqlstate,"
					 "                      message, detail, hint)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
					 9, types, values, nulls, SPI_OK_INSERT);
	}
	catalog_leave(&scope);
}

/*
 * Reads a run as it is now, not as the caller's snapshot shows it: a
 * REPEATABLE READ caller of flow_wait must still see the run end.
 */
bool
elt_catalog_read_run(int64 run_id, RunRow *row)
{
	CatalogScope scope;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	SPIPlanPtr	plan;
	bool		found;

	catalog_enter(&scope);
	plan = SPI_prepare("SELECT CASE WHEN state = 'running' AND paused_at IS NOT NULL THEN 'paused' ELSE state END,"
					   "       message, rows_loaded,"
					   "       (extract(epoch FROM ended_at - started_at) * 1000000)::bigint,"
					   "       (SELECT a.oid FROM pg_catalog.pg_roles a WHERE a.rolname = owner), xmin"
					   "  FROM elt.flow_runs WHERE run_id = $1", 1, types);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read run %lld", (long long) run_id);
	found = SPI_processed == 1;
	if (found)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(scope.caller_cxt);
		Datum		d;

		row->run_id = run_id;
		row->state = SPI_getvalue(tup, desc, 1);
		row->message = SPI_getvalue(tup, desc, 2);
		row->rows = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		d = SPI_getbinval(tup, desc, 4, &isnull);
		row->duration_us = isnull ? -1 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		row->owner = isnull ? InvalidOid : DatumGetObjectId(d);
		row->ours = catalog_xmin_is_ours(tup, desc, 6);
		MemoryContextSwitchTo(old);
	}
	catalog_leave(&scope);
	return found;
}

/*
 * Cancels a run that has no worker yet (pending, or claimed by the
 * scheduler but not started); false when it has one or has ended.
 */
bool
elt_catalog_cancel_unstarted(int64 run_id)
{
	CatalogScope scope;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	bool		done;

	catalog_enter(&scope);
	catalog_exec("UPDATE elt.flow_runs SET state = 'cancelled', ended_at = clock_timestamp(),"
				 "       started_at = coalesce(started_at, clock_timestamp()),"
				 "       message = 'cancelled before it started'"
				 " WHERE run_id = $1 AND (state = 'pending' OR (state = 'running' AND worker_pid IS NULL))",
				 1, types, values, NULL, SPI_OK_UPDATE);
	done = SPI_processed == 1;
	if (done)
		catalog_notify(run_id, NULL, "cancelled");
	catalog_leave(&scope);
	return done;
}

/* The flow and params of a run (for a helper worker); NULL if none. */
char *
elt_catalog_run_flow(int64 run_id, Jsonb **params)
{
	CatalogScope scope;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	char	   *flow = NULL;

	catalog_enter(&scope);
	catalog_exec("SELECT flow, params FROM elt.flow_runs WHERE run_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	flow = catalog_run_flow_and_params(&scope, params);
	catalog_leave(&scope);
	return flow;
}

/* The state of an attempt, with its rows and message; pending if it has no row. */
EltState
elt_catalog_read_attempt(int64 run_id, const char *task, int attempt, uint64 *rows,
						 char **message)
{
	CatalogScope scope;
	Oid			types[3] = {INT8OID, TEXTOID, INT4OID};
	Datum		values[3] = {Int64GetDatum(run_id), CStringGetTextDatum(task), Int32GetDatum(attempt)};
	EltState	state = ELT_PENDING;
	MemoryContext old;

	*rows = 0;
	*message = NULL;
	catalog_enter(&scope);
	catalog_exec("SELECT state, coalesce(rows_loaded, 0), message FROM elt.task_runs"
				 " WHERE run_id = $1 AND task = $2 AND attempt = $3",
				 3, types, values, NULL, SPI_OK_SELECT);
	old = MemoryContextSwitchTo(scope.caller_cxt);
	if (SPI_processed == 1)
	{
		bool		isnull;

		state = elt_state_from_name(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		*rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		*message = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	}
	MemoryContextSwitchTo(old);
	catalog_leave(&scope);
	return state;
}

/* The limits of elt.concurrency_limits on any of tags (a text[]), in cxt. */
void
elt_catalog_tag_limits(Datum tags, List **limits, MemoryContext cxt)
{
	CatalogScope scope;
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1] = {tags};

	catalog_enter(&scope);
	catalog_exec("SELECT tag, max_running FROM elt.concurrency_limits WHERE tag = ANY ($1)",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		TagLimit   *limit = palloc(sizeof(TagLimit));

		limit->tag = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		limit->max_running = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
														 SPI_tuptable->tupdesc, 2,
														 &(bool) {false}));
		*limits = lappend(*limits, limit);
		MemoryContextSwitchTo(old);
	}
	catalog_leave(&scope);
}

/*
 * The unexpired entry for key in the cache of the run's owner; false when
 * there is none.  *refresh says the run refreshes the cache: it takes no
 * entry (but is told of the one it replaces).
 */
bool
elt_catalog_cache_find(int64 run_id, const char *key, CacheEntry *entry, bool *refresh)
{
	CatalogScope scope;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(run_id), CStringGetTextDatum(key)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		found;
	Datum		d;
	MemoryContext old;

	memset(entry, 0, sizeof(CacheEntry));
	catalog_enter(&scope);
	catalog_exec("SELECT r.refresh_cache, c.run_id, c.result, c.target, c.expires_at"
				 "  FROM elt.flow_runs r LEFT JOIN elt.task_cache c"
				 "    ON c.owner = r.owner AND c.key = $2 AND c.expires_at > clock_timestamp()"
				 " WHERE r.run_id = $1",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "run %lld is missing from elt.flow_runs", (long long) run_id);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	*refresh = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	found = !isnull;
	if (found)
	{
		entry->run_id = DatumGetInt64(d);
		old = MemoryContextSwitchTo(scope.caller_cxt);
		entry->result = catalog_jsonb(tup, desc, 3);
		MemoryContextSwitchTo(old);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		entry->target = isnull ? InvalidOid : DatumGetObjectId(d);
		entry->expires_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
	}
	catalog_leave(&scope);
	return found;
}

/*
 * Keeps a completed attempt's result in the run owner's cache under key
 * for expiration (an interval) from now, replacing what the key held.
 * Called inside the attempt's transaction: the entry commits with the
 * work it stands for, or not at all.
 */
void
elt_catalog_cache_store(int64 run_id, const char *task, const char *key, const char *expiration,
						const AttemptOutcome *outcome, Oid target)
{
	CatalogScope scope;
	Oid			types[9] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, JSONBOID,
	JSONBOID, OIDOID};
	Datum		values[9];
	char		nulls[9] = "         ";

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(key);
	values[2] = CStringGetTextDatum(task);
	values[3] = CStringGetTextDatum(expiration);
	values[4] = Int64GetDatum((int64) outcome->rows);
	values[5] = Int64GetDatum((int64) outcome->bytes);
	values[6] = outcome->inputs ? JsonbPGetDatum(outcome->inputs) : (Datum) 0;
	nulls[6] = outcome->inputs ? ' ' : 'n';
	values[7] = outcome->result ? JsonbPGetDatum(outcome->result) : (Datum) 0;
	nulls[7] = outcome->result ? ' ' : 'n';
	values[8] = ObjectIdGetDatum(target);
	nulls[8] = OidIsValid(target) ? ' ' : 'n';
	catalog_enter(&scope);
	catalog_exec("INSERT INTO elt.task_cache AS c (owner, key, flow, task, run_id, rows_loaded, bytes,"
				 "                                inputs, result, target, created_at, expires_at)"
				 " SELECT r.owner, $2, r.flow, $3, $1, $5, $6, $7, $8, $9, t.now, t.now + $4::interval"
				 "   FROM elt.flow_runs r, (SELECT clock_timestamp() AS now) t WHERE r.run_id = $1"
				 " ON CONFLICT (owner, key) DO UPDATE SET flow = EXCLUDED.flow, task = EXCLUDED.task,"
				 "    run_id = EXCLUDED.run_id, rows_loaded = EXCLUDED.rows_loaded, bytes = EXCLUDED.bytes,"
				 "    inputs = EXCLUDED.inputs, result = EXCLUDED.result, target = EXCLUDED.target,"
				 "    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
				 9, types, values, nulls, SPI_OK_INSERT);
	catalog_leave(&scope);
}

/*
 * The credential role who would use under name: its own, else one of a
 * role it is a member of (by owner name), else another role's, which it
 * may not use (cred->usable false, and no secret read).
 */
bool
elt_catalog_credential_find(const char *name, Oid who, Credential *cred)
{
	CatalogScope scope;
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(who)};
	HeapTuple	tup;
	TupleDesc	desc;
	MemoryContext old;
	bool		isnull;

	memset(cred, 0, sizeof(Credential));
	catalog_enter(&scope);
	catalog_exec("SELECT c.owner, c.kind, c.settings,"
				 "       coalesce(pg_catalog.pg_has_role($2, r.oid, 'MEMBER'), false) AS usable,"
				 "       c.secret"
				 "  FROM elt.credentials c LEFT JOIN pg_catalog.pg_roles r ON r.rolname = c.owner"
				 " WHERE c.name = $1"
				 " ORDER BY r.oid = $2 DESC NULLS LAST, 4 DESC, c.owner LIMIT 1",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		old = MemoryContextSwitchTo(scope.caller_cxt);
		cred->found = true;
		cred->owner = catalog_text(tup, desc, 1);
		cred->kind = catalog_text(tup, desc, 2);
		cred->settings = catalog_jsonb(tup, desc, 3);
		cred->usable = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		if (cred->usable)
			cred->secret = catalog_jsonb(tup, desc, 5);
		MemoryContextSwitchTo(old);
	}
	catalog_leave(&scope);
	return cred->found;
}

/*
 * Creates (create) or replaces a credential, checked first for its kind's
 * fields.  The values travel as parameters: no statement text holds them,
 * and no error can print them (the table has no constraint that would
 * show a failing row).
 */
void
elt_catalog_credential_write(const char *owner, const char *name, const char *kind,
							 Jsonb *settings, Jsonb *secret, bool create)
{
	CatalogScope scope;
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID};
	Datum		values[5];

	values[0] = CStringGetTextDatum(owner);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(kind);
	values[3] = JsonbPGetDatum(settings ? settings :
							   DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))));
	values[4] = JsonbPGetDatum(secret);
	catalog_enter(&scope);
	catalog_exec("SELECT elt._check_credential_values($2, $3, $4, $5)", 5, types, values, NULL,
				 SPI_OK_SELECT);
	if (create)
		catalog_exec("INSERT INTO elt.credentials (owner, name, kind, settings, secret)"
					 " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, name) DO NOTHING",
					 5, types, values, NULL, SPI_OK_INSERT);
	else
		catalog_exec("UPDATE elt.credentials SET kind = $3, settings = $4, secret = $5,"
					 "       updated_at = clock_timestamp()"
					 " WHERE owner = $1 AND name = $2",
					 5, types, values, NULL, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(create ? ERRCODE_DUPLICATE_OBJECT : ERRCODE_UNDEFINED_OBJECT),
				 create ? errmsg("credential \"%s\" of role \"%s\" already exists", name, owner) :
				 errmsg("credential \"%s\" of role \"%s\" does not exist", name, owner),
				 create ? errhint("elt.alter_credential changes it.") : 0));
	catalog_leave(&scope);
}

void
elt_catalog_credential_delete(const char *owner, const char *name)
{
	CatalogScope scope;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(owner), CStringGetTextDatum(name)};

	catalog_enter(&scope);
	catalog_exec("DELETE FROM elt.credentials WHERE owner = $1 AND name = $2", 2, types, values,
				 NULL, SPI_OK_DELETE);
	catalog_leave(&scope);
}

/* Is name one of names (C strings)? */
bool
elt_name_in_list(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/*
 * The tasks the task is downstream of (its dependencies, theirs, and so
 * on): their results are what its templates may use besides parameters.
 */
List *
elt_flow_upstream(FlowDef *flow, TaskDef *task)
{
	List	   *upstream = list_copy(task->depends_on);

	/* the list grows as it is walked: each new name's dependencies join it */
	for (int i = 0; i < list_length(upstream); i++)
	{
		ListCell   *lc;

		foreach(lc, flow->tasks)
		{
			TaskDef    *t = lfirst(lc);
			ListCell   *dc;

			if (strcmp(t->name, list_nth(upstream, i)) != 0)
				continue;
			foreach(dc, t->depends_on)
				if (!elt_name_in_list(upstream, lfirst(dc)))
					upstream = lappend(upstream, lfirst(dc));
		}
	}
	return upstream;
}

/*
 * The results of the run's completed attempts of tasks (NIL: of all its
 * tasks), as one object keyed by task name (empty when there are none).
 */
Jsonb *
elt_catalog_results(int64 run_id, List *tasks)
{
	CatalogScope scope;
	Oid			types[2] = {INT8OID, TEXTARRAYOID};
	Datum		values[2];
	Datum	   *names = palloc(sizeof(Datum) * Max(list_length(tasks), 1));
	int			n = 0;
	ListCell   *lc;
	bool		isnull;
	Jsonb	   *result;
	MemoryContext old;

	foreach(lc, tasks)
		names[n++] = CStringGetTextDatum(lfirst(lc));
	values[0] = Int64GetDatum(run_id);
	values[1] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	catalog_enter(&scope);
	catalog_exec("SELECT coalesce(jsonb_object_agg(task, result), '{}') FROM elt.task_runs"
				 " WHERE run_id = $1 AND ($2 IS NULL OR task = ANY ($2))"
				 "   AND state IN ('completed', 'cached') AND result IS NOT NULL",
				 2, types, values, tasks == NIL ? " n" : NULL, SPI_OK_SELECT);
	old = MemoryContextSwitchTo(scope.caller_cxt);
	result = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											  &isnull));
	MemoryContextSwitchTo(old);
	catalog_leave(&scope);
	return result;
}

/*
 * A re-run takes over the results of the tasks that completed in the run
 * it retries, and runs only the others: returns the tasks taken over.
 */
List *
elt_catalog_reuse_results(int64 run_id)
{
	CatalogScope scope;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	List	   *reused = NIL;

	catalog_enter(&scope);
	catalog_exec("SELECT elt._reuse_results($1)", 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(scope.caller_cxt);

		reused = lappend(reused, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}
	catalog_leave(&scope);
	return reused;
}

/*
 * Whether flow_pause holds the run, and until when (DT_NOEND: no
 * timeout): the coordinator asks once a round.
 */
bool
elt_catalog_pause_requested(int64 run_id, TimestampTz *until)
{
	CatalogScope scope;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	bool		isnull = true;
	Datum		d;

	catalog_enter(&scope);
	catalog_exec("SELECT pause_until FROM elt.flow_runs WHERE run_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			*until = DatumGetTimestampTz(d);
	}
	catalog_leave(&scope);
	return !isnull;
}

/* The worker has paused the run (its running tasks finished), or resumed it. */
void
elt_catalog_mark_paused(int64 run_id, bool paused)
{
	CatalogScope scope;
	Oid			types[2] = {INT8OID, BOOLOID};
	Datum		values[2] = {Int64GetDatum(run_id), BoolGetDatum(paused)};

	catalog_enter(&scope);
	catalog_exec("UPDATE elt.flow_runs SET paused_at = CASE WHEN $2 THEN clock_timestamp() END"
				 " WHERE run_id = $1", 2, types, values, NULL, SPI_OK_UPDATE);
	catalog_notify(run_id, NULL, paused ? "paused" : "running");
	catalog_leave(&scope);
}

/*
 * flow_pause and flow_resume: asks the run's worker to pause it until
 * until (DT_NOEND: until resumed), or (resume) clears the request.  False
 * when there was nothing to change (already paused, or not paused).
 */
bool
elt_catalog_request_pause(int64 run_id, bool pause, TimestampTz until)
{
	CatalogScope scope;
	Oid			types[3] = {INT8OID, BOOLOID, TIMESTAMPTZOID};
	Datum		values[3] = {Int64GetDatum(run_id), BoolGetDatum(pause), TimestampTzGetDatum(until)};
	bool		done;

	catalog_enter(&scope);
	catalog_exec("UPDATE elt.flow_runs SET pause_until = CASE WHEN $2 THEN $3 END"
				 " WHERE run_id = $1 AND state = 'running' AND (pause_until IS NULL) = $2",
				 3, types, values, NULL, SPI_OK_UPDATE);
	done = SPI_processed == 1;
	catalog_leave(&scope);
	return done;
}

/* How many runs up the chain of parents the run is (0: not a subflow). */
int
elt_catalog_run_depth(int64 run_id)
{
	CatalogScope scope;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	bool		isnull;
	int			depth;

	catalog_enter(&scope);
	catalog_exec("WITH RECURSIVE up(run, depth) AS ("
				 "    SELECT parent_run, 1 FROM elt.flow_runs WHERE run_id = $1 AND parent_run IS NOT NULL"
				 "    UNION ALL"
				 "    SELECT r.parent_run, up.depth + 1 FROM up JOIN elt.flow_runs r ON r.run_id = up.run"
				 "     WHERE r.parent_run IS NOT NULL AND up.depth < 1000)"
				 " SELECT coalesce(max(depth), 0) FROM up",
				 1, types, values, NULL, SPI_OK_SELECT);
	depth = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	catalog_leave(&scope);
	return depth;
}


/* Is text a JSON array (checked without raising an error)? */
static bool
catalog_is_json_array(const char *text)
{
	JsonLexContext *lex = makeJsonLexContextCstringLen(unconstify(char *, text), strlen(text),
													   GetDatabaseEncoding(), false);
	const char *p = text;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return *p == '[' && pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
}

static List *catalog_file_instances(TaskDef *task, Jsonb *params);

/*
 * The instances of a mapped task, for a run with params: one TaskDef per
 * element of its for_each (after substitution), named task[1], task[2],
 * ..., each with its :item (and, for an object, its keys) bound.  With
 * only > 0, only instance number only is made (a helper's, among
 * hundreds), if there is one.
 */
static List *
catalog_instances(TaskDef *task, Jsonb *params, int only)
{
	char	   *text;
	Jsonb	   *array;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *instances = NIL;
	int			n = 0;

	if (elt_task_maps_files(task))
		return catalog_file_instances(task, params);
	text = elt_substitute(task->for_each, params,
						  psprintf("for_each of task \"%s\"", task->name));
	if (!catalog_is_json_array(text))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("for_each of task \"%s\" is not a JSON array: %s", task->name, text),
				 errhint("for_each must be, or its parameter must hold, a JSON array.")));
	array = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	it = JsonbIteratorInit(&array->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		TaskDef    *instance;
		StringInfoData bound;

		if (tok != WJB_ELEM || (only > 0 && ++n != only))
			continue;
		instance = palloc(sizeof(TaskDef));
		*instance = *task;
		instance->for_each = NULL;
		instance->name = psprintf("%s[%d]", task->name, only > 0 ? only : list_length(instances) + 1);
		elt_json_begin(&bound);
		elt_json_add_json(&bound, "item", elt_jsonb_value_json(&v));
		instance->bound = elt_json_end(&bound);
		if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
			instance->bound = elt_jsonb_merge(JsonbValueToJsonb(&v), instance->bound);
		instances = lappend(instances, instance);
		if (only > 0)
			break;
	}
	return instances;
}

List *
elt_flow_instances(TaskDef *task, Jsonb *params)
{
	return catalog_instances(task, params, 0);
}

/* Is task an extract mapped over the files its url lists (for_each 'files')? */
bool
elt_task_maps_files(const TaskDef *task)
{
	return task->for_each && strcmp(task->for_each, "files") == 0;
}

/* The run's params key that holds the files a task maps over. */
char *
elt_task_files_key(const TaskDef *task)
{
	return psprintf("%s.files", task->name);
}

/*
 * The instances of an extract mapped over its files: one per object URL,
 * bound as :item and loaded as the instance's url.  The URLs are the
 * run's (its params keep the listing its coordinator made, so that every
 * worker sees the same files), else listed now (a dry run).
 */
static List *
catalog_file_instances(TaskDef *task, Jsonb *params)
{
	JsonbValue *kept = elt_jsonb_get(params, elt_task_files_key(task));
	List	   *urls = NIL;
	List	   *instances = NIL;
	ListCell   *lc;
	Jsonb	   *config;
	Jsonb	   *appending;

	if (kept && kept->type == jbvBinary)
	{
		JsonbIterator *it = JsonbIteratorInit(kept->val.binary.data);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && v.type == jbvString)
				urls = lappend(urls, pnstrdup(v.val.string.val, v.val.string.len));
	}
	else
		urls = elt_store_list_config(elt_substitute_jsonb(task->config, params, NULL), task->name);
	{
		StringInfoData url;
		StringInfoData mode;

		elt_json_begin(&url);
		elt_json_add_string(&url, "url", ":item");
		config = elt_jsonb_merge(task->config, elt_json_end(&url));
		/* the first loads as the task says (replace, create...); the rest append */
		elt_json_begin(&mode);
		elt_json_add_string(&mode, "mode", "append");
		appending = elt_jsonb_merge(config, elt_json_end(&mode));
	}
	foreach(lc, urls)
	{
		TaskDef    *instance = palloc(sizeof(TaskDef));
		StringInfoData bound;

		*instance = *task;
		instance->for_each = NULL;
		instance->config = instances == NIL ? config : appending;
		instance->name = psprintf("%s[%d]", task->name, list_length(instances) + 1);
		elt_json_begin(&bound);
		elt_json_add_string(&bound, "item", lfirst(lc));
		instance->bound = elt_json_end(&bound);
		instances = lappend(instances, instance);
	}
	return instances;
}

/* The task of a flow by name, an instance of a mapped one included. */
TaskDef *
elt_flow_find_task(FlowDef *flow, Jsonb *params, const char *name)
{
	ListCell   *lc;

	foreach(lc, flow->tasks)
	{
		TaskDef    *task = lfirst(lc);
		size_t		len = strlen(task->name);

		if (strcmp(task->name, name) == 0)
			return task;
		if (task->for_each && strncmp(task->name, name, len) == 0 && name[len] == '[')
		{
			ListCell   *ic;

			/* the instance's number is in its name: only that one is made */
			foreach(ic, catalog_instances(task, params, atoi(name + len + 1)))
				if (strcmp(((TaskDef *) lfirst(ic))->name, name) == 0)
					return lfirst(ic);
		}
	}
	return NULL;
}

/*
 * What the ledger of role owner's incremental loads into target knows of
 * url: false when it has no row; else *etag (NULL if none was recorded)
 * and *target_oid, the table it was loaded into.
 */
bool
elt_catalog_ledger_find(const char *owner, const char *target, const char *url, char **etag,
						Oid *target_oid)
{
	CatalogScope scope;
	Oid			types[3] = {NAMEOID, TEXTOID, TEXTOID};
	Datum		values[3] = {CStringGetDatum(owner), CStringGetTextDatum(target),
	CStringGetTextDatum(url)};
	bool		found;

	catalog_enter(&scope);
	catalog_exec("SELECT etag, target_oid FROM elt.loaded_files"
				 " WHERE owner = $1 AND target = $2 AND url = $3",
				 3, types, values, NULL, SPI_OK_SELECT);
	found = SPI_processed == 1;
	if (found)
	{
		char	   *e = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		bool		isnull;

		*etag = e ? MemoryContextStrdup(scope.caller_cxt, e) : NULL;
		*target_oid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 2, &isnull));
	}
	catalog_leave(&scope);
	return found;
}

/*
 * Claims url (etag, size) for owner's load into target, in the current
 * transaction: false when the ledger has it already (with another ETag
 * and changed, it is claimed again).  The row's unique key makes a
 * concurrent load of the same object wait for this transaction, and then
 * find it claimed: so two runs never both load it.
 */
bool
elt_catalog_ledger_claim(const char *owner, const char *target, const char *url,
						 const char *etag, int64 size, bool changed)
{
	CatalogScope scope;
	Oid			types[6] = {NAMEOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, BOOLOID};
	Datum		values[6];
	char		nulls[6] = "      ";
	bool		claimed;

	values[0] = CStringGetDatum(owner);
	values[1] = CStringGetTextDatum(target);
	values[2] = CStringGetTextDatum(url);
	values[3] = etag ? CStringGetTextDatum(etag) : (Datum) 0;
	nulls[3] = etag ? ' ' : 'n';
	values[4] = Int64GetDatum(size);
	nulls[4] = size >= 0 ? ' ' : 'n';
	values[5] = BoolGetDatum(changed);
	catalog_enter(&scope);
	catalog_exec("INSERT INTO elt.loaded_files AS f (owner, target, url, etag, size, rows_loaded, target_oid)"
				 " VALUES ($1, $2, $3, $4, $5, 0, 0)"
				 " ON CONFLICT (owner, target, url) DO UPDATE SET etag = EXCLUDED.etag, size = EXCLUDED.size"
				 " WHERE $6 AND f.etag IS DISTINCT FROM EXCLUDED.etag"
				 " RETURNING 1",
				 6, types, values, nulls, SPI_OK_INSERT_RETURNING);
	claimed = SPI_processed == 1;
	catalog_leave(&scope);
	return claimed;
}

/* Completes the claimed row of url: the rows loaded, into which table, by which run. */
void
elt_catalog_ledger_record(const char *owner, const char *target, const char *url, Oid target_oid,
						  int64 rows, int64 run_id)
{
	CatalogScope scope;
	Oid			types[6] = {NAMEOID, TEXTOID, TEXTOID, OIDOID, INT8OID, INT8OID};
	Datum		values[6];
	char		nulls[6] = "      ";

	values[0] = CStringGetDatum(owner);
	values[1] = CStringGetTextDatum(target);
	values[2] = CStringGetTextDatum(url);
	values[3] = ObjectIdGetDatum(target_oid);
	values[4] = Int64GetDatum(rows);
	values[5] = Int64GetDatum(run_id);
	nulls[5] = run_id != 0 ? ' ' : 'n';
	catalog_enter(&scope);
	catalog_exec("UPDATE elt.loaded_files SET target_oid = $4, rows_loaded = $5, run_id = $6,"
				 "       loaded_at = clock_timestamp()"
				 " WHERE owner = $1 AND target = $2 AND url = $3",
				 6, types, values, nulls, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		elog(ERROR, "the ledger has no claim of \"%s\" for %s", url, target);
	catalog_leave(&scope);
}

/* Replaces the run's params (with what its coordinator adds: listings). */
void
elt_catalog_run_set_params(int64 run_id, Jsonb *params)
{
	CatalogScope scope;
	Oid			types[2] = {INT8OID, JSONBOID};
	Datum		values[2] = {Int64GetDatum(run_id), JsonbPGetDatum(params)};

	catalog_enter(&scope);
	catalog_exec("UPDATE elt.flow_runs SET params = $2 WHERE run_id = $1",
				 2, types, values, NULL, SPI_OK_UPDATE);
	catalog_leave(&scope);
}
