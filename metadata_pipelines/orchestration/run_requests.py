"""Sync requests from the application: record a pending connector run; a sensor launches it.

This is the seed's `POST /api/v1/data_sources/{id}/run {"run_type": "metadata"}`. The caller gets the
connector-run row at once and polls it; the Dagster run launched for it adopts the same row (its id
travels in the CONNECTOR_RUN_ID run tag), so the id the caller holds never changes.
"""

from __future__ import annotations

import dagster as dg

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import ConnectorRun, DataSource
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.resources import CatalogResource


class DataSourceDisabled(ValueError):
    """A disabled data source is never synced; enable it first."""


def request_metadata_sync(
    data_source_id: str,
    tenant_id: str,
    trigger: str = "application",
    *,
    catalog: CatalogDatabase | None = None,
) -> tuple[ConnectorRun, bool]:
    """Record a pending sync of one source; (run, created).

    If the source already has a pending or running sync, that run is returned with created=False and
    nothing new is started. Raises DataSourceNotFound if the tenant has no such source and
    DataSourceDisabled if it is disabled.
    """
    if trigger not in run_tags.TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; expected one of {run_tags.TRIGGERS}")
    catalog = catalog or CatalogResource().get_catalog()
    source = catalog.data_sources.get(data_source_id, tenant_id)
    if not source.enabled:
        raise DataSourceDisabled(f"data source {source.name!r} ({source.id}) is disabled")
    return catalog.connector_runs.create_pending(source.tenant_id, source.id, trigger)


def launch_request(run: ConnectorRun, source: DataSource) -> dg.RunRequest:
    """The Dagster run request for a pending row: one run key per row, so it launches once."""
    return dg.RunRequest(
        run_key=f"connector-run:{run.id}",
        partition_key=source.partition_key,
        tags={
            **run_tags.source_tags(source),
            run_tags.TRIGGER: run.trigger or "application",
            run_tags.CONNECTOR_RUN_ID: run.id,
        },
    )
