/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  Citus tables, known from Citus's own catalog without linking to it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_CITUS_H
#define PG_ELT_CITUS_H

#include "postgres.h"

#include "load_options.h"

typedef enum CitusTableKind
{
	CITUS_NONE,					/* not a Citus table (or no Citus) */
	CITUS_DISTRIBUTED,			/* hash- or schema-distributed */
	CITUS_REFERENCE,
	CITUS_LOCAL					/* a Citus-local table */
} CitusTableKind;

/* How a Citus table is (or is to be) distributed. */
typedef struct CitusDistribution
{
	CitusTableKind kind;
	char	   *column;			/* distribution column; NULL: single shard */
	int			shard_count;	/* 0: Citus's default */
	char	   *colocate_with;	/* a table, "none", or NULL: Citus's default */
} CitusDistribution;

extern CitusTableKind elt_citus_table_kind(Oid relid);
extern void elt_citus_requested(const LoadOptions *opts, CitusDistribution *dist);
extern void elt_citus_describe(Oid relid, CitusDistribution *dist);
extern void elt_citus_distribute(Oid relid, const CitusDistribution *dist);

#endif
