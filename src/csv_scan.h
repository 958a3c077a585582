/*-------------------------------------------------------------------------
 *
 * csv_scan.h
 *	  The pg_elt foreign-data wrapper: a scan over a CSV (gzip or plain)
 *	  streamed from a URL, for users' foreign tables and as the row
 *	  source of load_csv's executor path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_CSV_SCAN_H
#define PG_ELT_CSV_SCAN_H

#include "copy_feed.h"

/*
 * A load's stream handed to the scan of one foreign table (by relid), so
 * that INSERT INTO target SELECT ... FROM that table reads it.  Lives on
 * the attaching caller's stack; attachments nest.
 */
typedef struct CsvScanAttachment
{
	Oid			relid;
	CopyFeed *source;
	List	   *copy_options;
	bool		scanned;		/* one scan only: the stream is read once */
	struct CsvScanAttachment *outer;
} CsvScanAttachment;

extern void elt_csv_scan_attach(CsvScanAttachment *att);
extern void elt_csv_scan_detach(CsvScanAttachment *att);

#endif
