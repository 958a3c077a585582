/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  Citus tables, known from Citus's own catalog without linking to it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_CITUS_H
#define PG_ELT_CITUS_H

#include "pg_elt.h"

typedef enum CitusTableKind
{
	CITUS_NONE,					/* not a Citus table (or no Citus) */
	CITUS_DISTRIBUTED,			/* hash- or schema-distributed */
	CITUS_REFERENCE,
	CITUS_LOCAL					/* a Citus-local table */
} CitusTableKind;

extern CitusTableKind elt_citus_table_kind(Oid relid);
extern void elt_citus_distribute(Oid relid, const LoadOptions *opts);

#endif
