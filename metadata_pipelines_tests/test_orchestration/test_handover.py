"""The handover between extract and persist: batches as gzipped JSON in a directory or on S3 (moto in
server mode), removed once persisted, and the retention rule for what a run left behind."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import create_run_for_test

from metadata_pipelines.catalog.prepared_batch import PreparedBatch
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.orchestration.handover import (
    HandoverIOManager,
    LocalStore,
    handover_io_manager,
    open_store,
    prune_handovers,
)
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines.settings import get_settings
from metadata_pipelines_tests.conftest import MYSQL_URL
from metadata_pipelines_tests.support.s3_server import REGION

_URL = sa.make_url(MYSQL_URL)


@pytest.fixture
def catalog_url(sqlite_database_url):
    return sqlite_database_url


@pytest.fixture
def databases(mysql_server):
    """Two small databases: two batches of the MySQL connector."""
    prefix = f"mpt_handover_{uuid.uuid4().hex[:6]}_"
    names = [f"{prefix}a", f"{prefix}b"]
    with mysql_server.connect() as connection:
        for name in names:
            connection.execute(sa.text(f"CREATE DATABASE `{name}`"))
            for table in ("t1", "t2"):
                connection.execute(
                    sa.text(f"CREATE TABLE `{name}`.{table} (id INT PRIMARY KEY, note TEXT)")
                )
    yield prefix, names
    with mysql_server.connect() as connection:
        for name in names:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture
def source(databases, job_catalog, tenant_id):
    prefix, _ = databases
    return job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="two-databases",
        connector_type="mysql",
        config={
            "host": _URL.host or "127.0.0.1",
            "port": _URL.port or 3306,
            "include_databases": [f"{prefix}.*"],
        },
        credentials={"username": _URL.username or "root", "password": _URL.password or ""},
    )


def _extract_only(source, instance, resources) -> str:
    """A run that stops after extraction, as one whose persist failed does: its handover stays (and
    its connector run is closed as failed, as the run failure sensor would)."""
    ensure_partition(instance, source.id)
    result = metadata_sync_job.execute_in_process(
        instance=instance,
        partition_key=source.id,
        resources=resources,
        op_selection=["check_connection", "extract_metadata"],
        raise_on_error=True,
    )
    catalog = resources["catalog"].get_catalog()
    [row] = [
        row
        for row in catalog.connector_runs.list(data_source_id=source.id)
        if row.dagster_run_id == result.run_id
    ]
    catalog.connector_runs.finish(
        row.id, RunStatus.FAILED, error_code="test", error_message="stopped after extraction"
    )
    return result.run_id


def _batch_outputs(instance, run_id: str) -> dict[str, int]:
    """mapping key -> bytes handed over, from the run's STEP_OUTPUT and HANDLED_OUTPUT events."""
    keys = [
        record.dagster_event.step_output_data.step_output_handle.mapping_key
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT)
        if record.dagster_event.step_output_data.output_name == "batches"
    ]
    sizes = [
        record.dagster_event.event_specific_data.metadata["handover_bytes"].value
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.HANDLED_OUTPUT)
        if record.dagster_event.event_specific_data.output_name == "batches"
    ]
    return dict(zip(keys, sizes, strict=True))


def test_a_sync_hands_over_one_batch_per_database_and_removes_them(
    source, databases, job_catalog, dagster_instance, job_resources, tmp_path
):
    root = tmp_path / "handover"
    resources = {**job_resources, "io_manager": HandoverIOManager(url=str(root))}

    outcome = execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=resources
    )

    assert outcome.status == "succeeded"
    handled = _batch_outputs(dagster_instance, outcome.dagster_run_id)
    assert sorted(handled) == ["b00000", "b00001"]
    assert all(size > 0 for size in handled.values())
    assert not (root / outcome.dagster_run_id).exists()  # removed once persisted
    with job_catalog.engine.connect() as connection:
        names = set(
            connection.scalars(
                sa.select(assets.c.qualified_name).where(assets.c.data_source_id == source.id)
            )
        )
    _, (a, b) = databases
    assert names == {a, b, f"{a}.t1", f"{a}.t2", f"{b}.t1", f"{b}.t2"}


def test_a_run_that_stopped_after_extraction_keeps_its_handover_until_retention(
    source, databases, dagster_instance, job_resources, tmp_path
):
    root = tmp_path / "handover"
    resources = {**job_resources, "io_manager": HandoverIOManager(url=str(root))}

    stopped = _extract_only(source, dagster_instance, resources)

    batch_file = root / stopped / "extract_metadata" / "batches" / "b00001.json.gz"
    batch = PreparedBatch.model_validate_json(gzip.decompress(batch_file.read_bytes())).load()
    _, (_, b) = databases
    assert [database.name for database in batch.databases] == [b]
    assert sorted(table.name for table in batch.tables) == ["t1", "t2"]
    summary = json.loads(
        gzip.decompress((root / stopped / "extract_metadata" / "summary.json.gz").read_bytes())
    )
    assert summary["batches"] == 2
    assert summary["counts"]["table"] == 4

    in_flight = create_run_for_test(
        dagster_instance, job_name="metadata_sync", status=dg.DagsterRunStatus.STARTED
    )
    LocalStore(root).write(f"{in_flight.run_id}/extract_metadata/summary.json.gz", b"x")
    store = LocalStore(root)

    assert prune_handovers(store, dagster_instance, timedelta(days=1)) == []  # not old yet
    assert prune_handovers(store, dagster_instance, timedelta(0)) == [stopped]
    assert not (root / stopped).exists()
    assert (root / in_flight.run_id).exists()  # a run in flight keeps its handover


@pytest.fixture
def handover_bucket(s3_server, monkeypatch):
    """METADATA_PIPELINES_HANDOVER_URL on a bucket of the moto server; keys from the environment,
    as boto3 finds them in production."""
    bucket = f"handover-{uuid.uuid4().hex[:8]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("METADATA_PIPELINES_HANDOVER_URL", f"s3://{bucket}/runs")
    monkeypatch.setenv("METADATA_PIPELINES_HANDOVER_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.admin.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.admin.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    get_settings.cache_clear()
    open_store.cache_clear()
    yield client, bucket
    open_store.cache_clear()


def _keys(client, bucket: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_the_handover_on_object_storage(
    handover_bucket, source, databases, dagster_instance, job_resources
):
    client, bucket = handover_bucket
    resources = {**job_resources, "io_manager": handover_io_manager()}  # from the settings

    stopped = _extract_only(source, dagster_instance, resources)

    prefix = f"runs/{stopped}/"
    assert _keys(client, bucket) == [
        f"{prefix}check_connection/result.json.gz",
        f"{prefix}extract_metadata/batches/b00000.json.gz",
        f"{prefix}extract_metadata/batches/b00001.json.gz",
        f"{prefix}extract_metadata/summary.json.gz",
    ]
    body = client.get_object(Bucket=bucket, Key=f"{prefix}extract_metadata/batches/b00000.json.gz")
    batch = PreparedBatch.model_validate_json(gzip.decompress(body["Body"].read())).load()
    _, (a, _) = databases
    assert [database.name for database in batch.databases] == [a]

    outcome = execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=resources
    )

    assert outcome.status == "succeeded"
    assert sorted(_batch_outputs(dagster_instance, outcome.dagster_run_id)) == ["b00000", "b00001"]
    assert all(stopped in key for key in _keys(client, bucket))  # the sync's own are gone
    assert prune_handovers(handover_io_manager().store(), dagster_instance, timedelta(0)) == [
        stopped
    ]
    assert _keys(client, bucket) == []


def test_the_documented_compute_log_manager_writes_to_object_storage(
    handover_bucket, s3_server, tmp_path
):
    """docs/scaling.md's `compute_logs` block, pointed at the moto server: a step's output lands in
    the bucket."""
    client, bucket = handover_bucket

    @dg.op
    def speak() -> None:
        print("hello from a step")

    @dg.job
    def talk() -> None:
        speak()

    compute_logs = {
        "module": "dagster_aws.s3.compute_log_manager",
        "class": "S3ComputeLogManager",
        "config": {
            "bucket": bucket,
            "prefix": "compute-logs",
            "endpoint_url": s3_server.endpoint_url,
            "skip_empty_files": True,
            "upload_interval": 30,
            "local_dir": str(tmp_path / "logs"),
        },
    }
    with dg.instance_for_test(
        temp_dir=str(tmp_path), overrides={"compute_logs": compute_logs}
    ) as instance:
        assert talk.execute_in_process(instance=instance).success

    logs = [key for key in _keys(client, bucket) if key.startswith("compute-logs/")]
    assert any(key.endswith(".out") for key in logs), logs
    body = client.get_object(Bucket=bucket, Key=next(k for k in logs if k.endswith(".out")))
    assert b"hello from a step" in body["Body"].read()
