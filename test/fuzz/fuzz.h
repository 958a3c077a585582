/* Shared by the fuzz targets and their stubs (test/fuzz/pg_stubs.c). */
#ifndef PG_ELT_FUZZ_H
#define PG_ELT_FUZZ_H

#include "postgres.h"

#include "csv_infer.h"
#include "http_headers.h"
#include "jsonb_util.h"
#include "schedule_expr.h"
#include "templates.h"

#include <setjmp.h>

extern jmp_buf fuzz_on_error;
extern int	fuzz_errors;
extern void fuzz_reset(void);

/* Runs body; an ereport(ERROR) inside it lands back here. */
#define FUZZ_TRY(body) \
	do { \
		if (setjmp(fuzz_on_error) == 0) \
		{ \
			body; \
		} \
	} while (0)

/* A NUL-terminated copy of the input, in the arena. */
static inline char *
fuzz_cstring(const uint8_t *data, size_t size)
{
	char	   *s = palloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
