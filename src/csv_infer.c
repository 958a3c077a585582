/*-------------------------------------------------------------------------
 *
 * csv_infer.c
 *	  Reads the head of a CSV file to learn its columns: the header's names
 *	  and, from a sample of rows, the narrowest type each column fits.
 *
 *	  Only the sample is parsed here; COPY parses the whole file.  The
 *	  splitter honours the same dialect (delimiter, quote, escape, quoted
 *	  newlines, CRLF) so both see the same rows.  Types are decided by the
 *	  text's shape, in this order: boolean (true/false), bigint, double
 *	  precision (numeric when a value has more than 15 significant digits),
 *	  date, timestamp, timestamptz (when any value has a zone), else text.
 *	  Integers with leading zeros (zip codes, ids) stay text.  Empty and
 *	  NULL values say nothing about a column's type.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "csv_infer.h"

#define TYPE_BOOL		0x01
#define TYPE_INT		0x02
#define TYPE_FLOAT		0x04
#define TYPE_DATE		0x08
#define TYPE_TIMESTAMP	0x10
#define TYPE_ALL		0x1f

typedef struct ColumnGuess
{
	int			possible;		/* TYPE_* bits still consistent */
	int			nonnull;
	bool		has_zone;
	bool		wide_number;	/* needs numeric rather than float8 */
} ColumnGuess;

typedef struct CsvField
{
	char	   *value;
	bool		quoted;
} CsvField;

/*
 * Splits one record starting at *pos.  Returns the number of fields, or -1
 * when the record is incomplete (the buffer ends inside it and more data may
 * follow).  Fields are appended to *fields (grown as needed).
 */
static int
csv_next_record(const char *data, size_t len, size_t *pos, bool at_eof,
				const CsvDialect *d, CsvField **fields, int *capacity)
{
	size_t		p = *pos;
	int			n = 0;
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		bool		quoted = false;
		bool		in_quotes = false;

		resetStringInfo(&buf);
		while (p < len)
		{
			char		c = data[p];

			if (in_quotes)
			{
				if (c == d->escape && d->escape != d->quote && p + 1 < len &&
					(data[p + 1] == d->quote || data[p + 1] == d->escape))
				{
					appendStringInfoChar(&buf, data[p + 1]);
					p += 2;
					continue;
				}
				if (c == d->quote)
				{
					if (d->escape == d->quote && p + 1 < len && data[p + 1] == d->quote)
					{
						appendStringInfoChar(&buf, c);
						p += 2;
						continue;
					}
					if (d->escape == d->quote && p + 1 >= len && !at_eof)
						return -1;	/* cannot tell a doubled quote yet */
					in_quotes = false;
					p++;
					continue;
				}
				appendStringInfoChar(&buf, c);
				p++;
				continue;
			}
			if (c == d->quote)
			{
				in_quotes = quoted = true;
				p++;
				continue;
			}
			if (c == d->delimiter || c == '\n' || c == '\r')
				break;
			appendStringInfoChar(&buf, c);
			p++;
		}
		if (p >= len && (!at_eof || in_quotes))
			return -1;

		if (n >= *capacity)
		{
			*capacity *= 2;
			*fields = repalloc(*fields, sizeof(CsvField) * *capacity);
		}
		(*fields)[n].value = pstrdup(buf.data);
		(*fields)[n].quoted = quoted;
		n++;

		if (p >= len)
			break;
		if (data[p] == d->delimiter)
		{
			p++;
			continue;
		}
		/* end of line: \n, \r or \r\n */
		if (data[p] == '\r' && p + 1 < len && data[p + 1] == '\n')
			p++;
		else if (data[p] == '\r' && p + 1 >= len && !at_eof)
			return -1;
		p++;
		break;
	}
	*pos = p;
	return n;
}

static bool
csv_digits(const char **s)
{
	const char *start = *s;

	while (**s >= '0' && **s <= '9')
		(*s)++;
	return *s > start;
}

static bool
csv_fixed_digits(const char **s, int n)
{
	for (int i = 0; i < n; i++)
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return false;
	*s += n;
	return true;
}

static bool
csv_looks_integer(const char *s)
{
	const char *start;

	if (*s == '-' || *s == '+')
		s++;
	start = s;
	if (!csv_digits(&s) || *s != '\0')
		return false;
	if (start[0] == '0' && start[1] != '\0')
		return false;			/* leading zero: an identifier, not a number */
	return (s - start) <= 18;
}

/* Shape of a decimal or exponent number; sets *wide past 15 digits. */
static bool
csv_looks_float(const char *s, bool *wide)
{
	int			digits = 0;
	const char *p = s;

	if (*p == '-' || *p == '+')
		p++;
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return false;			/* leading zero: an identifier, not a number */
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.')
	{
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (digits == 0)
		return false;
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!csv_digits(&p))
			return false;
	}
	if (*p != '\0')
		return false;
	if (digits > 15)
		*wide = true;
	return true;
}

static bool
csv_looks_date(const char **s)
{
	const char *p = *s;

	if (!csv_fixed_digits(&p, 4) || *p++ != '-' || !csv_fixed_digits(&p, 2) ||
		*p++ != '-' || !csv_fixed_digits(&p, 2))
		return false;
	if (atoi(*s + 5) < 1 || atoi(*s + 5) > 12 || atoi(*s + 8) < 1 || atoi(*s + 8) > 31)
		return false;
	*s = p;
	return true;
}

/* date [T ]hh:mm[:ss[.fff]] [Z|+hh[:mm]] */
static bool
csv_looks_timestamp(const char *s, bool *has_zone)
{
	const char *p = s;

	if (!csv_looks_date(&p))
		return false;
	if (*p == '\0')
		return true;
	if (*p != ' ' && *p != 'T')
		return false;
	p++;
	if (!csv_fixed_digits(&p, 2) || *p++ != ':' || !csv_fixed_digits(&p, 2))
		return false;
	if (*p == ':')
	{
		p++;
		if (!csv_fixed_digits(&p, 2))
			return false;
		if (*p == '.')
		{
			p++;
			if (!csv_digits(&p))
				return false;
		}
	}
	if (*p == ' ')
		p++;
	if (*p == 'Z' && p[1] == '\0')
	{
		*has_zone = true;
		return true;
	}
	if (*p == '+' || *p == '-')
	{
		p++;
		if (!csv_fixed_digits(&p, 2))
			return false;
		if (*p == ':')
			p++;
		if (*p != '\0' && !csv_fixed_digits(&p, 2))
			return false;
		*has_zone = true;
	}
	return *p == '\0';
}

static void
csv_observe(ColumnGuess *g, const char *v)
{
	int			fits = 0;
	const char *p = v;

	if (pg_strcasecmp(v, "true") == 0 || pg_strcasecmp(v, "false") == 0)
		fits |= TYPE_BOOL;
	if (csv_looks_integer(v))
		fits |= TYPE_INT | TYPE_FLOAT;
	else if (csv_looks_float(v, &g->wide_number))
		fits |= TYPE_FLOAT;
	if (csv_looks_date(&p) && *p == '\0')
		fits |= TYPE_DATE | TYPE_TIMESTAMP;
	else if (csv_looks_timestamp(v, &g->has_zone))
		fits |= TYPE_TIMESTAMP;
	g->possible &= fits;
	g->nonnull++;
}

static const char *
csv_decide(const ColumnGuess *g)
{
	if (g->nonnull == 0)
		return "text";
	if (g->possible & TYPE_BOOL)
		return "boolean";
	if (g->possible & TYPE_INT)
		return "bigint";
	if (g->possible & TYPE_FLOAT)
		return g->wide_number ? "numeric" : "double precision";
	if (g->possible & TYPE_DATE)
		return "date";
	if (g->possible & TYPE_TIMESTAMP)
		return g->has_zone ? "timestamp with time zone" : "timestamp without time zone";
	return "text";
}

/*
 * Examines the head of a CSV file held in data[0..len).  Returns false
 * when it needs more data (the sample is not complete and neither at_eof
 * nor full is set).  With full, the buffer is as much as will be read: a
 * record cut at its end is left out.  Blank lines are skipped, as they
 * carry no row for inference.
 */
bool
elt_csv_sample(const char *data, size_t len, bool at_eof, bool full, const CsvDialect *dialect,
			   bool header, int max_rows, CsvSample *sample)
{
	size_t		pos = 0;
	int			capacity = 64;
	CsvField   *fields = palloc(sizeof(CsvField) * capacity);
	ColumnGuess *guess = NULL;
	bool		complete = at_eof || full;

	memset(sample, 0, sizeof(CsvSample));
	while (pos < len)
	{
		int			n = csv_next_record(data, len, &pos, at_eof, dialect, &fields, &capacity);

		if (n < 0)
			break;
		if (n == 1 && fields[0].value[0] == '\0' && !fields[0].quoted && guess != NULL)
			continue;			/* blank line (COPY takes line 1 as the header whatever it is) */

		if (guess == NULL)
		{
			sample->ncolumns = n;
			guess = palloc0(sizeof(ColumnGuess) * n);
			for (int i = 0; i < n; i++)
				guess[i].possible = TYPE_ALL;
			if (header)
			{
				sample->names = palloc(sizeof(char *) * n);
				for (int i = 0; i < n; i++)
					sample->names[i] = fields[i].value;
				if (max_rows <= 0)
				{
					complete = true;	/* the header alone was asked for */
					break;
				}
				continue;
			}
		}

		for (int i = 0; i < Min(n, sample->ncolumns); i++)
		{
			const char *v = fields[i].value;

			if (!fields[i].quoted &&
				strcmp(v, dialect->null_string ? dialect->null_string : "") == 0)
				continue;		/* NULL */
			csv_observe(&guess[i], v);
		}
		if (++sample->nrows >= max_rows)
		{
			complete = true;
			break;
		}
	}

	if (!complete)
		return false;
	sample->types = palloc(sizeof(char *) * Max(sample->ncolumns, 1));
	for (int i = 0; i < sample->ncolumns; i++)
		sample->types[i] = pstrdup(csv_decide(&guess[i]));
	return true;
}

/*
 * The column name pg_elt creates for a header field: lower case, runs of
 * characters other than letters, digits and underscore become one
 * underscore, none at either end; a leading digit gets an underscore in
 * front; cut to the identifier length.  "VendorID" becomes vendorid,
 * "Trip Distance (mi)" becomes trip_distance_mi.  Returns "" when nothing
 * is left; the caller names such columns column_N.
 */
char *
elt_normalize_column_name(const char *raw)
{
	StringInfoData out;
	bool		pending_underscore = false;

	initStringInfo(&out);
	for (const unsigned char *c = (const unsigned char *) raw; *c; c++)
	{
		unsigned char ch = *c;

		if (ch >= 'A' && ch <= 'Z')
			ch += 'a' - 'A';
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch >= 0x80)
		{
			if (pending_underscore && out.len > 0)
				appendStringInfoChar(&out, '_');
			pending_underscore = false;
			if (out.len == 0 && ch >= '0' && ch <= '9')
				appendStringInfoChar(&out, '_');
			appendStringInfoChar(&out, (char) ch);
		}
		else
			pending_underscore = true;
	}
	if (out.len >= NAMEDATALEN)
		out.data[pg_mbcliplen(out.data, out.len, NAMEDATALEN - 1)] = '\0';
	return out.data;
}
