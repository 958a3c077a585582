/*
 * fuzz_csv.c: the CSV sampler (header and type inference) and the column
 * name normaliser, on arbitrary bytes.  The first byte picks the dialect
 * and how the buffer ends; the rest is the head of a file.  Checked: no
 * memory error, and every name pg_elt would create is a valid, short,
 * normalised identifier and every type one it knows.
 */
#include "fuzz.h"

static const char *const known_types[] = {
	"text", "boolean", "bigint", "double precision", "numeric", "date",
	"timestamp without time zone", "timestamp with time zone", NULL
};

static void
check_name(const char *raw)
{
	char	   *name = elt_normalize_column_name(raw);
	size_t		len = strlen(name);

	if (len >= NAMEDATALEN || (name[0] >= '0' && name[0] <= '9'))
		abort();
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delimiters[] = ",;\t|";
	CsvDialect	dialect;
	uint8_t		flags;

	if (size < 1)
		return 0;
	flags = data[0];
	dialect.delimiter = delimiters[flags & 3];
	dialect.quote = (flags & 4) ? '\'' : '"';
	dialect.escape = (flags & 8) ? '\\' : dialect.quote;
	dialect.null_string = (flags & 16) ? "NA" : NULL;
	data++, size--;

	FUZZ_TRY({
		char	   *buf = fuzz_cstring(data, size);
		CsvSample	sample;

		check_name(buf);
		if (elt_csv_sample(buf, size, (flags & 64) != 0, (flags & 128) != 0, &dialect,
						   (flags & 32) != 0, 20, &sample))
		{
			for (int i = 0; i < sample.ncolumns; i++)
			{
				bool		known = false;

				if (sample.names)
					check_name(sample.names[i]);
				for (int t = 0; known_types[t]; t++)
					known |= strcmp(sample.types[i], known_types[t]) == 0;
				if (!known)
					abort();
			}
		}
	});
	fuzz_reset();
	return 0;
}
