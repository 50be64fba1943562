"""The fixed set of information_schema queries the connector sends.

Every per-database query reads one information_schema table filtered by `TABLE_SCHEMA = %s` (or its
equivalent) and nothing else: no joins and no query per table. Measured on MariaDB 10.11 with
2,040 tables and 40,120 columns, each of these runs in milliseconds on the server, while a join of
COLUMNS with TABLES runs as a nested loop (1.3 s for a single 510-table database); the rows are
assembled in Python instead (see mapper.py). Column lists are explicit so that the mapper can unpack
rows positionally, and so that the server does not compute columns nobody reads.

Servers differ (see docs/connectors/mysql.md); `Capabilities` records what this server's
information_schema has, found by one query per sync rather than guessed from version strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from metadata_pipelines.extractors.identifiers import backtick

# Per sync ---------------------------------------------------------------------------------------

CAPABILITIES = """
SELECT TABLE_NAME, COLUMN_NAME
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = 'information_schema'
  AND TABLE_NAME IN ('CHECK_CONSTRAINTS', 'SCHEMATA', 'STATISTICS', 'COLUMNS')
"""


@dataclass(frozen=True)
class Capabilities:
    """Optional information_schema features; each flag names the servers that have it."""

    #: CHECK_CONSTRAINTS exists (MariaDB >= 10.2.1, MySQL >= 8.0.16; not MySQL 5.7).
    check_constraints: bool = False
    #: CHECK_CONSTRAINTS.TABLE_NAME exists (MariaDB only; MySQL 8 needs TABLE_CONSTRAINTS for it).
    check_constraints_table_name: bool = False
    #: SCHEMATA.SCHEMA_COMMENT (MariaDB >= 10.5).
    schema_comment: bool = False
    #: STATISTICS.EXPRESSION: functional key parts (MySQL >= 8.0.13).
    index_expression: bool = False
    #: An expression giving 'YES' / 'NO' for index visibility: STATISTICS.IS_VISIBLE (MySQL 8),
    #: or the negation of STATISTICS.IGNORED (MariaDB >= 10.6).
    index_visibility: str | None = None
    #: COLUMNS.GENERATION_EXPRESSION (MySQL >= 5.7, MariaDB >= 10.2).
    generation_expression: bool = False
    #: MariaDB (>= 10.2.7) reports COLUMN_DEFAULT as SQL text ('abc', NULL, current_timestamp());
    #: MySQL reports the bare value and marks expressions with EXTRA = DEFAULT_GENERATED.
    mariadb: bool = False

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str]], server_version: str) -> Capabilities:
        have = {(table.upper(), column.upper()) for table, column in rows}
        tables = {table for table, _ in have}
        visibility = None
        if ("STATISTICS", "IS_VISIBLE") in have:
            visibility = "IS_VISIBLE"
        elif ("STATISTICS", "IGNORED") in have:
            visibility = "CASE IGNORED WHEN 'YES' THEN 'NO' ELSE 'YES' END"
        return cls(
            check_constraints="CHECK_CONSTRAINTS" in tables,
            check_constraints_table_name=("CHECK_CONSTRAINTS", "TABLE_NAME") in have,
            schema_comment=("SCHEMATA", "SCHEMA_COMMENT") in have,
            index_expression=("STATISTICS", "EXPRESSION") in have,
            index_visibility=visibility,
            generation_expression=("COLUMNS", "GENERATION_EXPRESSION") in have,
            mariadb="mariadb" in server_version.lower(),
        )


def schemata(caps: Capabilities, one_database: bool) -> str:
    """Databases: name, charset, collation, comment. Filtered in Python by the config's patterns."""
    comment = "SCHEMA_COMMENT" if caps.schema_comment else "NULL"
    where = "WHERE SCHEMA_NAME = %s" if one_database else ""
    return f"""
SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME, {comment}
FROM information_schema.SCHEMATA {where}
ORDER BY SCHEMA_NAME
"""


# Per database -----------------------------------------------------------------------------------

_TABLE_STATS = (
    "TABLE_ROWS, AVG_ROW_LENGTH, DATA_LENGTH, INDEX_LENGTH, DATA_FREE, AUTO_INCREMENT, UPDATE_TIME"
)


def tables(include_statistics: bool) -> str:
    """Tables and views. Without statistics, MariaDB can answer from table definitions alone."""
    stats = _TABLE_STATS if include_statistics else ", ".join(["NULL"] * 7)
    return f"""
SELECT TABLE_NAME, TABLE_TYPE, ENGINE, ROW_FORMAT, TABLE_COLLATION, CREATE_OPTIONS, TABLE_COMMENT,
       CREATE_TIME, {stats}
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = %s
ORDER BY TABLE_NAME
"""


def columns(caps: Capabilities) -> str:
    """Columns of every table and view of one database (views' columns come from the server)."""
    generation = "GENERATION_EXPRESSION" if caps.generation_expression else "NULL"
    return f"""
SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE,
       COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, COLUMN_COMMENT, {generation}
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s
"""


def statistics(caps: Capabilities) -> str:
    """Index key parts, one row per (index, column); ordered by the mapper, not the server."""
    expression = "EXPRESSION" if caps.index_expression else "NULL"
    visibility = caps.index_visibility or "NULL"
    return f"""
SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, {expression}, SUB_PART,
       COLLATION, INDEX_TYPE, INDEX_COMMENT, {visibility}
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s
"""


KEY_COLUMN_USAGE = """
SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION,
       REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = %s
"""
"""Primary key, unique and foreign key columns, in key order, with what each foreign key points at."""

REFERENTIAL_CONSTRAINTS = """
SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE, MATCH_OPTION
FROM information_schema.REFERENTIAL_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s
"""
"""ON UPDATE / ON DELETE rules of foreign keys (KEY_COLUMN_USAGE does not carry them)."""


def check_constraints(caps: Capabilities) -> str | None:
    """CHECK constraints with their expression, or None on servers that do not record them."""
    if not caps.check_constraints:
        return None
    if caps.check_constraints_table_name:
        return """
SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s
"""
    # MySQL 8 does not say which table a CHECK belongs to; TABLE_CONSTRAINTS does. Both sides are
    # filtered to one schema, and MySQL 8's information_schema is a set of data-dictionary views, so
    # this join does not hit the nested-loop path of MariaDB's table-opening information_schema.
    return """
SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS cc
JOIN information_schema.TABLE_CONSTRAINTS tc
  ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME
 AND tc.CONSTRAINT_TYPE = 'CHECK'
WHERE cc.CONSTRAINT_SCHEMA = %s AND tc.TABLE_SCHEMA = %s
"""


VIEWS = """
SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, IS_UPDATABLE, DEFINER, SECURITY_TYPE
FROM information_schema.VIEWS
WHERE TABLE_SCHEMA = %s
"""
"""View definitions; sent only when the database has views in scope."""

PARTITIONS = """
SELECT TABLE_NAME, PARTITION_NAME, SUBPARTITION_NAME, PARTITION_ORDINAL_POSITION,
       SUBPARTITION_ORDINAL_POSITION, PARTITION_METHOD, SUBPARTITION_METHOD,
       PARTITION_EXPRESSION, SUBPARTITION_EXPRESSION, PARTITION_DESCRIPTION
FROM information_schema.PARTITIONS
WHERE TABLE_SCHEMA = %s AND PARTITION_NAME IS NOT NULL
"""
"""Partitioning of partitioned tables; sent only when a table's CREATE_OPTIONS says `partitioned`."""

ROUTINES = """
SELECT ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_BODY, ROUTINE_DEFINITION,
       IS_DETERMINISTIC, SQL_DATA_ACCESS, SECURITY_TYPE, DEFINER, ROUTINE_COMMENT, CREATED,
       LAST_ALTERED, SPECIFIC_NAME
FROM information_schema.ROUTINES
WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION')
"""

PARAMETERS = """
SELECT SPECIFIC_NAME, ROUTINE_TYPE, ORDINAL_POSITION, PARAMETER_MODE, PARAMETER_NAME,
       DTD_IDENTIFIER
FROM information_schema.PARAMETERS
WHERE SPECIFIC_SCHEMA = %s AND ORDINAL_POSITION > 0
"""
"""Routine parameters (position 0 is a function's return value); sent only when routines exist."""


def in_range(sql: str, column: str = "TABLE_NAME") -> str:
    """`sql` restricted to the tables whose names lie between two bounds (two more arguments).

    Used to read a database of many tables in parts. The server applies such a condition on table
    names before it opens any table for information_schema, so each part costs what its own
    tables cost. Bounds compare in the column's collation, as the tables query orders them."""
    return f"{sql.rstrip()}\nAND {column} BETWEEN %s AND %s\n"


def privilege_probe(database: str) -> str:
    """Privilege probe for a database that lists no tables: empty, or not readable by this user.

    information_schema silently hides what the user may not see, so an unreadable database looks
    empty (and SHOW DATABASES lets a user list databases it cannot read). SHOW CREATE DATABASE
    needs a privilege on the database and raises error 1044 without one; SHOW TABLES does not (it
    answers an empty list). Sent only for databases with no visible tables.
    """
    return f"SHOW CREATE DATABASE {backtick(database)}"
