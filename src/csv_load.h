/*-------------------------------------------------------------------------
 *
 * csv_load.h
 *	  load_csv: a URL's CSV into a table (csv_load.c), and its options.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_CSV_LOAD_H
#define PG_ELT_CSV_LOAD_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "http_headers.h"
#include "load_options.h"

/* What a load read, besides its rows: for an extract's result. */
typedef struct LoadSource
{
	uint64		bytes;			/* downloaded (compressed, if it was) */
	HttpResponseHeaders response;	/* validators of the file's response */
} LoadSource;

extern uint64 elt_load_csv(const char *url, const char *table_name,
						   const LoadOptions *opts, LoadSource *source);

#endif							/* PG_ELT_CSV_LOAD_H */
