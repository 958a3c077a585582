/*-------------------------------------------------------------------------
 *
 * templates.c
 *	  Substitution of run parameters into task SQL and task config, by the
 *	  rules psql uses for its variables:
 *
 *		:name		the value as is
 *		:'name'		the value as a quoted literal (quote_literal)
 *		:"name"		the value as a quoted identifier (always quoted)
 *
 *	  Nothing is substituted inside quoted strings, quoted identifiers,
 *	  comments or dollar-quoted strings; "::" is a cast; a name that is not
 *	  a parameter is left as written.  The quoted forms are what make a
 *	  parameter safe: a table name like  x"; DROP TABLE y; --  substituted
 *	  with :"name" is one identifier, never SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_elt.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(elt_substitute_sql);

/* Characters psql accepts in a variable name. */
static inline bool
tpl_is_name_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static inline bool
tpl_is_ident_start(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}

/*
 * Length of the quoted section starting at p (a ' or "), through its closing
 * quote; a doubled quote is an escaped quote.  Backslash escapes count only
 * in E'' strings.  An unterminated section runs to the end of the text.
 */
static size_t
tpl_quoted_length(const char *p, bool backslash_escapes)
{
	char		q = p[0];
	const char *s = p + 1;

	while (*s)
	{
		if (backslash_escapes && *s == '\\' && s[1])
			s += 2;
		else if (*s == q && s[1] == q)
			s += 2;
		else if (*s == q)
			return (s + 1) - p;
		else
			s++;
	}
	return s - p;
}

/* Length of a (possibly nested) C-style comment starting at p. */
static size_t
tpl_comment_length(const char *p)
{
	const char *s = p + 2;
	int			depth = 1;

	while (*s && depth > 0)
	{
		if (s[0] == '/' && s[1] == '*')
			depth++, s += 2;
		else if (s[0] == '*' && s[1] == '/')
			depth--, s += 2;
		else
			s++;
	}
	return s - p;
}

/*
 * Length of a dollar-quoted string starting at p, or 0 when p does not
 * start one ($1 is a parameter, not a quote).
 */
static size_t
tpl_dollar_quote_length(const char *p)
{
	const char *s = p + 1;
	size_t		taglen;
	const char *end;

	if (*s != '$')
	{
		if (!tpl_is_ident_start((unsigned char) *s))
			return 0;
		while (tpl_is_name_char((unsigned char) *s))
			s++;
		if (*s != '$')
			return 0;
	}
	taglen = (s + 1) - p;
	end = s + 1;
	while ((end = strchr(end, '$')) != NULL)
	{
		if (strncmp(end, p, taglen) == 0)
			return (end + taglen) - p;
		end++;
	}
	return strlen(p);
}

/*
 * Appends the substitution of parameter name in the given style (0, '\''
 * or '"'), or returns false when params has no such name.
 */
static bool
tpl_append_parameter(StringInfo out, Jsonb *params, const char *name, char style)
{
	JsonbValue *value = elt_jsonb_get(params, name);
	char	   *text;

	if (value == NULL)
		return false;
	text = elt_jsonb_value_text(value);
	if (text == NULL)
	{
		if (style == '"')
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("parameter \"%s\" is null and cannot be used as an identifier",
							name)));
		appendStringInfoString(out, "NULL");
	}
	else if (style == '\'')
		appendStringInfoString(out, quote_literal_cstr(text));
	else if (style == '"')
	{
		appendStringInfoChar(out, '"');
		for (const char *c = text; *c; c++)
		{
			if (*c == '"')
				appendStringInfoChar(out, '"');
			appendStringInfoChar(out, *c);
		}
		appendStringInfoChar(out, '"');
	}
	else
		appendStringInfoString(out, text);
	return true;
}

/*
 * Tries to substitute a variable reference at p (which is ':').  Returns the
 * number of input bytes consumed, or 0 when p is not a known variable.
 */
static size_t
tpl_try_variable(StringInfo out, const char *p, Jsonb *params)
{
	char		style = 0;
	const char *name = p + 1;
	const char *s;
	size_t		consumed;
	char	   *varname;

	if (*name == '\'' || *name == '"')
		style = *name++;
	for (s = name; tpl_is_name_char((unsigned char) *s); s++)
		;
	if (s == name)
		return 0;
	if (style && *s != style)
		return 0;
	consumed = (s - p) + (style ? 1 : 0);
	varname = pnstrdup(name, s - name);
	if (!tpl_append_parameter(out, params, varname, style))
		return 0;
	return consumed;
}

char *
elt_substitute(const char *text, Jsonb *params)
{
	StringInfoData out;
	const char *p = text;

	initStringInfo(&out);
	while (*p)
	{
		size_t		skip = 0;

		if (*p == '\'')
		{
			bool		e_string = (p > text && (p[-1] == 'E' || p[-1] == 'e') &&
									(p - 1 == text || !tpl_is_name_char((unsigned char) p[-2])));

			skip = tpl_quoted_length(p, e_string);
		}
		else if (*p == '"')
			skip = tpl_quoted_length(p, false);
		else if (p[0] == '-' && p[1] == '-')
			skip = strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*')
			skip = tpl_comment_length(p);
		else if (*p == '$' && (p == text || !tpl_is_name_char((unsigned char) p[-1])))
			skip = tpl_dollar_quote_length(p);
		else if (p[0] == ':' && p[1] == ':')
			skip = 2;
		else if (*p == ':')
		{
			size_t		used = tpl_try_variable(&out, p, params);

			if (used > 0)
			{
				p += used;
				continue;
			}
		}

		if (skip == 0)
			skip = 1;
		appendBinaryStringInfo(&out, p, skip);
		p += skip;
	}
	return out.data;
}

/* config with every string value (at any depth) substituted. */
Jsonb *
elt_substitute_jsonb(Jsonb *config, Jsonb *params)
{
	JsonbIterator *it = JsonbIteratorInit(&config->root);
	JsonbParseState *state = NULL;
	JsonbValue	v;
	JsonbValue *result = NULL;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvString)
		{
			char	   *raw = pnstrdup(v.val.string.val, v.val.string.len);
			char	   *done = elt_substitute(raw, params);

			v.val.string.val = done;
			v.val.string.len = strlen(done);
		}
		result = pushJsonbValue(&state, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	return JsonbValueToJsonb(result);
}

/*
 * elt.substitute(template text, params jsonb) returns text: what a task's
 * SQL becomes for the given parameters.
 */
Datum
elt_substitute_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *params;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	params = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	elt_check_jsonb_object(params, "params");
	PG_RETURN_TEXT_P(cstring_to_text(elt_substitute(text_to_cstring(PG_GETARG_TEXT_PP(0)),
													params)));
}
