/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Flow definitions and run history, read and written through SPI (catalog.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_CATALOG_H
#define PG_ELT_CATALOG_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "states.h"

#define PG_ELT_SCHEMA "elt"

/*
 * The catalog version (extversion) this library works with: pg_elt.control's
 * default_version, which the Makefile passes in.
 */
#ifndef PG_ELT_VERSION
#error "PG_ELT_VERSION is not defined: build with the project's Makefile"
#endif

typedef struct TaskDef
{
	char	   *name;
	char	   *kind;			/* "extract", "sql" or "flow" */
	Jsonb	   *config;
	char	   *sql;
	List	   *depends_on;		/* task names */
	List	   *tags;
	int			retries;
	double		retry_delay_s;
	double		retry_backoff;
	int64		timeout_ms;		/* 0 = none */
	char	   *for_each;		/* a JSON array or a template giving one, or NULL */
	Jsonb	   *bound;			/* an instance of a mapped task: its :item and keys */
	char	   *cache_expiration;	/* an interval, as text; NULL: not cached */
	char	   *cache_key;		/* a template, or NULL: the default key */
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

/*
 * What a new run is linked to: the run it retries, the run and task it is
 * a subflow of; and whether it was asked to refresh the cache (else it
 * does as the run it retries or is a subflow of does).
 */
typedef struct RunLink
{
	int64		retry_of;		/* 0: none */
	int64		parent_run;		/* 0: none */
	const char *parent_task;
	bool		refresh_cache;
} RunLink;

/* A row of elt.concurrency_limits. */
typedef struct TagLimit
{
	char	   *tag;
	int			max_running;
} TagLimit;

typedef struct AttemptOutcome
{
	EltState	state;
	uint64		rows;
	uint64		bytes;
	ErrorData  *error;			/* NULL when none */
	const char *message;		/* overrides error's message when set */
	bool		no_retry;		/* the flow's timeout ended it */
	Jsonb	   *inputs;			/* what it ran, after substitution, or NULL */
	Jsonb	   *result;			/* what it gave back, or NULL */
} AttemptOutcome;

extern void elt_require_usage(const char *function);
extern FlowDef *elt_catalog_load_flow(const char *name, Oid who, const char *for_task,
									   MemoryContext cxt);
extern int64 elt_catalog_create_run(FlowDef *flow, Jsonb *params, const char *trigger,
									TimestampTz run_at, bool running_here, const RunLink *link);
extern int	elt_catalog_run_depth(int64 run_id);
extern List *elt_catalog_reuse_results(int64 run_id);
extern bool elt_catalog_pause_requested(int64 run_id, TimestampTz *until);
extern void elt_catalog_mark_paused(int64 run_id, bool paused);
extern bool elt_catalog_request_pause(int64 run_id, bool pause, TimestampTz until);
extern char *elt_catalog_claim_queued_run(int64 run_id, Jsonb **params);
extern void elt_catalog_add_task_rows(int64 run_id, FlowDef *flow);
extern FlowDef *elt_catalog_load_run_flow(const char *flow_name, const char *for_task,
										   MemoryContext cxt);
extern List *elt_flow_order(FlowDef *flow);
extern List *elt_flow_upstream(FlowDef *flow, TaskDef *task);
extern bool elt_name_in_list(List *names, const char *name);
extern bool elt_task_maps_files(const TaskDef *task);
extern void elt_catalog_run_set_params(int64 run_id, Jsonb *params);
extern char *elt_task_files_key(const TaskDef *task);
extern List *elt_flow_instances(TaskDef *task, Jsonb *params);
extern TaskDef *elt_flow_find_task(FlowDef *flow, Jsonb *params, const char *name);
extern Jsonb *elt_catalog_results(int64 run_id, List *tasks);

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
extern EltState elt_catalog_read_attempt(int64 run_id, const char *task, int attempt,
									  uint64 *rows, char **message);
extern void elt_catalog_attempt_start(int64 run_id, const char *task, int attempt);
extern void elt_catalog_attempt_end(int64 run_id, const char *task, int attempt,
									const AttemptOutcome *outcome);
extern void elt_catalog_run_end(int64 run_id, EltState state, const char *message,
								uint64 rows);
extern void elt_catalog_write_logs(int64 run_id, List *lines);
extern void elt_catalog_tag_limits(Datum tags, List **limits, MemoryContext cxt);

/* An entry of elt.task_cache. */
typedef struct CacheEntry
{
	int64		run_id;			/* that made it */
	Jsonb	   *result;
	Oid			target;			/* an extract's table, else InvalidOid */
	TimestampTz expires_at;
} CacheEntry;

/* A row of elt.credentials, as a role asking for it by name finds it. */
typedef struct Credential
{
	bool		found;
	bool		usable;			/* the role asking may use it (else no secret) */
	char	   *owner;
	char	   *kind;
	Jsonb	   *settings;
	Jsonb	   *secret;
} Credential;

extern bool elt_catalog_credential_find(const char *name, Oid who, Credential *cred);
extern void elt_catalog_credential_write(const char *owner, const char *name, const char *kind,
										 Jsonb *settings, Jsonb *secret, bool create);
extern void elt_catalog_credential_delete(const char *owner, const char *name);

extern bool elt_catalog_ledger_find(const char *owner, const char *target, const char *url,
									char **etag, Oid *target_oid);
extern bool elt_catalog_ledger_claim(const char *owner, const char *target, const char *url,
									 const char *etag, int64 size, bool changed);
extern void elt_catalog_ledger_record(const char *owner, const char *target, const char *url,
									  Oid target_oid, int64 rows, int64 run_id);
extern bool elt_catalog_cache_find(int64 run_id, const char *key, CacheEntry *entry,
								   bool *refresh);
extern void elt_catalog_cache_store(int64 run_id, const char *task, const char *key,
									const char *expiration, const AttemptOutcome *outcome,
									Oid target);

#endif							/* PG_ELT_CATALOG_H */
