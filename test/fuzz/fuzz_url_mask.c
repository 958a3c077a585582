/*
 * fuzz_url_mask.c: masking secret query parameters in arbitrary query
 * strings, with the first line of the input as the list of names.
 * Checked: no memory error; a query in which no listed name is followed
 * by "=" comes out unchanged; and no value of a listed parameter is left.
 */
#include "fuzz.h"
#include "url_mask.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_TRY({
		char	   *input = fuzz_cstring(data, size);
		char	   *newline = strchr(input, '\n');
		const char *names = newline ? input : "token,sig";
		char	   *query = newline ? newline + 1 : input;
		char	   *out;
		char	   *p;

		if (newline)
			*newline = '\0';
		out = elt_mask_query(query, names);
		if (strchr(query, '=') == NULL && strcmp(out, query) != 0)
			abort();
		/* every parameter of out whose name is listed has the mask as its value */
		for (p = out; *p;)
		{
			size_t		len = strcspn(p, "&;");
			char	   *eq = memchr(p, '=', len);

			if (eq)
			{
				char	   *one = pnstrdup(p, eq - p);
				char	   *check = elt_mask_query(psprintf("%s=x", one), names);

				if (strcmp(check, psprintf("%s=x", one)) != 0 &&
					(len - (eq - p) - 1 != strlen(URL_MASK_VALUE) ||
					 strncmp(eq + 1, URL_MASK_VALUE, strlen(URL_MASK_VALUE)) != 0))
					abort();
			}
			p += len;
			if (*p)
				p++;
		}
	});
	fuzz_reset();
	return 0;
}
