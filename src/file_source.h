/*-------------------------------------------------------------------------
 *
 * file_source.h
 *	  A server file as a byte stream (file_source.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_FILE_SOURCE_H
#define PG_ELT_FILE_SOURCE_H

#include "postgres.h"

#include "stream.h"

extern EltStream *elt_file_open(const char *path, const char *display_url);

#endif							/* PG_ELT_FILE_SOURCE_H */
