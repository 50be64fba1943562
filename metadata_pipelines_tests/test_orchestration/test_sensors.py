"""data_source_sensor and run_request_sensor, evaluated with Dagster's sensor test contexts."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION, ensure_partition
from metadata_pipelines.orchestration.run_requests import (
    DataSourceDisabled,
    request_metadata_sync,
)
from metadata_pipelines.orchestration.sensors import data_source_sensor, run_request_sensor
from metadata_pipelines_tests.test_orchestration.automation_support import (
    QUEUED_COORDINATOR,
    apply_partition_requests,
    queued_run,
    register,
)


@pytest.fixture
def queued_instance(tmp_path):
    home = tmp_path / "queued_home"
    home.mkdir()
    with dg.instance_for_test(overrides=QUEUED_COORDINATOR, temp_dir=str(home)) as instance:
        yield instance


def _tick(sensor, instance, resources, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = sensor(context)
    if isinstance(result, dg.SensorResult):
        apply_partition_requests(instance, result)
    return result


def _partitions(instance) -> set[str]:
    return set(instance.get_dynamic_partitions(DATA_SOURCES_PARTITION))


def test_new_sources_get_a_partition_and_one_pending_first_sync(
    job_catalog, queued_instance, job_resources, tenant_id, tmp_path
):
    first = register(job_catalog, tenant_id, tmp_path, "first")
    second = register(job_catalog, tenant_id, tmp_path, "second")
    disabled = register(job_catalog, tenant_id, tmp_path, "off", enabled=False)

    result = _tick(data_source_sensor, queued_instance, job_resources)

    assert _partitions(queued_instance) == {first.partition_key, second.partition_key}
    assert result.run_requests == []  # run_request_sensor launches the pending rows
    pending = job_catalog.connector_runs.list_unlaunched()
    assert sorted(r.data_source_id for r in pending) == sorted([first.id, second.id])
    for row in pending:
        assert row.status is RunStatus.PENDING
        assert row.trigger == "sensor"
        assert row.tenant_id == tenant_id
        assert row.dagster_run_id is None and row.attempts == 0
    assert disabled.partition_key not in _partitions(queued_instance)

    again = _tick(data_source_sensor, queued_instance, job_resources, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason)
    forced = _tick(
        data_source_sensor,
        queued_instance,
        job_resources,
        cursor=json.dumps({**json.loads(result.cursor), "checked_at": 0}),
    )
    assert forced.dynamic_partitions_requests == []
    assert len(job_catalog.connector_runs.list_unlaunched()) == 2


def test_disabled_and_removed_sources_lose_their_partition_and_queued_runs(
    job_catalog, queued_instance, job_resources, tenant_id, tmp_path
):
    keep = register(job_catalog, tenant_id, tmp_path, "keep")
    disable = register(job_catalog, tenant_id, tmp_path, "disable")
    remove = register(job_catalog, tenant_id, tmp_path, "remove")
    cursor = _tick(data_source_sensor, queued_instance, job_resources).cursor
    waiting = queued_run(queued_instance, disable.partition_key)
    other = queued_run(queued_instance, keep.partition_key)

    job_catalog.data_sources.update(disable.id, tenant_id, enabled=False)
    job_catalog.data_sources.remove(remove.id, tenant_id)
    result = _tick(data_source_sensor, queued_instance, job_resources, cursor=cursor)

    assert _partitions(queued_instance) == {keep.partition_key}
    deletes = [
        r
        for r in result.dynamic_partitions_requests
        if isinstance(r, dg.DeleteDynamicPartitionsRequest)
    ]
    assert sorted(deletes[0].partition_keys) == sorted(
        [disable.partition_key, remove.partition_key]
    )
    assert queued_instance.get_run_by_id(waiting.run_id).status is dg.DagsterRunStatus.CANCELED
    assert queued_instance.get_run_by_id(other.run_id).status is dg.DagsterRunStatus.QUEUED

    job_catalog.data_sources.update(disable.id, tenant_id, enabled=True)
    _tick(data_source_sensor, queued_instance, job_resources, cursor=result.cursor)
    assert _partitions(queued_instance) == {keep.partition_key, disable.partition_key}


def test_a_hand_made_partition_is_removed_at_the_next_full_check(
    job_catalog, queued_instance, job_resources, tenant_id, tmp_path
):
    register(job_catalog, tenant_id, tmp_path, "only")
    cursor = _tick(data_source_sensor, queued_instance, job_resources).cursor
    ensure_partition(queued_instance, "typo-in-a-partition-key")

    skipped = _tick(data_source_sensor, queued_instance, job_resources, cursor=cursor)
    assert isinstance(skipped, dg.SkipReason)
    stale = json.dumps({**json.loads(cursor), "checked_at": 0})
    _tick(data_source_sensor, queued_instance, job_resources, cursor=stale)
    assert "typo-in-a-partition-key" not in _partitions(queued_instance)


def test_an_idle_tick_is_one_query_however_many_sources(
    job_catalog, queued_instance, job_resources, tenant_id, tmp_path
):
    for index in range(40):
        register(job_catalog, tenant_id, tmp_path, f"bulk-{index:02}")
    cursor = _tick(data_source_sensor, queued_instance, job_resources).cursor
    assert len(_partitions(queued_instance)) == 40
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(job_catalog.engine, "before_cursor_execute", record)
    try:
        result = _tick(data_source_sensor, queued_instance, job_resources, cursor=cursor)
    finally:
        sa.event.remove(job_catalog.engine, "before_cursor_execute", record)
    assert isinstance(result, dg.SkipReason)
    catalog_queries = [s for s in statements if "data_sources" in s or "connector_runs" in s]
    assert len(catalog_queries) == 1


def test_application_request_is_launched_once_and_adopted_by_its_run(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path
):
    source = register(job_catalog, tenant_id, tmp_path, "app")

    row, created = request_metadata_sync(source.id, tenant_id, catalog=job_catalog)
    duplicate, created_again = request_metadata_sync(source.id, tenant_id, catalog=job_catalog)

    assert created and not created_again
    assert duplicate.id == row.id
    assert row.status is RunStatus.PENDING and row.trigger == "application"
    result = _tick(run_request_sensor, dagster_instance, job_resources)
    assert source.partition_key in _partitions(dagster_instance)  # added by the same tick
    [request] = result.run_requests
    assert request.run_key == f"connector-run:{row.id}"
    assert request.partition_key == source.partition_key == f"{tenant_id}/app"
    assert request.tags[run_tags.CONNECTOR_RUN_ID] == row.id
    assert request.tags[run_tags.TRIGGER] == "application"
    assert request.tags[run_tags.TENANT] == tenant_id
    assert request.tags[run_tags.DATA_SOURCE_NAME] == "app"
    assert request.tags[run_tags.CONNECTOR_TYPE] == "scripted"

    outcome = metadata_sync_job.execute_in_process(
        instance=dagster_instance,
        partition_key=request.partition_key,
        tags=request.tags,
        resources=job_resources,
    )

    adopted = job_catalog.connector_runs.get(row.id)
    assert adopted.dagster_run_id == outcome.run_id
    assert adopted.status is RunStatus.SUCCEEDED
    assert adopted.trigger == "application"
    assert adopted.attempts == 1
    assert job_catalog.connector_runs.find_by_dagster_run_id(outcome.run_id).id == row.id
    assert isinstance(_tick(run_request_sensor, dagster_instance, job_resources), dg.SkipReason)
    _, created_after = request_metadata_sync(source.id, tenant_id, catalog=job_catalog)
    assert created_after  # the previous sync is finished: a new request is a new run


def test_the_same_pending_row_keeps_its_run_key_until_adopted(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path
):
    source = register(job_catalog, tenant_id, tmp_path, "slow")
    row, _ = request_metadata_sync(source.id, tenant_id, catalog=job_catalog)

    keys = [
        [r.run_key for r in _tick(run_request_sensor, dagster_instance, job_resources).run_requests]
        for _ in range(2)
    ]

    assert keys == [[f"connector-run:{row.id}"]] * 2  # Dagster launches a run key once


def test_requests_for_unknown_disabled_or_foreign_sources_are_refused(
    job_catalog, tenant_id, tmp_path
):
    source = register(job_catalog, tenant_id, tmp_path, "mine")
    off = register(job_catalog, tenant_id, tmp_path, "off", enabled=False)

    with pytest.raises(DataSourceNotFound):
        request_metadata_sync("no-such-id", tenant_id, catalog=job_catalog)
    with pytest.raises(DataSourceNotFound):
        request_metadata_sync(source.id, "another-tenant", catalog=job_catalog)
    with pytest.raises(DataSourceDisabled, match="is disabled"):
        request_metadata_sync(off.id, tenant_id, catalog=job_catalog)
    with pytest.raises(ValueError, match="unknown trigger"):
        request_metadata_sync(source.id, tenant_id, trigger="cron", catalog=job_catalog)
    assert job_catalog.connector_runs.list(tenant_id=tenant_id) == []


def test_pending_row_of_a_source_disabled_meanwhile_is_canceled_not_launched(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path
):
    source = register(job_catalog, tenant_id, tmp_path, "soon-off")
    row, _ = request_metadata_sync(source.id, tenant_id, catalog=job_catalog)
    job_catalog.data_sources.update(source.id, tenant_id, enabled=False)

    result = _tick(run_request_sensor, dagster_instance, job_resources)

    assert result.run_requests == []
    closed = job_catalog.connector_runs.get(row.id)
    assert closed.status is RunStatus.CANCELED
    assert closed.error_code == "data_source_unavailable"
    assert "removed or disabled before its sync started" in closed.error_message
    assert closed.finished_at is not None
