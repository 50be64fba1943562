"""The `metadata_sync` job: one run syncs one data source (one partition)."""

from __future__ import annotations

import logging

import dagster as dg

from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.dagster_api import RETRY_STRATEGY_TAG
from metadata_pipelines.orchestration.executors import sync_executor
from metadata_pipelines.orchestration.ops import (
    check_source_connection,
    extract_metadata,
    persist_metadata,
)
from metadata_pipelines.orchestration.partitions import data_source_partitions
from metadata_pipelines.orchestration.resources import CatalogResource
from metadata_pipelines.orchestration.run_logs import CONSOLE_LOGGER_CONFIG, sync_console_logger

logger = logging.getLogger(__name__)


def tags_for_data_source(partition_key: str) -> dict[str, str]:
    """Tags for runs launched from the UI or a backfill, so they can be filtered and limited.

    Looked up when the run is created. If the catalog cannot answer, the run is still created and
    its first op adds the tags (or fails clearly for an unknown key).
    """
    try:
        source = CatalogResource().get_catalog().data_sources.for_partition(partition_key)
    except DataSourceNotFound:
        return {}
    except Exception as error:
        logger.warning("run tags for %s not resolved: %s", partition_key, type(error).__name__)
        return {}
    return run_tags.source_tags(source)


sync_partitioned_config = dg.PartitionedConfig(
    partitions_def=data_source_partitions,
    # Every launch by partition (schedules, sensors, backfills, the UI) turns the console logger on.
    run_config_for_partition_key_fn=lambda _key: CONSOLE_LOGGER_CONFIG,
    tags_for_partition_key_fn=tags_for_data_source,
)


# A run-level retry (crashed worker) re-runs the whole sync: the three ops are cheap next to the
# extraction, and outputs of a dead worker (in-memory or on its own disk) cannot be reloaded.
RETRY_ALL_STEPS = {RETRY_STRATEGY_TAG: "ALL_STEPS"}


@dg.job(
    name="metadata_sync",
    config=sync_partitioned_config,
    executor_def=sync_executor(),
    logger_defs={"console": sync_console_logger},
    tags=RETRY_ALL_STEPS,
    description=(
        "Sync the metadata of one data source into the catalog: check the connection, "
        "extract, persist. Partition key = the data source's `<tenant>/<name>` key."
    ),
)
def metadata_sync_job() -> None:
    target = check_source_connection()
    batches, summary = extract_metadata(target)
    persist_metadata(target, summary, batches.collect())
