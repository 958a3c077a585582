/*-------------------------------------------------------------------------
 *
 * flow_run.h
 *	  flow_run's checks and result row, shared with the queue (flow_run.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_FLOW_RUN_H
#define PG_ELT_FLOW_RUN_H

#include "postgres.h"

#include "fmgr.h"
#include "catalog.h"
#include "run_channel.h"

extern FlowDef *elt_check_runnable_flow(const char *name, bool starts_at_commit);
extern Jsonb *elt_run_params(FlowDef *flow, Jsonb *given, const char *what);
extern Datum elt_run_result(FunctionCallInfo fcinfo, int64 run_id, const char *state,
							const char *message, int64 rows, int64 duration_us);

extern RunMessage *elt_run_at_once(FlowDef *flow, Jsonb *params, const RunLink *link);
extern RunMessage *elt_run_subflow(FlowDef *flow, Jsonb *params, bool refresh_cache);

#endif							/* PG_ELT_FLOW_RUN_H */
