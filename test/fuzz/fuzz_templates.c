/*
 * fuzz_templates.c: parameter substitution by psql's rules on arbitrary
 * templates (parameters a, b, t, n, url; see pg_stubs.c), lenient as
 * elt.substitute and strict as a task's SQL.  Checked: no memory error,
 * and a template without ':' comes out unchanged.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_TRY({
		char	   *template = fuzz_cstring(data, size);
		char	   *out = elt_substitute(template, NULL, NULL);

		if (strchr(template, ':') == NULL && strcmp(out, template) != 0)
			abort();
		(void) elt_substitute(template, NULL, "task \"fuzz\"");
	});
	fuzz_reset();
	return 0;
}
