/*-------------------------------------------------------------------------
 *
 * csv_infer.h
 *	  Sampling a CSV for its columns and types (csv_infer.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_CSV_INFER_H
#define PG_ELT_CSV_INFER_H

#include "postgres.h"


typedef struct CsvDialect
{
	char		delimiter;
	char		quote;
	char		escape;
	const char *null_string;
} CsvDialect;

typedef struct CsvSample
{
	int			ncolumns;
	char	  **names;			/* header (raw) or NULL without header */
	char	  **types;			/* inferred SQL type names */
	int			nrows;			/* data rows examined */
} CsvSample;

extern bool elt_csv_sample(const char *data, size_t len, bool at_eof, bool full,
						   const CsvDialect *dialect, bool header,
						   int max_rows, CsvSample *sample);
extern char *elt_normalize_column_name(const char *raw);

#endif							/* PG_ELT_CSV_INFER_H */
