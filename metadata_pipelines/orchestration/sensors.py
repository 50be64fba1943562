"""Sensors that keep Dagster in step with the catalog's data sources.

`data_source_sensor`: one partition per enabled data source, keyed by its readable partition key.
A new (or re-enabled) source gets a partition and a pending first sync; a removed or disabled one
loses its partition, and its queued runs are canceled. A cursor holds a fingerprint of the
data_sources table, so an idle tick is one aggregate query (and one look at the partition-key
migration's marker: an instance that still has id partitions is migrated first, see
partition_migration.py); a full comparison runs when the fingerprint changes and every few minutes
anyway (to repair partitions changed by hand).

`run_request_sensor`: launches pending connector runs (from the application, or from the sensor
above). The run carries the row's id in a tag and adopts the row; the run key is the row id, so a
row is launched once however often the sensor ticks before the run starts.
"""

from __future__ import annotations

import json
import time

import dagster as dg

from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.source_index import enabled_sources, sources_fingerprint
from metadata_pipelines.orchestration.dagster_api import PARTITION_TAG
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.partition_migration import (
    SENSOR_BUDGET_SECONDS,
    ensure_migrated,
)
from metadata_pipelines.orchestration.partitions import (
    DATA_SOURCES_PARTITION,
    data_source_partitions,
)
from metadata_pipelines.orchestration.resources import CatalogResource
from metadata_pipelines.orchestration.run_requests import launch_request
from metadata_pipelines.settings import get_settings

FULL_CHECK_SECONDS = 300
MAX_LAUNCHES_PER_TICK = 200


def _partition_requests(
    add: list[str], delete: list[str]
) -> list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest]:
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if add:
        requests.append(data_source_partitions.build_add_request(add))
    if delete:
        requests.append(data_source_partitions.build_delete_request(delete))
    return requests


@dg.sensor(
    name="data_source_sensor",
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "One partition per enabled data source: adds partitions (and a first sync) for new sources, "
        "removes those of removed or disabled sources."
    ),
)
def data_source_sensor(
    context: dg.SensorEvaluationContext, catalog: CatalogResource
) -> dg.SensorResult | dg.SkipReason:
    db = catalog.get_catalog()
    migrated = ensure_migrated(context.instance, db, SENSOR_BUDGET_SECONDS)
    if migrated is not None:
        context.log.info(f"partition keys migrated: {migrated.summary()}")
        if not migrated.complete:  # until then a moved partition would look like a new source
            return dg.SkipReason(f"moving partitions to readable keys: {migrated.summary()}")
    fingerprint = sources_fingerprint(db.engine)
    previous = json.loads(context.cursor) if context.cursor else {}
    now = time.time()
    if (
        migrated is None
        and previous.get("fingerprint") == fingerprint
        and now - previous.get("checked_at", 0) < FULL_CHECK_SECONDS
    ):
        return dg.SkipReason("no data source was added, removed, enabled or disabled")

    enabled = {source.partition_key: source for source in enabled_sources(db.engine)}
    partitions = set(context.instance.get_dynamic_partitions(DATA_SOURCES_PARTITION))
    to_add = sorted(set(enabled) - partitions)
    to_remove = sorted(partitions - set(enabled))

    requested = 0
    for key in to_add:
        try:
            _, created = db.connector_runs.create_pending(
                enabled[key].tenant_id, enabled[key].id, trigger="sensor"
            )
        except DataSourceNotFound:  # removed between the two queries
            continue
        requested += created
    canceled = _cancel_queued_runs(context.instance, to_remove)

    cursor = json.dumps({"fingerprint": fingerprint, "checked_at": now})
    if not to_add and not to_remove:
        return dg.SensorResult(cursor=cursor, skip_reason="partitions match the data sources")
    context.log.info(
        f"partitions: +{len(to_add)} -{len(to_remove)}; first syncs requested: {requested}; "
        f"queued runs canceled: {canceled}"
    )
    return dg.SensorResult(
        dynamic_partitions_requests=_partition_requests(to_add, to_remove), cursor=cursor
    )


def _cancel_queued_runs(instance: dg.DagsterInstance, partition_keys: list[str]) -> int:
    """Queued runs of removed/disabled sources never start (the cancel sensor records them)."""
    if not partition_keys:
        return 0
    queued = instance.get_runs(
        dg.RunsFilter(
            job_name=metadata_sync_job.name,
            statuses=[dg.DagsterRunStatus.QUEUED],
            tags={PARTITION_TAG: partition_keys},
        )
    )
    for run in queued:
        instance.run_coordinator.cancel_run(run.run_id)
    return len(queued)


@dg.sensor(
    name="run_request_sensor",
    job=metadata_sync_job,
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches pending connector runs requested by the application or by new sources.",
)
def run_request_sensor(
    context: dg.SensorEvaluationContext, catalog: CatalogResource
) -> dg.SensorResult | dg.SkipReason:
    db = catalog.get_catalog()
    pending = db.connector_runs.list_unlaunched(limit=MAX_LAUNCHES_PER_TICK)
    if not pending:
        return dg.SkipReason("no pending connector run")
    partitions = set(context.instance.get_dynamic_partitions(DATA_SOURCES_PARTITION))
    run_requests: list[dg.RunRequest] = []
    new_partitions: list[str] = []
    for row in pending:
        try:
            source = db.data_sources.get(row.data_source_id or "", row.tenant_id)
        except DataSourceNotFound:
            source = None
        if source is None or not source.enabled:
            db.connector_runs.finish(
                row.id,
                RunStatus.CANCELED,
                error_code="data_source_unavailable",
                error_message="the data source was removed or disabled before its sync started",
                only_if_unfinished=True,
            )
            continue
        if source.partition_key not in partitions:
            new_partitions.append(source.partition_key)
            partitions.add(source.partition_key)
        run_requests.append(launch_request(row, source))
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=_partition_requests(new_partitions, []),
    )
