/*-------------------------------------------------------------------------
 *
 * csv_load.c
 *	  load_csv(url, table_name, options): the extract step.  Streams a CSV
 *	  file (gzip or plain) from a URL into a table with PostgreSQL's own
 *	  COPY machinery: BeginCopyFrom with a data-source callback, as
 *	  file_fdw and citus do, so parsing, type input, multi-insert batching,
 *	  partition routing and pg_stat_progress_copy are COPY's.  Nothing is
 *	  written to disk and memory does not grow with the file.
 *
 *	  Before COPY starts, the head of the file is read and kept: it names
 *	  the columns (header) and shows their types (csv_infer.c) when the
 *	  table must be created.  COPY then reads that head again from memory,
 *	  followed by the rest of the stream.
 *
 *	  Each attempt runs in a subtransaction.  A transient failure (network,
 *	  5xx, 429, a cut transfer that cannot be resumed, truncated gzip)
 *	  rolls the attempt back (table creation included) and starts again
 *	  after a backoff; so whatever happens, every row is loaded exactly
 *	  once or not at all, and a failed load leaves the table as it was.
 *
 *-------------------------------------------------------------------------
 */
#include "load_insert.h"
#include "object_store.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/copy.h"
#include "commands/copyfrom_internal.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "catalog.h"
#include "citus.h"
#include "copy_feed.h"
#include "csv_infer.h"
#include "csv_load.h"
#include "gzip_stream.h"
#include "http_fetch.h"
#include "jsonb_util.h"
#include "load_parallel.h"
#include "run_log.h"
#include "runtime.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(elt_load_csv_sql);

#define LOAD_SAMPLE_CHUNK	(64 * 1024)
#define LOAD_SAMPLE_MAX		(8 * 1024 * 1024)
#define LOAD_MAX_RETRY_DELAY_MS	(300 * 1000)

/* ---------------------------------------------------------------------
 * The head of the file
 * ---------------------------------------------------------------------
 */

/*
 * Reads ahead until the sample is complete (header plus sample_rows rows,
 * or the whole file if shorter).  Skips a UTF-8 byte order mark.
 */
static void
load_read_head(EltStream *stream, const LoadOptions *opts, StringInfo head,
			   CsvSample *sample)
{
	CsvDialect	dialect = {opts->delimiter, opts->quote, opts->escape, opts->null_string};
	size_t		next_look = LOAD_SAMPLE_CHUNK;
	MemoryContext sample_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_elt sample",
													 ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	bool		done = false;

	while (!done)
	{
		size_t		n;
		bool		at_eof;
		bool		full;

		enlargeStringInfo(head, LOAD_SAMPLE_CHUNK);
		n = stream->read(stream, head->data + head->len, LOAD_SAMPLE_CHUNK);
		head->len += n;
		head->data[head->len] = '\0';
		at_eof = (n == 0);
		full = head->len >= LOAD_SAMPLE_MAX;

		if (head->len >= 3 && memcmp(head->data, "\xEF\xBB\xBF", 3) == 0)
		{
			memmove(head->data, head->data + 3, head->len - 3 + 1);
			head->len -= 3;
		}
		/* look at what has come each time it doubles: linear work in all */
		if (!at_eof && !full && (size_t) head->len < next_look)
			continue;
		next_look *= 2;
		MemoryContextReset(sample_cxt);
		old = MemoryContextSwitchTo(sample_cxt);
		done = elt_csv_sample(head->data, head->len, at_eof, full, &dialect, opts->header,
							  opts->sample_rows, sample);
		MemoryContextSwitchTo(old);
	}
	if (sample->ncolumns == 0 && head->len >= LOAD_SAMPLE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("line 1 of \"%s\" is longer than %d MB, the most pg_elt reads to learn the file's columns",
						stream->display_url, LOAD_SAMPLE_MAX / (1024 * 1024)),
				 errhint("If no line of the file is that long, a quote character is unbalanced: check the \"quote\" option.")));
}

/*
 * Header names come straight from the file: convert them from the file's
 * encoding, and refuse bytes that are not text in the server's, before
 * they become column names.
 */
static void
load_header_to_server(CsvSample *sample, const LoadOptions *opts, const char *display_url)
{
	int			file_encoding = opts->encoding ? pg_char_to_encoding(opts->encoding) : -1;

	for (int i = 0; sample->names && i < sample->ncolumns; i++)
	{
		char	   *name = sample->names[i];

		if (file_encoding >= 0)
			name = pg_any_to_server(name, strlen(name), file_encoding);
		else if (!pg_verifymbstr(name, strlen(name), true))
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("header field %d of \"%s\" is not valid %s", i + 1, display_url,
							GetDatabaseEncodingName()),
					 errhint("Give the file's encoding with the \"encoding\" option.")));
		sample->names[i] = name;
	}
}

/* ---------------------------------------------------------------------
 * The target table
 * ---------------------------------------------------------------------
 */

/*
 * Runs a parser on a user's string; its error is reported with message
 * and the parser's complaint as detail, so that it names the option and
 * carries no cursor position into the caller's query.
 */
static void
load_parse_or_report(void (*parse) (void *), void *arg, const char *message)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		parse(arg);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(e->sqlerrcode),
				 errmsg_internal("%s", message),
				 errdetail_internal("%s", e->message),
				 errhint("Names follow SQL rules: quote those with capitals or special characters, e.g. '\"My Table\"'.")));
	}
	PG_END_TRY();
}

typedef struct TypeParse
{
	const char *text;
	Oid			typid;
	int32		typmod;
} TypeParse;

static void
load_parse_type(void *arg)
{
	TypeParse  *tp = arg;

	parseTypeString(tp->text, &tp->typid, &tp->typmod, false);
}

typedef struct NameParse
{
	const char *text;
	RangeVar   *rv;
} NameParse;

static void
load_parse_name(void *arg)
{
	NameParse  *np = arg;

	np->rv = makeRangeVarFromNameList(stringToQualifiedNameList(np->text));
}

static RangeVar *
load_parse_table_name(const char *table_name)
{
	NameParse	np = {table_name};

	load_parse_or_report(load_parse_name, &np,
						 psprintf("invalid table name \"%s\"", table_name));
	return np.rv;
}

/* The table a load's table name finds now, as the load would; InvalidOid: none. */
Oid
elt_load_table_oid(const char *table_name)
{
	return RangeVarGetRelid(load_parse_table_name(table_name), NoLock, true);
}

static char *
load_qualified_name(RangeVar *rv)
{
	return rv->schemaname ? quote_qualified_identifier(rv->schemaname, rv->relname)
		: (char *) quote_identifier(rv->relname);
}

static void
load_exec_ddl(const char *sql)
{
	SPI_connect();
	SPI_execute(sql, false, 0);
	SPI_finish();
}

/* The type a "types" entry gives the column, or NULL. */
static char *
load_type_override(const LoadOptions *opts, const char *raw, const char *name, bool *used)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, opts->types)
	{
		List	   *pair = lfirst(lc);
		const char *key = linitial(pair);

		if ((raw && strcmp(key, raw) == 0) || strcmp(key, name) == 0)
		{
			TypeParse	tp = {lsecond(pair)};

			load_parse_or_report(load_parse_type, &tp,
								 psprintf("invalid type \"%s\" for column \"%s\" in load option \"types\"",
										  tp.text, key));
			used[i] = true;
			return format_type_with_typemod(tp.typid, tp.typmod);
		}
		i++;
	}
	return NULL;
}

/*
 * Creates the table from the sample: names from "columns", the header or
 * column_N; types from "types" or inference.  Returns the column names.
 */
static List *
load_create_table(RangeVar *rv, const LoadOptions *opts, const CsvSample *sample,
				  const char *display_url)
{
	int			ncols = opts->columns ? list_length(opts->columns) : sample->ncolumns;
	StringInfoData sql;
	List	   *names = NIL;
	bool	   *used = palloc0(sizeof(bool) * (list_length(opts->types) + 1));

	if (ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot create table \"%s\" from \"%s\": the file has no columns",
						rv->relname, display_url),
				 errdetail("The file is empty."),
				 errhint("Create the table first, or name its columns with the \"columns\" option.")));

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (", load_qualified_name(rv));
	for (int i = 0; i < ncols; i++)
	{
		const char *raw = (sample->names && i < sample->ncolumns) ? sample->names[i] : NULL;
		char	   *name;
		char	   *type;

		char	   *base;

		if (opts->columns)
			base = list_nth(opts->columns, i);
		else
			base = raw ? elt_normalize_column_name(raw) : "";
		if (base[0] == '\0')
			base = psprintf("column_%d", i + 1);
		/* as PostgreSQL will truncate it, so that duplicates are seen */
		base = pnstrdup(base, pg_mbcliplen(base, strlen(base), NAMEDATALEN - 1));
		/* make duplicates unique: a, a_2, a_3, the suffix kept whole */
		name = base;
		for (int suffix = 2; list_member(names, makeString(name)); suffix++)
		{
			char		tail[16];

			snprintf(tail, sizeof(tail), "_%d", suffix);
			name = psprintf("%.*s%s",
							pg_mbcliplen(base, strlen(base), NAMEDATALEN - 1 - strlen(tail)),
							base, tail);
		}
		names = lappend(names, makeString(name));

		type = load_type_override(opts, raw, name, used);
		if (type == NULL)
			type = (i < sample->ncolumns && sample->types) ? sample->types[i] : "text";
		appendStringInfo(&sql, "%s%s %s", i > 0 ? ", " : "", quote_identifier(name), type);
	}
	appendStringInfoChar(&sql, ')');

	for (int i = 0; i < list_length(opts->types); i++)
		if (!used[i])
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("load option \"types\" names column \"%s\", which \"%s\" does not have",
							(char *) linitial(list_nth(opts->types, i)), display_url)));

	load_exec_ddl(sql.data);
	return names;
}

/*
 * The table columns COPY fills, in file order, for a table that existed:
 * each header field matches a column of the same name, else of its
 * normalised name.
 */
static List *
load_map_header(Relation rel, const CsvSample *sample)
{
	List	   *names = NIL;

	for (int i = 0; i < sample->ncolumns; i++)
	{
		const char *raw = sample->names[i];
		char	   *norm = elt_normalize_column_name(raw);

		if (get_attnum(RelationGetRelid(rel), raw) != InvalidAttrNumber)
			names = lappend(names, makeString(pstrdup(raw)));
		else if (get_attnum(RelationGetRelid(rel), norm) != InvalidAttrNumber)
			names = lappend(names, makeString(norm));
		else
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("table \"%s\" has no column for header field \"%s\"",
							RelationGetRelationName(rel), raw),
					 errhint("Add a column named \"%s\", or list the table's columns in file order with the \"columns\" option.",
							 norm)));
	}
	return names;
}

/* What DoCopy checks before a COPY FROM and BeginCopyFrom does not. */
static void
load_check_permissions(ParseState *pstate, Relation rel, List *attnamelist)
{
	RangeTblEntry *rte;
	List	   *attnums = CopyGetAttnums(RelationGetDescr(rel), rel, attnamelist);
	ListCell   *lc;

	rte = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false)->p_rte;
	rte->requiredPerms = ACL_INSERT;
	foreach(lc, attnums)
		rte->insertedCols = bms_add_member(rte->insertedCols,
										   lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber);
	ExecCheckRTPerms(pstate->p_rtable, true);
	/* row-level security: elt_choose_load_path sends such tables through the executor */
}

/*
 * Rewrites a data error from COPY so that it names what a user needs to
 * fix it: the line of the file, the column, its type and the value.
 */
void
elt_load_report_row_error(ErrorData *edata, CopyFromState cstate, Relation rel,
						  const char *display_url, bool types_inferred, int sample_rows)
{
	const char *att = cstate->cur_attname;
	const char *val = cstate->cur_attval;
	char	   *type = NULL;

	if (att)
	{
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), att);

		if (attnum != InvalidAttrNumber)
			type = format_type_be(get_atttype(RelationGetRelid(rel), attnum));
	}
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("could not load line " UINT64_FORMAT " of \"%s\" into table \"%s\": %s",
					cstate->cur_lineno, display_url, RelationGetRelationName(rel),
					edata->message),
			 (att && val) ?
			 errdetail("Column \"%s\" (%s), value \"%s\".", att, type ? type : "?", val) :
			 att ? errdetail("Column \"%s\".", att) :
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
			 (types_inferred && att && type) ?
			 errhint("The column's type was inferred from the first %d rows; set it with the \"types\" option, e.g. {\"types\": {\"%s\": \"text\"}}.",
					 sample_rows, att) :
			 (edata->sqlerrcode == ERRCODE_BAD_COPY_FILE_FORMAT) ?
			 errhint("Every line must have the same number of fields as the header; check the delimiter and quote options.") :
			 (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION) ?
			 errhint("Fix the value in the file, or change the column's type.") :
			 edata->hint ? errhint("%s", edata->hint) : 0));
}

/*
 * Checks, before a byte is read, that the load can go where it is told:
 * the target (when it exists) is something a path can load, and the mode
 * would not change what kind of table it is.  A conditional load may find
 * the table that mode create made before: it is refused only if the
 * source changed (load_attempt checks again).
 */
static void
load_check_target(const RangeVar *rv, const LoadOptions *opts, bool conditional)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);
	Relation	rel;
	CitusDistribution asked;

	elt_citus_requested(opts, &asked);	/* refuses Citus options without Citus */
	/* a load writes, on either path (a temporary table excepted) */
	if (XactReadOnly && !(OidIsValid(relid) && get_rel_persistence(relid) == RELPERSISTENCE_TEMP))
		PreventCommandIfReadOnly("load_csv");
	if (!OidIsValid(relid))
		return;
	if (opts->mode == LOAD_CREATE && !conditional)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("table \"%s\" already exists", rv->relname),
				 errhint("Mode \"create\" makes a new table; use append, truncate or replace to load into an existing one.")));
	rel = relation_open(relid, AccessShareLock);
	(void) elt_choose_load_path(rel, opts->path);
	if ((opts->mode == LOAD_REPLACE || opts->mode == LOAD_TRUNCATE) &&
		rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("mode \"%s\" needs a table, and \"%s\" is a %s",
						opts->mode == LOAD_REPLACE ? "replace" : "truncate", rv->relname,
						rel->rd_rel->relkind == RELKIND_VIEW ? "view" : "foreign table"),
				 errhint("Use mode \"append\".")));
	relation_close(rel, AccessShareLock);
}

/*
 * Whether an error of class cls, raised while rows were being loaded, is
 * about the row at hand, so that naming its line helps: bad values and
 * violated constraints; on the executor path also policies, triggers'
 * RAISEs and the like, which COPY's path never meets.
 */
bool
elt_load_error_is_the_rows(int cls, LoadPath path)
{
	if (cls == ERRCODE_DATA_EXCEPTION || cls == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
		return true;
	return path == LOAD_PATH_INSERT &&
		(cls == ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION || cls == ERRCODE_PLPGSQL_ERROR ||
		 cls == ERRCODE_FEATURE_NOT_SUPPORTED);
}

/* One attempt at the load, inside the caller's subtransaction. */
static uint64
load_attempt(const char *url, RangeVar *rv, const LoadOptions *opts, const HttpOptions *hopts,
			 uint64 *bytes)
{
	EltStream  *source = elt_open_url(url, hopts);
	EltStream  *stream = elt_gzip_open_if_compressed(elt_gzip_open_if_compressed(source));
	StringInfoData head;
	CsvSample	sample;
	Oid			relid;
	bool		created = false;
	List	   *attnames = NIL;
	Relation	rel;
	CopyFeed   *src;
	CitusDistribution distribution;
	LoadPath	path;
	uint64		rows;

	if (hopts->not_modified && *hopts->not_modified)
	{
		stream->close(stream);	/* the caller's copy is current: nothing to load */
		return 0;
	}
	/*
	 * A table that stays as it is needs no types from the file: read only
	 * its header (small loads into an existing table skip the sampler).
	 */
	relid = RangeVarGetRelid(rv, NoLock, true);
	initStringInfo(&head);
	if (OidIsValid(relid) && (opts->mode == LOAD_APPEND || opts->mode == LOAD_TRUNCATE))
	{
		LoadOptions header_only = *opts;

		header_only.sample_rows = 0;
		load_read_head(stream, &header_only, &head, &sample);
	}
	else
		load_read_head(stream, opts, &head, &sample);
	load_header_to_server(&sample, opts, stream->display_url);

	if (OidIsValid(relid) && opts->mode == LOAD_CREATE)
		load_check_target(rv, opts, false); /* made since the first check: refused */
	/* a table made anew is distributed as asked, or as the one it replaces was */
	elt_citus_requested(opts, &distribution);
	if (OidIsValid(relid) && opts->mode == LOAD_REPLACE)
	{
		if (distribution.kind == CITUS_NONE)
			elt_citus_describe(relid, &distribution);
		load_exec_ddl(psprintf("DROP TABLE %s", load_qualified_name(rv)));
		relid = InvalidOid;
	}
	if (!OidIsValid(relid))
	{
		attnames = load_create_table(rv, opts, &sample, stream->display_url);
		elt_citus_distribute(RangeVarGetRelid(rv, NoLock, false), &distribution);
		created = true;
	}
	else if (opts->mode == LOAD_TRUNCATE)
		load_exec_ddl(psprintf("TRUNCATE %s", load_qualified_name(rv)));

	rel = table_openrv(rv, RowExclusiveLock);
	if (opts->columns)
	{
		ListCell   *lc;

		attnames = NIL;
		foreach(lc, opts->columns)
			attnames = lappend(attnames, makeString(lfirst(lc)));
	}
	else if (!created && opts->header && sample.names)
		attnames = load_map_header(rel, &sample);
	/* chosen once the table is there: a table made in a distributed schema is Citus's */
	path = elt_choose_load_path(rel, opts->path);

	src = elt_copy_feed_create(stream, source, &head);
	PG_TRY();
	{
		if (path == LOAD_PATH_INSERT)
			rows = elt_load_insert(rel, attnames, src, elt_copy_options(opts));
		else
		{
			ParseState *pstate = make_parsestate(NULL);
			int			nworkers;

			load_check_permissions(pstate, rel, attnames);
			nworkers = elt_load_parallel_workers(rel, opts, source);
			if (nworkers == 0 ||
				!elt_load_parallel(src, rel, attnames, opts, nworkers, created, &rows))
			{
				elt_copy_feed_begin(src, pstate, rel, attnames, elt_copy_options(opts));
				rows = elt_copy_feed_copy(src);
				EndCopyFrom(src->cstate);
			}
			free_parsestate(pstate);
		}
	}
	PG_CATCH();
	{
		MemoryContext ecxt = MemoryContextSwitchTo(CurTransactionContext);
		ErrorData  *edata;
		int			cls;

		edata = CopyErrorData();
		cls = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
		MemoryContextSwitchTo(ecxt);
		if (!elt_load_error_is_the_rows(cls, path) || src->cstate == NULL || src->cstate->cur_lineno == 0)
			PG_RE_THROW();
		FlushErrorState();
		elt_load_report_row_error(edata, src->cstate, rel, stream->display_url, created, opts->sample_rows);
	}
	PG_END_TRY();

	table_close(rel, NoLock);
	*bytes = source->received;
	stream->close(stream);
	return rows;
}

/* ---------------------------------------------------------------------
 * The load, with retries
 * ---------------------------------------------------------------------
 */

/*
 * The memory of an attempt.  Small loads one after another spent more
 * time faulting the same memory in again than loading: deleting an
 * attempt's context freed its large blocks (the inflater's buffers, COPY's
 * batch), and the C library gave the top of the heap back to the kernel
 * each time.  So the session keeps one attempt context, reset, with its
 * first block (LOAD_ATTEMPT_KEPT) for the next load; a load nested in
 * another (from a trigger on its table) makes one of its own.
 */
#define LOAD_ATTEMPT_KEPT	(1024 * 1024)

static MemoryContext spare_attempt_cxt = NULL;

static MemoryContext
load_attempt_context_take(void)
{
	MemoryContext cxt = spare_attempt_cxt;

	if (cxt == NULL)
		return AllocSetContextCreate(TopMemoryContext, "pg_elt load",
									 LOAD_ATTEMPT_KEPT, LOAD_ATTEMPT_KEPT,
									 ALLOCSET_DEFAULT_MAXSIZE);
	spare_attempt_cxt = NULL;
	return cxt;
}

/* Releases what the attempt holds (curl and zlib too); keeps one context. */
static void
load_attempt_context_release(MemoryContext cxt)
{
	if (spare_attempt_cxt == NULL)
	{
		MemoryContextReset(cxt);
		spare_attempt_cxt = cxt;
	}
	else
		MemoryContextDelete(cxt);
}

static bool
load_error_is_transient(int sqlerrcode)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_CONNECTION_EXCEPTION;
}

/*
 * Loads one file, url: an http(s) or file URL, or (store set) the https
 * URL of an object-store object, shown as display.
 */
static uint64
load_url(const char *url, const StoreLocation *store, const char *display,
		 const char *table_name, const LoadOptions *opts, LoadSource *source)
{
	RangeVar   *rv;
	HttpOptions hopts;
	int			retry_after_ms = 0;
	MemoryContext caller_cxt = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;

	elt_http_options_for_caller(opts, &hopts, store == NULL);
	if (store)
	{
		elt_store_http_options(store, &hopts);
		hopts.display_url = display;
	}
	hopts.retry_after_ms = &retry_after_ms;
	source->not_modified = false;
	source->bytes = 0;
	source->table = InvalidOid;
	elt_http_headers_reset(&source->response);
	hopts.response = &source->response;
	hopts.if_none_match = source->if_none_match;
	hopts.if_modified_since = source->if_modified_since;
	hopts.not_modified = &source->not_modified;
	elt_check_url_allowed(url, hopts.allow_file);
	rv = load_parse_table_name(table_name);
	load_check_target(rv, opts, source->if_none_match || source->if_modified_since);

	for (int attempt = 0;; attempt++)
	{
		MemoryContext attempt_cxt;
		volatile uint64 rows = 0;
		ErrorData  *volatile edata = NULL;
		long		delay_ms;

		BeginInternalSubTransaction(NULL);
		attempt_cxt = load_attempt_context_take();
		MemoryContextSwitchTo(attempt_cxt);
		PG_TRY();
		{
			rows = load_attempt(url, rv, opts, &hopts, &source->bytes);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(caller_cxt);
			CurrentResourceOwner = caller_owner;
			load_attempt_context_release(attempt_cxt);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(caller_cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(caller_cxt);
			CurrentResourceOwner = caller_owner;
			load_attempt_context_release(attempt_cxt);
		}
		PG_END_TRY();

		if (edata == NULL)
		{
			source->table = RangeVarGetRelid(rv, NoLock, true);
			return rows;
		}
		if (!load_error_is_transient(edata->sqlerrcode) || attempt >= opts->retries)
			ReThrowError(edata);

		delay_ms = retry_after_ms;
		if (delay_ms == 0)
			delay_ms = (long) Min(opts->retry_delay * 1000 * (1 << Min(attempt, 16)),
								  LOAD_MAX_RETRY_DELAY_MS);
		if (hopts.deadline != 0 &&
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay_ms) >= hopts.deadline)
			ReThrowError(edata);
		ereport(NOTICE,
				(errmsg("attempt %d of %d failed: %s",
						attempt + 1, opts->retries + 1, edata->message),
				 errdetail("Retrying in %.1f s.", delay_ms / 1000.0)));
		FreeErrorData(edata);
		elt_sleep_interruptible(delay_ms);
	}
}

/* The ledger's name for table_name: schema-qualified, as it resolves now. */
static char *
load_ledger_target(const char *table_name)
{
	RangeVar   *rv = load_parse_table_name(table_name);
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	if (OidIsValid(relid))
		return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
	return quote_qualified_identifier(rv->schemaname ? rv->schemaname :
									  get_namespace_name(RangeVarGetCreationNamespace(rv)),
									  rv->relname);
}

/*
 * Should an incremental load take obj: not in the ledger of the current
 * role's loads into table_name, or there with another ETag and
 * reload_changed?  Says why not; claims it when so.
 */
static bool
load_ledger_wants(const StoreObject *obj, const char *target, const char *table_name,
				  bool reload_changed)
{
	char	   *owner = GetUserNameFromId(GetUserId(), false);
	char	   *etag = NULL;
	Oid			target_oid = InvalidOid;
	Oid			now_oid;

	if (!elt_catalog_ledger_find(owner, target, obj->url, &etag, &target_oid))
		return elt_catalog_ledger_claim(owner, target, obj->url, obj->etag, obj->size, false);
	now_oid = RangeVarGetRelid(load_parse_table_name(table_name), NoLock, true);
	if (etag && obj->etag && strcmp(etag, obj->etag) != 0)
	{
		if (reload_changed)
			return elt_catalog_ledger_claim(owner, target, obj->url, obj->etag, obj->size, true);
		ereport(NOTICE,
				(errmsg("\"%s\" changed since it was loaded into %s; not loaded again", obj->url,
						target),
				 errdetail("Its ETag was %s and is %s.", etag, obj->etag),
				 errhint("The option \"reload_changed\": true loads a changed object again.")));
	}
	else if (target_oid != now_oid)
		ereport(NOTICE,
				(errmsg("\"%s\" was loaded into an earlier table %s; not loaded again", obj->url,
						target),
				 errhint("Delete its row from elt.loaded_files to load it into this one.")));
	return false;
}

/* Completes obj's claim on target: loaded into table, by which run. */
static void
load_ledger_record(const StoreObject *obj, const char *target, Oid table, uint64 rows)
{
	int64		run_id = 0;

	(void) elt_run_log_current(&run_id, NULL);
	elt_catalog_ledger_record(GetUserNameFromId(GetUserId(), false), target, obj->url, table,
							  (int64) rows, run_id);
}

/*
 * Loads what an s3:// or gs:// URL names: its object, or each object of
 * its listing in key order, the first as opts->mode says and the others
 * appended, all in the caller's transaction (so all or none).
 */
static uint64
load_from_store(const char *url, const char *table_name, const LoadOptions *opts,
				LoadSource *source)
{
	StoreLocation loc;
	HttpOptions hopts;
	List	   *objects;
	ListCell   *lc;
	LoadOptions each = *opts;
	uint64		rows = 0;
	int			loaded = 0;
	int			skipped = 0;
	char	   *target = NULL;	/* the ledger's name of the table, resolved once */

	elt_store_locate(url, opts->credential, opts->region, opts->endpoint, &loc);
	if (!elt_store_is_listing(&loc) && !opts->incremental)
		return load_url(elt_store_http_url(&loc, loc.key), &loc, url, table_name, opts, source);

	elt_http_options_for_caller(opts, &hopts, false);
	objects = elt_store_list(&loc, &hopts);
	if (opts->incremental)
		target = load_ledger_target(table_name);
	source->not_modified = false;
	source->bytes = 0;
	source->table = InvalidOid;
	elt_http_headers_reset(&source->response);
	if (objects == NIL)
	{
		ereport(opts->require_match ? ERROR : NOTICE,
				(errcode(opts->require_match ? ERRCODE_UNDEFINED_FILE : ERRCODE_SUCCESSFUL_COMPLETION),
				 errmsg("no object matches \"%s\"%s", url, opts->require_match ? "" : ": nothing loaded"),
				 errhint("elt.list_files shows what the bucket holds.")));
		return 0;
	}
	foreach(lc, objects)
	{
		StoreObject *obj = lfirst(lc);
		LoadSource	one = {0};
		uint64		n;

		if (opts->incremental && !load_ledger_wants(obj, target, table_name, opts->reload_changed))
		{
			skipped++;
			continue;
		}
		n = load_url(elt_store_http_url(&loc, obj->key), &loc, obj->url, table_name, &each, &one);
		if (opts->incremental)
			load_ledger_record(obj, target, one.table, n);
		rows += n;
		loaded++;
		source->bytes += one.bytes;
		source->table = one.table;
		each.mode = LOAD_APPEND;
	}
	if (opts->incremental)
		ereport(NOTICE,
				(errmsg("loaded %d new object%s of \"%s\": " UINT64_FORMAT " rows; %d loaded before",
						loaded, loaded == 1 ? "" : "s", url, rows, skipped)));
	else
		ereport(NOTICE,
				(errmsg("loaded %d object%s of \"%s\": " UINT64_FORMAT " rows", loaded,
						loaded == 1 ? "" : "s", url, rows)));
	return rows;
}

uint64
elt_load_csv(const char *url, const char *table_name, const LoadOptions *opts, LoadSource *source)
{
	if (url == NULL || table_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("load_csv needs a URL and a table name")));
	if (elt_store_url(url))
		return load_from_store(url, table_name, opts, source);
	return load_url(url, NULL, url, table_name, opts, source);
}

/*
 * load_csv(url text, table_name text, options jsonb DEFAULT '{}')
 * RETURNS bigint: the number of rows loaded.
 */
Datum
elt_load_csv_sql(PG_FUNCTION_ARGS)
{
	LoadOptions opts;
	LoadSource	source = {0};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("load_csv needs a URL and a table name")));
	elt_require_usage("load_csv");
	elt_parse_load_options(PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), &opts, false, false);
	PG_RETURN_INT64((int64) elt_load_csv(text_to_cstring(PG_GETARG_TEXT_PP(0)),
										 text_to_cstring(PG_GETARG_TEXT_PP(1)), &opts, &source));
}
