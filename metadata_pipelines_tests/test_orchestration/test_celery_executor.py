"""The job unchanged on the Celery executor: RabbitMQ (a private vhost), two step workers, the
handover on object storage (moto in server mode), the production instance and catalog on PostgreSQL.

The run is executed as the daemon's run worker executes one, by `dagster job execute` on
`metadata_pipelines.definitions` in a process of its own whose environment selects the Celery
executor; its steps go to the workers through the broker. Then the same source, registered a second
time, is synced in process, and both catalogs must hold the same assets and fields.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import asset_fields, assets
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.orchestration.handover import open_store
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines.settings import get_settings
from metadata_pipelines_tests.conftest import MYSQL_URL
from metadata_pipelines_tests.support.celery_workers import celery_workers
from metadata_pipelines_tests.support.s3_server import REGION

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

_URL = sa.make_url(MYSQL_URL)
BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[2]
STEPS = ("check_connection", "extract_metadata", "persist_metadata")


@pytest.fixture
def databases(mysql_server):
    """Two small databases: the MySQL connector hands them over as two batches."""
    prefix = f"mpt_celery_{uuid.uuid4().hex[:6]}_"
    names = [f"{prefix}a", f"{prefix}b"]
    with mysql_server.connect() as connection:
        for name in names:
            connection.execute(sa.text(f"CREATE DATABASE `{name}`"))
            connection.execute(
                sa.text(
                    f"CREATE TABLE `{name}`.customers (id BIGINT PRIMARY KEY,"
                    " email VARCHAR(255) NOT NULL UNIQUE, note TEXT)"
                )
            )
            connection.execute(
                sa.text(
                    f"CREATE TABLE `{name}`.orders (id BIGINT PRIMARY KEY, customer_id BIGINT,"
                    f" total DECIMAL(10,2), FOREIGN KEY (customer_id) REFERENCES `{name}`.customers (id))"
                )
            )
            connection.execute(
                sa.text(
                    f"CREATE VIEW `{name}`.big AS SELECT id FROM `{name}`.orders WHERE total > 9"
                )
            )
    yield prefix
    with mysql_server.connect() as connection:
        for name in names:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture
def handover_bucket(s3_server, monkeypatch):
    """The handover on a bucket of the moto server, keys from the environment as in production."""
    bucket = f"handover-{uuid.uuid4().hex[:8]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    for name, value in {
        "METADATA_PIPELINES_HANDOVER_URL": f"s3://{bucket}/runs",
        "METADATA_PIPELINES_HANDOVER_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_server.admin.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3_server.admin.secret_access_key,
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    open_store.cache_clear()
    yield client, bucket
    open_store.cache_clear()


def _snapshot(catalog: CatalogDatabase, source_id: str):
    """Everything the catalog holds of a source, without ids and times."""
    with catalog.engine.connect() as connection:
        rows = list(
            connection.execute(sa.select(assets).where(assets.c.data_source_id == source_id))
        )
        names = {row.id: row.qualified_name for row in rows}
        held = {
            row.qualified_name: (
                row.asset_type,
                row.table_type,
                names.get(row.parent_id),
                row.content_hash,
                row.deleted_at is None,
            )
            for row in rows
        }
        fields = {
            (names[row.asset_id], row.path): (
                row.native_type,
                row.data_type,
                row.nullable,
                row.is_primary_key,
                row.content_hash,
                row.deleted_at is None,
            )
            for row in connection.execute(
                sa.select(asset_fields).where(asset_fields.c.data_source_id == source_id)
            )
        }
    return held, fields


def _register(catalog: CatalogDatabase, tenant_id: str, prefix: str):
    return catalog.data_sources.create(
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


def _step_workers(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """step key -> the Celery worker that executed it, from the run's event log."""
    workers = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        metadata = event.event_specific_data.metadata if event.event_specific_data else {}
        if "Celery worker" in metadata:
            workers[event.step_key] = metadata["Celery worker"].value
    return workers


def _step_pids(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    return {
        record.step_key: record.dagster_event.pid
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    }


def test_the_job_runs_unchanged_on_celery_workers_and_the_catalog_matches_an_in_process_run(
    production_home, rabbitmq_broker, handover_bucket, databases, tenant_id, monkeypatch
):
    client, bucket = handover_bucket
    monkeypatch.setenv("METADATA_PIPELINES_EXECUTOR", "celery")
    monkeypatch.setenv("METADATA_PIPELINES_CELERY_BROKER_URL", rabbitmq_broker.url)
    get_settings.cache_clear()
    settings = get_settings()
    catalog = CatalogDatabase(
        settings.catalog_database_url(),
        CredentialCipher([settings.secret_key.get_secret_value()]),
    )
    catalog.upgrade()
    on_celery = _register(catalog, tenant_id, databases)
    in_process = _register(catalog, f"{tenant_id}-in-process", databases)
    instance = dg.DagsterInstance.get()
    ensure_partition(instance, on_celery.id)

    with celery_workers(2, rabbitmq_broker.url, {}) as workers:
        run = subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "execute",
                "-m",
                "metadata_pipelines.definitions",
                "-j",
                "metadata_sync",
                "--tags",
                json.dumps({"dagster/partition": on_celery.id}),
            ],
            cwd=REPO_ROOT,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    [record] = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": on_celery.id}))
    run_id = record.dagster_run.run_id
    assert record.dagster_run.status is dg.DagsterRunStatus.SUCCESS
    # Every step in a worker; two workers, one task at a time each: consecutive steps alternate,
    # so extract and persist ran in different processes and the batches crossed the handover.
    by_step = _step_workers(instance, run_id)
    assert sorted(by_step) == sorted(STEPS)
    assert set(by_step.values()) == set(workers)
    assert by_step["check_connection"] != by_step["extract_metadata"]
    assert by_step["extract_metadata"] != by_step["persist_metadata"]
    pids = _step_pids(instance, run_id)
    assert pids["extract_metadata"] != pids["persist_metadata"]

    celery_row = catalog.connector_runs.find_by_dagster_run_id(run_id)
    assert celery_row.status is RunStatus.SUCCEEDED, celery_row.error_message
    assert (
        celery_row.stats["extracted"]["table"] == 4 and celery_row.stats["extracted"]["view"] == 2
    )
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0  # handover removed

    outcome = execute_sync(in_process.id, in_process.tenant_id, instance=instance)
    assert outcome.status == "succeeded"
    assert _snapshot(catalog, on_celery.id) == _snapshot(catalog, in_process.id)
    assert celery_row.stats["extracted"] == outcome.connector_run.stats["extracted"]

    # The broker's password is in the environment only: not in the run, its events or the catalog.
    stored = [serialize_value(entry) for entry in instance.all_logs(run_id)]
    stored.append(serialize_value(instance.get_run_by_id(run_id)))
    assert not [text for text in stored if rabbitmq_broker.password in text]
    assert rabbitmq_broker.password not in run.stdout + run.stderr
    assert rabbitmq_broker.password not in json.dumps(celery_row.model_dump(mode="json"))
    catalog.dispose()
    instance.dispose()
