/*-------------------------------------------------------------------------
 *
 * pg_elt.c
 *	  Module entry point.  pg_elt needs no shared_preload_libraries for
 *	  flow_run and load_csv: runs are executed by dynamic background
 *	  workers that load this library themselves.  Preloaded, it also sets
 *	  up the scheduler runtime (scheduler.c).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_elt.h"

#include <curl/curl.h>

#include "fmgr.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "postmaster/bgworker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * curl_global_init is not thread-safe and must run before any handle
	 * exists; doing it once per process at load time is the documented way.
	 */
	if (curl_global_init(CURL_GLOBAL_ALL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));

	elt_define_gucs();
	if (process_shared_preload_libraries_in_progress)
		elt_scheduler_preload();
}

/*
 * Registers a dynamic background worker of this library that connects to a
 * database; its exit sets the caller's latch.  The handle is allocated in
 * the current memory context.  False when no worker slot is free.
 */
bool
elt_start_worker(const char *function, const char *type, const char *name,
				 Datum main_arg, const void *extra, Size extra_len,
				 BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	Assert(extra_len <= BGW_EXTRALEN);
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "pg_elt", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	worker.bgw_main_arg = main_arg;
	if (extra_len > 0)
		memcpy(worker.bgw_extra, extra, extra_len);
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

static MemoryContext work_home_cxt = NULL;

/*
 * A background worker's unit of work: a transaction with a snapshot.
 * elt_commit_work returns to the memory context that was current here,
 * so what the caller allocates outside the transaction survives it.
 */
void
elt_begin_work(void)
{
	Assert(!IsTransactionState());	/* never nested: one home is enough */
	work_home_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
elt_commit_work(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(work_home_cxt);
}
