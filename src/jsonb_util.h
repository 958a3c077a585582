/*-------------------------------------------------------------------------
 *
 * jsonb_util.h
 *	  Small jsonb helpers (jsonb_util.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_JSONB_UTIL_H
#define PG_ELT_JSONB_UTIL_H

#include "postgres.h"

#include "utils/jsonb.h"

extern JsonbValue *elt_jsonb_get(Jsonb *object, const char *key);
extern char *elt_jsonb_value_text(JsonbValue *value);
extern Jsonb *elt_jsonb_merge(Jsonb *base, Jsonb *overlay);
extern void elt_check_jsonb_object(Jsonb *value, const char *what);
extern char *elt_jsonb_keys(Jsonb *object);

#endif							/* PG_ELT_JSONB_UTIL_H */
