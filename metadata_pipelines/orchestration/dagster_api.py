"""What this project relies on in Dagster that Dagster's public API does not export.

`import dagster as dg` offers no constants for the tags Dagster itself puts on runs, and no set of
the statuses of a run that has not finished; Dagster defines both in private modules
(`dagster._core.storage.tags`, `dagster._core.storage.dagster_run`). They are spelled out here, once,
instead of importing those modules, and `test_dagster_api.py` compares each with Dagster's own
definition, so an upgrade that renames a tag or adds a run status fails that test by name instead of
silently breaking a run filter.
"""

from __future__ import annotations

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
