"""The programmatic API from the seed: `await run_metadata_sync(data_source_id, tenant_id, run_id)`."""

from __future__ import annotations

import asyncio

from metadata_pipelines.catalog.records import ConnectorRun
from metadata_pipelines.orchestration.instance import get_instance
from metadata_pipelines.orchestration.runner import execute_sync


class MetadataSyncError(RuntimeError):
    """The sync could not produce a connector run (it failed before its first op)."""


async def run_metadata_sync(
    data_source_id: str,
    tenant_id: str,
    run_id: str | None = None,
    *,
    confirm_deletions: bool = False,
) -> ConnectorRun:
    """Run the `metadata_sync` job for this data source and return its connector run.

    `run_id` is the id of a pending connector run (as created by a run request) that this sync
    adopts; without it a new connector run is recorded. A tenant that does not own the data source
    gets `DataSourceNotFound`, and a source with a queued or running sync `SyncAlreadyRunning`; in
    both cases nothing runs. The job runs in a worker thread, so the caller's
    event loop stays free. `confirm_deletions` deletes what the deletion fail-safe would hold
    (a whole database, or more than a share of the source; see docs/reliability.md).
    """
    outcome = await asyncio.to_thread(
        execute_sync,
        data_source_id,
        tenant_id,
        instance=get_instance(),
        trigger="application",
        connector_run_id=run_id,
        confirm_deletions=confirm_deletions,
    )
    if outcome.connector_run is None:
        raise MetadataSyncError(
            f"Dagster run {outcome.dagster_run_id} failed before recording a connector run"
        )
    return outcome.connector_run
