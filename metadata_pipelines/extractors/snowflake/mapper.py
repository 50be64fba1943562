"""Turns the rows of Snowflake's SHOW commands into models, one database at a time.

Rows arrive as dicts keyed by the output column names Snowflake documents for each command.
Flags come as 'Y' / 'N', 'true' / 'false' or booleans depending on the command and the release;
`_flag` reads them all. A row the mapper cannot read (a key naming no table, a type it cannot
parse) never fails the database: it becomes a WARNING scoped to its table, and the rest is kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from metadata_pipelines.extractors.snowflake.config import SnowflakeConfig
from metadata_pipelines.extractors.snowflake.types import (
    ColumnType,
    TypeSyntaxError,
    column_type,
    parse_show_type,
)
from metadata_pipelines.models import (
    AssetType,
    ColumnMetadata,
    ConstraintMetadata,
    ConstraintType,
    DatabaseMetadata,
    DataType,
    ExtractionBatch,
    ExtractionError,
    RoutineMetadata,
    RoutineType,
    SchemaMetadata,
    Severity,
    TableMetadata,
    TableType,
)

Row = dict[str, Any]

#: Every property key the mapper sets on a column (checked against secret-key redaction in tests).
COLUMN_PROPERTY_KEYS = ("autoincrement", "collation", "expression", "kind")


def listed_database(row: Row) -> DatabaseMetadata:
    """A row of SHOW DATABASES."""
    properties: dict[str, Any] = {
        "kind": row.get("kind") or "STANDARD",
        "retention_time": _int(row.get("retention_time")),
        "transient": "TRANSIENT" in str(row.get("options") or "").upper(),
    }
    if row.get("origin"):
        properties["origin"] = row["origin"]
    return DatabaseMetadata(
        name=row["name"],
        owner=row.get("owner") or None,
        comment=row.get("comment") or None,
        created_at=_time(row.get("created_on")),
        properties=properties,
    )


def is_shared(row: Row) -> bool:
    """A database made from a share (or an application's): read only with include_shared_databases."""
    kind = str(row.get("kind") or "").upper()
    return bool(row.get("origin")) or kind in {"IMPORTED DATABASE", "APPLICATION"}


@dataclass
class DatabaseRows:
    """What the SHOW commands returned for one database; `errors` are scoped to its schemas."""

    database: DatabaseMetadata
    schemas: list[Row] = field(default_factory=list)
    tables: list[Row] = field(default_factory=list)
    views: list[Row] = field(default_factory=list)
    columns: list[Row] = field(default_factory=list)
    primary_keys: list[Row] = field(default_factory=list)
    unique_keys: list[Row] = field(default_factory=list)
    imported_keys: list[Row] = field(default_factory=list)
    functions: list[Row] = field(default_factory=list)
    procedures: list[Row] = field(default_factory=list)
    stages: list[Row] = field(default_factory=list)
    streams: list[Row] = field(default_factory=list)
    errors: list[ExtractionError] = field(default_factory=list)


class DatabaseMapper:
    """Models for one database's rows, restricted to what the config selects."""

    def __init__(self, rows: DatabaseRows, config: SnowflakeConfig) -> None:
        self.rows = rows
        self.config = config
        self.name = rows.database.name
        self.warnings: list[ExtractionError] = []

    def batches(self, batch_tables: int) -> Iterator[ExtractionBatch]:
        """The database, its schemas and routines with the first tables, then the rest in slices."""
        tables = self._tables()
        first = ExtractionBatch(
            databases=[self.rows.database],
            schemas=self._schemas(),
            routines=self._routines(),
            tables=tables[:batch_tables],
            errors=[*self.rows.errors, *self.warnings],
        )
        yield first
        for start in range(batch_tables, len(tables), batch_tables):
            yield ExtractionBatch(tables=tables[start : start + batch_tables])

    # Containers ---------------------------------------------------------------------------------

    def wanted_schemas(self) -> list[str]:
        return sorted(
            {r["name"] for r in self.rows.schemas if self.config.wants_schema(self.name, r["name"])}
        )

    def _schemas(self) -> list[SchemaMetadata]:
        wanted = set(self.wanted_schemas())
        schemas = []
        for row in sorted(self.rows.schemas, key=lambda r: r["name"]):
            if row["name"] not in wanted:
                continue
            options = str(row.get("options") or "").upper()
            schemas.append(
                SchemaMetadata(
                    database=self.name,
                    name=row["name"],
                    owner=row.get("owner") or None,
                    comment=row.get("comment") or None,
                    created_at=_time(row.get("created_on")),
                    properties={
                        "managed_access": "MANAGED ACCESS" in options,
                        "transient": "TRANSIENT" in options,
                        "retention_time": _int(row.get("retention_time")),
                    },
                )
            )
        return schemas

    # Tables and views ---------------------------------------------------------------------------

    def _tables(self) -> list[TableMetadata]:
        wanted = set(self.wanted_schemas())
        relations: dict[tuple[str, str], TableMetadata] = {}
        for row in self.rows.tables:
            table = self._table(row)
            if table is not None and table.schema_name in wanted:
                relations[(table.schema_name, table.name)] = table
        if self.config.include_views:
            for row in self.rows.views:
                view = self._view(row)
                if view is not None and view.schema_name in wanted:
                    relations[(view.schema_name, view.name)] = view
        for row in self.rows.stages:
            stage = self._stage(row)
            if stage is not None and stage.schema_name in wanted:
                relations[(stage.schema_name, stage.name)] = stage
        for row in self.rows.streams:
            stream = self._stream(row)
            if stream is not None and stream.schema_name in wanted:
                relations[(stream.schema_name, stream.name)] = stream
        self._attach_columns(relations)
        self._attach_keys(relations)
        return [relations[key] for key in sorted(relations)]

    def _wanted(self, schema: str, name: str) -> bool:
        return self.config.wants_table(self.name, schema, name)

    def _table(self, row: Row) -> TableMetadata | None:
        schema, name = row["schema_name"], row["name"]
        if not self._wanted(schema, name):
            return None
        kind = str(row.get("kind") or "TABLE").upper()
        native = _table_kind(row, kind)
        statistics = self.config.include_statistics
        properties: dict[str, Any] = {
            "cluster_by": row.get("cluster_by") or None,
            "retention_time": _int(row.get("retention_time")),
            "automatic_clustering": _flag(row.get("automatic_clustering")),
            "change_tracking": _flag(row.get("change_tracking")),
            "search_optimization": _flag(row.get("search_optimization")),
        }
        return TableMetadata(
            database=self.name,
            schema_name=schema,
            name=name,
            table_type=TableType.EXTERNAL_TABLE if native == "EXTERNAL TABLE" else TableType.TABLE,
            native_type=native,
            comment=row.get("comment") or None,
            owner=row.get("owner") or None,
            row_count=_int(row.get("rows")) if statistics else None,
            size_bytes=_int(row.get("bytes")) if statistics else None,
            created_at=_time(row.get("created_on")),
            properties={k: v for k, v in properties.items() if v is not None},
        )

    def _view(self, row: Row) -> TableMetadata | None:
        schema, name = row["schema_name"], row["name"]
        if not self._wanted(schema, name):
            return None
        materialized = _flag(row.get("is_materialized"))
        secure = _flag(row.get("is_secure"))
        text = (row.get("text") or "").strip() or None
        properties: dict[str, Any] = {"secure": secure}
        if secure and text is None:
            # Snowflake shows a secure view's text to its owner only: record that it is hidden.
            properties["definition_hidden"] = True
        return TableMetadata(
            database=self.name,
            schema_name=schema,
            name=name,
            table_type=TableType.MATERIALIZED_VIEW if materialized else TableType.VIEW,
            native_type="MATERIALIZED VIEW" if materialized else "VIEW",
            comment=row.get("comment") or None,
            owner=row.get("owner") or None,
            view_definition=text,
            created_at=_time(row.get("created_on")),
            properties=properties,
        )

    def _stage(self, row: Row) -> TableMetadata | None:
        """A stage: a named location of files (internal, or external at `url`); no columns."""
        schema, name = row["schema_name"], row["name"]
        if not self._wanted(schema, name):
            return None
        kind = str(row.get("type") or "INTERNAL").upper()
        properties: dict[str, Any] = {
            "url": row.get("url") or None,
            "cloud": row.get("cloud") or None,
            "region": row.get("region") or None,
            "storage_integration": row.get("storage_integration") or None,
            "directory_enabled": _flag(row.get("directory_enabled")),
        }
        return TableMetadata(
            database=self.name,
            schema_name=schema,
            name=name,
            table_type=TableType.STAGE,
            native_type=f"{kind} STAGE",
            comment=row.get("comment") or None,
            owner=row.get("owner") or None,
            created_at=_time(row.get("created_on")),
            properties={k: v for k, v in properties.items() if v is not None},
        )

    def _stream(self, row: Row) -> TableMetadata | None:
        """A stream: the change records of a table or view (its columns are not listed by SHOW)."""
        schema, name = row["schema_name"], row["name"]
        if not self._wanted(schema, name):
            return None
        properties: dict[str, Any] = {
            "source": row.get("table_name") or None,
            "source_type": row.get("source_type") or None,
            "mode": row.get("mode") or None,
            "stale": _flag(row.get("stale")),
            "invalid_reason": row.get("invalid_reason") or None,
        }
        return TableMetadata(
            database=self.name,
            schema_name=schema,
            name=name,
            table_type=TableType.STREAM,
            native_type="STREAM",
            comment=row.get("comment") or None,
            owner=row.get("owner") or None,
            created_at=_time(row.get("created_on")),
            properties={k: v for k, v in properties.items() if v is not None},
        )

    # Columns ------------------------------------------------------------------------------------

    def _attach_columns(self, relations: dict[tuple[str, str], TableMetadata]) -> None:
        seen: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in self.rows.columns:
            key = (row["schema_name"], row["table_name"])
            table = relations.get(key)
            if table is None or row["column_name"] in seen[key]:
                continue
            seen[key].add(row["column_name"])
            table.columns.append(self._column(table, row, len(table.columns) + 1))

    def _column(self, table: TableMetadata, row: Row, ordinal: int) -> ColumnMetadata:
        spec = row.get("type_spec") or parse_show_type(row.get("data_type"))
        try:
            kind = column_type(spec)
        except (TypeSyntaxError, ValueError) as error:
            raw = str(spec.get("type"))
            self._warn(
                table, f"column {row['column_name']!r}: type {raw!r} not understood ({error})"
            )
            kind = ColumnType(raw, DataType.UNKNOWN)
        properties: dict[str, Any] = {}
        if row.get("autoincrement"):
            properties["autoincrement"] = row["autoincrement"]
        if spec.get("collation"):
            properties["collation"] = spec["collation"]
        if row.get("expression"):
            properties["expression"] = row["expression"]
        if row.get("kind") and row["kind"] != "COLUMN":
            properties["kind"] = row["kind"]
        return ColumnMetadata(
            name=row["column_name"],
            ordinal=ordinal,
            native_type=kind.native_type,
            data_type=kind.data_type,
            nullable=_flag(row.get("null?"), default=True),
            default=row.get("default") or None,
            comment=row.get("comment") or None,
            children=kind.children,
            properties=properties,
        )

    # Keys ---------------------------------------------------------------------------------------

    def _attach_keys(self, relations: dict[tuple[str, str], TableMetadata]) -> None:
        for rows, constraint_type in (
            (self.rows.primary_keys, ConstraintType.PRIMARY_KEY),
            (self.rows.unique_keys, ConstraintType.UNIQUE),
        ):
            for (schema, table_name, name), parts in _group(
                rows, "schema_name", "table_name", "constraint_name"
            ).items():
                table = relations.get((schema, table_name))
                if table is None:
                    continue
                columns = [p["column_name"] for p in parts]
                table.constraints.append(
                    ConstraintMetadata(name=name, constraint_type=constraint_type, columns=columns)
                )
                if constraint_type is ConstraintType.PRIMARY_KEY:
                    for column in table.columns:
                        column.is_primary_key = column.is_primary_key or column.name in columns
        for (schema, table_name, name), parts in _group(
            self.rows.imported_keys, "fk_schema_name", "fk_table_name", "fk_name"
        ).items():
            table = relations.get((schema, table_name))
            if table is None:
                continue
            target = parts[0]
            if not (target.get("pk_table_name") and all(p.get("pk_column_name") for p in parts)):
                self._warn(table, f"foreign key {name!r} names no referenced table or column")
                continue
            table.constraints.append(
                ConstraintMetadata(
                    name=name,
                    constraint_type=ConstraintType.FOREIGN_KEY,
                    columns=[p["fk_column_name"] for p in parts],
                    referenced_database=target.get("pk_database_name") or None,
                    referenced_schema=target.get("pk_schema_name") or None,
                    referenced_table=target["pk_table_name"],
                    referenced_columns=[p["pk_column_name"] for p in parts],
                    on_update=target.get("update_rule") or None,
                    on_delete=target.get("delete_rule") or None,
                )
            )
        for table in relations.values():
            table.constraints.sort(key=lambda c: (c.constraint_type.value, c.name or ""))

    # Routines -----------------------------------------------------------------------------------

    def _routines(self) -> list[RoutineMetadata]:
        if not self.config.include_routines:
            return []
        wanted = set(self.wanted_schemas())
        routines: dict[tuple[str, str], RoutineMetadata] = {}
        for rows, routine_type in (
            (self.rows.functions, RoutineType.FUNCTION),
            (self.rows.procedures, RoutineType.PROCEDURE),
        ):
            for row in rows:
                if _flag(row.get("is_builtin")) or row.get("schema_name") not in wanted:
                    continue
                signature, _, returns = str(row.get("arguments") or "").partition(" RETURN ")
                name = signature.strip() or row["name"]
                routines[(row["schema_name"], name)] = RoutineMetadata(
                    database=self.name,
                    schema_name=row["schema_name"],
                    name=name,
                    routine_type=routine_type,
                    return_type=returns.strip() or None,
                    language=row.get("language") or None,
                    comment=_routine_comment(row.get("description")),
                    created_at=_time(row.get("created_on")),
                    properties={
                        "routine_name": row["name"],
                        "secure": _flag(row.get("is_secure")),
                        "table_function": _flag(row.get("is_table_function")),
                        "aggregate": _flag(row.get("is_aggregate")),
                    },
                )
        return [routines[key] for key in sorted(routines)]

    def _warn(self, table: TableMetadata, message: str) -> None:
        self.warnings.append(
            ExtractionError(
                scope=table.path,
                asset_type=AssetType.TABLE,
                message=message,
                severity=Severity.WARNING,
                code="unreadable_metadata",
            )
        )


def _table_kind(row: Row, kind: str) -> str:
    """SHOW TABLES' own word for what a table is: TABLE, TRANSIENT TABLE, DYNAMIC TABLE, ..."""
    for column, word in (
        ("is_external", "EXTERNAL TABLE"),
        ("is_dynamic", "DYNAMIC TABLE"),
        ("is_iceberg", "ICEBERG TABLE"),
        ("is_event", "EVENT TABLE"),
        ("is_hybrid", "HYBRID TABLE"),
    ):
        if _flag(row.get(column)):
            return word
    if kind in ("TRANSIENT", "TEMPORARY", "LOCAL TEMPORARY"):
        return f"{kind} TABLE"
    return "TABLE"


def _group(rows: list[Row], *keys: str) -> dict[tuple[str, ...], list[Row]]:
    grouped: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row.get(k) or "" for k in keys)].append(row)
    for parts in grouped.values():
        parts.sort(key=lambda r: _int(r.get("key_sequence")) or 0)
    return grouped


def _flag(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().upper() in {"Y", "YES", "TRUE", "ON", "1"}


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _routine_comment(description: Any) -> str | None:
    # SHOW FUNCTIONS puts "user-defined function" where no comment was given.
    text = str(description or "").strip()
    return None if text.lower() in {"", "user-defined function", "user-defined procedure"} else text
