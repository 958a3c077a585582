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
 *	  a parameter is left as written, as psql does.  A task's SQL is
 *	  substituted strictly: a quoted reference (:'x', :"x") to a parameter
 *	  the flow does not define is an error naming it, since left as written
 *	  it would only fail later as a syntax error.  (A bare :x stays lenient:
 *	  it is also SQL's array slice syntax, a[1:n]; and config strings, such
 *	  as URLs with q=title:"x", are not SQL.)  The quoted forms are what make a
 *	  parameter safe: a table name like  x"; DROP TABLE y; --  substituted
 *	  with :"name" is one identifier, never SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "jsonb_util.h"
#include "templates.h"

PG_FUNCTION_INFO_V1(elt_substitute_sql);
PG_FUNCTION_INFO_V1(elt_check_task_templates);
PG_FUNCTION_INFO_V1(elt_check_template);

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
	{
		/* as libpq's PQescapeLiteral, which psql uses: " E'...'" if needed */
		if (strchr(text, '\\'))
			appendStringInfoString(out, " E");
		appendStringInfoChar(out, '\'');
		for (const char *c = text; *c; c++)
		{
			if (*c == '\'' || *c == '\\')
				appendStringInfoChar(out, *c);
			appendStringInfoChar(out, *c);
		}
		appendStringInfoChar(out, '\'');
	}
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
 * With strict_what (the task, for messages), a quoted reference to an
 * undefined parameter is an error.
 */
static size_t
tpl_try_variable(StringInfo out, const char *p, Jsonb *params, const char *strict_what)
{
	char		style = 0;
	const char *name = p + 1;
	const char *s;
	size_t		consumed;
	char	   *varname;

	if (name[0] == '{' && name[1] == '?')
	{
		/* :{?name}: whether the parameter is defined */
		for (s = name + 2; tpl_is_name_char((unsigned char) *s); s++)
			;
		if (s == name + 2 || *s != '}')
			return 0;
		varname = pnstrdup(name + 2, s - (name + 2));
		appendStringInfoString(out, elt_jsonb_get(params, varname) ? "TRUE" : "FALSE");
		return (s + 1) - p;
	}
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
	{
		/* psql leaves it as written, and the next token starts afresh */
		if (strict_what && style)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("%s refers to parameter \"%s\", which the flow does not define",
							strict_what, varname),
					 errdetail("The reference is :%c%s%c; the flow's parameters are: %s.",
							   style, varname, style, elt_jsonb_keys(params)),
					 errhint("Add the parameter to the flow's params (its value there is the default), or correct the name.")));
		appendBinaryStringInfo(out, p, consumed);
	}
	return consumed;
}

/*
 * Where psql's lexer is, as far as substitution cares: between tokens, in
 * a word (identifier, keyword, or a number run on into letters, in which
 * '$' is an ordinary character), or in a number or $n parameter (which a
 * '$' ends).  A dollar quote or an E'' string starts only between tokens.
 */
typedef enum TplToken
{
	TPL_BETWEEN,
	TPL_WORD,
	TPL_NUMBER
} TplToken;

/* The lexer's state after character c, which follows state. */
static TplToken
tpl_next_token(TplToken state, const char *c)
{
	unsigned char ch = (unsigned char) c[0];

	if (tpl_is_ident_start(ch))
	{
		/* an exponent keeps a number a number: 1e5, 2.5E-3 */
		if (state == TPL_NUMBER && (ch == 'e' || ch == 'E') &&
			(isdigit((unsigned char) c[1]) ||
			 ((c[1] == '+' || c[1] == '-') && isdigit((unsigned char) c[2]))))
			return TPL_NUMBER;
		return TPL_WORD;
	}
	if (isdigit(ch))
		return state == TPL_BETWEEN ? TPL_NUMBER : state;
	if (ch == '$')
		return state == TPL_WORD ? TPL_WORD : TPL_BETWEEN;
	if (ch == '.' && (state == TPL_NUMBER ||
					  (state == TPL_BETWEEN && isdigit((unsigned char) c[1]))))
		return TPL_NUMBER;
	if ((ch == '+' || ch == '-') && state == TPL_NUMBER && (c[-1] == 'e' || c[-1] == 'E'))
		return TPL_NUMBER;
	return TPL_BETWEEN;
}

char *
elt_substitute(const char *text, Jsonb *params, const char *strict_what)
{
	StringInfoData out;
	const char *p = text;
	TplToken	state = TPL_BETWEEN;
	const char *token_start = text;

	initStringInfo(&out);
	while (*p)
	{
		size_t		skip = 0;

		if (*p == '\'')
		{
			bool		e_string = (state == TPL_WORD && p - token_start == 1 &&
									(*token_start == 'E' || *token_start == 'e'));

			skip = tpl_quoted_length(p, e_string);
		}
		else if (*p == '"')
			skip = tpl_quoted_length(p, false);
		else if (p[0] == '-' && p[1] == '-')
			skip = strcspn(p, "\n\r");
		else if (p[0] == '/' && p[1] == '*')
			skip = tpl_comment_length(p);
		else if (*p == '$' && state != TPL_WORD)
			skip = tpl_dollar_quote_length(p);
		else if (p[0] == ':' && p[1] == ':')
			skip = 2;
		else if (*p == ':')
		{
			size_t		used = tpl_try_variable(&out, p, params, strict_what);

			if (used > 0)
			{
				p += used;
				state = TPL_BETWEEN;
				continue;
			}
		}

		if (skip == 0)
		{
			TplToken	next = tpl_next_token(state, p);

			if (state == TPL_BETWEEN && next != TPL_BETWEEN)
				token_start = p;
			state = next;
			skip = 1;
		}
		else
			state = TPL_BETWEEN;
		appendBinaryStringInfo(&out, p, skip);
		p += skip;
	}
	return out.data;
}

/* config with every string value (at any depth) substituted. */
Jsonb *
elt_substitute_jsonb(Jsonb *config, Jsonb *params, const char *strict_what)
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
			char	   *done = elt_substitute(raw, params, strict_what);

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
													params, NULL)));
}

/*
 * elt._check_task_templates(task, sql, params): the quoted references of a
 * task's SQL must name parameters of its flow; checked when the task is
 * written, so that a typo fails there and not at run time.  (A task's
 * config is not checked: its strings are not SQL.)
 */
Datum
elt_check_task_templates(PG_FUNCTION_ARGS)
{
	Jsonb	   *params = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	(void) elt_substitute(text_to_cstring(PG_GETARG_TEXT_PP(1)), params,
						  psprintf("task \"%s\"", text_to_cstring(PG_GETARG_TEXT_PP(0))));
	PG_RETURN_VOID();
}

/*
 * elt._check_template(what, template, names): the same check for another
 * template of a task (its cache_key), named in errors by what.
 */
Datum
elt_check_template(PG_FUNCTION_ARGS)
{
	Jsonb	   *names = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	(void) elt_substitute(text_to_cstring(PG_GETARG_TEXT_PP(1)), names,
						  text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
