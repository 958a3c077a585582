/*-------------------------------------------------------------------------
 *
 * jsonb_util.c
 *	  Small helpers for the jsonb values pg_elt reads: flow params, task
 *	  config and load_csv options.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jsonb_util.h"

/* The value under key in a jsonb object, or NULL when absent. */
JsonbValue *
elt_jsonb_get(Jsonb *object, const char *key)
{
	if (object == NULL || !JB_ROOT_IS_OBJECT(object))
		return NULL;
	return getKeyJsonValueFromContainer(&object->root, key, strlen(key), NULL);
}

/*
 * The text a scalar stands for when substituted or used as an option:
 * strings without quotes, numbers and booleans as written, null as NULL.
 * Containers give their JSON text.
 */
char *
elt_jsonb_value_text(JsonbValue *value)
{
	switch (value->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(value->val.string.val, value->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(value->val.numeric)));
		case jbvBool:
			return pstrdup(value->val.boolean ? "true" : "false");
		default:
			return JsonbToCString(NULL, value->val.binary.data, value->val.binary.len);
	}
}

/* base overlaid by overlay's top-level keys (jsonb's || operator). */
Jsonb *
elt_jsonb_merge(Jsonb *base, Jsonb *overlay)
{
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(base),
											  JsonbPGetDatum(overlay)));
}

void
elt_check_jsonb_object(Jsonb *value, const char *what)
{
	if (value != NULL && !JB_ROOT_IS_OBJECT(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what),
				 errhint("Write it as '{\"name\": \"value\"}'.")));
}

/* The keys of a jsonb object, for messages: "a, b", or "(none)". */
char *
elt_jsonb_keys(Jsonb *object)
{
	StringInfoData names;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	initStringInfo(&names);
	if (object != NULL && JB_ROOT_IS_OBJECT(object))
	{
		it = JsonbIteratorInit(&object->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_KEY)
				appendStringInfo(&names, "%s%.*s", names.len ? ", " : "",
								 v.val.string.len, v.val.string.val);
	}
	return names.len ? names.data : "(none)";
}

/* ---------------------------------------------------------------------
 * Building a small jsonb object as JSON text: start with
 * elt_json_begin, add members, and elt_json_end parses it.
 * ---------------------------------------------------------------------
 */
void
elt_json_begin(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoChar(buf, '{');
}

static void
json_key(StringInfo buf, const char *key)
{
	if (buf->data[buf->len - 1] != '{')
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
}

void
elt_json_add_string(StringInfo buf, const char *key, const char *value)
{
	json_key(buf, key);
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

void
elt_json_add_int(StringInfo buf, const char *key, int64 value)
{
	json_key(buf, key);
	appendStringInfo(buf, INT64_FORMAT, value);
}

/* value is JSON text already (an object, an array, a number ...). */
void
elt_json_add_json(StringInfo buf, const char *key, const char *value)
{
	json_key(buf, key);
	appendStringInfoString(buf, value);
}

Jsonb *
elt_json_end(StringInfo buf)
{
	appendStringInfoChar(buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data)));
}

/* A JSON value (scalar or container) as JSON text. */
char *
elt_jsonb_value_json(JsonbValue *value)
{
	Jsonb	   *j = JsonbValueToJsonb(value);

	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}
