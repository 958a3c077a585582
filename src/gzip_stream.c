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
 *	  The inflater is ISA-L's igzip when pg_elt is built with it (the
 *	  Makefile uses it when libisal-dev is installed): it inflates about
 *	  three times as fast as zlib, whose inflate is otherwise the one cost
 *	  a load has that COPY of a plain file does not.  zlib is the fallback,
 *	  and the fuzzer checks igzip's output against it.
 *
 *	  The other way, for export_csv: a writer that deflates what it is
 *	  given into gzip (zlib) and hands the output to a sink as it comes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zlib.h>
#ifdef USE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "utils/memutils.h"

#include "guc.h"
#include "gzip_stream.h"
#include "stream.h"

#define GZIP_INPUT_SIZE (256 * 1024)

/* ---------------------------------------------------------------------
 * The inflater: one gzip member at a time, from *in to *out
 * ---------------------------------------------------------------------
 */
typedef struct Inflater
{
#ifdef USE_ISAL
	struct inflate_state state;
	struct isal_gzip_header header; /* read here: isal_inflate forgets a header split across reads */
#else
	z_stream	zs;
#endif
	bool		ready;
} Inflater;

#ifdef USE_ISAL
#define INFLATER_NAME "isa-l"

static void
inflater_init(Inflater *inf)
{
	isal_inflate_init(&inf->state);
	inf->state.crc_flag = ISAL_GZIP;
	isal_gzip_header_init(&inf->header);
	inf->ready = true;
}

static void
inflater_next_member(Inflater *inf)
{
	isal_inflate_reset(&inf->state);
	inf->state.crc_flag = ISAL_GZIP;
	isal_gzip_header_init(&inf->header);
}

static void
inflater_end(Inflater *inf)
{
	inf->ready = false;			/* igzip holds nothing outside its state */
}

static const char *
inflater_error(int rc)
{
	switch (rc)
	{
		case ISAL_INVALID_BLOCK:
			return "invalid deflate block";
		case ISAL_INVALID_SYMBOL:
			return "invalid deflate symbol";
		case ISAL_INVALID_LOOKBACK:
			return "invalid distance too far back";
		case ISAL_INVALID_WRAPPER:
			return "invalid gzip header";
		case ISAL_UNSUPPORTED_METHOD:
			return "unsupported compression method";
		case ISAL_INCORRECT_CHECKSUM:
			return "incorrect data check";
		case ISAL_NEED_DICT:
			return "the stream needs a preset dictionary";
		default:
			return "inflate failed";
	}
}

#define INFLATER_BUFFERS(inf) (&(inf)->state)

/* One call of the library on the buffers set; false (with *error) on bad data. */
static bool
inflater_run(Inflater *inf, bool *member_end, const char **error)
{
	int			rc;

	/*
	 * The member's header first, by a call that keeps what it has read of
	 * it (a name, an extra field, a header CRC) from one read to the next.
	 */
	rc = inf->state.wrapper_flag ? ISAL_DECOMP_OK : isal_read_gzip_header(&inf->state, &inf->header);
	if (rc == ISAL_DECOMP_OK)
		rc = isal_inflate(&inf->state);
	else if (rc > 0)
		rc = ISAL_DECOMP_OK;	/* the header goes on in the next read */
	*member_end = inf->state.block_state == ISAL_BLOCK_FINISH;
	if (rc < 0 || rc == ISAL_NEED_DICT)
	{
		*error = inflater_error(rc);
		return false;
	}
	return true;
}
#else
#define INFLATER_NAME "zlib"

static void
inflater_init(Inflater *inf)
{
	if (inflateInit2(&inf->zs, 15 + 16) != Z_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not initialize zlib")));
	inf->ready = true;
}

static void
inflater_next_member(Inflater *inf)
{
	if (inflateReset(&inf->zs) != Z_OK)
		elog(ERROR, "could not reset zlib's inflate state");
}

static void
inflater_end(Inflater *inf)
{
	if (inf->ready)
		inflateEnd(&inf->zs);
	inf->ready = false;
}

#define INFLATER_BUFFERS(inf) (&(inf)->zs)

static bool
inflater_run(Inflater *inf, bool *member_end, const char **error)
{
	int			rc = inflate(&inf->zs, Z_NO_FLUSH);

	*member_end = rc == Z_STREAM_END;
	if (rc == Z_MEM_ERROR)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory inflating gzip data")));
	if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END)
	{
		*error = inf->zs.msg ? inf->zs.msg : "inflate failed";
		return false;
	}
	return true;
}
#endif

/*
 * Inflates what it can from *in to *out, moving both on; false (with
 * *error) on bad data.  *member_end when the member ended; what follows
 * it is left in *in.  (Both libraries name their buffer fields alike.)
 */
static bool
inflater_step(Inflater *inf, unsigned char **in, size_t *in_len,
			  unsigned char **out, size_t *out_len, bool *member_end, const char **error)
{
	bool		ok;

	INFLATER_BUFFERS(inf)->next_in = *in;
	INFLATER_BUFFERS(inf)->avail_in = (uint32) Min(*in_len, PG_UINT32_MAX);
	INFLATER_BUFFERS(inf)->next_out = *out;
	INFLATER_BUFFERS(inf)->avail_out = (uint32) Min(*out_len, PG_UINT32_MAX);
	ok = inflater_run(inf, member_end, error);
	*in_len -= INFLATER_BUFFERS(inf)->next_in - *in;
	*in = INFLATER_BUFFERS(inf)->next_in;
	*out_len -= INFLATER_BUFFERS(inf)->next_out - *out;
	*out = INFLATER_BUFFERS(inf)->next_out;
	return ok;
}

/* ---------------------------------------------------------------------
 * The stream
 * ---------------------------------------------------------------------
 */
typedef struct GzipStream
{
	EltStream	base;
	EltStream  *source;
	bool		inflating;		/* false: pass-through */
	bool		closed;

	Inflater	inflater;
	unsigned char *input;
	unsigned char *next_in;		/* what of input is not inflated yet */
	size_t		avail_in;
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
	inflater_end(&gz->inflater);
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
	gz->next_in = gz->input;
	gz->avail_in = n;
	return true;
}

static void
gzip_report_corrupt(GzipStream *gz, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid gzip data in \"%s\"", gz->base.display_url),
			 errdetail(INFLATER_NAME ": %s.  The error is after " UINT64_FORMAT " bytes of inflated data.",
					   why, gz->inflated),
			 errhint("Check that the file is a complete, valid .gz file.")));
}

/*
 * A member starts here: its fixed header must be what RFC 1952 allows
 * (method deflate, no reserved flag), which zlib checks and igzip does
 * not, so that a file loads or fails the same whichever inflater reads it.
 * A stream that ends inside the header is left to the inflater, which
 * reports it cut short.
 */
static void
gzip_check_member_header(GzipStream *gz)
{
	if (gz->avail_in < 4 && !gz->source_eof)
	{
		memmove(gz->input, gz->next_in, gz->avail_in);
		gz->next_in = gz->input;
		while (gz->avail_in < 4)
		{
			size_t		n = gz->source->read(gz->source, (char *) gz->input + gz->avail_in,
											 GZIP_INPUT_SIZE - gz->avail_in);

			if (n == 0)
			{
				gz->source_eof = true;
				break;
			}
			gz->avail_in += n;
		}
	}
	if (gz->avail_in >= 3 && gz->next_in[2] != 8)
		gzip_report_corrupt(gz, "unknown compression method");
	if (gz->avail_in >= 4 && (gz->next_in[3] & 0xe0) != 0)
		gzip_report_corrupt(gz, "unknown header flags set");
}

static size_t
gzip_pass_through(GzipStream *gz, char *dst, size_t len)
{
	if (gz->avail_in > 0)
	{
		size_t		n = Min(len, gz->avail_in);

		memcpy(dst, gz->next_in, n);
		gz->next_in += n;
		gz->avail_in -= n;
		return n;
	}
	return gz->source->read(gz->source, dst, len);
}

static size_t
gzip_read(EltStream *stream, char *dst, size_t len)
{
	GzipStream *gz = (GzipStream *) stream;
	unsigned char *out = (unsigned char *) dst;
	size_t		out_len = len;
	size_t		produced;

	if (!gz->inflating)
		return gzip_pass_through(gz, dst, len);

	while (out_len == len)
	{
		const char *error = NULL;

		if (gz->avail_in == 0 && !gzip_fill(gz))
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
			if (gz->next_in[0] != 0x1f)
				gzip_report_corrupt(gz, "unexpected data after the end of the compressed stream");
			gzip_check_member_header(gz);
			inflater_next_member(&gz->inflater);
			gz->member_done = false;
		}
		if (!inflater_step(&gz->inflater, &gz->next_in, &gz->avail_in, &out, &out_len,
						   &gz->member_done, &error))
			gzip_report_corrupt(gz, error);
	}

	produced = len - out_len;
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
	gz->next_in = gz->input;
	while (gz->avail_in < 2)
	{
		size_t		n = source->read(source, (char *) gz->input + gz->avail_in,
									 GZIP_INPUT_SIZE - gz->avail_in);

		if (n == 0)
		{
			gz->source_eof = true;
			break;
		}
		gz->avail_in += n;
	}
	gz->inflating = (gz->avail_in >= 2 && gz->input[0] == 0x1f && gz->input[1] == 0x8b);
	if (!gz->inflating)
		return &gz->base;

	cb->func = gzip_release;
	cb->arg = gz;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	inflater_init(&gz->inflater);
	gzip_check_member_header(gz);
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
