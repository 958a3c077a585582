/*-------------------------------------------------------------------------
 *
 * load_parallel.h
 *	  load_csv's parallel path (load_parallel.c): parallel workers parse,
 *	  the loading backend inserts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_LOAD_PARALLEL_H
#define PG_ELT_LOAD_PARALLEL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/rel.h"

#include "copy_feed.h"
#include "load_options.h"
#include "stream.h"

extern int	elt_load_parallel_workers(Relation rel, const LoadOptions *opts,
									  const EltStream *source);
extern bool elt_load_parallel(CopyFeed *feed, Relation rel, List *attnames,
							  const LoadOptions *opts, int nworkers, bool types_inferred,
							  uint64 *rows);

#endif							/* PG_ELT_LOAD_PARALLEL_H */
