/*-------------------------------------------------------------------------
 *
 * templates.h
 *	  psql-style substitution of parameters (templates.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_TEMPLATES_H
#define PG_ELT_TEMPLATES_H

#include "postgres.h"

#include "utils/jsonb.h"

extern char *elt_substitute(const char *text, Jsonb *params, const char *strict_what);
extern Jsonb *elt_substitute_jsonb(Jsonb *config, Jsonb *params, const char *strict_what);

#endif							/* PG_ELT_TEMPLATES_H */
