/*-------------------------------------------------------------------------
 *
 * run_channel.h
 *	  The channel between flow_run and the worker of its run (run_channel.c):
 *	  a DSM segment with the run's cancel flag, the flow and params, and a
 *	  message queue from the worker to the caller.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_RUN_CHANNEL_H
#define PG_ELT_RUN_CHANNEL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/shm_mq.h"

#include "catalog.h"
#include "worker_pool.h"

/* The fixed part both sides read and write. */
typedef struct RunChannelShared
{
	pid_t		worker_pid;		/* cleared by the worker as its job ends */
	PoolJob		worker;			/* the caller's hold on the worker (no handle) */
	RunLink		link;			/* parent_task points into the segment */
	pg_atomic_uint32 cancel_requested;
	pg_atomic_uint32 finished;	/* the worker has sent its result */
} RunChannelShared;

typedef struct RunChannel
{
	dsm_segment *seg;
	RunChannelShared *shared;
	shm_mq_handle *queue;
	const char *flow;			/* worker side: what the caller asked to run */
	const char *params;
	RunLink		link;			/* worker side: what the run is linked to */
} RunChannel;

/* Messages on the queue. */
typedef enum RunMessageType
{
	RUN_MSG_STARTED = 'S',		/* run_id */
	RUN_MSG_LOG = 'L',			/* elevel, sqlerrcode, task, message, detail, hint */
	RUN_MSG_RESULT = 'R'		/* run_id, state, message, rows, duration */
} RunMessageType;

typedef struct RunMessage
{
	RunMessageType type;
	int64		run_id;
	int			elevel;
	int			sqlerrcode;
	char	   *task;
	char	   *message;
	char	   *detail;
	char	   *hint;
	char	   *state;
	int64		rows;
	int64		duration_us;
} RunMessage;

/* the caller's side */
extern RunChannel *elt_run_channel_create(const char *flow, const char *params,
										  const RunLink *link);
extern void elt_run_channel_cancel(RunChannelShared *shared, const PoolJob *worker);
extern shm_mq_result elt_run_channel_receive(RunChannel *channel, RunMessage *msg);

/* the worker's side */
extern RunChannel *elt_run_channel_attach(dsm_handle handle, bool sender);
extern StringInfo elt_run_message_encode(const RunMessage *msg);

#endif							/* PG_ELT_RUN_CHANNEL_H */
