/*-------------------------------------------------------------------------
 *
 * load_parallel.c
 *	  load_csv's parallel path: COPY's parsing and type input spread over
 *	  parallel workers, while the loading backend alone writes the table.
 *
 *	  PostgreSQL 15's parallel workers cannot insert, but they can run the
 *	  type input functions, which with the parsing are most of a COPY's
 *	  time.  So the leader (the backend running load_csv) reads the stream
 *	  as ever (HTTP, Range resume, inflate, progress), cuts it into chunks
 *	  of whole records (quote-aware, the way COPY reads them: a quoted
 *	  newline never ends one) and deals the chunks out in turn.  Each
 *	  worker parses its chunks with COPY's own NextCopyFrom, forms heap
 *	  tuples and sends them back; the leader takes each chunk's tuples in
 *	  file order and inserts them with table_multi_insert, in its own
 *	  subtransaction (as CREATE TABLE AS inserts in a parallel leader).  So
 *	  every promise of the single-stream path holds: one transaction (a
 *	  failure leaves the table as it was; readers see the old table until
 *	  commit), the file's line numbers in errors (each chunk carries the
 *	  line it starts at and the file's line ends, and a worker reports its
 *	  error as the leader would), the caller's rights and settings
 *	  (parallel workers take the leader's; the file's encoding is passed
 *	  explicitly, since a worker's client_encoding is the database's), and
 *	  rows in file order.
 *
 *	  The leader's inserts do what COPY's do only on a plain table: so the
 *	  path is taken for a heap table, not a partition, without indexes,
 *	  triggers, rules, constraints or defaults (the table modes create and
 *	  replace make, or such a table truncated or appended to), whose
 *	  columns' input functions are parallel safe.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/copyfrom_internal.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_node.h"
#include "pgstat.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/backend_progress.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "copy_feed.h"
#include "csv_load.h"
#include "guc.h"
#include "load_parallel.h"

PGDLLEXPORT void elt_load_parallel_worker(dsm_segment *seg, shm_toc *toc);

#define PLOAD_KEY_SHARED	UINT64CONST(0xE170AD0000000001)
#define PLOAD_KEY_URL		UINT64CONST(0xE170AD0000000002)
#define PLOAD_KEY_OPTIONS	UINT64CONST(0xE170AD0000000003)
#define PLOAD_KEY_COLUMNS	UINT64CONST(0xE170AD0000000004)
#define PLOAD_KEY_QUEUES	UINT64CONST(0xE170AD0000000005)

#define PLOAD_QUEUE_SIZE	(1024 * 1024)	/* each way, per worker */
#define PLOAD_READ_SIZE		(64 * 1024)
#define PLOAD_TUPLE_BATCH	(64 * 1024) /* bytes of tuples per message */
#define PLOAD_INSERT_BATCH	1000	/* tuples per table_multi_insert, as COPY */
#define PLOAD_INSERT_BYTES	(64 * 1024)
#define PLOAD_CHUNKS_AHEAD	2		/* chunks in flight per worker */
/* the parallel path pays for its workers' start above this much download */
#define PLOAD_MIN_BYTES		(2 * 1024 * 1024)

#define PLOAD_MSG_TUPLES	'T'
#define PLOAD_MSG_END		'E'

/* What every worker reads; fixed for the load. */
typedef struct ParallelLoadShared
{
	Oid			relid;
	bool		types_inferred;
	int			sample_rows;
} ParallelLoadShared;

/* The head of a chunk message; the chunk's bytes follow. */
typedef struct ChunkHeader
{
	uint64		lines_before;	/* lines of the file before the chunk */
	uint64		records;
	EolType		eol;			/* the file's line ends, as its first line showed */
} ChunkHeader;

/* ---------------------------------------------------------------------
 * Cutting the stream at record boundaries
 * ---------------------------------------------------------------------
 */

/*
 * Where the scan of the bytes not yet sent stands.  It follows
 * CopyReadLineText's rules for CSV: an escape counts only inside quotes
 * (and none when it is the quote), a record ends at a line end outside
 * quotes, and a quoted line end counts as a line (for line numbers).
 */
typedef struct RecordCutter
{
	char		quote;
	char		escape;			/* '\0' when it is the quote */
	EolType		eol;			/* COPY's: from the file's first line */
	bool		in_quote;
	bool		last_was_escape;
	bool		skip_header;	/* the first record is the header */
	bool		check_marker;	/* at a record start not yet checked for \. */
	bool		ended;			/* the end-of-data marker \. was met */
	uint64		lines;			/* lines of the records cut so far */
	uint64		quoted_lines;	/* quoted line ends in the record being read */
} RecordCutter;

/* The character that ends a record, once the first line told. */
static inline char
cutter_eol_char(const RecordCutter *c)
{
	return c->eol == EOL_CR ? '\r' : '\n';
}

/*
 * Whether the record starting at p is COPY's end-of-data marker: \.
 * followed by the file's line end (either, on its first line): 1 or 0, or
 * -1 when the bytes up to end cannot tell yet.  A \. followed by anything
 * else is data to COPY, or its error (a line end of another style): the
 * worker's COPY says which.
 */
static int
cutter_is_end_marker(const RecordCutter *c, const char *p, const char *end, bool at_eof)
{
	const char *line_end = c->eol == EOL_NL ? "\n" : c->eol == EOL_CR ? "\r" :
		c->eol == EOL_CRNL ? "\r\n" : NULL;
	ptrdiff_t	need = 2 + (line_end ? strlen(line_end) : 1);
	ptrdiff_t	n = Min(end - p, need);

	for (ptrdiff_t i = 0; i < n; i++)
	{
		bool		match;

		if (i == 0)
			match = p[i] == '\\';
		else if (i == 1)
			match = p[i] == '.';
		else
			match = line_end ? p[i] == line_end[i - 2] : (p[i] == '\n' || p[i] == '\r');
		if (!match)
			return 0;
	}
	if (n == need)
		return 1;
	return at_eof ? 0 : -1;
}

/*
 * Scans buf[*pos, len) for record ends.  Returns the offset just after
 * the last complete record found (or from, if none), counting them in
 * *records and their lines in *record_lines and c->lines; *pos is where
 * scanning stopped (it may need more bytes to decide, e.g. a CR at the
 * end).  The header, when the cutter skips it, is cut out of buf.
 */
static size_t
cutter_scan(RecordCutter *c, StringInfo buf, size_t from, size_t *pos, bool at_eof,
			uint64 *records, uint64 *record_lines)
{
	size_t		last_end = from;
	size_t		i = *pos;

	if (c->check_marker)
	{
		int			marker = cutter_is_end_marker(c, buf->data + i, buf->data + buf->len, at_eof);

		if (marker < 0)
			return last_end;
		c->check_marker = false;
		if (marker == 1)
		{
			c->ended = true;
			buf->len = i;
		}
	}
	while (i < (size_t) buf->len && !c->ended)
	{
		const char *data = buf->data;
		size_t		len = buf->len;
		size_t		record_end;

		/* fast path: outside quotes, with no quote before the line end */
		if (!c->in_quote && c->eol != EOL_UNKNOWN)
		{
			const char *eol = memchr(data + i, cutter_eol_char(c), len - i);
			size_t		stop = eol ? (size_t) (eol - data) : len;

			if (memchr(data + i, c->quote, stop - i) == NULL)
			{
				if (eol == NULL)
				{
					i = len;	/* a record with no quote so far goes on */
					break;
				}
				record_end = stop + 1;
				goto record;
			}
		}
		/* slow path, a byte at a time, as CopyReadLineText */
		for (;;)
		{
			char		ch;

			if (i >= len)
				goto out;
			ch = data[i];
			if (ch == '\r' && c->eol == EOL_UNKNOWN && !c->in_quote && i + 1 >= len && !at_eof)
				goto out;		/* CR or CRLF: the next byte tells */
			if (c->in_quote && ch == c->escape)
				c->last_was_escape = !c->last_was_escape;
			if (ch == c->quote && !c->last_was_escape)
				c->in_quote = !c->in_quote;
			if (ch != c->escape)
				c->last_was_escape = false;
			i++;
			if (c->eol == EOL_UNKNOWN && !c->in_quote && (ch == '\n' || ch == '\r'))
			{
				if (ch == '\n')
					c->eol = EOL_NL;
				else if (i < len && data[i] == '\n')
				{
					c->eol = EOL_CRNL;
					i++;
				}
				else
					c->eol = EOL_CR;
				record_end = i;
				goto record;
			}
			if (c->in_quote && ch == (c->eol == EOL_NL ? '\n' : '\r'))
				c->quoted_lines++;
			if (!c->in_quote && c->eol != EOL_UNKNOWN && ch == cutter_eol_char(c))
			{
				record_end = i;
				goto record;
			}
		}

record:
		c->lines += 1 + c->quoted_lines;
		c->last_was_escape = false;
		if (c->skip_header)
		{
			/* the header is COPY's line 1 and no row: cut it out */
			c->skip_header = false;
			memmove(buf->data + from, buf->data + record_end, buf->len - record_end + 1);
			buf->len -= record_end - from;
			i = from;
		}
		else
		{
			(*records)++;
			*record_lines += 1 + c->quoted_lines;
			last_end = i = record_end;
		}
		c->quoted_lines = 0;
		switch (cutter_is_end_marker(c, buf->data + i, buf->data + buf->len, at_eof))
		{
			case 1:
				c->ended = true;
				buf->len = i;	/* what follows the marker is not data */
				break;
			case -1:
				c->check_marker = true;
				goto out;
		}
	}
out:
	*pos = i;
	return last_end;
}

/* ---------------------------------------------------------------------
 * The leader: reading, dealing out, inserting
 * ---------------------------------------------------------------------
 */

typedef struct Inserter
{
	Relation	rel;
	CommandId	cid;
	int			options;
	BulkInsertState bistate;
	TupleTableSlot **slots;
	int			nslots;
	size_t		bytes;
	MemoryContext batch_cxt;
	uint64		rows;
} Inserter;

typedef struct Leader
{
	CopyFeed   *feed;
	RecordCutter cutter;
	StringInfoData buf[2];		/* the chunk being filled, the one being sent */
	int			filling;
	size_t		scan_pos;
	bool		eof;
	size_t		chunk_bytes;
	uint64		read_bytes;		/* inflated bytes read, for progress */
	int			nworkers;
	shm_mq_handle **to_worker;
	shm_mq_handle **from_worker;
	uint64	   *chunk_records;	/* records of chunks in flight, by chunk % ring */
	Inserter	ins;
} Leader;

static void
inserter_flush(Inserter *ins)
{
	MemoryContext old;

	if (ins->nslots == 0)
		return;
	/* heap_multi_insert leaves memory in the current context, as CopyFrom knows */
	old = MemoryContextSwitchTo(ins->batch_cxt);
	table_multi_insert(ins->rel, ins->slots, ins->nslots, ins->cid, ins->options, ins->bistate);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < ins->nslots; i++)
		ExecClearTuple(ins->slots[i]);
	ins->rows += ins->nslots;
	ins->nslots = 0;
	ins->bytes = 0;
	MemoryContextReset(ins->batch_cxt);
	pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED, (int64) ins->rows);
}

/* Takes one tuple a worker formed. */
static void
inserter_add(Inserter *ins, const char *data, uint32 len)
{
	HeapTuple	tuple = MemoryContextAlloc(ins->batch_cxt, HEAPTUPLESIZE + len);

	tuple->t_len = len;
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = RelationGetRelid(ins->rel);
	tuple->t_data = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	memcpy(tuple->t_data, data, len);
	ExecStoreHeapTuple(tuple, ins->slots[ins->nslots++], true);
	ins->bytes += len;
	if (ins->nslots == PLOAD_INSERT_BATCH || ins->bytes >= PLOAD_INSERT_BYTES)
		inserter_flush(ins);
}

static void
inserter_finish(Inserter *ins)
{
	inserter_flush(ins);
	FreeBulkInsertState(ins->bistate);
	table_finish_bulk_insert(ins->rel, ins->options);
}

/*
 * The next chunk to send: at least chunk_bytes of whole records (or the
 * rest of the file), behind a ChunkHeader; NULL at the end.  What follows
 * its last record starts the next chunk.
 */
static StringInfo
leader_next_chunk(Leader *l)
{
	StringInfo	b = &l->buf[l->filling];
	StringInfo	next;
	size_t		last_end = sizeof(ChunkHeader);
	uint64		records = 0;
	uint64		record_lines = 0;
	ChunkHeader header = {0};

	for (;;)
	{
		size_t		n;

		last_end = cutter_scan(&l->cutter, b, last_end, &l->scan_pos, l->eof, &records,
							   &record_lines);
		if (l->cutter.ended)
			l->eof = true;
		if (records > 0 && b->len - sizeof(ChunkHeader) >= l->chunk_bytes)
			break;
		if (l->eof)
		{
			if ((size_t) b->len > last_end)
			{
				/* a last record without a line end */
				l->cutter.lines += 1 + l->cutter.quoted_lines;
				record_lines += 1 + l->cutter.quoted_lines;
				l->cutter.quoted_lines = 0;
				records++;
				last_end = b->len;
			}
			break;
		}
		/* the header is part of the first line: its lines count too */
		elt_copy_feed_check_line_length(b->len - last_end,
										l->cutter.lines + 1 + l->cutter.quoted_lines,
										l->feed->display_url);
		enlargeStringInfo(b, PLOAD_READ_SIZE);
		n = elt_copy_feed_read(l->feed, b->data + b->len, PLOAD_READ_SIZE);
		b->len += n;
		b->data[b->len] = '\0';
		l->read_bytes += n;
		pgstat_progress_update_param(PROGRESS_COPY_BYTES_PROCESSED, (int64) l->read_bytes);
		if (n == 0)
			l->eof = true;
	}
	if (records == 0)
		return NULL;

	/* what follows the chunk's last record moves to the other buffer */
	next = &l->buf[1 - l->filling];
	resetStringInfo(next);
	appendBinaryStringInfo(next, (char *) &header, sizeof(ChunkHeader));
	appendBinaryStringInfo(next, b->data + last_end, b->len - last_end);
	l->scan_pos = sizeof(ChunkHeader) + (l->scan_pos - last_end);
	b->len = last_end;
	header.lines_before = l->cutter.lines - record_lines;
	header.records = records;
	header.eol = l->cutter.eol;
	memcpy(b->data, &header, sizeof(ChunkHeader));
	l->filling = 1 - l->filling;
	return b;
}

/* Where the record count of a chunk in flight is kept. */
static inline uint64 *
leader_chunk_records(Leader *l, uint64 chunk)
{
	return &l->chunk_records[chunk % (l->nworkers * PLOAD_CHUNKS_AHEAD)];
}

/* A worker's queue went away: it failed (its error is thrown) or died. */
static void
leader_lost_worker(void)
{
	HandleParallelMessages();
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("a parallel worker of the load exited unexpectedly")));
}

/* Takes one message of chunk's worker; true when the chunk is complete. */
static bool
leader_receive(Leader *l, uint64 chunk, bool *progress)
{
	Size		len;
	void	   *data;
	const char *p;
	const char *end;
	shm_mq_result res;

	res = shm_mq_receive(l->from_worker[chunk % l->nworkers], &len, &data, true);
	if (res == SHM_MQ_WOULD_BLOCK)
		return false;
	if (res == SHM_MQ_DETACHED)
		leader_lost_worker();
	*progress = true;
	p = data;
	end = p + len;
	if (*p == PLOAD_MSG_END)
	{
		uint64		records;

		memcpy(&records, p + 1, sizeof(uint64));
		if (records != *leader_chunk_records(l, chunk))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("a parallel worker read " UINT64_FORMAT " rows of a chunk of " UINT64_FORMAT " records of \"%s\"",
							records, *leader_chunk_records(l, chunk),
							l->feed->display_url),
					 errhint("Load the file with \"parallel\": 0.")));
		return true;
	}
	for (p++; p < end;)
	{
		uint32		tlen;

		memcpy(&tlen, p, sizeof(uint32));
		inserter_add(&l->ins, p + sizeof(uint32), tlen);
		p += sizeof(uint32) + tlen;
	}
	return false;
}

/*
 * Deals the chunks out (chunk k to worker k % n) and takes their tuples
 * back in the same order, so that rows go in as the file has them; never
 * waits on one queue while another could move.
 */
static void
leader_run(Leader *l)
{
	uint64		sent = 0;
	uint64		received = 0;
	StringInfo	pending = NULL;
	bool		input_done = false;

	for (;;)
	{
		bool		progress = false;

		if (received < sent && leader_receive(l, received, &progress))
			received++;

		if (pending == NULL && !input_done &&
			sent - received < (uint64) l->nworkers * PLOAD_CHUNKS_AHEAD)
		{
			pending = leader_next_chunk(l);
			if (pending == NULL)
				input_done = true;
			else
				memcpy(leader_chunk_records(l, sent), &((ChunkHeader *) pending->data)->records,
					   sizeof(uint64));
			progress = true;
		}
		if (pending)
		{
			shm_mq_result res = shm_mq_send(l->to_worker[sent % l->nworkers], pending->len,
											pending->data, true, true);

			if (res == SHM_MQ_DETACHED)
				leader_lost_worker();
			if (res == SHM_MQ_SUCCESS)
			{
				sent++;
				pending = NULL;
				progress = true;
			}
		}
		if (input_done && received == sent)
			break;
		if (!progress)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
		l->feed->rows = l->ins.rows;
	}
}

/* ---------------------------------------------------------------------
 * Choosing the path
 * ---------------------------------------------------------------------
 */

/* What COPY would read the file as: the "encoding" option, else the client's. */
static int
load_parallel_file_encoding(const LoadOptions *opts)
{
	return opts->encoding ? pg_char_to_encoding(opts->encoding) : pg_get_client_encoding();
}

/* Whether a column of type typid can be read by a parallel worker. */
static bool
load_parallel_type_safe(Oid typid)
{
	Oid			elem = get_element_type(typid);
	char		typtype;
	Oid			input;
	Oid			ioparam;

	if (OidIsValid(elem) && !load_parallel_type_safe(elem))
		return false;
	typtype = get_typtype(typid);
	if (typtype != TYPTYPE_BASE && typtype != TYPTYPE_ENUM)
		return false;			/* domains check expressions; composites, their fields */
	getTypeInputInfo(typid, &input, &ioparam);
	return func_parallel(input) == PROPARALLEL_SAFE;
}

/*
 * The workers the load of rel may use besides the leader: 0 for the
 * single-stream path.  opts->parallel < 0 asks for the default: one per
 * core (the leader's inflating and inserting is lighter than a worker's
 * parsing, and it waits on the network: on 2 cores, 2 workers load the
 * taxi file in 0.65 of native COPY's time, 1 in 0.85), at most
 * max_parallel_maintenance_workers, none on one core, and only for a
 * source that announced more than PLOAD_MIN_BYTES (Content-Length, a
 * file's size): a small or unsized one starts no workers, and nothing is
 * read ahead to tell (a slow source's rows go in as they come).
 */
int
elt_load_parallel_workers(Relation rel, const LoadOptions *opts, const EltStream *source)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			cores;
	int			nworkers;

	if (opts->parallel == 0 || IsInParallelMode() || IsParallelWorker())
		return 0;
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP ||
		rel->rd_tableam != GetHeapamTableAmRoutine() ||
		rel->rd_rel->relhasindex || rel->trigdesc != NULL || rel->rd_rules != NULL ||
		desc->constr != NULL)
		return 0;
	if (!PG_VALID_BE_ENCODING(load_parallel_file_encoding(opts)))
		return 0;				/* its bytes may look like quotes */
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && !load_parallel_type_safe(att->atttypid))
			return 0;
	}

	if (opts->parallel > 0)
		return Min(opts->parallel, max_parallel_workers);
	cores = (int) sysconf(_SC_NPROCESSORS_ONLN);
	nworkers = Min(cores, max_parallel_maintenance_workers);
	if (cores < 2 || nworkers <= 0 || source->size < PLOAD_MIN_BYTES)
		return 0;
	return nworkers;
}

/* ---------------------------------------------------------------------
 * The load
 * ---------------------------------------------------------------------
 */

static void *
load_parallel_store(ParallelContext *pcxt, uint64 key, const void *data, Size len)
{
	void	   *p = shm_toc_allocate(pcxt->toc, len);

	memcpy(p, data, len);
	shm_toc_insert(pcxt->toc, key, p);
	return p;
}

/*
 * Loads feed into rel with nworkers parallel workers.  False, having read
 * nothing, if none could be started: the caller loads single-stream.
 * The caller checked the rights and the target (elt_load_parallel_workers).
 */
bool
elt_load_parallel(CopyFeed *feed, Relation rel, List *attnames, const LoadOptions *opts,
				  int nworkers, bool types_inferred, uint64 *rows)
{
	LoadOptions worker_opts = *opts;
	char	   *options;
	char	   *columns;
	ParallelContext *pcxt;
	ParallelLoadShared shared = {RelationGetRelid(rel), types_inferred, opts->sample_rows};
	char	   *queues;
	Leader		l = {0};
	bool		snapshot_pushed = false;

	worker_opts.header = false; /* the leader cuts it out */
	worker_opts.encoding = (char *) pg_encoding_to_char(load_parallel_file_encoding(opts));
	options = nodeToString(elt_copy_options(&worker_opts));
	columns = nodeToString(attnames);

	/* a parallel operation cannot assign them */
	(void) GetCurrentTransactionId();
	l.ins.cid = GetCurrentCommandId(true);

	EnterParallelMode();
	pcxt = CreateParallelContext("pg_elt", "elt_load_parallel_worker", nworkers);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(ParallelLoadShared));
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(feed->display_url) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(options) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(columns) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(PLOAD_QUEUE_SIZE, 2 * nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 5);
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		snapshot_pushed = true;
	}
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
		goto single_stream;		/* no dynamic shared memory to be had */
	load_parallel_store(pcxt, PLOAD_KEY_SHARED, &shared, sizeof(shared));
	load_parallel_store(pcxt, PLOAD_KEY_URL, feed->display_url, strlen(feed->display_url) + 1);
	load_parallel_store(pcxt, PLOAD_KEY_OPTIONS, options, strlen(options) + 1);
	load_parallel_store(pcxt, PLOAD_KEY_COLUMNS, columns, strlen(columns) + 1);
	queues = shm_toc_allocate(pcxt->toc, mul_size(PLOAD_QUEUE_SIZE, 2 * nworkers));
	shm_toc_insert(pcxt->toc, PLOAD_KEY_QUEUES, queues);

	l.nworkers = nworkers;
	l.to_worker = palloc0(sizeof(shm_mq_handle *) * nworkers);
	l.from_worker = palloc0(sizeof(shm_mq_handle *) * nworkers);
	for (int i = 0; i < nworkers; i++)
	{
		shm_mq	   *to = shm_mq_create(queues + (Size) PLOAD_QUEUE_SIZE * (2 * i), PLOAD_QUEUE_SIZE);
		shm_mq	   *from = shm_mq_create(queues + (Size) PLOAD_QUEUE_SIZE * (2 * i + 1),
										 PLOAD_QUEUE_SIZE);

		shm_mq_set_sender(to, MyProc);
		shm_mq_set_receiver(from, MyProc);
		l.to_worker[i] = shm_mq_attach(to, pcxt->seg, NULL);
		l.from_worker[i] = shm_mq_attach(from, pcxt->seg, NULL);
	}
	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
	{
		ereport(DEBUG1,
				(errmsg("loading \"%s\" in one stream: no parallel worker could be started",
						feed->display_url)));
		goto single_stream;
	}
	l.nworkers = pcxt->nworkers_launched;
	ereport(DEBUG1,
			(errmsg("loading \"%s\" with %d parallel workers", feed->display_url, l.nworkers)));
	for (int i = 0; i < l.nworkers; i++)
	{
		shm_mq_set_handle(l.to_worker[i], pcxt->worker[i].bgwhandle);
		shm_mq_set_handle(l.from_worker[i], pcxt->worker[i].bgwhandle);
	}

	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, RelationGetRelid(rel));
	pgstat_progress_update_param(PROGRESS_COPY_COMMAND, PROGRESS_COPY_COMMAND_FROM);
	pgstat_progress_update_param(PROGRESS_COPY_TYPE, PROGRESS_COPY_TYPE_CALLBACK);

	l.feed = feed;
	l.cutter.quote = opts->quote;
	l.cutter.escape = opts->escape == opts->quote ? '\0' : opts->escape;
	l.cutter.skip_header = opts->header;
	l.cutter.check_marker = true;	/* a header line of \. ends the data too */
	l.chunk_bytes = (size_t) elt_parallel_chunk_kb * 1024;
	initStringInfo(&l.buf[0]);
	initStringInfo(&l.buf[1]);
	appendStringInfoSpaces(&l.buf[0], sizeof(ChunkHeader));
	l.scan_pos = sizeof(ChunkHeader);
	l.chunk_records = palloc0(sizeof(uint64) * l.nworkers * PLOAD_CHUNKS_AHEAD);

	l.ins.rel = rel;
	l.ins.bistate = GetBulkInsertState();
	/* as CopyFrom: a relation new in this subtransaction needs no free space map */
	if (rel->rd_createSubid != InvalidSubTransactionId ||
		rel->rd_firstRelfilenodeSubid != InvalidSubTransactionId)
		l.ins.options |= TABLE_INSERT_SKIP_FSM;
	l.ins.slots = palloc(sizeof(TupleTableSlot *) * PLOAD_INSERT_BATCH);
	for (int i = 0; i < PLOAD_INSERT_BATCH; i++)
		l.ins.slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	l.ins.batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_elt parallel load batch",
											ALLOCSET_DEFAULT_SIZES);

	leader_run(&l);

	/* no more chunks: each worker ends when its queue does */
	for (int i = 0; i < nworkers; i++)
		shm_mq_detach(l.to_worker[i]);
	WaitForParallelWorkersToFinish(pcxt);
	for (int i = 0; i < nworkers; i++)
		shm_mq_detach(l.from_worker[i]);
	/* the workers imported it: kept until they were done */
	if (snapshot_pushed)
		PopActiveSnapshot();
	DestroyParallelContext(pcxt);
	ExitParallelMode();

	inserter_finish(&l.ins);
	for (int i = 0; i < PLOAD_INSERT_BATCH; i++)
		ExecDropSingleTupleTableSlot(l.ins.slots[i]);
	MemoryContextDelete(l.ins.batch_cxt);
	pgstat_progress_end_command();
	feed->rows = *rows = l.ins.rows;
	return true;

single_stream:
	if (snapshot_pushed)
		PopActiveSnapshot();
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return false;
}

/* ---------------------------------------------------------------------
 * A worker
 * ---------------------------------------------------------------------
 */

typedef struct LoadWorker
{
	Relation	rel;
	List	   *copy_options;
	List	   *attnames;
	const char *display_url;
	const ParallelLoadShared *shared;
	shm_mq_handle *out;
	StringInfoData batch;		/* tuples not yet sent */
	Datum	   *values;
	bool	   *nulls;
	ExprContext *econtext;
	MemoryContext chunk_cxt;
	MemoryContext row_cxt;
} LoadWorker;

static void
worker_send(LoadWorker *w, const char *data, Size len)
{
	if (shm_mq_send(w->out, len, data, false, true) != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("the leader of the parallel load went away")));
}

static void
worker_flush(LoadWorker *w)
{
	if (w->batch.len > 1)
		worker_send(w, w->batch.data, w->batch.len);
	resetStringInfo(&w->batch);
	appendStringInfoChar(&w->batch, PLOAD_MSG_TUPLES);
}

/* Parses one chunk and sends back its rows as heap tuples, then its end. */
static void
worker_parse_chunk(LoadWorker *w, const char *data, Size len)
{
	ChunkHeader header;
	StringInfoData chunk;
	CopyFeed   *feed;
	ParseState *pstate;
	MemoryContext old;
	uint64		records = 0;
	char		end[1 + sizeof(uint64)];

	memcpy(&header, data, sizeof(ChunkHeader));
	MemoryContextReset(w->chunk_cxt);
	old = MemoryContextSwitchTo(w->chunk_cxt);
	chunk.data = (char *) data + sizeof(ChunkHeader);
	chunk.len = chunk.maxlen = len - sizeof(ChunkHeader);
	chunk.cursor = 0;
	feed = elt_copy_feed_create(NULL, NULL, &chunk);
	feed->display_url = w->display_url;
	pstate = make_parsestate(NULL);
	elt_copy_feed_begin(feed, pstate, w->rel, w->attnames, w->copy_options);
	/* the load's progress is the leader's to show */
	pgstat_progress_end_command();
	feed->cstate->cur_lineno = header.lines_before;
	feed->cstate->eol_type = header.eol;

	PG_TRY();
	{
		for (;;)
		{
			HeapTuple	tuple;
			bool		found;

			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(w->row_cxt);
			MemoryContextSwitchTo(w->row_cxt);
			found = elt_copy_feed_next(feed, w->econtext, w->values, w->nulls);
			if (!found)
				break;
			tuple = heap_form_tuple(RelationGetDescr(w->rel), w->values, w->nulls);
			MemoryContextSwitchTo(w->chunk_cxt);
			appendBinaryStringInfo(&w->batch, (char *) &tuple->t_len, sizeof(uint32));
			appendBinaryStringInfo(&w->batch, (char *) tuple->t_data, tuple->t_len);
			records++;
			if (w->batch.len >= PLOAD_TUPLE_BATCH)
				worker_flush(w);
		}
	}
	PG_CATCH();
	{
		CopyFromState cstate = feed->cstate;
		ErrorData  *edata;

		MemoryContextSwitchTo(old);
		edata = CopyErrorData();
		if (!elt_load_error_is_the_rows(ERRCODE_TO_CATEGORY(edata->sqlerrcode), LOAD_PATH_COPY) ||
			cstate->cur_lineno == header.lines_before)
			PG_RE_THROW();
		FlushErrorState();
		elt_load_report_row_error(edata, cstate, w->rel, w->display_url,
								  w->shared->types_inferred, w->shared->sample_rows);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(w->chunk_cxt);
	EndCopyFrom(feed->cstate);
	worker_flush(w);
	end[0] = PLOAD_MSG_END;
	memcpy(end + 1, &records, sizeof(uint64));
	worker_send(w, end, sizeof(end));
	MemoryContextSwitchTo(old);
}

/* A parallel worker's entry point: parses chunks until the leader is done. */
void
elt_load_parallel_worker(dsm_segment *seg, shm_toc *toc)
{
	LoadWorker	w = {0};
	char	   *queues = shm_toc_lookup(toc, PLOAD_KEY_QUEUES, false);
	shm_mq	   *in_queue = (shm_mq *) (queues + (Size) PLOAD_QUEUE_SIZE * (2 * ParallelWorkerNumber));
	shm_mq	   *out_queue = (shm_mq *) (queues + (Size) PLOAD_QUEUE_SIZE * (2 * ParallelWorkerNumber + 1));
	shm_mq_handle *in;
	TupleDesc	desc;

	w.shared = shm_toc_lookup(toc, PLOAD_KEY_SHARED, false);
	w.display_url = shm_toc_lookup(toc, PLOAD_KEY_URL, false);
	w.copy_options = stringToNode(shm_toc_lookup(toc, PLOAD_KEY_OPTIONS, false));
	w.attnames = stringToNode(shm_toc_lookup(toc, PLOAD_KEY_COLUMNS, false));
	shm_mq_set_receiver(in_queue, MyProc);
	shm_mq_set_sender(out_queue, MyProc);
	in = shm_mq_attach(in_queue, seg, NULL);
	w.out = shm_mq_attach(out_queue, seg, NULL);

	w.rel = table_open(w.shared->relid, AccessShareLock);
	desc = RelationGetDescr(w.rel);
	w.values = palloc(sizeof(Datum) * desc->natts);
	w.nulls = palloc(sizeof(bool) * desc->natts);
	w.econtext = CreateStandaloneExprContext();
	w.chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_elt parallel load chunk",
										ALLOCSET_DEFAULT_SIZES);
	w.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_elt parallel load row",
									  ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&w.batch);
	appendStringInfoChar(&w.batch, PLOAD_MSG_TUPLES);

	for (;;)
	{
		Size		len;
		void	   *data;

		if (shm_mq_receive(in, &len, &data, false) != SHM_MQ_SUCCESS)
			break;				/* detached: no more chunks */
		worker_parse_chunk(&w, data, len);
	}
	FreeExprContext(w.econtext, true);
	table_close(w.rel, AccessShareLock);
}
