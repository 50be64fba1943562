"""`/api/v1/data_sources`: register, list, read, change and remove sources; request and test syncs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from metadata_pipelines.api import views
from metadata_pipelines.api.context import Caller, State
from metadata_pipelines.api.idempotency import IdempotencyKey, fingerprint, remember, replay
from metadata_pipelines.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    paginate,
)
from metadata_pipelines.api.problems import ApiProblem
from metadata_pipelines.api.schemas import (
    ConnectionTestOut,
    ConnectorRunOut,
    DataSourceCreate,
    DataSourceCreated,
    DataSourceOut,
    DataSourceUpdate,
    RunRequest,
)
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.idempotency import IdempotentResult
from metadata_pipelines.orchestration.run_requests import request_metadata_sync

router = APIRouter(prefix="/data_sources", tags=["data sources"])

SourceId = Annotated[str, Path(max_length=64, description="The data source's id.")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DataSourceCreated,
    summary="Register a data source; its first sync is requested at once",
)
def create_data_source(
    body: DataSourceCreate,
    response: Response,
    state: State,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> DataSourceCreated:
    catalog = state.catalog
    request_hash = fingerprint("create", body.model_dump(exclude={"credentials"}))
    stored = replay(catalog, caller.tenant_id, idempotency_key, request_hash)
    if stored is None:
        source = catalog.data_sources.create(
            tenant_id=caller.tenant_id,
            name=body.name,
            connector_type=body.connector_type,
            config=body.config,
            credentials=body.credentials,
            enabled=body.enabled,
            sync_schedule=body.sync_schedule,
        )
        if source.enabled:
            request_metadata_sync(source.id, caller.tenant_id, "application", catalog=catalog)
        stored = remember(
            catalog,
            caller.tenant_id,
            idempotency_key,
            IdempotentResult(
                request_hash=request_hash,
                resource_type="data_source",
                resource_id=source.id,
                status_code=status.HTTP_201_CREATED,
            ),
        )
    source = catalog.data_sources.get(stored.resource_id, caller.tenant_id)
    # A retry with the same Idempotency-Key gets the source's latest run, usually still the first.
    latest = catalog.connector_runs.page(caller.tenant_id, source.id, limit=1)
    first_run = latest[0] if latest else None
    response.headers["Location"] = views.data_source_links(source.id).self
    return DataSourceCreated(
        **views.data_source_out(source, catalog.factory).model_dump(),
        first_run=views.run_out(first_run, state.dagster_ui_url) if first_run else None,
    )


@router.get("", response_model=Page[DataSourceOut], summary="List data sources by name")
def list_data_sources(
    state: State,
    caller: Caller,
    connector_type: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DataSourceOut]:
    after = decode_cursor(cursor, ("name",))["name"] if cursor else None
    rows = state.catalog.data_sources.page(
        caller.tenant_id, connector_type=connector_type, after_name=after, limit=limit + 1
    )
    items, next_cursor = paginate(rows, limit, lambda source: {"name": source.name})
    return Page[DataSourceOut](
        items=[views.data_source_out(s, state.catalog.factory) for s in items],
        next_cursor=next_cursor,
    )


@router.get("/{source_id}", response_model=DataSourceOut, summary="Read a data source")
def get_data_source(source_id: SourceId, state: State, caller: Caller) -> DataSourceOut:
    source = state.catalog.data_sources.get(source_id, caller.tenant_id)
    return views.data_source_out(source, state.catalog.factory)


@router.patch(
    "/{source_id}", response_model=DataSourceOut, summary="Change config, credentials, schedule"
)
def update_data_source(
    source_id: SourceId, body: DataSourceUpdate, state: State, caller: Caller
) -> DataSourceOut:
    given = body.model_fields_set
    if "config" in given and body.config is None:
        raise ApiProblem(422, "invalid_config", "Invalid configuration", "config cannot be null")
    source = state.catalog.data_sources.update(
        source_id,
        caller.tenant_id,
        config=body.config,
        credentials=body.credentials,
        enabled=body.enabled,
        sync_schedule=body.sync_schedule if "sync_schedule" in given else ...,
    )
    return views.data_source_out(source, state.catalog.factory)


@router.delete(
    "/{source_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a data source with its assets and run history",
)
def delete_data_source(source_id: SourceId, state: State, caller: Caller) -> Response:
    # Its Dagster partition goes with it: data_source_sensor drops partitions of removed sources.
    state.catalog.data_sources.remove(source_id, caller.tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{source_id}/run",
    response_model=ConnectorRunOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Request a sync (202); an active one is returned instead (200)",
    responses={
        200: {"model": ConnectorRunOut, "description": "A sync was already pending or running"}
    },
)
def request_run(
    source_id: SourceId,
    response: Response,
    state: State,
    caller: Caller,
    body: Annotated[RunRequest | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> ConnectorRunOut:
    catalog = state.catalog
    run_type = (body or RunRequest()).run_type
    request_hash = fingerprint("run", source_id, run_type)
    stored = replay(catalog, caller.tenant_id, idempotency_key, request_hash)
    if stored is None:
        run, created = request_metadata_sync(
            source_id, caller.tenant_id, "application", catalog=catalog
        )
        stored = remember(
            catalog,
            caller.tenant_id,
            idempotency_key,
            IdempotentResult(
                request_hash=request_hash,
                resource_type="connector_run",
                resource_id=run.id,
                status_code=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
            ),
        )
        if stored.resource_id != run.id:  # a concurrent request with the same key won
            run = catalog.connector_runs.get(stored.resource_id, caller.tenant_id)
    else:
        run = catalog.connector_runs.get(stored.resource_id, caller.tenant_id)
    response.status_code = stored.status_code
    response.headers["Location"] = f"{views.API_PREFIX}/connector_runs/{run.id}"
    return views.run_out(run, state.dagster_ui_url)


@router.post(
    "/{source_id}/test",
    response_model=ConnectionTestOut,
    summary="Test the connection with the stored config and credentials",
)
async def test_connection(source_id: SourceId, state: State, caller: Caller) -> ConnectionTestOut:
    ok, message = await run_in_threadpool(
        _test_connection, state.catalog, source_id, caller.tenant_id
    )
    return ConnectionTestOut(ok=ok, message=message)


def _test_connection(
    catalog: CatalogDatabase, source_id: str, tenant_id: str
) -> tuple[bool, str | None]:
    """In a worker thread with its own event loop, as a sync's ops run it: connectors may block."""
    source = catalog.data_sources.get(source_id, tenant_id)
    credentials = catalog.data_sources.credentials(source.id, tenant_id)
    return catalog.factory.test_connection(source.connector_type, source.config, credentials)
