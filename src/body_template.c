/*-------------------------------------------------------------------------
 *
 * body_template.c
 *	  Webhook body templates, so that Slack-, Teams- or Discord-style
 *	  incoming webhooks get the JSON they want:
 *
 *		{"text": "pg_elt: run {{run_id}} of {{flow}} {{state}}: {{message}}"}
 *
 *	  {{name}} is replaced by the event's field, escaped as the inside of
 *	  a JSON string (so it may stand inside quotes, and a number outside
 *	  them); {{event}} is the whole event as a JSON object.  Pure string
 *	  code, fuzzed (test/fuzz/fuzz_body_template.c): templates are users'.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "body_template.h"

/* Appends s escaped as the inside of a JSON string. */
static void
body_append_escaped(StringInfo out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			default:
				if (*p < 0x20)
					appendStringInfo(out, "\\u%04x", *p);
				else
					appendStringInfoChar(out, (char) *p);
		}
	}
}

/*
 * Renders template into out with the fields; returns NULL, or what is
 * wrong with the template (an unknown field, a "{{" not closed).
 */
const char *
elt_render_body(const char *template, const TemplateField *fields, int nfields, StringInfo out)
{
	const char *p = template;

	while (*p)
	{
		const char *open = strstr(p, "{{");
		const char *close;
		const char *name;
		size_t		len;
		int			i;

		if (open == NULL)
		{
			appendStringInfoString(out, p);
			break;
		}
		appendBinaryStringInfo(out, p, open - p);
		close = strstr(open + 2, "}}");
		if (close == NULL)
			return psprintf("\"{{\" at character %d is not closed by \"}}\"", (int) (open - template) + 1);
		name = open + 2;
		while (*name == ' ')
			name++;
		len = close - name;
		while (len > 0 && name[len - 1] == ' ')
			len--;
		for (i = 0; i < nfields; i++)
			if (strlen(fields[i].name) == len && strncmp(fields[i].name, name, len) == 0)
				break;
		if (i == nfields)
			return psprintf("unknown field \"%.*s\"", (int) Min(len, 64), name);
		if (fields[i].value && fields[i].raw)
			appendStringInfoString(out, fields[i].value);
		else if (fields[i].value)
			body_append_escaped(out, fields[i].value);
		p = close + 2;
	}
	return NULL;
}
