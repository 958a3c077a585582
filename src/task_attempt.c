/*-------------------------------------------------------------------------
 *
 * task_attempt.c
 *	  One attempt of one task: its SQL, or its extract (csv_load.c), in a
 *	  transaction of its own, under the task's timeout (and what is left of
 *	  the flow's), recorded in elt.task_runs with its log lines.  Both the
 *	  coordinator, for a task it runs itself, and a helper worker run
 *	  attempts through here.
 *
 *	  Each attempt is one transaction, so a completed load stays committed
 *	  when a later task fails and a failed attempt leaves nothing behind.
 *	  Whether a failure is worth another attempt is decided here too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "csv_load.h"
#include "flow_run.h"
#include "http_fetch.h"
#include "jsonb_util.h"
#include "run_log.h"
#include "run_worker.h"
#include "runtime.h"
#include "task_attempt.h"
#include "task_cache.h"
#include "templates.h"

/* The largest result of a SQL task kept (its first row, as JSON). */
#define RESULT_MAX_BYTES	(64 * 1024)

/*
 * Errors that a retry cannot cure fail a task at once: bad data, bad SQL,
 * missing objects or privileges, a missing file (HTTP 404), exceeded
 * limits, corrupt data.  Everything else (network, server errors, locks,
 * serialization failures, timeouts) is worth another attempt.
 */
static bool
error_is_retryable(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	if (category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		category == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ||
		category == ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION ||
		category == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		category == ERRCODE_FEATURE_NOT_SUPPORTED ||
		category == ERRCODE_DEPENDENT_PRIVILEGE_DESCRIPTORS_STILL_EXIST ||
		category == ERRCODE_INVALID_SCHEMA_NAME ||
		category == ERRCODE_INVALID_CATALOG_NAME)
		return false;
	return sqlerrcode != ERRCODE_UNDEFINED_FILE && sqlerrcode != ERRCODE_DATA_CORRUPTED;
}

/*
 * A row as a jsonb object, in cxt; NULL (with a warning in the run's log)
 * when its JSON is over RESULT_MAX_BYTES.
 */
static Jsonb *
row_as_jsonb(HeapTuple row, TupleDesc desc, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TupleDesc	blessed = BlessTupleDesc(CreateTupleDescCopy(desc));
	text	   *json = DatumGetTextPP(DirectFunctionCall1(row_to_json,
														  heap_copy_tuple_as_datum(row, blessed)));
	Jsonb	   *result = NULL;

	if (VARSIZE_ANY_EXHDR(json) <= RESULT_MAX_BYTES)
		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													CStringGetDatum(text_to_cstring(json))));
	else
		elt_run_logf(WARNING, "result not kept: the first row is %zu bytes as JSON, over the limit of %d",
					 (size_t) VARSIZE_ANY_EXHDR(json), RESULT_MAX_BYTES);
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * What one attempt works with, and what it comes to: the kinds below fill
 * in out, and cache.
 */
typedef struct Attempt
{
	RunWorker  *w;
	TaskDef    *task;
	Jsonb	   *params;			/* the run's, upstream results and an instance's item */
	Jsonb	   *upstream;		/* the upstream results alone, or NULL */
	MemoryContext cxt;			/* outlives the attempt's transaction */
	AttemptOutcome out;
	TaskCache	cache;
	Oid			target;			/* an extract's table, for its cache entry */
} Attempt;

/*
 * Looks the attempt's cache entry up by its inputs (as the kind spells
 * them); the entry stays in a->cache for the kind to judge.
 */
static void
attempt_open_cache(Attempt *a, const char *inputs)
{
	MemoryContext old = MemoryContextSwitchTo(a->cxt);

	elt_task_cache_open(&a->cache, a->w->run_id, a->task, inputs, a->upstream, a->params);
	MemoryContextSwitchTo(old);
}

/* Ends the attempt cached when an entry may be taken as it is (sql, flow). */
static bool
attempt_take_cached(Attempt *a, const char *inputs)
{
	attempt_open_cache(a, inputs);
	if (!elt_task_cache_usable(&a->cache))
		return false;
	elt_task_cache_take(&a->cache, &a->out, NULL);
	return true;
}

/*
 * What pg_stat_activity.query shows of a task at work: the statement it
 * runs, or what it loads (the URL without credentials), which is what a DBA
 * chasing a lock or a slow query looks for; application_name says which run
 * and task, and query_start when this step began.
 */
static void
attempt_report_activity(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * Runs the task's statements one by one, as SPI_execute would, so that
 * the first row of the last one that returned rows can be its result.
 */
static void
run_sql(Attempt *a)
{
	TaskDef    *task = a->task;
	char	   *sql = elt_substitute(task->sql, a->params, psprintf("task \"%s\"", task->name));
	List	   *statements;
	ListCell   *lc;
	StringInfoData inputs;
	MemoryContext old;

	old = MemoryContextSwitchTo(a->cxt);
	elt_json_begin(&inputs);
	elt_json_add_string(&inputs, "sql", sql);
	a->out.inputs = elt_json_end(&inputs);
	MemoryContextSwitchTo(old);
	if (attempt_take_cached(a, sql))
		return;
	statements = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, statements)
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		char	   *statement = rs->stmt_len > 0 ?
			pnstrdup(sql + rs->stmt_location, rs->stmt_len) : pstrdup(sql + rs->stmt_location);
		int			rc;

		/* a statement after the first starts with the white space before it */
		while (scanner_isspace(*statement))
			statement++;
		attempt_report_activity(statement);
		rc = SPI_execute(statement, false, 0);

		if (rc == SPI_ERROR_TRANSACTION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("task SQL cannot contain transaction control"),
					 errhint("Each task attempt runs in a transaction of its own; split the work into tasks.")));
		if (rc < 0)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
		a->out.rows = SPI_processed;
		if (SPI_tuptable != NULL && SPI_processed > 0)
			a->out.result = row_as_jsonb(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, a->cxt);
	}
	SPI_finish();
}

/* The config an extract ran with: the URL's credentials removed, header values masked. */
static Jsonb *
extract_inputs(Jsonb *config)
{
	StringInfoData buf;
	JsonbIterator *it = JsonbIteratorInit(&config->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	elt_json_begin(&buf);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok != WJB_VALUE)
			continue;
		else if (strcmp(key, "url") == 0 && v.type == jbvString)
			elt_json_add_string(&buf, key, elt_redact_url(pnstrdup(v.val.string.val,
																	 v.val.string.len)));
		else if (strcmp(key, "headers") == 0 && v.type == jbvBinary)
		{
			Jsonb	   *headers = JsonbValueToJsonb(&v);
			JsonbIterator *hit = JsonbIteratorInit(&headers->root);
			StringInfoData masked;

			elt_json_begin(&masked);
			while ((tok = JsonbIteratorNext(&hit, &v, true)) != WJB_DONE)
				if (tok == WJB_KEY)
					elt_json_add_string(&masked, pnstrdup(v.val.string.val, v.val.string.len),
										"(masked)");
			appendStringInfoChar(&masked, '}');
			elt_json_add_json(&buf, key, masked.data);
		}
		else
			elt_json_add_json(&buf, key, elt_jsonb_value_json(&v));
	}
	return elt_json_end(&buf);
}

/*
 * Whether an extract's cache entry still stands, before the source is
 * asked: its table must be the one the entry loaded.  Then the load asks
 * the source with the entry's validators; without any, the entry stands
 * until it expires.
 */
static void
extract_judge_cache(Attempt *a, const char *table, LoadSource *source)
{
	if (!elt_task_cache_usable(&a->cache))
		return;
	if (elt_load_table_oid(table) != a->cache.entry.target)
	{
		elt_task_cache_refuse(&a->cache, psprintf("table %s was dropped or re-created since", table));
		return;
	}
	source->if_none_match = elt_task_cache_validator(&a->cache, "etag");
	source->if_modified_since = elt_task_cache_validator(&a->cache, "last_modified");
}

static void
run_extract(Attempt *a)
{
	Jsonb	   *config = elt_substitute_jsonb(a->task->config, a->params, NULL);
	LoadOptions opts;
	LoadSource	source = {0};
	char	   *url = elt_jsonb_value_text(elt_jsonb_get(config, "url"));
	char	   *table = elt_jsonb_value_text(elt_jsonb_get(config, "table"));
	bool		conditional;
	MemoryContext old;
	StringInfoData result;

	old = MemoryContextSwitchTo(a->cxt);
	a->out.inputs = extract_inputs(config);
	MemoryContextSwitchTo(old);
	elt_parse_load_options(config, &opts, true, false);
	attempt_open_cache(a, JsonbToCString(NULL, &config->root, VARSIZE(config)));
	extract_judge_cache(a, table, &source);
	conditional = source.if_none_match || source.if_modified_since;
	if (elt_task_cache_usable(&a->cache) && !conditional)
	{
		elt_task_cache_take(&a->cache, &a->out, NULL);
		return;
	}

	attempt_report_activity(psprintf("loading %s into %s", elt_redact_url(url), table));
	a->out.rows = elt_load_csv(url, table, &opts, &source);
	if (source.not_modified)
	{
		elt_task_cache_take(&a->cache, &a->out, " (the source answered 304 Not Modified)");
		return;
	}
	if (conditional)
		elt_task_cache_refuse(&a->cache, "the source changed, and was loaded afresh");
	a->out.bytes = source.bytes;
	a->target = source.table;
	elt_run_logf(INFO, "loaded " UINT64_FORMAT " rows into %s", a->out.rows, table);

	old = MemoryContextSwitchTo(a->cxt);
	elt_json_begin(&result);
	elt_json_add_int(&result, "rows", (int64) a->out.rows);
	elt_json_add_int(&result, "bytes", (int64) source.bytes);
	elt_json_add_string(&result, "url", elt_redact_url(url));
	elt_json_add_string(&result, "table", table);
	elt_json_add_string(&result, "etag", source.response.etag[0] ? source.response.etag : NULL);
	elt_json_add_string(&result, "last_modified",
						source.response.last_modified[0] ? source.response.last_modified : NULL);
	elt_json_add_int(&result, "size", (int64) source.bytes);
	/* a fresh load is a new result: tasks downstream of it miss their cache */
	elt_json_add_string(&result, "loaded_at",
						JsonEncodeDateTime(NULL, TimestampTzGetDatum(GetCurrentTimestamp()),
										   TIMESTAMPTZOID, NULL));
	a->out.result = elt_json_end(&result);
	MemoryContextSwitchTo(old);
}

/*
 * A task of kind flow: the subflow runs as a child of this run and task
 * (flow_run.c); its outcome is the task's, its tasks' results its result.
 */
static void
run_flow(Attempt *a)
{
	Jsonb	   *config = elt_substitute_jsonb(a->task->config, a->params, NULL);
	char	   *name = elt_jsonb_value_text(elt_jsonb_get(config, "flow"));
	JsonbValue *given = elt_jsonb_get(config, "params");
	FlowDef    *child;
	Jsonb	   *child_params;
	RunMessage *r;
	MemoryContext old;
	StringInfoData result;

	old = MemoryContextSwitchTo(a->cxt);
	a->out.inputs = DatumGetJsonbPCopy(JsonbPGetDatum(config));
	MemoryContextSwitchTo(old);
	if (attempt_take_cached(a, JsonbToCString(NULL, &config->root, VARSIZE(config))))
		return;
	child = elt_check_runnable_flow(name, false);
	child_params = elt_run_params(child, given ? JsonbValueToJsonb(given) : NULL,
								  psprintf("the params of subflow \"%s\"", name));
	attempt_report_activity(psprintf("running subflow %s", child->name));
	r = elt_run_subflow(child, child_params, false);
	a->out.rows = (uint64) r->rows;
	old = MemoryContextSwitchTo(a->cxt);
	elt_json_begin(&result);
	elt_json_add_int(&result, "run_id", r->run_id);
	elt_json_add_string(&result, "flow", child->name);
	elt_json_add_int(&result, "rows", r->rows);
	elt_json_add_json(&result, "results",
					  JsonbToCString(NULL, &elt_catalog_results(r->run_id, NIL)->root, 0));
	a->out.result = elt_json_end(&result);
	MemoryContextSwitchTo(old);
}

/* The attempt's time limit: the task's timeout, or what is left of the flow's. */
static int64
attempt_limit_ms(RunWorker *w, TaskDef *task, bool *flow_bound)
{
	int64		limit_ms = task->timeout_ms;

	*flow_bound = false;
	if (w->deadline != 0)
	{
		int64		left = Max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
															   w->deadline), 1);

		if (limit_ms == 0 || left < limit_ms)
			limit_ms = left, *flow_bound = true;
	}
	return limit_ms;
}

/* Runs the task in a transaction of its own; a->out says how it went. */
static void
attempt_execute(Attempt *a)
{
	AttemptOutcome *out = &a->out;
	bool		flow_bound;
	int64		limit_ms = attempt_limit_ms(a->w, a->task, &flow_bound);
	int			guc_level;

	elt_begin_work();
	/* what the task's SQL SETs ends with the attempt, as in a function */
	guc_level = NewGUCNestLevel();
	if (limit_ms > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, (int) Min(limit_ms, INT_MAX));
	PG_TRY();
	{
		if (strcmp(a->task->kind, "sql") == 0)
			run_sql(a);
		else if (strcmp(a->task->kind, "flow") == 0)
			run_flow(a);
		else
			run_extract(a);
		if (out->state != ELT_CACHED)
		{
			out->state = ELT_COMPLETED;
			elt_task_cache_keep(&a->cache, a->w->run_id, a->task, out, a->target);
		}
		disable_timeout(STATEMENT_TIMEOUT, false);
		AtEOXact_GUC(false, guc_level);
		elt_commit_work();
	}
	PG_CATCH();
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(a->cxt);
		out->rows = out->bytes = 0;	/* rolled back */
		out->result = NULL;
		out->error = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		out->state = ELT_FAILED;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(a->cxt);
	QueryCancelPending = false; /* a late timeout or cancel: the flag decides */

	if (out->error && elt_run_worker_cancelled(a->w))
	{
		out->state = ELT_CANCELLED;
		out->message = "cancelled while running";
	}
	else if (out->error && out->error->sqlerrcode == ERRCODE_QUERY_CANCELED && flow_bound)
	{
		out->message = "the flow's timeout ended it";
		out->no_retry = true;
	}
	else if (out->error && out->error->sqlerrcode == ERRCODE_QUERY_CANCELED && limit_ms > 0)
		out->message = psprintf("timed out after %.1f s", a->task->timeout_ms / 1000.0);
}

/* Is the failed attempt worth another?  Then its state becomes retrying. */
static bool
attempt_retry(AttemptOutcome *out, TaskDef *task, int attempt)
{
	if (out->error == NULL || out->no_retry || out->state == ELT_CANCELLED ||
		attempt > task->retries)
		return false;
	if (!error_is_retryable(out->error->sqlerrcode) &&
		out->error->sqlerrcode != ERRCODE_QUERY_CANCELED)
		return false;
	out->state = ELT_RETRYING;
	return true;
}

static void
attempt_record_end(RunWorker *w, TaskDef *task, int attempt, const AttemptOutcome *out)
{
	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	elt_catalog_attempt_end(w->run_id, task->name, attempt, out);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
}

/* The log lines that say how the attempt ended. */
static void
attempt_log_end(TaskDef *task, int attempt, const AttemptOutcome *out, bool retry)
{
	if (out->state == ELT_CACHED)
		return;					/* its line said so, and where from */
	if (out->error == NULL)
	{
		elt_run_logf(INFO, "completed");
		return;
	}
	elt_run_log(WARNING, out->error->sqlerrcode,
				psprintf("attempt %d %s: %s", attempt,
						 out->state == ELT_CANCELLED ? "cancelled" : "failed",
						 out->message ? out->message : out->error->message),
				out->error->detail, out->error->hint);
	if (!retry && out->state != ELT_CANCELLED && attempt <= task->retries)
		elt_run_logf(INFO, out->no_retry ? "not retried: the flow's time is up" :
					 "not retried: the error would recur");
}

/*
 * Runs one attempt of a task and records it (its row in elt.task_runs and
 * its log lines).  Returns ELT_COMPLETED, ELT_CACHED (it took a cached
 * result), ELT_RETRYING (failed, and worth another attempt), ELT_FAILED
 * or ELT_CANCELLED.
 */
EltState
elt_task_attempt(RunWorker *w, FlowDef *flow, TaskDef *task, Jsonb *params, int attempt,
				 MemoryContext cxt, uint64 *rows, char **failure)
{
	Attempt		a;
	bool		retry;
	List	   *upstream = elt_flow_upstream(flow, task);

	memset(&a, 0, sizeof(a));
	a.w = w;
	a.task = task;
	a.cxt = cxt;
	a.params = params;
	if (task->bound)			/* an instance of a mapped task: its :item */
		a.params = elt_jsonb_merge(a.params, task->bound);

	elt_run_log_set_task(task->name, attempt);
	HOLD_CANCEL_INTERRUPTS();
	elt_begin_work();
	elt_work_commit_lazily();	/* the attempt's end waits for its start */
	MemoryContextSwitchTo(cxt);
	/* upstream results are named like parameters (a clash is refused) */
	if (upstream != NIL)
	{
		a.upstream = elt_catalog_results(w->run_id, upstream);
		a.params = elt_jsonb_merge(a.params, a.upstream);
	}
	elt_catalog_attempt_start(w->run_id, task->name, attempt);
	elt_commit_work();
	RESUME_CANCEL_INTERRUPTS();
	elt_run_logf(INFO, "attempt %d of %d started", attempt, task->retries + 1);
	elt_run_worker_name_task(w->run_id, task->name);
	attempt_execute(&a);
	retry = attempt_retry(&a.out, task, attempt);
	attempt_log_end(task, attempt, &a.out, retry);
	elt_run_log_flush();
	attempt_record_end(w, task, attempt, &a.out);
	pgstat_report_activity(STATE_IDLE, NULL);

	*rows = a.out.rows;
	*failure = a.out.error ? pstrdup(a.out.message ? a.out.message : a.out.error->message) : NULL;
	return a.out.state;
}

/*
 * Records how a task ended without an attempt of its own: it never ran (a
 * dependency did not complete, or the run was cancelled), or it is a
 * mapped task whose instances all ended (result: theirs).
 */
void
elt_task_attempt_settle(RunWorker *w, TaskDef *task, EltState state, const char *message,
						Jsonb *result)
{
	AttemptOutcome out;

	memset(&out, 0, sizeof(out));
	out.state = state;
	out.message = message;
	out.result = result;
	elt_run_log_set_task(task->name, 0);
	elt_run_logf(state == ELT_FAILED ? WARNING : INFO, "%s", message);
	attempt_record_end(w, task, 1, &out);
}
