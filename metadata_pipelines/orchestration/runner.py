"""Runs the `metadata_sync` job for one data source in this process and reports the outcome."""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dagster as dg

from metadata_pipelines.catalog.connector_runs import SourceBusy
from metadata_pipelines.catalog.records import ConnectorRun, RunStatus
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.dagster_api import (
    IN_FLIGHT_STATUSES,
    PARTITION_TAG,
    execute_in_process_uncaptured,
)
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.liveness import Heartbeat, expire_stale_runs, worker_name
from metadata_pipelines.orchestration.location import location_tags
from metadata_pipelines.orchestration.partition_migration import (
    SYNC_BUDGET_SECONDS,
    ensure_migrated,
)
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.orchestration.reconcile import reconcile_run, step_failure_details
from metadata_pipelines.orchestration.resources import CatalogResource, default_resources

# Dagster re-applies `logging.config.dictConfig` each time a run starts in a process (for the
# instance's python_logs handlers); that takes the logging module's lock and then each handler's,
# while a run already going holds its handler's lock and waits for the module's: two in-process
# runs at once deadlock. So in-process runs of one process take turns; runs launched by the daemon
# have a process each and run in parallel.
_IN_PROCESS_RUNS = threading.Lock()


class SyncAlreadyRunning(RuntimeError):
    """The source has a queued or running sync; two at once would race on its assets."""


@dataclass(frozen=True)
class SyncOutcome:
    dagster_run_id: str
    dagster_success: bool
    connector_run: ConnectorRun | None

    @property
    def status(self) -> str:
        return self.connector_run.status.value if self.connector_run else "failed"


def execute_sync(
    data_source_id: str,
    tenant_id: str,
    *,
    instance: dg.DagsterInstance,
    trigger: str = "application",
    connector_run_id: str | None = None,
    resources: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
    confirm_deletions: bool = False,
    run_id: str | None = None,
) -> SyncOutcome:
    """Sync one source now, in this process.

    Runs nothing, raising DataSourceNotFound, if the tenant lacks the source, or SyncAlreadyRunning
    if a run of its partition is queued or running: in-process runs skip the run queue, so they
    claim the source in the catalog first (atomic: at most one active connector run per source),
    after expiring runs of the source whose process is gone. The claim holds a lease that a thread
    renews until the run has ended.
    """
    resources = {**default_resources(), **(resources or {})}
    catalog_resource: CatalogResource = resources["catalog"]
    catalog = catalog_resource.get_catalog()
    source = catalog.data_sources.get(data_source_id, tenant_id)
    # An instance still on id partitions moves to keys (a bounded share per sync; see the module).
    ensure_migrated(instance, catalog, SYNC_BUDGET_SECONDS)
    expire_stale_runs(catalog, instance, source.id)
    active = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=metadata_sync_job.name,
            tags={PARTITION_TAG: source.partition_key},
            statuses=list(IN_FLIGHT_STATUSES),
        ),
        limit=1,
    )
    if active:
        raise SyncAlreadyRunning(
            f"data source {source.name!r} already has a sync {active[0].status.value.lower()} "
            f"(Dagster run {active[0].run_id}); try again when it has finished"
        )
    ensure_partition(instance, source.partition_key)
    dagster_run_id = run_id or str(uuid.uuid4())
    try:
        claimed = catalog.connector_runs.claim(
            tenant_id=source.tenant_id,
            data_source_id=source.id,
            dagster_run_id=dagster_run_id,
            trigger=trigger,
            worker=worker_name(),
            pending_run_id=connector_run_id,
        )
    except SourceBusy as busy:
        raise SyncAlreadyRunning(
            f"data source {source.name!r} already has a sync {busy.active.status.value} "
            f"(connector run {busy.active.id}); try again when it has finished"
        ) from None
    tags = {
        **location_tags(metadata_sync_job.name),
        **run_tags.source_tags(source),
        run_tags.TRIGGER: trigger,
        run_tags.CONNECTOR_RUN_ID: claimed.id,
    }
    if confirm_deletions:
        tags[run_tags.CONFIRM_DELETIONS] = "true"
    with Heartbeat(catalog, claimed.id), _IN_PROCESS_RUNS, _sigterm_as_found():
        result = execute_in_process_uncaptured(
            metadata_sync_job,
            instance=instance,
            partition_key=source.partition_key,
            run_id=dagster_run_id,
            tags=tags,
            resources=resources,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
    row = catalog.connector_runs.get(claimed.id)
    if not row.status.finished:  # the run ended before an op could close its row
        run = instance.get_run_by_id(dagster_run_id)
        assert run is not None
        code, message = None, None
        if not result.success:  # a step failed outside its op (the handover), or before it
            failed = instance.all_logs(dagster_run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
            code, message = step_failure_details(
                record.dagster_event for record in failed if record.dagster_event
            ) or (
                "run_failed",
                f"the Dagster run ended {run.status.value} before its ops recorded an outcome",
            )
        row, _ = reconcile_run(
            catalog,
            instance,
            run,
            RunStatus.SUCCEEDED if result.success else RunStatus.FAILED,
            error_code=code,
            error_message=message,
        )
    return SyncOutcome(
        dagster_run_id=result.run_id, dagster_success=result.success, connector_run=row
    )


@contextmanager
def _sigterm_as_found() -> Iterator[None]:
    """Leaves SIGTERM as the caller had it after an in-process run.

    Dagster's in-process execution points SIGTERM at SIGINT's handler on its way out. In a process
    started with SIGINT ignored (`nohup`, `&` from a script), SIGTERM then stays ignored: the
    process can no longer be stopped by SIGTERM, and every child it starts later inherits the
    ignored signal. Dagster's compute-log capture starts a `tail -F` per stream and stops it with
    SIGTERM, so each later run outside the main thread (`run_metadata_sync`) waited 2 x 30 s for
    tails that never stopped, and left them running. Signal handlers belong to the main thread, so
    only a run there can change them.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, sigterm)
