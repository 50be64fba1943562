"""The statements the connector sends: SHOW commands, which run on Snowflake's cloud services and
never wake a warehouse.

Per sync one `SHOW DATABASES`. Per database, whatever the number of tables, at most nine:
schemas, tables, views, columns, primary keys, unique keys, foreign keys (`SHOW IMPORTED KEYS`),
user functions and procedures, each `IN DATABASE`; views and routines are skipped when the config
leaves them out, stages and streams (one statement each) read only when it asks for them, and a
database with no schema in scope stops after the first.

SHOW returns at most 10,000 rows: a larger answer is refused with error 090153. Columns are the kind
that gets there first (20 columns a table: 500 tables); with a warehouse configured they are then
read from the database's `INFORMATION_SCHEMA.COLUMNS` in one statement (the only statement that may
wake a warehouse), so a database costs one statement more however large it grows. Otherwise
(or for another kind) the refused kind is sent once per schema in scope (`IN SCHEMA`); a schema that
still exceeds the limit is paginated (`LIMIT 10000 FROM '<last name>'`, for the kinds that support
it), read from INFORMATION_SCHEMA for columns when a warehouse is configured, or else reported as
an error scoped to that schema. See docs/connectors/snowflake.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from metadata_pipelines.extractors.identifiers import double_quote

#: Most rows a SHOW command returns before Snowflake refuses it (090153).
SHOW_ROW_LIMIT = 10_000


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
STAGES = Kind("STAGES", paginates=False)
STREAMS = Kind("STREAMS", paginates=False)

SHOW_DATABASES = "SHOW DATABASES"


def in_database(kind: Kind, database: str) -> str:
    return f"SHOW {kind.words} IN DATABASE {double_quote(database)}"


def in_schema(kind: Kind, database: str, schema: str, after: str | None = None) -> str:
    sql = f"SHOW {kind.words} IN SCHEMA {double_quote(database)}.{double_quote(schema)}"
    if after is not None or kind.paginates:
        sql += f" LIMIT {SHOW_ROW_LIMIT}"
        if after is not None:
            sql += f" FROM {literal(after)}"
    return sql


def information_schema_columns(database: str, schemas: list[str]) -> str:
    """Columns of some schemas of a database from INFORMATION_SCHEMA: the fallback when SHOW COLUMNS
    is past its row limit. Needs a running warehouse (it may wake one)."""
    names = ", ".join(literal(schema) for schema in schemas)
    return f"""
SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable,
       column_default, character_maximum_length, numeric_precision, numeric_scale, comment
FROM {double_quote(database)}.INFORMATION_SCHEMA.COLUMNS
WHERE table_schema IN ({names})
ORDER BY table_schema, table_name, ordinal_position
"""
