"""A batch with each table kept as its JSON and content hash, so persistence parses only what changed.

A table's content hash is the digest of its JSON with the volatile statistics left out
(models.VOLATILE_STATISTICS, an inferred field's `sample_size`). The extract step computes it while
it serializes the batch for the handover anyway; the persist step then compares it with the stored
hash and parses a table (its columns, keys and indexes into models, then into rows) only when it
is new or changed. An unchanged re-sync of a million columns so reads its batches without building a
single column model. Every path to the catalog (a handed-over batch, a whole ExtractionResult)
hashes tables with `prepare_table`, so the hash has one definition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from metadata_pipelines.models import (
    VOLATILE_STATISTICS,
    ColumnMetadata,
    ExtractionBatch,
    TableMetadata,
    qualified_name,
)

_TABLE_STATISTICS = ("row_count", "size_bytes")


class PreparedTable(BaseModel):
    """One table of a batch: its name and hash, its JSON parsed only on demand."""

    model_config = ConfigDict(extra="forbid")

    qualified_name: str
    content_hash: str
    #: Fields of the table, nested ones included (counted as unchanged without parsing them).
    fields: int
    #: TableMetadata JSON without the volatile statistics: exactly what `content_hash` digests.
    table: str
    #: What `table` leaves out and `load` puts back (models.VOLATILE_STATISTICS): the table's
    #: `row_count` and `size_bytes`, its volatile properties, and its inferred fields' sample sizes
    #: as (field index in `iter_fields` order, size).
    statistics: dict[str, int] = Field(default_factory=dict)
    volatile_properties: dict[str, Any] = Field(default_factory=dict)
    sample_sizes: list[tuple[int, int]] = Field(default_factory=list)

    def load(self) -> TableMetadata:
        table = TableMetadata.model_validate_json(self.table)
        for name, value in self.statistics.items():
            setattr(table, name, value)
        table.properties.update(self.volatile_properties)  # fixed names: no secret to redact
        if self.sample_sizes:
            sizes = dict(self.sample_sizes)
            for index, (_, _, _, field) in enumerate(table.iter_fields()):
                if index in sizes and field.inference is not None:
                    field.inference.sample_size = sizes[index]
        return table


class PreparedBatch(BaseModel):
    """An ExtractionBatch whose tables are PreparedTables (`batch.tables` is left empty)."""

    model_config = ConfigDict(extra="forbid")

    batch: ExtractionBatch
    tables: list[PreparedTable] = Field(default_factory=list)

    @property
    def holds_nul(self) -> bool:
        """Whether any text holds a NUL character (catalog/storable.py must clean the batch)."""
        return any("\\u0000" in table.table for table in self.tables) or (
            "\\u0000" in self.batch.model_dump_json()
        )

    def load(self) -> ExtractionBatch:
        """The whole batch as models."""
        return self.batch.model_copy(update={"tables": [table.load() for table in self.tables]})


def prepare_batch(batch: ExtractionBatch) -> PreparedBatch:
    return PreparedBatch(
        batch=batch.model_copy(update={"tables": []}),
        tables=[prepare_table(table) for table in batch.tables],
    )


def prepare_table(table: TableMetadata) -> PreparedTable:
    statistics = {
        name: value for name in _TABLE_STATISTICS if (value := getattr(table, name)) is not None
    }
    volatile_keys = VOLATILE_STATISTICS.intersection(table.properties)
    exclude: dict[str, Any] = dict.fromkeys(_TABLE_STATISTICS, True)
    if volatile_keys:
        exclude["properties"] = volatile_keys
    sample_sizes: list[tuple[int, int]] = []
    if _has_inference(table.columns):
        text, sample_sizes = _hashable_inferred(table, exclude)
    else:
        text = table.model_dump_json(exclude=exclude, exclude_defaults=True)
    fields = len(table.columns)
    if any(column.children for column in table.columns):
        fields = sum(1 for _ in table.iter_fields())
    return PreparedTable(
        qualified_name=qualified_name(table.path),
        content_hash=hashlib.blake2b(text.encode(), digest_size=20).hexdigest(),
        fields=fields,
        table=text,
        statistics=statistics,
        volatile_properties={key: table.properties[key] for key in volatile_keys},
        sample_sizes=sample_sizes,
    )


def _has_inference(columns: Sequence[ColumnMetadata]) -> bool:
    return any(c.inference is not None or _has_inference(c.children) for c in columns)


def _hashable_inferred(
    table: TableMetadata, exclude: dict[str, Any]
) -> tuple[str, list[tuple[int, int]]]:
    """The table's JSON with every field's `inference.sample_size` set to 0, and the sizes by field
    index: how many records a sample held moves with the collection's or file's size, so it is
    stored but not hashed."""
    data = table.model_dump(mode="json", exclude=exclude, exclude_defaults=True)
    sizes: list[tuple[int, int]] = []
    index = 0

    def walk(columns: list[dict[str, Any]]) -> None:
        nonlocal index
        for column in columns:
            inference = column.get("inference")
            if inference is not None:
                sizes.append((index, inference["sample_size"]))
                inference["sample_size"] = 0
            index += 1
            walk(column.get("children", ()))

    walk(data.get("columns", []))
    return to_json(data).decode(), sizes
