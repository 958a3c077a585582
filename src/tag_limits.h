/*-------------------------------------------------------------------------
 *
 * tag_limits.h
 *	  Concurrency limits by tag (tag_limits.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_TAG_LIMITS_H
#define PG_ELT_TAG_LIMITS_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "catalog.h"

extern void elt_tag_limits_preload(void);
extern void elt_tag_permits_release(List *held);
extern void elt_tag_permits_release_all(void);
extern TagLimit *elt_tag_limits_acquire(List *tags, List **held, MemoryContext cxt);

#endif							/* PG_ELT_TAG_LIMITS_H */
