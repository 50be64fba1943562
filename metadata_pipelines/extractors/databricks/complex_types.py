"""A complex column's `type_json` (Spark's JSON schema of the column) -> its nested fields.

Unity Catalog describes a STRUCT / ARRAY / MAP column twice: `type_text` (`struct<a:int,b:array<
struct<c:string>>>`) and `type_json`, the column as a Spark `StructField` in JSON. The children are
read from the JSON, which needs no parsing of nested angle brackets and carries each member's
nullability and comment:

    {"name": "s", "type": {"type": "struct", "fields": [
        {"name": "a", "type": "integer", "nullable": true, "metadata": {}},
        {"name": "b", "type": {"type": "array", "elementType": {"type": "struct", "fields": [...]},
                               "containsNull": true}, "nullable": true, "metadata": {"comment": "…"}}
    ]}, "nullable": true, "metadata": {}}

As the model says (`ColumnMetadata.children`), a STRUCT's children are its members, an ARRAY's the
members of its element's struct, a MAP's the members of its value's struct (arrays and maps are
looked through, `array<array<struct<…>>>` included); the exact type stays in `native_type`. A JSON
that does not have this shape leaves the column flat, as it was before this module. Nesting is cut
at the model's depth limit, with `children_truncated` set on the field that was cut.
"""

from __future__ import annotations

import json
import re
from typing import Any

from metadata_pipelines.models import MAX_FIELD_DEPTH, DataType

# Spark's JSON names of simple types -> Databricks SQL names and families.
_SIMPLE: dict[str, tuple[str, DataType]] = {
    "boolean": ("boolean", DataType.BOOLEAN),
    "byte": ("tinyint", DataType.INTEGER),
    "short": ("smallint", DataType.INTEGER),
    "integer": ("int", DataType.INTEGER),
    "long": ("bigint", DataType.INTEGER),
    "float": ("float", DataType.FLOAT),
    "double": ("double", DataType.FLOAT),
    "date": ("date", DataType.DATE),
    "timestamp": ("timestamp", DataType.TIMESTAMP),
    "timestamp_ntz": ("timestamp_ntz", DataType.TIMESTAMP),
    "string": ("string", DataType.STRING),
    "binary": ("binary", DataType.BINARY),
    "void": ("void", DataType.NULL),
    "variant": ("variant", DataType.JSON),
}
_PREFIXED: tuple[tuple[str, DataType], ...] = (
    ("decimal", DataType.DECIMAL),
    ("char", DataType.STRING),
    ("varchar", DataType.STRING),
    ("interval", DataType.INTERVAL),
    ("geography", DataType.GEOMETRY),
    ("geometry", DataType.GEOMETRY),
)
_CONTAINERS = {"struct": DataType.STRUCT, "array": DataType.ARRAY, "map": DataType.MAP}


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Malformed(ValueError):
    pass


def nested_fields(type_json: str | None) -> list[dict[str, Any]]:
    """The children of a complex column as `ColumnMetadata` dicts; [] when there are none or the
    JSON is not a Spark field of a complex type."""
    if not type_json:
        return []
    try:
        field = json.loads(type_json)
        if not isinstance(field, dict):
            raise _Malformed
        return _children(field.get("type"), 1)
    except (ValueError, TypeError, RecursionError):
        return []


def _children(spark_type: Any, depth: int) -> list[dict[str, Any]]:
    """The members of the struct inside `spark_type` (through arrays and maps), at `depth`."""
    while isinstance(spark_type, dict) and spark_type.get("type") in ("array", "map"):
        spark_type = spark_type.get("elementType" if spark_type["type"] == "array" else "valueType")
    if not isinstance(spark_type, dict) or spark_type.get("type") != "struct":
        return []
    members = spark_type.get("fields")
    if not isinstance(members, list):
        raise _Malformed
    return [_member(member, ordinal, depth) for ordinal, member in enumerate(members, start=1)]


def _member(member: Any, ordinal: int, depth: int) -> dict[str, Any]:
    if not isinstance(member, dict) or not isinstance(member.get("name"), str):
        raise _Malformed
    spark_type = member.get("type")
    native_type, data_type = _describe(spark_type)
    metadata = member.get("metadata")
    comment = metadata.get("comment") if isinstance(metadata, dict) else None
    field: dict[str, Any] = {
        "name": member["name"],
        "ordinal": ordinal,
        "native_type": native_type,
        "data_type": data_type,
        "nullable": member.get("nullable", True) is not False,
        "comment": comment if isinstance(comment, str) and comment else None,
    }
    if data_type in (DataType.STRUCT, DataType.ARRAY, DataType.MAP):
        if depth + 1 >= MAX_FIELD_DEPTH:
            field["properties"] = {"children_truncated": True}
        elif children := _children(spark_type, depth + 1):
            field["children"] = children
    return field


def _describe(spark_type: Any) -> tuple[str, DataType]:
    """(Databricks SQL type text, family) of a Spark JSON type."""
    if isinstance(spark_type, str):
        if spark_type in _SIMPLE:
            return _SIMPLE[spark_type]
        for prefix, family in _PREFIXED:
            if spark_type.startswith(prefix):
                return spark_type, family
        return spark_type, DataType.UNKNOWN
    if not isinstance(spark_type, dict) or spark_type.get("type") not in _CONTAINERS:
        raise _Malformed
    kind = spark_type["type"]
    if kind == "array":
        return f"array<{_describe(spark_type.get('elementType'))[0]}>", DataType.ARRAY
    if kind == "map":
        key, value = (
            _describe(spark_type.get("keyType"))[0],
            _describe(spark_type.get("valueType"))[0],
        )
        return f"map<{key},{value}>", DataType.MAP
    members = spark_type.get("fields")
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise _Malformed
    inner = ",".join(f"{_sql_name(m.get('name'))}:{_describe(m.get('type'))[0]}" for m in members)
    return f"struct<{inner}>", DataType.STRUCT


def _sql_name(name: Any) -> str:
    """A member name as Databricks SQL writes it in a type: backticks around anything not plain."""
    if not isinstance(name, str):
        raise _Malformed
    return name if _PLAIN.fullmatch(name) else "`" + name.replace("`", "``") + "`"
