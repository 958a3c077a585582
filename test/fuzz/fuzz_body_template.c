/*
 * fuzz_body_template.c: webhook body templates from users, filled in with
 * an event whose field values are hostile too (the second line of the
 * input is every field's value).  Checked: no memory error; a template
 * without "{{" comes out unchanged; and a value, once filled in, adds no
 * unescaped quote, backslash or control character.
 */
#include "fuzz.h"
#include "body_template.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TemplateField fields[3];

	fields[0].name = "flow";
	fields[0].raw = false;
	fields[1].name = "message";
	fields[1].value = NULL;
	fields[1].raw = false;
	fields[2].name = "json";
	fields[2].value = "{}";
	fields[2].raw = true;
	FUZZ_TRY({
		char	   *input = fuzz_cstring(data, size);
		char	   *newline = strchr(input, '\n');
		StringInfoData out;
		const char *error;

		fields[0].value = newline ? newline + 1 : "a \"quoted\" \\ value\t";
		if (newline)
			*newline = '\0';
		initStringInfo(&out);
		error = elt_render_body(input, fields, 3, &out);
		if (error == NULL && strstr(input, "{{") == NULL && strcmp(out.data, input) != 0)
			abort();
		if (error == NULL && strcmp(input, "{{flow}}") == 0)
		{
			for (const char *p = out.data; *p; p++)
			{
				if ((unsigned char) *p < 0x20)
					abort();
				if (*p == '\\')
				{
					if (p[1] == '\0')
						abort();
					p++;		/* an escape: its next character is escaped */
				}
				else if (*p == '"')
					abort();
			}
		}
	});
	fuzz_reset();
	return 0;
}
