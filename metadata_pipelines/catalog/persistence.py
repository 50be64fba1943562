"""MetadataPersistenceService: writes an ExtractionResult into the catalog, in bulk and atomically.

One transaction per run. Existing rows of the data source are read once and diffed against the
result by qualified name and content hash, so an unchanged asset costs no write at all; only inserts
(COPY on PostgreSQL, see bulk.py), changed rows and soft deletes are sent, in batches. A table's hash
covers its columns, so the columns of an unchanged table are never even read.

Deletion is scoped: an asset missing from the result is soft-deleted only if no extraction error
covers it (an error on a database protects everything under it, and the ancestors of what it
protects). An asset that comes back is restored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from metadata_pipelines.catalog.asset_rows import (
    DesiredAsset,
    content_hash,
    desired_assets,
    new_id,
    reseed_ids,
)
from metadata_pipelines.catalog.bulk import insert_rows
from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.schema import asset_fields, assets, connector_runs, data_sources
from metadata_pipelines.models import (
    AssetType,
    ExtractionResult,
    ExtractionStatus,
    asset_path,
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

    def totals(self) -> dict[str, int]:
        keys = ("inserted", "updated", "unchanged", "deleted", "restored")
        return {k: getattr(self.assets, k) + getattr(self.fields, k) for k in keys}

    def as_dict(self) -> dict[str, Any]:
        return {**self.totals(), **asdict(self)}


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
        if result.status is ExtractionStatus.FAILED:
            raise PersistenceRefused("a failed extraction is never persisted")
        now = utcnow()
        reseed_ids()
        desired = list(desired_assets(result))
        protected_scopes = result.failed_scopes
        stats = PersistStats()
        with self._engine.begin() as connection:
            _lock_data_source(connection, tenant_id, data_source_id)
            existing = {
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
            ids = {qn: row.id for qn, row in existing.items()}
            inserts, updates, field_work = [], [], []
            for item in desired:
                old = existing.get(item.qualified_name)
                asset_id = old.id if old else new_id()
                ids[item.qualified_name] = asset_id
                values = {
                    **item.row,
                    "parent_id": ids.get(item.parent) if item.parent else None,
                    "content_hash": item.content_hash,
                }
                if old is None:
                    inserts.append(
                        {
                            **values,
                            "id": asset_id,
                            "tenant_id": tenant_id,
                            "data_source_id": data_source_id,
                            "qualified_name": item.qualified_name,
                            "first_seen_at": now,
                            "last_seen_at": now,
                            "updated_at": now,
                            "deleted_at": None,
                        }
                    )
                    stats.assets.inserted += 1
                    if item.row["asset_type"] in _RELATIONS:
                        stats.changes.add("tables_added", item.qualified_name)
                    if item.fields is not None:
                        field_work.append((asset_id, item, None))
                elif old.deleted_at is not None or old.content_hash != item.content_hash:
                    updates.append({**values, "b_id": asset_id, "updated_at": now})
                    if old.deleted_at is not None:
                        stats.assets.restored += 1
                        if item.row["asset_type"] in _RELATIONS:
                            stats.changes.add("tables_added", item.qualified_name)
                    else:
                        stats.assets.updated += 1
                    if item.fields is not None:
                        field_work.append((asset_id, item, old))
                else:
                    stats.assets.unchanged += 1
                    stats.fields.unchanged += len(item.fields or ())

            seen = {item.qualified_name for item in desired}
            to_delete, protected_unseen = [], []
            for qn, old in existing.items():
                if qn in seen or old.deleted_at is not None:
                    continue
                if _covered(_stored_path(old), protected_scopes):
                    protected_unseen.append(old.id)
                    continue
                to_delete.append(old.id)
                stats.assets.deleted += 1
                if old.asset_type in _RELATIONS:
                    stats.changes.add("tables_removed", qn)

            insert_rows(connection, assets, inserts)
            if updates:
                connection.execute(_UPDATE_ASSET, updates)
            self._soft_delete(connection, assets, to_delete, now)
            self._persist_fields(
                connection, tenant_id, data_source_id, field_work, protected_scopes, stats, now
            )
            _touch_last_seen(connection, data_source_id, protected_unseen, now)
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
        tenant_id: str,
        data_source_id: str,
        work: list[tuple[str, DesiredAsset, Any]],
        protected_scopes: list[tuple[str, ...]],
        stats: PersistStats,
        now: datetime,
    ) -> None:
        existing_ids = [asset_id for asset_id, _, old in work if old is not None]
        existing: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(existing_ids):
            for row in connection.execute(
                sa.select(
                    asset_fields.c.id,
                    asset_fields.c.asset_id,
                    asset_fields.c.name,
                    asset_fields.c.native_type,
                    asset_fields.c.content_hash,
                    asset_fields.c.deleted_at,
                ).where(asset_fields.c.asset_id.in_(chunk))
            ):
                existing.setdefault(row.asset_id, {})[row.name] = row
        inserts, updates, to_delete = [], [], []
        for asset_id, item, old_asset in work:
            old_fields = existing.get(asset_id, {})
            table_is_new = old_asset is None
            for values in item.fields or ():
                # Hashed only here: an unchanged table's hash already covers its columns.
                values["content_hash"] = content_hash(values)
                old = old_fields.get(values["name"])
                if old is None:
                    # Completed in place: a first sync holds tens of thousands of these.
                    values.update(
                        id=new_id(),
                        tenant_id=tenant_id,
                        data_source_id=data_source_id,
                        asset_id=asset_id,
                        created_at=now,
                        updated_at=now,
                        deleted_at=None,
                    )
                    inserts.append(values)
                    stats.fields.inserted += 1
                    if not table_is_new:
                        stats.changes.add(
                            "columns_added", f"{item.qualified_name}.{values['name']}"
                        )
                elif old.deleted_at is not None or old.content_hash != values["content_hash"]:
                    updates.append({**values, "b_id": old.id, "updated_at": now})
                    if old.deleted_at is not None:
                        stats.fields.restored += 1
                        stats.changes.add(
                            "columns_added", f"{item.qualified_name}.{values['name']}"
                        )
                    else:
                        stats.fields.updated += 1
                        if old.native_type != values["native_type"]:
                            stats.changes.add(
                                "columns_retyped",
                                f"{item.qualified_name}.{values['name']}: "
                                f"{old.native_type} -> {values['native_type']}",
                            )
                else:
                    stats.fields.unchanged += 1
            if _covered(item.path, protected_scopes):
                continue
            wanted = {values["name"] for values in item.fields or ()}
            for name, old in old_fields.items():
                if name not in wanted and old.deleted_at is None:
                    to_delete.append(old.id)
                    stats.fields.deleted += 1
                    stats.changes.add("columns_removed", f"{item.qualified_name}.{name}")
        insert_rows(connection, asset_fields, inserts)
        if updates:
            connection.execute(_UPDATE_FIELD, updates)
        self._soft_delete(connection, asset_fields, to_delete, now)

    @staticmethod
    def _soft_delete(
        connection: sa.Connection, table: sa.Table, ids: list[str], now: datetime
    ) -> None:
        for chunk in _chunks(ids):
            connection.execute(
                table.update().where(table.c.id.in_(chunk)).values(deleted_at=now, updated_at=now)
            )


def _lock_data_source(connection: sa.Connection, tenant_id: str, data_source_id: str) -> None:
    """Serialize persists of one source (row lock on PostgreSQL) and enforce tenant ownership."""
    found = connection.execute(
        sa.select(data_sources.c.id)
        .where(data_sources.c.id == data_source_id, data_sources.c.tenant_id == tenant_id)
        .with_for_update()
    ).first()
    if found is None:
        raise DataSourceNotFound(
            f"data source {data_source_id!r} not found for tenant {tenant_id!r}"
        )


def _touch_last_seen(
    connection: sa.Connection, data_source_id: str, not_seen: list[str], now: datetime
) -> None:
    query = assets.update().where(
        assets.c.data_source_id == data_source_id, assets.c.deleted_at.is_(None)
    )
    if not_seen:
        query = query.where(assets.c.id.not_in(not_seen))
    connection.execute(query.values(last_seen_at=now))


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
    "updated_at",
)
_UPDATE_ASSET = (
    assets.update()
    .where(assets.c.id == sa.bindparam("b_id"))
    .values({name: sa.bindparam(name) for name in _ASSET_CONTENT} | {"deleted_at": None})
)
_FIELD_CONTENT = (
    "ordinal",
    "native_type",
    "data_type",
    "nullable",
    "default_value",
    "is_primary_key",
    "description",
    "properties",
    "content_hash",
    "updated_at",
)
_UPDATE_FIELD = (
    asset_fields.update()
    .where(asset_fields.c.id == sa.bindparam("b_id"))
    .values({name: sa.bindparam(name) for name in _FIELD_CONTENT} | {"deleted_at": None})
)


def _covered(path: tuple[str, ...], scopes: list[tuple[str, ...]]) -> bool:
    """True if a failed scope contains `path`, or `path` is an ancestor of a failed scope."""
    for scope in scopes:
        shorter = min(len(scope), len(path))
        if scope[:shorter] == path[:shorter]:
            return True
    return False


def _stored_path(row: Any) -> tuple[str, ...]:
    if row.asset_type == AssetType.DATABASE.value:
        return (row.name,)
    if row.asset_type == AssetType.SCHEMA.value:
        return (row.database_name, row.name)
    return asset_path(row.database_name, row.schema_name, row.name)


def _chunks(items: list[str], size: int = CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
