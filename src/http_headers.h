/*-------------------------------------------------------------------------
 *
 * http_headers.h
 *	  The response headers a fetch reads (http_headers.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_HTTP_HEADERS_H
#define PG_ELT_HTTP_HEADERS_H

#include "postgres.h"


typedef struct HttpResponseHeaders
{
	bool		accept_ranges;
	char		etag[256];
	char		last_modified[128];
	int			retry_after_s;	/* -1: none */
} HttpResponseHeaders;

extern void elt_http_headers_reset(HttpResponseHeaders *h);
extern void elt_http_header_line(HttpResponseHeaders *h, const char *line, size_t len);
extern bool elt_store_xml_field(const char *body, size_t len, const char *field, char *out,
								  size_t outlen);

#endif							/* PG_ELT_HTTP_HEADERS_H */
