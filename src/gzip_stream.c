/*-------------------------------------------------------------------------
 *
 * gzip_stream.c
 *	  Inflates a byte stream when it is gzip data, whatever the file is
 *	  called: the first bytes decide (1f 8b).  Multi-member files (as made
 *	  by concatenating .gz files, or by pigz) are read member after member.
 *	  A stream that is not gzip passes through without copying.
 *
 *	  A stream that ends inside a member was cut short in transit as far as
 *	  we can tell, so it fails with a connection error (which loads retry);
 *	  bytes that are not valid deflate data fail as corrupted data (which
 *	  they do not).  pg_elt.max_inflated_size caps the output, so that a
 *	  gzip bomb fails cleanly instead of filling the disk.
 *
 *	  The other way, for export_csv: a writer that deflates what it is
 *	  given into gzip and hands the output to a sink as it comes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zlib.h>

#include "utils/memutils.h"

#include "guc.h"
#include "gzip_stream.h"
#include "stream.h"

#define GZIP_INPUT_SIZE (256 * 1024)

typedef struct GzipStream
{
	EltStream	base;
	EltStream  *source;
	bool		inflating;		/* false: pass-through */
	bool		closed;

	z_stream	zs;
	bool		zs_ready;
	unsigned char *input;
	bool		source_eof;
	bool		member_done;
	uint64		inflated;
} GzipStream;

static void
gzip_release(void *arg)
{
	GzipStream *gz = (GzipStream *) arg;

	if (gz->closed)
		return;
	gz->closed = true;
	if (gz->zs_ready)
		inflateEnd(&gz->zs);
	gz->zs_ready = false;
}

static void
gzip_close(EltStream *stream)
{
	GzipStream *gz = (GzipStream *) stream;

	gzip_release(gz);
	gz->source->close(gz->source);
}

/* Refills the input buffer; false at the end of the source. */
static bool
gzip_fill(GzipStream *gz)
{
	size_t		n;

	if (gz->source_eof)
		return false;
	n = gz->source->read(gz->source, (char *) gz->input, GZIP_INPUT_SIZE);
	if (n == 0)
	{
		gz->source_eof = true;
		return false;
	}
	gz->zs.next_in = gz->input;
	gz->zs.avail_in = n;
	return true;
}

static void
gzip_report_corrupt(GzipStream *gz, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid gzip data in \"%s\"", gz->base.display_url),
			 errdetail("zlib: %s.  The error is after " UINT64_FORMAT " bytes of inflated data.",
					   why, gz->inflated),
			 errhint("Check that the file is a complete, valid .gz file.")));
}

static size_t
gzip_pass_through(GzipStream *gz, char *dst, size_t len)
{
	if (gz->zs.avail_in > 0)
	{
		size_t		n = Min(len, gz->zs.avail_in);

		memcpy(dst, gz->zs.next_in, n);
		gz->zs.next_in += n;
		gz->zs.avail_in -= n;
		return n;
	}
	return gz->source->read(gz->source, dst, len);
}

static size_t
gzip_read(EltStream *stream, char *dst, size_t len)
{
	GzipStream *gz = (GzipStream *) stream;
	size_t		produced;

	if (!gz->inflating)
		return gzip_pass_through(gz, dst, len);

	gz->zs.next_out = (unsigned char *) dst;
	gz->zs.avail_out = len;
	while (gz->zs.avail_out == len)
	{
		int			rc;

		if (gz->zs.avail_in == 0 && !gzip_fill(gz))
		{
			if (gz->member_done)
				return 0;
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("gzip data from \"%s\" ends before the end of the compressed stream",
							gz->base.display_url),
					 errdetail("The data stopped after " UINT64_FORMAT " inflated bytes; the transfer was probably cut short.",
							   gz->inflated)));
		}
		if (gz->member_done)
		{
			/* another member follows */
			if (gz->zs.next_in[0] != 0x1f)
				gzip_report_corrupt(gz, "unexpected data after the end of the compressed stream");
			if (inflateReset(&gz->zs) != Z_OK)
				gzip_report_corrupt(gz, "could not start the next member");
			gz->member_done = false;
		}

		rc = inflate(&gz->zs, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			gz->member_done = true;
		else if (rc == Z_MEM_ERROR)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory inflating gzip data")));
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			gzip_report_corrupt(gz, gz->zs.msg ? gz->zs.msg : "inflate failed");
	}

	produced = len - gz->zs.avail_out;
	gz->inflated += produced;
	if (elt_max_inflated_kb > 0 && gz->inflated > (uint64) elt_max_inflated_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gzip data from \"%s\" inflates to more than pg_elt.max_inflated_size",
						gz->base.display_url),
				 errhint("A superuser can raise pg_elt.max_inflated_size if the file is genuine.")));
	return produced;
}

/*
 * Wraps source: inflating when its first bytes are the gzip magic, passing
 * through otherwise.  Lives in the current memory context; the zlib state
 * is released with it.
 */
EltStream *
elt_gzip_open_if_compressed(EltStream *source)
{
	GzipStream *gz = palloc0(sizeof(GzipStream));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));

	gz->base.read = gzip_read;
	gz->base.close = gzip_close;
	gz->base.display_url = source->display_url;
	gz->source = source;
	gz->input = palloc(GZIP_INPUT_SIZE);

	/* Look at the first two bytes (they may come in separate reads). */
	gz->zs.next_in = gz->input;
	while (gz->zs.avail_in < 2)
	{
		size_t		n = source->read(source, (char *) gz->input + gz->zs.avail_in,
									 GZIP_INPUT_SIZE - gz->zs.avail_in);

		if (n == 0)
		{
			gz->source_eof = true;
			break;
		}
		gz->zs.avail_in += n;
	}
	gz->inflating = (gz->zs.avail_in >= 2 && gz->input[0] == 0x1f && gz->input[1] == 0x8b);
	if (!gz->inflating)
		return &gz->base;

	cb->func = gzip_release;
	cb->arg = gz;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	if (inflateInit2(&gz->zs, 15 + 16) != Z_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not initialize zlib")));
	gz->zs_ready = true;
	return &gz->base;
}

/* ---------------------------------------------------------------------
 * Writing gzip
 * ---------------------------------------------------------------------
 */

#define GZIP_OUTPUT_SIZE (256 * 1024)

struct GzipWriter
{
	z_stream	zs;
	bool		zs_ready;
	unsigned char *output;
	GzipSink	sink;
	void	   *sink_arg;
};

static void
gzip_writer_release(void *arg)
{
	GzipWriter *w = (GzipWriter *) arg;

	if (w->zs_ready)
		deflateEnd(&w->zs);
	w->zs_ready = false;
}

/* Deflates w's input with flush, handing every full or final buffer to the sink. */
static void
gzip_writer_run(GzipWriter *w, int flush)
{
	int			rc;

	do
	{
		w->zs.next_out = w->output;
		w->zs.avail_out = GZIP_OUTPUT_SIZE;
		rc = deflate(&w->zs, flush);
		if (rc == Z_STREAM_ERROR)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("zlib could not compress: %s", w->zs.msg ? w->zs.msg : "stream error")));
		if (w->zs.avail_out < GZIP_OUTPUT_SIZE)
			w->sink(w->sink_arg, (const char *) w->output, GZIP_OUTPUT_SIZE - w->zs.avail_out);
	} while (w->zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

/*
 * A gzip writer at level (1-9) into sink, living in the current memory
 * context (zlib's state is released with it, on error too).
 */
GzipWriter *
elt_gzip_writer_create(int level, GzipSink sink, void *sink_arg)
{
	GzipWriter *w = palloc0(sizeof(GzipWriter));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));

	w->output = palloc(GZIP_OUTPUT_SIZE);
	w->sink = sink;
	w->sink_arg = sink_arg;
	if (deflateInit2(&w->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not start gzip compression")));
	w->zs_ready = true;
	cb->func = gzip_writer_release;
	cb->arg = w;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return w;
}

void
elt_gzip_write(GzipWriter *w, const char *data, size_t len)
{
	w->zs.next_in = (unsigned char *) unconstify(char *, data);
	w->zs.avail_in = (uInt) len;
	gzip_writer_run(w, Z_NO_FLUSH);
}

/* Writes the end of the gzip member; the writer is done. */
void
elt_gzip_finish(GzipWriter *w)
{
	w->zs.next_in = NULL;
	w->zs.avail_in = 0;
	gzip_writer_run(w, Z_FINISH);
	gzip_writer_release(w);
}
