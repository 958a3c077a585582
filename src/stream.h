/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  The byte-stream interface that connects HTTP, gzip and COPY.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_STREAM_H
#define PG_ELT_STREAM_H

#include "postgres.h"


/* ---------------------------------------------------------------------
 * Byte streams.  A load is a chain of streams (HTTP, then gzip when the
 * magic bytes say so) that COPY pulls from.  read() returns the number of
 * bytes placed in buf, 0 only at the end of the data, and reports errors
 * with ereport.  Streams own resources outside palloc (curl and zlib
 * handles); they release them in close() and also, via a memory context
 * reset callback, when the context they live in goes away on error.
 * ---------------------------------------------------------------------
 */
typedef struct EltStream EltStream;

struct EltStream
{
	size_t		(*read) (EltStream *stream, char *buf, size_t len);
	void		(*close) (EltStream *stream);
	const char *display_url;	/* URL without credentials, for messages */
	uint64		received;		/* bytes the source has delivered (sources only) */
	uint64		size;			/* bytes the source announced (sources only); 0: unknown */
};

#endif							/* PG_ELT_STREAM_H */
