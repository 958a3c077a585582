/*-------------------------------------------------------------------------
 *
 * load_insert.c
 *	  load_csv's executor path, and the choice between it and the direct
 *	  one.
 *
 *	  The direct path (CopyFrom into the relation, csv_load.c) is COPY's
 *	  speed, but it writes into the relation itself: rules never fire,
 *	  executor hooks never see the rows, and a Citus table's rows would
 *	  stay in the coordinator's shell.  The executor path runs
 *
 *	    INSERT INTO target (columns) SELECT columns FROM pg_temp.<source>
 *
 *	  through SPI, where <source> is a temporary pg_elt foreign table
 *	  (csv_scan.c) with the columns' types, whose scan reads the load's
 *	  own stream: every trigger, rule, hook, view, foreign table and
 *	  Citus's distributed insert sees ordinary inserts, and the rows still
 *	  stream (no tuplestore, no temporary copy of the file).  The source
 *	  table lives for the one statement, in the load's subtransaction.
 *
 *	  PostgreSQL 15's INSERT writes each row without the bulk-insert state
 *	  COPY has (a pinned target page, a 16 MB buffer ring): for a heap
 *	  target it costs about half again COPY's time and sweeps all of
 *	  shared_buffers.  So for the one INSERT it runs, this file gives a heap
 *	  target's relcache entry a table AM that is heap's own with one change:
 *	  tuple_insert passes a bulk-insert state to heap's, as COPY's inserts
 *	  do.  Everything else the executor does (triggers, rules, policies,
 *	  constraints, indexes) is unchanged; the entry gets heap's AM back
 *	  however the INSERT ends (and from any relcache rebuild meanwhile).
 *
 *-------------------------------------------------------------------------
 */
#include "load_insert.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "csv_scan.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "rewrite/prs2lock.h"
#include "rewrite/rewriteDefine.h"
#include "rewrite/rewriteHandler.h"
#include "utils/rel.h"
#include "commands/dbcommands.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "citus.h"
#include "copy_feed.h"
#include "load_options.h"

/*
 * Heap targets of executor-path INSERTs running now, each with its
 * bulk-insert state; nested loads push their own (a trigger on the target
 * may load into it again).
 */
typedef struct BulkTarget
{
	Oid			relid;
	BulkInsertState bistate;
	struct BulkTarget *outer;
} BulkTarget;

static BulkTarget *bulk_targets = NULL;
static TableAmRoutine bulk_heapam;	/* heap's, tuple_insert apart; set once */

static void
bulk_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid, int options,
				  BulkInsertState bistate)
{
	for (BulkTarget *t = bulk_targets; t && bistate == NULL; t = t->outer)
		if (t->relid == RelationGetRelid(rel))
			bistate = t->bistate;
	GetHeapamTableAmRoutine()->tuple_insert(rel, slot, cid, options, bistate);
}

/*
 * Whether rel has a rule an INSERT into it would apply (COPY applies
 * none).  A load honours one kind: a single unconditional DO INSTEAD rule
 * whose action is one INSERT.  Any other (DO ALSO, a WHERE, several
 * actions) repeats the INSERT's SELECT, which would read the stream again,
 * or does no INSERT at all: refused, before anything is read.
 */
static bool
load_has_insert_rules(Relation rel)
{
	RuleLock   *rules = rel->rd_rules;
	int			n = 0;

	for (int i = 0; rules && i < rules->numLocks; i++)
	{
		RewriteRule *rule = rules->rules[i];

		if (rule->event != CMD_INSERT || rule->enabled == RULE_DISABLED)
			continue;
		if (++n > 1 || !rule->isInstead || rule->qual != NULL || list_length(rule->actions) != 1 ||
			((Query *) linitial(rule->actions))->commandType != CMD_INSERT)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot load into \"%s\": its INSERT rules are not one unconditional DO INSTEAD INSERT",
							RelationGetRelationName(rel)),
					 errdetail("Each further rule action would read the file again; COPY would ignore the rules."),
					 errhint("Load into another table and INSERT ... SELECT from it, or give the table a trigger instead of rules.")));
	}
	return n > 0;
}

static const char *
load_relkind_name(char relkind)
{
	switch (relkind)
	{
		case RELKIND_MATVIEW:
			return "a materialized view";
		case RELKIND_SEQUENCE:
			return "a sequence";
		case RELKIND_COMPOSITE_TYPE:
			return "a composite type";
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			return "an index";
		case RELKIND_TOASTVALUE:
			return "a TOAST table";
		default:
			return "not a table";
	}
}

/*
 * What the executor path needs beyond the INSERT's own rights: its source
 * is a temporary table, so TEMP on the database and a transaction that
 * may write (the direct path lets a read-only transaction fill a
 * temporary table; this one cannot).
 */
static void
load_check_insert_path_allowed(const char *name)
{
	if (pg_database_aclcheck(MyDatabaseId, GetUserId(), ACL_CREATE_TEMP) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to load into \"%s\" through the executor", name),
				 errdetail("load_csv reads the file through a temporary foreign table on this path, and role \"%s\" may not create temporary tables in this database.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("GRANT TEMPORARY ON DATABASE %s TO the role.",
						 quote_identifier(get_database_name(MyDatabaseId)))));
	if (XactReadOnly)
		PreventCommandIfReadOnly("load_csv");
}

/*
 * The path that loads rel correctly, given the requested one.  Errors,
 * before anything is read, when no path can, or when the requested one
 * would be wrong.
 */
LoadPath
elt_choose_load_path(Relation rel, LoadPath requested)
{
	char		relkind = rel->rd_rel->relkind;
	const char *name = RelationGetRelationName(rel);
	bool		plain = relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE;
	bool		citus = elt_citus_table_kind(RelationGetRelid(rel)) != CITUS_NONE;
	bool		rls = check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED;

	if (!plain && relkind != RELKIND_VIEW && relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot load into \"%s\": it is %s", name, load_relkind_name(relkind))));
	if (!plain && (relation_is_updatable(RelationGetRelid(rel), NIL, false, NULL) &
				   (1 << CMD_INSERT)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot load into %s \"%s\": it does not accept INSERT",
						relkind == RELKIND_VIEW ? "view" : "foreign table", name),
				 relkind == RELKIND_VIEW ?
				 errhint("Give the view an INSTEAD OF INSERT trigger, or load into its table.") :
				 errhint("Its foreign-data wrapper cannot insert; load into a table instead.")));
	if (requested == LOAD_PATH_COPY && citus)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("\"path\": \"copy\" cannot load into Citus table \"%s\"", name),
				 errdetail("Rows COPY writes into the relation itself would stay in the coordinator's shell table, where Citus never reads them."),
				 errhint("Leave \"path\" out (auto) or use \"insert\".")));
	if (requested == LOAD_PATH_COPY && rls)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("\"path\": \"copy\" cannot load into table \"%s\": it has row-level security enabled", name),
				 errhint("Leave \"path\" out (auto) or use \"insert\": the executor path applies the table's policies.")));
	if (requested == LOAD_PATH_AUTO)
		requested = (!plain || citus || rls || load_has_insert_rules(rel)) ?
			LOAD_PATH_INSERT : LOAD_PATH_COPY;
	else if (requested == LOAD_PATH_INSERT)
		(void) load_has_insert_rules(rel);
	if (requested == LOAD_PATH_INSERT)
		load_check_insert_path_allowed(name);
	return requested;
}

/* attnames (String nodes), or every column COPY would fill when NIL. */
static List *
load_insert_columns(Relation rel, List *attnames)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *columns = NIL;
	ListCell   *lc;

	if (attnames == NIL)
	{
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && !att->attgenerated)
				columns = lappend_int(columns, att->attnum);
		}
		return columns;
	}
	foreach(lc, attnames)
	{
		char	   *name = strVal(lfirst(lc));
		AttrNumber	attnum = InvalidAttrNumber;

		for (int i = 0; i < desc->natts && attnum == InvalidAttrNumber; i++)
			if (!TupleDescAttr(desc, i)->attisdropped &&
				namestrcmp(&TupleDescAttr(desc, i)->attname, name) == 0)
				attnum = TupleDescAttr(desc, i)->attnum;
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							name, RelationGetRelationName(rel))));
		columns = lappend_int(columns, attnum);
	}
	return columns;
}

static void
load_insert_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "load_csv's executor path: SPI_execute returned %d for: %s", rc, sql);
}

/*
 * Gives rel heap's AM back and drops its bulk-insert state.  After an
 * error the state's pinned page is left to the abort's cleanup, which
 * also releases its lock.
 */
static void
load_insert_end_bulk(Relation rel, BulkTarget *target, bool done)
{
	rel->rd_tableam = GetHeapamTableAmRoutine();
	bulk_targets = target->outer;
	if (done)
	{
		FreeBulkInsertState(target->bistate);
		table_finish_bulk_insert(rel, 0);
	}
}

/*
 * Loads src into rel through the executor; the rows the INSERT reports.
 * Runs as the caller, in the caller's (sub)transaction: the INSERT checks
 * the caller's rights, row-level security and constraints as any INSERT.
 */
uint64
elt_load_insert(Relation rel, List *attnames, CopyFeed *src, List *copy_options)
{
	static uint32 source_counter = 0;
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *columns = load_insert_columns(rel, attnames);
	char	   *source_name = psprintf("pg_elt_load_%d_%u", MyProcPid, ++source_counter);
	bool		identity_always = false;
	StringInfoData ddl;
	StringInfoData names;
	ListCell   *lc;
	CsvScanAttachment att;
	BulkTarget	target;
	bool		bulk;
	uint64		rows;
	MemoryContext cxt = CurrentMemoryContext;

	initStringInfo(&ddl);
	initStringInfo(&names);
	foreach(lc, columns)
	{
		Form_pg_attribute a = TupleDescAttr(desc, lfirst_int(lc) - 1);

		appendStringInfo(&ddl, "%s%s %s", names.len ? ", " : "", quote_identifier(NameStr(a->attname)),
						 format_type_extended(a->atttypid, a->atttypmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
		appendStringInfo(&names, "%s%s", names.len ? ", " : "", quote_identifier(NameStr(a->attname)));
		identity_always |= a->attidentity == ATTRIBUTE_IDENTITY_ALWAYS;
	}

	/* (a Citus table's rows go to its shards, never into this relation) */
	bulk = rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_tableam == GetHeapamTableAmRoutine() &&
		elt_citus_table_kind(RelationGetRelid(rel)) == CITUS_NONE;
	if (bulk && bulk_heapam.tuple_insert == NULL)
	{
		bulk_heapam = *GetHeapamTableAmRoutine();
		bulk_heapam.tuple_insert = bulk_tuple_insert;
	}

	SPI_connect();
	load_insert_exec(psprintf("CREATE FOREIGN TABLE pg_temp.%s (%s) SERVER pg_elt",
							  source_name, ddl.data), SPI_OK_UTILITY);
	att.relid = RangeVarGetRelid(makeRangeVar("pg_temp", source_name, -1), NoLock, false);
	att.source = src;
	att.copy_options = copy_options;
	elt_csv_scan_attach(&att);
	if (bulk)
	{
		/*
		 * The relcache entry is rebuilt, with heap's AM, when invalidations
		 * queued so far (the source's creation, the target's if the load
		 * made it) are processed: have that happen now, not at the
		 * INSERT's start.
		 */
		CommandCounterIncrement();
		target.relid = RelationGetRelid(rel);
		target.bistate = GetBulkInsertState();
		target.outer = bulk_targets;
		bulk_targets = &target;
		rel->rd_tableam = &bulk_heapam;
	}
	PG_TRY();
	{
		/* the file's values for GENERATED ALWAYS columns are kept, as COPY keeps them */
		load_insert_exec(psprintf("INSERT INTO %s (%s) %s SELECT %s FROM pg_temp.%s",
								  quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
															 RelationGetRelationName(rel)),
								  names.data, identity_always ? "OVERRIDING SYSTEM VALUE" : "",
								  names.data, source_name),
						 SPI_OK_INSERT);
		rows = SPI_processed;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		elt_csv_scan_detach(&att);
		if (bulk)
			load_insert_end_bulk(rel, &target, false);
		/* the error is the load's: the statement that ran it is ours, not the user's */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->context = NULL;
		ReThrowError(edata);
	}
	PG_END_TRY();
	elt_csv_scan_detach(&att);
	if (bulk)
		load_insert_end_bulk(rel, &target, true);
	load_insert_exec(psprintf("DROP FOREIGN TABLE pg_temp.%s", source_name), SPI_OK_UTILITY);
	SPI_finish();
	return rows;
}
