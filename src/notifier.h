/*-------------------------------------------------------------------------
 *
 * notifier.h
 *	  Delivering notifications from the outbox (notifier.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_NOTIFIER_H
#define PG_ELT_NOTIFIER_H

#include "postgres.h"

#include "postmaster/bgworker.h"

extern PGDLLEXPORT void elt_notifier_main(Datum main_arg);
extern bool elt_notifier_start(Oid database, BackgroundWorkerHandle **handle);

#endif							/* PG_ELT_NOTIFIER_H */
