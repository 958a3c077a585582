/*-------------------------------------------------------------------------
 *
 * copy_feed.c
 *	  Feeding PostgreSQL's COPY FROM machinery from a pg_elt byte stream.
 *
 *	  BeginCopyFrom takes a data-source callback without an argument, so
 *	  the feed being read is found through a static.  Reads nest and
 *	  interleave: a trigger on a load's target may call load_csv, and a
 *	  query may scan two pg_elt foreign tables at once.  So every call into
 *	  COPY that may call back sets the static to its own feed first and
 *	  puts the previous value back however the call ends: the static names
 *	  the feed of the COPY call running now, or none.
 *
 *	  The feed also owns what is the same for every reader: the bytes read
 *	  ahead before COPY started (the sample), progress NOTICEs, and
 *	  pg_elt.max_line_length.
 *
 *-------------------------------------------------------------------------
 */
#include "copy_feed.h"

#include "commands/copyfrom_internal.h"
#include "utils/timestamp.h"
#include "guc.h"
#include "stream.h"

static CopyFeed *reading_feed = NULL;

CopyFeed *
elt_copy_feed_create(EltStream *stream, EltStream *source, StringInfo head)
{
	CopyFeed *src = palloc0(sizeof(CopyFeed));

	src->head = head;
	src->stream = stream;
	src->display_url = stream ? stream->display_url : NULL;
	src->source = source;
	src->started = GetCurrentTimestamp();
	src->next_progress = TimestampTzPlusMilliseconds(src->started, elt_progress_interval_s * 1000);
	return src;
}

/* Data rows read so far: COPY's count, or the parallel leader's. */
static uint64
copy_feed_rows(const CopyFeed *src)
{
	const CopyFromState cstate = src->cstate;

	if (cstate == NULL)
		return src->rows;
	if (cstate->cur_lineno == 0)
		return 0;
	return cstate->cur_lineno - (cstate->opts.header_line ? 1 : 0);
}

static void
copy_feed_report_progress(CopyFeed *src)
{
	TimestampTz now = GetCurrentTimestamp();
	long		secs;
	int			usecs;
	double		elapsed;
	double		downloaded_mb;

	if (elt_progress_interval_s <= 0 || now < src->next_progress)
		return;
	src->next_progress = TimestampTzPlusMilliseconds(now, elt_progress_interval_s * 1000);
	TimestampDifference(src->started, now, &secs, &usecs);
	elapsed = secs + usecs / 1e6;
	downloaded_mb = src->source->received / (1024.0 * 1024.0);
	/* the two sizes differ by the compression: both named, each with its unit */
	ereport(NOTICE,
			(errmsg("loading \"%s\": " UINT64_FORMAT " rows, %.1f MB of CSV, %.1f MB downloaded at %.1f MB/s",
					src->display_url, copy_feed_rows(src), src->csv_bytes / (1024.0 * 1024.0),
					downloaded_mb, elapsed > 0 ? downloaded_mb / elapsed : 0.0)));
}

/*
 * COPY keeps the line (CSV record) it is reading in line_buf and grows it
 * to 1 GB if the file says so; a small gzip of one endless line would
 * take that much memory.  COPY calls back for more data while the line is
 * incomplete, so checking here bounds it, to within one read.
 */
void
elt_copy_feed_check_line_length(size_t len, uint64 lineno, const char *display_url)
{
	if ((int64) len > (int64) elt_max_line_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("line " UINT64_FORMAT " of \"%s\" is longer than pg_elt.max_line_length (%d kB)",
						lineno, display_url, elt_max_line_kb),
				 errhint("A superuser can raise pg_elt.max_line_length. If no line of the file is that long, a quote character is unbalanced: check the \"quote\" option.")));
}

/*
 * The next bytes of src: what was read ahead, then the stream's; 0 at the
 * end.  A feed of a buffer (no stream) ends with the buffer.
 */
size_t
elt_copy_feed_read(CopyFeed *src, char *buf, size_t len)
{
	size_t		n;

	if (src->head && src->head_pos < (size_t) src->head->len)
	{
		n = Min(len, src->head->len - src->head_pos);
		memcpy(buf, src->head->data + src->head_pos, n);
		src->head_pos += n;
		src->csv_bytes += n;
		return n;
	}
	if (src->stream == NULL)
		return 0;
	n = src->stream->read(src->stream, buf, len);
	src->csv_bytes += n;
	copy_feed_report_progress(src);
	return n;
}

static int
copy_feed_read(void *outbuf, int minread, int maxread)
{
	CopyFeed   *src = reading_feed;

	elt_copy_feed_check_line_length(src->cstate->line_buf.len, src->cstate->cur_lineno,
									src->display_url);
	return (int) elt_copy_feed_read(src, outbuf, maxread);
}

/* BeginCopyFrom on rel (its columns attnames, NIL for all) from src. */
CopyFromState
elt_copy_feed_begin(CopyFeed *src, ParseState *pstate, Relation rel, List *attnames,
					List *copy_options)
{
	src->cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, copy_feed_read, attnames,
								copy_options);
	return src->cstate;
}

/* CopyFrom: every row of src into the relation; the rows loaded. */
uint64
elt_copy_feed_copy(CopyFeed *src)
{
	CopyFeed *outer = reading_feed;
	uint64		rows;

	reading_feed = src;
	PG_TRY();
	{
		rows = CopyFrom(src->cstate);
	}
	PG_FINALLY();
	{
		reading_feed = outer;
	}
	PG_END_TRY();
	return rows;
}

/* NextCopyFrom: the next row of src, false at its end. */
bool
elt_copy_feed_next(CopyFeed *src, ExprContext *econtext, Datum *values, bool *nulls)
{
	CopyFeed *outer = reading_feed;
	bool		found;

	reading_feed = src;
	PG_TRY();
	{
		found = NextCopyFrom(src->cstate, econtext, values, nulls);
	}
	PG_FINALLY();
	{
		reading_feed = outer;
	}
	PG_END_TRY();
	return found;
}
