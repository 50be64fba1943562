"""MongoDB's answers (listCollections, listIndexes, collStats, `$jsonSchema` validators) as catalog
models. Pure functions: no I/O here, so every mapping is testable with a server's recorded reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bson import json_util

from metadata_pipelines.extractors.mongodb.bson_types import (
    DATA_TYPES,
    JSON_SCHEMA_TYPES,
    bson_type,
)
from metadata_pipelines.models import (
    ColumnMetadata,
    ConstraintMetadata,
    ConstraintType,
    DataType,
    FieldInference,
    IndexMetadata,
    TableMetadata,
    TableType,
)

_JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED)
#: Index key values naming a special index kind (anything else, 1 / -1, is an ordinary B-tree key).
_SPECIAL_KEYS = ("text", "2dsphere", "2d", "geoHaystack", "hashed")


def to_json(value: Any) -> str:
    """Extended JSON (relaxed) of a filter, pipeline or validator, keys in the server's order."""
    return json_util.dumps(value, json_options=_JSON)


def collection_kind(info: Mapping[str, Any]) -> str:
    """`view`, `timeseries`, `capped` or `collection` (the table's `native_type`)."""
    options = info.get("options") or {}
    if info.get("type") == "view" or "viewOn" in options:
        return "view"
    if info.get("type") == "timeseries" or "timeseries" in options:
        return "timeseries"
    if options.get("capped"):
        return "capped"
    return "collection"


def collection_properties(info: Mapping[str, Any]) -> dict[str, Any]:
    """What listCollections says about a collection's kind, options and validation."""
    options = info.get("options") or {}
    properties: dict[str, Any] = {}
    if "viewOn" in options:
        properties["view_on"] = options["viewOn"]
    timeseries = options.get("timeseries")
    if timeseries:
        properties["time_field"] = timeseries.get("timeField")
        properties["meta_field"] = timeseries.get("metaField")
        properties["granularity"] = timeseries.get("granularity")
        for key, name in (
            ("bucketMaxSpanSeconds", "bucket_max_span_seconds"),
            ("bucketRoundingSeconds", "bucket_rounding_seconds"),
        ):
            if key in timeseries:
                properties[name] = timeseries[key]
    if "expireAfterSeconds" in options:
        properties["expire_after_seconds"] = options["expireAfterSeconds"]
    if options.get("capped"):
        properties["capped_size_bytes"] = options.get("size")
        properties["capped_max_documents"] = options.get("max")
    if "clusteredIndex" in options:
        properties["clustered_index"] = to_json(options["clusteredIndex"])
    if "collation" in options:
        properties["collation"] = options["collation"].get("locale")
    validator = options.get("validator")
    if validator:
        properties["validator"] = to_json(validator)
        properties["validation_level"] = options.get("validationLevel", "strict")
        properties["validation_action"] = options.get("validationAction", "error")
    return properties


def json_schema(info: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `$jsonSchema` of a collection's validator, when it has one (also inside a top `$and`)."""
    validator = (info.get("options") or {}).get("validator") or {}
    if "$jsonSchema" in validator:
        return validator["$jsonSchema"]
    for clause in validator.get("$and", ()):
        if isinstance(clause, Mapping) and "$jsonSchema" in clause:
            return clause["$jsonSchema"]
    return None


# Indexes ------------------------------------------------------------------------------------------


def index(spec: Mapping[str, Any]) -> IndexMetadata:
    """One listIndexes entry: keys with their order or kind, and the options that change meaning."""
    keys = list((spec.get("key") or {}).items())
    kinds = {str(v) for _, v in keys if isinstance(v, str)}
    kind = next((k for k in _SPECIAL_KEYS if k in kinds), None)
    if any(name == "$**" or name.endswith(".$**") for name, _ in keys):
        kind = "wildcard"
    properties: dict[str, Any] = {"keys": [[name, _order(value)] for name, value in keys]}
    if kind == "text":
        # A text index keys `_fts` / `_ftsx`; the indexed fields and their weights are in `weights`.
        weights = dict(spec.get("weights") or {})
        prefix = [name for name, _ in keys if name not in ("_fts", "_ftsx")]
        columns = prefix + sorted(weights)
        properties["weights"] = weights
        properties["default_language"] = spec.get("default_language", "english")
        if "language_override" in spec:
            properties["language_override"] = spec["language_override"]
    else:
        columns = [name for name, _ in keys]
    for key, name in (
        ("sparse", "sparse"),
        ("hidden", "hidden"),
        ("expireAfterSeconds", "ttl_seconds"),
        ("2dsphereIndexVersion", "2dsphere_version"),
        ("bits", "bits"),
        ("min", "min"),
        ("max", "max"),
    ):
        if key in spec:
            properties[name] = spec[key]
    for key, name in (
        ("partialFilterExpression", "partial_filter"),
        ("wildcardProjection", "wildcard_projection"),
        ("collation", "collation"),
    ):
        if key in spec:
            properties[name] = to_json(spec[key])
    if "expireAfterSeconds" in spec and kind is None:
        kind = "ttl"
    return IndexMetadata(
        name=str(spec.get("name", "")),
        columns=columns,
        unique=bool(spec.get("unique", False)) or spec.get("name") == "_id_",
        kind=kind or "btree",
        properties=properties,
    )


def _order(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "asc" if value >= 0 else "desc"
    return str(value)


def primary_key(indexes: Sequence[IndexMetadata]) -> list[ConstraintMetadata]:
    """`_id` is the primary key of every collection that has the `_id_` index."""
    if any(i.name == "_id_" for i in indexes):
        return [ConstraintMetadata(constraint_type=ConstraintType.PRIMARY_KEY, columns=["_id"])]
    return []


# Declared fields from `$jsonSchema` ---------------------------------------------------------------


def declared_columns(
    schema: Mapping[str, Any], max_depth: int, depth: int = 0
) -> list[ColumnMetadata]:
    """The fields a `$jsonSchema` names (its `properties`, nested through objects and arrays of
    objects), ordered as inferred fields are: leading underscores first, then by name."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    names = sorted(properties, key=lambda n: (not n.startswith("_"), n))
    columns = []
    for ordinal, name in enumerate(names, start=1):
        spec = properties[name] if isinstance(properties[name], Mapping) else {}
        kinds = _declared_kinds(spec)
        non_null = [k for k in kinds if k != "null"]
        children: list[ColumnMetadata] = []
        native = "|".join(non_null) or "any"
        families = {DATA_TYPES.get(k, DataType.UNKNOWN) for k in non_null}
        data_type = families.pop() if len(families) == 1 else DataType.JSON
        if not non_null:
            data_type = DataType.UNKNOWN
        if depth + 1 < max_depth:
            if "object" in non_null and spec.get("properties"):
                children = declared_columns(spec, max_depth, depth + 1)
            items = spec.get("items")
            if "array" in non_null and isinstance(items, Mapping):
                item_kinds = _declared_kinds(items)
                native = f"array<{'|'.join(item_kinds) or 'any'}>"
                if items.get("properties"):
                    children = declared_columns(items, max_depth, depth + 1)
        columns.append(
            ColumnMetadata(
                name=name,
                ordinal=ordinal,
                native_type=native,
                data_type=data_type,
                nullable=name not in required or "null" in kinds,
                comment=spec.get("description") or spec.get("title"),
                children=tuple(children),
            )
        )
    return columns


def _declared_kinds(spec: Mapping[str, Any]) -> list[str]:
    kinds: list[str] = []
    if "bsonType" in spec:
        value = spec["bsonType"]
        kinds = [value] if isinstance(value, str) else list(value)
    elif "type" in spec:
        value = spec["type"]
        names = [value] if isinstance(value, str) else list(value)
        kinds = [JSON_SCHEMA_TYPES.get(n, n) for n in names]
    elif "properties" in spec:
        kinds = ["object"]
    elif "enum" in spec:
        kinds = sorted({bson_type(v) for v in spec["enum"]})
    return sorted(set(kinds))


def merge_declared(
    inferred: Sequence[ColumnMetadata], declared: Sequence[ColumnMetadata], sample_size: int
) -> list[ColumnMetadata]:
    """Inferred fields and a validator's declared fields as one tree.

    A field in both keeps what sampling saw, marked `declared`, with the validator's description
    and declared type (`properties.declared_type`, `properties.required`). A declared field never
    seen is listed with presence 0 and no observed types. Inferred-only fields are left as they are.
    """
    by_name = {c.name: c for c in declared}
    merged: list[ColumnMetadata] = []
    for column in inferred:
        twin = by_name.pop(column.name, None)
        if twin is None:
            merged.append(column)
            continue
        size = column.inference.sample_size if column.inference else sample_size
        below = _child_sample_size(column)
        merged.append(
            column.model_copy(
                update={
                    "comment": twin.comment or column.comment,
                    "properties": {
                        **column.properties,
                        "declared_type": twin.native_type,
                        "required": not twin.nullable,
                    },
                    "inference": (
                        column.inference.model_copy(update={"declared": True})
                        if column.inference
                        else FieldInference(sample_size=size, presence=0.0, declared=True)
                    ),
                    "children": tuple(merge_declared(column.children, twin.children, below)),
                }
            )
        )
    merged.extend(_unseen(c, sample_size) for c in by_name.values())
    merged.sort(key=lambda c: (not c.name.startswith("_"), c.name))
    return [c.model_copy(update={"ordinal": i}) for i, c in enumerate(merged, start=1)]


def _child_sample_size(column: ColumnMetadata) -> int:
    for child in column.children:
        if child.inference is not None:
            return child.inference.sample_size
    return 0


def _unseen(column: ColumnMetadata, sample_size: int) -> ColumnMetadata:
    return column.model_copy(
        update={
            "properties": {"declared_type": column.native_type, "required": not column.nullable},
            "inference": FieldInference(sample_size=sample_size, presence=0.0, declared=True),
            "children": tuple(_unseen(c, 0) for c in column.children),
        }
    )


# The collection -----------------------------------------------------------------------------------


def table(
    database: str,
    info: Mapping[str, Any],
    *,
    stats: Mapping[str, Any] | None,
    columns: list[ColumnMetadata],
    indexes: list[IndexMetadata],
    sample: Mapping[str, Any],
) -> TableMetadata:
    """A collection or view as a catalog table; `sample` says how its fields were inferred."""
    kind = collection_kind(info)
    options = info.get("options") or {}
    properties = collection_properties(info)
    properties.update(sample)
    row_count = size_bytes = None
    if stats:
        row_count = _int(stats.get("count"))
        size_bytes = _int(stats.get("storageSize"))
        properties["avg_document_size"] = _int(stats.get("avgObjSize"))
        properties["data_size_bytes"] = _int(stats.get("size"))
        properties["indexes_size_bytes"] = _int(stats.get("totalIndexSize"))
        properties["index_sizes"] = {k: _int(v) for k, v in (stats.get("indexSizes") or {}).items()}
    return TableMetadata(
        database=database,
        name=str(info["name"]),
        table_type=TableType.VIEW if kind == "view" else TableType.COLLECTION,
        native_type=kind,
        view_definition=to_json(options.get("pipeline", [])) if kind == "view" else None,
        row_count=row_count,
        size_bytes=size_bytes,
        columns=columns,
        constraints=primary_key(indexes),
        indexes=indexes,
        properties=properties,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
