/*-------------------------------------------------------------------------
 *
 * run_coordinator.h
 *	  The coordination of one run's tasks (run_coordinator.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_RUN_COORDINATOR_H
#define PG_ELT_RUN_COORDINATOR_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "run_worker.h"

extern void elt_run_coordinate(RunWorker *w, const char *flow_name, Jsonb *run_params);

#endif							/* PG_ELT_RUN_COORDINATOR_H */
