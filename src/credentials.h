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

#endif							/* PG_ELT_CREDENTIALS_H */
