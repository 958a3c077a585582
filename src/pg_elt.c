/*-------------------------------------------------------------------------
 *
 * pg_elt.c
 *	  Module entry point.  pg_elt needs no shared_preload_libraries for
 *	  flow_run and load_csv: runs are executed by dynamic background
 *	  workers that load this library themselves.  Preloaded, it also sets
 *	  up the runtime's shared memory (runtime.c), the launcher
 *	  (launcher.c) and the DROP DATABASE guard (drop_guard.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "drop_guard.h"
#include "guc.h"
#include "launcher.h"
#include "runtime.h"
#include "tag_limits.h"
#include "worker_pool.h"

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
	{
		elt_runtime_preload();
		elt_tag_limits_preload();
		elt_pool_preload();
		elt_launcher_register();
		elt_drop_guard_preload();
	}
}
