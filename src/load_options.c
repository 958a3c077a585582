/*-------------------------------------------------------------------------
 *
 * load_options.c
 *	  The options of a load, from jsonb (load_csv's options, an extract
 *	  task's config, a foreign table's): checked with messages that name
 *	  the option, and turned into COPY's options and the HTTP options of
 *	  the calling role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "credentials.h"
#include "jsonb_util.h"
#include "load_options.h"

PG_FUNCTION_INFO_V1(elt_check_extract_config);

static const char *const load_option_names[] = {
	"mode", "header", "delimiter", "quote", "escape", "null", "encoding",
	"columns", "force_null", "force_not_null", "types", "headers", "credential",
	"retries", "retry_delay", "timeout", "sample_rows", "path",
	"distribute_by", "shard_count", "colocate_with", "reference", "region", "endpoint",
	"require_match", "incremental", "reload_changed", "parallel", NULL
};

static void
load_option_error(const char *name, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for load option \"%s\"", name),
			 errhint("%s", hint)));
}

static char *
load_option_string(JsonbValue *v, const char *name)
{
	if (v->type != jbvString)
		load_option_error(name, psprintf("\"%s\" takes a string.", name));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static char
load_option_char(JsonbValue *v, const char *name)
{
	char	   *s = load_option_string(v, name);

	if (strlen(s) != 1)
		load_option_error(name, psprintf("\"%s\" takes a single one-byte character.", name));
	return s[0];
}

static double
load_option_number(JsonbValue *v, const char *name, double min)
{
	double		d;

	if (v->type != jbvNumeric)
		load_option_error(name, psprintf("\"%s\" takes a number.", name));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (d < min)
		load_option_error(name, psprintf("\"%s\" must be at least %g.", name, min));
	if (d > 1e6)
		load_option_error(name, psprintf("\"%s\" must be at most 1000000.", name));
	return d;
}

static bool
load_option_bool(JsonbValue *v, const char *name)
{
	if (v->type != jbvBool)
		load_option_error(name, psprintf("\"%s\" takes true or false.", name));
	return v->val.boolean;
}

/* A JSON array of strings as a List of C strings. */
static List *
load_option_string_list(JsonbValue *v, const char *name)
{
	List	   *result = NIL;
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		load_option_error(name, psprintf("\"%s\" takes an array of column names.", name));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			result = lappend(result, load_option_string(&elem, name));
	return result;
}

/* A JSON object of strings as a List of (key, value) 2-lists. */
static List *
load_option_string_map(JsonbValue *v, const char *name)
{
	List	   *result = NIL;
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		load_option_error(name, psprintf("\"%s\" takes an object of names and string values.", name));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(elem.val.string.val, elem.val.string.len);
		else if (tok == WJB_VALUE)
			result = lappend(result, list_make2(key, load_option_string(&elem, name)));
	}
	return result;
}

static bool
load_is_known_option(const char *key, bool task_config)
{
	for (int i = 0; load_option_names[i]; i++)
		if (strcmp(key, load_option_names[i]) == 0)
			return true;
	return task_config && (strcmp(key, "url") == 0 || strcmp(key, "table") == 0);
}

static void
load_apply_option(LoadOptions *opts, const char *key, JsonbValue *v)
{
	if (strcmp(key, "mode") == 0)
	{
		char	   *mode = load_option_string(v, key);

		if (strcmp(mode, "append") == 0)
			opts->mode = LOAD_APPEND;
		else if (strcmp(mode, "replace") == 0)
			opts->mode = LOAD_REPLACE;
		else if (strcmp(mode, "truncate") == 0)
			opts->mode = LOAD_TRUNCATE;
		else if (strcmp(mode, "create") == 0)
			opts->mode = LOAD_CREATE;
		else
			load_option_error(key, "\"mode\" is one of append, replace, truncate and create.");
	}
	else if (strcmp(key, "header") == 0)
		opts->header = load_option_bool(v, key);
	else if (strcmp(key, "delimiter") == 0)
		opts->delimiter = load_option_char(v, key);
	else if (strcmp(key, "quote") == 0)
		opts->quote = load_option_char(v, key);
	else if (strcmp(key, "escape") == 0)
		opts->escape = load_option_char(v, key);
	else if (strcmp(key, "null") == 0)
		opts->null_string = load_option_string(v, key);
	else if (strcmp(key, "encoding") == 0)
		opts->encoding = load_option_string(v, key);
	else if (strcmp(key, "columns") == 0)
		opts->columns = load_option_string_list(v, key);
	else if (strcmp(key, "force_null") == 0)
		opts->force_null = load_option_string_list(v, key);
	else if (strcmp(key, "force_not_null") == 0)
		opts->force_not_null = load_option_string_list(v, key);
	else if (strcmp(key, "types") == 0)
		opts->types = load_option_string_map(v, key);
	else if (strcmp(key, "headers") == 0)
	{
		ListCell   *lc;

		foreach(lc, load_option_string_map(v, key))
		{
			List	   *pair = lfirst(lc);

			opts->headers = lappend(opts->headers,
									psprintf("%s: %s", (char *) linitial(pair),
											 (char *) lsecond(pair)));
		}
	}
	else if (strcmp(key, "credential") == 0)
		opts->credential = load_option_string(v, key);
	else if (strcmp(key, "region") == 0)
		opts->region = load_option_string(v, key);
	else if (strcmp(key, "endpoint") == 0)
		opts->endpoint = load_option_string(v, key);
	else if (strcmp(key, "require_match") == 0)
		opts->require_match = load_option_bool(v, key);
	else if (strcmp(key, "incremental") == 0)
		opts->incremental = load_option_bool(v, key);
	else if (strcmp(key, "reload_changed") == 0)
		opts->reload_changed = load_option_bool(v, key);
	else if (strcmp(key, "retries") == 0)
		opts->retries = (int) load_option_number(v, key, 0);
	else if (strcmp(key, "retry_delay") == 0)
		opts->retry_delay = load_option_number(v, key, 0);
	else if (strcmp(key, "timeout") == 0)
		opts->timeout = load_option_number(v, key, 0);
	else if (strcmp(key, "sample_rows") == 0)
		opts->sample_rows = (int) load_option_number(v, key, 1);
	else if (strcmp(key, "parallel") == 0)
	{
		double		n = load_option_number(v, key, 0);

		if (n != (int) n || n > 64)
			load_option_error(key, "\"parallel\" is the number of parallel workers that parse the file, 0 to 64; 0 loads it in one stream.");
		opts->parallel = (int) n;
	}
	else if (strcmp(key, "path") == 0)
	{
		char	   *path = load_option_string(v, key);

		if (strcmp(path, "auto") == 0)
			opts->path = LOAD_PATH_AUTO;
		else if (strcmp(path, "copy") == 0)
			opts->path = LOAD_PATH_COPY;
		else if (strcmp(path, "insert") == 0)
			opts->path = LOAD_PATH_INSERT;
		else
			load_option_error(key, "\"path\" is one of auto, copy and insert.");
	}
	else if (strcmp(key, "distribute_by") == 0)
		opts->distribute_by = load_option_string(v, key);
	else if (strcmp(key, "shard_count") == 0)
		opts->shard_count = (int) load_option_number(v, key, 1);
	else if (strcmp(key, "colocate_with") == 0)
		opts->colocate_with = load_option_string(v, key);
	else if (strcmp(key, "reference") == 0)
		opts->reference = load_option_bool(v, key);
}

/*
 * Reads load options from a jsonb object.  task_config also accepts an
 * extract task's "url" and "table".  An extract task retries as a whole
 * (its retries column), so its loads do not retry by default.
 */
void
elt_parse_load_options(Jsonb *options, LoadOptions *opts, bool task_config,
					   bool skip_placeholders)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	memset(opts, 0, sizeof(LoadOptions));
	opts->mode = LOAD_APPEND;
	opts->header = true;
	opts->delimiter = ',';
	opts->quote = '"';
	opts->escape = 0;
	opts->retries = task_config ? 0 : 3;
	opts->retry_delay = 1.0;
	opts->sample_rows = 1000;
	opts->parallel = -1;

	if (options == NULL)
		return;
	elt_check_jsonb_object(options, task_config ? "an extract task's config" : "load options");
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (!load_is_known_option(key, task_config))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown load option \"%s\"", key),
						 errhint("Load options are mode, header, delimiter, quote, escape, null, encoding, columns, force_null, force_not_null, types, headers, credential, retries, retry_delay, timeout, sample_rows, path, distribute_by, shard_count, colocate_with, reference, region, endpoint, require_match, incremental, reload_changed and parallel%s.",
								 task_config ? ", plus url and table" : "")));
		}
		else if (tok == WJB_VALUE && strcmp(key, "url") != 0 && strcmp(key, "table") != 0)
		{
			if (skip_placeholders && v.type == jbvString &&
				memchr(v.val.string.val, ':', v.val.string.len) != NULL)
				continue;		/* a parameter: checked once substituted */
			load_apply_option(opts, key, &v);
		}
	}
	if (opts->escape == 0)
		opts->escape = opts->quote;
	if (opts->reference && opts->distribute_by)
		load_option_error("reference", "A table is either distributed (distribute_by) or a reference table, not both.");
	if ((opts->shard_count || opts->colocate_with) && !opts->distribute_by)
		load_option_error(opts->shard_count ? "shard_count" : "colocate_with",
						  "It applies to a distributed table: give \"distribute_by\" too.");
	if (opts->incremental && opts->mode != LOAD_APPEND)
		load_option_error("incremental", "An incremental load appends each new object: its mode is append (the default).");
	if (opts->reload_changed && !opts->incremental)
		load_option_error("reload_changed", "It applies to incremental loads: give \"incremental\": true too.");
}

/*
 * elt._check_extract_config(config jsonb): validates an extract task's
 * config when the task is written.  String values holding parameters
 * (":name") are checked at run time, once substituted.
 */
Datum
elt_check_extract_config(PG_FUNCTION_ARGS)
{
	Jsonb	   *config = PG_GETARG_JSONB_P(0);
	LoadOptions opts;
	const char *required[] = {"url", "table"};

	elt_check_jsonb_object(config, "an extract task's config");
	for (int i = 0; i < lengthof(required); i++)
	{
		JsonbValue *v = elt_jsonb_get(config, required[i]);

		if (v == NULL || v->type != jbvString || v->val.string.len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("an extract task's config needs a string \"%s\"", required[i]),
					 errhint("For example: {\"url\": \"https://host/file.csv.gz\", \"table\": \"trips\"}.")));
	}

	elt_parse_load_options(config, &opts, true, true);
	PG_RETURN_VOID();
}

/* COPY's options for the file's dialect. */
List *
elt_copy_options(const LoadOptions *opts)
{
	List	   *o = NIL;

	o = lappend(o, makeDefElem("format", (Node *) makeString("csv"), -1));
	o = lappend(o, makeDefElem("header", (Node *) makeBoolean(opts->header), -1));
	o = lappend(o, makeDefElem("delimiter", (Node *) makeString(psprintf("%c", opts->delimiter)), -1));
	o = lappend(o, makeDefElem("quote", (Node *) makeString(psprintf("%c", opts->quote)), -1));
	o = lappend(o, makeDefElem("escape", (Node *) makeString(psprintf("%c", opts->escape)), -1));
	if (opts->null_string)
		o = lappend(o, makeDefElem("null", (Node *) makeString(opts->null_string), -1));
	if (opts->encoding)
		o = lappend(o, makeDefElem("encoding", (Node *) makeString(opts->encoding), -1));
	if (opts->force_null)
	{
		List	   *cols = NIL;
		ListCell   *lc;

		foreach(lc, opts->force_null)
			cols = lappend(cols, makeString(lfirst(lc)));
		o = lappend(o, makeDefElem("force_null", (Node *) cols, -1));
	}
	if (opts->force_not_null)
	{
		List	   *cols = NIL;
		ListCell   *lc;

		foreach(lc, opts->force_not_null)
			cols = lappend(cols, makeString(lfirst(lc)));
		o = lappend(o, makeDefElem("force_not_null", (Node *) cols, -1));
	}
	return o;
}

/*
 * The HTTP options of a load by the current user: its headers (and, with
 * credential_headers, its credential's, which must be one the user may
 * use; an object store's signs instead) and timeout, file:// only for
 * roles that may read server files (as COPY FROM a file), and the
 * outbound policy for all but superusers.
 */
void
elt_http_options_for_caller(const LoadOptions *opts, HttpOptions *hopts, bool credential_headers)
{
	memset(hopts, 0, sizeof(HttpOptions));
	hopts->headers = opts->headers;
	if (opts->credential && credential_headers)
		elt_credential_http_headers(opts->credential, &hopts->headers);
	hopts->allow_file = superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES);
	hopts->restricted = !superuser();
	hopts->deadline = opts->timeout > 0 ?
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) (opts->timeout * 1000)) : 0;
}
