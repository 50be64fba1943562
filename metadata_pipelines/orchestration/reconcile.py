"""Record how a Dagster run ended in its connector-run row (used by the run-status sensors, the
lease reconciliation and the in-process runner)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from metadata_pipelines.catalog.connector_runs import RunOutcome
from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import ConnectorRun, RunStatus
from metadata_pipelines.extractors.errors import scrub
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.dagster_api import PARTITION_TAG, WILL_RETRY_TAG

MAX_MESSAGE_CHARS = 2000


def reconcile_run(
    db: CatalogDatabase,
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    status: RunStatus,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
) -> tuple[ConnectorRun, bool]:
    """Record how `run` ended in its connector-run row; (row, whether anything changed)."""
    run = instance.get_run_by_id(run.run_id) or run  # fresh tags (will_retry is added at failure)
    key = run.tags.get(PARTITION_TAG)
    tenant_id = run.tags.get(run_tags.TENANT)
    data_source_id = None
    if key:
        try:
            source = db.data_sources.for_partition(key)
        except DataSourceNotFound:
            source = None
        if source is not None and tenant_id in (None, source.tenant_id):
            data_source_id, tenant_id = source.id, source.tenant_id
    record = instance.get_run_record_by_id(run.run_id)
    outcome = RunOutcome(
        dagster_run_id=run.run_id,
        status=status,
        tenant_id=tenant_id,
        data_source_id=data_source_id,
        trigger=run_tags.trigger_of(dict(run.tags)),
        parent_dagster_run_id=run.parent_run_id,
        pending_run_id=run.tags.get(run_tags.CONNECTOR_RUN_ID),
        error_code=error_code,
        error_message=_clean(db, error_message),
        will_retry=run.tags.get(WILL_RETRY_TAG, "").lower() == "true",
        started_at=_time(record.start_time) if record else None,
        finished_at=_time(record.end_time) if record else None,
    )
    return db.connector_runs.reconcile(outcome)


def _clean(db: CatalogDatabase, message: str | None) -> str | None:
    """Scrub the catalog's own password (a connection error may quote the URL) and truncate."""
    if message is None:
        return None
    text = scrub(message, db.secret_values())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _time(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None
