/*-------------------------------------------------------------------------
 *
 * load_insert.h
 *	  load_csv's executor path (INSERT ... SELECT from the load's stream)
 *	  and the choice between it and the direct COPY path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_LOAD_INSERT_H
#define PG_ELT_LOAD_INSERT_H

#include "copy_feed.h"
#include "citus.h"

extern LoadPath elt_choose_load_path(Relation rel, LoadPath requested);
extern uint64 elt_load_insert(Relation rel, List *attnames, CopyFeed *src, List *copy_options);

#endif
