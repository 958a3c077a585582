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

#endif							/* PG_ELT_GZIP_STREAM_H */
