"""MetadataPersistenceService: writes an ExtractionResult into the catalog, in bulk and atomically.

One transaction per run. Existing rows of the data source are read once and diffed against the
result by qualified name and content hash, so an unchanged asset costs no write at all; only inserts
(COPY on PostgreSQL, see bulk.py), changed rows and soft deletes are sent, in batches. A table's hash
covers its columns, so the columns of an unchanged table are never even read. An unchanged asset is not
even touched: its row's `last_seen_at` moves only when the row is written, and when a live asset was
last seen is read from the source's connector runs (last_seen.py).

Deletion is scoped: an asset missing from the result is soft-deleted only if no extraction error
covers it (an error on a database protects everything under it, and the ancestors of what it
protects). An asset that comes back is restored. The fields of a deleted asset are deleted with it
and come back with it.

Assets and fields are classified by one diff (diff.py); the statistics and the change summary are
read from its result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from metadata_pipelines.catalog.asset_rows import (
    Batch,
    DesiredAsset,
    FieldRow,
    desired_assets,
    field_hash,
    new_id,
    reseed_ids,
)
from metadata_pipelines.catalog.bulk import BulkInserter
from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.deletion_guard import DeletionPolicy, held_removals
from metadata_pipelines.catalog.diff import RowDiff, diff_rows
from metadata_pipelines.catalog.prepared_batch import PreparedBatch
from metadata_pipelines.catalog.schema import asset_fields, assets, connector_runs, data_sources
from metadata_pipelines.catalog.scopes import covered, stored_path
from metadata_pipelines.garbage_collection import fewer_collections
from metadata_pipelines.models import (
    AssetType,
    ExtractionBatch,
    ExtractionError,
    ExtractionResult,
    ExtractionStatus,
    ExtractionSummary,
    utcnow,
)

CHUNK = 500
SUMMARY_LIMIT = 100
_RELATIONS = {AssetType.TABLE.value, AssetType.VIEW.value}


@dataclass
class ChangeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    restored: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted + self.restored


@dataclass
class ChangeSummary:
    """What changed since the previous sync, for people (capped lists, exact counts)."""

    tables_added: list[str] = field(default_factory=list)
    tables_removed: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    columns_retyped: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, item: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        items = getattr(self, kind)
        if len(items) < SUMMARY_LIMIT:
            items.append(item)


@dataclass
class PersistStats:
    assets: ChangeCounts = field(default_factory=ChangeCounts)
    fields: ChangeCounts = field(default_factory=ChangeCounts)
    changes: ChangeSummary = field(default_factory=ChangeSummary)
    #: Removals the deletion fail-safe held, as scoped errors (the run ends partial).
    held: list[ExtractionError] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        keys = ("inserted", "updated", "unchanged", "deleted", "restored")
        return {k: getattr(self.assets, k) + getattr(self.fields, k) for k in keys}

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.totals(),
            "assets": asdict(self.assets),
            "fields": asdict(self.fields),
            "changes": asdict(self.changes),
        }


class PersistenceRefused(ValueError):
    """The result must not be persisted (a failed extraction would wrongly delete everything)."""


class MetadataPersistenceService:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def persist(
        self,
        tenant_id: str,
        data_source_id: str,
        result: ExtractionResult,
        connector_run_id: str | None = None,
    ) -> PersistStats:
        """Persist a whole result (one batch)."""
        return self.persist_batches(
            tenant_id,
            data_source_id,
            result.summary(),
            [result.as_batch()],
            connector_run_id=connector_run_id,
        )

    def persist_batches(
        self,
        tenant_id: str,
        data_source_id: str,
        summary: ExtractionSummary,
        batches: Iterable[ExtractionBatch | PreparedBatch],
        connector_run_id: str | None = None,
        deletion_policy: DeletionPolicy | None = None,
    ) -> PersistStats:
        """Persist a streamed extraction, batch by batch, in one transaction.

        A batch is an ExtractionBatch, or a PreparedBatch as the handover stores it (its tables
        parsed only if new or changed).

        Each batch is diffed and written as it comes (its tables' fields with it: a table never
        spans two batches, and `summary` brings every extraction error before the first batch), so
        memory holds one batch and the source's asset index, not the source. Assets are deleted only
        once every batch has been seen, and only then is the deletion fail-safe asked
        (`deletion_policy`; None deletes unconfirmed). A failure anywhere, a killed process
        included, rolls the whole transaction back: the catalog stays as it was.
        """
        if summary.status is ExtractionStatus.FAILED:
            raise PersistenceRefused("a failed extraction is never persisted")
        now = utcnow()
        reseed_ids()
        protected_scopes = summary.failed_scopes
        stats = PersistStats()
        with (
            fewer_collections(),
            self._engine.begin() as connection,
            BulkInserter(connection) as bulk,
        ):
            _lock_data_source(connection, tenant_id, data_source_id)
            stored = {
                row.qualified_name: row
                for row in connection.execute(
                    sa.select(
                        assets.c.id,
                        assets.c.qualified_name,
                        assets.c.asset_type,
                        assets.c.content_hash,
                        assets.c.deleted_at,
                        assets.c.name,
                        assets.c.database_name,
                        assets.c.schema_name,
                    ).where(
                        assets.c.tenant_id == tenant_id, assets.c.data_source_id == data_source_id
                    )
                )
            }
            ids = {qn: row.id for qn, row in stored.items()}
            seen: set[str] = set()
            writer = _BatchWriter(
                self, connection, bulk, tenant_id, data_source_id, protected_scopes, stats, now
            )
            for batch in batches:
                writer.write(stored, ids, seen, batch)
            removed = [
                (qn, row)
                for qn, row in stored.items()
                if row.deleted_at is None
                and qn not in seen
                and not covered(stored_path(row), protected_scopes)
            ]
            if deletion_policy is not None and removed:
                live = {
                    qn: stored_path(row) for qn, row in stored.items() if row.deleted_at is None
                }
                stats.held = held_removals(
                    live, [stored_path(row) for _, row in removed], deletion_policy
                )
                held_scopes = [error.scope for error in stats.held]
                removed = [
                    (qn, row) for qn, row in removed if not covered(stored_path(row), held_scopes)
                ]
            stats.assets.deleted += len(removed)
            for qn, old in removed:
                if old.asset_type in _RELATIONS:
                    stats.changes.add("tables_removed", qn)
            removed_ids = [old.id for _, old in removed]
            self._soft_delete(connection, assets, removed_ids, now)
            stats.fields.deleted += self._soft_delete(
                connection, asset_fields, removed_ids, now, column=asset_fields.c.asset_id
            )
            if connector_run_id:
                connection.execute(
                    connector_runs.update()
                    .where(connector_runs.c.id == connector_run_id)
                    .values(stats=stats.as_dict())
                )
        return stats

    def _persist_fields(
        self,
        connection: sa.Connection,
        bulk: BulkInserter,
        tenant_id: str,
        data_source_id: str,
        work: list[tuple[str, DesiredAsset, Any]],
        protected_scopes: list[tuple[str, ...]],
        stats: PersistStats,
        now: datetime,
    ) -> None:
        stored: dict[tuple[str, str], Any] = {}
        for chunk in _chunks([asset_id for asset_id, _, old in work if old is not None]):
            for row in connection.execute(
                sa.select(
                    asset_fields.c.id,
                    asset_fields.c.asset_id,
                    asset_fields.c.path,
                    asset_fields.c.parent_path,
                    asset_fields.c.native_type,
                    asset_fields.c.content_hash,
                    asset_fields.c.deleted_at,
                ).where(asset_fields.c.asset_id.in_(chunk))
            ):
                stored[(row.asset_id, row.path)] = row
        protected = {asset_id for asset_id, item, _ in work if covered(item.path, protected_scopes)}

        def desired() -> Iterator[tuple[tuple[str, str], str, tuple[FieldRow, str]]]:
            for asset_id, item, _ in work:
                for values in item.fields or ():
                    # Hashed only here: an unchanged table's hash already covers its fields.
                    digest = field_hash(values)
                    yield (asset_id, values.path), digest, (values, digest)

        diff = diff_rows(stored, desired(), keep=lambda key, _: key[0] in protected)
        _count(stats.fields, diff)
        _summarize_fields(stats.changes, work, diff)
        ids = {key: row.id for key, row in stored.items()}
        ids.update((key, new_id()) for key, _ in diff.added)
        inserts = [
            (
                *values,
                digest,
                ids[(asset_id, path)],
                None if values.parent_path is None else ids[(asset_id, values.parent_path)],
                tenant_id,
                data_source_id,
                asset_id,
                now,
                now,
            )
            for (asset_id, path), (values, digest) in diff.added
        ]
        bulk.insert(asset_fields, inserts, _FIELD_INSERT)
        updates = [
            {**values._asdict(), "content_hash": digest, "b_id": old.id, "updated_at": now}
            for _, (values, digest), old in (*diff.changed, *diff.restored)
        ]
        if updates:
            connection.execute(_UPDATE_FIELD, updates)
        self._soft_delete(connection, asset_fields, [old.id for _, old in diff.removed], now)

    @staticmethod
    def _soft_delete(
        connection: sa.Connection,
        table: sa.Table,
        ids: list[str],
        now: datetime,
        column: sa.Column | None = None,
    ) -> int:
        """Mark live rows deleted whose `column` (the id by default) is in `ids`; returns how many."""
        column = table.c.id if column is None else column
        deleted = 0
        for chunk in _chunks(ids):
            deleted += connection.execute(
                table.update()
                .where(column.in_(chunk), table.c.deleted_at.is_(None))
                .values(deleted_at=now, updated_at=now)
            ).rowcount
        return deleted


class _BatchWriter:
    """Diffs and writes one batch at a time inside a persist's transaction."""

    def __init__(
        self,
        service: MetadataPersistenceService,
        connection: sa.Connection,
        bulk: BulkInserter,
        tenant_id: str,
        data_source_id: str,
        protected_scopes: list[tuple[str, ...]],
        stats: PersistStats,
        now: datetime,
    ) -> None:
        self.service = service
        self.connection = connection
        self.bulk = bulk
        self.tenant_id = tenant_id
        self.data_source_id = data_source_id
        self.protected_scopes = protected_scopes
        self.stats = stats
        self.now = now

    def write(
        self,
        stored: dict[str, Any],
        ids: dict[str, str],
        seen: set[str],
        batch: Batch,
    ) -> None:
        """Insert, update and restore what `batch` holds; record its names in `seen`. Removals
        wait for the last batch. Only assets to write are built into rows (a prepared table is
        not even parsed when its hash is unchanged)."""
        now, stats = self.now, self.stats
        entries = list(desired_assets(batch))
        seen.update(entry.qualified_name for entry in entries)
        entry_diff = diff_rows(
            stored,
            ((entry.qualified_name, entry.content_hash, entry) for entry in entries),
            removals=False,
        )
        diff: RowDiff[str, DesiredAsset, Any] = RowDiff(
            added=[(qn, entry.build()) for qn, entry in entry_diff.added],
            changed=[(qn, entry.build(), old) for qn, entry, old in entry_diff.changed],
            restored=[(qn, entry.build(), old) for qn, entry, old in entry_diff.restored],
        )
        del entries
        ids.update((item.qualified_name, new_id()) for _, item in diff.added)

        def values(item: DesiredAsset) -> dict[str, Any]:
            return {
                **item.row,
                "parent_id": ids.get(item.parent) if item.parent else None,
                "content_hash": item.content_hash,
            }

        inserts = [
            {
                **values(item),
                "id": ids[qn],
                "tenant_id": self.tenant_id,
                "data_source_id": self.data_source_id,
                "qualified_name": qn,
                "first_seen_at": now,
                "last_seen_at": now,
                "updated_at": now,
                "deleted_at": None,
            }
            for qn, item in diff.added
        ]
        updates = [
            {**values(item), "b_id": old.id, "last_seen_at": now, "updated_at": now}
            for _, item, old in (*diff.changed, *diff.restored)
        ]
        _count(stats.assets, diff)
        stats.assets.unchanged += len(entry_diff.unchanged)
        stats.fields.unchanged += sum(entry.field_count for _, entry, _ in entry_diff.unchanged)
        for qn, item in (*diff.added, *((qn, item) for qn, item, _ in diff.restored)):
            if item.row["asset_type"] in _RELATIONS:
                stats.changes.add("tables_added", qn)
        field_work = [
            (ids[qn], item, None) for qn, item in diff.added if item.fields is not None
        ] + [
            (old.id, item, old)
            for qn, item, old in (*diff.changed, *diff.restored)
            if item.fields is not None
        ]
        self.bulk.insert(assets, inserts)
        if updates:
            self.connection.execute(_UPDATE_ASSET, updates)
        self.service._persist_fields(
            self.connection,
            self.bulk,
            self.tenant_id,
            self.data_source_id,
            field_work,
            self.protected_scopes,
            stats,
            now,
        )


def _summarize_fields(
    changes: ChangeSummary, work: list[tuple[str, DesiredAsset, Any]], diff: RowDiff
) -> None:
    """Fields added, removed and retyped in tables that were there before (a new or restored
    table is listed itself). A sub-tree added or removed is listed once, by its top field."""
    listed = {asset_id for asset_id, _, old in work if old is not None and old.deleted_at is None}
    names = {asset_id: item.qualified_name for asset_id, item, _ in work}

    def report(kind: str, parents: dict[tuple[str, str], str | None]) -> None:
        nested: dict[tuple[str, str], int] = {}
        for key in parents:
            top = key
            while (parent := parents[top]) is not None and (top[0], parent) in parents:
                top = (top[0], parent)
            nested[top] = nested.get(top, -1) + 1
        for (asset_id, path), count in nested.items():
            more = f" (with {count} nested field{'s' * (count > 1)})" if count else ""
            changes.add(kind, f"{names[asset_id]}.{path}{more}")

    report(
        "columns_added",
        {key: values.parent_path for key, (values, _) in diff.added if key[0] in listed}
        | {key: values.parent_path for key, (values, _), _ in diff.restored if key[0] in listed},
    )
    report(
        "columns_removed",
        {key: old.parent_path for key, old in diff.removed if key[0] in listed},
    )
    for (asset_id, path), (values, _), old in diff.changed:
        if old.native_type != values.native_type and asset_id in listed:
            changes.add(
                "columns_retyped",
                f"{names[asset_id]}.{path}: {old.native_type} -> {values.native_type}",
            )


def _count(counts: ChangeCounts, diff: RowDiff) -> None:
    counts.inserted += len(diff.added)
    counts.updated += len(diff.changed)
    counts.restored += len(diff.restored)
    counts.unchanged += len(diff.unchanged)
    counts.deleted += len(diff.removed)


def _lock_data_source(connection: sa.Connection, tenant_id: str, data_source_id: str) -> None:
    """Serialize persists of one source (row lock on PostgreSQL) and enforce tenant ownership.

    FOR NO KEY UPDATE: it excludes another persist of the source as FOR UPDATE would, but not the
    key-share locks of rows that merely reference the source (a new connector run), which would
    otherwise wait for the whole of a long batched persist."""
    found = connection.execute(
        sa.select(data_sources.c.id)
        .where(data_sources.c.id == data_source_id, data_sources.c.tenant_id == tenant_id)
        .with_for_update(key_share=True)
    ).first()
    if found is None:
        raise DataSourceNotFound(
            f"data source {data_source_id!r} not found for tenant {tenant_id!r}"
        )


_ASSET_CONTENT = (
    "asset_type",
    "name",
    "database_name",
    "schema_name",
    "table_type",
    "native_type",
    "description",
    "owner",
    "details",
    "parent_id",
    "content_hash",
    "last_seen_at",
    "updated_at",
)
_UPDATE_ASSET = (
    assets.update()
    .where(assets.c.id == sa.bindparam("b_id"))
    .values({name: sa.bindparam(name) for name in _ASSET_CONTENT} | {"deleted_at": None})
)
_FIELD_INSERT = (
    *FieldRow._fields,
    "content_hash",
    "id",
    "parent_id",
    "tenant_id",
    "data_source_id",
    "asset_id",
    "created_at",
    "updated_at",
)
_FIELD_CONTENT = (  # path, and so name, parent and depth, identify the row: never updated
    "ordinal",
    "native_type",
    "data_type",
    "nullable",
    "default_value",
    "is_primary_key",
    "repeated",
    "description",
    "properties",
    "inference",
    "content_hash",
    "updated_at",
)
_UPDATE_FIELD = (
    asset_fields.update()
    .where(asset_fields.c.id == sa.bindparam("b_id"))
    .values({name: sa.bindparam(name) for name in _FIELD_CONTENT} | {"deleted_at": None})
)


def _chunks(items: list[str], size: int = CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
