/*-------------------------------------------------------------------------
 *
 * load_options.h
 *	  The options of a load: load_csv's, an extract task's config, a
 *	  foreign table's (load_options.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_LOAD_OPTIONS_H
#define PG_ELT_LOAD_OPTIONS_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "http_fetch.h"

typedef enum LoadMode
{
	LOAD_APPEND,
	LOAD_REPLACE,
	LOAD_TRUNCATE,
	LOAD_CREATE
} LoadMode;

/* How rows reach the table: COPY into it, or INSERT through the executor. */
typedef enum LoadPath
{
	LOAD_PATH_AUTO,
	LOAD_PATH_COPY,
	LOAD_PATH_INSERT
} LoadPath;

typedef struct LoadOptions
{
	LoadMode	mode;
	LoadPath	path;
	bool		header;
	char		delimiter;
	char		quote;
	char		escape;
	char	   *null_string;	/* NULL = COPY's default (empty) */
	char	   *encoding;		/* NULL = client/database encoding */
	List	   *columns;		/* explicit column names, or NIL */
	List	   *force_null;		/* column names */
	List	   *force_not_null; /* column names */
	List	   *types;			/* list of (name, type) pairs as 2-lists */
	List	   *headers;		/* HTTP headers, "Name: value" */
	char	   *credential;		/* the name of a credential for the requests, or NULL */
	char	   *region;			/* of an object store: over the credential's */
	char	   *endpoint;
	bool		require_match;	/* a listing that matches nothing is an error */
	bool		incremental;	/* objects in the ledger are not loaded again */
	bool		reload_changed; /* ... unless their ETag changed */
	int			retries;
	double		retry_delay;	/* seconds before the first retry */
	double		timeout;		/* seconds for the whole load, 0 = none */
	int			sample_rows;	/* rows read to infer types */
	int			parallel;		/* parallel workers parsing; -1: as the server allows */
	/* a table load_csv creates becomes a Citus table */
	char	   *distribute_by;	/* distribution column, or NULL */
	int			shard_count;	/* 0 = Citus's default */
	char	   *colocate_with;	/* NULL = Citus's default */
	bool		reference;		/* a reference table */
} LoadOptions;

extern void elt_parse_load_options(Jsonb *options, LoadOptions *opts,
								   bool task_config, bool skip_placeholders);
extern List *elt_copy_options(const LoadOptions *opts);
extern void elt_http_options_for_caller(const LoadOptions *opts, HttpOptions *hopts,
										bool credential_headers);

#endif							/* PG_ELT_LOAD_OPTIONS_H */
