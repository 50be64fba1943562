"""What a source's sync left in the catalog, for the job tests to compare before and after."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from metadata_pipelines.catalog.schema import asset_fields, assets


def catalog_snapshot(
    catalog: Any, source_id: str, *, field_key: str = "path", field_value: str = "native_type"
) -> tuple[dict, dict]:
    """(assets by qualified name: hash and deletion, fields by (asset, `field_key`):
    `field_value` and deletion)."""
    with catalog.engine.connect() as connection:
        rows = {
            r.qualified_name: (r.content_hash, r.deleted_at)
            for r in connection.execute(
                sa.select(assets).where(assets.c.data_source_id == source_id)
            )
        }
        fields = {
            (r.asset_id, getattr(r, field_key)): (getattr(r, field_value), r.deleted_at)
            for r in connection.execute(
                sa.select(asset_fields).where(asset_fields.c.data_source_id == source_id)
            )
        }
    return rows, fields


def writes(run: Any) -> dict[str, int]:
    """The rows a connector run inserted, updated and deleted."""
    return {key: run.stats[key] for key in ("inserted", "updated", "deleted")}
