/*-------------------------------------------------------------------------
 *
 * worker_pool.h
 *	  Pooled run workers (worker_pool.c): a worker whose job is done waits,
 *	  connected, for the next job of the same database, role and kind.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_WORKER_POOL_H
#define PG_ELT_WORKER_POOL_H

#include "postgres.h"

#include "postmaster/bgworker.h"

/* A requester's hold on the job it gave a worker. */
typedef struct PoolJob
{
	int			slot;			/* the worker's slot; -1: an unpooled worker */
	uint64		job;			/* the job's number in the slot */
	BackgroundWorkerHandle *handle; /* of a worker started for the job, or NULL */
} PoolJob;

typedef enum PoolJobState
{
	POOL_JOB_STARTING,			/* its worker has not begun yet */
	POOL_JOB_RUNNING,
	POOL_JOB_DONE				/* done, or its worker is gone */
} PoolJobState;

/* From _PG_init under shared_preload_libraries. */
extern void elt_pool_preload(void);

/* the requester's side */
extern bool elt_pool_start(const char *function, const char *type, const char *name,
						   Oid database, Oid role, const void *args, Size args_len,
						   PoolJob *job);
extern PoolJobState elt_pool_job_state(PoolJob *job, pid_t *pid);
extern bool elt_pool_signal(const PoolJob *job, int signo);
extern void elt_pool_retire_idle(Oid database);
extern void elt_pool_invalidate_at_commit(void);

/* the worker's side */
extern void elt_pool_attach(Datum main_arg, void *args, Size args_len);
extern void elt_pool_job_done(bool may_stay);
extern bool elt_pool_next_job(void *args, Size args_len);

#endif							/* PG_ELT_WORKER_POOL_H */
