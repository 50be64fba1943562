"""Read-side queries over the catalog: what a source currently holds."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any, TypeVar

import sqlalchemy as sa

from metadata_pipelines.catalog.last_seen import with_last_seen
from metadata_pipelines.catalog.records import Asset, AssetDetail, AssetField
from metadata_pipelines.catalog.schema import asset_fields, assets

RELATION_TYPES = ("table", "view")
F = TypeVar("F", bound=Any)  # a field row or record: has .path and .parent_path
LIKE_ESCAPE = "\\"


class AssetNotFound(LookupError):
    """No such asset for this tenant (another tenant's asset is reported the same way)."""


def live_tables(
    engine: sa.Engine, tenant_id: str, data_source_id: str
) -> list[tuple[sa.Row, Sequence[sa.Row]]]:
    """Tables and views that are not deleted, each with its live fields in tree order: columns by
    ordinal, each followed by the fields nested in it."""
    query = (
        sa.select(
            assets.c.id,
            assets.c.qualified_name,
            assets.c.asset_type,
            assets.c.details,
            asset_fields.c.name,
            asset_fields.c.path,
            asset_fields.c.parent_path,
            asset_fields.c.depth,
            asset_fields.c.native_type,
            asset_fields.c.nullable,
            asset_fields.c.is_primary_key,
        )
        .join(
            asset_fields,
            sa.and_(asset_fields.c.asset_id == assets.c.id, asset_fields.c.deleted_at.is_(None)),
            isouter=True,
        )
        .where(
            assets.c.tenant_id == tenant_id,
            assets.c.data_source_id == data_source_id,
            assets.c.asset_type.in_(RELATION_TYPES),
            assets.c.deleted_at.is_(None),
        )
        .order_by(assets.c.asset_type, assets.c.qualified_name, asset_fields.c.ordinal)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        (group[0], _tree_order([row for row in group if row.name is not None]))
        for _, grouped in groupby(rows, key=lambda row: row.id)
        for group in [list(grouped)]
    ]


def _tree_order(fields: list[F]) -> list[F]:
    """Depth first: a field's children (already in ordinal order) right after it."""
    children: dict[str | None, list[F]] = {}
    for field in fields:
        children.setdefault(field.parent_path, []).append(field)
    ordered: list[F] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        field = stack.pop()
        ordered.append(field)
        stack.extend(reversed(children.get(field.path, [])))
    return ordered


_ASSET_COLUMNS = tuple(assets.c[name] for name in Asset.model_fields)
_FIELD_COLUMNS = tuple(asset_fields.c[name] for name in AssetField.model_fields)


def escape_like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern (with ESCAPE LIKE_ESCAPE)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def asset_page(
    engine: sa.Engine,
    tenant_id: str,
    data_source_id: str,
    *,
    asset_type: str | None = None,
    search: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[Asset]:
    """One page of a source's live assets in qualified-name order (keyset: names after `after`).

    `search` matches a case-insensitive substring of the qualified name; on PostgreSQL a trigram
    index on lower(qualified_name) serves it when pg_trgm was available to the migration.
    """
    query = (
        sa.select(*_ASSET_COLUMNS)
        .where(
            assets.c.tenant_id == tenant_id,
            assets.c.data_source_id == data_source_id,
            assets.c.deleted_at.is_(None),
        )
        .order_by(assets.c.qualified_name)
        .limit(limit)
    )
    if asset_type is not None:
        query = query.where(assets.c.asset_type == asset_type)
    if search:
        pattern = f"%{escape_like(search.lower())}%"
        query = query.where(
            sa.func.lower(assets.c.qualified_name).like(pattern, escape=LIKE_ESCAPE)
        )
    if after is not None:
        query = query.where(assets.c.qualified_name > after)
    with engine.connect() as connection:
        rows = with_last_seen(connection, connection.execute(query).mappings().all())
        return [Asset.model_validate(row) for row in rows]


def asset_detail(engine: sa.Engine, tenant_id: str, asset_id: str) -> AssetDetail:
    """One asset of the tenant with its details and live fields, nested ones included, in tree
    order (each column followed by the fields nested in it); raises AssetNotFound."""
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.select(*_ASSET_COLUMNS, assets.c.details).where(
                    assets.c.id == asset_id, assets.c.tenant_id == tenant_id
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise AssetNotFound(f"asset {asset_id!r} not found")
        fields = connection.execute(
            sa.select(*_FIELD_COLUMNS)
            .where(
                asset_fields.c.asset_id == asset_id,
                asset_fields.c.tenant_id == tenant_id,
                asset_fields.c.deleted_at.is_(None),
            )
            .order_by(asset_fields.c.ordinal)
        ).mappings()
        records = [AssetField.model_validate(dict(f)) for f in fields]
        (values,) = with_last_seen(connection, [row])
        return AssetDetail.model_validate({**values, "fields": _tree_order(records)})


def assets_named(
    engine: sa.Engine, tenant_id: str, qualified_name: str, data_source_id: str | None = None
) -> list[Asset]:
    """The tenant's live assets with this qualified name (one per source that holds it)."""
    query = (
        sa.select(*_ASSET_COLUMNS)
        .where(
            assets.c.tenant_id == tenant_id,
            assets.c.qualified_name == qualified_name,
            assets.c.deleted_at.is_(None),
        )
        .order_by(assets.c.data_source_id, assets.c.asset_type)
    )
    if data_source_id is not None:
        query = query.where(assets.c.data_source_id == data_source_id)
    with engine.connect() as connection:
        rows = with_last_seen(connection, connection.execute(query).mappings().all())
        return [Asset.model_validate(r) for r in rows]
