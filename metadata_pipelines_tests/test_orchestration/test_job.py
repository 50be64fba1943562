"""The metadata_sync job end to end, through a real Dagster instance and real catalogs."""

from __future__ import annotations

import json
import logging

import dagster as dg
import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION, ensure_partition
from metadata_pipelines.orchestration.retries import SYNC_RETRY_POLICY
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED, table, write_source

SECRET = "s3cr3t-Pa55word-XYZ"


@pytest.fixture
def source_file(tmp_path):
    return write_source(
        tmp_path / "source.json",
        [table("orders", {"id": "bigint", "total": "numeric"}), table("customers", {"id": "int"})],
    )


def _register(catalog, tenant_id, tmp_path, source_file, **config):
    return catalog.data_sources.create(
        tenant_id=tenant_id,
        name=f"src-{len(config)}-{config.get('failure', 'ok')}",
        connector_type=SCRIPTED,
        config={
            "source_file": str(source_file),
            "attempts_file": str(tmp_path / "attempts.txt"),
            **config,
        },
        credentials={"password": SECRET},
    )


def _sync(source, dagster_instance, job_resources):
    return execute_sync(
        source.id,
        source.tenant_id,
        instance=dagster_instance,
        trigger="manual",
        resources=job_resources,
    )


def _live_assets(catalog, source_id):
    with catalog.engine.connect() as connection:
        return {
            row.qualified_name: (row.content_hash, row.deleted_at)
            for row in connection.execute(
                sa.select(assets).where(assets.c.data_source_id == source_id)
            )
        }


def test_successful_sync_records_a_matching_connector_run(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path, source_file
):
    source = _register(job_catalog, tenant_id, tmp_path, source_file)

    outcome = _sync(source, dagster_instance, job_resources)

    assert outcome.dagster_success
    run = outcome.connector_run
    assert run.dagster_run_id == outcome.dagster_run_id
    assert run.status is RunStatus.SUCCEEDED
    assert run.attempts == 1
    assert run.trigger == "manual"
    assert run.finished_at is not None and run.error_message is None
    assert run.stats["assets"]["inserted"] == 1 + 1 + 2
    assert run.stats["extracted"]["table"] == 2
    dagster_run = dagster_instance.get_run_by_id(outcome.dagster_run_id)
    assert dagster_run.status is dg.DagsterRunStatus.SUCCESS
    assert dagster_run.tags["dagster/partition"] == source.partition_key
    assert dagster_run.tags[run_tags.DATA_SOURCE_ID] == source.id
    assert dagster_run.tags[run_tags.TENANT] == tenant_id
    assert dagster_run.tags[run_tags.DATA_SOURCE_NAME] == source.name
    assert dagster_run.tags[run_tags.CONNECTOR_TYPE] == SCRIPTED
    assert "shop.public.orders" in _live_assets(job_catalog, source.id)

    second = _sync(source, dagster_instance, job_resources)
    assert second.connector_run.id != run.id
    assert second.connector_run.stats["inserted"] == 0
    assert second.connector_run.stats["updated"] == 0


def test_permanent_error_fails_at_once_and_keeps_the_catalog(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path, source_file
):
    good = _register(job_catalog, tenant_id, tmp_path, source_file)
    _sync(good, dagster_instance, job_resources)
    before = _live_assets(job_catalog, good.id)
    job_catalog.data_sources.update(
        good.id,
        tenant_id,
        config={
            "source_file": str(source_file),
            "failure": "permanent",
            "fail_times": 99,
            "attempts_file": str(tmp_path / "attempts.txt"),
        },
    )

    outcome = _sync(good, dagster_instance, job_resources)

    assert not outcome.dagster_success
    run = outcome.connector_run
    assert run.status is RunStatus.FAILED
    assert run.attempts == 1
    assert run.error_code == "authentication_failed"
    assert run.error_message == "extract_metadata: access denied for password ***"
    assert (tmp_path / "attempts.txt").read_text() == "1"
    assert _live_assets(job_catalog, good.id) == before


def test_transient_error_is_retried_and_counted(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path, source_file
):
    source = _register(
        job_catalog, tenant_id, tmp_path, source_file, failure="transient", fail_times=2
    )

    outcome = _sync(source, dagster_instance, job_resources)

    assert outcome.dagster_success
    assert outcome.connector_run.status is RunStatus.SUCCEEDED
    assert outcome.connector_run.attempts == 3
    retries = [
        event
        for event in dagster_instance.all_logs(outcome.dagster_run_id)
        if event.dagster_event and event.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"
    ]
    assert len(retries) == 2


def test_transient_error_that_persists_fails_after_the_last_retry(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path, source_file
):
    source = _register(
        job_catalog,
        tenant_id,
        tmp_path,
        source_file,
        failure="transient",
        fail_times=99,
        fail_step="check",
    )

    outcome = _sync(source, dagster_instance, job_resources)

    run = outcome.connector_run
    assert run.status is RunStatus.FAILED
    assert run.attempts == SYNC_RETRY_POLICY.max_retries + 1
    assert run.error_code == "source_unavailable"
    assert run.error_message.endswith(
        f"(gave up after {SYNC_RETRY_POLICY.max_retries + 1} attempts)"
    )
    assert _live_assets(job_catalog, source.id) == {}


def test_disabled_source_fails_with_a_clear_message(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path, source_file
):
    source = _register(job_catalog, tenant_id, tmp_path, source_file)
    job_catalog.data_sources.update(source.id, tenant_id, enabled=False)

    outcome = _sync(source, dagster_instance, job_resources)

    assert outcome.connector_run.status is RunStatus.FAILED
    assert "is disabled" in outcome.connector_run.error_message
    assert not (tmp_path / "attempts.txt").exists()


def test_unknown_partition_key_fails_clearly(dagster_instance, job_resources, job_catalog):
    ensure_partition(dagster_instance, "no-such-source")

    result = metadata_sync_job.execute_in_process(
        instance=dagster_instance,
        partition_key="no-such-source",
        resources=job_resources,
        raise_on_error=False,
    )

    assert not result.success
    failure = result.failure_data_for_node("check_connection")
    assert "no data source with the partition key 'no-such-source'" in failure.error.message
    assert dagster_instance.has_dynamic_partition(DATA_SOURCES_PARTITION, "no-such-source")


def test_other_tenant_cannot_run_the_source(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path, source_file
):
    from metadata_pipelines.catalog.data_sources import DataSourceNotFound

    source = _register(job_catalog, tenant_id, tmp_path, source_file)

    with pytest.raises(DataSourceNotFound):
        execute_sync(source.id, "intruder", instance=dagster_instance, resources=job_resources)
    assert dagster_instance.get_runs() == []


def test_credentials_never_reach_dagster_storage_or_logs(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path, source_file, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    flaky = _register(
        job_catalog, tenant_id, tmp_path, source_file, failure="transient", fail_times=1
    )
    broken = job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="broken",
        connector_type=SCRIPTED,
        config={"source_file": str(source_file), "failure": "permanent", "fail_times": 9},
        credentials={"password": SECRET},
    )

    runs = [_sync(s, dagster_instance, job_resources) for s in (flaky, broken)]

    assert [r.connector_run.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.FAILED]
    for outcome in runs:
        dagster_run = dagster_instance.get_run_by_id(outcome.dagster_run_id)
        assert SECRET not in json.dumps(dagster_run.run_config, default=str)
        assert SECRET not in json.dumps(dict(dagster_run.tags))
        for record in dagster_instance.all_logs(outcome.dagster_run_id):
            assert SECRET not in repr(record)
        assert SECRET not in json.dumps(outcome.connector_run.model_dump(mode="json"))
    captured = capfd.readouterr()
    assert SECRET not in captured.out + captured.err
    assert SECRET not in caplog.text
    with job_catalog.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT credentials_encrypted FROM data_sources"))
        assert all(SECRET not in row[0] for row in stored)


def test_in_process_sync_refuses_while_the_source_has_an_active_run(
    job_catalog, dagster_instance, job_resources, tenant_id, tmp_path, source_file
):
    from metadata_pipelines.orchestration.runner import SyncAlreadyRunning

    source = _register(job_catalog, tenant_id, tmp_path, source_file)
    ensure_partition(dagster_instance, source.partition_key)
    active = dagster_instance.create_run_for_job(
        metadata_sync_job,
        tags={"dagster/partition": source.partition_key},
        status=dg.DagsterRunStatus.NOT_STARTED,
    )

    with pytest.raises(SyncAlreadyRunning, match=active.run_id):
        _sync(source, dagster_instance, job_resources)
    assert job_catalog.connector_runs.list(data_source_id=source.id) == []

    dagster_instance.report_run_canceled(active)
    assert (
        _sync(source, dagster_instance, job_resources).connector_run.status is RunStatus.SUCCEEDED
    )
