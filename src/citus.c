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
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

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
		bool		isnull;
		char		method = DatumGetChar(heap_getattr(tup, get_attnum(catalog, "partmethod"), desc, &isnull));
		char		repmodel = DatumGetChar(heap_getattr(tup, get_attnum(catalog, "repmodel"), desc, &isnull));
		uint32		colocation = DatumGetUInt32(heap_getattr(tup, get_attnum(catalog, "colocationid"), desc, &isnull));

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
static void
citus_adopt_into_tenant_schema(Oid relid)
{
	void		(*create_tenant_table) (Oid relid);
	Oid			schema = get_rel_namespace(relid);
	Oid			catalog = get_relname_relid("pg_dist_schema", PG_CATALOG_NAMESPACE);
	Relation	rel;
	ScanKeyData skey;
	TableScanDesc scan;
	bool		tenant;

	if (!OidIsValid(catalog))
		return;
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(schema));
	scan = table_beginscan_catalog(rel, 1, &skey);
	tenant = heap_getnext(scan, ForwardScanDirection) != NULL;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!tenant)
		return;
	create_tenant_table = (void (*) (Oid)) load_external_function("citus", "CreateTenantSchemaTable",
																  false, NULL);
	if (create_tenant_table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("load_csv cannot create table \"%s\" in Citus distributed schema \"%s\"",
						get_rel_name(relid), get_namespace_name(schema)),
				 errhint("Create the table with CREATE TABLE first, then load into it.")));
	create_tenant_table(relid);
}

/*
 * Makes the table load_csv just created a Citus table when asked to: a
 * distributed table (the distribute_by, shard_count and colocate_with
 * options) or a reference table (reference), with Citus's own functions;
 * and, unasked, the table of a distributed schema it was created in.
 */
void
elt_citus_distribute(Oid relid, const LoadOptions *opts)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			rc;

	if (opts->distribute_by == NULL && !opts->reference)
	{
		if (OidIsValid(get_extension_oid("citus", true)))
			citus_adopt_into_tenant_schema(relid);
		return;
	}
	if (!OidIsValid(get_extension_oid("citus", true)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the \"%s\" option needs the citus extension", opts->reference ? "reference" : "distribute_by"),
				 errhint("CREATE EXTENSION citus in this database, or leave the option out.")));
	SPI_connect();
	values[0] = ObjectIdGetDatum(relid);
	if (opts->reference)
		rc = SPI_execute_with_args("SELECT pg_catalog.create_reference_table($1)", 1,
								   (Oid[1]) {REGCLASSOID}, values, nulls, false, 0);
	else
	{
		values[1] = CStringGetTextDatum(opts->distribute_by);
		values[2] = Int32GetDatum(opts->shard_count);
		nulls[2] = opts->shard_count > 0 ? ' ' : 'n';
		values[3] = CStringGetTextDatum(opts->colocate_with ? opts->colocate_with : "default");
		rc = SPI_execute_with_args("SELECT pg_catalog.create_distributed_table($1, $2,"
								   " shard_count => $3, colocate_with => $4)", 4,
								   (Oid[4]) {REGCLASSOID, TEXTOID, INT4OID, TEXTOID},
								   values, nulls, false, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not make table %u a Citus table", relid);
	SPI_finish();
}
