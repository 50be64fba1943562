"""Run-status sensors keep connector_runs in step with Dagster runs, also where no op could."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import connector_runs
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.orchestration.resources import ExtractorFactoryResource
from metadata_pipelines.orchestration.run_requests import request_metadata_sync
from metadata_pipelines.orchestration.run_status import (
    connector_run_canceled_sensor,
    connector_run_failure_sensor,
    connector_run_success_sensor,
)
from metadata_pipelines.settings import CATALOG_URL_ENV
from metadata_pipelines_tests.support.reconstructable_sync import metadata_sync_for_tests
from metadata_pipelines_tests.test_orchestration.automation_support import (
    QUEUED_COORDINATOR,
    queued_run,
    register,
)

RETRY_EVERYTHING = {"run_retries": {"enabled": True, "max_retries": 1}}
RETRY_CRASHES_ONLY = {
    "run_retries": {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False}
}


class UnreachableVault(ExtractorFactoryResource):
    """A resource that fails while the run sets up, before any op body runs."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        raise RuntimeError("vault unreachable: cannot load connector plugins")


@pytest.fixture
def make_instance(tmp_path):
    """Instances with given overrides (run retries, queue), closed at the end of the test."""
    stack = []

    def make(overrides=None):
        home = tmp_path / f"home{len(stack)}"
        home.mkdir()
        manager = dg.instance_for_test(overrides=overrides, temp_dir=str(home))
        stack.append(manager)
        return manager.__enter__()

    yield make
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def _run(instance, resources, partition_key, tags=None):
    return metadata_sync_job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        tags=tags or {},
        resources=resources,
        raise_on_error=False,
    )


def _on_failure(instance, resources, result):
    context = dg.build_run_status_sensor_context(
        sensor_name=connector_run_failure_sensor.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        resources=resources,
    ).for_run_failure()
    connector_run_failure_sensor(context)


def _on_status(sensor, instance, resources, run_id, event_type):
    [record] = instance.get_records_for_run(run_id, of_type=event_type).records
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
        resources=resources,
    )
    sensor(context)


def test_unknown_partition_key_ends_with_a_failed_row_and_dagsters_error(
    job_catalog, make_instance, job_resources
):
    instance = make_instance()
    ensure_partition(instance, "ghost-source")
    result = _run(instance, job_resources, "ghost-source")
    assert not result.success
    assert job_catalog.connector_runs.find_by_dagster_run_id(result.run_id) is None

    _on_failure(instance, job_resources, result)
    _on_failure(instance, job_resources, result)  # a repeated evaluation changes nothing

    row = job_catalog.connector_runs.find_by_dagster_run_id(result.run_id)
    assert row.status is RunStatus.FAILED
    assert row.data_source_id is None and row.tenant_id is None
    assert row.error_code == "step_failed"
    assert row.error_message.startswith(
        "check_connection: no data source with the partition key 'ghost-source'"
    )
    assert row.attempts == 0
    assert row.trigger == "manual"
    assert row.started_at is not None and row.finished_at >= row.started_at
    assert len(job_catalog.connector_runs.list()) == 1


def test_resource_failure_before_the_first_op_fails_the_applications_pending_row(
    job_catalog, make_instance, job_resources, tenant_id, tmp_path
):
    instance = make_instance()
    source = register(job_catalog, tenant_id, tmp_path, "src")
    ensure_partition(instance, source.id)
    pending, _ = request_metadata_sync(source.id, tenant_id, catalog=job_catalog)
    broken = {**job_resources, "extractors": UnreachableVault()}

    result = _run(
        instance,
        broken,
        source.id,
        {run_tags.CONNECTOR_RUN_ID: pending.id, run_tags.TRIGGER: "application"},
    )
    assert job_catalog.connector_runs.get(pending.id).status is RunStatus.PENDING
    _on_failure(instance, job_resources, result)

    row = job_catalog.connector_runs.get(pending.id)
    assert row.dagster_run_id == result.run_id
    assert row.status is RunStatus.FAILED
    assert row.data_source_id == source.id and row.tenant_id == tenant_id
    assert row.trigger == "application"
    assert "vault unreachable" in row.error_message
    assert row.attempts == 0
    assert row.will_retry is False
    assert len(job_catalog.connector_runs.list(tenant_id=tenant_id)) == 1


def test_a_row_closed_by_its_ops_keeps_their_status_and_message(
    job_catalog, make_instance, job_resources, tenant_id, tmp_path
):
    instance = make_instance(RETRY_CRASHES_ONLY)
    source = register(job_catalog, tenant_id, tmp_path, "denied", failure="permanent", fail_times=9)
    ensure_partition(instance, source.id)
    result = _run(instance, job_resources, source.id)
    before = job_catalog.connector_runs.find_by_dagster_run_id(result.run_id)

    _on_failure(instance, job_resources, result)

    after = job_catalog.connector_runs.find_by_dagster_run_id(result.run_id)
    assert instance.get_run_by_id(result.run_id).tags["dagster/will_retry"] == "false"
    assert after == before
    assert after.error_code == "authentication_failed"
    assert after.error_message == "extract_metadata: access denied for password ***"
    assert after.will_retry is False


def test_a_run_that_dagster_will_retry_is_marked_and_its_retry_is_a_linked_new_row(
    job_catalog, make_instance, job_resources, tenant_id, tmp_path, catalog_url, monkeypatch
):
    instance = make_instance(RETRY_EVERYTHING)
    source = register(
        job_catalog,
        tenant_id,
        tmp_path,
        "flaky",
        failure="permanent",
        fail_times=1,
        attempts_file=str(tmp_path / "attempts.txt"),
    )
    ensure_partition(instance, source.id)
    parent = _run(instance, job_resources, source.id, {run_tags.TRIGGER: "backfill"})
    assert instance.get_run_by_id(parent.run_id).tags["dagster/will_retry"] == "true"
    assert instance.get_run_by_id(parent.run_id).tags["dagster/retry_strategy"] == "ALL_STEPS"

    _on_failure(instance, job_resources, parent)
    failed = job_catalog.connector_runs.find_by_dagster_run_id(parent.run_id)
    assert failed.status is RunStatus.FAILED and failed.will_retry is True
    assert failed.error_code == "authentication_failed"

    # What the run-retry daemon launches (strategy ALL_STEPS): a new run with the parent's tags.
    monkeypatch.setenv(CATALOG_URL_ENV, catalog_url)
    retry_id = _reexecute(instance, parent.run_id, step_selection=None)

    child = job_catalog.connector_runs.find_by_dagster_run_id(retry_id)
    assert child.id != failed.id
    assert child.parent_run_id == failed.id
    assert child.status is RunStatus.SUCCEEDED
    assert child.trigger == "backfill"
    assert child.attempts == 1
    assert child.data_source_id == source.id
    assert job_catalog.connector_runs.get(failed.id).status is RunStatus.FAILED


def test_reexecution_from_failure_gets_its_own_row_though_it_skips_the_first_op(
    job_catalog, make_instance, job_resources, tenant_id, tmp_path, catalog_url, monkeypatch
):
    instance = make_instance()
    source = register(
        job_catalog,
        tenant_id,
        tmp_path,
        "once-denied",
        failure="permanent",
        fail_times=1,
        attempts_file=str(tmp_path / "attempts.txt"),
    )
    ensure_partition(instance, source.id)
    monkeypatch.setenv(CATALOG_URL_ENV, catalog_url)
    # Through execute_job, so outputs are stored and a UI "re-execute from failure" can load them.
    with dg.execute_job(
        dg.reconstructable(metadata_sync_for_tests),
        instance=instance,
        tags={"dagster/partition": source.id},
    ) as parent:
        assert not parent.success
        parent_id = parent.run_id
    failed = job_catalog.connector_runs.find_by_dagster_run_id(parent_id)

    retry_id = _reexecute(instance, parent_id, step_selection=["extract_metadata*"])

    child = job_catalog.connector_runs.find_by_dagster_run_id(retry_id)
    assert child.id != failed.id
    assert child.parent_run_id == failed.id
    assert child.status is RunStatus.SUCCEEDED
    assert child.stats["extracted"]["table"] == 1
    assert job_catalog.connector_runs.get(failed.id).status is RunStatus.FAILED


def _reexecute(instance, parent_run_id, step_selection):
    """A re-execution as the run-retry daemon or the UI creates it: the parent's tags are kept
    (execute_job does not copy them itself)."""
    parent_tags = instance.get_run_by_id(parent_run_id).tags
    kept = ("dagster/partition", run_tags.TRIGGER, run_tags.TENANT, run_tags.CONNECTOR_RUN_ID)
    with dg.execute_job(
        dg.reconstructable(metadata_sync_for_tests),
        instance=instance,
        tags={key: parent_tags[key] for key in kept if key in parent_tags},
        reexecution_options=dg.ReexecutionOptions(
            parent_run_id=parent_run_id, step_selection=step_selection
        ),
    ) as result:
        assert result.success
        return result.run_id


def test_a_canceled_queued_run_cancels_the_pending_row_it_was_launched_for(
    job_catalog, make_instance, job_resources, tenant_id, tmp_path
):
    instance = make_instance(QUEUED_COORDINATOR)
    source = register(job_catalog, tenant_id, tmp_path, "waiting")
    ensure_partition(instance, source.id)
    pending, _ = request_metadata_sync(source.id, tenant_id, catalog=job_catalog)
    run = queued_run(instance, source.id, **{run_tags.CONNECTOR_RUN_ID: pending.id})

    instance.run_coordinator.cancel_run(run.run_id)
    _on_status(
        connector_run_canceled_sensor,
        instance,
        job_resources,
        run.run_id,
        dg.DagsterEventType.RUN_CANCELED,
    )

    row = job_catalog.connector_runs.get(pending.id)
    assert row.status is RunStatus.CANCELED
    assert row.dagster_run_id == run.run_id
    assert row.error_code == "canceled"
    assert row.started_at is None and row.finished_at is not None
    _, created = request_metadata_sync(source.id, tenant_id, catalog=job_catalog)
    assert created  # the canceled request no longer blocks a new one


def test_success_sensor_closes_a_row_left_open_and_leaves_closed_rows_alone(
    job_catalog, make_instance, job_resources, tenant_id, tmp_path
):
    instance = make_instance()
    source = register(job_catalog, tenant_id, tmp_path, "fine")
    ensure_partition(instance, source.id)
    result = _run(instance, job_resources, source.id)
    done = job_catalog.connector_runs.find_by_dagster_run_id(result.run_id)

    _on_status(
        connector_run_success_sensor,
        instance,
        job_resources,
        result.run_id,
        dg.DagsterEventType.RUN_SUCCESS,
    )
    assert job_catalog.connector_runs.get(done.id) == done

    with job_catalog.engine.begin() as connection:
        connection.execute(
            sa.update(connector_runs)
            .where(connector_runs.c.id == done.id)
            .values(status=RunStatus.RUNNING, finished_at=None)
        )
    _on_status(
        connector_run_success_sensor,
        instance,
        job_resources,
        result.run_id,
        dg.DagsterEventType.RUN_SUCCESS,
    )
    repaired = job_catalog.connector_runs.get(done.id)
    assert repaired.status is RunStatus.SUCCEEDED
    assert repaired.finished_at is not None
    assert repaired.stats == done.stats
