"""An instance made before readable partition keys (id partitions, runs and backfills keyed by
source ids) is moved to the keys once: by the first data_source_sensor tick or in-process sync."""

from __future__ import annotations

import time

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.remote_origin import RemotePartitionSetOrigin

from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.dagster_api import PARTITION_SET_TAG, PARTITION_TAG
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.location import location_tags, partition_set_name
from metadata_pipelines.orchestration.partition_migration import (
    ensure_migrated,
    is_migrated,
    migrate_partition_keys,
)
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION, ensure_partition
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines.orchestration.sensors import data_source_sensor
from metadata_pipelines_tests.test_orchestration.automation_support import (
    JOB_ORIGIN,
    apply_partition_requests,
    queued_run,
    register,
)

PARTITION_SET = partition_set_name(metadata_sync_job.name)


def _legacy_run(instance, resources, source, *, with_location: bool) -> dg.DagsterRun:
    """A finished in-process run keyed by the source id, as `sync` made them before the keys
    (and, without the location tags, before those were added to in-process runs)."""
    tags = location_tags(metadata_sync_job.name) if with_location else {}
    result = metadata_sync_job.execute_in_process(
        instance=instance, partition_key=source.id, tags=tags, resources=resources
    )
    assert result.success
    return instance.get_run_by_id(result.run_id)


def _legacy_backfill(instance, partition_names: list[str]) -> str:
    backfill_id = "oldbackfill"
    instance.add_backfill(
        PartitionBackfill(
            backfill_id=backfill_id,
            status=BulkActionStatus.COMPLETED,
            from_failure=False,
            tags={},
            backfill_timestamp=time.time(),
            partition_set_origin=RemotePartitionSetOrigin(
                repository_origin=JOB_ORIGIN.repository_origin, partition_set_name=PARTITION_SET
            ),
            partition_names=partition_names,
            last_submitted_partition_name=partition_names[-1],
        )
    )
    return backfill_id


@pytest.fixture
def legacy(job_catalog, dagster_instance, job_resources, tenant_id, tmp_path):
    """Two sources with id partitions and history: `finance` enabled (two in-process runs, one
    without location tags, and a queued run), `old` since disabled (its partition was removed, its
    run stays); a partition of a source removed long ago; a backfill over both ids."""
    finance = register(job_catalog, tenant_id, tmp_path, "Finance DB")
    old = register(job_catalog, tenant_id, tmp_path, "old")
    for source in (finance, old):
        ensure_partition(dagster_instance, source.id)
    runs = {
        "bare": _legacy_run(dagster_instance, job_resources, finance, with_location=False),
        "located": _legacy_run(dagster_instance, job_resources, finance, with_location=True),
        "old": _legacy_run(dagster_instance, job_resources, old, with_location=True),
        "queued": queued_run(dagster_instance, finance.id, **location_tags(metadata_sync_job.name)),
    }
    job_catalog.data_sources.update(old.id, tenant_id, enabled=False)
    dagster_instance.delete_dynamic_partition(DATA_SOURCES_PARTITION, old.id)
    ensure_partition(dagster_instance, "9f1c0c1e-0000-4000-8000-removedsource")
    backfill = _legacy_backfill(dagster_instance, [finance.id, old.id])
    return {"finance": finance, "old": old, "runs": runs, "backfill": backfill}


def _partition_of(instance, run: dg.DagsterRun) -> dict[str, str]:
    return dict(instance.get_run_by_id(run.run_id).tags)


def test_the_first_sensor_tick_moves_partitions_runs_and_backfills_to_readable_keys(
    legacy, job_catalog, dagster_instance, job_resources, tenant_id
):
    finance, old, runs = legacy["finance"], legacy["old"], legacy["runs"]
    assert finance.partition_key == f"{tenant_id}/finance-db"
    pending_before = len(job_catalog.connector_runs.list_unlaunched())

    context = dg.build_sensor_context(instance=dagster_instance, resources=job_resources)
    result = data_source_sensor(context)
    apply_partition_requests(dagster_instance, result)

    # The readable key replaced the id partition; the stray partition is the sensor's usual work.
    partitions = set(dagster_instance.get_dynamic_partitions(DATA_SOURCES_PARTITION))
    assert partitions == {finance.partition_key}
    # Moving a partition is not a new source: no first sync was requested for it.
    assert len(job_catalog.connector_runs.list_unlaunched()) == pending_before
    assert is_migrated(dagster_instance)

    for name in ("bare", "located", "queued"):
        tags = _partition_of(dagster_instance, runs[name])
        assert tags[PARTITION_TAG] == finance.partition_key, name
        assert tags[PARTITION_SET_TAG] == PARTITION_SET, name  # counts in the partition status
        assert tags[run_tags.DATA_SOURCE_ID] == finance.id, name
    assert _partition_of(dagster_instance, runs["old"])[PARTITION_TAG] == old.partition_key
    # Runs are found under the key, by tag and by the partition column the status reads.
    by_key = dagster_instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: finance.partition_key}))
    assert {r.run_id for r in by_key} == {runs[n].run_id for n in ("bare", "located", "queued")}
    status = {
        data.partition: data.status
        for data in dagster_instance.get_run_partition_data(
            dg.RunsFilter(job_name=metadata_sync_job.name, tags={PARTITION_SET_TAG: PARTITION_SET})
        )
    }
    assert status[finance.partition_key] in (
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.QUEUED,
    )
    assert status[old.partition_key] is dg.DagsterRunStatus.SUCCESS
    assert not set(status) & {finance.id, old.id}
    assert (
        dagster_instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: [finance.id, old.id]})) == []
    )

    backfill = dagster_instance.get_backfill(legacy["backfill"])
    assert list(backfill.partition_names) == [finance.partition_key, old.partition_key]
    assert backfill.last_submitted_partition_name == old.partition_key

    # Done once: later ticks and syncs only read the marker; running it again changes nothing.
    assert ensure_migrated(dagster_instance, job_catalog) is None
    again = migrate_partition_keys(dagster_instance, job_catalog)
    assert (again.partitions_added, again.runs_retagged, again.backfills_updated) == (0, 0, 0)
    assert again.partitions_deleted == 0


def test_an_in_process_sync_migrates_an_instance_no_daemon_ever_ran_on(
    legacy, job_catalog, dagster_instance, job_resources, tenant_id
):
    finance, runs = legacy["finance"], legacy["runs"]
    dagster_instance.report_run_canceled(dagster_instance.get_run_by_id(runs["queued"].run_id))

    outcome = execute_sync(
        finance.id, tenant_id, instance=dagster_instance, resources=job_resources
    )

    assert outcome.status == "succeeded"
    assert is_migrated(dagster_instance)
    new_run = dagster_instance.get_run_by_id(outcome.dagster_run_id)
    assert new_run.tags[PARTITION_TAG] == finance.partition_key
    history = dagster_instance.get_runs(
        dg.RunsFilter(tags={PARTITION_TAG: finance.partition_key, PARTITION_SET_TAG: PARTITION_SET})
    )
    assert len(history) == 4  # the three made with the id and the new one
    partitions = set(dagster_instance.get_dynamic_partitions(DATA_SOURCES_PARTITION))
    assert finance.partition_key in partitions and finance.id not in partitions


def test_an_interrupted_migration_finishes_on_the_next_attempt(
    legacy, job_catalog, dagster_instance, monkeypatch
):
    """Killed after re-tagging some runs (before the id partitions were deleted and the marker
    set): the next attempt re-tags the rest and completes."""
    finance = legacy["finance"]
    real = dagster_instance.add_run_tags
    calls = []

    def dies_on_the_second_run(run_id, new_tags):
        calls.append(run_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(run_id, new_tags)

    monkeypatch.setattr(dagster_instance, "add_run_tags", dies_on_the_second_run)
    with pytest.raises(KeyboardInterrupt):
        ensure_migrated(dagster_instance, job_catalog)
    monkeypatch.setattr(dagster_instance, "add_run_tags", real)
    assert not is_migrated(dagster_instance)
    assert dagster_instance.has_dynamic_partition(DATA_SOURCES_PARTITION, finance.id)

    report = ensure_migrated(dagster_instance, job_catalog)

    assert report is not None and report.runs_retagged == 3  # one was moved before the crash
    assert report.partitions_added == 0  # added before the crash
    assert report.partitions_deleted == 1
    assert (
        dagster_instance.get_runs(
            dg.RunsFilter(tags={PARTITION_TAG: [legacy["finance"].id, legacy["old"].id]})
        )
        == []
    )


def test_a_large_history_is_moved_a_budget_per_sensor_tick(
    legacy, job_catalog, dagster_instance, job_resources, monkeypatch
):
    """An instance whose re-tagging outlasts a tick's budget is moved over several ticks; until it
    is done the sensor does nothing else, so no moved partition is taken for a new source."""
    from metadata_pipelines.orchestration import partition_migration, sensors

    monkeypatch.setattr(partition_migration, "RUN_BATCH", 1)
    monkeypatch.setattr(sensors, "SENSOR_BUDGET_SECONDS", 0.0)  # one batch (one run) per tick
    pending_before = len(job_catalog.connector_runs.list_unlaunched())
    skipped = []
    for _ in range(10):
        context = dg.build_sensor_context(instance=dagster_instance, resources=job_resources)
        result = data_source_sensor(context)
        if not isinstance(result, dg.SkipReason):
            break
        skipped.append(result.skip_message)
        assert dagster_instance.has_dynamic_partition(DATA_SOURCES_PARTITION, legacy["finance"].id)
        assert not is_migrated(dagster_instance)
    else:
        pytest.fail("the migration never completed")

    assert len(skipped) == 4  # four runs, one per tick; the fifth tick completes and goes on
    assert all("time budget spent" in message for message in skipped)
    apply_partition_requests(dagster_instance, result)
    assert is_migrated(dagster_instance)
    partitions = set(dagster_instance.get_dynamic_partitions(DATA_SOURCES_PARTITION))
    assert partitions == {legacy["finance"].partition_key}
    assert len(job_catalog.connector_runs.list_unlaunched()) == pending_before
