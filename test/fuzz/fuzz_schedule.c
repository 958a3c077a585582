/*
 * fuzz_schedule.c: the schedule parser (cron fields, shorthands,
 * intervals) on arbitrary text.  Checked: no memory error, and a schedule
 * it accepts sets only bits its fields can have.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_TRY({
		EltSchedule s;

		elt_schedule_parse(fuzz_cstring(data, size), &s);
		if (s.is_interval)
		{
			if (s.interval_us <= 0 || s.interval_us > INT64CONST(366) * 86400 * 1000000)
				abort();
		}
		else if ((s.minutes >> 60) != 0 || (s.hours >> 24) != 0 || (s.days & 1) != 0 ||
				 (s.months & ~0x1ffe) != 0 || (s.weekdays & 0x80) != 0)
			abort();
	});
	fuzz_reset();
	return 0;
}
