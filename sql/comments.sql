-- Every catalog object a user sees has a comment, for \d+ elt.*, \df+ and
-- pgAdmin's properties: the extension's tables and views, their columns,
-- its functions and types.  Lists what has none; expects nothing.
CREATE TEMP VIEW pg_elt_objects AS
    SELECT d.classid, d.objid, c.relkind
      FROM pg_depend d
      JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
      LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
     WHERE e.extname = 'pg_elt' AND d.deptype = 'e';
CREATE TEMP VIEW pg_elt_described AS
    SELECT 'relation' AS kind, o.objid::regclass::text AS name,
           obj_description(o.objid, 'pg_class') AS comment
      FROM pg_elt_objects o WHERE o.relkind IN ('r', 'v', 'p', 'm', 'f')
    UNION ALL
    SELECT 'column', o.objid::regclass::text || '.' || quote_ident(a.attname),
           col_description(o.objid, a.attnum)
      FROM pg_elt_objects o
      JOIN pg_attribute a ON a.attrelid = o.objid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE o.relkind IN ('r', 'v', 'p', 'm', 'f')
    UNION ALL
    SELECT 'function', o.objid::regprocedure::text, obj_description(o.objid, 'pg_proc')
      FROM pg_elt_objects o WHERE o.classid = 'pg_proc'::regclass
    UNION ALL
    SELECT 'type', o.objid::regtype::text, obj_description(o.objid, 'pg_type')
      FROM pg_elt_objects o WHERE o.classid = 'pg_type'::regclass;
-- what is checked (so that an empty list below means something)
SELECT kind, count(*) > 0 AS some_checked FROM pg_elt_described GROUP BY kind ORDER BY kind;
-- what has no comment, or an empty one
SELECT kind, name FROM pg_elt_described WHERE coalesce(comment, '') = '' ORDER BY kind, name;
