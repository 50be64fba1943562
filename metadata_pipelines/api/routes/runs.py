"""Connector runs: one, or a source's history (newest first)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path

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
from metadata_pipelines.api.problems import ApiProblem
from metadata_pipelines.api.schemas import ConnectorRunOut

router = APIRouter(tags=["connector runs"])


@router.get(
    "/connector_runs/{run_id}", response_model=ConnectorRunOut, summary="Read a connector run"
)
def get_run(
    run_id: Annotated[str, Path(max_length=64)], state: State, caller: Caller
) -> ConnectorRunOut:
    run = state.catalog.connector_runs.get(run_id, caller.tenant_id)
    return views.run_out(run, state.dagster_ui_url)


@router.get(
    "/data_sources/{source_id}/runs",
    response_model=Page[ConnectorRunOut],
    summary="A data source's connector runs, newest first",
)
def list_runs(
    source_id: Annotated[str, Path(max_length=64)],
    state: State,
    caller: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ConnectorRunOut]:
    catalog = state.catalog
    source = catalog.data_sources.get(source_id, caller.tenant_id)
    before = None
    if cursor:
        position = decode_cursor(cursor, ("created_at", "id"))
        try:
            before = (datetime.fromisoformat(position["created_at"]), position["id"])
        except ValueError:
            raise ApiProblem(400, "invalid_cursor", "Invalid cursor") from None
    rows = catalog.connector_runs.page(caller.tenant_id, source.id, before=before, limit=limit + 1)
    items, next_cursor = paginate(
        rows, limit, lambda run: {"created_at": run.created_at.isoformat(), "id": run.id}
    )
    return Page[ConnectorRunOut](
        items=[views.run_out(run, state.dagster_ui_url) for run in items], next_cursor=next_cursor
    )
