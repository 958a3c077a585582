/*-------------------------------------------------------------------------
 *
 * http_headers.c
 *	  Reading the header lines of an HTTP response, which are bytes from a
 *	  server we do not control: only what resuming and retrying need is
 *	  kept (ETag, Last-Modified, Accept-Ranges, Retry-After), cut to fixed
 *	  buffers.  A validator is sent back to the server in If-Range, so one
 *	  with control characters is dropped rather than echoed into a request.
 *
 *	  Also the elements of an object store's small XML answers: what an
 *	  error document (S3's <Error><Code>...) says, for the message of a
 *	  refused request, and a multipart upload's id.
 *
 *	  Pure code (no palloc, no ereport): it runs inside libcurl's header
 *	  callback, and test/fuzz drives it directly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "http_headers.h"

/*
 * Copies a header's value (after "Name:"), trimmed, into dst; false, with
 * dst empty, when it holds a control character (or is too long to keep).
 */
static bool
http_copy_header_value(char *dst, size_t dstlen, const char *value, size_t len)
{
	while (len > 0 && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' ||
					   value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	dst[0] = '\0';
	if (len >= dstlen)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) value[i] < 0x20 || value[i] == 0x7f)
			return false;
	memcpy(dst, value, len);
	dst[len] = '\0';
	return true;
}

static bool
http_header_is(const char *line, size_t len, const char *name, const char **value,
			   size_t *value_len)
{
	size_t		nlen = strlen(name);

	if (len <= nlen || pg_strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return false;
	*value = line + nlen + 1;
	*value_len = len - nlen - 1;
	return true;
}

void
elt_http_headers_reset(HttpResponseHeaders *h)
{
	h->accept_ranges = false;
	h->etag[0] = '\0';
	h->last_modified[0] = '\0';
	h->retry_after_s = -1;
}

/*
 * Folds one header line (not NUL-terminated) into h.  A status line
 * starts a new response (redirects give several), so it resets h.
 */
void
elt_http_header_line(HttpResponseHeaders *h, const char *line, size_t len)
{
	const char *value;
	size_t		vlen;
	char		tmp[32];

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0)
		elt_http_headers_reset(h);
	else if (http_header_is(line, len, "ETag", &value, &vlen))
		(void) http_copy_header_value(h->etag, sizeof(h->etag), value, vlen);
	else if (http_header_is(line, len, "Last-Modified", &value, &vlen))
		(void) http_copy_header_value(h->last_modified, sizeof(h->last_modified), value, vlen);
	else if (http_header_is(line, len, "Accept-Ranges", &value, &vlen))
		h->accept_ranges = http_copy_header_value(tmp, sizeof(tmp), value, vlen) &&
			pg_strcasecmp(tmp, "bytes") == 0;
	else if (http_header_is(line, len, "Retry-After", &value, &vlen))
	{
		/* delay-seconds only (an HTTP date is taken as no word), capped */
		h->retry_after_s = -1;
		if (http_copy_header_value(tmp, sizeof(tmp), value, vlen) && tmp[0] != '\0' &&
			strspn(tmp, "0123456789") == strlen(tmp))
			h->retry_after_s = strlen(tmp) > 6 ? 999999 : atoi(tmp);
	}
}

/*
 * The text of the first <field>...</field> element of an object store's
 * XML (an error document, a multipart upload's id), body being len bytes,
 * not terminated, into out: printable ASCII only (an
 * entity or any other byte becomes '?'), cut to outlen - 1.  False, with
 * out empty, when there is no such element.
 */
bool
elt_store_xml_field(const char *body, size_t len, const char *field, char *out, size_t outlen)
{
	size_t		flen = strlen(field);
	size_t		n = 0;

	if (outlen == 0)
		return false;
	out[0] = '\0';
	for (size_t i = 0; i + flen + 2 <= len; i++)
	{
		size_t		start = i + flen + 2;

		if (body[i] != '<' || memcmp(body + i + 1, field, flen) != 0 || body[i + flen + 1] != '>')
			continue;
		for (size_t j = start; j < len && body[j] != '<'; j++)
		{
			unsigned char c = (unsigned char) body[j];

			if (n + 1 < outlen)
				out[n++] = (c >= 0x20 && c < 0x7f && c != '&') ? (char) c : '?';
		}
		out[n] = '\0';
		return true;
	}
	return false;
}
