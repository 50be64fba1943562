"""What the catalog should hold for an ExtractionResult: rows per asset and field, with hashes.

Kept apart from the diffing and writing in persistence.py: this module only maps models to rows.
A table's hash covers its fields, nested ones included, so an unchanged table is recognised without
reading them; it is the digest of the table's JSON (prepared_batch.py), so a table handed over as a
PreparedTable is recognised without parsing it either: its rows are built only when it is written.
Volatile statistics (models.VOLATILE_STATISTICS) are stored but not hashed.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from pydantic_core import to_json

from metadata_pipelines.catalog.prepared_batch import PreparedBatch, PreparedTable, prepare_table
from metadata_pipelines.models import (
    VOLATILE_STATISTICS,
    AssetType,
    DataType,
    ExtractionBatch,
    ExtractionResult,
    RoutineMetadata,
    TableMetadata,
    asset_path,
    qualified_name,
)


@dataclass(slots=True)
class DesiredAsset:
    qualified_name: str
    path: tuple[str, ...]
    parent: str | None
    row: dict[str, Any]
    content_hash: str
    fields: list[FieldRow] | None = None

    @property
    def field_count(self) -> int:
        return len(self.fields or ())

    def build(self) -> DesiredAsset:
        return self


class AssetEntry(Protocol):
    """An asset a batch names: its key and hash for the diff, its rows built only if written."""

    @property
    def qualified_name(self) -> str: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def field_count(self) -> int: ...

    def build(self) -> DesiredAsset: ...


@dataclass(slots=True)
class PendingTable:
    """A table known by name and hash; parsed (if prepared) and mapped to rows by `build`."""

    prepared: PreparedTable
    model: TableMetadata | None = None

    @property
    def qualified_name(self) -> str:
        return self.prepared.qualified_name

    @property
    def content_hash(self) -> str:
        return self.prepared.content_hash

    @property
    def field_count(self) -> int:
        return self.prepared.fields

    def build(self) -> DesiredAsset:
        table = self.prepared.load() if self.model is None else self.model
        return _table_asset(table, self.prepared.content_hash)


Batch = ExtractionResult | ExtractionBatch | PreparedBatch


def desired_assets(batch: Batch) -> Iterator[AssetEntry]:
    """Every asset of `batch`: containers and routines built, tables pending."""
    result = batch.batch if isinstance(batch, PreparedBatch) else batch
    for database in result.databases:
        path = (database.name,)
        yield _asset(path, None, AssetType.DATABASE, database.name, None, None, database)
    for schema in result.schemas:
        path = (schema.database, schema.name)
        yield _asset(
            path, (schema.database,), AssetType.SCHEMA, schema.name, schema.database, None, schema
        )
    if isinstance(batch, PreparedBatch):
        yield from (PendingTable(prepared) for prepared in batch.tables)
    else:
        yield from (PendingTable(prepare_table(table), table) for table in result.tables)
    for routine in result.routines:
        yield _routine_asset(routine)


def _asset(
    path: tuple[str, ...],
    parent_path: tuple[str, ...] | None,
    asset_type: AssetType,
    name: str,
    database_name: str | None,
    schema_name: str | None,
    model: Any,
    details: dict[str, Any] | None = None,
    *,
    table_type: str | None = None,
    native_type: str | None = None,
    fields: list[FieldRow] | None = None,
    key_suffix: str = "",
    digest: str | None = None,
) -> DesiredAsset:
    if details is None:
        details = model.model_dump(mode="json", exclude={"name", "database", "schema_name"})
        description = details.pop("comment", None)
        owner = details.pop("owner", None)
    else:
        # A table's own dump (its details) leaves its columns out: dumping the whole model again
        # only to read two strings cost a third of an unchanged re-persist.
        description = model.comment
        owner = getattr(model, "owner", None)
    row = {
        "asset_type": asset_type.value,
        "name": name,
        "database_name": database_name,
        "schema_name": schema_name,
        "table_type": table_type,
        "native_type": native_type,
        "description": description,
        "owner": owner,
        "details": details,
    }
    return DesiredAsset(
        qualified_name=qualified_name(path) + key_suffix,
        path=path,
        parent=qualified_name(parent_path) if parent_path else None,
        row=row,
        # A table's digest comes from its JSON (prepare_table); the `None` keeps other assets'
        # hashes as they were when tables were hashed here with their field rows.
        content_hash=digest or content_hash([_without_volatile(row), None]),
        fields=fields,
    )


def _table_asset(table: TableMetadata, digest: str) -> DesiredAsset:
    details = table.model_dump(
        mode="json",
        exclude={"name", "database", "schema_name", "columns", "comment", "owner", "table_type"},
    )
    details.pop("native_type", None)
    parent = (
        (table.database, table.schema_name) if table.schema_name is not None else (table.database,)
    )
    return _asset(
        table.path,
        parent,
        table.table_type.asset_type,
        table.name,
        table.database,
        table.schema_name,
        table,
        details,
        table_type=table.table_type.value,
        native_type=table.native_type,
        fields=_field_rows(table),
        digest=digest,
    )


def desired_keys(batch: Batch) -> set[str]:
    """The qualified names `desired_assets` yields, without building rows or hashing them."""
    result = batch.batch if isinstance(batch, PreparedBatch) else batch
    keys = {qualified_name((database.name,)) for database in result.databases}
    keys.update(qualified_name((schema.database, schema.name)) for schema in result.schemas)
    keys.update(qualified_name(table.path) for table in result.tables)
    if isinstance(batch, PreparedBatch):
        keys.update(table.qualified_name for table in batch.tables)
    keys.update(qualified_name(_routine_path(r)) + _routine_suffix(r) for r in result.routines)
    return keys


def _routine_path(routine: RoutineMetadata) -> tuple[str, ...]:
    return asset_path(routine.database, routine.schema_name, routine.name)


def _routine_suffix(routine: RoutineMetadata) -> str:
    return f"#{routine.routine_type.value}"


def _routine_asset(routine: RoutineMetadata) -> DesiredAsset:
    path = _routine_path(routine)
    return _asset(
        path,
        path[:-1],
        AssetType.ROUTINE,
        routine.name,
        routine.database,
        routine.schema_name,
        routine,
        native_type=routine.routine_type.value,
        key_suffix=_routine_suffix(routine),
    )


class FieldRow(NamedTuple):
    """What the catalog stores about one field (the `asset_fields` columns of the same names).

    A tuple rather than a dict: a first sync builds one per field of the source, and a dict of
    this many keys takes three times the memory."""

    path: str
    parent_path: str | None
    depth: int
    name: str
    ordinal: int
    native_type: str
    data_type: str
    nullable: bool
    default_value: str | None
    is_primary_key: bool
    repeated: bool
    description: str | None
    properties: dict[str, Any]
    inference: dict[str, Any] | None


_ARRAY = DataType.ARRAY


def _field_rows(table: TableMetadata) -> list[FieldRow]:
    """One row per field, nested ones included, parents before their children."""
    return [
        FieldRow(
            path,
            parent_path,
            depth,
            column.name,
            column.ordinal,
            column.native_type,
            str(column.data_type),  # StrEnum: str() is its value, no enum lookups
            column.nullable,
            column.default,
            column.is_primary_key,
            column.data_type is _ARRAY,  # ColumnMetadata.repeated, without a property call
            column.comment,
            column.properties,
            None if column.inference is None else column.inference.model_dump(mode="json"),
        )
        for path, parent_path, depth, column in table.iter_fields()
    ]


def _without_volatile(row: dict[str, Any]) -> dict[str, Any]:
    """The row as change detection sees it: without VOLATILE_STATISTICS, in details or in their
    properties (copied only when there are any)."""
    details = row["details"]
    properties = details.get("properties")
    if isinstance(properties, dict) and not VOLATILE_STATISTICS.isdisjoint(properties):
        properties = {k: v for k, v in properties.items() if k not in VOLATILE_STATISTICS}
        details = {**details, "properties": properties}
    if not VOLATILE_STATISTICS.isdisjoint(details):
        details = {k: v for k, v in details.items() if k not in VOLATILE_STATISTICS}
    return row if details is row["details"] else {**row, "details": details}


def _hashed_field(row: FieldRow) -> FieldRow:
    """The field as change detection sees it: an inferred field's `sample_size` (how many records
    the sample held, which moves with the collection's or file's size) is stored, not hashed."""
    inference = row.inference
    if inference is None or "sample_size" not in inference:
        return row
    return row._replace(inference={k: v for k, v in inference.items() if k != "sample_size"})


def field_hash(row: FieldRow) -> str:
    """The content hash of one field row (see `_hashed_field`)."""
    return content_hash(_hashed_field(row))


def content_hash(value: Any) -> str:
    """A digest of the stored content. Rows are built in a fixed key order, so no key sorting is
    needed; pydantic-core's encoder is several times faster than json.dumps here."""
    return hashlib.blake2b(to_json(value, fallback=str), digest_size=20).hexdigest()


_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)
_ids = random.Random()  # noqa: S311 (ids are unique keys, not secrets)


def new_id() -> str:
    """A random version-4 UUID string: ids are not secrets, and uuid.uuid4() (a system call and
    an object per id) took a tenth of a large first persist."""
    bits = _ids.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    x = f"{bits:032x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def reseed_ids() -> None:
    """Call once per persist, so forked workers never share an id sequence."""
    _ids.seed(os.urandom(32))
