"""Runs the `metadata_sync` job for one data source in this process and reports the outcome."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from metadata_pipelines.catalog.records import ConnectorRun
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.orchestration.resources import CatalogResource, default_resources

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


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
) -> SyncOutcome:
    """Sync one source now, in this process.

    Runs nothing, raising DataSourceNotFound, if the tenant lacks the source, or SyncAlreadyRunning
    if a run of its partition is queued or running: in-process runs skip the run queue, so they
    check its one-run-per-source rule themselves.
    """
    resources = {**default_resources(), **(resources or {})}
    catalog_resource: CatalogResource = resources["catalog"]
    catalog = catalog_resource.get_catalog()
    source = catalog.data_sources.get(data_source_id, tenant_id)
    active = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=metadata_sync_job.name,
            tags={"dagster/partition": source.id},
            statuses=ACTIVE_STATUSES,
        ),
        limit=1,
    )
    if active:
        raise SyncAlreadyRunning(
            f"data source {source.name!r} already has a sync {active[0].status.value.lower()} "
            f"(Dagster run {active[0].run_id}); try again when it has finished"
        )
    ensure_partition(instance, source.id)
    tags = {**run_tags.source_tags(source), run_tags.TRIGGER: trigger}
    if connector_run_id:
        tags[run_tags.CONNECTOR_RUN_ID] = connector_run_id
    with _IN_PROCESS_RUNS:
        result = metadata_sync_job.execute_in_process(
            instance=instance,
            partition_key=source.id,
            tags=tags,
            resources=resources,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            raise_on_error=False,
        )
    return SyncOutcome(
        dagster_run_id=result.run_id,
        dagster_success=result.success,
        connector_run=catalog.connector_runs.find_by_dagster_run_id(result.run_id),
    )
