"""Avro schemas as catalog fields, shared by every connector that meets Avro (S3 container files,
Kafka topics whose schemas live in a Schema Registry).

Records nest as STRUCT fields, arrays as repeated fields whose children describe each element, maps
as MAP fields with `key` / `value` children; a union with `null` is a nullable field of the other
branch, any other union is kept whole in `native_type`. Named types (records, enums, fixed) are
remembered by full name, so a later reference by name resolves, including names defined by another
schema a registry schema references (`learn`).
"""

from __future__ import annotations

from typing import Any

from metadata_pipelines.models import ColumnMetadata, DataType

_AVRO_TYPES = {
    "null": DataType.NULL,
    "boolean": DataType.BOOLEAN,
    "int": DataType.INTEGER,
    "long": DataType.INTEGER,
    "float": DataType.FLOAT,
    "double": DataType.FLOAT,
    "bytes": DataType.BINARY,
    "string": DataType.STRING,
}
_AVRO_LOGICAL = {
    "decimal": DataType.DECIMAL,
    "date": DataType.DATE,
    "time-millis": DataType.TIME,
    "time-micros": DataType.TIME,
    "timestamp-millis": DataType.TIMESTAMP,
    "timestamp-micros": DataType.TIMESTAMP,
    "timestamp-nanos": DataType.TIMESTAMP,
    "local-timestamp-millis": DataType.TIMESTAMP,
    "local-timestamp-micros": DataType.TIMESTAMP,
    "local-timestamp-nanos": DataType.TIMESTAMP,
    "uuid": DataType.STRING,
    "duration": DataType.INTERVAL,
}


class AvroSchema:
    """Avro types as catalog fields; named types (records, enums, fixed) are remembered by full name
    so a later reference by name resolves (a recursive reference lists no children)."""

    def __init__(self) -> None:
        self.named: dict[str, Any] = {}
        self.expanding: set[str] = set()

    def learn(self, kind: Any, namespace: str | None = None) -> None:
        """Remember the named types `kind` defines without mapping it: a referenced schema, whose
        names the referencing schema uses."""
        self.type(kind, namespace)

    def columns(self, schema: Any) -> tuple[str, DataType, list[ColumnMetadata]]:
        """A whole schema: (native type, type family, the fields of a record; none otherwise)."""
        return self.type(schema, None)

    @staticmethod
    def full_name(spec: dict[str, Any], namespace: str | None) -> str:
        name: str = spec["name"]
        space = spec.get("namespace", namespace)
        return name if "." in name or not space else f"{space}.{name}"

    def column(
        self, name: str, kind: Any, ordinal: int, doc: str | None, namespace: str | None
    ) -> ColumnMetadata:
        nullable = False
        if isinstance(kind, list) and "null" in kind and len(kind) == 2:
            nullable = True
            kind = next(k for k in kind if k != "null")
        native, data_type, children = self.type(kind, namespace)
        return ColumnMetadata(
            name=name,
            ordinal=ordinal,
            native_type=native,
            data_type=data_type,
            nullable=nullable or data_type is DataType.NULL,
            comment=doc,
            children=tuple(children),
        )

    def type(self, kind: Any, namespace: str | None) -> tuple[str, DataType, list[ColumnMetadata]]:
        if isinstance(kind, list):
            members = [self.type(k, namespace)[0] for k in kind]
            return f"union<{','.join(members)}>", DataType.UNKNOWN, []
        if isinstance(kind, str):
            if kind in _AVRO_TYPES:
                return kind, _AVRO_TYPES[kind], []
            full = kind if "." in kind or namespace is None else f"{namespace}.{kind}"
            spec = self.named.get(full, self.named.get(kind))
            if spec is None:
                return kind, DataType.UNKNOWN, []
            if full in self.expanding:  # a recursive reference
                return spec["name"], DataType.STRUCT, []
            return self.type(spec, namespace)
        logical = kind.get("logicalType")
        base = kind["type"]
        if logical in _AVRO_LOGICAL:
            if logical == "decimal":
                return f"decimal({kind['precision']},{kind.get('scale', 0)})", DataType.DECIMAL, []
            return logical, _AVRO_LOGICAL[logical], []
        if base in ("record", "error", "enum", "fixed"):
            full = self.full_name(kind, namespace)
            self.named[full] = kind
            if base == "enum":
                return f"enum<{','.join(kind['symbols'])}>", DataType.STRING, []
            if base == "fixed":
                return f"fixed({kind['size']})", DataType.BINARY, []
            self.expanding.add(full)
            space = full.rpartition(".")[0] or None  # names inside resolve in its namespace
            children = [
                self.column(f["name"], f["type"], ordinal, f.get("doc"), space)
                for ordinal, f in enumerate(kind["fields"], start=1)
            ]
            self.expanding.discard(full)
            inner = ",".join(f"{c.name}:{c.native_type}" for c in children)
            return f"record<{inner}>", DataType.STRUCT, children
        if base == "array":
            native, _, children = self.type(kind["items"], namespace)
            return f"array<{native}>", DataType.ARRAY, children
        if base == "map":  # keys are strings in Avro
            key = self.column("key", "string", 1, None, namespace)
            value = self.column("value", kind["values"], 2, None, namespace)
            return f"map<string,{value.native_type}>", DataType.MAP, [key, value]
        return self.type(base, namespace)
