/*
 * pg_stubs.c: the few backend functions the fuzzed parsers call, so that
 * they run in a plain process under libFuzzer and AddressSanitizer.
 *
 * palloc and friends allocate from an arena that fuzz_reset() frees after
 * each input (an ERROR unwinds past pfree, as in the backend, where a
 * memory context would reclaim it).  ereport(ERROR) long-jumps back to the
 * harness: an ERROR is a valid outcome for bad input; a crash, a leak or
 * undefined behaviour is not.
 */
#include "fuzz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "utils/elog.h"
#include "utils/jsonb.h"

jmp_buf		fuzz_on_error;
int			fuzz_errors;

/* ---- the arena ---- */
typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	size_t		size;
	max_align_t	data[];
} Chunk;

static Chunk arena = {&arena, &arena, 0};

static void *
arena_alloc(size_t size)
{
	Chunk	   *c;

	if (size > 64 * 1024 * 1024)
		abort();				/* MaxAllocSize-like: a parser asked for too much */
	c = malloc(sizeof(Chunk) + size);
	if (c == NULL)
		abort();
	c->size = size;
	c->next = arena.next;
	c->prev = &arena;
	arena.next->prev = c;
	arena.next = c;
	return c->data;
}

static Chunk *
chunk_of(void *p)
{
	return (Chunk *) ((char *) p - offsetof(Chunk, data));
}

/* ---- memory context reset callbacks (the gzip stream's release) ---- */
MemoryContext CurrentMemoryContext = NULL;
static MemoryContextCallback *reset_callbacks = NULL;

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	cb->next = reset_callbacks;
	reset_callbacks = cb;
}

/* The guards the fuzzed code reads, at their defaults. */
int			elt_max_inflated_kb = 8 * 1024;	/* 8 MB: the arena holds what is read */

/* As the backend resets the context: callbacks first, then the memory. */
void
fuzz_reset(void)
{
	while (reset_callbacks)
	{
		MemoryContextCallback *cb = reset_callbacks;

		reset_callbacks = cb->next;
		cb->func(cb->arg);
	}
	while (arena.next != &arena)
	{
		Chunk	   *c = arena.next;

		arena.next = c->next;
		free(c);
	}
	arena.prev = &arena;
}

void *
palloc(Size size)
{
	return arena_alloc(size);
}

void *
palloc0(Size size)
{
	void	   *p = arena_alloc(size);

	memset(p, 0, size);
	return p;
}

void *
palloc_extended(Size size, int flags)
{
	return palloc0(size);
}

void
pfree(void *p)
{
	Chunk	   *c = chunk_of(p);

	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

void *
repalloc(void *p, Size size)
{
	Chunk	   *old = chunk_of(p);
	void	   *n = arena_alloc(size);

	memcpy(n, p, Min(old->size, size));
	pfree(p);
	return n;
}

char *
pstrdup(const char *s)
{
	return strcpy(arena_alloc(strlen(s) + 1), s);
}

char *
pnstrdup(const char *s, Size len)
{
	char	   *d;

	len = strnlen(s, len);
	d = arena_alloc(len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* ---- ereport ---- */
static int	current_elevel;

bool
errstart(int elevel, const char *domain)
{
	current_elevel = elevel;
	return elevel >= ERROR;		/* lower levels are not built at all */
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (current_elevel >= ERROR)
	{
		fuzz_errors++;
		longjmp(fuzz_on_error, 1);
	}
}

int
errcode(int sqlerrcode)
{
	return 0;
}

/* the message arguments are formatted, as the backend would */
#define FORMAT_AND_DROP(fmt) \
	do { \
		va_list		args; \
		char		buf[256]; \
		va_start(args, fmt); \
		vsnprintf(buf, sizeof(buf), fmt, args); \
		va_end(args); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	FORMAT_AND_DROP(fmt);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	FORMAT_AND_DROP(fmt);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	FORMAT_AND_DROP(fmt);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	FORMAT_AND_DROP(fmt);
	return 0;
}

int
errhint(const char *fmt,...)
{
	FORMAT_AND_DROP(fmt);
	return 0;
}

/* ---- encoding: UTF-8, as the regression database ---- */
int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	int			l = Min(len, limit);

	/* do not cut a multibyte character: back up over continuation bytes */
	while (l > 0 && l < len && (((unsigned char) mbstr[l]) & 0xC0) == 0x80)
		l--;
	return l;
}

/* ---- parameters for the template lexer: a fixed set ---- */
static const struct
{
	const char *name;
	const char *value;			/* NULL: JSON null */
}			fuzz_params[] = {
	{"a", "x'y"},
	{"b", "back\\slash"},
	{"t", "tbl\"name"},
	{"n", NULL},
	{"url", "http://127.0.0.1/f.csv"},
};

static JsonbValue fuzz_values[lengthof(fuzz_params)];

JsonbValue *
elt_jsonb_get(Jsonb *object, const char *key)
{
	for (int i = 0; i < lengthof(fuzz_params); i++)
		if (strcmp(fuzz_params[i].name, key) == 0)
		{
			fuzz_values[i].type = jbvString;
			fuzz_values[i].val.string.val = (char *) fuzz_params[i].value;
			return &fuzz_values[i];
		}
	return NULL;
}

char *
elt_jsonb_value_text(JsonbValue *value)
{
	return value->val.string.val ? pstrdup(value->val.string.val) : NULL;
}

char *
elt_jsonb_keys(Jsonb *object)
{
	return pstrdup("a, b, t, n, url");
}

