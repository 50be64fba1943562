"""Catalog assets: a source's live assets (by type, by name), and one asset with its fields."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from metadata_pipelines.api import views
from metadata_pipelines.api.context import Caller, State
from metadata_pipelines.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    paginate,
)
from metadata_pipelines.api.schemas import AssetDetailOut, AssetOut
from metadata_pipelines.catalog.browse import asset_detail, asset_page
from metadata_pipelines.models import AssetType

router = APIRouter(tags=["assets"])


@router.get(
    "/data_sources/{source_id}/assets",
    response_model=Page[AssetOut],
    summary="A data source's assets in qualified-name order",
)
def list_assets(
    source_id: Annotated[str, Path(max_length=64)],
    state: State,
    caller: Caller,
    asset_type: Annotated[AssetType | None, Query(alias="type")] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Case-insensitive part of the name."),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AssetOut]:
    catalog = state.catalog
    source = catalog.data_sources.get(source_id, caller.tenant_id)
    after = decode_cursor(cursor, ("qualified_name",))["qualified_name"] if cursor else None
    rows = asset_page(
        catalog.engine,
        caller.tenant_id,
        source.id,
        asset_type=asset_type.value if asset_type else None,
        search=q,
        after=after,
        limit=limit + 1,
    )
    items, next_cursor = paginate(rows, limit, lambda a: {"qualified_name": a.qualified_name})
    return Page[AssetOut](items=[views.asset_out(a) for a in items], next_cursor=next_cursor)


@router.get(
    "/assets/{asset_id}",
    response_model=AssetDetailOut,
    summary="An asset with its fields, constraints, indexes and statistics",
)
def get_asset(
    asset_id: Annotated[str, Path(max_length=64)], state: State, caller: Caller
) -> AssetDetailOut:
    return views.asset_detail_out(asset_detail(state.catalog.engine, caller.tenant_id, asset_id))
