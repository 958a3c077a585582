/*-------------------------------------------------------------------------
 *
 * pg_elt.h
 *	  Declarations shared by the modules of pg_elt: the byte-stream
 *	  interface that connects HTTP, gzip and COPY, the extract options, the
 *	  GUCs, and the entry points each module offers the others.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_H
#define PG_ELT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/spin.h"
#include "nodes/pg_list.h"
#include "nodes/primnodes.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#define PG_ELT_SCHEMA "elt"

/* The catalog version (extversion) this library works with. */
#define PG_ELT_VERSION "0.3"

/* ---------------------------------------------------------------------
 * Byte streams.  A load is a chain of streams (HTTP, then gzip when the
 * magic bytes say so) that COPY pulls from.  read() returns the number of
 * bytes placed in buf, 0 only at the end of the data, and reports errors
 * with ereport.  Streams own resources outside palloc (curl and zlib
 * handles); they release them in close() and also, via a memory context
 * reset callback, when the context they live in goes away on error.
 * ---------------------------------------------------------------------
 */
typedef struct EltStream EltStream;

struct EltStream
{
	size_t		(*read) (EltStream *stream, char *buf, size_t len);
	void		(*close) (EltStream *stream);
	const char *display_url;	/* URL without credentials, for messages */
	uint64		received;		/* bytes the source has delivered (sources only) */
};

/* pg_elt.c */
struct BackgroundWorkerHandle;
extern bool elt_start_worker(const char *function, const char *type, const char *name,
							 Datum main_arg, const void *extra, Size extra_len,
							 struct BackgroundWorkerHandle **handle);

extern void elt_begin_work(void);
extern void elt_commit_work(void);

/* http_fetch.c */
typedef struct HttpOptions
{
	List	   *headers;		/* "Name: value" strings, for the URL's origin */
	bool		allow_file;		/* caller may read server files */
	bool		restricted;		/* outbound policy applies (not a superuser) */
	TimestampTz deadline;		/* 0 = none */
	int		   *retry_after_ms; /* out: Retry-After of a failed response, or 0 */
} HttpOptions;

extern EltStream *elt_open_url(const char *url, const HttpOptions *options);
extern char *elt_redact_url(const char *url);
extern void elt_check_url_allowed(const char *url, bool allow_file);

/* http_headers.c */
typedef struct HttpResponseHeaders
{
	bool		accept_ranges;
	char		etag[256];
	char		last_modified[128];
	int			retry_after_s;	/* -1: none */
} HttpResponseHeaders;

extern void elt_http_headers_reset(HttpResponseHeaders *h);
extern void elt_http_header_line(HttpResponseHeaders *h, const char *line, size_t len);

/* file_source.c */
extern EltStream *elt_file_open(const char *path, const char *display_url);

/* outbound.c */
struct sockaddr;
extern bool elt_outbound_allowed(const struct sockaddr *sa, const char **why);
extern bool elt_check_network_list(char **newval, void **extra, GucSource source);
extern void elt_assign_network_list(const char *newval, void *extra);
extern bool elt_check_port_list(char **newval, void **extra, GucSource source);
extern void elt_assign_port_list(const char *newval, void *extra);

/* gzip_stream.c */
extern EltStream *elt_gzip_open_if_compressed(EltStream *source);

/* ---------------------------------------------------------------------
 * Extract options (load_csv's options, an extract task's config)
 * ---------------------------------------------------------------------
 */
typedef enum LoadMode
{
	LOAD_APPEND,
	LOAD_REPLACE,
	LOAD_TRUNCATE,
	LOAD_CREATE
} LoadMode;

/* How rows reach the table: COPY into it, or INSERT through the executor. */
typedef enum LoadPath
{
	LOAD_PATH_AUTO,
	LOAD_PATH_COPY,
	LOAD_PATH_INSERT
} LoadPath;

typedef struct LoadOptions
{
	LoadMode	mode;
	LoadPath	path;
	bool		header;
	char		delimiter;
	char		quote;
	char		escape;
	char	   *null_string;	/* NULL = COPY's default (empty) */
	char	   *encoding;		/* NULL = client/database encoding */
	List	   *columns;		/* explicit column names, or NIL */
	List	   *force_null;		/* column names */
	List	   *force_not_null; /* column names */
	List	   *types;			/* list of (name, type) pairs as 2-lists */
	List	   *headers;		/* HTTP headers, "Name: value" */
	int			retries;
	double		retry_delay;	/* seconds before the first retry */
	double		timeout;		/* seconds for the whole load, 0 = none */
	int			sample_rows;	/* rows read to infer types */
	/* a table load_csv creates becomes a Citus table */
	char	   *distribute_by;	/* distribution column, or NULL */
	int			shard_count;	/* 0 = Citus's default */
	char	   *colocate_with;	/* NULL = Citus's default */
	bool		reference;		/* a reference table */
} LoadOptions;

extern void elt_parse_load_options(Jsonb *options, LoadOptions *opts,
								   bool task_config, bool skip_placeholders);
extern List *elt_copy_options(const LoadOptions *opts);
extern void elt_http_options_for_caller(const LoadOptions *opts, HttpOptions *hopts);
extern uint64 elt_load_csv(const char *url, const char *table_name,
						   const LoadOptions *opts, uint64 *bytes);

/* csv_infer.c */
typedef struct CsvDialect
{
	char		delimiter;
	char		quote;
	char		escape;
	const char *null_string;
} CsvDialect;

typedef struct CsvSample
{
	int			ncolumns;
	char	  **names;			/* header (raw) or NULL without header */
	char	  **types;			/* inferred SQL type names */
	int			nrows;			/* data rows examined */
} CsvSample;

extern bool elt_csv_sample(const char *data, size_t len, bool at_eof, bool full,
						   const CsvDialect *dialect, bool header,
						   int max_rows, CsvSample *sample);
extern char *elt_normalize_column_name(const char *raw);

/* templates.c */
extern char *elt_substitute(const char *text, Jsonb *params, const char *strict_what);
extern Jsonb *elt_substitute_jsonb(Jsonb *config, Jsonb *params, const char *strict_what);

/* jsonb_util.c */
extern JsonbValue *elt_jsonb_get(Jsonb *object, const char *key);
extern char *elt_jsonb_value_text(JsonbValue *value);
extern Jsonb *elt_jsonb_merge(Jsonb *base, Jsonb *overlay);
extern void elt_check_jsonb_object(Jsonb *value, const char *what);
extern char *elt_jsonb_keys(Jsonb *object);

/* guc.c */
extern int	elt_max_download_kb;
extern int	elt_max_inflated_kb;
extern int	elt_connect_timeout_s;
extern int	elt_low_speed_timeout_s;
extern int	elt_max_redirects;
extern int	elt_progress_interval_s;
extern int	elt_cancel_wait_s;
extern int	elt_max_workers;
extern int	elt_max_parallel_tasks;
extern char *elt_timezone;
extern int	elt_history_retention_min;
extern bool elt_keep_completed_details;
extern int	elt_max_line_kb;
extern char *elt_allowed_networks;
extern char *elt_allowed_ports;
extern int	elt_max_priority;
extern int	elt_min_schedule_interval_s;
extern int	elt_log_runs;
extern bool elt_launch_schedules;
extern int	elt_max_databases;
extern void elt_define_gucs(void);

typedef enum EltLogRuns
{
	ELT_LOG_RUNS_NONE,
	ELT_LOG_RUNS_FAILED,
	ELT_LOG_RUNS_ALL
} EltLogRuns;

/* ---------------------------------------------------------------------
 * Flow definitions and run history (catalog.c)
 * ---------------------------------------------------------------------
 */
typedef struct TaskDef
{
	char	   *name;
	char	   *kind;			/* "extract" or "sql" */
	Jsonb	   *config;
	char	   *sql;
	List	   *depends_on;		/* task names */
	List	   *tags;
	int			retries;
	double		retry_delay_s;
	double		retry_backoff;
	int64		timeout_ms;		/* 0 = none */
} TaskDef;

typedef struct FlowDef
{
	char	   *name;
	Oid			owner;			/* InvalidOid: the owner role was dropped */
	char	   *owner_name;
	bool		owner_can_login;
	Jsonb	   *params;
	List	   *tasks;			/* TaskDef *, in name order */
	int64		timeout_ms;		/* the whole run's, 0 = none */
	bool		uncommitted;	/* changed by the current transaction */
} FlowDef;

typedef struct LogLine
{
	TimestampTz at;
	int			elevel;
	int			sqlerrcode;
	char	   *task;
	int			attempt;
	char	   *message;
	char	   *detail;
	char	   *hint;
} LogLine;

typedef struct AttemptOutcome
{
	const char *state;
	uint64		rows;
	uint64		bytes;
	ErrorData  *error;			/* NULL when none */
	const char *message;		/* overrides error's message when set */
	bool		no_retry;		/* the flow's timeout ended it */
} AttemptOutcome;

extern Oid	elt_extension_owner(void);
extern void elt_require_usage(const char *function);
extern FlowDef *elt_catalog_load_flow(const char *name, Oid who, bool with_tasks,
									   MemoryContext cxt);
extern int64 elt_catalog_create_run(FlowDef *flow, Jsonb *params, const char *trigger,
									TimestampTz run_at, bool running_here);
extern char *elt_catalog_claim_queued_run(int64 run_id, Jsonb **params);
extern void elt_catalog_add_task_rows(int64 run_id, FlowDef *flow);

typedef struct RunRow
{
	int64		run_id;
	char	   *state;
	char	   *message;
	int64		rows;
	int64		duration_us;	/* -1 while running */
	Oid			owner;
	bool		ours;			/* queued by the current transaction */
} RunRow;

extern bool elt_catalog_read_run(int64 run_id, RunRow *row);
extern bool elt_catalog_cancel_unstarted(int64 run_id);
extern char *elt_catalog_run_flow(int64 run_id, Jsonb **params);
extern char *elt_catalog_read_attempt(int64 run_id, const char *task, int attempt,
									  uint64 *rows, char **message);
extern void elt_catalog_attempt_start(int64 run_id, const char *task, int attempt);
extern void elt_catalog_attempt_end(int64 run_id, const char *task, int attempt,
									const AttemptOutcome *outcome);
extern void elt_catalog_run_end(int64 run_id, const char *state, const char *message,
								uint64 rows);
extern void elt_catalog_write_logs(int64 run_id, List *lines);
extern void elt_catalog_tag_limits(Datum tags, List **limits, MemoryContext cxt);
extern const char *elt_level_name(int elevel);

/* ---------------------------------------------------------------------
 * A run's shared memory: flow_run (the caller) and the worker that
 * executes the run share one DSM segment with this header, the flow name,
 * the params, and a message queue from the worker to the caller.
 * ---------------------------------------------------------------------
 */
#define ELT_RUN_MAGIC		0x454c5430
#define ELT_KEY_SHARED		1
#define ELT_KEY_FLOW		2
#define ELT_KEY_PARAMS		3
#define ELT_KEY_QUEUE		4
#define ELT_QUEUE_SIZE		(64 * 1024)

typedef struct EltRunShared
{
	Oid			database;
	Oid			owner;
	pid_t		worker_pid;
	pg_atomic_uint32 cancel_requested;
	pg_atomic_uint32 finished;
} EltRunShared;

/* Messages on the queue: a type byte, then the fields. */
#define ELT_MSG_STARTED		'S'	/* run_id */
#define ELT_MSG_LOG			'L'	/* elevel, sqlerrcode, task, message, detail, hint */
#define ELT_MSG_RESULT		'R'	/* run_id, state, message, rows, duration (us) */

/* schedule.c */
typedef struct EltSchedule
{
	bool		is_interval;
	int64		interval_us;
	uint64		minutes;		/* bit n: minute n */
	uint32		hours;
	uint32		days;			/* bits 1..31 */
	uint16		months;			/* bits 1..12 */
	uint8		weekdays;		/* bits 0..6, Sunday is 0 */
	bool		days_restricted;
	bool		weekdays_restricted;
} EltSchedule;

extern void elt_schedule_parse(const char *text, EltSchedule *s);
extern TimestampTz elt_schedule_next(const EltSchedule *s, TimestampTz after, const char *tz);
extern int64 elt_schedule_shortest_gap(const EltSchedule *s, const char *tz);

/* ---------------------------------------------------------------------
 * The runtime under shared_preload_libraries (scheduler.c)
 * ---------------------------------------------------------------------
 */
/*
 * A database that has, or may have, something to schedule: its scheduler,
 * and the requests for one.  Free when database is InvalidOid.
 */
typedef struct EltSchedulerSlot
{
	Oid			database;
	pid_t		pid;			/* its scheduler, or 0 */
	struct Latch *latch;
	uint32		generation;		/* which taking of the slot this is */
	uint32		requested;		/* bumped when work for a scheduler commits */
	uint32		served;			/* the requests its scheduler has looked at */
	bool		recovered;		/* crashed runs marked since the slot was taken */
	pid_t		dropping;		/* backend dropping pg_elt or the database */
} EltSchedulerSlot;

typedef struct EltRunSlot
{
	int64		run_id;			/* 0 = free */
	Oid			database;
	pid_t		pid;
	pg_atomic_uint32 cancel_requested;
} EltRunSlot;

/* Sized when the server starts: pg_elt.max_databases, max_worker_processes. */
typedef struct EltShared
{
	slock_t		mutex;
	struct Latch *launcher_latch;
	int			ndatabases;
	int			nruns;
	EltSchedulerSlot *schedulers;	/* ndatabases, after this struct */
	EltRunSlot *runs;			/* nruns, after those */
	bool		overflow;		/* a database found no free slot */
	uint32		generations;	/* slots taken since the server started */
	pg_atomic_uint32 helpers_running;
	ConditionVariable run_ended;
} EltShared;

/* What a queued run's worker gets in bgw_extra. */
typedef struct EltRunWorkerArgs
{
	Oid			database;
	Oid			owner;
	int64		run_id;
} EltRunWorkerArgs;

extern EltShared *elt_shared;	/* NULL unless preloaded */
extern void elt_scheduler_preload(void);
extern EltRunSlot *elt_claim_run_slot(int64 run_id);
extern void elt_release_run_slot(EltRunSlot *slot);
extern bool elt_cancel_running(int64 run_id);
extern int	elt_workers_running(void);
extern int	elt_helpers_running(void);
extern void elt_helper_count(int delta);
extern bool elt_run_cancel_requested(int64 run_id);
extern void elt_wake_scheduler_now(Oid database);
extern void elt_request_scheduler(Oid database);
extern void elt_wake_scheduler_at_commit(void);
extern bool elt_scheduler_stand_down(Oid database, int wait_ms);
extern void elt_scheduler_resume(Oid database);
extern bool elt_scheduler_running(Oid database);
extern PGDLLEXPORT void elt_launcher_main(Datum main_arg);
extern PGDLLEXPORT void elt_scheduler_main(Datum main_arg);

/* tag_limits.c */
typedef struct TagLimit
{
	char	   *tag;
	int			max_running;
} TagLimit;

extern Size elt_tag_limits_shmem_size(void);
extern void elt_tag_limits_shmem_request(void);
extern void elt_tag_limits_shmem_init(void);
extern TagLimit *elt_tag_slots_take(List *limits, List **held);
extern void elt_tag_slots_release(List *held);

/* flow_run.c */
extern FlowDef *elt_check_runnable_flow(const char *name, bool starts_at_commit);
extern Jsonb *elt_run_params(FlowDef *flow, Jsonb *given, const char *what);
extern Datum elt_run_result(FunctionCallInfo fcinfo, int64 run_id, const char *state,
							const char *message, int64 rows, int64 duration_us);

/* executor.c */
extern PGDLLEXPORT void elt_flow_worker_main(Datum main_arg);
extern PGDLLEXPORT void elt_task_worker_main(Datum main_arg);
extern bool elt_error_is_retryable(int sqlerrcode);
extern List *elt_flow_order(FlowDef *flow);
extern void elt_sleep_interruptible(long ms);

#endif							/* PG_ELT_H */
