"""Schemas inferred from sampled JSON records: fields with presence and observed types.

Each field records in how many of the sampled records (or, inside an array of objects, of the
elements) it appeared and which JSON types it had; objects nest as children, arrays of objects as a
repeated field whose children describe the elements.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from metadata_pipelines.models import ColumnMetadata, DataType, FieldInference, ObservedType

_TYPES = {
    "null": DataType.NULL,
    "boolean": DataType.BOOLEAN,
    "integer": DataType.INTEGER,
    "number": DataType.FLOAT,
    "string": DataType.STRING,
    "object": DataType.STRUCT,
    "array": DataType.ARRAY,
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


@dataclass
class _Seen:
    count: int = 0
    types: Counter[str] = field(default_factory=Counter)
    members: RecordShape | None = None


@dataclass
class RecordShape:
    """The fields seen across a set of records, in order of first appearance."""

    records: int = 0
    fields: dict[str, _Seen] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        self.records += 1
        for name, value in record.items():
            seen = self.fields.setdefault(str(name), _Seen())
            seen.count += 1
            kind = json_type(value)
            if kind == "array":
                elements = [v for v in value if isinstance(v, dict)]
                if elements:
                    kind = "array<object>"
                    seen.members = seen.members or RecordShape()
                    for element in elements:
                        seen.members.add(element)
            elif kind == "object":
                seen.members = seen.members or RecordShape()
                seen.members.add(value)
            seen.types[kind] += 1

    def columns(self) -> list[ColumnMetadata]:
        return [
            self._column(name, ordinal, seen)
            for ordinal, (name, seen) in enumerate(self.fields.items(), start=1)
        ]

    def _column(self, name: str, ordinal: int, seen: _Seen) -> ColumnMetadata:
        ranked = seen.types.most_common()
        observed = [
            ObservedType(
                native_type=kind,
                data_type=_TYPES.get(kind, DataType.ARRAY),
                share=count / seen.count,
            )
            for kind, count in ranked
        ]
        non_null = [kind for kind, _ in ranked if kind != "null"]
        if len(non_null) == 1:
            native = non_null[0]
            kind_type = _TYPES.get(native, DataType.ARRAY)
        elif non_null:
            native = "|".join(sorted(non_null))
            kind_type = DataType.JSON
        else:
            native, kind_type = "null", DataType.NULL
        children = ()
        if seen.members is not None and kind_type in (DataType.STRUCT, DataType.ARRAY):
            children = tuple(seen.members.columns())
        return ColumnMetadata(
            name=name,
            ordinal=ordinal,
            native_type=native,
            data_type=kind_type,
            nullable=seen.count < self.records or "null" in seen.types,
            children=children,
            inference=FieldInference(
                sample_size=self.records, presence=seen.count / self.records, types=observed
            ),
        )
