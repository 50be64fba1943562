"""Read-side queries over the catalog: what a source currently holds."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

import sqlalchemy as sa

from metadata_pipelines.catalog.schema import asset_fields, assets

RELATION_TYPES = ("table", "view")


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


def _tree_order(fields: list[sa.Row]) -> list[sa.Row]:
    """Depth first: a field's children (already in ordinal order) right after it."""
    children: dict[str | None, list[sa.Row]] = {}
    for field in fields:
        children.setdefault(field.parent_path, []).append(field)
    ordered: list[sa.Row] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        field = stack.pop()
        ordered.append(field)
        stack.extend(reversed(children.get(field.path, [])))
    return ordered
