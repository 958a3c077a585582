/*
 * fuzz_gzip.c: inflating arbitrary bytes through the gzip stream (with the
 * inflater pg_elt is built with: ISA-L's igzip when there, else zlib), read
 * in chunk sizes the input's first byte picks.  Checked: no memory error,
 * no endless loop; whenever the stream inflates without error, its output
 * is what zlib makes of the same members, byte for byte; and what zlib
 * inflates, the stream does.
 */
#include "fuzz.h"
#include "guc.h"
#include "gzip_stream.h"
#include "stream.h"

#include <zlib.h>

typedef struct MemorySource
{
	EltStream	base;
	const uint8_t *data;
	size_t		size;
	size_t		pos;
	size_t		chunk;
} MemorySource;

static size_t
memory_read(EltStream *stream, char *buf, size_t len)
{
	MemorySource *m = (MemorySource *) stream;
	size_t		n = Min(Min(len, m->chunk), m->size - m->pos);

	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return n;
}

static void
memory_close(EltStream *stream)
{
}

/* zlib's reading of the members: the output, or NULL when it fails. */
static uint8_t *
reference_inflate(const uint8_t *data, size_t size, size_t *out_size)
{
	z_stream	zs;
	size_t		cap = 1 << 16;
	uint8_t    *out = malloc(cap);
	int			rc;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		abort();
	zs.next_in = (Bytef *) data;
	zs.avail_in = size;
	*out_size = 0;
	for (;;)
	{
		if (*out_size == cap)
			out = realloc(out, cap *= 2);
		zs.next_out = out + *out_size;
		zs.avail_out = cap - *out_size;
		rc = inflate(&zs, Z_NO_FLUSH);
		*out_size = cap - zs.avail_out;
		if (rc == Z_STREAM_END)
		{
			if (zs.avail_in == 0)
				break;
			if (inflateReset(&zs) != Z_OK)
				abort();
			continue;
		}
		if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs.avail_out == 0))
		{
			free(out);
			out = NULL;
			break;
		}
	}
	inflateEnd(&zs);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemorySource *m;
	volatile bool ok = false;
	StringInfoData got;

	if (size < 1)
		return 0;
	m = palloc0(sizeof(MemorySource));
	m->base.read = memory_read;
	m->base.close = memory_close;
	m->base.display_url = "fuzz";
	m->data = data + 1;
	m->size = size - 1;
	/* reads of 1 to 128 bytes (headers split anywhere), or of up to 64 kB */
	m->chunk = data[0] < 128 ? 1 + data[0] : 1 + (data[0] - 128) * 512;
	initStringInfo(&got);
	FUZZ_TRY({
		EltStream  *gz = elt_gzip_open_if_compressed(&m->base);
		char		buf[4096];
		size_t		n;

		while ((n = gz->read(gz, buf, 1 + (got.len % sizeof(buf)))) > 0)
			appendBinaryStringInfo(&got, buf, n);
		gz->close(gz);
		ok = true;
	});
	if (m->size >= 2 && m->data[0] == 0x1f && m->data[1] == 0x8b)
	{
		size_t		want_size;
		uint8_t    *want = reference_inflate(m->data, m->size, &want_size);

		if (ok && (want == NULL || want_size != (size_t) got.len ||
				   memcmp(want, got.data, want_size) != 0))
			abort();
		/* and what zlib reads (below the inflated-size cap), the stream reads */
		if (!ok && want != NULL && want_size < (size_t) elt_max_inflated_kb * 1024)
			abort();
		free(want);
	}
	fuzz_reset();
	return 0;
}
