"""The executor of metadata_sync, chosen by METADATA_PIPELINES_EXECUTOR; the Celery broker's
password stays in the environment of the processes that use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.orchestration.executors import (
    LOCAL_BROKER,
    RESULT_BACKEND,
    celery_app_args,
    sync_executor,
)
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines.settings import get_settings

CANARY = "broker-Pa55-canary"
BROKER = f"pyamqp://sync:{CANARY}@rabbitmq.internal:5672/metadata"


def test_steps_run_in_the_run_process_by_default():
    assert sync_executor() is dg.in_process_executor


def test_multiprocess(monkeypatch):
    monkeypatch.setenv("METADATA_PIPELINES_EXECUTOR", "multiprocess")
    assert sync_executor() is dg.multiprocess_executor


def test_celery_on_the_local_broker_when_none_is_configured(monkeypatch):
    monkeypatch.setenv("METADATA_PIPELINES_EXECUTOR", "celery")

    executor = sync_executor()

    assert executor.name == "celery"
    args = celery_app_args()
    assert (args["broker"], args["backend"]) == (LOCAL_BROKER, RESULT_BACKEND)


def test_the_deployed_job_takes_the_celery_executor_and_holds_no_broker_password():
    """In a fresh process, as the code server and the run worker load the code location."""
    script = (
        "from dagster._serdes import serialize_value\n"
        "from metadata_pipelines.definitions import defs\n"
        "job = defs.get_job_def('metadata_sync')\n"
        "print(job.executor_def.name)\n"
        "print(serialize_value(job.get_job_snapshot()))\n"
    )
    env = {
        "METADATA_PIPELINES_EXECUTOR": "celery",
        "METADATA_PIPELINES_CELERY_BROKER_URL": BROKER,
    }
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert loaded.returncode == 0, loaded.stderr[-2000:]
    name, snapshot = loaded.stdout.split("\n", 1)
    assert name == "celery"
    assert CANARY not in snapshot and CANARY not in loaded.stderr


def test_the_workers_app_reads_the_broker_from_the_environment(monkeypatch):
    monkeypatch.setenv("METADATA_PIPELINES_EXECUTOR", "celery")
    monkeypatch.setenv("METADATA_PIPELINES_CELERY_BROKER_URL", BROKER)

    assert celery_app_args()["broker"] == BROKER


@pytest.mark.parametrize("value", ["", "in_process"])
def test_empty_or_explicit_in_process(monkeypatch, value):
    monkeypatch.setenv("METADATA_PIPELINES_EXECUTOR", value)
    assert sync_executor() is dg.in_process_executor


@pytest.mark.slow
def test_the_multiprocess_executor_runs_each_step_in_a_process_of_its_own(
    production_home, tmp_path, tenant_id, monkeypatch
):
    """As a run worker executes a run (`dagster job execute` on the code location): three steps,
    three processes, the batches handed over through the default (local) handover."""
    monkeypatch.setenv("METADATA_PIPELINES_EXECUTOR", "multiprocess")
    settings = get_settings()
    catalog = CatalogDatabase(
        settings.catalog_database_url(),
        CredentialCipher([settings.secret_key.get_secret_value()]),
    )
    catalog.upgrade()
    source = catalog.data_sources.create(
        tenant_id=tenant_id,
        name="shop",
        connector_type="sqlite",
        config={"path": str(create_sample_database(tmp_path / "shop.db"))},
    )
    instance = dg.DagsterInstance.get()
    ensure_partition(instance, source.id)

    executed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "execute",
            "-m",
            "metadata_pipelines.definitions",
            "-j",
            "metadata_sync",
            "--tags",
            json.dumps({"dagster/partition": source.id}),
        ],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert executed.returncode == 0, executed.stderr[-3000:]
    [run] = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": source.id}))
    assert run.status is dg.DagsterRunStatus.SUCCESS
    pids = {
        record.step_key: record.dagster_event.pid
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
    }
    assert len(pids) == 3 and len(set(pids.values())) == 3
    row = catalog.connector_runs.find_by_dagster_run_id(run.run_id)
    assert row.status is RunStatus.SUCCEEDED, row.error_message
    assert row.stats["extracted"]["table"] == 7
    catalog.dispose()
    instance.dispose()
