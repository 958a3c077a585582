/*-------------------------------------------------------------------------
 *
 * runtime.h
 *	  The runtime's shared state and the services built on it (runtime.c):
 *	  which databases have, or want, a scheduler; which runs have a worker;
 *	  how many helper workers run; how pg_elt's workers are started, woken
 *	  and do a unit of work.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_RUNTIME_H
#define PG_ELT_RUNTIME_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

struct BackgroundWorkerHandle;

/* Is pg_elt preloaded (shared_preload_libraries), with its shared memory? */
extern bool elt_runtime_preloaded(void);

/* From _PG_init under shared_preload_libraries. */
extern void elt_runtime_preload(void);

/* ---------------------------------------------------------------------
 * Starting workers and doing a unit of work
 * ---------------------------------------------------------------------
 */
extern bool elt_start_worker(const char *function, const char *type, const char *name,
							 const void *extra, Size extra_len, Datum main_arg,
							 struct BackgroundWorkerHandle **handle);
extern void elt_begin_work(void);
extern void elt_commit_work(void);
extern void elt_work_commit_lazily(void);
extern void elt_sleep_interruptible(long ms);
extern bool elt_try_work(void (*work) (void *arg), void *arg);

/* ---------------------------------------------------------------------
 * Runs with a worker.  A run's entry is reserved by the scheduler as it
 * starts the worker (so that the worker counts at once), then adopted by
 * the worker; flow_run's workers take one themselves.
 * ---------------------------------------------------------------------
 */
typedef struct RunEntry RunEntry;

extern RunEntry *elt_run_entry_reserve(int64 run_id);
extern RunEntry *elt_run_entry_adopt(int64 run_id);
extern void elt_run_entry_release(RunEntry *entry);
extern void elt_run_entry_release_unadopted(int64 run_id);
extern bool elt_run_entry_cancelled(RunEntry *entry);
extern void elt_run_entry_cancel(RunEntry *entry);
extern bool elt_run_cancel(int64 run_id);
extern bool elt_run_cancel_requested(int64 run_id);
extern void elt_wait_for_run_end(long timeout_ms);
extern void elt_wait_for_run_end_done(void);

/* Workers counted against pg_elt.max_workers: runs, and helpers. */
extern int	elt_workers_free(void);
extern void elt_helper_count(int delta);

/* ---------------------------------------------------------------------
 * Databases and their schedulers
 * ---------------------------------------------------------------------
 */

/* What shared memory knows of a database, copied out under the lock. */
typedef struct DatabaseEntry
{
	Oid			database;		/* InvalidOid: the entry is free */
	pid_t		scheduler_pid;	/* its scheduler, or 0 */
	struct Latch *scheduler_latch;
	uint32		generation;		/* which taking of the entry this is */
	uint32		requested;		/* bumped when work for a scheduler commits */
	uint32		served;			/* the requests its scheduler has looked at */
	bool		recovered;		/* crashed runs marked since the entry was taken */
	pid_t		dropping;		/* backend dropping pg_elt or the database */
} DatabaseEntry;

/* for anyone */
extern void elt_request_scheduler(Oid database);
extern void elt_wake_scheduler_at_commit(void);
extern bool elt_scheduler_running(Oid database);
extern bool elt_scheduler_stand_down(Oid database, int wait_ms);

/* for the launcher */
extern void elt_launcher_attach(void);
extern bool elt_database_entry(Oid database, DatabaseEntry *copy);
extern void elt_free_database_entries(List *existing);
extern bool elt_database_overflowed(void);

/* for a database's scheduler */
extern bool elt_scheduler_attach(Oid database, bool *first);
extern void elt_scheduler_detach(Oid database);
extern uint32 elt_scheduler_take_requests(void);
extern bool elt_scheduler_leave_unless_requested(uint32 seen);
extern void elt_scheduler_mark_recovered(void);
extern bool elt_scheduler_standing_down(void);

#endif							/* PG_ELT_RUNTIME_H */
