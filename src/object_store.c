/*-------------------------------------------------------------------------
 *
 * object_store.c
 *	  s3:// and gs:// URLs.  An object is fetched with a GET of the S3 API
 *	  over http_fetch.c, so streaming, gzip, retries and Range resume work
 *	  as for https; the requests are signed with AWS Signature V4 by
 *	  libcurl (CURLOPT_AWS_SIGV4) with the keys of an s3 credential, or
 *	  sent unsigned for public buckets.  Amazon S3 is addressed as
 *	  bucket.s3.REGION.amazonaws.com; a store with an endpoint (MinIO,
 *	  Ceph, R2, a test server) path-style, as endpoint/bucket/key; gs://
 *	  is Google Cloud Storage's XML API (HMAC keys, region "auto").
 *
 *	  A key with a glob (*, ? or [...], matched within one level of "/")
 *	  or ending in "/" names every object it matches: ListObjectsV2, page
 *	  after page, whose XML is read with PostgreSQL's own XMLTABLE (libxml,
 *	  without external entities), by element names in any namespace, as
 *	  Amazon's and Google's differ.
 *
 *	  Keys are written as they are, spaces and UTF-8 letters included, and
 *	  percent-encoded here as the signature requires (every byte but
 *	  A-Z a-z 0-9 - _ . ~ and, in a path, "/").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fnmatch.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/xml.h"

#include "credentials.h"
#include "flow_run.h"
#include "jsonb_util.h"
#include "load_options.h"
#include "object_store.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(elt_list_files);

#define STORE_MAX_LISTING_PAGE	(64 * 1024 * 1024)
#define STORE_MAX_LISTING_PAGES	100000	/* 100 million objects */

bool
elt_store_url(const char *url)
{
	return url && (pg_strncasecmp(url, "s3://", 5) == 0 || pg_strncasecmp(url, "gs://", 5) == 0);
}

static void
store_invalid(const char *url, const char *why, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid object store URL \"%s\": %s", url, why),
			 hint ? errhint("%s", hint) : 0));
}

/* Percent-encodes s as S3's canonical URI wants; keep_slash for paths. */
static void
store_encode(StringInfo buf, const char *s, bool keep_slash)
{
	for (const unsigned char *c = (const unsigned char *) s; *c; c++)
	{
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
			*c == '-' || *c == '_' || *c == '.' || *c == '~' || (keep_slash && *c == '/'))
			appendStringInfoChar(buf, (char) *c);
		else
			appendStringInfo(buf, "%%%02X", *c);
	}
}

/* Is s made only of the bytes in allowed (ASCII letters and digits too)? */
static bool
store_word(const char *s, const char *allowed)
{
	if (s == NULL || *s == '\0')
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
			  strchr(allowed, *c)))
			return false;
	return true;
}

/* Where the glob characters start in key, or NULL when it has none. */
static const char *
store_glob_start(const char *key)
{
	return strpbrk(key, "*?[");
}

/* Refuses a glob fnmatch would read in a way the user did not mean. */
static void
store_check_glob(const char *url, const char *key)
{
	for (const char *c = key; *c; c++)
	{
		if (*c == '\\')
			store_invalid(url, "a backslash in a glob",
						  "Globs are *, ? and [...]; a key with a backslash cannot be matched.");
		if (*c == '[')
		{
			const char *close = c + 1;

			if (*close == '!' || *close == '^')
				close++;
			if (*close == ']')
				close++;
			close = strchr(close, ']');
			if (close == NULL)
				store_invalid(url, "the glob has a \"[\" without its \"]\"",
							  "Write [abc] for one of a, b or c.");
			c = close;
		}
	}
}

/*
 * Resolves url (s3:// or gs://) for the current user: its bucket and key,
 * the endpoint (option, else the credential's, else the store's), the
 * region (likewise, else us-east-1, or "auto" for gs://) and, with a
 * credential, the signing.
 */
void
elt_store_locate(const char *url, const char *credential, const char *region,
				 const char *endpoint, StoreLocation *loc)
{
	const char *rest = url + 5;
	const char *slash = strchr(rest, '/');
	S3Keys		keys = {0};

	memset(loc, 0, sizeof(StoreLocation));
	loc->url = url;
	loc->scheme = pg_strncasecmp(url, "gs", 2) == 0 ? "gs" : "s3";
	loc->bucket = slash ? pnstrdup(rest, slash - rest) : pstrdup(rest);
	loc->key = pstrdup(slash ? slash + 1 : "");
	if (!store_word(loc->bucket, ".-_"))
		store_invalid(url, "no valid bucket name",
					  "Write s3://bucket/key: bucket names are letters, digits, dots, hyphens and underscores.");
	for (const char *c = loc->key; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			store_invalid(url, "a control character in the key", NULL);
	if (store_glob_start(loc->key))
		store_check_glob(url, loc->key);

	if (credential)
		elt_credential_s3(credential, &keys);
	loc->region = pstrdup(region ? region : keys.region ? keys.region :
						  strcmp(loc->scheme, "gs") == 0 ? "auto" : "us-east-1");
	if (!store_word(loc->region, "-_"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid region \"%s\" for \"%s\"", loc->region, url),
				 errhint("A region is a name such as us-east-1.")));
	/*
	 * With a credential, its requests go where its owner said (its endpoint
	 * setting, else the store's own): an endpoint of the caller's would send
	 * signed requests, replayable, to a host of the caller's choosing.
	 */
	if (credential && endpoint &&
		(keys.endpoint == NULL || strcmp(keys.endpoint, endpoint) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the endpoint of \"%s\" is the credential's to say", url),
				 errdetail("A load with credential \"%s\" goes to %s.", credential,
						   keys.endpoint ? keys.endpoint : "the store's own endpoint"),
				 errhint("Set the endpoint in the credential's settings (elt.alter_credential), or leave the option out.")));
	if (endpoint == NULL)
		endpoint = keys.endpoint;
	if (endpoint)
	{
		size_t		len = strlen(endpoint);
		const char *host;

		while (len > 0 && endpoint[len - 1] == '/')
			len--;
		loc->endpoint = pnstrdup(endpoint, len);
		host = strstr(loc->endpoint, "://");
		if ((pg_strncasecmp(loc->endpoint, "http://", 7) != 0 &&
			 pg_strncasecmp(loc->endpoint, "https://", 8) != 0) ||
			strchr(host + 3, '/') != NULL || strpbrk(loc->endpoint, "?#@ ") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid endpoint \"%s\" for \"%s\"", loc->endpoint, url),
					 errhint("An endpoint is http(s)://host[:port], without a path.")));
		loc->path_style = true;
	}
	else if (strcmp(loc->scheme, "gs") == 0)
	{
		loc->endpoint = pstrdup("https://storage.googleapis.com");
		loc->path_style = true;
	}
	else
	{
		loc->endpoint = psprintf("https://s3.%s.amazonaws.com", loc->region);
		/* a dotted bucket would not match the certificate's wildcard */
		loc->path_style = strchr(loc->bucket, '.') != NULL;
	}

	if (keys.access_key_id)
	{
		if (!store_word(keys.access_key_id, "") || keys.secret_access_key == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("credential \"%s\" has no usable access key", credential),
					 errhint("An access_key_id is letters and digits; elt.alter_credential sets it.")));
		loc->sigv4 = psprintf("aws:amz:%s:s3", loc->region);
		loc->userpwd = psprintf("%s:%s", keys.access_key_id, keys.secret_access_key);
		/* libcurl 7.88 signs it but does not add it: S3 requires it */
		loc->headers = lappend(loc->headers, pstrdup("x-amz-content-sha256: UNSIGNED-PAYLOAD"));
		if (keys.session_token)
			loc->headers = lappend(loc->headers,
								   psprintf("x-amz-security-token: %s", keys.session_token));
	}
}

/* Does the URL name a listing (a glob, or a prefix ending in "/")? */
bool
elt_store_is_listing(const StoreLocation *loc)
{
	size_t		len = strlen(loc->key);

	return store_glob_start(loc->key) != NULL || len == 0 || loc->key[len - 1] == '/';
}

/* The bucket's base URL: endpoint/bucket, or scheme://bucket.host. */
static void
store_bucket_url(StringInfo buf, const StoreLocation *loc)
{
	if (loc->path_style)
		appendStringInfo(buf, "%s/%s", loc->endpoint, loc->bucket);
	else
	{
		const char *host = strstr(loc->endpoint, "://") + 3;

		appendStringInfo(buf, "%.*s%s.%s", (int) (host - loc->endpoint), loc->endpoint,
						 loc->bucket, host);
	}
}

/* The https URL of key's object in loc's bucket. */
char *
elt_store_http_url(const StoreLocation *loc, const char *key)
{
	StringInfoData buf;

	initStringInfo(&buf);
	store_bucket_url(&buf, loc);
	appendStringInfoChar(&buf, '/');
	store_encode(&buf, key, true);
	return buf.data;
}

/*
 * Makes hopts (a caller's, without any credential) sign for loc.  The
 * caller's own headers are refused: the signature would cover them (a
 * Host among them would point the signed request elsewhere).
 */
void
elt_store_http_options(const StoreLocation *loc, HttpOptions *hopts)
{
	if (hopts->headers != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the option \"headers\" does not apply to \"%s\"", loc->url),
				 errhint("Requests to s3:// and gs:// carry only the headers their signature needs.")));
	hopts->headers = list_concat_copy(hopts->headers, loc->headers);
	hopts->aws_sigv4 = loc->sigv4;
	hopts->userpwd = loc->userpwd;
	hopts->store = true;
}

/* While a listing is read: says which. */
static void
store_listing_context(void *arg)
{
	errcontext("reading the listing of \"%s\"", (const char *) arg);
}

/*
 * One page of the listing: onto *objects, those of its objects that match
 * glob, or are exactly the key exact, or all (both NULL).
 */
static void
store_parse_page(const StoreLocation *loc, const char *xml, const char *glob, const char *exact,
				 MemoryContext outer, List **objects, char **next_token, bool *truncated)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(xml)};
	ErrorContextCallback context = {.callback = store_listing_context,
	.arg = unconstify(char *, loc->url),.previous = error_context_stack};

	error_context_stack = &context;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT x.key, x.size, x.etag, x.last_modified"
							  "  FROM XMLTABLE('/*[local-name()=\"ListBucketResult\"]/*[local-name()=\"Contents\"]'"
							  "                PASSING XMLPARSE(DOCUMENT $1)"
							  "                COLUMNS key text PATH '*[local-name()=\"Key\"]',"
							  "                        size bigint PATH '*[local-name()=\"Size\"]',"
							  "                        etag text PATH '*[local-name()=\"ETag\"]',"
							  "                        last_modified timestamptz PATH '*[local-name()=\"LastModified\"]') x",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read a listing");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *key = SPI_getvalue(tuple, desc, 1);
		Datum		d;
		StoreObject *obj;
		MemoryContext spi = MemoryContextSwitchTo(outer);

		if (key && strpbrk(key, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
							"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"))
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("the listing of \"%s\" has a key with a control character", loc->url)));
		if (key == NULL || (glob && fnmatch(glob, key, FNM_PATHNAME | FNM_PERIOD) != 0) ||
			(exact && strcmp(exact, key) != 0))
		{
			MemoryContextSwitchTo(spi);
			continue;
		}
		obj = palloc0(sizeof(StoreObject));
		obj->key = pstrdup(key);
		obj->url = psprintf("%s://%s/%s", loc->scheme, loc->bucket, key);
		d = SPI_getbinval(tuple, desc, 2, &isnull);
		obj->size = isnull ? -1 : DatumGetInt64(d);
		obj->etag = SPI_getvalue(tuple, desc, 3);
		obj->etag = obj->etag ? pstrdup(obj->etag) : NULL;
		d = SPI_getbinval(tuple, desc, 4, &isnull);
		obj->last_modified = isnull ? 0 : DatumGetTimestampTz(d);
		*objects = lappend(*objects, obj);
		MemoryContextSwitchTo(spi);
	}
	if (SPI_execute_with_args("SELECT pg_catalog.lower((pg_catalog.xpath('/*[local-name()=\"ListBucketResult\"]/*[local-name()=\"IsTruncated\"]/text()', d))[1]::pg_catalog.text),"
							  "       (pg_catalog.xpath('/*[local-name()=\"ListBucketResult\"]/*[local-name()=\"NextContinuationToken\"]/text()', d))[1]::pg_catalog.text"
							  "  FROM XMLPARSE(DOCUMENT $1) d",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read a listing");
	{
		char	   *t = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		*truncated = t && strcmp(t, "true") == 0;
	}
	*next_token = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (*next_token)
		*next_token = MemoryContextStrdup(outer, *next_token);
	SPI_finish();
	error_context_stack = context.previous;
}

/* Reads a whole (small) response into memory. */
static char *
store_fetch(const char *url, const HttpOptions *hopts)
{
	EltStream  *stream = elt_open_url(url, hopts);
	StringInfoData buf;
	char		chunk[65536];
	size_t		n;

	initStringInfo(&buf);
	while ((n = stream->read(stream, chunk, sizeof(chunk))) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		if (buf.len + n > STORE_MAX_LISTING_PAGE)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a page of the listing of \"%s\" is larger than %d MB", hopts->display_url,
							STORE_MAX_LISTING_PAGE / (1024 * 1024))));
		appendBinaryStringInfo(&buf, chunk, n);
	}
	stream->close(stream);
	return buf.data;
}

/*
 * The objects loc names, in key order: ListObjectsV2 from the glob's
 * literal prefix, page after page (a URL that is no listing: the object
 * itself, if it exists).  base: the caller's options.
 */
List *
elt_store_list(const StoreLocation *loc, const HttpOptions *base)
{
	const char *exact = elt_store_is_listing(loc) ? NULL : loc->key;
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext page_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_elt listing page",
												   ALLOCSET_DEFAULT_SIZES);
	const char *glob_at = store_glob_start(loc->key);
	char	   *prefix = glob_at ? pnstrdup(loc->key, glob_at - loc->key) : loc->key;
	char	   *token = NULL;
	List	   *objects = NIL;
	HttpOptions hopts = *base;

	elt_store_http_options(loc, &hopts);
	hopts.display_url = loc->url;
	for (int page = 0;; page++)
	{
		StringInfoData url;
		char	   *next = NULL;
		bool		truncated;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(page_cxt);
		MemoryContextSwitchTo(page_cxt);	/* a page's bytes go with it */
		initStringInfo(&url);
		store_bucket_url(&url, loc);
		appendStringInfoString(&url, "?");
		if (token)
		{
			appendStringInfoString(&url, "continuation-token=");
			store_encode(&url, token, false);
			appendStringInfoChar(&url, '&');
		}
		appendStringInfoString(&url, "list-type=2&prefix=");
		store_encode(&url, prefix, false);
		store_parse_page(loc, store_fetch(url.data, &hopts), glob_at ? loc->key : NULL, exact,
						 outer, &objects, &next, &truncated);
		MemoryContextSwitchTo(outer);
		if (!truncated)
			break;
		if (next == NULL || (token && strcmp(next, token) <= 0) || page >= STORE_MAX_LISTING_PAGES)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("the listing of \"%s\" does not advance after page %d", loc->url, page + 1),
					 errdetail("A truncated page must give a continuation token later than the one before.")));
		token = next;
	}
	MemoryContextDelete(page_cxt);
	return objects;
}

/*
 * The URLs of the objects an extract's config (substituted) lists, for a
 * task mapped over its files (for_each 'files'), with its credential,
 * region and endpoint, as the current user.
 */
List *
elt_store_list_config(Jsonb *config, const char *task)
{
	JsonbValue *v = elt_jsonb_get(config, "url");
	char	   *url = v ? elt_jsonb_value_text(v) : NULL;
	LoadOptions opts;
	StoreLocation loc;
	HttpOptions hopts;
	List	   *urls = NIL;
	ListCell   *lc;

	if (!elt_store_url(url))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("task \"%s\" maps over files, but its url is no s3:// or gs:// URL", task),
				 errhint("for_each ''files'' runs an instance per object an object-store URL lists.")));
	elt_parse_load_options(config, &opts, true, false);
	elt_store_locate(url, opts.credential, opts.region, opts.endpoint, &loc);
	elt_http_options_for_caller(&opts, &hopts, false);
	foreach(lc, elt_store_list(&loc, &hopts))
		urls = lappend(urls, ((StoreObject *) lfirst(lc))->url);
	return urls;
}

/* ---------------------------------------------------------------------
 * Multipart uploads (export_csv)
 * ---------------------------------------------------------------------
 */

/*
 * One request of an upload: method on the object's URL with query (and
 * body); an error unless the store answers 2xx.
 */
static HttpRequest *
store_upload_request(StoreUpload *up, const char *method, const char *query, const char *body,
					 size_t len, const char *content_type)
{
	HttpRequest *req = palloc0(sizeof(HttpRequest));
	char	   *error;
	long		status;

	req->method = method;
	req->body = body;
	req->body_len = len;
	req->content_type = content_type;
	req->timeout_ms = strcmp(method, "DELETE") == 0 ? 30000 : 0;	/* an abort, interrupts held */
	status = elt_http_request(psprintf("%s?%s", up->object_url, query), &up->hopts, req, &error);
	if (error)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("%s", error)));
	if (status < 200 || status >= 300 ||
		elt_store_xml_field(req->response, req->response_len, "Code", (char[2]) {0}, 2))
	{
		/* (S3 may answer a completion 200 with an error document) */
		elt_store_report_refusal(up->loc->url, status, req->response, req->response_len);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the object store answered HTTP status %ld to a %s of \"%s\"", status,
						method, up->loc->url)));
	}
	return req;
}

/* Starts a multipart upload of loc's object (CreateMultipartUpload). */
StoreUpload *
elt_store_upload_begin(const StoreLocation *loc, const HttpOptions *base)
{
	StoreUpload *up = palloc0(sizeof(StoreUpload));
	HttpRequest *req;
	char		id[1024];

	if (loc->key[0] == '\0' || elt_store_is_listing(loc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" names no single object to write", loc->url),
				 errhint("Export to a key without globs that does not end in \"/\".")));
	up->loc = loc;
	up->hopts = *base;
	elt_store_http_options(loc, &up->hopts);
	up->hopts.display_url = loc->url;
	up->object_url = elt_store_http_url(loc, loc->key);
	req = store_upload_request(up, "POST", "uploads=", NULL, 0, NULL);
	if (!elt_store_xml_field(req->response, req->response_len, "UploadId", id, sizeof(id)) ||
		id[0] == '\0' || strchr(id, '?'))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the object store gave no usable upload id for \"%s\"", loc->url)));
	up->upload_id = pstrdup(id);
	return up;
}

/* Uploads the next part (every part but the last at least 5 MiB, as S3 requires). */
void
elt_store_upload_part(StoreUpload *up, const char *data, size_t len)
{
	StringInfoData query;
	HttpRequest *req;
	MemoryContext old;

	initStringInfo(&query);
	appendStringInfo(&query, "partNumber=%d&uploadId=", up->parts + 1);
	store_encode(&query, up->upload_id, false);
	req = store_upload_request(up, "PUT", query.data, data ? data : "", len,
							   "application/octet-stream");
	if (req->response_headers.etag[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the object store gave no ETag for part %d of \"%s\"", up->parts + 1,
						up->loc->url)));
	/* in the upload's context: a part goes up from a batch's short-lived one */
	old = MemoryContextSwitchTo(GetMemoryChunkContext(up));
	up->etags = lappend(up->etags, pstrdup(req->response_headers.etag));
	MemoryContextSwitchTo(old);
	up->parts++;
}

/* Completes the upload: the object appears, whole, only now. */
void
elt_store_upload_complete(StoreUpload *up)
{
	StringInfoData body;
	StringInfoData query;
	ListCell   *lc;
	int			n = 0;
	HttpRequest *req;

	initStringInfo(&body);
	appendStringInfoString(&body, "<CompleteMultipartUpload>");
	foreach(lc, up->etags)
		appendStringInfo(&body, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", ++n,
						 escape_xml((char *) lfirst(lc)));
	appendStringInfoString(&body, "</CompleteMultipartUpload>");
	initStringInfo(&query);
	appendStringInfoString(&query, "uploadId=");
	store_encode(&query, up->upload_id, false);
	req = store_upload_request(up, "POST", query.data, body.data, body.len, "application/xml");
	if (!elt_store_xml_field(req->response, req->response_len, "Key", (char[2]) {0}, 2))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the object store did not confirm the upload of \"%s\"", up->loc->url)));
	up->upload_id = NULL;
}

/*
 * Aborts the upload, so that no part of it is kept (or billed).  Never
 * throws: it runs while another error is on its way; a failure to abort
 * is logged, with the upload's id.
 */
void
elt_store_upload_abort(StoreUpload *up)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (up == NULL || up->upload_id == NULL)
		return;
	up->hopts.deadline = 0;		/* a timeout that ended the export must not end this */
	HOLD_INTERRUPTS();
	PG_TRY();
	{
		StringInfoData query;

		initStringInfo(&query);
		appendStringInfoString(&query, "uploadId=");
		store_encode(&query, up->upload_id, false);
		(void) store_upload_request(up, "DELETE", query.data, NULL, 0, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(WARNING,
				(errmsg("could not abort the upload of \"%s\" (upload id %s): %s", up->loc->url,
						up->upload_id, edata->message),
				 errhint("Abort it with the store's tools, or set a lifecycle rule that aborts incomplete uploads.")));
	}
	PG_END_TRY();
	up->upload_id = NULL;
	RESUME_INTERRUPTS();
}

/*
 * elt.list_files(url text, options jsonb DEFAULT '{}') RETURNS TABLE (url
 * text, key text, size bigint, etag text, last_modified timestamptz): the
 * objects an s3:// or gs:// URL names, as load_csv would load them.
 * Options: credential, region, endpoint.
 */
Datum
elt_list_files(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LoadOptions opts;
	StoreLocation loc;
	HttpOptions hopts;
	char	   *url;
	List	   *objects;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("list_files needs a URL")));
	elt_require_usage("list_files");
	url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!elt_store_url(url))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("list_files lists s3:// and gs:// URLs, not \"%s\"", elt_redact_url(url))));
	elt_parse_load_options(PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), &opts, false, false);
	elt_store_locate(url, opts.credential, opts.region, opts.endpoint, &loc);
	elt_http_options_for_caller(&opts, &hopts, false);
	objects = elt_store_list(&loc, &hopts);

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, objects)
	{
		StoreObject *obj = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, obj->size < 0, obj->etag == NULL,
		obj->last_modified == 0};

		values[0] = CStringGetTextDatum(obj->url);
		values[1] = CStringGetTextDatum(obj->key);
		values[2] = Int64GetDatum(obj->size);
		values[3] = obj->etag ? CStringGetTextDatum(obj->etag) : (Datum) 0;
		values[4] = TimestampTzGetDatum(obj->last_modified);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
