"""Which stored assets an extraction error protects: shared by persistence and the deletion guard."""

from __future__ import annotations

from typing import Any

from metadata_pipelines.models import AssetType, asset_path


def covered(path: tuple[str, ...], scopes: list[tuple[str, ...]]) -> bool:
    """True if a failed scope contains `path`, or `path` is an ancestor of a failed scope."""
    for scope in scopes:
        shorter = min(len(scope), len(path))
        if scope[:shorter] == path[:shorter]:
            return True
    return False


def stored_path(row: Any) -> tuple[str, ...]:
    """The asset path of a stored `assets` row (name, database_name, schema_name, asset_type)."""
    if row.asset_type == AssetType.DATABASE.value:
        return (row.name,)
    if row.asset_type == AssetType.SCHEMA.value:
        return (row.database_name, row.name)
    return asset_path(row.database_name, row.schema_name, row.name)
