"""Arrow schemas (from Parquet footers, CSV inference) as catalog fields, nested types included."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.types as pat

from metadata_pipelines.models import ColumnMetadata, DataType


def columns_from_schema(schema: pa.Schema) -> list[ColumnMetadata]:
    return [_field(f, ordinal) for ordinal, f in enumerate(schema, start=1)]


def _field(arrow_field: pa.Field, ordinal: int) -> ColumnMetadata:
    kind = arrow_field.type
    return ColumnMetadata(
        name=arrow_field.name,
        ordinal=ordinal,
        native_type=str(kind),
        data_type=data_type(kind),
        nullable=arrow_field.nullable,
        children=tuple(_children(kind)),
    )


def _children(kind: pa.DataType) -> list[ColumnMetadata]:
    """Struct members; an array's element record members; a map's key and value."""
    if pat.is_struct(kind):
        return [_field(kind.field(i), i + 1) for i in range(kind.num_fields)]
    if pat.is_map(kind):
        return [_field(kind.key_field, 1), _field(kind.item_field, 2)]
    if pat.is_list(kind) or pat.is_large_list(kind) or pat.is_fixed_size_list(kind):
        element = kind.value_type
        if pat.is_struct(element):
            return _children(element)
    return []


def data_type(kind: pa.DataType) -> DataType:
    if pat.is_boolean(kind):
        return DataType.BOOLEAN
    if pat.is_integer(kind):
        return DataType.INTEGER
    if pat.is_floating(kind):
        return DataType.FLOAT
    if pat.is_decimal(kind):
        return DataType.DECIMAL
    if pat.is_string(kind) or pat.is_large_string(kind) or pat.is_string_view(kind):
        return DataType.STRING
    if pat.is_binary(kind) or pat.is_large_binary(kind) or pat.is_fixed_size_binary(kind):
        return DataType.BINARY
    if pat.is_date(kind):
        return DataType.DATE
    if pat.is_time(kind):
        return DataType.TIME
    if pat.is_timestamp(kind):
        return DataType.TIMESTAMP
    if pat.is_duration(kind) or pat.is_interval(kind):
        return DataType.INTERVAL
    if pat.is_map(kind):
        return DataType.MAP
    if pat.is_list(kind) or pat.is_large_list(kind) or pat.is_fixed_size_list(kind):
        return DataType.ARRAY
    if pat.is_struct(kind):
        return DataType.STRUCT
    if pat.is_null(kind):
        return DataType.NULL
    if pat.is_dictionary(kind):
        return data_type(kind.value_type)
    return DataType.UNKNOWN
