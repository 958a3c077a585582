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
#include "utils/elog.h"
#include "utils/rel.h"
#include "utils/jsonb.h"
#include "http_headers.h"
#include "load_options.h"

/*
 * What a load read, besides its rows: for an extract's result.  A caller
 * that has a copy of the source loaded before gives its validators: the
 * load is then a conditional request, and a source that has not changed
 * (HTTP 304) loads nothing and leaves the table as it is.
 */
typedef struct LoadSource
{
	/* in: validators of the caller's copy, or NULL */
	const char *if_none_match;
	const char *if_modified_since;
	/* out */
	bool		not_modified;	/* the source said the copy is current */
	uint64		bytes;			/* downloaded (compressed, if it was) */
	Oid			table;			/* the table loaded into */
	HttpResponseHeaders response;	/* validators of the file's response */
} LoadSource;

extern uint64 elt_load_csv(const char *url, const char *table_name,
						   const LoadOptions *opts, LoadSource *source);
extern Oid	elt_load_table_oid(const char *table_name);

/* How a load reports a row's error; the parallel path's workers too. */
struct CopyFromStateData;
extern bool elt_load_error_is_the_rows(int cls, LoadPath path);
extern void elt_load_report_row_error(ErrorData *edata, struct CopyFromStateData *cstate,
									  Relation rel, const char *display_url,
									  bool types_inferred, int sample_rows);

#endif							/* PG_ELT_CSV_LOAD_H */
