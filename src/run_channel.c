/*-------------------------------------------------------------------------
 *
 * run_channel.c
 *	  The channel between flow_run (the caller) and the worker executing
 *	  its run, both ends of it: one DSM segment holding the cancel flag,
 *	  the flow name and params, and a message queue on which the worker
 *	  sends the run's id, its log lines as they happen and its result.
 *
 *	  Results travel over a shm_mq, as in pg_background, not through
 *	  tables: the caller may be in a REPEATABLE READ transaction whose
 *	  snapshot would never show the run's rows.  Helper workers attach to
 *	  the segment too, without the queue, for the cancel flag alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "storage/shm_toc.h"

#include "run_channel.h"

#define RUN_CHANNEL_MAGIC	0x454c5430
#define KEY_SHARED			1
#define KEY_FLOW			2
#define KEY_PARAMS			3
#define KEY_QUEUE			4
#define KEY_PARENT_TASK		5
#define QUEUE_SIZE			(64 * 1024)

static char *
channel_put(shm_toc *toc, uint64 key, const char *s)
{
	char	   *p = shm_toc_allocate(toc, strlen(s) + 1);

	strcpy(p, s);
	shm_toc_insert(toc, key, p);
	return p;
}

/* Creates the segment and attaches to its queue as the receiver. */
RunChannel *
elt_run_channel_create(const char *flow, const char *params, const RunLink *link)
{
	RunChannel *channel = palloc0(sizeof(RunChannel));
	shm_toc_estimator e;
	Size		size;
	shm_toc    *toc;
	shm_mq	   *mq;

	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(RunChannelShared));
	shm_toc_estimate_chunk(&e, strlen(flow) + 1);
	shm_toc_estimate_chunk(&e, strlen(params) + 1);
	shm_toc_estimate_chunk(&e, QUEUE_SIZE);
	shm_toc_estimate_chunk(&e, strlen(link->parent_task ? link->parent_task : "") + 1);
	shm_toc_estimate_keys(&e, 5);
	size = shm_toc_estimate(&e);

	channel->seg = dsm_create(size, 0);
	toc = shm_toc_create(RUN_CHANNEL_MAGIC, dsm_segment_address(channel->seg), size);
	channel->shared = shm_toc_allocate(toc, sizeof(RunChannelShared));
	channel->shared->worker_pid = 0;
	channel->shared->worker.slot = -1;
	channel->shared->link = *link;
	pg_atomic_init_u32(&channel->shared->cancel_requested, 0);
	pg_atomic_init_u32(&channel->shared->finished, 0);
	shm_toc_insert(toc, KEY_SHARED, channel->shared);
	channel->flow = channel_put(toc, KEY_FLOW, flow);
	channel->params = channel_put(toc, KEY_PARAMS, params);
	(void) channel_put(toc, KEY_PARENT_TASK, link->parent_task ? link->parent_task : "");
	mq = shm_mq_create(shm_toc_allocate(toc, QUEUE_SIZE), QUEUE_SIZE);
	shm_toc_insert(toc, KEY_QUEUE, mq);
	shm_mq_set_receiver(mq, MyProc);
	channel->queue = shm_mq_attach(mq, channel->seg, NULL);
	return channel;
}

/*
 * Asks the worker to stop: the flag makes it record "cancelled", the
 * signal (sent only while it still does this job) interrupts what it does.
 * A worker known by neither slot nor handle is signalled by its pid,
 * which it clears as its job ends.
 */
void
elt_run_channel_cancel(RunChannelShared *shared, const PoolJob *worker)
{
	pid_t		pid = shared->worker_pid;

	pg_atomic_write_u32(&shared->cancel_requested, 1);
	if (worker->slot >= 0 || worker->handle != NULL)
		(void) elt_pool_signal(worker, SIGINT);
	else if (pid != 0)
		(void) kill(pid, SIGINT);
}

/*
 * Attaches a worker to the caller's segment (NULL when the caller is
 * gone); the sender, the run's own worker, also to the queue.
 */
RunChannel *
elt_run_channel_attach(dsm_handle handle, bool sender)
{
	RunChannel *channel;
	dsm_segment *seg = dsm_attach(handle);
	shm_toc    *toc;

	if (seg == NULL)
		return NULL;
	dsm_pin_mapping(seg);
	toc = shm_toc_attach(RUN_CHANNEL_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		elog(ERROR, "bad magic number in pg_elt run shared memory");
	channel = palloc0(sizeof(RunChannel));
	channel->seg = seg;
	channel->shared = shm_toc_lookup(toc, KEY_SHARED, false);
	channel->flow = pstrdup(shm_toc_lookup(toc, KEY_FLOW, false));
	channel->params = pstrdup(shm_toc_lookup(toc, KEY_PARAMS, false));
	channel->link = channel->shared->link;
	channel->link.parent_task = pstrdup(shm_toc_lookup(toc, KEY_PARENT_TASK, false));
	if (sender)
	{
		shm_mq	   *mq = shm_toc_lookup(toc, KEY_QUEUE, false);

		channel->shared->worker_pid = MyProcPid;
		shm_mq_set_sender(mq, MyProc);
		channel->queue = shm_mq_attach(mq, seg, NULL);
	}
	return channel;
}

static void
put_string(StringInfo buf, const char *s)
{
	pq_sendbyte(buf, s != NULL);
	if (s)
		pq_sendstring(buf, s);
}

static char *
get_string(StringInfo msg)
{
	return pq_getmsgbyte(msg) ? pstrdup(pq_getmsgstring(msg)) : NULL;
}

StringInfo
elt_run_message_encode(const RunMessage *msg)
{
	StringInfo	buf = makeStringInfo();

	pq_sendbyte(buf, msg->type);
	switch (msg->type)
	{
		case RUN_MSG_STARTED:
			pq_sendint64(buf, msg->run_id);
			break;
		case RUN_MSG_LOG:
			pq_sendint32(buf, msg->elevel);
			pq_sendint32(buf, msg->sqlerrcode);
			put_string(buf, msg->task);
			put_string(buf, msg->message);
			put_string(buf, msg->detail);
			put_string(buf, msg->hint);
			break;
		case RUN_MSG_RESULT:
			pq_sendint64(buf, msg->run_id);
			put_string(buf, msg->state);
			put_string(buf, msg->message);
			pq_sendint64(buf, msg->rows);
			pq_sendint64(buf, msg->duration_us);
			break;
	}
	return buf;
}

/*
 * The next message from the worker, if one is there: SHM_MQ_SUCCESS, else
 * SHM_MQ_WOULD_BLOCK, or SHM_MQ_DETACHED once the worker has let go.
 */
shm_mq_result
elt_run_channel_receive(RunChannel *channel, RunMessage *msg)
{
	Size		nbytes;
	void	   *data;
	StringInfoData buf;
	shm_mq_result res = shm_mq_receive(channel->queue, &nbytes, &data, true);

	if (res != SHM_MQ_SUCCESS)
		return res;
	buf.data = data;
	buf.len = nbytes;
	buf.maxlen = nbytes;
	buf.cursor = 0;
	memset(msg, 0, sizeof(RunMessage));
	msg->type = pq_getmsgbyte(&buf);
	switch (msg->type)
	{
		case RUN_MSG_STARTED:
			msg->run_id = pq_getmsgint64(&buf);
			break;
		case RUN_MSG_LOG:
			msg->elevel = pq_getmsgint(&buf, 4);
			msg->sqlerrcode = pq_getmsgint(&buf, 4);
			msg->task = get_string(&buf);
			msg->message = get_string(&buf);
			msg->detail = get_string(&buf);
			msg->hint = get_string(&buf);
			break;
		case RUN_MSG_RESULT:
			msg->run_id = pq_getmsgint64(&buf);
			msg->state = get_string(&buf);
			msg->message = get_string(&buf);
			msg->rows = pq_getmsgint64(&buf);
			msg->duration_us = pq_getmsgint64(&buf);
			break;
		default:
			elog(ERROR, "unexpected message from pg_elt run worker");
	}
	return SHM_MQ_SUCCESS;
}
