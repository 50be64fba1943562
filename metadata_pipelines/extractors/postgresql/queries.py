"""The fixed set of pg_catalog queries the connector sends.

Per sync one query lists the databases (`pg_database`). Per database, inside one `REPEATABLE READ
READ ONLY` transaction, at most nine queries read everything, one per kind of metadata, whatever the
number of tables: no query per table, partition or column. Relations are read first; every later
query is restricted to the relations (or schemas) in scope by an array of OIDs, so tables excluded by
patterns, and partitions folded into their parent, cost no rows.

Why pg_catalog and not information_schema: information_schema hides what the role has no privilege
on, has no indexes, partitions, statistics, materialized views or exclusion constraints, and its
views are much slower (its constraint views join through privilege checks for every row).

Column lists are explicit so the mapper unpacks rows positionally. Deparsing functions
(`pg_get_viewdef`, `pg_get_indexdef`, `pg_get_constraintdef`, `pg_get_expr`) print names
schema-qualified because the session's search_path holds only pg_catalog (see extractor.py).

Servers differ (PostgreSQL 12 to 17, see docs/connectors/postgresql.md); `Capabilities` records what
this server has, from its version number, which libpq reports without a query.
"""

from __future__ import annotations

from dataclasses import dataclass

#: OIDs below this belong to types, relations and functions built into PostgreSQL itself.
FIRST_NORMAL_OID = 16384


@dataclass(frozen=True)
class Capabilities:
    """What this server's catalog has, by version (`server_version_num`)."""

    version: int

    @property
    def sql_function_bodies(self) -> bool:
        """`pg_proc.prosqlbody` and `pg_get_function_sqlbody` (BEGIN ATOMIC bodies): 14+."""
        return self.version >= 140000

    @property
    def reltuples_unknown_is_negative(self) -> bool:
        """`reltuples = -1` means never vacuumed or analysed since 14; before, it was 0."""
        return self.version >= 140000

    @property
    def nulls_not_distinct(self) -> bool:
        """`pg_index.indnullsnotdistinct` (UNIQUE NULLS NOT DISTINCT): 15+."""
        return self.version >= 150000

    @property
    def locale_provider(self) -> bool:
        """`pg_database.datlocprovider` (libc / icu): 15+."""
        return self.version >= 150000


# Per sync ---------------------------------------------------------------------------------------


def databases(caps: Capabilities, one_database: bool) -> str:
    """Databases (templates and half-dropped ones excluded), with whether this role may CONNECT."""
    provider = "d.datlocprovider::text" if caps.locale_provider else "NULL"
    where = "AND d.datname = current_database()" if one_database else ""
    return f"""
SELECT d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate,
       d.datctype, {provider}, d.datallowconn, d.datconnlimit, sd.description,
       has_database_privilege(d.oid, 'CONNECT')
FROM pg_database d
LEFT JOIN pg_shdescription sd
  ON sd.objoid = d.oid AND sd.classoid = 'pg_database'::regclass
WHERE NOT d.datistemplate AND d.datconnlimit <> -2 {where}
ORDER BY d.datname
"""


# Per database -----------------------------------------------------------------------------------

BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
COMMIT = "COMMIT"


def database(include_statistics: bool) -> str:
    """Size of the current database, the page size, and whether function bodies are readable."""
    size = "pg_database_size(current_database())" if include_statistics else "NULL"
    return f"""
SELECT {size}, current_setting('block_size')::int,
       has_column_privilege('pg_catalog.pg_proc', 'prosrc', 'SELECT')
"""


SCHEMAS = """
SELECT n.oid, n.nspname, pg_get_userbyid(n.nspowner), d.description
FROM pg_namespace n
LEFT JOIN pg_description d
  ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
"""
"""Every schema; filtered by the config's patterns in Python (there are few)."""


def relations(include_statistics: bool) -> str:
    """Tables, partitioned tables, views, materialized views, foreign tables and sequences of the
    schemas in scope (`%(schemas)s`), with partitioning, inheritance, sequence settings, the pages
    of their indexes and, with statistics, the activity counters. Sizes come from `relpages` (as of
    the last VACUUM / ANALYZE / CREATE INDEX): `pg_relation_size` and friends lock every relation
    and index they measure, so they wait behind any ALTER TABLE."""
    if include_statistics:
        stats = """pg_stat_get_numscans(c.oid),
       (SELECT sum(pg_stat_get_numscans(i.indexrelid))::int8 FROM pg_index i
        WHERE i.indrelid = c.oid),
       pg_stat_get_last_vacuum_time(c.oid), pg_stat_get_last_autovacuum_time(c.oid),
       pg_stat_get_last_analyze_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid)"""
    else:
        stats = ", ".join(["NULL"] * 6)
    return f"""
SELECT c.oid, c.relnamespace, c.relname, c.relkind, c.relpersistence, c.relispartition,
       pg_get_userbyid(c.relowner), d.description, c.reltuples, c.relpages,
       COALESCE(toast.relpages, 0), c.relrowsecurity, c.relforcerowsecurity, c.relispopulated,
       am.amname, ts.spcname, c.reloptions,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
       ARRAY(SELECT i.inhparent::int8 FROM pg_inherits i
             WHERE i.inhrelid = c.oid ORDER BY i.inhseqno),
       (SELECT sum(ic.relpages)::int8 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = c.oid),
       fs.srvname, fdw.fdwname, ft.ftoptions,
       format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
       s.seqcycle, owned.refobjid,
       {stats}
FROM pg_class c
LEFT JOIN pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
LEFT JOIN pg_foreign_data_wrapper fdw ON fdw.oid = fs.srvfdw
LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_depend owned
  ON c.relkind = 'S' AND owned.classid = 'pg_class'::regclass AND owned.objid = c.oid
 AND owned.refclassid = 'pg_class'::regclass AND owned.deptype IN ('a', 'i')
 AND owned.refobjsubid > 0
WHERE c.relnamespace = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
"""


VIEW_DEFINITIONS = """
SELECT c.oid, pg_get_viewdef(c.oid)
FROM pg_class c
WHERE c.oid = ANY(%(relations)s)
"""
"""Definitions of the views and materialized views in scope. Apart from the relations query so only
views in scope are deparsed: `pg_get_viewdef` locks the view and what it reads until COMMIT."""


COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, co.collname,
       d.description, a.atttypid, t.typname, t.typcategory, elem.typname
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type elem ON elem.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> t.typcollation
LEFT JOIN pg_description d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attrelid = ANY(%(relations)s) AND a.attnum > 0 AND NOT a.attisdropped
"""
"""Columns of the relations in scope; dropped columns and system columns never appear."""


TYPES = f"""
WITH RECURSIVE closure(oid) AS (
    SELECT unnest(%(types)s::oid[])
  UNION
    SELECT refs.oid
    FROM closure
    JOIN pg_type t ON t.oid = closure.oid
    CROSS JOIN LATERAL (
        SELECT t.typelem WHERE t.typtype = 'b' AND t.typcategory = 'A'
      UNION ALL
        SELECT t.typbasetype WHERE t.typtype = 'd'
      UNION ALL
        SELECT a.atttypid FROM pg_attribute a
        WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0
          AND NOT a.attisdropped
    ) AS refs(oid)
    WHERE t.oid >= {FIRST_NORMAL_OID}
)
SELECT t.oid, n.nspname, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       t.typnotnull, t.typdefault,
       CASE WHEN t.typtype = 'e' THEN ARRAY(
           SELECT e.enumlabel::text FROM pg_enum e
           WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END,
       CASE WHEN t.typtype = 'd' THEN ARRAY(
           SELECT pg_get_constraintdef(con.oid) FROM pg_constraint con
           WHERE con.contypid = t.oid ORDER BY con.conname) END,
       CASE WHEN t.typtype = 'c' THEN (
           SELECT json_agg(json_build_array(
                      a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid::int8,
                      co.collname, ad.description)
                  ORDER BY a.attnum)
           FROM pg_attribute a
           LEFT JOIN pg_collation co
             ON co.oid = a.attcollation AND a.attcollation <> 0
            AND a.attcollation <> (SELECT typcollation FROM pg_type WHERE oid = a.atttypid)
           LEFT JOIN pg_description ad
             ON ad.objoid = t.typrelid AND ad.classoid = 'pg_class'::regclass
            AND ad.objsubid = a.attnum
           WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END,
       d.description
FROM closure
JOIN pg_type t ON t.oid = closure.oid
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_description d
  ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass AND d.objsubid = 0
"""
"""User-defined types the columns use, and every type those reach (a domain's base, an array's
element, a composite type's attribute types), with enum labels, domain constraints and composite
attributes: one query however many composite types, so their members can become nested fields.
Sent only when some column has a type that is not built in."""


CONSTRAINTS = """
SELECT con.conrelid, con.conname, con.contype,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.position),
       ref_ns.nspname, ref.relname,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.position),
       con.confupdtype, con.confdeltype, pg_get_constraintdef(con.oid)
FROM pg_constraint con
LEFT JOIN pg_class ref ON ref.oid = con.confrelid
LEFT JOIN pg_namespace ref_ns ON ref_ns.oid = ref.relnamespace
WHERE con.conrelid = ANY(%(relations)s) AND con.contype IN ('p', 'u', 'f', 'c', 'x')
"""
"""Primary, unique, foreign key, check and exclusion constraints; NOT NULL is a column fact."""


def indexes(caps: Capabilities) -> str:
    """Indexes of the relations in scope: each column's name, or `(expression)` for an expression
    key part, key columns before INCLUDE columns."""
    nulls = "i.indnullsnotdistinct" if caps.nulls_not_distinct else "false"
    return f"""
SELECT i.indrelid, ic.relname, am.amname, i.indisunique, i.indisprimary, i.indisexclusion,
       i.indimmediate, i.indisvalid, i.indnkeyatts,
       ARRAY(SELECT COALESCE(a.attname::text,
                             '(' || pg_get_indexdef(i.indexrelid, k.n, false) || ')')
             FROM generate_series(1, i.indnatts) AS k(n)
             LEFT JOIN pg_attribute a
               ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.n - 1]
              AND i.indkey[k.n - 1] <> 0
             ORDER BY k.n),
       ARRAY(SELECT i.indoption[k.n - 1]::int FROM generate_series(1, i.indnkeyatts) AS k(n)
             ORDER BY k.n),
       pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid), {nulls},
       d.description
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_description d
  ON d.objoid = i.indexrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE i.indrelid = ANY(%(relations)s)
"""


def routines(caps: Capabilities, bodies_visible: bool) -> str:
    """Functions and procedures of the schemas in scope; aggregates, window functions and the
    functions an extension installed (citext alone brings dozens) are left out. A body is shown for
    languages that have one (not `internal` / `c`, whose "source" is a symbol name), and only when
    this role may read `pg_proc.prosrc`."""
    source = (
        "CASE WHEN l.lanname NOT IN ('internal', 'c') THEN p.prosrc END"
        if bodies_visible
        else "NULL"
    )
    sql_body = (
        "CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) END"
        if caps.sql_function_bodies and bodies_visible
        else "NULL"
    )
    return f"""
SELECT p.pronamespace, p.proname, oidvectortypes(p.proargtypes), p.prokind, l.lanname,
       pg_get_function_result(p.oid), pg_get_function_arguments(p.oid), p.provolatile,
       p.proisstrict, p.prosecdef, p.proparallel, pg_get_userbyid(p.proowner), d.description,
       {source}, {sql_body}
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_description d
  ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
WHERE p.pronamespace = ANY(%(schemas)s) AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend dep
      WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e')
"""
