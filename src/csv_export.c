/*-------------------------------------------------------------------------
 *
 * csv_export.c
 *	  export_csv(query, url, options): a query's rows as CSV (COPY's CSV
 *	  quoting), gzipped when asked, to an object store by a multipart
 *	  upload or to a plain http(s) URL by one PUT.
 *
 *	  To a store the rows stream: a cursor is read in batches, formatted,
 *	  deflated, and every part_size MB go up as a part, so memory stays
 *	  flat whatever the result's size and no temporary file is written.
 *	  The object appears only when the upload completes; an error or a
 *	  cancel on the way aborts the upload, so no partial object is left.
 *	  A PUT carries the whole file in one body, kept in memory (at most
 *	  pg_elt.max_download_size).
 *
 *	  The query runs as the caller, as any query of its session does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "guc.h"
#include "gzip_stream.h"
#include "http_fetch.h"
#include "jsonb_util.h"
#include "load_options.h"
#include "object_store.h"

PG_FUNCTION_INFO_V1(elt_export_csv);

#define EXPORT_BATCH_ROWS	1000
#define EXPORT_MIN_PART_MB	5		/* S3's least part but the last */
#define EXPORT_MAX_PART_MB	1023	/* below a palloc's 1 GB */
#define EXPORT_MAX_PARTS	10000	/* S3's most */

typedef struct ExportOptions
{
	bool		header;
	char		delimiter;
	char	   *null_string;
	int			gzip_level;		/* 0: none */
	int			part_mb;
	LoadOptions http;			/* credential, region, endpoint, headers, timeout */
} ExportOptions;

typedef struct Export
{
	ExportOptions *opts;
	const char *url;
	StoreUpload *upload;		/* to a store; else one PUT of body */
	StringInfoData body;		/* the part (or the file) being filled */
	GzipWriter *gzip;
	uint64		rows;
} Export;

static int
export_option_int(Jsonb *options, const char *key, int min, int max, int dflt)
{
	JsonbValue *v = options ? elt_jsonb_get(options, key) : NULL;
	int			n;

	if (v == NULL)
		return dflt;
	if (v->type != jbvNumeric)
		goto bad;
	n = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)));
	if (n >= min && n <= max)
		return n;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for export option \"%s\"", key),
			 errhint("\"%s\" is a number from %d to %d.", key, min, max)));
	return 0;					/* keep the compiler quiet */
}

/*
 * export_csv's options: header, delimiter, null, gzip (a level 1-9, true
 * for 6, false; by default on for a URL ending in .gz), part_size (MB),
 * and the request's credential, region, endpoint, headers and timeout as
 * load_csv takes them.
 */
static void
export_parse_options(Jsonb *options, const char *url, ExportOptions *opts)
{
	static const char *const known[] = {"header", "delimiter", "null", "gzip", "part_size",
	"credential", "region", "endpoint", "headers", "timeout", NULL};
	JsonbValue *v;
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbValue	jv;
	JsonbIteratorToken tok;
	size_t		len = strlen(url);

	elt_check_jsonb_object(options, "export options");
	opts->header = true;
	opts->delimiter = ',';
	opts->null_string = "";
	/* gzip: a level, or true (6) or false; by default on for a .gz name */
	v = options ? elt_jsonb_get(options, "gzip") : NULL;
	if (v && v->type == jbvBool)
		opts->gzip_level = v->val.boolean ? 6 : 0;
	else
		opts->gzip_level = export_option_int(options, "gzip", 1, 9,
											 len > 3 && pg_strcasecmp(url + len - 3, ".gz") == 0 ? 6 : 0);
	opts->part_mb = export_option_int(options, "part_size", EXPORT_MIN_PART_MB, EXPORT_MAX_PART_MB, 16);
	if (options && (v = elt_jsonb_get(options, "header")))
	{
		if (v->type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for export option \"header\""),
					 errhint("\"header\" is true or false.")));
		opts->header = v->val.boolean;
	}
	if (options && (v = elt_jsonb_get(options, "delimiter")))
	{
		char	   *d = elt_jsonb_value_text(v);

		if (d == NULL || strlen(d) != 1 || *d == '"' || *d == '\n' || *d == '\r')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for export option \"delimiter\""),
					 errhint("The delimiter is one character, not a quote or a line break.")));
		opts->delimiter = *d;
	}
	if (options && (v = elt_jsonb_get(options, "null")))
		opts->null_string = elt_jsonb_value_text(v);

	/* the request's options are load_csv's: parse those keys as it does */
	it = options ? JsonbIteratorInit(&options->root) : NULL;
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	while (it && (tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *key = pnstrdup(jv.val.string.val, jv.val.string.len);
			bool		ok = false;

			for (int i = 0; known[i]; i++)
				ok |= strcmp(known[i], key) == 0;
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown export option \"%s\"", key),
						 errhint("Export options are header, delimiter, null, gzip, part_size, credential, region, endpoint, headers and timeout.")));
			tok = JsonbIteratorNext(&it, &jv, true);
			if (strcmp(key, "credential") == 0 || strcmp(key, "region") == 0 ||
				strcmp(key, "endpoint") == 0 || strcmp(key, "headers") == 0 ||
				strcmp(key, "timeout") == 0)
			{
				JsonbValue	k = {.type = jbvString,.val.string = {strlen(key), key}};

				(void) pushJsonbValue(&state, WJB_KEY, &k);
				(void) pushJsonbValue(&state, WJB_VALUE, &jv);
			}
		}
	}
	elt_parse_load_options(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)),
						   &opts->http, false, false);
}

/* The file's next bytes: into the part, which goes up when full. */
static void
export_sink(void *arg, const char *data, size_t len)
{
	Export	   *e = (Export *) arg;

	appendBinaryStringInfo(&e->body, data, len);
	if (e->upload && (size_t) e->body.len >= (size_t) e->opts->part_mb * 1024 * 1024)
	{
		if (e->upload->parts + 1 >= EXPORT_MAX_PARTS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the export to \"%s\" needs more than %d parts of %d MB", e->url,
							EXPORT_MAX_PARTS, e->opts->part_mb),
					 errhint("Raise the option \"part_size\" (up to %d MB).", EXPORT_MAX_PART_MB)));
		elt_store_upload_part(e->upload, e->body.data, e->body.len);
		resetStringInfo(&e->body);
	}
	else if (!e->upload && elt_max_download_kb > 0 &&
			 (uint64) e->body.len > (uint64) elt_max_download_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the export to \"%s\" is larger than pg_elt.max_download_size", e->url),
				 errhint("A PUT holds the whole file in memory; export to s3:// or gs:// to stream it.")));
}

static void
export_write(Export *e, const char *data, size_t len)
{
	if (e->gzip)
		elt_gzip_write(e->gzip, data, len);
	else
		export_sink(e, data, len);
}

/* A field as COPY's CSV writes it: quoted when it must be. */
static void
export_field(StringInfo line, const char *value, const ExportOptions *opts)
{
	bool		quote;

	if (value == NULL)
	{
		appendStringInfoString(line, opts->null_string);
		return;
	}
	quote = strcmp(value, opts->null_string) == 0 || strchr(value, '"') || strchr(value, '\n') ||
		strchr(value, '\r') || strchr(value, opts->delimiter);
	if (!quote)
	{
		appendStringInfoString(line, value);
		return;
	}
	appendStringInfoChar(line, '"');
	for (const char *c = value; *c; c++)
	{
		if (*c == '"')
			appendStringInfoChar(line, '"');
		appendStringInfoChar(line, *c);
	}
	appendStringInfoChar(line, '"');
}

/* Runs the query through a cursor, writing its rows; returns how many. */
static void
export_rows(Export *e, const char *query)
{
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_elt export batch",
													ALLOCSET_DEFAULT_SIZES);
	StringInfoData line;
	Portal		portal;
	bool		first = true;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_parse_open(NULL, query, &(SPIParseOpenOptions) {.cursorOptions = CURSOR_OPT_NO_SCROLL});
	for (;;)
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, EXPORT_BATCH_ROWS);
		old = MemoryContextSwitchTo(batch_cxt);
		initStringInfo(&line);
		if (first && e->opts->header)
		{
			TupleDesc	desc = portal->tupDesc;

			for (int c = 0; desc && c < desc->natts; c++)
			{
				if (c > 0)
					appendStringInfoChar(&line, e->opts->delimiter);
				export_field(&line, NameStr(TupleDescAttr(desc, c)->attname), e->opts);
			}
			appendStringInfoChar(&line, '\n');
		}
		first = false;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			for (int c = 1; c <= SPI_tuptable->tupdesc->natts; c++)
			{
				if (c > 1)
					appendStringInfoChar(&line, e->opts->delimiter);
				export_field(&line, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c),
							 e->opts);
			}
			appendStringInfoChar(&line, '\n');
		}
		export_write(e, line.data, line.len);
		e->rows += SPI_processed;
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		if (SPI_processed == 0)
			break;
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/* The file is whole: the last part and the completion, or the PUT. */
static void
export_finish(Export *e)
{
	if (e->gzip)
		elt_gzip_finish(e->gzip);
	if (e->upload)
	{
		if (e->body.len > 0 || e->upload->parts == 0)
			elt_store_upload_part(e->upload, e->body.data, e->body.len);
		elt_store_upload_complete(e->upload);
	}
	else
	{
		HttpOptions hopts;
		HttpRequest *req = palloc0(sizeof(HttpRequest));
		char	   *error;
		long		status;

		elt_http_options_for_caller(&e->opts->http, &hopts, true);
		req->method = "PUT";
		req->body = e->body.data;
		req->body_len = e->body.len;
		req->content_type = e->gzip ? "application/gzip" : "text/csv";
		status = elt_http_request(e->url, &hopts, req, &error);
		if (error)
			ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("%s", error)));
		if (status < 200 || status >= 300)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("HTTP status %ld to the PUT of \"%s\"", status, elt_redact_url(e->url))));
	}
}

/*
 * export_csv(query text, url text, options jsonb DEFAULT '{}') RETURNS
 * bigint: the rows written.
 */
Datum
elt_export_csv(PG_FUNCTION_ARGS)
{
	ExportOptions opts;
	Export		e = {0};
	StoreLocation loc;
	char	   *query;
	MemoryContext cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("export_csv needs a query and a URL")));
	elt_require_usage("export_csv");
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	e.url = text_to_cstring(PG_GETARG_TEXT_PP(1));
	export_parse_options(PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), e.url, &opts);
	e.opts = &opts;
	initStringInfo(&e.body);
	if (elt_store_url(e.url))
	{
		HttpOptions hopts;

		elt_store_locate(e.url, opts.http.credential, opts.http.region, opts.http.endpoint, &loc);
		elt_http_options_for_caller(&opts.http, &hopts, false);
		e.upload = elt_store_upload_begin(&loc, &hopts);
		enlargeStringInfo(&e.body, (int) ((size_t) opts.part_mb * 1024 * 1024));
	}
	else
		elt_check_url_allowed(e.url, false);
	if (opts.gzip_level > 0)
		e.gzip = elt_gzip_writer_create(opts.gzip_level, export_sink, &e);

	PG_TRY();
	{
		export_rows(&e, query);
		export_finish(&e);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		elt_store_upload_abort(e.upload);	/* no object, and no parts kept */
		ReThrowError(edata);
	}
	PG_END_TRY();
	PG_RETURN_INT64((int64) e.rows);
}
