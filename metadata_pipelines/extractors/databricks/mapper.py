"""Unity Catalog JSON -> metadata models.

The API objects are parsed with lenient pydantic models first (unknown fields ignored, because the
hosted service returns many more than the open-source spec), so a wrong shape becomes one clear
`SourceResponseError` instead of a KeyError deep in the mapping. Facts with no dedicated field go into
`properties`, with datetimes as ISO strings and UC's own property maps redacted like ours.

Columns are the bulk of a workspace (100,000 in the benchmark), so their path is kept lean: a page
of tables is validated straight from its bytes (`read_tables_page`), an API column as a TypedDict (a
plain dict, not a model instance with its own `__dict__` and fields-set), its type family is looked
up once per distinct `type_name`, and a table's columns are validated into `ColumnMetadata` in the
same pydantic call as the table itself, from plain dicts. Every value still goes through the
contract models' validation (and their properties redaction).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Required

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from metadata_pipelines.extractors.databricks.complex_types import nested_fields
from metadata_pipelines.extractors.errors import SourceResponseError
from metadata_pipelines.models import (
    DatabaseMetadata,
    DataType,
    SchemaMetadata,
    TableMetadata,
    TableType,
    redact_properties,
)


class _Api(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Securable(_Api):
    """Fields every Unity Catalog securable (catalog, schema, table) shares."""

    name: str
    comment: str | None = None
    owner: str | None = None
    properties: dict[str, Any] | None = None
    created_at: int | None = None
    created_by: str | None = None
    updated_at: int | None = None
    updated_by: str | None = None
    browse_only: bool | None = None


class CatalogInfo(_Securable):
    id: str | None = None
    storage_root: str | None = None
    storage_location: str | None = None
    catalog_type: str | None = None
    isolation_mode: str | None = None
    connection_name: str | None = None
    provider_name: str | None = None
    share_name: str | None = None


class SchemaInfo(_Securable):
    catalog_name: str
    full_name: str | None = None
    schema_id: str | None = None
    storage_root: str | None = None
    storage_location: str | None = None


class ColumnInfo(TypedDict, total=False):
    """One API column: validated like the models above (unknown keys dropped), but kept a dict.

    Absent keys stay absent; `nullable` defaults to True where it is read.
    """

    name: Required[str]
    type_text: str | None
    type_json: str | None
    type_name: str | None
    type_precision: int | None
    type_scale: int | None
    type_interval_type: str | None
    position: int | None
    comment: str | None
    nullable: bool
    partition_index: int | None


class TableInfo(_Securable):
    catalog_name: str
    schema_name: str
    table_type: str | None = None
    data_source_format: str | None = None
    columns: list[ColumnInfo] = Field(default_factory=list)
    storage_location: str | None = None
    table_id: str | None = None
    view_definition: str | None = None
    view_dependencies: dict[str, Any] | None = None
    full_name: str | None = None
    pipeline_id: str | None = None
    deleted_at: int | None = None


class TablesPage(TypedDict, total=False):
    """One `/tables` page, validated straight from its bytes in a single pydantic-core pass.

    Why: decoding to dicts first and then validating each table builds every column twice. When any
    part of a page does not fit, the client falls back to plain decoding and each table is then
    validated on its own, so one malformed table costs only itself.
    """

    tables: list[TableInfo] | None
    next_page_token: str | None


read_tables_page = TypeAdapter(TablesPage).validate_json

TABLE_TYPES: dict[str, TableType] = {
    "MANAGED": TableType.TABLE,
    "MANAGED_SHALLOW_CLONE": TableType.TABLE,
    "EXTERNAL": TableType.EXTERNAL_TABLE,
    "EXTERNAL_SHALLOW_CLONE": TableType.EXTERNAL_TABLE,
    "FOREIGN": TableType.EXTERNAL_TABLE,
    "VIEW": TableType.VIEW,
    "METRIC_VIEW": TableType.VIEW,
    "MATERIALIZED_VIEW": TableType.MATERIALIZED_VIEW,
    "STREAMING_TABLE": TableType.STREAMING_TABLE,
}

DATA_TYPES: dict[str, DataType] = {
    "BOOLEAN": DataType.BOOLEAN,
    "BYTE": DataType.INTEGER,
    "SHORT": DataType.INTEGER,
    "INT": DataType.INTEGER,
    "LONG": DataType.INTEGER,
    "FLOAT": DataType.FLOAT,
    "DOUBLE": DataType.FLOAT,
    "DECIMAL": DataType.DECIMAL,
    "DATE": DataType.DATE,
    "TIME": DataType.TIME,
    "TIMESTAMP": DataType.TIMESTAMP,
    "TIMESTAMP_NTZ": DataType.TIMESTAMP,
    "STRING": DataType.STRING,
    "CHAR": DataType.STRING,
    "BINARY": DataType.BINARY,
    "INTERVAL": DataType.INTERVAL,
    "ARRAY": DataType.ARRAY,
    "MAP": DataType.MAP,
    "STRUCT": DataType.STRUCT,
    "VARIANT": DataType.JSON,
    "NULL": DataType.NULL,
    "GEOGRAPHY": DataType.GEOMETRY,
    "GEOMETRY": DataType.GEOMETRY,
}


def parse(model: type[_Api], raw: Any, what: str) -> Any:
    """Validate one API object, turning a shape mismatch into a readable SourceResponseError."""
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(root)'}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)[:5]
        )
        raise SourceResponseError(
            f"{what}: unexpected {model.__name__} shape ({problems})"
        ) from None


def epoch_ms(value: int | None) -> datetime | None:
    """UC timestamps are epoch milliseconds; out-of-range values are dropped, not fatal."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _iso(value: int | None) -> str | None:
    moment = epoch_ms(value)
    return moment.isoformat() if moment else None


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _uc_properties(properties: dict[str, Any] | None) -> dict[str, Any] | None:
    if not properties:
        return None
    return redact_properties({str(k): v if v is None else str(v) for k, v in properties.items()})


def map_catalog(info: CatalogInfo) -> DatabaseMetadata:
    return DatabaseMetadata(
        name=info.name,
        comment=info.comment or None,
        owner=info.owner,
        created_at=epoch_ms(info.created_at),
        updated_at=epoch_ms(info.updated_at),
        properties=_clean(
            {
                "catalog_id": info.id,
                "catalog_type": info.catalog_type,
                "created_by": info.created_by,
                "updated_by": info.updated_by,
                "storage_root": info.storage_root,
                "storage_location": info.storage_location,
                "isolation_mode": info.isolation_mode,
                "connection_name": info.connection_name,
                "provider_name": info.provider_name,
                "share_name": info.share_name,
                "browse_only": info.browse_only,
                "uc_properties": _uc_properties(info.properties),
            }
        ),
    )


def map_schema(info: SchemaInfo) -> SchemaMetadata:
    return SchemaMetadata(
        database=info.catalog_name,
        name=info.name,
        comment=info.comment or None,
        owner=info.owner,
        created_at=epoch_ms(info.created_at),
        updated_at=epoch_ms(info.updated_at),
        properties=_clean(
            {
                "full_name": info.full_name or f"{info.catalog_name}.{info.name}",
                "schema_id": info.schema_id,
                "created_by": info.created_by,
                "updated_by": info.updated_by,
                "storage_root": info.storage_root,
                "storage_location": info.storage_location,
                "browse_only": info.browse_only,
                "uc_properties": _uc_properties(info.properties),
            }
        ),
    )


# Column facts kept as properties, in this order, when present and not null.
COLUMN_PROPERTIES = (
    "type_name",
    "type_json",
    "type_precision",
    "type_scale",
    "type_interval_type",
    "partition_index",
)


@lru_cache(maxsize=1024)
def _type_family(type_name: str | None) -> tuple[DataType, str, bool]:
    """(normalized family, lower-case name, whether it nests) of a `type_name`; a workspace repeats
    a few dozen, so the per-column loop asks nothing else about the type."""
    upper = (type_name or "").upper()
    family = DATA_TYPES.get(upper, DataType.UNKNOWN)
    return family, upper.lower(), family in (DataType.STRUCT, DataType.ARRAY, DataType.MAP)


def column_fields(columns: list[ColumnInfo]) -> tuple[list[dict[str, Any]], list[str] | None]:
    """`ColumnMetadata` fields for a table's API columns, in ordinal order, and the names of its
    partition columns in partition order. A STRUCT, ARRAY or MAP column gets its nested fields
    from `type_json` (complex_types.py).

    The bulk of a workspace (100,000 columns in the benchmark) goes through this loop, so it is
    written out: no call per column, properties gathered without a comprehension's frame.
    """
    fields = []
    partitions = []
    for index, column in enumerate(columns):
        get = column.get
        data_type, lower_name, nests = _type_family(get("type_name"))
        position = get("position")
        properties = {}
        for key in COLUMN_PROPERTIES:
            value = get(key)
            if value is not None:
                properties[key] = value
        if (partition := properties.get("partition_index")) is not None:
            partitions.append((partition, column["name"]))
        field = {
            "name": column["name"],
            "ordinal": position + 1 if position is not None and position >= 0 else index + 1,
            "native_type": get("type_text") or lower_name or "unknown",
            "data_type": data_type,
            "nullable": get("nullable", True),
            "comment": get("comment") or None,
            "properties": properties,
        }
        if nests and (children := nested_fields(get("type_json"))):
            field["children"] = children
        fields.append(field)
    fields.sort(key=itemgetter("ordinal"))
    return fields, [name for _, name in sorted(partitions, key=itemgetter(0))] or None


def view_dependency_names(raw: dict[str, Any] | None) -> list[str] | None:
    """Full names of the tables and functions in a `view_dependencies` DependencyList."""
    if not raw or not isinstance(raw.get("dependencies"), list):
        return None
    names = []
    for item in raw["dependencies"]:
        if not isinstance(item, dict):
            continue
        table = item.get("table") or {}
        function = item.get("function") or {}
        name = table.get("table_full_name") or function.get("function_full_name")
        if isinstance(name, str):
            names.append(name)
    return names or None


def map_table(info: TableInfo) -> TableMetadata:
    native_type = (info.table_type or "").upper() or None
    columns, partition_columns = column_fields(info.columns)
    # One validation call for the table and its columns, from plain dicts.
    return TableMetadata.model_validate(
        {
            "database": info.catalog_name,
            "schema_name": info.schema_name,
            "name": info.name,
            "table_type": TABLE_TYPES.get(native_type or "", TableType.OTHER),
            "native_type": native_type,
            "comment": info.comment or None,
            "owner": info.owner,
            "view_definition": info.view_definition,
            "created_at": epoch_ms(info.created_at),
            "updated_at": epoch_ms(info.updated_at),
            "columns": columns,
            "properties": _clean(
                {
                    "full_name": info.full_name
                    or f"{info.catalog_name}.{info.schema_name}.{info.name}",
                    "table_id": info.table_id,
                    "data_source_format": info.data_source_format,
                    "storage_location": info.storage_location,
                    "created_by": info.created_by,
                    "updated_by": info.updated_by,
                    "pipeline_id": info.pipeline_id,
                    "browse_only": info.browse_only,
                    "deleted_at": _iso(info.deleted_at),
                    "view_dependencies": view_dependency_names(info.view_dependencies),
                    "partition_columns": partition_columns,
                    "uc_properties": _uc_properties(info.properties),
                }
            ),
        }
    )
