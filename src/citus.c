/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Knowing a Citus table when load_csv meets one, from Citus's own
 *	  catalog and without linking to Citus.
 *
 *	  load_csv's COPY writes straight into the target relation.  For a
 *	  Citus table (distributed, reference or Citus-local) that relation is
 *	  the coordinator's shell, which Citus never reads: the rows would be
 *	  reported loaded and then never seen.  Citus routes rows only when
 *	  they come through the executor or its own COPY, so until load_csv
 *	  has a path through the executor, such a target is refused before a
 *	  byte is read.
 *
 *	  A Citus table is one listed in pg_dist_partition; a table created in
 *	  a Citus distributed schema (pg_dist_schema, Citus 12 and later)
 *	  becomes one.  Both catalogs exist only while the citus extension is
 *	  installed in the database, so nothing here costs anything elsewhere.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_elt.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/*
 * Whether Citus catalog catalog_name (in pg_catalog, keyed by an oid in
 * its first column) has a row for key.  False when the catalog does not
 * exist in the installed Citus version.
 */
static bool
citus_catalog_lists(const char *catalog_name, Oid key)
{
	Oid			catalog;
	Relation	rel;
	ScanKeyData skey;
	TableScanDesc scan;
	bool		found;

	catalog = get_relname_relid(catalog_name, PG_CATALOG_NAMESPACE);
	if (!OidIsValid(catalog))
		return false;
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(key));
	scan = table_beginscan_catalog(rel, 1, &skey);
	found = heap_getnext(scan, ForwardScanDirection) != NULL;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Refuses a load into the table rv names when its rows would land where
 * Citus does not look: an existing Citus table, or a new table in a
 * distributed schema.  Called before a byte is read, and again once the
 * target exists (a table just created may have become a Citus table).
 */
void
elt_refuse_citus_target(const RangeVar *rv)
{
	Oid			relid;
	Oid			nspid;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(relid) && citus_catalog_lists("pg_dist_partition", relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("load_csv cannot load into Citus table \"%s\"", rv->relname),
				 errdetail("Rows load_csv writes itself would stay in the coordinator's shell table, where Citus never reads them."),
				 errhint("Load into a plain table and move the rows with INSERT INTO ... SELECT, or use COPY.")));
	if (OidIsValid(relid))
		return;
	nspid = rv->schemaname ? get_namespace_oid(rv->schemaname, true) : RangeVarGetCreationNamespace(rv);
	if (OidIsValid(nspid) && citus_catalog_lists("pg_dist_schema", nspid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("load_csv cannot create table \"%s\" in Citus distributed schema \"%s\"",
						rv->relname, get_namespace_name(nspid)),
				 errdetail("A table created there is a Citus table, and rows load_csv writes itself would stay in the coordinator's shell table."),
				 errhint("Load into a table in another schema and move the rows with INSERT INTO ... SELECT.")));
}
