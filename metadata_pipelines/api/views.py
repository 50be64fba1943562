"""Catalog records as API responses: links added, secret config values masked."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr

from metadata_pipelines.api.schemas import (
    AssetDetailOut,
    AssetOut,
    AssetStatistics,
    ConnectorRunOut,
    DataSourceLinks,
    DataSourceOut,
    FieldOut,
    RunError,
    RunLinks,
)
from metadata_pipelines.catalog.records import Asset, AssetDetail, ConnectorRun, DataSource
from metadata_pipelines.extractors.errors import ConfigurationError
from metadata_pipelines.extractors.factory import MetadataExtractorFactory

API_PREFIX = "/api/v1"
MASK = "********"


def data_source_links(source_id: str) -> DataSourceLinks:
    base = f"{API_PREFIX}/data_sources/{source_id}"
    return DataSourceLinks(self=base, runs=f"{base}/runs", assets=f"{base}/assets")


def data_source_out(source: DataSource, factory: MetadataExtractorFactory) -> DataSourceOut:
    return DataSourceOut(
        id=source.id,
        name=source.name,
        partition_key=source.partition_key,
        connector_type=source.connector_type,
        config=public_config(factory, source.connector_type, source.config),
        has_credentials=source.has_credentials,
        enabled=source.enabled,
        sync_schedule=source.sync_schedule,
        created_at=source.created_at,
        updated_at=source.updated_at,
        links=data_source_links(source.id),
    )


def public_config(
    factory: MetadataExtractorFactory, connector_type: str, config: dict[str, Any]
) -> dict[str, Any]:
    """`config` with the values of secret fields (SecretStr / SecretBytes) masked. Connectors keep
    secrets in credentials, but a config model may declare one too. A connector type this server
    does not know shows no config at all: which of its fields are secret is unknown."""
    try:
        model = factory.extractor_class(connector_type).config_model
    except ConfigurationError:
        return {}
    return _masked(model, config)


def _masked(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    shown = dict(values)
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in shown or shown[key] is None:
            continue
        kinds = _kinds(field.annotation)
        if kinds & {SecretStr, SecretBytes}:
            shown[key] = MASK
        elif isinstance(shown[key], dict):
            for kind in kinds:
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    shown[key] = _masked(kind, shown[key])
    return shown


def _kinds(annotation: Any) -> set[Any]:
    """The types an annotation admits, through Optional / unions."""
    if get_origin(annotation) in (Union, types.UnionType):
        return {kind for arg in get_args(annotation) for kind in _kinds(arg)}
    return {annotation}


def run_out(run: ConnectorRun, dagster_ui_url: str | None) -> ConnectorRunOut:
    stats = dict(run.stats) if run.stats is not None else None
    changes = stats.pop("changes", None) if stats is not None else None
    error = (
        RunError(code=run.error_code, message=run.error_message)
        if run.error_code or run.error_message
        else None
    )
    dagster_link = (
        f"{dagster_ui_url}/runs/{run.dagster_run_id}"
        if dagster_ui_url and run.dagster_run_id
        else None
    )
    return ConnectorRunOut(
        id=run.id,
        data_source_id=run.data_source_id,
        run_type=run.run_type,
        status=run.status,
        trigger=run.trigger,
        attempts=run.attempts,
        will_retry=run.will_retry,
        error=error,
        stats=stats,
        changes=changes,
        extraction_errors=run.extraction_errors,
        dagster_run_id=run.dagster_run_id,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        links=RunLinks(
            self=f"{API_PREFIX}/connector_runs/{run.id}",
            data_source=(
                f"{API_PREFIX}/data_sources/{run.data_source_id}" if run.data_source_id else None
            ),
            dagster_run=dagster_link,
        ),
    )


def _asset_links(asset: Asset) -> dict[str, str]:
    links = {
        "self": f"{API_PREFIX}/assets/{asset.id}",
        "data_source": f"{API_PREFIX}/data_sources/{asset.data_source_id}",
    }
    if asset.parent_id:
        links["parent"] = f"{API_PREFIX}/assets/{asset.parent_id}"
    return links


def asset_out(asset: Asset) -> AssetOut:
    return AssetOut(**asset.model_dump(), links=_asset_links(asset))


def asset_detail_out(asset: AssetDetail) -> AssetDetailOut:
    details = dict(asset.details)
    constraints = details.pop("constraints", None) or []
    indexes = details.pop("indexes", None) or []
    statistics = AssetStatistics(
        row_count=details.pop("row_count", None), size_bytes=details.pop("size_bytes", None)
    )
    summary = asset.model_dump(exclude={"details", "fields"})
    return AssetDetailOut(
        **summary,
        links=_asset_links(asset),
        fields=[FieldOut(**f.model_dump()) for f in asset.fields],
        constraints=constraints,
        indexes=indexes,
        statistics=statistics,
        details=details,
    )
