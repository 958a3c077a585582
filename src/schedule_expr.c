/*-------------------------------------------------------------------------
 *
 * schedule_expr.c
 *	  Flow schedules: parsing and the next time a schedule fires.
 *
 *	  Two kinds are understood.  Standard 5-field cron (minute hour
 *	  day-of-month month day-of-week) with lists, ranges, steps, month and
 *	  weekday names and the @hourly, @daily (@midnight), @weekly, @monthly
 *	  and @yearly (@annually) shorthands; as in Vixie cron, when both day
 *	  fields are restricted a day matching either one fires.  Cron times are
 *	  wall-clock times in the schedule's time zone.  And intervals, "every
 *	  30 seconds" or "every 5 minutes" (seconds, minutes, hours, days),
 *	  which fire at multiples of the interval since 2000-01-01 00:00 UTC,
 *	  so that "every 5 minutes" fires at :00, :05, ...
 *
 *	  Errors say at which character of the schedule the problem is.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "schedule_expr.h"

PG_FUNCTION_INFO_V1(elt_schedule_next_sql);
PG_FUNCTION_INFO_V1(elt_check_schedule);

/* How far ahead a cron schedule is searched: 8 years covers leap days. */
#define SCHEDULE_SEARCH_DAYS	(366 * 8)
#define SCHEDULE_MAX_INTERVAL_US	(366 * USECS_PER_DAY)

typedef struct CronField
{
	const char *name;
	int			min;
	int			max;
	const char *const *names;	/* 3-letter names for min.., or NULL */
} CronField;

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const CronField cron_fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day of month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day of week", 0, 7, day_names},
};

static const struct
{
	const char *name;
	const char *cron;
}			cron_shorthands[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

pg_attribute_noreturn()
static void
schedule_error(const char *text, int pos, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid schedule \"%s\"", text),
			 errdetail("At character %d: %s.", pos + 1, problem),
			 errhint("Use 5-field cron (\"*/15 8-18 * * mon-fri\"), @hourly, @daily, @weekly, @monthly, @yearly, or \"every 30 seconds\".")));
}

/* Reads a number or a 3-letter name at text[*pos] for field f. */
static int
schedule_value(const char *text, int *pos, const CronField *f, const char *orig, int base)
{
	const char *p = text + *pos;
	int			value;

	if (isdigit((unsigned char) *p))
	{
		value = 0;
		while (isdigit((unsigned char) *p) && value < 1000)
			value = value * 10 + (*p++ - '0');
	}
	else if (f->names && isalpha((unsigned char) *p))
	{
		value = -1;
		for (int i = 0; f->names[i]; i++)
			if (pg_strncasecmp(p, f->names[i], 3) == 0 && !isalpha((unsigned char) p[3]))
				value = f->min + i;
		if (value < 0)
			schedule_error(orig, base + *pos, psprintf("unknown %s name", f->name));
		p += 3;
	}
	else
		schedule_error(orig, base + *pos, psprintf("expected a %s", f->name));
	if (value < f->min || value > f->max)
		schedule_error(orig, base + *pos, psprintf("%s %d is out of range %d-%d",
												   f->name, value, f->min, f->max));
	*pos = p - text;
	return value;
}

/*
 * Parses one cron field (text[0..len) of the schedule orig, starting at
 * character base) into a bit mask.
 */
static uint64
schedule_field(const char *text, int len, const CronField *f, const char *orig, int base)
{
	uint64		bits = 0;
	int			pos = 0;
	char	   *field = pnstrdup(text, len);

	for (;;)
	{
		int			lo,
					hi,
					step = 1;

		if (field[pos] == '*')
		{
			lo = f->min;
			hi = f->max;
			pos++;
		}
		else
		{
			lo = hi = schedule_value(field, &pos, f, orig, base);
			if (field[pos] == '-')
			{
				pos++;
				hi = schedule_value(field, &pos, f, orig, base);
				if (hi < lo)
					schedule_error(orig, base + pos - 1, "a range must go upwards");
			}
			else if (field[pos] == '/')
				hi = f->max;	/* "5/15": from 5 to the end, every 15 */
		}
		if (field[pos] == '/')
		{
			pos++;
			if (!isdigit((unsigned char) field[pos]))
				schedule_error(orig, base + pos, "expected a step");
			step = 0;
			while (isdigit((unsigned char) field[pos]) && step < 1000)
				step = step * 10 + (field[pos++] - '0');
			if (step == 0)
				schedule_error(orig, base + pos - 1, "a step must be positive");
		}
		for (int v = lo; v <= hi; v += step)
			bits |= UINT64CONST(1) << v;
		if (field[pos] == ',')
		{
			pos++;
			continue;
		}
		if (field[pos] != '\0')
			schedule_error(orig, base + pos, psprintf("unexpected \"%c\" in the %s field",
													  field[pos], f->name));
		return bits;
	}
}

static void
schedule_parse_interval(const char *text, EltSchedule *s)
{
	const char *p = text + 5;	/* after "every" */
	int64		n = 0;
	const char *unit;
	int64		unit_us;

	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char) *p))
		schedule_error(text, p - text, "expected a number after \"every\"");
	while (isdigit((unsigned char) *p) && n < INT64CONST(1000000000))
		n = n * 10 + (*p++ - '0');
	if (n == 0)
		schedule_error(text, p - text - 1, "the interval must be positive");
	while (*p == ' ')
		p++;
	unit = p;
	if (pg_strncasecmp(p, "second", 6) == 0)
		unit_us = USECS_PER_SEC, p += 6;
	else if (pg_strncasecmp(p, "minute", 6) == 0)
		unit_us = USECS_PER_MINUTE, p += 6;
	else if (pg_strncasecmp(p, "hour", 4) == 0)
		unit_us = USECS_PER_HOUR, p += 4;
	else if (pg_strncasecmp(p, "day", 3) == 0)
		unit_us = USECS_PER_DAY, p += 3;
	else
		schedule_error(text, unit - text, "expected seconds, minutes, hours or days");
	if (*p == 's' || *p == 'S')
		p++;
	while (*p == ' ')
		p++;
	if (*p != '\0')
		schedule_error(text, p - text, "unexpected text after the interval");
	if (n > SCHEDULE_MAX_INTERVAL_US / unit_us)
		schedule_error(text, unit - text - 1, "the interval must be at most 366 days");
	s->is_interval = true;
	s->interval_us = n * unit_us;
}

/* Parses schedule text; errors name the character at fault. */
void
elt_schedule_parse(const char *text, EltSchedule *s)
{
	const char *cron = text;
	int			offset = 0;
	int			start[5];
	int			len[5];
	int			n = 0;
	const char *p;

	memset(s, 0, sizeof(EltSchedule));
	while (*cron == ' ')
		cron++, offset++;
	if (pg_strncasecmp(cron, "every", 5) == 0 && (cron[5] == ' ' || isdigit((unsigned char) cron[5])))
	{
		schedule_parse_interval(text + offset, s);
		return;
	}
	if (*cron == '@')
	{
		size_t		wlen = strcspn(cron, " ");

		for (int i = 0; i < lengthof(cron_shorthands); i++)
			if (strlen(cron_shorthands[i].name) == wlen &&
				pg_strncasecmp(cron, cron_shorthands[i].name, wlen) == 0 &&
				cron[wlen + strspn(cron + wlen, " ")] == '\0')
			{
				elt_schedule_parse(cron_shorthands[i].cron, s);
				return;
			}
		schedule_error(text, offset, "unknown shorthand (use @hourly, @daily, @weekly, @monthly or @yearly)");
	}

	for (p = cron; *p;)
	{
		if (*p == ' ' || *p == '\t')
		{
			p++;
			continue;
		}
		if (n == 5)
			schedule_error(text, offset + (p - cron), "a cron schedule has 5 fields");
		start[n] = p - cron;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		len[n] = (p - cron) - start[n];
		n++;
	}
	if (n < 5)
		schedule_error(text, offset + (p - cron),
					   psprintf("a cron schedule has 5 fields, this one has %d", n));

	s->minutes = schedule_field(cron + start[0], len[0], &cron_fields[0], text, offset + start[0]);
	s->hours = (uint32) schedule_field(cron + start[1], len[1], &cron_fields[1], text, offset + start[1]);
	s->days = (uint32) schedule_field(cron + start[2], len[2], &cron_fields[2], text, offset + start[2]);
	s->months = (uint16) schedule_field(cron + start[3], len[3], &cron_fields[3], text, offset + start[3]);
	s->weekdays = (uint8) schedule_field(cron + start[4], len[4], &cron_fields[4], text, offset + start[4]);
	if (s->weekdays & (1 << 7))
		s->weekdays = (s->weekdays | 1) & 0x7f;	/* 7 is Sunday too */
	s->days_restricted = !(cron[start[2]] == '*');
	s->weekdays_restricted = !(cron[start[4]] == '*');
}

static Timestamp
schedule_to_local(TimestampTz t, const char *tz)
{
	return DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone, CStringGetTextDatum(tz),
												 TimestampTzGetDatum(t)));
}

static TimestampTz
schedule_from_local(Timestamp t, const char *tz)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, CStringGetTextDatum(tz),
												   TimestampGetDatum(t)));
}

/* How far the zone's wall clock is ahead of UTC at t. */
static int64
schedule_utc_offset(TimestampTz t, const char *tz)
{
	return schedule_to_local(t, tz) - t;
}

/*
 * The first time after "after" at which the schedule fires, or
 * DT_NOEND when it never does (as "0 0 30 2 *").
 */
static TimestampTz
schedule_next(const EltSchedule *s, TimestampTz after, const char *tz)
{
	Timestamp	local;
	struct pg_tm tm;
	fsec_t		fsec;
	int			first_julian;

	if (s->is_interval)
	{
		int64		k = after / s->interval_us;

		if (after < 0 && after % s->interval_us != 0)
			k--;
		return (k + 1) * s->interval_us;
	}

	/* the next whole minute, in local wall-clock time */
	local = schedule_to_local(after, tz);
	local = local - (local % USECS_PER_MINUTE + USECS_PER_MINUTE) % USECS_PER_MINUTE + USECS_PER_MINUTE;
	if (timestamp2tm(local, NULL, &tm, &fsec, NULL, NULL) != 0)
		return DT_NOEND;
	first_julian = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);

	for (int day = 0; day < SCHEDULE_SEARCH_DAYS; day++)
	{
		int			year,
					month,
					mday;
		int			weekday = j2day(first_julian + day);
		bool		day_ok;
		bool		weekday_ok;

		j2date(first_julian + day, &year, &month, &mday);
		if (!(s->months & (1 << month)))
			continue;
		day_ok = (s->days & (((uint32) 1) << mday)) != 0;
		weekday_ok = (s->weekdays & (1 << weekday)) != 0;
		if (s->days_restricted && s->weekdays_restricted ? !(day_ok || weekday_ok) :
			!(day_ok && weekday_ok))
			continue;

		for (int hour = (day == 0 ? tm.tm_hour : 0); hour < 24; hour++)
		{
			if (!(s->hours & (((uint32) 1) << hour)))
				continue;
			for (int minute = (day == 0 && hour == tm.tm_hour ? tm.tm_min : 0); minute < 60; minute++)
			{
				struct pg_tm when;
				Timestamp	wall;
				TimestampTz result;
				int64		back;

				if (!(s->minutes & (UINT64CONST(1) << minute)))
					continue;
				memset(&when, 0, sizeof(when));
				when.tm_year = year;
				when.tm_mon = month;
				when.tm_mday = mday;
				when.tm_hour = hour;
				when.tm_min = minute;
				if (tm2timestamp(&when, 0, NULL, &wall) != 0)
					return DT_NOEND;
				result = schedule_from_local(wall, tz);

				/*
				 * When clocks go back, a wall time happens twice; the zone
				 * conversion gives the later instant.  The earlier one is as
				 * far before it as the clocks went back (an hour in most
				 * zones, half an hour on Lord Howe Island).
				 */
				back = schedule_utc_offset(result - USECS_PER_DAY, tz) -
					schedule_utc_offset(result, tz);
				if (back > 0 && result - back > after &&
					schedule_to_local(result - back, tz) == wall)
					return result - back;
				if (result > after)
					return result;
			}
		}
	}
	return DT_NOEND;
}

/* elt.schedule_next(schedule text, after timestamptz, timezone text) */
Datum
elt_schedule_next_sql(PG_FUNCTION_ARGS)
{
	EltSchedule s;
	TimestampTz next;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	elt_schedule_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &s);
	next = schedule_next(&s, PG_GETARG_TIMESTAMPTZ(1), text_to_cstring(PG_GETARG_TEXT_PP(2)));
	if (TIMESTAMP_IS_NOEND(next))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(next);
}

/*
 * The shortest time between two firings of a schedule: its interval, or
 * for cron the smallest gap among its next firings (a cron schedule's
 * pattern repeats within a few hundred of them).
 */
int64
elt_schedule_shortest_gap(const EltSchedule *s, const char *tz)
{
	TimestampTz prev = schedule_next(s, GetCurrentTimestamp(), tz);
	int64		gap = PG_INT64_MAX;

	if (s->is_interval)
		return s->interval_us;
	for (int i = 0; i < 500 && !TIMESTAMP_IS_NOEND(prev); i++)
	{
		TimestampTz next = schedule_next(s, prev, tz);

		if (!TIMESTAMP_IS_NOEND(next))
			gap = Min(gap, next - prev);
		prev = next;
	}
	return gap;
}

/* elt._check_schedule(schedule text, timezone text): for the flows trigger */
Datum
elt_check_schedule(PG_FUNCTION_ARGS)
{
	EltSchedule s;
	char	   *schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *tz = text_to_cstring(PG_GETARG_TEXT_PP(1));

	elt_schedule_parse(schedule, &s);
	if (TIMESTAMP_IS_NOEND(schedule_next(&s, GetCurrentTimestamp(), tz)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"%s\" never fires", schedule),
				 errhint("Check the day of month against the month, e.g. February has no 30th.")));
	PG_RETURN_VOID();
}
