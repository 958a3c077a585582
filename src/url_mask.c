/*-------------------------------------------------------------------------
 *
 * url_mask.c
 *	  Hiding secrets that travel in a URL's query string: the values of
 *	  parameters with certain names (pg_elt.masked_url_parameters: token,
 *	  signature, X-Amz-Signature and the like) are replaced by *** wherever
 *	  a URL is shown, as user and password already are.  Pure string code,
 *	  fuzzed (test/fuzz/fuzz_url_mask.c): URLs come from users and servers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "url_mask.h"

/* Is the parameter name (len bytes at name) one of names, ignoring case? */
static bool
mask_name_listed(const char *name, size_t len, const char *names)
{
	const char *p = names;

	while (*p)
	{
		const char *end;
		const char *start;
		size_t		n;

		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		n = end - start;
		if (n > 0 && n == len && pg_strncasecmp(start, name, len) == 0)
			return true;
	}
	return false;
}

/*
 * The query (without its "?") with the value of every parameter whose
 * name is in names (a comma-separated list) replaced by URL_MASK_VALUE;
 * the rest is kept byte for byte.  Parameters are split at "&" and ";",
 * a name ends at the first "=".
 */
char *
elt_mask_query(const char *query, const char *names)
{
	StringInfoData out;
	const char *p = query;

	initStringInfo(&out);
	while (*p)
	{
		size_t		len = strcspn(p, "&;");
		const char *eq = memchr(p, '=', len);

		if (eq && mask_name_listed(p, eq - p, names))
		{
			appendBinaryStringInfo(&out, p, eq - p + 1);
			appendStringInfoString(&out, URL_MASK_VALUE);
		}
		else
			appendBinaryStringInfo(&out, p, len);
		p += len;
		if (*p)
			appendStringInfoChar(&out, *p++);
	}
	return out.data;
}
