/*
 * never_called.c: backend functions that the fuzzed files reference only
 * from code the fuzz targets never reach (SQL-callable wrappers, time
 * zone arithmetic).  Defined here, without PostgreSQL's headers so that
 * their real signatures do not matter, to abort if ever reached.
 */
#include <stdlib.h>

#define NEVER_CALLED(name) void name(void); void name(void) { abort(); }
NEVER_CALLED(text_to_cstring)
NEVER_CALLED(cstring_to_text)
NEVER_CALLED(pg_detoast_datum)
NEVER_CALLED(pg_detoast_datum_packed)
NEVER_CALLED(JsonbIteratorInit)
NEVER_CALLED(JsonbIteratorNext)
NEVER_CALLED(pushJsonbValue)
NEVER_CALLED(JsonbValueToJsonb)
NEVER_CALLED(elt_check_jsonb_object)
NEVER_CALLED(GetCurrentTimestamp)
NEVER_CALLED(DirectFunctionCall2Coll)
NEVER_CALLED(timestamptz_zone)
NEVER_CALLED(timestamp_zone)
NEVER_CALLED(timestamp2tm)
NEVER_CALLED(tm2timestamp)
NEVER_CALLED(date2j)
NEVER_CALLED(j2date)
NEVER_CALLED(j2day)
NEVER_CALLED(superuser_arg)
