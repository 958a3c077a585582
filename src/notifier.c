/*-------------------------------------------------------------------------
 *
 * notifier.c
 *	  Delivering notifications.  A state change that a rule wants is
 *	  written to elt.notification_outbox in the change's own transaction
 *	  (SQL: elt._queue_event); the database's scheduler starts this worker
 *	  when events are due.  The notifier claims a batch (a lease: a
 *	  notifier that dies mid-delivery leaves them to be tried again),
 *	  delivers each as the rule's owner (a webhook POST, pg_notify, or a
 *	  function called with the event), records the attempt, and marks the
 *	  event delivered or sets its next try (exponential backoff), giving up
 *	  after the rule's max_attempts.  It exits when nothing is due.
 *
 *	  Delivery is at least once: an event whose delivery succeeded but was
 *	  not recorded (the server crashed in between) is delivered again.
 *	  Runs never wait for any of this.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

#include "body_template.h"
#include "credentials.h"
#include "http_fetch.h"
#include "jsonb_util.h"
#include "notifier.h"
#include "runtime.h"

PG_FUNCTION_INFO_V1(elt_check_body_template);

#define NOTIFY_BATCH		20
#define NOTIFY_TIMEOUT_MS	10000
#define NOTIFY_MAX_FIELDS	32

/* An event to deliver, as claimed. */
typedef struct Delivery
{
	int64		id;
	char	   *owner;
	char	   *rule;
	char	   *payload;		/* the event, as JSON text */
	int			attempts;		/* made before this one */
} Delivery;

/* What a rule delivers to. */
typedef struct Rule
{
	char	   *target;
	char	   *url;
	char	   *credential;
	char	   *body;
	char	   *channel;
	char	   *function;
	int			max_attempts;
} Rule;

/* ---------------------------------------------------------------------
 * Bodies
 * ---------------------------------------------------------------------
 */

/* The fields of an event for a body template: its keys, and {{json}}, all of it. */
static int
notify_fields(Jsonb *event, const char *event_json, TemplateField *fields)
{
	JsonbIterator *it = JsonbIteratorInit(&event->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;

	fields[n].name = "json";
	fields[n].value = event_json;
	fields[n++].raw = true;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE && n < NOTIFY_MAX_FIELDS)
	{
		if (tok == WJB_KEY)
		{
			fields[n].name = pnstrdup(v.val.string.val, v.val.string.len);
			fields[n].raw = false;
		}
		else if (tok == WJB_VALUE)
			fields[n++].value = v.type == jbvNull ? NULL : elt_jsonb_value_text(&v);
	}
	return n;
}

/* The body a rule posts for an event: its template filled in, or the event. */
static char *
notify_body(const char *template, const char *event_json, const char **error)
{
	Jsonb	   *event = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(event_json)));
	TemplateField fields[NOTIFY_MAX_FIELDS];
	int			n = notify_fields(event, event_json, fields);
	StringInfoData out;

	*error = NULL;
	if (template == NULL)
		return pstrdup(event_json);
	initStringInfo(&out);
	*error = elt_render_body(template, fields, n, &out);
	return out.data;
}

/*
 * elt._check_body_template(rule text, body text): a rule's body template,
 * filled in with an event of every field, must be JSON.
 */
Datum
elt_check_body_template(PG_FUNCTION_ARGS)
{
	const char *sample =
		"{\"event\": \"failed\", \"run_id\": 1, \"flow\": \"f\", \"owner\": \"o\", \"database\": \"d\","
		" \"state\": \"failed\", \"message\": \"m\", \"trigger\": \"schedule\","
		" \"started_at\": \"2021-01-01T00:00:00+00:00\", \"ended_at\": \"2021-01-01T00:00:01+00:00\","
		" \"duration_s\": 1.0, \"rows_loaded\": 0, \"attempt\": 1, \"slot\": \"2021-01-01T00:00:00+00:00\"}";
	char	   *rule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *error;
	char	   *body;
	JsonLexContext *lex;

	if (PG_ARGISNULL(1))
		PG_RETURN_VOID();
	body = notify_body(text_to_cstring(PG_GETARG_TEXT_PP(1)), sample, &error);
	if (error)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("the body template of notification rule \"%s\" has an error: %s", rule, error),
				 errhint("Write {{field}} for an event's field (event, run_id, flow, owner, database, state, message, trigger, started_at, ended_at, duration_s, rows_loaded, attempt, slot) or {{json}} for the whole event.")));
	lex = makeJsonLexContextCstringLen(body, strlen(body), GetDatabaseEncoding(), false);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the body template of notification rule \"%s\" does not make JSON", rule),
				 errdetail("Filled in with a sample event it reads: %s", body),
				 errhint("A field is filled in escaped for a JSON string: put string fields inside quotes.")));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Delivery
 * ---------------------------------------------------------------------
 */

static void
notify_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "pg_elt notifier query failed (%d): %s", rc, sql);
}

static char *
notify_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/* Claims due events; empty when none is due. */
static List *
notify_claim(MemoryContext cxt)
{
	List	   *claimed = NIL;

	elt_begin_work();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	notify_exec("UPDATE elt.notification_outbox o SET next_attempt_at = clock_timestamp() + interval '5 minutes'"
				" WHERE o.id IN (SELECT id FROM elt.notification_outbox"
				"                 WHERE delivered_at IS NULL AND given_up_at IS NULL"
				"                   AND next_attempt_at <= clock_timestamp()"
				"                 ORDER BY next_attempt_at, id LIMIT " CppAsString2(NOTIFY_BATCH)
				"                 FOR UPDATE SKIP LOCKED)"
				" RETURNING o.id, o.owner, o.rule, o.payload::text, o.attempts",
				0, NULL, NULL, NULL, SPI_OK_UPDATE_RETURNING);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		Delivery   *d = palloc0(sizeof(Delivery));

		d->id = atoll(notify_text(tup, desc, 1));
		d->owner = notify_text(tup, desc, 2);
		d->rule = notify_text(tup, desc, 3);
		d->payload = notify_text(tup, desc, 4);
		d->attempts = atoi(notify_text(tup, desc, 5));
		claimed = lappend(claimed, d);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	elt_commit_work();
	return claimed;
}

/* The rule of a delivery; false when it is gone (its events go with it). */
static bool
notify_read_rule(Delivery *d, Rule *rule)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(d->owner), CStringGetTextDatum(d->rule)};
	HeapTuple	tup;
	TupleDesc	desc;

	notify_exec("SELECT target, url, credential, body, channel, function, max_attempts"
				"  FROM elt.notification_rules WHERE owner = $1 AND name = $2",
				2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	rule->target = notify_text(tup, desc, 1);
	rule->url = notify_text(tup, desc, 2);
	rule->credential = notify_text(tup, desc, 3);
	rule->body = notify_text(tup, desc, 4);
	rule->channel = notify_text(tup, desc, 5);
	rule->function = notify_text(tup, desc, 6);
	rule->max_attempts = atoi(notify_text(tup, desc, 7));
	return true;
}

/* Sends the event where the rule says, as the current user (its owner). */
static void
notify_deliver(const Rule *rule, const Delivery *d, int *status)
{
	*status = 0;
	if (strcmp(rule->target, "webhook") == 0)
	{
		List	   *headers = NIL;
		const char *error;
		char	   *body = notify_body(rule->body, d->payload, &error);
		char	   *failure;

		if (error)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("the body template has an error: %s", error)));
		if (rule->credential)
			elt_credential_http_headers(rule->credential, &headers);
		*status = (int) elt_http_post(rule->url, headers, body, !superuser(), NOTIFY_TIMEOUT_MS,
									  &failure);
		if (failure)
			ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("%s", failure)));
		if (*status < 200 || *status >= 300)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("HTTP status %d from \"%s\"", *status, elt_redact_url(rule->url))));
	}
	else if (strcmp(rule->target, "pg_notify") == 0)
		DirectFunctionCall2(pg_notify, CStringGetTextDatum(rule->channel),
							CStringGetTextDatum(d->payload));
	else
	{
		Oid			fn = DatumGetObjectId(DirectFunctionCall1(to_regprocedure,
															  CStringGetTextDatum(psprintf("%s(jsonb)", rule->function))));

		if (!OidIsValid(fn))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("function %s(jsonb) does not exist", rule->function)));
		if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for function %s", rule->function)));
		{
			FmgrInfo	flinfo;
			LOCAL_FCINFO(fcinfo, 1);

			/* as OidFunctionCall1, but a void function's null result is fine */
			fmgr_info(fn, &flinfo);
			InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
			fcinfo->args[0].value = DirectFunctionCall1(jsonb_in, CStringGetDatum(d->payload));
			fcinfo->args[0].isnull = false;
			(void) FunctionCallInvoke(fcinfo);
		}
	}
}

/* Records an attempt and what it means for the event and its rule. */
static void
notify_record(const Delivery *d, int max_attempts, bool ok, int status, const char *error)
{
	Oid			types[7] = {INT8OID, INT4OID, BOOLOID, INT4OID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = "       ";

	values[0] = Int64GetDatum(d->id);
	values[1] = Int32GetDatum(d->attempts + 1);
	values[2] = BoolGetDatum(ok);
	values[3] = Int32GetDatum(status);
	nulls[3] = status ? ' ' : 'n';
	values[4] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[4] = error ? ' ' : 'n';
	values[5] = Int32GetDatum(max_attempts);
	values[6] = CStringGetTextDatum(d->rule);
	elt_begin_work();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	notify_exec("INSERT INTO elt.notification_attempts (outbox_id, attempt, ok, status, error)"
				" VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
				5, types, values, nulls, SPI_OK_INSERT);
	notify_exec("WITH o AS ("
				"  UPDATE elt.notification_outbox SET attempts = $2, last_error = $5,"
				"         delivered_at = CASE WHEN $3 THEN clock_timestamp() END,"
				"         given_up_at = CASE WHEN NOT $3 AND $2 >= $6 THEN clock_timestamp() END,"
				"         next_attempt_at = CASE WHEN $3 OR $2 >= $6 THEN next_attempt_at"
				"             ELSE clock_timestamp() + least(power(2, $2), 3600) * interval '1 second' END"
				"   WHERE id = $1 RETURNING owner, given_up_at)"
				" UPDATE elt.notification_rules r SET given_up = given_up + 1, last_error = $5"
				"   FROM o WHERE o.given_up_at IS NOT NULL AND r.owner = o.owner AND r.name = $7",
				7, types, values, nulls, SPI_OK_UPDATE);
	SPI_finish();
	elt_commit_work();
}

/*
 * One delivery: in a transaction of its own, as the rule's owner (so a
 * function target runs with that role's rights, a webhook goes under its
 * outbound policy with its credential), then its record.
 */
static void
notify_one(Delivery *d, MemoryContext cxt)
{
	Rule		rule;
	int			status = 0;
	char	   *error = NULL;
	bool		found = false;
	Oid			saved_user;
	int			saved_sec;

	memset(&rule, 0, sizeof(rule));
	rule.max_attempts = 8;		/* the default, until the rule is read */
	GetUserIdAndSecContext(&saved_user, &saved_sec);
	elt_begin_work();
	PG_TRY();
	{
		Oid			owner = get_role_oid(d->owner, false);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		found = notify_read_rule(d, &rule);
		if (found)
		{
			SetUserIdAndSecContext(owner, saved_sec | SECURITY_LOCAL_USERID_CHANGE |
								   SECURITY_RESTRICTED_OPERATION);
			notify_deliver(&rule, d, &status);
			SetUserIdAndSecContext(saved_user, saved_sec);
		}
		SPI_finish();
		elt_commit_work();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		SetUserIdAndSecContext(saved_user, saved_sec);
		error = edata->message;
		found = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	if (found)
		notify_record(d, rule.max_attempts, error == NULL, status, error);
}

void
elt_notifier_main(Datum main_arg)
{
	Oid			database;
	MemoryContext cxt;
	List	   *claimed;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	memcpy(&database, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
	pgstat_report_appname("pg_elt notifier");
	/* it runs as a superuser until it acts as a rule's owner */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_elt notifier", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		ListCell   *lc;

		MemoryContextReset(cxt);
		MemoryContextSwitchTo(cxt);
		claimed = notify_claim(cxt);
		if (claimed == NIL)
			break;
		foreach(lc, claimed)
		{
			CHECK_FOR_INTERRUPTS();
			notify_one(lfirst(lc), cxt);
		}
	}
	proc_exit(0);
}

/* Starts the notifier of this database (the scheduler does, when events are due). */
bool
elt_notifier_start(Oid database, BackgroundWorkerHandle **handle)
{
	return elt_start_worker("elt_notifier_main", "pg_elt notifier", "pg_elt notifier",
							&database, sizeof(Oid), (Datum) 0, handle);
}
