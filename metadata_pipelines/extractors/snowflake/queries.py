"""The statements the connector sends: SHOW commands, which run on Snowflake's cloud services and
never wake a warehouse.

Per sync one `SHOW DATABASES`. Per database, whatever the number of tables, at most nine:
schemas, tables, views, columns, primary keys, unique keys, foreign keys (`SHOW IMPORTED KEYS`),
user functions and procedures, each `IN DATABASE`; views, statistics-free listing and routines are
skipped when the config leaves them out, and a database with no schema in scope stops after the
first.

SHOW returns at most 10,000 rows: a larger answer is refused with error 090153. The extractor then
sends that kind again once per schema in scope (`IN SCHEMA`); a schema that still exceeds the limit is
paginated (`LIMIT 10000 FROM '<last name>'`, for the kinds that support it), read from
`INFORMATION_SCHEMA.COLUMNS` for columns when a warehouse is configured (the only statement that may
wake one), or else reported as an error scoped to that schema. See docs/connectors/snowflake.md.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Most rows a SHOW command returns before Snowflake refuses it (090153).
SHOW_ROW_LIMIT = 10_000


def quote(name: str) -> str:
    """A Snowflake identifier, quoted: names are case-sensitive once stored, and may hold anything."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Kind:
    """One kind of SHOW command: its object words, and whether it takes `LIMIT ... FROM`."""

    words: str
    paginates: bool
    #: The column holding the object's name (for `FROM '<last name>'`).
    name_column: str = "name"


SCHEMAS = Kind("SCHEMAS", paginates=True)
TABLES = Kind("TABLES", paginates=True)
VIEWS = Kind("VIEWS", paginates=True)
COLUMNS = Kind("COLUMNS", paginates=False)
PRIMARY_KEYS = Kind("PRIMARY KEYS", paginates=False)
UNIQUE_KEYS = Kind("UNIQUE KEYS", paginates=False)
IMPORTED_KEYS = Kind("IMPORTED KEYS", paginates=False)
FUNCTIONS = Kind("USER FUNCTIONS", paginates=True)
PROCEDURES = Kind("PROCEDURES", paginates=True)

SHOW_DATABASES = "SHOW DATABASES"


def in_database(kind: Kind, database: str) -> str:
    return f"SHOW {kind.words} IN DATABASE {quote(database)}"


def in_schema(kind: Kind, database: str, schema: str, after: str | None = None) -> str:
    sql = f"SHOW {kind.words} IN SCHEMA {quote(database)}.{quote(schema)}"
    if after is not None or kind.paginates:
        sql += f" LIMIT {SHOW_ROW_LIMIT}"
        if after is not None:
            sql += f" FROM {literal(after)}"
    return sql


def information_schema_columns(database: str, schema: str) -> str:
    """Columns of one schema from INFORMATION_SCHEMA: needs a running warehouse (it may wake one)."""
    return f"""
SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable,
       column_default, character_maximum_length, numeric_precision, numeric_scale, comment
FROM {quote(database)}.INFORMATION_SCHEMA.COLUMNS
WHERE table_schema = {literal(schema)}
ORDER BY table_name, ordinal_position
"""
