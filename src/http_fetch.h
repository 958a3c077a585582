/*-------------------------------------------------------------------------
 *
 * http_fetch.h
 *	  Fetching a URL as a byte stream with libcurl (http_fetch.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_HTTP_FETCH_H
#define PG_ELT_HTTP_FETCH_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "http_headers.h"
#include "stream.h"

typedef struct HttpOptions
{
	List	   *headers;		/* "Name: value" strings, for the URL's origin */
	bool		allow_file;		/* caller may read server files */
	bool		restricted;		/* outbound policy applies (not a superuser) */
	TimestampTz deadline;		/* 0 = none */
	int		   *retry_after_ms; /* out: Retry-After of a failed response, or 0 */
	struct HttpResponseHeaders *response;	/* out, if set: the headers of the file's response */
	/* a conditional request: validators of a copy the caller has, or NULL */
	const char *if_none_match;
	const char *if_modified_since;
	bool	   *not_modified;	/* out: the server answered 304 (the stream is empty) */
	/* an object store's request (object_store.c) */
	const char *display_url;	/* shown as it is instead of the URL (s3://bucket/key,
								 * which holds no credentials) */
	const char *aws_sigv4;		/* CURLOPT_AWS_SIGV4, with userpwd the keys */
	const char *userpwd;
	bool		store;			/* errors are S3 error documents */
} HttpOptions;

extern EltStream *elt_open_url(const char *url, const HttpOptions *options);
extern char *elt_redact_url(const char *url);
extern void elt_check_url_allowed(const char *url, bool allow_file);
extern long elt_http_post(const char *url, List *headers, const char *body, bool restricted,
						  int timeout_ms, char **error);

/* One request with its body in memory, and what came back. */
typedef struct HttpRequest
{
	const char *method;			/* POST, PUT, DELETE */
	const char *body;			/* NULL: none */
	size_t		body_len;
	const char *content_type;	/* or NULL */
	int			timeout_ms;		/* 0: none */
	/* out */
	char		response[4096]; /* the start of the response's body */
	size_t		response_len;
	HttpResponseHeaders response_headers;
} HttpRequest;

extern void elt_store_report_refusal(const char *display_url, long status, const char *doc,
									 size_t len);
extern long elt_http_request(const char *url, const HttpOptions *options, HttpRequest *req,
							 char **error);

#endif							/* PG_ELT_HTTP_FETCH_H */
