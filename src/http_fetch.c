/*-------------------------------------------------------------------------
 *
 * http_fetch.c
 *	  The HTTP(S) end of a load: a pull-style byte stream over libcurl.
 *
 *	  COPY pulls data through a callback, while libcurl pushes it; the multi
 *	  interface joins the two without threads: read() drives
 *	  curl_multi_perform until the write callback has buffered some bytes,
 *	  and pauses the transfer when the buffer is full, so memory stays
 *	  bounded whatever the file's size.  Between polls (at most 100 ms) the
 *	  loop checks for interrupts, so pg_cancel_backend and statement_timeout
 *	  stop a download promptly.
 *
 *	  A transfer cut short after some bytes is resumed with a Range request
 *	  guarded by If-Range, when the first response promised byte ranges and
 *	  gave an ETag or Last-Modified: the reader above never notices.  When
 *	  that is impossible the stream fails with a connection error, which
 *	  the load treats as transient (roll back, start again).
 *
 *	  A conditional request (If-None-Match, If-Modified-Since: the
 *	  validators of a copy the caller has) that the server answers with
 *	  304 is a stream with no bytes, and the caller is told.
 *
 *	  A webhook POST (elt_http_post, for the notifier) shares the outbound
 *	  policy and the cleanup on error.
 *
 *	  Credentials in a URL are never printed: every message uses the URL
 *	  with user and password removed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "file_source.h"
#include "guc.h"
#include "http_fetch.h"
#include "http_headers.h"
#include "outbound.h"
#include "stream.h"
#include "url_mask.h"

#define HTTP_PAUSE_THRESHOLD	(1024 * 1024)	/* stop receiving above this */
#define HTTP_POLL_MS			100
#define HTTP_MAX_RESUMES		10

typedef struct HttpStream
{
	EltStream	base;
	char	   *url;			/* as given or redirected to; may hold credentials */
	HttpOptions options;
	bool		at_origin;		/* still at the given URL's origin: send headers */
	int			redirects;
	char		refused[INET6_ADDRSTRLEN + 16]; /* address the policy refused */
	const char *refused_why;

	CURLM	   *multi;
	CURL	   *easy;
	struct curl_slist *header_list;
	bool		closed;

	/* bytes received but not yet read; malloc'd, grows to the threshold */
	char	   *buf;
	size_t		buf_start;
	size_t		buf_end;
	size_t		buf_size;
	bool		paused;

	/* the current response */
	bool		transfer_done;
	CURLcode	result;
	long		status;
	bool		status_seen;
	bool		over_download_cap;
	bool		resume_refused;
	HttpResponseHeaders response;
	bool		reading_error;	/* keeping an object store's error document */
	/* the start of a body that is not data: an error document, an answer */
	char		kept_body[4096];
	size_t		kept_body_len;

	/* validators of the first response, which resumes must match */
	bool		resumable;
	char		validator[256];

	/* base.received is the offset in the resource of the next byte */
	uint64		resumed_at;		/* offset of the last resume */
	int			resumes;
	char		errbuf[CURL_ERROR_SIZE];
} HttpStream;

/* Release curl state; safe to call more than once. */
static void
http_release(void *arg)
{
	HttpStream *hs = (HttpStream *) arg;

	if (hs->closed)
		return;
	hs->closed = true;
	if (hs->multi && hs->easy)
		curl_multi_remove_handle(hs->multi, hs->easy);
	if (hs->easy)
		curl_easy_cleanup(hs->easy);
	if (hs->multi)
		curl_multi_cleanup(hs->multi);
	if (hs->header_list)
		curl_slist_free_all(hs->header_list);
	free(hs->buf);
	hs->easy = NULL;
	hs->multi = NULL;
	hs->header_list = NULL;
	hs->buf = NULL;
}

static void
http_close(EltStream *stream)
{
	http_release(stream);
}

/*
 * The URL without user name and password, and with the values of secret
 * query parameters masked (url_mask.c).  Unparsable URLs are cut after
 * the scheme so that nothing secret can leak through them either.
 */
char *
elt_redact_url(const char *url)
{
	CURLU	   *h = curl_url();
	char	   *clean = NULL;
	char	   *query = NULL;
	char	   *result;
	bool		masked = true;

	if (h == NULL)
		elog(ERROR, "out of memory");
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query)
	{
		masked = curl_url_set(h, CURLUPART_QUERY,
							  elt_mask_query(query, elt_masked_url_parameters ?
											 elt_masked_url_parameters : ""), 0) == CURLUE_OK;
		curl_free(query);
	}
	if (masked &&
		curl_url_set(h, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
		curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_URL, &clean, 0) == CURLUE_OK)
	{
		result = pstrdup(clean);
		curl_free(clean);
	}
	else
	{
		result = strchr(url, '@') || strchr(url, '?') ?
			pstrdup("(not shown: it may hold credentials)") : pstrdup(url);
	}
	curl_url_cleanup(h);
	return result;
}

static char *
http_url_scheme(const char *url)
{
	CURLU	   *h = curl_url();
	char	   *scheme = NULL;
	char	   *result = NULL;

	if (h == NULL)
		elog(ERROR, "out of memory");
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
	{
		result = pstrdup(scheme);
		curl_free(scheme);
	}
	curl_url_cleanup(h);
	return result;
}

/*
 * Refuses URLs the caller may not fetch: only http and https, plus file
 * for those allowed to read server files (as COPY FROM 'file' requires).
 */
void
elt_check_url_allowed(const char *url, bool allow_file)
{
	char	   *scheme = http_url_scheme(url);

	if (scheme == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL: %s", elt_redact_url(url)),
				 errhint("Give a full URL such as https://host/path/file.csv.gz.")));
	if (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)
		return;
	if (strcmp(scheme, "file") == 0)
	{
		if (allow_file)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read \"%s\"", elt_redact_url(url)),
				 errdetail("Only superusers and roles with privileges of the \"pg_read_server_files\" role may load file:// URLs.")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("URL scheme \"%s\" is not supported", scheme),
			 errdetail("URL: %s", elt_redact_url(url)),
			 errhint("pg_elt loads from http://, https://, s3:// and gs:// URLs (foreign tables: http and https).")));
}

/* A value that can go into a request header as it is: no control characters. */
static bool
http_header_value_is_safe(const char *value)
{
	for (const char *c = value; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* libcurl header callback: inside curl, so http_headers.c's pure code. */
static size_t
http_header_cb(char *line, size_t size, size_t nitems, void *arg)
{
	HttpStream *hs = (HttpStream *) arg;

	elt_http_header_line(&hs->response, line, size * nitems);
	return size * nitems;
}

/* A response whose body is the file: 2xx, or 0 for file:// URLs. */
static inline bool
http_status_is_data(long status)
{
	return status == 0 || (status >= 200 && status < 300);
}

/*
 * libcurl write callback: appends to the buffer.  The first call of a
 * response checks its status, so an error page is never taken for data.
 */
static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	HttpStream *hs = (HttpStream *) arg;
	size_t		len = size * nmemb;

	if (hs->reading_error)
	{
		size_t		n = Min(len, sizeof(hs->kept_body) - hs->kept_body_len);

		memcpy(hs->kept_body + hs->kept_body_len, data, n);
		hs->kept_body_len += n;
		return len;
	}
	if (!hs->status_seen)
	{
		hs->status_seen = true;
		curl_easy_getinfo(hs->easy, CURLINFO_RESPONSE_CODE, &hs->status);
		if (!http_status_is_data(hs->status) && hs->options.store && hs->status >= 400)
		{
			hs->reading_error = true;
			return http_write_cb(data, size, nmemb, arg);
		}
		if (!http_status_is_data(hs->status))
			return 0;
		if (hs->base.received > 0 && hs->status != 206)
		{
			hs->resume_refused = true;
			return 0;
		}
		if (hs->base.received == 0)
		{
			curl_off_t	length = -1;
			const char *validator = hs->response.etag[0] ? hs->response.etag : hs->response.last_modified;

			hs->resumable = hs->response.accept_ranges && validator[0] != '\0' &&
				http_header_value_is_safe(validator);
			strlcpy(hs->validator, validator, sizeof(hs->validator));
			if (curl_easy_getinfo(hs->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
				length > 0)
				hs->base.size = (uint64) length;
			if (hs->options.response)
				*hs->options.response = hs->response;
		}
	}

	if (elt_max_download_kb > 0 &&
		hs->base.received + len > (uint64) elt_max_download_kb * 1024)
	{
		hs->over_download_cap = true;
		return 0;
	}

	if (hs->buf_end - hs->buf_start >= HTTP_PAUSE_THRESHOLD)
	{
		hs->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}

	if (hs->buf_start == hs->buf_end)
		hs->buf_start = hs->buf_end = 0;
	if (hs->buf_end + len > hs->buf_size)
	{
		size_t		newsize = Max(hs->buf_size * 2, hs->buf_end + len);
		char	   *newbuf = realloc(hs->buf, newsize);

		if (newbuf == NULL)
			return 0;
		hs->buf = newbuf;
		hs->buf_size = newsize;
	}
	memcpy(hs->buf + hs->buf_end, data, len);
	hs->buf_end += len;
	hs->base.received += len;
	return len;
}

/*
 * libcurl open-socket callback: every connection, to every address of
 * every hop, is checked against the outbound policy here.  Runs inside
 * curl, so a refusal is only noted; http_handle_failure reports it.
 */
static curl_socket_t
http_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	HttpStream *hs = (HttpStream *) arg;
	const char *why;

	if (hs->options.restricted && !elt_outbound_allowed(&address->addr, &why))
	{
		char		host[INET6_ADDRSTRLEN] = "?";
		int			port = 0;

		if (address->family == AF_INET)
		{
			struct sockaddr_in *in = (struct sockaddr_in *) &address->addr;

			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			port = ntohs(in->sin_port);
		}
		else if (address->family == AF_INET6)
		{
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &address->addr;

			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			port = ntohs(in6->sin6_port);
		}
		snprintf(hs->refused, sizeof(hs->refused), "%s port %d", host, port);
		hs->refused_why = why;
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

/* "scheme://host:port" of a URL, with the scheme's default port filled in. */
static char *
http_origin(const char *url)
{
	CURLU	   *h = curl_url();
	char	   *scheme = NULL,
			   *host = NULL,
			   *port = NULL;
	char	   *result = NULL;

	if (h == NULL)
		elog(ERROR, "out of memory");
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		result = psprintf("%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(h);
	if (result)
		for (char *c = result; *c; c++)
			*c = pg_ascii_tolower((unsigned char) *c);
	return result;
}

static void http_start_transfer(HttpStream *hs);

/* Adds a request header; false (nothing added) when value could split the request. */
static bool
http_add_header(HttpStream *hs, const char *name, const char *value)
{
	struct curl_slist *l;

	if (!http_header_value_is_safe(value))
		return false;
	l = curl_slist_append(hs->header_list, psprintf("%s: %s", name, value));
	if (l == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	hs->header_list = l;
	return true;
}

/* Was this a conditional request, and did the server say the copy is current? */
static bool
http_is_not_modified(HttpStream *hs)
{
	return hs->status == 304 && hs->base.received == 0 &&
		(hs->options.if_none_match || hs->options.if_modified_since);
}

/*
 * Redirects are followed here rather than by libcurl, so that each hop is
 * checked like the URL the user gave (http and https only, the outbound
 * policy), and so that the user's headers, which may carry an API key,
 * are sent only while the requests stay at the given URL's origin.
 * False when the response is not a redirect.
 */
static bool
http_follow_redirect(HttpStream *hs)
{
	char	   *location = NULL;
	char	   *target;
	char	   *from;
	char	   *to;

	if (hs->status < 300 || hs->status >= 400 || hs->status == 304 ||
		curl_easy_getinfo(hs->easy, CURLINFO_REDIRECT_URL, &location) != CURLE_OK ||
		location == NULL)
		return false;
	/* in the stream's context: COPY calls in with a per-row one */
	target = MemoryContextStrdup(GetMemoryChunkContext(hs), location);
	if (hs->redirects >= elt_max_redirects)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not fetch \"%s\": more than %d redirects", hs->base.display_url,
						elt_max_redirects),
				 errhint("A superuser can raise pg_elt.max_redirects.")));
	to = http_origin(target);
	if (to == NULL || (strncmp(to, "http://", 7) != 0 && strncmp(to, "https://", 8) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not fetch \"%s\": it redirects to \"%s\"", hs->base.display_url,
						elt_redact_url(target)),
				 errhint("Redirects are followed to http:// and https:// URLs only.")));
	from = http_origin(hs->url);
	if (from == NULL || strcmp(from, to) != 0)
		hs->at_origin = false;
	hs->url = target;
	hs->redirects++;
	http_start_transfer(hs);
	return true;
}

#define http_setopt(hs, opt, val) \
	do { \
		if (curl_easy_setopt((hs)->easy, (opt), (val)) != CURLE_OK) \
			ereport(ERROR, \
					(errcode(ERRCODE_SYSTEM_ERROR), \
					 errmsg("could not set libcurl option %s", #opt))); \
	} while (0)

/* Appends "Name: value" headers to the request's list. */
static void
http_append_headers(HttpStream *hs, List *headers)
{
	ListCell   *lc;

	foreach(lc, headers)
	{
		struct curl_slist *l = curl_slist_append(hs->header_list, lfirst(lc));

		if (l == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		hs->header_list = l;
	}
}

/*
 * What every request of ours is: to url (an object's key sent as it is,
 * so that "../" in it cannot reach another bucket), signed when sign and
 * the options say so, http(s) only, redirects left to the caller, every
 * connection checked against the outbound policy (and no proxy from the
 * server's environment under it, which would hide the target's address),
 * with the connect timeout, our user agent, hs->header_list and the header
 * callback.
 */
static void
http_set_common_options(HttpStream *hs, const char *url, bool sign)
{
	http_setopt(hs, CURLOPT_URL, url);
	if (hs->options.store)
		http_setopt(hs, CURLOPT_PATH_AS_IS, 1L);
	if (sign && hs->options.aws_sigv4)
	{
		http_setopt(hs, CURLOPT_AWS_SIGV4, hs->options.aws_sigv4);
		http_setopt(hs, CURLOPT_USERPWD, hs->options.userpwd);
	}
	http_setopt(hs, CURLOPT_NOSIGNAL, 1L);
	http_setopt(hs, CURLOPT_PROTOCOLS_STR, "http,https");
	http_setopt(hs, CURLOPT_FOLLOWLOCATION, 0L);
	http_setopt(hs, CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
	http_setopt(hs, CURLOPT_OPENSOCKETDATA, hs);
	if (hs->options.restricted)
		http_setopt(hs, CURLOPT_PROXY, "");
	http_setopt(hs, CURLOPT_CONNECTTIMEOUT, (long) elt_connect_timeout_s);
	http_setopt(hs, CURLOPT_USERAGENT, "pg_elt/" PG_ELT_VERSION);
	http_setopt(hs, CURLOPT_HTTPHEADER, hs->header_list);
	http_setopt(hs, CURLOPT_HEADERFUNCTION, http_header_cb);
	http_setopt(hs, CURLOPT_HEADERDATA, hs);
	http_setopt(hs, CURLOPT_ERRORBUFFER, hs->errbuf);
}

/* Starts (or, with hs->base.received > 0, resumes) the transfer. */
static void
http_start_transfer(HttpStream *hs)
{
	if (hs->easy)
	{
		curl_multi_remove_handle(hs->multi, hs->easy);
		curl_easy_reset(hs->easy);
	}
	else if ((hs->easy = curl_easy_init()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	if (hs->header_list)
	{
		curl_slist_free_all(hs->header_list);
		hs->header_list = NULL;
	}

	/* headers, which may carry a key, and signing only at the given URL's origin */
	if (hs->at_origin)
		http_append_headers(hs, hs->options.headers);
	if (hs->base.received > 0)
	{
		(void) http_add_header(hs, "If-Range", hs->validator);
		http_setopt(hs, CURLOPT_RESUME_FROM_LARGE, (curl_off_t) hs->base.received);
	}
	else
	{
		if (hs->options.if_none_match &&
			!http_add_header(hs, "If-None-Match", hs->options.if_none_match))
			hs->options.if_none_match = NULL;
		if (hs->options.if_modified_since &&
			!http_add_header(hs, "If-Modified-Since", hs->options.if_modified_since))
			hs->options.if_modified_since = NULL;
	}

	http_set_common_options(hs, hs->url, hs->at_origin);	/* redirects: http_follow_redirect */
	http_setopt(hs, CURLOPT_LOW_SPEED_LIMIT, 1L);
	http_setopt(hs, CURLOPT_LOW_SPEED_TIME, (long) elt_low_speed_timeout_s);
	http_setopt(hs, CURLOPT_BUFFERSIZE, 256L * 1024);
	http_setopt(hs, CURLOPT_WRITEFUNCTION, http_write_cb);
	http_setopt(hs, CURLOPT_WRITEDATA, hs);
	if (elt_max_download_kb > 0)
		http_setopt(hs, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) elt_max_download_kb * 1024);

	hs->errbuf[0] = '\0';
	hs->refused[0] = '\0';
	hs->transfer_done = false;
	hs->status = 0;
	hs->status_seen = false;
	hs->resume_refused = false;
	hs->paused = false;
	hs->reading_error = false;
	hs->kept_body_len = 0;
	elt_http_headers_reset(&hs->response);

	if (curl_multi_add_handle(hs->multi, hs->easy) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start the transfer of \"%s\"", hs->base.display_url)));
}

/* PostgreSQL error code for an HTTP status: what a retry could change. */
static int
http_status_errcode(long status)
{
	if (status == 404 || status == 410)
		return ERRCODE_UNDEFINED_FILE;
	if (status == 401 || status == 403)
		return ERRCODE_INSUFFICIENT_PRIVILEGE;
	if (status == 408 || status == 425 || status == 429 || status >= 500)
		return ERRCODE_CONNECTION_FAILURE;
	return ERRCODE_INVALID_PARAMETER_VALUE;
}

/* Tells the caller how long the server asked it to wait (0: no word). */
static void
http_set_retry_after(HttpStream *hs, int ms)
{
	if (hs->options.retry_after_ms)
		*hs->options.retry_after_ms = ms;
}

/* The hint for an object store's error code, or NULL. */
static const char *
http_store_hint(const char *code)
{
	if (strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "InvalidAccessKeyId") == 0)
		return "Check the access_key_id and secret_access_key of the credential (elt.alter_credential).";
	if (strcmp(code, "AuthorizationHeaderMalformed") == 0)
		return "The bucket is in another region: set the credential's region setting, or the region option.";
	if (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidToken") == 0 ||
		strcmp(code, "TokenRefreshRequired") == 0)
		return "Give the credential a new session_token (elt.alter_credential).";
	if (strcmp(code, "RequestTimeTooSkewed") == 0)
		return "The database server's clock and the store's differ by more than 15 minutes: set the server's clock right.";
	if (strcmp(code, "AccessDenied") == 0)
		return "The keys may not read this bucket or object; a public bucket needs no credential.";
	if (strcmp(code, "NoSuchBucket") == 0 || strcmp(code, "NoSuchKey") == 0)
		return "Check the bucket and key; elt.list_files shows what a bucket holds.";
	return NULL;
}

/*
 * An object store's refusal of a request for display_url (status, and its
 * error document doc, len bytes): its error code and message in the
 * report.  Returns when doc is no error document.
 */
void
elt_store_report_refusal(const char *display_url, long status, const char *doc, size_t len)
{
	char		code[64];
	char		message[256];
	const char *hint;
	bool		auth;

	if (!elt_store_xml_field(doc, len, "Code", code, sizeof(code)))
		return;
	(void) elt_store_xml_field(doc, len, "Message", message, sizeof(message));
	hint = http_store_hint(code);
	auth = strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "InvalidAccessKeyId") == 0 ||
		strcmp(code, "AuthorizationHeaderMalformed") == 0 || strcmp(code, "ExpiredToken") == 0 ||
		strcmp(code, "InvalidToken") == 0 || strcmp(code, "RequestTimeTooSkewed") == 0;
	ereport(ERROR,
			(errcode(auth ? ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION :
					 http_status_errcode(status)),
			 errmsg("the object store refused \"%s\": %s (HTTP status %ld)", display_url,
					code, status),
			 message[0] ? errdetail("The store said: %s", message) : 0,
			 hint ? errhint("%s", hint) : 0));
}

static void
http_report_status(HttpStream *hs)
{
	http_set_retry_after(hs, hs->response.retry_after_s > 0 ?
						 Min(hs->response.retry_after_s, 300) * 1000 : 0);
	if (hs->options.store && hs->kept_body_len > 0 && hs->status < 500 && hs->status != 429)
		elt_store_report_refusal(hs->base.display_url, hs->status, hs->kept_body,
								 hs->kept_body_len);
	ereport(ERROR,
			(errcode(http_status_errcode(hs->status)),
			 errmsg("HTTP status %ld fetching \"%s\"", hs->status, hs->base.display_url),
			 (hs->status >= 300 && hs->status < 400) ?
			 errdetail("A redirect without a usable Location, or a response that is not the file.") : 0,
			 hs->status == 404 ? errhint("Check the URL; the server has no such file.") :
			 (hs->status == 401 || hs->status == 403) ?
			 errhint("The server refused access; add credentials with the \"headers\" option.") : 0));
}

static bool
http_curl_error_is_transient(CURLcode code)
{
	switch (code)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_PARTIAL_FILE:
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_RANGE_ERROR:
			return true;
		default:
			return false;
	}
}

/*
 * The current transfer ended without delivering all its data: resume it
 * when the server allows, else fail with an error saying what happened.
 */
static void
http_handle_failure(HttpStream *hs)
{
	const char *why = hs->errbuf[0] ? hs->errbuf : curl_easy_strerror(hs->result);

	/* a refused address fails the transfer only if no other one connected */
	if (hs->refused[0] && hs->result == CURLE_COULDNT_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to connect to %s for \"%s\"", hs->refused,
						hs->base.display_url),
				 errdetail("Loads by roles that are not superusers may not connect there: %s.",
						   hs->refused_why),
				 errhint("A superuser can allow it with pg_elt.allowed_networks and pg_elt.allowed_ports.")));
	if (http_follow_redirect(hs))
		return;
	if (hs->over_download_cap)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("download of \"%s\" exceeds pg_elt.max_download_size", hs->base.display_url),
				 errhint("A superuser can raise pg_elt.max_download_size.")));
	if (hs->result == CURLE_FILESIZE_EXCEEDED)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("\"%s\" is larger than pg_elt.max_download_size", hs->base.display_url),
				 errhint("A superuser can raise pg_elt.max_download_size.")));
	if (!http_status_is_data(hs->status))
		http_report_status(hs);

	if (hs->resume_refused)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not resume the transfer of \"%s\" at byte " UINT64_FORMAT,
						hs->base.display_url, hs->base.received),
				 errdetail("The server sent the whole file again (HTTP status %ld): it changed or does not honour If-Range.",
						   hs->status)));

	if (http_curl_error_is_transient(hs->result) && hs->resumable &&
		hs->base.received > hs->resumed_at && hs->resumes < HTTP_MAX_RESUMES)
	{
		ereport(NOTICE,
				(errmsg("transfer of \"%s\" was cut after " UINT64_FORMAT " bytes; resuming",
						hs->base.display_url, hs->base.received),
				 errdetail("libcurl: %s.", why)));
		hs->resumes++;
		hs->resumed_at = hs->base.received;
		http_start_transfer(hs);
		return;
	}

	http_set_retry_after(hs, 0);
	ereport(ERROR,
			(errcode(http_curl_error_is_transient(hs->result) ? ERRCODE_CONNECTION_FAILURE :
					 ERRCODE_IO_ERROR),
			 errmsg("could not fetch \"%s\"", hs->base.display_url),
			 hs->base.received > 0 ?
			 errdetail("libcurl: %s.  The transfer stopped after " UINT64_FORMAT " bytes%s.", why,
					   hs->base.received,
					   hs->resumable ? "" : " and the server does not allow resuming it") :
			 errdetail("libcurl: %s.", why)));
}

/* Runs curl until there is data in the buffer or the transfer has ended. */
static void
http_pump(HttpStream *hs)
{
	while (hs->buf_end == hs->buf_start && !hs->transfer_done)
	{
		int			running;
		int			pending;
		CURLMsg    *msg;
		CURLMcode	mc;

		CHECK_FOR_INTERRUPTS();
		if (hs->options.deadline != 0 && GetCurrentTimestamp() >= hs->options.deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("load of \"%s\" timed out", hs->base.display_url),
					 errdetail("The timeout option ended it after " UINT64_FORMAT " bytes.",
							   hs->base.received)));

		if (hs->paused)
		{
			hs->paused = false;
			curl_easy_pause(hs->easy, CURLPAUSE_CONT);
		}
		mc = curl_multi_perform(hs->multi, &running);
		if (mc != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("libcurl failed fetching \"%s\": %s", hs->base.display_url,
							curl_multi_strerror(mc))));
		while ((msg = curl_multi_info_read(hs->multi, &pending)) != NULL)
		{
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == hs->easy)
			{
				hs->transfer_done = true;
				hs->result = msg->data.result;
			}
		}
		if (hs->buf_end > hs->buf_start || hs->transfer_done)
			break;
		mc = curl_multi_poll(hs->multi, NULL, 0, HTTP_POLL_MS, NULL);
		if (mc != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("libcurl failed fetching \"%s\": %s", hs->base.display_url,
							curl_multi_strerror(mc))));
	}
}

static size_t
http_read(EltStream *stream, char *dst, size_t len)
{
	HttpStream *hs = (HttpStream *) stream;

	for (;;)
	{
		size_t		avail = hs->buf_end - hs->buf_start;

		if (avail > 0)
		{
			size_t		n = Min(avail, len);

			memcpy(dst, hs->buf + hs->buf_start, n);
			hs->buf_start += n;
			return n;
		}
		if (hs->transfer_done)
		{
			if (!hs->status_seen)
				curl_easy_getinfo(hs->easy, CURLINFO_RESPONSE_CODE, &hs->status);
			if (hs->result == CURLE_OK && http_status_is_data(hs->status))
				return 0;
			if (hs->result == CURLE_OK && http_is_not_modified(hs))
			{
				if (hs->options.not_modified)
					*hs->options.not_modified = true;
				return 0;
			}
			http_handle_failure(hs);
			continue;
		}
		http_pump(hs);
	}
}

/* The local path of a file:// URL, which must name no other host. */
static char *
http_file_path(const char *url)
{
	CURLU	   *h = curl_url();
	char	   *host = NULL;
	char	   *path = NULL;
	char	   *result = NULL;

	if (h == NULL)
		elog(ERROR, "out of memory");
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK)
	{
		if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || host == NULL ||
			host[0] == '\0' || pg_strcasecmp(host, "localhost") == 0)
			result = pstrdup(path);
	}
	curl_free(host);
	curl_free(path);
	curl_url_cleanup(h);
	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid file URL: %s", elt_redact_url(url)),
				 errhint("Write server files as file:///absolute/path.")));
	return result;
}

/*
 * Opens url for reading: an http(s) transfer, or a server file for those
 * allowed to read one.  The stream lives in the current memory context;
 * its curl handles are released when that context goes away, even when an
 * error unwinds past the caller.
 */
EltStream *
elt_open_url(const char *url, const HttpOptions *options)
{
	HttpStream *hs;
	MemoryContextCallback *cb;
	char	   *scheme;

	elt_check_url_allowed(url, options->allow_file);
	scheme = http_url_scheme(url);
	if (pg_strcasecmp(scheme, "file") == 0)
		return elt_file_open(http_file_path(url), elt_redact_url(url));

	hs = palloc0(sizeof(HttpStream));
	hs->base.read = http_read;
	hs->base.close = http_close;
	hs->base.display_url = (options->display_url ? pstrdup(options->display_url) : elt_redact_url(url));
	hs->url = pstrdup(url);
	hs->options = *options;
	hs->at_origin = true;
	elt_http_headers_reset(&hs->response);
	http_set_retry_after(hs, 0);

	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = http_release;
	cb->arg = hs;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);

	if ((hs->multi = curl_multi_init()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	http_start_transfer(hs);
	return &hs->base;
}

/*
 * libcurl write callback of a request: keeps the start of the response's
 * body, after any leading white space (S3 pads a completion's answer with
 * it while it works, then may send an error document).
 */
static size_t
http_keep_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	HttpStream *hs = (HttpStream *) arg;
	size_t		total = size * nmemb;
	size_t		len = total;
	size_t		n;

	while (hs->kept_body_len == 0 && len > 0 && isspace((unsigned char) *data))
		data++, len--;
	n = Min(len, sizeof(hs->kept_body) - hs->kept_body_len);
	memcpy(hs->kept_body + hs->kept_body_len, data, n);
	hs->kept_body_len += n;
	return total;
}

/*
 * One request with its body in memory (req->method: POST, PUT, DELETE;
 * no body when req->body is NULL) to url, with options' headers (sent
 * only to url's origin: redirects are not followed) and signing, under
 * the outbound policy when options->restricted, within req->timeout_ms
 * (0: none).  Returns the response's status, or 0 when none came, with
 * *error saying why (the URL shown without its secrets); req->response
 * gets the start of its body (4 kB) and its headers.  Interruptible; the
 * curl handles are released on error too.
 */
long
elt_http_request(const char *url, const HttpOptions *options, HttpRequest *req, char **error)
{
	HttpStream *hs = palloc0(sizeof(HttpStream));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	long		status = 0;
	bool		done = false;
	CURLcode	result = CURLE_OK;

	*error = NULL;
	elt_check_url_allowed(url, false);
	hs->base.display_url = (options->display_url ? pstrdup(options->display_url) : elt_redact_url(url));
	hs->options = *options;
	elt_http_headers_reset(&hs->response);
	cb->func = http_release;
	cb->arg = hs;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	if ((hs->multi = curl_multi_init()) == NULL || (hs->easy = curl_easy_init()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	if (req->content_type)
		(void) http_add_header(hs, "Content-Type", req->content_type);
	http_append_headers(hs, options->headers);
	http_set_common_options(hs, url, true);
	if (req->timeout_ms > 0)
		http_setopt(hs, CURLOPT_TIMEOUT_MS, (long) req->timeout_ms);
	http_setopt(hs, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body)
	{
		http_setopt(hs, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
		http_setopt(hs, CURLOPT_POSTFIELDS, req->body);
	}
	else if (strcmp(req->method, "POST") == 0)
		http_setopt(hs, CURLOPT_POSTFIELDS, "");
	http_setopt(hs, CURLOPT_WRITEFUNCTION, http_keep_cb);
	http_setopt(hs, CURLOPT_WRITEDATA, hs);
	if (curl_multi_add_handle(hs->multi, hs->easy) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start a request to \"%s\"", hs->base.display_url)));
	while (!done)
	{
		int			running;
		int			pending;
		CURLMsg    *msg;

		CHECK_FOR_INTERRUPTS();
		if (options->deadline != 0 && GetCurrentTimestamp() >= options->deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("request to \"%s\" timed out", hs->base.display_url),
					 errdetail("The timeout option ended it.")));
		if (curl_multi_perform(hs->multi, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(hs->multi, &pending)) != NULL)
			if (msg->msg == CURLMSG_DONE)
			{
				done = true;
				result = msg->data.result;
			}
		if (!done && curl_multi_poll(hs->multi, NULL, 0, HTTP_POLL_MS, NULL) != CURLM_OK)
			break;
	}
	if (done && result == CURLE_OK)
		curl_easy_getinfo(hs->easy, CURLINFO_RESPONSE_CODE, &status);
	else if (hs->refused[0])
		*error = psprintf("permission denied to connect to %s for \"%s\": %s", hs->refused,
						  hs->base.display_url, hs->refused_why);
	else
		*error = psprintf("could not send a request to \"%s\": %s", hs->base.display_url,
						  hs->errbuf[0] ? hs->errbuf : curl_easy_strerror(result));
	req->response_len = hs->kept_body_len;
	memcpy(req->response, hs->kept_body, hs->kept_body_len);
	req->response_headers = hs->response;
	http_release(hs);
	return status;
}

/*
 * POSTs body, as JSON, to url with headers (a webhook): elt_http_request,
 * unsigned, within timeout_ms.
 */
long
elt_http_post(const char *url, List *headers, const char *body, bool restricted, int timeout_ms,
			  char **error)
{
	HttpOptions options = {.headers = headers,.restricted = restricted};
	HttpRequest *req = palloc0(sizeof(HttpRequest));

	req->method = "POST";
	req->body = body;
	req->body_len = strlen(body);
	req->content_type = "application/json";
	req->timeout_ms = timeout_ms;
	return elt_http_request(url, &options, req, error);
}
