/*-------------------------------------------------------------------------
 *
 * gzip_stream.h
 *	  Inflating a gzip byte stream (gzip_stream.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_GZIP_STREAM_H
#define PG_ELT_GZIP_STREAM_H

#include "postgres.h"

#include "stream.h"

extern EltStream *elt_gzip_open_if_compressed(EltStream *source);

/* writing: the compressed bytes go to a sink as they come */
typedef void (*GzipSink) (void *arg, const char *data, size_t len);
typedef struct GzipWriter GzipWriter;

extern GzipWriter *elt_gzip_writer_create(int level, GzipSink sink, void *sink_arg);
extern void elt_gzip_write(GzipWriter *w, const char *data, size_t len);
extern void elt_gzip_finish(GzipWriter *w);

#endif							/* PG_ELT_GZIP_STREAM_H */
