"""What this project relies on in Dagster that Dagster's public API does not export.

`import dagster as dg` offers no constants for the tags Dagster itself puts on runs, and no set of
the statuses of a run that has not finished; Dagster defines both in private modules
(`dagster._core.storage.tags`, `dagster._core.storage.dagster_run`). They are spelled out here, once,
instead of importing those modules, and `test_dagster_api.py` compares each with Dagster's own
definition, so an upgrade that renames a tag or adds a run status fails that test by name instead of
silently breaking a run filter.

One function here does call Dagster's private modules: `execute_in_process_uncaptured`, because the
public `execute_in_process` cannot be told not to keep every op output in memory; its test runs a
job through it, so an upgrade that moves those modules fails there too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

PARTITION_TAG = "dagster/partition"
"""The partition key of a partitioned run: here, the data source's readable partition key."""
PARTITION_SET_TAG = "dagster/partition_set"
"""Ties a partitioned run to its job's partition set: runs without it miss the partition status."""
REPOSITORY_LABEL_TAG = ".dagster/repository"
BACKFILL_TAG = "dagster/backfill"
SCHEDULE_NAME_TAG = "dagster/schedule_name"
SENSOR_NAME_TAG = "dagster/sensor_name"
WILL_RETRY_TAG = "dagster/will_retry"
"""Set on a failed run: "true" when Dagster's run retries will launch it again."""
RETRY_STRATEGY_TAG = "dagster/retry_strategy"

IN_FLIGHT_STATUSES = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)
"""A run of the source is queued or running: another sync of it would race on its assets."""


def execute_in_process_uncaptured(
    job: dg.JobDefinition,
    *,
    instance: dg.DagsterInstance,
    partition_key: str,
    run_id: str,
    tags: Mapping[str, str],
    resources: Mapping[str, Any],
    run_config: Mapping[str, Any],
) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process(..., raise_on_error=False)` without keeping every op output in memory.

    `execute_in_process` captures each output's value for `result.output_for_node()`: for a sync
    that is every batch of the source, so a million columns stayed in memory however small the
    batches. This is its body (Dagster 1.13) with that capture off; a run launched by the daemon
    captures nothing either. The result's `output_for_node()` is then unavailable.
    """
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.execution.execute_in_process import (
        core_execute_in_process,
        merge_run_tags,
        type_check_and_normalize_args,
    )

    run_config, op_selection, asset_selection, resource_defs, partition_key, input_values = (
        type_check_and_normalize_args(
            run_config=run_config, partition_key=partition_key, resources=resources
        )
    )
    ephemeral_job = job.as_ephemeral_job(
        resource_defs=resource_defs,
        input_values=input_values,
        op_selection=op_selection,
        asset_selection=asset_selection,
    )
    if partition_key and ephemeral_job.partitions_def:
        with partition_loading_context(dynamic_partitions_store=instance) as context:
            ephemeral_job.validate_partition_key(
                partition_key=partition_key,
                selected_asset_keys=set(asset_selection),
                context=context,
            )
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral_job),
        run_config=run_config,
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=False,
        run_tags=merge_run_tags(
            job_def=job,
            partition_key=partition_key,
            tags=tags,
            asset_selection=asset_selection,
            instance=instance,
            run_config=run_config,
        ),
        run_id=run_id,
        asset_selection=frozenset(asset_selection),
    )
