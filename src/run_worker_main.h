/*-------------------------------------------------------------------------
 *
 * run_worker_main.h
 *	  The entry points of a run's workers (run_worker_main.c), named in
 *	  bgw_function_name by run_worker.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_RUN_WORKER_MAIN_H
#define PG_ELT_RUN_WORKER_MAIN_H

#include "postgres.h"

extern PGDLLEXPORT void elt_flow_worker_main(Datum main_arg);
extern PGDLLEXPORT void elt_task_worker_main(Datum main_arg);

#endif							/* PG_ELT_RUN_WORKER_MAIN_H */
