/*-------------------------------------------------------------------------
 *
 * copy_feed.h
 *	  Feeding PostgreSQL's COPY FROM machinery from a pg_elt byte stream:
 *	  used by load_csv's direct path (CopyFrom into the table) and by the
 *	  foreign-table scan (NextCopyFrom, row by row).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_COPY_FEED_H
#define PG_ELT_COPY_FEED_H

#include "postgres.h"

#include "stream.h"

#include "commands/copy.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"

/*
 * A stream COPY reads: the bytes already read ahead (head, e.g. for type
 * inference), then the rest of the stream.  Progress NOTICEs and the line
 * length cap are the source's, whichever COPY entry point reads it.
 */
typedef struct CopyFeed
{
	StringInfo	head;			/* bytes read ahead; may be NULL */
	size_t		head_pos;
	EltStream  *stream;			/* what follows the head; NULL: nothing */
	const char *display_url;	/* for messages */
	EltStream  *source;			/* the stream's origin, for byte counts */
	CopyFromState cstate;		/* set by elt_copy_feed_begin */
	TimestampTz started;
	TimestampTz next_progress;
	uint64		rows;			/* rows loaded, when no cstate counts them */
	uint64		csv_bytes;		/* bytes of CSV given to COPY (inflated) */
} CopyFeed;

extern CopyFeed *elt_copy_feed_create(EltStream *stream, EltStream *source, StringInfo head);
extern size_t elt_copy_feed_read(CopyFeed *src, char *buf, size_t len);
extern void elt_copy_feed_check_line_length(size_t len, uint64 lineno, const char *display_url);
extern CopyFromState elt_copy_feed_begin(CopyFeed *src, ParseState *pstate, Relation rel,
										 List *attnames, List *copy_options);
extern uint64 elt_copy_feed_copy(CopyFeed *src);
extern bool elt_copy_feed_next(CopyFeed *src, ExprContext *econtext, Datum *values,
							   bool *nulls);

#endif
