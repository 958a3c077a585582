/*
 * fuzz_headers.c: HTTP response header lines from a hostile server,
 * split at newlines as libcurl delivers them, and the same bytes as an
 * object store's error document.  Checked: no memory error, and the
 * validators kept (sent back in If-Range) and the error's code and
 * message (shown in messages) are terminated and hold no control
 * characters.
 */
#include "fuzz.h"

static void
check_value(const char *v, size_t cap)
{
	size_t		len = strnlen(v, cap);

	if (len == cap)
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) v[i] < 0x20 || v[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	HttpResponseHeaders h;
	size_t		start = 0;

	elt_http_headers_reset(&h);
	for (size_t i = 0; i <= size; i++)
		if (i == size || data[i] == '\n')
		{
			size_t		end = i < size ? i + 1 : i;
			/* a copy of just the line, so that reading past it is caught */
			char	   *line = malloc(end - start + 1);

			memcpy(line, data + start, end - start);
			elt_http_header_line(&h, line, end - start);
			free(line);
			start = end;
		}
	check_value(h.etag, sizeof(h.etag));
	check_value(h.last_modified, sizeof(h.last_modified));
	{
		char	   *body = malloc(size + 1);
		char		code[64];
		char		message[256];

		memcpy(body, data, size);
		(void) elt_store_xml_field(body, size, "Code", code, sizeof(code));
		(void) elt_store_xml_field(body, size, "Message", message, sizeof(message));
		free(body);
		check_value(code, sizeof(code));
		check_value(message, sizeof(message));
	}
	if (h.retry_after_s < -1)
		abort();
	return 0;
}
