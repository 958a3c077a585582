/*-------------------------------------------------------------------------
 *
 * object_store.h
 *	  s3:// and gs:// URLs as signed requests of the S3 API, and listing
 *	  (object_store.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_OBJECT_STORE_H
#define PG_ELT_OBJECT_STORE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "http_fetch.h"

/* Where an s3:// or gs:// URL points, and how its requests are signed. */
typedef struct StoreLocation
{
	const char *url;			/* as given */
	const char *scheme;			/* "s3" or "gs" */
	char	   *bucket;
	char	   *key;			/* as written: not percent-encoded; may be "" */
	char	   *endpoint;		/* scheme://host[:port] */
	char	   *region;
	bool		path_style;		/* endpoint/bucket/key, else bucket.host/key */
	char	   *sigv4;			/* CURLOPT_AWS_SIGV4, or NULL: anonymous */
	char	   *userpwd;		/* access key id:secret */
	List	   *headers;		/* x-amz-content-sha256, x-amz-security-token */
} StoreLocation;

/* One object of a listing. */
typedef struct StoreObject
{
	char	   *url;			/* scheme://bucket/key */
	char	   *key;
	int64		size;
	char	   *etag;			/* as the store sent it, quotes and all */
	TimestampTz last_modified;
} StoreObject;

extern bool elt_store_url(const char *url);
extern void elt_store_locate(const char *url, const char *credential, const char *region,
							 const char *endpoint, StoreLocation *loc);
extern bool elt_store_is_listing(const StoreLocation *loc);
extern char *elt_store_http_url(const StoreLocation *loc, const char *key);
extern void elt_store_http_options(const StoreLocation *loc, HttpOptions *hopts);
extern List *elt_store_list(const StoreLocation *loc, const HttpOptions *base);
extern List *elt_store_list_config(Jsonb *config, const char *task);

/* A multipart upload under way. */
typedef struct StoreUpload
{
	const StoreLocation *loc;
	HttpOptions hopts;
	char	   *object_url;
	char	   *upload_id;		/* NULL once completed or aborted */
	List	   *etags;			/* of the parts uploaded */
	int			parts;
} StoreUpload;

extern StoreUpload *elt_store_upload_begin(const StoreLocation *loc, const HttpOptions *base);
extern void elt_store_upload_part(StoreUpload *up, const char *data, size_t len);
extern void elt_store_upload_complete(StoreUpload *up);
extern void elt_store_upload_abort(StoreUpload *up);

#endif							/* PG_ELT_OBJECT_STORE_H */
