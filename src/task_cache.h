/*-------------------------------------------------------------------------
 *
 * task_cache.h
 *	  A task's cached result: its key, and taking, refusing and keeping
 *	  entries (task_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_TASK_CACHE_H
#define PG_ELT_TASK_CACHE_H

#include "postgres.h"

#include "catalog.h"

/* How one attempt of a task meets the cache. */
typedef struct TaskCache
{
	char	   *key;			/* hex SHA-256; NULL: the task is not cached */
	bool		refresh;		/* the run refreshes entries: it takes none */
	bool		found;			/* an unexpired entry exists for key */
	CacheEntry	entry;
} TaskCache;

extern void elt_task_cache_open(TaskCache *cache, int64 run_id, TaskDef *task,
								const char *inputs, Jsonb *upstream, Jsonb *params);
extern bool elt_task_cache_usable(const TaskCache *cache);
extern void elt_task_cache_take(TaskCache *cache, AttemptOutcome *out, const char *why);
extern void elt_task_cache_refuse(TaskCache *cache, const char *why);
extern const char *elt_task_cache_validator(const TaskCache *cache, const char *name);
extern void elt_task_cache_keep(TaskCache *cache, int64 run_id, TaskDef *task,
								const AttemptOutcome *out, Oid target);

#endif							/* PG_ELT_TASK_CACHE_H */
