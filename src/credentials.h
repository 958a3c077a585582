/*-------------------------------------------------------------------------
 *
 * credentials.h
 *	  Named credentials and their use by loads (credentials.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_CREDENTIALS_H
#define PG_ELT_CREDENTIALS_H

#include "postgres.h"

#include "nodes/pg_list.h"

extern void elt_credential_http_headers(const char *name, List **headers);

/* What an s3 credential holds (NULL: not set). */
typedef struct S3Keys
{
	char	   *access_key_id;
	char	   *secret_access_key;
	char	   *session_token;
	char	   *region;
	char	   *endpoint;
} S3Keys;

extern void elt_credential_s3(const char *name, S3Keys *keys);

#endif							/* PG_ELT_CREDENTIALS_H */
