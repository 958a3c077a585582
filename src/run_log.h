/*-------------------------------------------------------------------------
 *
 * run_log.h
 *	  A run's log: lines for elt.logs, relayed live to flow_run's caller
 *	  (run_log.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_RUN_LOG_H
#define PG_ELT_RUN_LOG_H

#include "postgres.h"

#include "storage/shm_mq.h"

#include "run_channel.h"
#include "states.h"

extern void elt_run_log_start(shm_mq_handle *relay);
extern void elt_run_log_stop(void);
extern void elt_run_log_set_run(int64 run_id);
extern void elt_run_log_set_task(const char *task, int attempt);
extern bool elt_run_log_current(int64 *run_id, const char **task);
extern void elt_run_log(int elevel, int sqlerrcode, const char *message, const char *detail,
						const char *hint);
extern void elt_run_logf(int elevel, const char *fmt,...) pg_attribute_printf(2, 3);
extern void elt_run_log_relay_only(int elevel, const char *task, const char *message);
extern void elt_run_log_send(const RunMessage *msg);
extern void elt_run_log_flush(void);
extern void elt_run_log_to_server(const char *flow, int64 run_id, EltState state,
								  const char *message);

#endif							/* PG_ELT_RUN_LOG_H */
