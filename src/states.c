/*-------------------------------------------------------------------------
 *
 * states.c
 *	  The one table of state names.  The CHECK constraints of
 *	  elt.flow_runs and elt.task_runs spell the same names; elt._states()
 *	  returns this table, and the regression suite checks that the two
 *	  agree.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "states.h"

PG_FUNCTION_INFO_V1(elt_states);

static const char *const state_names[ELT_STATE_COUNT] = {
	[ELT_PENDING] = "pending",
	[ELT_RUNNING] = "running",
	[ELT_RETRYING] = "retrying",
	[ELT_COMPLETED] = "completed",
	[ELT_CACHED] = "cached",
	[ELT_FAILED] = "failed",
	[ELT_CANCELLED] = "cancelled",
	[ELT_CRASHED] = "crashed",
	[ELT_PAUSED] = "paused",
};

const char *
elt_state_name(EltState state)
{
	Assert(state >= 0 && state < ELT_STATE_COUNT);
	return state_names[state];
}

/* The state a catalog row spells; an unknown name is a corrupt catalog. */
EltState
elt_state_from_name(const char *name)
{
	for (int i = 0; i < ELT_STATE_COUNT; i++)
		if (strcmp(state_names[i], name) == 0)
			return (EltState) i;
	elog(ERROR, "unknown pg_elt state \"%s\"", name);
	return ELT_FAILED;			/* keep the compiler quiet */
}

bool
elt_state_is_final(EltState state)
{
	return elt_state_succeeded(state) || state == ELT_FAILED ||
		state == ELT_CANCELLED || state == ELT_CRASHED;
}

/* Completed, by running or from the cache: what dependents wait for. */
bool
elt_state_succeeded(EltState state)
{
	return state == ELT_COMPLETED || state == ELT_CACHED;
}

/* elt._states() RETURNS text[]: the names, in the order of the enum. */
Datum
elt_states(PG_FUNCTION_ARGS)
{
	Datum		names[ELT_STATE_COUNT];

	for (int i = 0; i < ELT_STATE_COUNT; i++)
		names[i] = CStringGetTextDatum(state_names[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(names, ELT_STATE_COUNT, TEXTOID, -1, false,
										  TYPALIGN_INT));
}
