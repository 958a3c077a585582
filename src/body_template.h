/*-------------------------------------------------------------------------
 *
 * body_template.h
 *	  Webhook body templates: {{field}} placeholders filled with an
 *	  event's fields, escaped for JSON strings (body_template.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_BODY_TEMPLATE_H
#define PG_ELT_BODY_TEMPLATE_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* One field an event offers a template. */
typedef struct TemplateField
{
	const char *name;
	const char *value;			/* NULL: null (renders as nothing) */
	bool		raw;			/* JSON to insert as it is (the whole event) */
} TemplateField;

extern const char *elt_render_body(const char *template, const TemplateField *fields,
								   int nfields, StringInfo out);

#endif							/* PG_ELT_BODY_TEMPLATE_H */
