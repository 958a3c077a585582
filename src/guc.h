/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  pg_elt's configuration parameters (guc.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_GUC_H
#define PG_ELT_GUC_H

extern int	elt_max_download_kb;
extern int	elt_max_inflated_kb;
extern int	elt_connect_timeout_s;
extern int	elt_low_speed_timeout_s;
extern int	elt_max_redirects;
extern int	elt_progress_interval_s;
extern int	elt_cancel_wait_s;
extern int	elt_max_workers;
extern int	elt_max_parallel_tasks;
extern int	elt_worker_idle_timeout_s;
extern int	elt_max_idle_workers;
extern char *elt_timezone;
extern int	elt_history_retention_min;
extern bool elt_keep_completed_details;
extern int	elt_max_line_kb;
extern int	elt_parallel_chunk_kb;
extern char *elt_allowed_networks;
extern char *elt_allowed_ports;
extern int	elt_max_priority;
extern int	elt_min_schedule_interval_s;
extern int	elt_log_runs;
extern bool elt_launch_schedules;
extern int	elt_max_databases;
extern char *elt_masked_url_parameters;
extern void elt_define_gucs(void);

typedef enum EltLogRuns
{
	ELT_LOG_RUNS_NONE,
	ELT_LOG_RUNS_FAILED,
	ELT_LOG_RUNS_ALL
} EltLogRuns;

#endif							/* PG_ELT_GUC_H */
