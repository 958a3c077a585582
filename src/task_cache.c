/*-------------------------------------------------------------------------
 *
 * task_cache.c
 *	  Caching a task's result, as Prefect's task_input_hash and
 *	  cache_expiration do: a task with a cache_expiration is not run while
 *	  an unexpired entry exists for its key; it ends cached and hands on
 *	  the entry's result.
 *
 *	  The key is a SHA-256 of the task's kind and its inputs after
 *	  substitution (the SQL, or the config with its secrets, which are
 *	  hashed and never stored) plus the results of the tasks upstream of
 *	  it; or, when the task has a cache_key template, of the kind and that
 *	  template's substitution.  Entries live in elt.task_cache under the
 *	  run's owner (catalog.c), so one role's cache never serves another.
 *
 *	  Whether an extract's entry still stands (its table, its source) is
 *	  task_attempt.c's to judge: it calls elt_task_cache_refuse when not.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "jsonb_util.h"
#include "run_log.h"
#include "task_cache.h"
#include "templates.h"

/* Entries are named in log lines by this many hex digits of their key. */
#define CACHE_KEY_SHOWN	12

/* The hex SHA-256 of len bytes at data. */
static char *
cache_hash(const char *data, size_t len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute a cache key: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return hex;
}

/*
 * The task's key for this attempt: of its kind and inputs (as the kind
 * spells them) and upstream results, or of its kind and cache_key.  Each
 * part is followed by a NUL, which no part holds, so that parts cannot
 * run into each other.
 */
static char *
cache_key(TaskDef *task, const char *inputs, Jsonb *upstream, Jsonb *params)
{
	StringInfoData m;

	initStringInfo(&m);
	appendStringInfoString(&m, "pg_elt task cache 1");
	appendStringInfoChar(&m, '\0');
	appendStringInfoString(&m, task->kind);
	appendStringInfoChar(&m, '\0');
	if (task->cache_key)
	{
		appendStringInfoString(&m, "cache_key");
		appendStringInfoChar(&m, '\0');
		appendStringInfoString(&m, elt_substitute(task->cache_key, params,
												  psprintf("the cache_key of task \"%s\"",
														   task->name)));
	}
	else
	{
		appendStringInfoString(&m, inputs);
		appendStringInfoChar(&m, '\0');
		if (upstream)
			appendStringInfoString(&m, JsonbToCString(NULL, &upstream->root, VARSIZE(upstream)));
	}
	appendStringInfoChar(&m, '\0');
	return cache_hash(m.data, m.len);
}

static const char *
cache_shown(const TaskCache *cache)
{
	return pnstrdup(cache->key, CACHE_KEY_SHOWN);
}

/*
 * Computes the attempt's key and looks its entry up; a task without a
 * cache_expiration has no key, and finds nothing.  Under a refresh the
 * entry found is only named: it will be replaced.
 */
void
elt_task_cache_open(TaskCache *cache, int64 run_id, TaskDef *task, const char *inputs,
					Jsonb *upstream, Jsonb *params)
{
	memset(cache, 0, sizeof(TaskCache));
	if (task->cache_expiration == NULL)
		return;
	cache->key = cache_key(task, inputs, upstream, params);
	cache->found = elt_catalog_cache_find(run_id, cache->key, &cache->entry, &cache->refresh);
	if (cache->found && cache->refresh)
		elt_run_logf(INFO, "the run refreshes the cache: entry %s (from run %lld) is not used",
					 cache_shown(cache), (long long) cache->entry.run_id);
}

/* Is there an entry the attempt may take (if it still stands)? */
bool
elt_task_cache_usable(const TaskCache *cache)
{
	return cache->found && !cache->refresh;
}

/* The attempt ends cached, with the entry's result; why adds to the log line. */
void
elt_task_cache_take(TaskCache *cache, AttemptOutcome *out, const char *why)
{
	Assert(elt_task_cache_usable(cache));
	out->state = ELT_CACHED;
	out->result = cache->entry.result;
	out->rows = out->bytes = 0;	/* this run loaded nothing */
	elt_run_logf(INFO, "cached%s: the result of run %lld (entry %s, expires at %s)",
				 why ? why : "", (long long) cache->entry.run_id, cache_shown(cache),
				 timestamptz_to_str(cache->entry.expires_at));
}

/* The entry no longer stands: the task runs, and replaces it. */
void
elt_task_cache_refuse(TaskCache *cache, const char *why)
{
	elt_run_logf(INFO, "cache entry %s (from run %lld) not used: %s", cache_shown(cache),
				 (long long) cache->entry.run_id, why);
	cache->found = false;
}

/* A validator (etag, last_modified) of the source in the entry's result, or NULL. */
const char *
elt_task_cache_validator(const TaskCache *cache, const char *name)
{
	JsonbValue *v = cache->entry.result ? elt_jsonb_get(cache->entry.result, name) : NULL;

	return v && v->type == jbvString ? elt_jsonb_value_text(v) : NULL;
}

/*
 * Keeps a completed attempt's result under the attempt's key, in its
 * transaction (the entry commits with the work, or not at all).
 */
void
elt_task_cache_keep(TaskCache *cache, int64 run_id, TaskDef *task, const AttemptOutcome *out,
					Oid target)
{
	if (cache->key == NULL)
		return;
	elt_catalog_cache_store(run_id, task->name, cache->key, task->cache_expiration, out, target);
	elt_run_logf(INFO, "result cached for %s (entry %s)", task->cache_expiration,
				 cache_shown(cache));
}
