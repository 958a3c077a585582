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

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

extern JsonbValue *elt_jsonb_get(Jsonb *object, const char *key);
extern char *elt_jsonb_value_text(JsonbValue *value);
extern Jsonb *elt_jsonb_merge(Jsonb *base, Jsonb *overlay);
extern void elt_check_jsonb_object(Jsonb *value, const char *what);
extern char *elt_jsonb_keys(Jsonb *object);
extern char *elt_jsonb_value_json(JsonbValue *value);

extern void elt_json_begin(StringInfo buf);
extern void elt_json_add_string(StringInfo buf, const char *key, const char *value);
extern void elt_json_add_int(StringInfo buf, const char *key, int64 value);
extern void elt_json_add_json(StringInfo buf, const char *key, const char *value);
extern Jsonb *elt_json_end(StringInfo buf);

#endif							/* PG_ELT_JSONB_UTIL_H */
