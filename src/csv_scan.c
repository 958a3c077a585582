/*-------------------------------------------------------------------------
 *
 * csv_scan.c
 *	  The pg_elt foreign-data wrapper: a scan over a CSV file (gzip or
 *	  plain) streamed from a URL, row by row with NextCopyFrom, as
 *	  file_fdw scans a local file.
 *
 *	  Two kinds of foreign table use it:
 *	   - a user's, CREATE FOREIGN TABLE ... SERVER pg_elt OPTIONS (url
 *	     '...'): each scan downloads the file, with load_csv's rules (USAGE
 *	     on schema elt, the outbound policy, file:// only for roles that
 *	     may read server files);
 *	   - load_csv's own temporary one (load_insert.c), whose scan reads the
 *	     stream load_csv has already opened and sampled, attached here by
 *	     the table's oid for the one INSERT ... SELECT that reads it.
 *	  Either way the scan streams: one row in memory at a time.
 *
 *-------------------------------------------------------------------------
 */
#include "csv_scan.h"

#include "access/reloptions.h"
#include <math.h>
#include "access/table.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_table.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "catalog.h"
#include "copy_feed.h"
#include "load_options.h"
#include "gzip_stream.h"
#include "http_fetch.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(elt_fdw_handler);
PG_FUNCTION_INFO_V1(elt_fdw_validator);

/* The options a user's foreign table may have, all but url as load_csv's. */
static const char *const scan_option_names[] = {
	"url", "header", "delimiter", "quote", "escape", "null", "encoding", "headers", "timeout", NULL
};

static CsvScanAttachment *attachments = NULL;

typedef struct CsvScanState
{
	CopyFeed *source;
	EltStream  *stream;			/* ours to close (a user's table), or NULL */
	List	   *copy_options;
	char	   *display_url;
} CsvScanState;

void
elt_csv_scan_attach(CsvScanAttachment *att)
{
	att->scanned = false;
	att->outer = attachments;
	attachments = att;
}

void
elt_csv_scan_detach(CsvScanAttachment *att)
{
	Assert(attachments == att);
	attachments = att->outer;
}

static CsvScanAttachment *
scan_find_attachment(Oid relid)
{
	for (CsvScanAttachment *att = attachments; att; att = att->outer)
		if (att->relid == relid)
			return att;
	return NULL;
}

/* ---------------------------------------------------------------------
 * Options of a user's foreign table
 * ---------------------------------------------------------------------
 */

/*
 * The options as load_csv's (url apart), checked by load_csv's own rules:
 * written as a jsonb object, header a boolean, timeout a number, headers
 * the JSON object it is in load_csv.  Each value is parsed on its own, so
 * that no value can add keys to the object.
 */
static void
scan_option_error(DefElem *def, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for option \"%s\" of a pg_elt foreign table: \"%s\"",
					def->defname, defGetString(def)),
			 errhint("%s", hint)));
}

static double
scan_option_number(DefElem *def)
{
	char	   *value = defGetString(def);
	char	   *end;
	double		d = strtod(value, &end);

	if (end == value || *end != '\0' || !isfinite(d))
		scan_option_error(def, "It is a number of seconds.");
	return d;
}

static void
scan_option_context(void *arg)
{
	errcontext("option \"%s\" of a pg_elt foreign table", ((DefElem *) arg)->defname);
}

/* A JSON object, written again from its parsed form. */
static char *
scan_option_object(DefElem *def)
{
	ErrorContextCallback context = {error_context_stack, scan_option_context, def};
	Jsonb	   *object;

	error_context_stack = &context;
	object = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(defGetString(def))));
	error_context_stack = context.previous;

	if (!JB_ROOT_IS_OBJECT(object) || JB_ROOT_IS_SCALAR(object))
		scan_option_error(def, "It is a JSON object, e.g. '{\"Authorization\": \"Bearer ...\"}'.");
	return JsonbToCString(NULL, &object->root, VARSIZE(object));
}

static char *
scan_parse_options(List *options, LoadOptions *opts)
{
	StringInfoData json;
	char	   *url = NULL;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);
		char	   *value = defGetString(def);
		bool		known = false;

		for (int i = 0; scan_option_names[i]; i++)
			known |= strcmp(def->defname, scan_option_names[i]) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" for a pg_elt foreign table", def->defname),
					 errhint("Its options are url, header, delimiter, quote, escape, null, encoding, headers and timeout.")));
		if (strcmp(def->defname, "url") == 0)
		{
			url = value;
			continue;
		}
		if (!first)
			appendStringInfoString(&json, ", ");
		first = false;
		escape_json(&json, def->defname);
		appendStringInfoString(&json, ": ");
		if (strcmp(def->defname, "header") == 0)
			appendStringInfoString(&json, defGetBoolean(def) ? "true" : "false");
		else if (strcmp(def->defname, "timeout") == 0)
			appendStringInfo(&json, "%.17g", scan_option_number(def));
		else if (strcmp(def->defname, "headers") == 0)
			appendStringInfoString(&json, scan_option_object(def));
		else
			escape_json(&json, value);
	}
	appendStringInfoChar(&json, '}');
	elt_parse_load_options(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data))),
						   opts, false, false);
	return url;
}

Datum
elt_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	LoadOptions opts;

	if (catalog != ForeignTableRelationId)
	{
		if (options != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("pg_elt takes options on foreign tables only"),
					 errhint("Give the url and the CSV options in the foreign table's OPTIONS.")));
		PG_RETURN_VOID();
	}
	/* load_csv's own tables have none: their scan is attached */
	if (options != NIL && scan_parse_options(options, &opts) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a pg_elt foreign table needs a \"url\" option"),
				 errhint("For example: OPTIONS (url 'https://host/file.csv.gz').")));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Planning: one scan path, every qual checked locally
 * ---------------------------------------------------------------------
 */

#define SCAN_ROWS_ESTIMATE	100000

static void
scan_get_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	baserel->rows = SCAN_ROWS_ESTIMATE;
}

static void
scan_get_paths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	Cost		total = baserel->rows * (cpu_tuple_cost * 10);

	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
													   0, total, NIL, baserel->lateral_relids,
													   NULL, NIL));
}

static ForeignScan *
scan_get_plan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
			  ForeignPath *best_path, List *tlist, List *scan_clauses, Plan *outer_plan)
{
	scan_clauses = extract_actual_clauses(scan_clauses, false);
	return make_foreignscan(tlist, scan_clauses, baserel->relid, NIL, NIL, NIL, NIL, outer_plan);
}

/* ---------------------------------------------------------------------
 * Execution
 * ---------------------------------------------------------------------
 */

/*
 * A user's table: open its URL with load_csv's rules, for the querying
 * role and for the table's owner at once: a table a role may declare must
 * not reach, when a superuser reads it, what that role could not (a
 * file:// URL, an internal address).
 */
static void
scan_open_url(CsvScanState *state, Relation rel)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	Oid			owner = rel->rd_rel->relowner;
	LoadOptions opts;
	HttpOptions hopts;
	char	   *url;
	EltStream  *source;

	elt_require_usage("pg_elt foreign tables");
	url = scan_parse_options(table->options, &opts);
	if (url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no \"url\" option", RelationGetRelationName(rel))));
	elt_http_options_for_caller(&opts, &hopts, true);
	hopts.allow_file &= superuser_arg(owner) || has_privs_of_role(owner, ROLE_PG_READ_SERVER_FILES);
	hopts.restricted |= !superuser_arg(owner);
	elt_check_url_allowed(url, hopts.allow_file);
	source = elt_open_url(url, &hopts);
	state->stream = elt_gzip_open_if_compressed(elt_gzip_open_if_compressed(source));
	state->source = elt_copy_feed_create(state->stream, source, NULL);
	state->copy_options = elt_copy_options(&opts);
	state->display_url = pstrdup(state->stream->display_url);
}

static void
scan_forget_cstate(void *arg)
{
	((CopyFeed *) arg)->cstate = NULL;
}

static void
scan_begin(ForeignScanState *node, int eflags)
{
	Relation	rel = node->ss.ss_currentRelation;
	CsvScanState *state = palloc0(sizeof(CsvScanState));
	MemoryContextCallback *forget = palloc0(sizeof(MemoryContextCallback));
	CsvScanAttachment *att;

	node->fdw_state = state;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	att = scan_find_attachment(RelationGetRelid(rel));
	if (att)
	{
		if (att->scanned)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the rows of load_csv's source \"%s\" can be read only once",
							RelationGetRelationName(rel))));
		att->scanned = true;
		state->source = att->source;
		/* the COPY state lives in this query's memory: forget it with that */
		forget->func = scan_forget_cstate;
		forget->arg = att->source;
		MemoryContextRegisterResetCallback(CurrentMemoryContext, forget);
		state->copy_options = att->copy_options;
		state->display_url = pstrdup(att->source->stream->display_url);
	}
	else
		scan_open_url(state, rel);
	elt_copy_feed_begin(state->source, NULL, rel, NIL, state->copy_options);
}

/* COPY's context (table, line, column, value), and the file's URL. */
static void
scan_error_context(void *arg)
{
	CsvScanState *state = arg;

	CopyFromErrorCallback(state->source->cstate);
	errcontext("reading \"%s\"", state->display_url);
}

static TupleTableSlot *
scan_iterate(ForeignScanState *node)
{
	CsvScanState *state = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	ErrorContextCallback context = {error_context_stack, scan_error_context, state};
	MemoryContext old;
	bool		found;

	CHECK_FOR_INTERRUPTS();
	ExecClearTuple(slot);
	error_context_stack = &context;
	old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	found = elt_copy_feed_next(state->source, econtext, slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	error_context_stack = context.previous;
	if (found)
		ExecStoreVirtualTuple(slot);
	return slot;
}

static void
scan_end(ForeignScanState *node)
{
	CsvScanState *state = node->fdw_state;

	if (state == NULL || state->source == NULL || state->source->cstate == NULL)
		return;
	EndCopyFrom(state->source->cstate);
	state->source->cstate = NULL;
	if (state->stream)
		state->stream->close(state->stream);
}

/* A rescan reads the file again from its start (a user's table only). */
static void
scan_rescan(ForeignScanState *node)
{
	CsvScanState *state = node->fdw_state;
	Relation	rel = node->ss.ss_currentRelation;

	if (state->stream == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the rows of load_csv's source \"%s\" can be read only once",
						RelationGetRelationName(rel))));
	scan_end(node);
	state->stream = NULL;
	scan_open_url(state, rel);
	elt_copy_feed_begin(state->source, NULL, rel, NIL, state->copy_options);
}

static void
scan_explain(ForeignScanState *node, ExplainState *es)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(node->ss.ss_currentRelation));
	ListCell   *lc;

	foreach(lc, table->options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "url") == 0)
			ExplainPropertyText("URL", elt_redact_url(defGetString(def)), es);
	}
}

Datum
elt_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = scan_get_rel_size;
	routine->GetForeignPaths = scan_get_paths;
	routine->GetForeignPlan = scan_get_plan;
	routine->BeginForeignScan = scan_begin;
	routine->IterateForeignScan = scan_iterate;
	routine->ReScanForeignScan = scan_rescan;
	routine->EndForeignScan = scan_end;
	routine->ExplainForeignScan = scan_explain;
	PG_RETURN_POINTER(routine);
}
