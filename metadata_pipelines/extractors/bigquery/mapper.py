"""Turns BigQuery API resources and INFORMATION_SCHEMA rows into the catalog's models.

Pure functions, no I/O. A table can reach the catalog through two paths, the INFORMATION_SCHEMA rows
of its dataset (the normal one) or its `tables.get` resource (metadata_only and the fallback); both
produce the same properties under the same keys, so a table that moves from one path to the other is
not reported as changed.

Records nest: a RECORD / STRUCT field's members are its `children`; a REPEATED field is an ARRAY whose
children (for a repeated record) are the element's members. A record's `native_type` names only its
kind (`STRUCT`, `ARRAY<STRUCT>`), never its members: a nested field added is then that one field
added, not every enclosing record retyped as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from metadata_pipelines.extractors.bigquery.type_strings import FieldResource, parse_type
from metadata_pipelines.models import (
    ColumnMetadata,
    ContainerType,
    DatabaseMetadata,
    DataType,
    RoutineMetadata,
    RoutineType,
    SchemaMetadata,
    TableMetadata,
    TableType,
)

Row = dict[str, Any]

_CANONICAL = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
_FAMILIES = {
    "INT64": DataType.INTEGER,
    "FLOAT64": DataType.FLOAT,
    "NUMERIC": DataType.DECIMAL,
    "BIGNUMERIC": DataType.DECIMAL,
    "DECIMAL": DataType.DECIMAL,
    "BIGDECIMAL": DataType.DECIMAL,
    "BOOL": DataType.BOOLEAN,
    "STRING": DataType.STRING,
    "BYTES": DataType.BINARY,
    "DATE": DataType.DATE,
    "TIME": DataType.TIME,
    "DATETIME": DataType.TIMESTAMP,
    "TIMESTAMP": DataType.TIMESTAMP,
    "INTERVAL": DataType.INTERVAL,
    "JSON": DataType.JSON,
    "GEOGRAPHY": DataType.GEOMETRY,
    "STRUCT": DataType.STRUCT,
    "RANGE": DataType.UNKNOWN,  # known, but no family fits a range of dates or timestamps
}
_TABLE_TYPES = {
    "TABLE": TableType.TABLE,
    "BASE TABLE": TableType.TABLE,
    "CLONE": TableType.TABLE,
    "VIEW": TableType.VIEW,
    "MATERIALIZED_VIEW": TableType.MATERIALIZED_VIEW,
    "MATERIALIZED VIEW": TableType.MATERIALIZED_VIEW,
    "EXTERNAL": TableType.EXTERNAL_TABLE,
    "SNAPSHOT": TableType.SNAPSHOT,
}
VIEW_TYPES = {"VIEW", "MATERIALIZED_VIEW"}


# Fields -------------------------------------------------------------------------------------------


@dataclass
class FieldDetails:
    """What INFORMATION_SCHEMA says about one field path beyond its type (COLUMNS, COLUMN_FIELD_PATHS)."""

    description: str | None = None
    policy_tags: list[str] = field(default_factory=list)
    collation: str | None = None
    rounding_mode: str | None = None
    default: str | None = None
    nullable: bool | None = None


def canonical_type(field_resource: FieldResource) -> str:
    kind = str(field_resource.get("type") or "").upper()
    return _CANONICAL.get(kind, kind)


def native_type(field_resource: FieldResource) -> str:
    """`STRING(10)`, `NUMERIC(10, 2)`, `ARRAY<INT64>`, `STRUCT`, `ARRAY<STRUCT>`, `RANGE<DATE>`."""
    kind = canonical_type(field_resource)
    if kind == "RANGE":
        element = (field_resource.get("rangeElementType") or {}).get("type") or ""
        inner = f"RANGE<{element.upper()}>" if element else "RANGE"
    elif kind in {"STRING", "BYTES"} and field_resource.get("maxLength"):
        inner = f"{kind}({int(field_resource['maxLength'])})"
    elif field_resource.get("precision") and kind != "STRUCT":
        numbers = [str(int(field_resource["precision"]))]
        if field_resource.get("scale") is not None:
            numbers.append(str(int(field_resource["scale"])))
        inner = f"{kind}({', '.join(numbers)})"
    else:
        inner = kind
    return f"ARRAY<{inner}>" if field_resource.get("mode") == "REPEATED" else inner


def build_columns(
    fields: Iterable[FieldResource],
    details: dict[str, FieldDetails] | None = None,
    top_level: dict[str, dict[str, Any]] | None = None,
    unknown: list[str] | None = None,
) -> list[ColumnMetadata]:
    """Columns (with nested children) from field resources.

    `details` overlays descriptions, policy tags, collation and defaults by dotted field path
    (COLUMN_FIELD_PATHS' form: `addr.geo.lat`); `top_level` adds per-column properties
    (partitioning, clustering); `unknown` collects the paths of types no family fits.
    """
    return _fields(list(fields), None, details or {}, top_level or {}, unknown)


def _fields(
    fields: list[FieldResource],
    parent: str | None,
    details: dict[str, FieldDetails],
    top_level: dict[str, dict[str, Any]],
    unknown: list[str] | None,
) -> list[ColumnMetadata]:
    columns = []
    for ordinal, resource in enumerate(fields, start=1):
        name = str(resource["name"])
        path = f"{parent}.{name}" if parent else name
        kind = canonical_type(resource)
        family = _FAMILIES.get(kind)
        if family is None:
            family = DataType.UNKNOWN
            if unknown is not None:
                unknown.append(path)
        repeated = resource.get("mode") == "REPEATED"
        info = details.get(path, FieldDetails())
        properties: dict[str, Any] = {}
        tags = info.policy_tags or list((resource.get("policyTags") or {}).get("names") or [])
        if tags:
            properties["policy_tags"] = sorted(tags)
        collation = info.collation or resource.get("collation")
        if collation:
            properties["collation"] = collation
        rounding = info.rounding_mode or resource.get("roundingMode")
        if rounding:
            properties["rounding_mode"] = rounding
        if parent is None:
            properties.update(top_level.get(name, {}))
        nullable = resource.get("mode") != "REQUIRED"
        if info.nullable is not None:
            nullable = info.nullable
        children: tuple[ColumnMetadata, ...] = ()
        if kind == "STRUCT":
            children = tuple(
                _fields(resource.get("fields") or [], path, details, top_level, unknown)
            )
        columns.append(
            ColumnMetadata(
                name=name,
                ordinal=ordinal,
                native_type=native_type(resource),
                data_type=DataType.ARRAY if repeated else family,
                nullable=nullable,
                default=info.default or resource.get("defaultValueExpression") or None,
                comment=info.description or resource.get("description") or None,
                children=children,
                properties=properties,
            )
        )
    return columns


# Containers ---------------------------------------------------------------------------------------


def map_project(project_id: str) -> DatabaseMetadata:
    return DatabaseMetadata(name=project_id, container_type=ContainerType.PROJECT)


def map_dataset(resource: dict[str, Any]) -> SchemaMetadata:
    """A dataset from its `datasets.get` resource."""
    reference = resource["datasetReference"]
    properties = _compact(
        {
            "location": resource.get("location"),
            "labels": resource.get("labels") or None,
            "friendly_name": resource.get("friendlyName"),
            "default_table_expiration_ms": _int(resource.get("defaultTableExpirationMs")),
            "default_partition_expiration_ms": _int(resource.get("defaultPartitionExpirationMs")),
            "default_collation": resource.get("defaultCollation") or None,
        }
    )
    return SchemaMetadata(
        database=reference["projectId"],
        name=reference["datasetId"],
        container_type=ContainerType.DATASET,
        comment=resource.get("description") or None,
        created_at=millis(resource.get("creationTime")),
        updated_at=millis(resource.get("lastModifiedTime")),
        properties=properties,
    )


def dataset_stub(project: str, dataset: str) -> SchemaMetadata:
    """A dataset known only by name (it could not be read): keeps its place in the catalog."""
    return SchemaMetadata(database=project, name=dataset, container_type=ContainerType.DATASET)


# Tables -------------------------------------------------------------------------------------------


@dataclass
class Statistics:
    rows: int | None = None
    logical_bytes: int | None = None
    physical_bytes: int | None = None


@dataclass
class DatasetRows:
    """One dataset's INFORMATION_SCHEMA rows, grouped by table name."""

    tables: dict[str, Row] = field(default_factory=dict)
    columns: dict[str, list[Row]] = field(default_factory=dict)
    field_paths: dict[str, list[Row]] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: dict[str, str] = field(default_factory=dict)

    @classmethod
    def group(
        cls,
        tables: list[Row],
        columns: list[Row],
        field_paths: list[Row],
        options: list[Row],
        views: list[Row],
    ) -> DatasetRows:
        grouped = cls()
        grouped.tables = {row["table_name"]: row for row in tables}
        for row in columns:
            grouped.columns.setdefault(row["table_name"], []).append(row)
        for row in field_paths:
            grouped.field_paths.setdefault(row["table_name"], []).append(row)
        for row in options:
            value = parse_option(row.get("option_type"), row.get("option_value"))
            grouped.options.setdefault(row["table_name"], {})[row["option_name"]] = value
        grouped.views = {row["table_name"]: row.get("view_definition") for row in views}
        return grouped


def map_table_from_rows(
    project: str,
    dataset: str,
    listed: dict[str, Any],
    rows: DatasetRows,
    statistics: Statistics | None,
    unknown: list[str],
) -> TableMetadata:
    """A table from its `tables.list` item and its dataset's INFORMATION_SCHEMA rows."""
    name = listed["tableReference"]["tableId"]
    options = rows.options.get(name, {})
    table_row = rows.tables.get(name, {})
    columns_rows = sorted(rows.columns.get(name, []), key=lambda r: int(r["ordinal_position"]))
    columns_rows = [
        r
        for r in columns_rows
        if r.get("is_hidden") != "YES" and r.get("is_system_defined") != "YES"
    ]
    details: dict[str, FieldDetails] = {}
    for row in rows.field_paths.get(name, []):
        details[row["field_path"]] = FieldDetails(
            description=row.get("description") or None,
            policy_tags=list(row.get("policy_tags") or []),
            collation=row.get("collation_name") or None,
            rounding_mode=row.get("rounding_mode") or None,
        )
    fields: list[FieldResource] = []
    partition_field = None
    clustering: list[tuple[int, str]] = []
    for row in columns_rows:
        column = row["column_name"]
        fields.append(parse_type(row["data_type"], column))
        info = details.setdefault(column, FieldDetails())
        info.nullable = row.get("is_nullable") != "NO"
        info.collation = info.collation or row.get("collation_name") or None
        default = row.get("column_default")
        info.default = default if default not in (None, "NULL") else None
        info.rounding_mode = info.rounding_mode or row.get("rounding_mode") or None
        if row.get("is_partitioning_column") == "YES":
            partition_field = column
        if row.get("clustering_ordinal_position") is not None:
            clustering.append((int(row["clustering_ordinal_position"]), column))
    clustering_fields = [c for _, c in sorted(clustering)] or _clustering(listed)
    native = _native_table_type(listed.get("type"), table_row)
    base = _base_from_row(table_row)
    partitioning = _partitioning(
        listed,
        partition_field,
        expiration_days=options.get("partition_expiration_days"),
        require_filter=options.get("require_partition_filter"),
    )
    properties = _table_properties(
        labels=listed.get("labels") or options.get("labels"),
        friendly_name=listed.get("friendlyName") or options.get("friendly_name"),
        partitioning=partitioning,
        clustering_fields=clustering_fields,
        external=_external_from_options(options) if native == "EXTERNAL" else None,
        base=base,
        statistics=statistics,
    )
    return TableMetadata(
        database=project,
        schema_name=dataset,
        name=name,
        table_type=_TABLE_TYPES.get(native, TableType.OTHER),
        native_type=native,
        comment=options.get("description") or None,
        view_definition=rows.views.get(name) if native == "VIEW" else None,
        row_count=statistics.rows if statistics else None,
        size_bytes=statistics.logical_bytes if statistics else None,
        created_at=millis(listed.get("creationTime")) or _aware(table_row.get("creation_time")),
        columns=build_columns(
            fields, details, _top_level(partition_field, clustering_fields), unknown
        ),
        properties=properties,
    )


def map_table_from_resource(
    resource: dict[str, Any], statistics: Statistics | None, unknown: list[str]
) -> TableMetadata:
    """A table from its `tables.get` resource (metadata_only and the fallback path)."""
    reference = resource["tableReference"]
    native = str(resource.get("type") or "TABLE")
    base = None
    if resource.get("snapshotDefinition"):
        definition = resource["snapshotDefinition"]
        base = (_reference(definition.get("baseTableReference")), definition.get("snapshotTime"))
    elif resource.get("cloneDefinition"):
        native = "CLONE"
        definition = resource["cloneDefinition"]
        base = (_reference(definition.get("baseTableReference")), definition.get("cloneTime"))
    partitioning = _partitioning(resource, None, None, None)
    clustering_fields = _clustering(resource)
    external = None
    if native == "EXTERNAL":
        config = resource.get("externalDataConfiguration") or {}
        external = _compact(
            {
                "source_uris": config.get("sourceUris") or None,
                "source_format": config.get("sourceFormat"),
            }
        )
    materialized = None
    view_definition = None
    if native == "VIEW":
        view_definition = (resource.get("view") or {}).get("query")
    elif native == "MATERIALIZED_VIEW":
        view = resource.get("materializedView") or {}
        view_definition = view.get("query")
        interval = _int(view.get("refreshIntervalMs"))
        materialized = _compact(
            {
                "enable_refresh": view.get("enableRefresh"),
                "refresh_interval_minutes": round(interval / 60000, 6) if interval else None,
                "allow_non_incremental_definition": view.get("allowNonIncrementalDefinition"),
            }
        )
    partition_field = (partitioning or {}).get("field")
    properties = _table_properties(
        labels=resource.get("labels"),
        friendly_name=resource.get("friendlyName"),
        partitioning=partitioning,
        clustering_fields=clustering_fields,
        external=external,
        base=base,
        statistics=statistics,
        materialized=materialized,
    )
    return TableMetadata(
        database=reference["projectId"],
        schema_name=reference["datasetId"],
        name=reference["tableId"],
        table_type=_TABLE_TYPES.get(native, TableType.OTHER),
        native_type=native,
        comment=resource.get("description") or None,
        view_definition=view_definition,
        row_count=statistics.rows if statistics else None,
        size_bytes=statistics.logical_bytes if statistics else None,
        created_at=millis(resource.get("creationTime")),
        columns=build_columns(
            (resource.get("schema") or {}).get("fields") or [],
            top_level=_top_level(partition_field, clustering_fields),
            unknown=unknown,
        ),
        properties=properties,
    )


def statistics_from_resource(resource: dict[str, Any]) -> Statistics | None:
    """A table's statistics from its `tables.get` resource (views have none)."""
    if resource.get("type") in VIEW_TYPES:
        return None
    return Statistics(
        rows=_int(resource.get("numRows")),
        logical_bytes=_int(resource.get("numTotalLogicalBytes") or resource.get("numBytes")),
        physical_bytes=_int(resource.get("numTotalPhysicalBytes")),
    )


def statistics_from_storage(row: Row) -> Statistics:
    """One `INFORMATION_SCHEMA.TABLE_STORAGE` row."""
    return Statistics(
        rows=_int(row.get("total_rows")),
        logical_bytes=_int(row.get("total_logical_bytes")),
        physical_bytes=_int(row.get("total_physical_bytes")),
    )


def _native_table_type(listed_type: Any, table_row: Row) -> str:
    row_type = str(table_row.get("table_type") or "")
    if row_type == "CLONE" or (
        row_type == "BASE TABLE" and table_row.get("base_table_name") and listed_type == "TABLE"
    ):
        return "CLONE"
    if listed_type:
        return str(listed_type)
    return {"BASE TABLE": "TABLE", "MATERIALIZED VIEW": "MATERIALIZED_VIEW"}.get(row_type, row_type)


def _base_from_row(row: Row) -> tuple[str | None, Any] | None:
    if not row.get("base_table_name"):
        return None
    name = ".".join(
        str(row[k]) for k in ("base_table_catalog", "base_table_schema", "base_table_name")
    )
    snapshot_ms = row.get("snapshot_time_ms")
    return name, snapshot_ms


def _reference(reference: dict[str, Any] | None) -> str | None:
    if not reference:
        return None
    return f"{reference['projectId']}.{reference['datasetId']}.{reference['tableId']}"


def _partitioning(
    resource: dict[str, Any],
    partition_field: str | None,
    expiration_days: Any,
    require_filter: Any,
) -> dict[str, Any] | None:
    time = resource.get("timePartitioning")
    ranged = resource.get("rangePartitioning")
    result: dict[str, Any] = {}
    if time:
        result["type"] = time.get("type") or "DAY"
        result["field"] = time.get("field") or partition_field
        expiration_ms = _int(time.get("expirationMs"))
        if expiration_ms and expiration_days is None:
            expiration_days = expiration_ms / 86_400_000
    elif ranged:
        result["type"] = "RANGE"
        result["field"] = ranged.get("field") or partition_field
        bounds = ranged.get("range") or {}
        result["range"] = {k: _int(bounds.get(k)) for k in ("start", "end", "interval")}
    elif partition_field:
        result["field"] = partition_field
    if expiration_days is not None:
        result["expiration_days"] = round(float(expiration_days), 6)
    if require_filter is None:
        require_filter = resource.get("requirePartitionFilter")
        if require_filter is None and time:
            require_filter = time.get("requirePartitionFilter")
    if result and require_filter is not None:
        result["require_filter"] = bool(require_filter)
    return _compact(result) or None


def _clustering(resource: dict[str, Any]) -> list[str]:
    return list((resource.get("clustering") or {}).get("fields") or [])


def _top_level(partition_field: str | None, clustering: list[str]) -> dict[str, dict[str, Any]]:
    top: dict[str, dict[str, Any]] = {}
    if partition_field:
        top.setdefault(partition_field, {})["partitioning"] = True
    for position, name in enumerate(clustering, start=1):
        top.setdefault(name, {})["clustering_ordinal"] = position
    return top


def _external_from_options(options: dict[str, Any]) -> dict[str, Any] | None:
    return (
        _compact(
            {"source_uris": options.get("uris") or None, "source_format": options.get("format")}
        )
        or None
    )


def _table_properties(
    *,
    labels: Any,
    friendly_name: Any,
    partitioning: dict[str, Any] | None,
    clustering_fields: list[str],
    external: dict[str, Any] | None,
    base: tuple[str | None, Any] | None,
    statistics: Statistics | None,
    materialized: dict[str, Any] | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "labels": dict(sorted(labels.items())) if labels else None,
        "friendly_name": friendly_name or None,
        "partitioning": partitioning,
        "clustering_fields": clustering_fields or None,
        "external": external,
        "materialized_view": materialized,
    }
    if base is not None:
        properties["base_table"] = base[0]
        snapshot = base[1]
        if snapshot is not None:
            moment = millis(snapshot) if str(snapshot).isdigit() else _timestamp(snapshot)
            properties["snapshot_time"] = moment.isoformat() if moment else None
    if statistics is not None:
        properties["physical_bytes"] = statistics.physical_bytes
    return _compact(properties)


# Routines -----------------------------------------------------------------------------------------


def map_routine(resource: dict[str, Any]) -> RoutineMetadata:
    """A routine from its `routines.get` (or full `routines.list`) resource."""
    reference = resource["routineReference"]
    kind = str(resource.get("routineType") or "")
    arguments = [
        _compact(
            {
                "name": argument.get("name"),
                "mode": argument.get("mode"),
                "kind": argument.get("argumentKind"),
                "type": _sql_type(argument.get("dataType")),
            }
        )
        for argument in resource.get("arguments") or []
    ]
    return_type = _sql_type(resource.get("returnType"))
    if resource.get("returnTableType"):
        columns = (resource["returnTableType"].get("columns")) or []
        return_type = (
            "TABLE<"
            + ", ".join(f"{c.get('name')} {_sql_type(c.get('type'))}" for c in columns)
            + ">"
        )
    return RoutineMetadata(
        database=reference["projectId"],
        schema_name=reference["datasetId"],
        name=reference["routineId"],
        routine_type=RoutineType.PROCEDURE if kind == "PROCEDURE" else RoutineType.FUNCTION,
        return_type=return_type,
        language=resource.get("language"),
        definition=resource.get("definitionBody"),
        comment=resource.get("description") or None,
        created_at=millis(resource.get("creationTime")),
        updated_at=millis(resource.get("lastModifiedTime")),
        properties=_compact(
            {
                "routine_type": kind or None,
                "arguments": arguments or None,
                "determinism_level": resource.get("determinismLevel"),
                "imported_libraries": resource.get("importedLibraries") or None,
            }
        ),
    )


def _sql_type(data_type: dict[str, Any] | None) -> str | None:
    """A `StandardSqlDataType` as GoogleSQL text (`ARRAY<STRUCT<a INT64>>`)."""
    if not data_type:
        return None
    kind = data_type.get("typeKind")
    if kind == "ARRAY":
        return f"ARRAY<{_sql_type(data_type.get('arrayElementType'))}>"
    if kind == "STRUCT":
        members = (data_type.get("structType") or {}).get("fields") or []
        inner = ", ".join(f"{m.get('name')} {_sql_type(m.get('type'))}" for m in members)
        return f"STRUCT<{inner}>"
    if kind == "RANGE":
        return f"RANGE<{_sql_type(data_type.get('rangeElementType'))}>"
    return str(kind) if kind else None


# Values -------------------------------------------------------------------------------------------

_LABEL_PAIR = re.compile(r'\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')


def parse_option(option_type: Any, value: Any) -> Any:
    """A `TABLE_OPTIONS.option_value` (GoogleSQL literal text) as a Python value."""
    if value is None:
        return None
    text = str(value).strip()
    kind = str(option_type or "").upper()
    try:
        if kind == "STRING":
            return json.loads(text) if text.startswith('"') else text.strip("'")
        if kind in {"FLOAT64", "FLOAT"}:
            return float(text)
        if kind in {"INT64", "INTEGER"}:
            return int(text)
        if kind in {"BOOL", "BOOLEAN"}:
            return text.lower() == "true"
        if kind.startswith("ARRAY<STRUCT"):
            return {key: val for key, val in _LABEL_PAIR.findall(text)}
        if kind.startswith("ARRAY"):
            return json.loads(text)
    except ValueError:
        return text
    return text


def millis(value: Any) -> datetime | None:
    """An epoch-milliseconds string (the REST API's timestamps) as an aware datetime."""
    number = _int(value)
    return datetime.fromtimestamp(number / 1000, UTC) if number is not None else None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    try:
        return _aware(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
