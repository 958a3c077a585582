/*-------------------------------------------------------------------------
 *
 * run_worker.h
 *	  The background workers that execute runs (run_worker.c): a run's
 *	  worker, which coordinates it (run_coordinator.c), and the helpers
 *	  that run one task attempt each beside it; how they are started and
 *	  cancelled.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_RUN_WORKER_H
#define PG_ELT_RUN_WORKER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"

#include "run_channel.h"
#include "runtime.h"
#include "states.h"
#include "worker_pool.h"

/*
 * What every worker of a run gets in bgw_extra, however it was started:
 * by flow_run (caller_segment set, run_id 0: the worker creates the run),
 * by the scheduler (a queued run_id), or by a coordinator (a helper for
 * one attempt of task).
 */
typedef struct RunWorkerArgs
{
	Oid			database;
	Oid			owner;			/* the flow's owner, as whom the worker connects */
	int64		run_id;
	dsm_handle	caller_segment; /* flow_run's channel, or 0 */
	int32		attempt;		/* a helper's */
	char		task[BGW_EXTRALEN - 28];	/* a helper's task; empty for a run */
} RunWorkerArgs;

/* The job a worker does: the run it works for. */
typedef struct RunWorker
{
	RunWorkerArgs args;
	MemoryContext cxt;			/* the job's: deleted as it ends */
	int64		run_id;
	RunChannel *channel;		/* flow_run's, or NULL */
	RunEntry   *entry;			/* the run's shared-memory entry (run worker, preloaded) */
	char	   *flow_name;		/* for the server log */
	bool		is_helper;
	bool		ended;			/* the run's end is recorded */
	int			helpers;		/* helpers counted in shared memory */
	TimestampTz deadline;		/* of the flow's timeout, or 0 */
} RunWorker;

extern bool elt_run_worker_start(const RunWorkerArgs *args, PoolJob *job);
extern bool elt_run_worker_cancelled(const RunWorker *w);
extern void elt_run_worker_cancel(RunWorker *w);
extern void elt_run_worker_started(RunWorker *w);
extern void elt_run_worker_name_task(int64 run_id, const char *task);
extern void elt_run_worker_finish(RunWorker *w, EltState state, const char *message,
								  uint64 rows, TimestampTz started);

#endif							/* PG_ELT_RUN_WORKER_H */
