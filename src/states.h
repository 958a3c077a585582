/*-------------------------------------------------------------------------
 *
 * states.h
 *	  The states of runs and task attempts, as C knows them and as SQL
 *	  spells them (states.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_STATES_H
#define PG_ELT_STATES_H

#include "postgres.h"

/*
 * A run is pending, running (paused, as people see it, when flow_pause
 * holds it), or ended completed, failed, cancelled or crashed; a task
 * attempt may also end retrying (another attempt follows) or cached (it
 * took a cached result instead of running, and counts as completed).
 */
typedef enum EltState
{
	ELT_PENDING,
	ELT_RUNNING,
	ELT_RETRYING,
	ELT_COMPLETED,
	ELT_CACHED,
	ELT_FAILED,
	ELT_CANCELLED,
	ELT_CRASHED,
	ELT_PAUSED					/* shown, not stored: a paused run is running */
} EltState;

#define ELT_STATE_COUNT (ELT_PAUSED + 1)

extern const char *elt_state_name(EltState state);
extern EltState elt_state_from_name(const char *name);
extern bool elt_state_is_final(EltState state);
extern bool elt_state_succeeded(EltState state);

#endif							/* PG_ELT_STATES_H */
