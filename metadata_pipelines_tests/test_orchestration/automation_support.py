"""Helpers shared by the sensor, schedule and run-status tests."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import DataSource
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED, table, write_source

QUEUED_COORDINATOR = {
    "run_coordinator": {
        "module": "dagster._core.run_coordinator",
        "class": "QueuedRunCoordinator",
    }
}


def register(
    catalog: CatalogDatabase,
    tenant_id: str,
    tmp_path: Path,
    name: str,
    *,
    enabled: bool = True,
    sync_schedule: str | None = None,
    **config,
) -> DataSource:
    """A scripted source with one table; `config` adds scripted failures."""
    source_file = tmp_path / f"{name}.json"
    if not source_file.exists():
        write_source(source_file, [table("orders", {"id": "bigint"})])
    return catalog.data_sources.create(
        tenant_id=tenant_id,
        name=name,
        connector_type=SCRIPTED,
        config={"source_file": str(source_file), **config},
        credentials={"password": "pw"},
        enabled=enabled,
        sync_schedule=sync_schedule,
    )


def apply_partition_requests(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the sensor daemon does with a result's dynamic partition requests."""
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


# Queued runs must name the code location the daemon would launch them from.
JOB_ORIGIN = RemoteJobOrigin(
    repository_origin=RemoteRepositoryOrigin(
        code_location_origin=InProcessCodeLocationOrigin(
            loadable_target_origin=LoadableTargetOrigin(
                module_name="metadata_pipelines.definitions"
            ),
            location_name="metadata_pipelines",
        ),
        repository_name="__repository__",
    ),
    job_name=metadata_sync_job.name,
)


def queued_run(instance: dg.DagsterInstance, partition_key: str, **tags: str) -> dg.DagsterRun:
    """A metadata_sync run waiting in the queue, as the queued run coordinator leaves it."""
    return instance.create_run_for_job(
        metadata_sync_job,
        tags={"dagster/partition": partition_key, **tags},
        status=dg.DagsterRunStatus.QUEUED,
        remote_job_origin=JOB_ORIGIN,
    )
