"""Schemas inferred from sampled records: fields with presence and observed types.

Shared by every connector that has no declared schema and reads a sample instead (JSON Lines files
on S3, MongoDB documents). Each field records in how many of the sampled records (or, inside an
array of records, of the elements) it appeared and which types it had; records nest as children,
arrays of records as a repeated field whose children describe the elements.

What a "type" is belongs to the source: a `TypeSystem` names each value (`integer` for JSON, `int`
/ `long` / `decimal` for BSON) and maps the names onto the catalog's `DataType`s. A dict is always
the type system's record kind and a list its array kind, so nesting works the same for every source.

Sampled documents are untrusted: `Limits` bound how deep the shape descends and how many distinct
fields it keeps, and remember what they cut so the connector can warn instead of failing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metadata_pipelines.models import (
    ColumnMetadata,
    DataType,
    FieldInference,
    ObservedType,
    field_path,
)


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


@dataclass(frozen=True)
class TypeSystem:
    """How a source names the type of a value, and what catalog type each name is."""

    type_of: Callable[[Any], str]
    data_types: Mapping[str, DataType]
    record: str = "object"
    array: str = "array"
    null: str = "null"

    def data_type(self, kind: str) -> DataType:
        return self.data_types.get(kind, DataType.UNKNOWN)


JSON_TYPES = TypeSystem(
    json_type,
    {
        "null": DataType.NULL,
        "boolean": DataType.BOOLEAN,
        "integer": DataType.INTEGER,
        "number": DataType.FLOAT,
        "string": DataType.STRING,
        "object": DataType.STRUCT,
        "array": DataType.ARRAY,
    },
)

#: How many cut paths a `Limits` remembers for its warning (the counts are always exact).
_EXAMPLES = 5


@dataclass
class Limits:
    """Bounds shared by every level of one inferred schema, and what they cut."""

    max_depth: int | None = None
    max_fields: int | None = None
    fields: int = 0
    too_deep: list[str] = field(default_factory=list)
    too_deep_count: int = 0
    dropped: list[str] = field(default_factory=list)
    dropped_count: int = 0

    def admit(self, path: str) -> bool:
        """Whether one more distinct field fits; remembers it when it does not."""
        if self.max_fields is not None and self.fields >= self.max_fields:
            self.dropped_count += 1
            if len(self.dropped) < _EXAMPLES and path not in self.dropped:
                self.dropped.append(path)
            return False
        self.fields += 1
        return True

    def descend(self, depth: int, path: str) -> bool:
        """Whether fields at `depth` (0 at the top) may be read; remembers the cut when not."""
        if self.max_depth is None or depth < self.max_depth:
            return True
        self.too_deep_count += 1
        if len(self.too_deep) < _EXAMPLES and path not in self.too_deep:
            self.too_deep.append(path)
        return False

    @property
    def cut(self) -> bool:
        return bool(self.too_deep_count or self.dropped_count)

    def describe(self) -> str:
        """What was cut, for a warning."""
        parts = []
        if self.too_deep_count:
            parts.append(
                f"values nested deeper than max_depth ({self.max_depth}) were not read, "
                f"below {', '.join(self.too_deep)}"
            )
        if self.dropped_count:
            parts.append(
                f"fields past max_schema_fields ({self.max_fields}) were left out, "
                f"e.g. {', '.join(self.dropped)}"
            )
        return "; ".join(parts)


Share = Callable[[int, int], float]
"""share(count, total) -> the share stored for a field (exact by default; a connector may round)."""


def exact_share(count: int, total: int) -> float:
    return count / total if total else 0.0


@dataclass
class _Seen:
    count: int = 0
    types: Counter[str] = field(default_factory=Counter)
    elements: Counter[str] = field(default_factory=Counter)
    members: RecordShape | None = None


@dataclass
class RecordShape:
    """The fields seen across a set of records, in order of first appearance."""

    types: TypeSystem = JSON_TYPES
    limits: Limits = field(default_factory=Limits)
    path: str | None = None
    depth: int = 0
    records: int = 0
    fields: dict[str, _Seen] = field(default_factory=dict)

    def add(self, record: Mapping[str, Any]) -> None:
        self.records += 1
        types = self.types
        for name, value in record.items():
            key = str(name)
            seen = self.fields.get(key)
            if seen is None:
                if not self.limits.admit(field_path(self.path, "", key)):
                    continue
                seen = self.fields[key] = _Seen()
            seen.count += 1
            if isinstance(value, dict):
                kind = types.record
                self._members(seen, key, "").add_all((value,))
            elif isinstance(value, list):
                kind = types.array
                records = []
                for element in value:
                    if isinstance(element, dict):
                        seen.elements[types.record] += 1
                        records.append(element)
                    else:
                        seen.elements[types.type_of(element)] += 1
                if records:
                    self._members(seen, key, "[]").add_all(records)
            else:
                kind = types.type_of(value)
            seen.types[kind] += 1

    def add_all(self, records: Any) -> None:
        for record in records:
            self.add(record)

    def _members(self, seen: _Seen, key: str, marker: str) -> RecordShape | _Skip:
        if seen.members is not None:
            return seen.members
        path = field_path(self.path, "", key) + marker
        if not self.limits.descend(self.depth + 1, path):
            return _SKIP
        seen.members = RecordShape(self.types, self.limits, path, self.depth + 1)
        return seen.members

    def columns(self, *, by_name: bool = False, share: Share = exact_share) -> list[ColumnMetadata]:
        """The fields as catalog columns: in order of first appearance, or by name (`_id`-like
        leading underscores first) when the sample's order is not stable."""
        items = list(self.fields.items())
        if by_name:
            items.sort(key=lambda item: (not item[0].startswith("_"), item[0]))
        return [
            self._column(name, ordinal, seen, by_name, share)
            for ordinal, (name, seen) in enumerate(items, start=1)
        ]

    def _column(
        self, name: str, ordinal: int, seen: _Seen, by_name: bool, share: Share
    ) -> ColumnMetadata:
        types = self.types
        ranked = sorted(seen.types.items(), key=lambda item: (-item[1], item[0]))
        observed = [
            ObservedType(
                native_type=kind, data_type=types.data_type(kind), share=share(count, seen.count)
            )
            for kind, count in ranked
        ]
        non_null = sorted(kind for kind, _ in ranked if kind != types.null)
        if non_null == [types.array]:
            inner = "|".join(sorted(seen.elements))
            native = f"{types.array}<{inner}>" if inner else types.array
        else:
            native = "|".join(non_null) or types.null
        families = {types.data_type(kind) for kind in non_null}
        if len(families) == 1:
            data_type = families.pop()
        else:
            data_type = DataType.JSON if families else DataType.NULL
        children: tuple[ColumnMetadata, ...] = ()
        if seen.members is not None:
            children = tuple(seen.members.columns(by_name=by_name, share=share))
        return ColumnMetadata(
            name=name,
            ordinal=ordinal,
            native_type=native,
            data_type=data_type,
            nullable=seen.count < self.records or types.null in seen.types,
            children=children,
            inference=FieldInference(
                sample_size=self.records,
                presence=share(seen.count, self.records),
                types=observed,
            ),
        )


class _Skip:
    """Stands in for the members of a value too deep to read."""

    def add_all(self, records: Any) -> None:
        return None


_SKIP = _Skip()
