/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Citus tables, known from Citus's own catalog (pg_dist_partition)
 *	  without linking to Citus, and made with Citus's own functions.
 *
 *	  load_csv's direct path writes into the target relation itself.  For
 *	  a Citus table (distributed, reference or Citus-local) that relation
 *	  is the coordinator's shell, which Citus never reads, so load_csv
 *	  loads Citus tables through the executor (load_insert.c), where
 *	  Citus routes every row to its shard.  The catalog exists only while
 *	  the citus extension is installed in the database, so nothing here
 *	  costs more than one catalog lookup elsewhere.
 *
 *-------------------------------------------------------------------------
 */
#include "citus.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "load_options.h"

/*
 * The kind of Citus table relid is, from its pg_dist_partition row:
 * partition method 'n' with replication model 't' is a reference table,
 * 'n' without a colocation group a Citus-local table; every other row
 * (hash, or a single-shard table of a distributed schema) is distributed.
 */
CitusTableKind
elt_citus_table_kind(Oid relid)
{
	Oid			catalog;
	Relation	rel;
	ScanKeyData skey;
	TableScanDesc scan;
	HeapTuple	tup;
	CitusTableKind kind = CITUS_NONE;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return CITUS_NONE;
	catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(catalog))
		return CITUS_NONE;
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = table_beginscan_catalog(rel, 1, &skey);
	if ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		AttrNumber	method_col = get_attnum(catalog, "partmethod");
		AttrNumber	repmodel_col = get_attnum(catalog, "repmodel");
		AttrNumber	colocation_col = get_attnum(catalog, "colocationid");
		bool		isnull;
		char		method;
		char		repmodel;
		uint32		colocation;

		if (method_col == InvalidAttrNumber || repmodel_col == InvalidAttrNumber ||
			colocation_col == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("this version of Citus is not one pg_elt knows: pg_dist_partition lacks a column it reads")));
		method = DatumGetChar(heap_getattr(tup, method_col, desc, &isnull));
		repmodel = DatumGetChar(heap_getattr(tup, repmodel_col, desc, &isnull));
		colocation = DatumGetUInt32(heap_getattr(tup, colocation_col, desc, &isnull));

		if (method == 'n' && repmodel == 't')
			kind = CITUS_REFERENCE;
		else if (method == 'n' && colocation == 0)
			kind = CITUS_LOCAL;
		else
			kind = CITUS_DISTRIBUTED;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return kind;
}

/*
 * Citus makes a table created in a distributed schema that schema's, but
 * only for a top-level CREATE TABLE, and load_csv's runs inside a query.
 * So load_csv does what Citus does then, with Citus's own function, found
 * at run time (pg_elt does not link to Citus).  Without it (another Citus
 * version) the load is refused rather than left in the shell.
 */
/* Whether relid is in a Citus distributed schema (pg_dist_schema). */
static bool
citus_in_tenant_schema(Oid relid)
{
	Oid			catalog = get_relname_relid("pg_dist_schema", PG_CATALOG_NAMESPACE);
	Relation	rel;
	ScanKeyData skey;
	TableScanDesc scan;
	bool		tenant;

	if (!OidIsValid(catalog))
		return false;
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(get_rel_namespace(relid)));
	scan = table_beginscan_catalog(rel, 1, &skey);
	tenant = heap_getnext(scan, ForwardScanDirection) != NULL;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return tenant;
}

/* Citus 12 and 13: CreateTenantSchemaTable(Oid) as pg_elt calls it. */
static bool
citus_version_known(void)
{
	HeapTuple	tup = SearchSysCache1(EXTENSIONOID, ObjectIdGetDatum(get_extension_oid("citus", false)));
	bool		known = false;

	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		v = SysCacheGetAttr(EXTENSIONOID, tup, Anum_pg_extension_extversion, &isnull);
		char	   *version = isnull ? "" : TextDatumGetCString(v);

		known = strncmp(version, "12.", 3) == 0 || strncmp(version, "13.", 3) == 0;
		ReleaseSysCache(tup);
	}
	return known;
}

static void
citus_adopt_into_tenant_schema(Oid relid)
{
	void		(*create_tenant_table) (Oid relid);

	if (!citus_in_tenant_schema(relid))
		return;
	/* its signature is that of the Citus releases it was checked with */
	create_tenant_table = citus_version_known() ?
		(void (*) (Oid)) load_external_function("citus", "CreateTenantSchemaTable", false, NULL) : NULL;
	if (create_tenant_table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("load_csv cannot create table \"%s\" in Citus distributed schema \"%s\"",
						get_rel_name(relid), get_namespace_name(get_rel_namespace(relid))),
				 errhint("Create the table with CREATE TABLE first, then load into it.")));
	create_tenant_table(relid);
}

/* The distribution the load options ask for (kind CITUS_NONE: none). */
void
elt_citus_requested(const LoadOptions *opts, CitusDistribution *dist)
{
	memset(dist, 0, sizeof(CitusDistribution));
	dist->kind = opts->reference ? CITUS_REFERENCE :
		opts->distribute_by ? CITUS_DISTRIBUTED : CITUS_NONE;
	dist->column = opts->distribute_by;
	dist->shard_count = opts->shard_count;
	dist->colocate_with = opts->colocate_with;
	if (dist->kind != CITUS_NONE && !OidIsValid(get_extension_oid("citus", true)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the \"%s\" option needs the citus extension", opts->reference ? "reference" : "distribute_by"),
				 errhint("CREATE EXTENSION citus in this database, or leave the option out.")));
}

/*
 * How relid is distributed, so that "replace" can make the new table the
 * same: kind, column, shard count, and a table of its colocation group to
 * colocate with ("none" when it was alone in it).
 */
void
elt_citus_describe(Oid relid, CitusDistribution *dist)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *column;

	memset(dist, 0, sizeof(CitusDistribution));
	dist->kind = elt_citus_table_kind(relid);
	if (dist->kind == CITUS_NONE)
		return;
	SPI_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.column_to_column_name(p.logicalrelid, p.partkey),"
							  "       (SELECT count(*) FROM pg_catalog.pg_dist_shard s"
							  "         WHERE s.logicalrelid = p.logicalrelid)::int4,"
							  "       coalesce((SELECT q.logicalrelid::text FROM pg_catalog.pg_dist_partition q"
							  "                  WHERE q.colocationid = p.colocationid AND q.colocationid <> 0"
							  "                    AND q.logicalrelid <> p.logicalrelid"
							  "                  ORDER BY q.logicalrelid LIMIT 1), 'none')"
							  "  FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1",
							  1, (Oid[1]) {REGCLASSOID}, (Datum[1]) {ObjectIdGetDatum(relid)},
							  NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the Citus distribution of table %u", relid);
	column = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	dist->column = column ? MemoryContextStrdup(caller, column) : NULL;
	dist->shard_count = atoi(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	dist->colocate_with = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
																	SPI_tuptable->tupdesc, 3));
	SPI_finish();
	/* colocated with another table, the shard count is that table's */
	if (strcmp(dist->colocate_with, "none") != 0)
		dist->shard_count = 0;
}

static void
citus_call(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "Citus function call failed: %s", sql);
}

/*
 * Makes the table load_csv just created the Citus table dist says, with
 * Citus's own functions; with no distribution asked for, the table of a
 * distributed schema it was created in, as Citus would make it.
 */
void
elt_citus_distribute(Oid relid, const CitusDistribution *dist)
{
	Datum		values[4] = {ObjectIdGetDatum(relid)};
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Oid			types[4] = {REGCLASSOID, TEXTOID, INT4OID, TEXTOID};

	if (!OidIsValid(get_extension_oid("citus", true)))
		return;
	if (dist->kind == CITUS_NONE || (dist->kind == CITUS_DISTRIBUTED && dist->column == NULL &&
									 citus_in_tenant_schema(relid)))
	{
		citus_adopt_into_tenant_schema(relid);
		return;
	}
	SPI_connect();
	if (dist->kind == CITUS_REFERENCE)
		citus_call("SELECT pg_catalog.create_reference_table($1)", 1, types, values, nulls);
	else if (dist->kind == CITUS_LOCAL)
		citus_call("SELECT pg_catalog.citus_add_local_table_to_metadata($1)", 1, types, values, nulls);
	else
	{
		values[1] = dist->column ? CStringGetTextDatum(dist->column) : (Datum) 0;
		nulls[1] = dist->column ? ' ' : 'n';
		values[2] = Int32GetDatum(dist->shard_count);
		nulls[2] = dist->shard_count > 0 && dist->column ? ' ' : 'n';
		values[3] = CStringGetTextDatum(dist->colocate_with ? dist->colocate_with : "default");
		citus_call("SELECT pg_catalog.create_distributed_table($1, $2,"
				   " shard_count => $3, colocate_with => $4)", 4, types, values, nulls);
	}
	SPI_finish();
}
