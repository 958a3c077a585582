/*-------------------------------------------------------------------------
 *
 * schedule_expr.h
 *	  Schedule expressions: cron and "every N units" (schedule_expr.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_SCHEDULE_EXPR_H
#define PG_ELT_SCHEDULE_EXPR_H

#include "postgres.h"

#include "datatype/timestamp.h"

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
extern int64 elt_schedule_shortest_gap(const EltSchedule *s, const char *tz);

#endif							/* PG_ELT_SCHEDULE_EXPR_H */
