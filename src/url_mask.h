/*-------------------------------------------------------------------------
 *
 * url_mask.h
 *	  Hiding secrets that travel in a URL's query string (url_mask.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_URL_MASK_H
#define PG_ELT_URL_MASK_H

#include "postgres.h"

#define URL_MASK_VALUE "***"

extern char *elt_mask_query(const char *query, const char *names);

#endif							/* PG_ELT_URL_MASK_H */
