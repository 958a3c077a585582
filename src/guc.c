/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The pg_elt.* configuration parameters.  Limits that protect the
 *	  server (download and inflate caps, timeouts) are superuser-only so
 *	  that a flow cannot lift them for itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "pgtime.h"
#include "utils/guc.h"

#include "guc.h"
#include "outbound.h"

int			elt_max_download_kb = 10 * 1024 * 1024; /* 10 GB */
int			elt_max_inflated_kb = 100 * 1024 * 1024;	/* 100 GB */
int			elt_connect_timeout_s = 30;
int			elt_low_speed_timeout_s = 60;
int			elt_max_redirects = 5;
int			elt_progress_interval_s = 5;
int			elt_cancel_wait_s = 10;
int			elt_max_workers = 4;
int			elt_max_parallel_tasks = 4;
int			elt_worker_idle_timeout_s = 10;
int			elt_max_idle_workers = 2;
char	   *elt_timezone = NULL;
int			elt_history_retention_min = 30 * 24 * 60;
bool		elt_keep_completed_details = true;
int			elt_max_line_kb = 16 * 1024;
int			elt_parallel_chunk_kb = 1024;
char	   *elt_allowed_networks = NULL;
char	   *elt_allowed_ports = NULL;
int			elt_max_priority = 0;
int			elt_min_schedule_interval_s = 60;
int			elt_log_runs = ELT_LOG_RUNS_FAILED;
bool		elt_launch_schedules = true;
int			elt_max_databases = 64;
char	   *elt_masked_url_parameters = NULL;

static const struct config_enum_entry log_runs_options[] = {
	{"none", ELT_LOG_RUNS_NONE, false},
	{"failures", ELT_LOG_RUNS_FAILED, false},
	{"failed", ELT_LOG_RUNS_FAILED, true},	/* 0.3's spelling, still accepted */
	{"all", ELT_LOG_RUNS_ALL, false},
	{NULL, 0, false}
};

/* pg_elt.timezone must name a time zone PostgreSQL knows. */
static bool
elt_check_timezone(char **newval, void **extra, GucSource source)
{
	if (pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("Time zone \"%s\" is not recognized.", *newval);
		return false;
	}
	return true;
}

void
elt_define_gucs(void)
{
	DefineCustomIntVariable("pg_elt.max_download_size",
							"Largest number of bytes one load may download.",
							"A load that downloads more fails; 0 means no limit.",
							&elt_max_download_kb, elt_max_download_kb, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.max_inflated_size",
							"Largest number of bytes one load may inflate from gzip data.",
							"Protects against gzip bombs; 0 means no limit.",
							&elt_max_inflated_kb, elt_max_inflated_kb, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.connect_timeout",
							"Time allowed to connect to an HTTP server.",
							NULL,
							&elt_connect_timeout_s, elt_connect_timeout_s, 1, 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.low_speed_timeout",
							"A transfer that receives nothing for this long is cut and retried.",
							NULL,
							&elt_low_speed_timeout_s, elt_low_speed_timeout_s, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.max_redirects",
							"Largest number of HTTP redirects followed.",
							NULL,
							&elt_max_redirects, elt_max_redirects, 0, 50,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.progress_interval",
							"Time between progress notices of a load; 0 turns them off.",
							NULL,
							&elt_progress_interval_s, elt_progress_interval_s, 0, 3600,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.cancel_wait",
							"Time flow_run waits for a cancelled run to roll back.",
							NULL,
							&elt_cancel_wait_s, elt_cancel_wait_s, 0, 300,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("pg_elt.max_workers",
							"Largest number of flow runs pg_elt's schedulers run at once.",
							"Runs queued by flow_submit and schedules wait for a free worker.",
							&elt_max_workers, elt_max_workers, 1, 1024,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.max_parallel_tasks",
							"Largest number of tasks of one run that run at once.",
							"Independent tasks of a flow run in parallel workers up to this; 1 runs them one after another.",
							&elt_max_parallel_tasks, elt_max_parallel_tasks, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.worker_idle_timeout",
							"Time a run's worker or helper waits, connected, for the next job.",
							"A job of the same database, role and kind goes to a waiting worker instead of a new one; 0 starts a new worker for every job.  Needs pg_elt in shared_preload_libraries.",
							&elt_worker_idle_timeout_s, elt_worker_idle_timeout_s, 0, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.max_idle_workers",
							"Largest number of pg_elt workers waiting for a job at a time.",
							"Each holds a background worker slot (max_worker_processes), which parallel query also uses; 0 keeps none.",
							&elt_max_idle_workers, elt_max_idle_workers, 0, 64,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_elt.timezone",
							   "Time zone of cron schedules of flows without a timezone.",
							   NULL,
							   &elt_timezone, "UTC",
							   PGC_SIGHUP, 0, elt_check_timezone, NULL, NULL);
	DefineCustomIntVariable("pg_elt.history_retention",
							"Run history older than this is deleted by the scheduler.",
							"0 keeps history for ever.",
							&elt_history_retention_min, elt_history_retention_min, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_elt.keep_completed_details",
							 "Keep task rows and logs of completed runs.",
							 "Off keeps them only for runs that did not complete, so that frequent schedules do not grow the history.",
							 &elt_keep_completed_details, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pg_elt.max_line_length",
							"Longest line (CSV record) a load accepts.",
							"Bounds the memory one line can take; a longer line fails the load, naming the line.",
							&elt_max_line_kb, elt_max_line_kb, 1, 1024 * 1024 - 1,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.parallel_chunk_size",
							"Input a parallel load hands each worker at a time.",
							"Whole records, at least this much of them; smaller chunks spread a small file over more workers.",
							&elt_parallel_chunk_kb, elt_parallel_chunk_kb, 1, 64 * 1024,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_elt.allowed_networks",
							   "Internal networks that loads by roles other than superusers may reach.",
							   "Comma-separated addresses or CIDR blocks, e.g. '10.1.0.0/16, 127.0.0.1'; loopback, private, link-local and other internal addresses are refused unless listed.",
							   &elt_allowed_networks, "",
							   PGC_SUSET, 0, elt_check_network_list, elt_assign_network_list, NULL);
	DefineCustomStringVariable("pg_elt.masked_url_parameters",
							   "Query-string parameters whose values are shown as *** wherever pg_elt shows a URL.",
							   "Comma-separated names, matched without regard to case.",
							   &elt_masked_url_parameters,
							   "token,access_token,refresh_token,id_token,api_key,apikey,key,password,"
							   "passwd,secret,client_secret,signature,sig,code,auth,"
							   "x-amz-signature,x-amz-credential,x-amz-security-token,"
							   "x-goog-signature,x-goog-credential",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_elt.allowed_ports",
							   "Ports that loads by roles other than superusers may connect to.",
							   "Comma-separated port numbers; empty allows any port.",
							   &elt_allowed_ports, "",
							   PGC_SUSET, 0, elt_check_port_list, elt_assign_port_list, NULL);
	DefineCustomIntVariable("pg_elt.max_priority",
							"Highest priority a flow owned by a role other than a superuser may have.",
							NULL,
							&elt_max_priority, elt_max_priority, -1000000, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_elt.min_schedule_interval",
							"Shortest time between runs of a schedule of a flow owned by a role other than a superuser.",
							NULL,
							&elt_min_schedule_interval_s, elt_min_schedule_interval_s, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomEnumVariable("pg_elt.log_runs",
							 "Which ends of runs are written to the server log.",
							 "none, failed (failed, cancelled and crashed runs) or all.",
							 &elt_log_runs, elt_log_runs, log_runs_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_elt.launch_schedules",
							 "Whether the scheduler queues runs for flows' schedules.",
							 "Off (server-wide, or ALTER DATABASE ... SET) lets an administrator restore or copy a database without firing its schedules; queued runs still start.",
							 &elt_launch_schedules, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);

	/* sizes shared memory, which exists only when preloaded */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("pg_elt.max_databases",
								"Largest number of databases with a pg_elt scheduler, or work for one, at a time.",
								"Each takes a slot of shared memory; slots of idle and dropped databases are reused.",
								&elt_max_databases, elt_max_databases, 1, 100000,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);

	MarkGUCPrefixReserved("pg_elt");
}
