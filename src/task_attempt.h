/*-------------------------------------------------------------------------
 *
 * task_attempt.h
 *	  One attempt of one task, and its record (task_attempt.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_TASK_ATTEMPT_H
#define PG_ELT_TASK_ATTEMPT_H

#include "postgres.h"

#include "catalog.h"
#include "run_worker.h"
#include "states.h"

extern EltState elt_task_attempt(RunWorker *w, FlowDef *flow, TaskDef *task, Jsonb *params,
								 int attempt, MemoryContext cxt, uint64 *rows, char **failure);
extern void elt_task_attempt_settle(RunWorker *w, TaskDef *task, EltState state,
									const char *message, Jsonb *result);

#endif							/* PG_ELT_TASK_ATTEMPT_H */
