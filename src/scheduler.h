/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *	  The scheduler of one database (scheduler.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_SCHEDULER_H
#define PG_ELT_SCHEDULER_H

#include "postgres.h"

extern PGDLLEXPORT void elt_scheduler_main(Datum main_arg);

#endif							/* PG_ELT_SCHEDULER_H */
