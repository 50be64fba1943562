"""Faults under the real daemon and webserver (PostgreSQL instance, the repository's dagster.yaml):
a run terminated through GraphQL while it persists, a run whose worker is killed alone (its code
server sees the signal), and one whose worker is killed together with its code server. The persist is held at its COPY by a lock the test holds, so each fault lands
there."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines.settings import Settings
from metadata_pipelines_tests.conftest import POSTGRES_URL
from metadata_pipelines_tests.support.dagster_deployment import running_deployment, wait_for
from metadata_pipelines_tests.support.sync_faults import asset_fields_locked, wait_for_copy

# Generous bounds: runs are processes loading the code on a shared 2-core machine.
pytestmark = pytest.mark.timeout(1200)

TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture
def catalog_url(postgres_server):
    name = f"mp_faults_catalog_{uuid.uuid4().hex[:10]}"
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _connector(url: str):
    parsed = sa.make_url(url)

    def connect() -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            dbname=parsed.database,
        )

    return connect


def _active_row(catalog: CatalogDatabase, source_id: str):
    return next(
        (r for r in catalog.connector_runs.list(data_source_id=source_id) if r.dagster_run_id),
        None,
    )


def _parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_terminated_and_killed_runs_under_the_daemon(
    tmp_path, postgres_database_url, catalog_url, monkeypatch
):
    monkeypatch.setenv(Settings.variable("run_lease_seconds"), "10")
    key = Fernet.generate_key().decode()
    catalog = CatalogDatabase(catalog_url, CredentialCipher([key]))
    catalog.upgrade()
    connect = _connector(catalog_url)
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"

    def register(name: str):
        return catalog.data_sources.create(
            tenant_id=tenant,
            name=name,
            connector_type="sqlite",
            config={"path": str(create_sample_database(tmp_path / f"{name}.db"))},
        )

    with running_deployment(
        tmp_path / "dagster_home", postgres_database_url, catalog_url, key
    ) as deployment:
        instance = deployment.instance
        try:
            # 1. Terminated while persisting: CANCELED, connector run canceled, nothing stored.
            with asset_fields_locked(connect):
                terminated = register("terminated")  # the sensor launches its first sync
                wait_for_copy(connect, timeout=300)
                row = _active_row(catalog, terminated.id)
                answer = deployment.graphql(TERMINATE, {"runId": row.dagster_run_id})
                assert answer["terminateRun"]["__typename"] == "TerminateRunSuccess", answer
            wait_for(
                "the terminated run to end",
                lambda: instance.get_run_by_id(row.dagster_run_id).status in FINISHED,
                timeout=300,
            )
            assert instance.get_run_by_id(row.dagster_run_id).status is dg.DagsterRunStatus.CANCELED
            wait_for(
                "its connector run to close",
                lambda: catalog.connector_runs.get(row.id).status.finished,
                timeout=120,
            )

            # 2. Worker alone killed (SIGKILL) while persisting: its code server sees it exit and
            #    fails the run; the connector run names the signal and the step, not Dagster's
            #    "marked as failed from outside the execution context".
            with asset_fields_locked(connect):
                killed = register("killed")
                wait_for_copy(connect, timeout=300)
                shot = _active_row(catalog, killed.id)
                shot_pid = int(shot.worker.rpartition(":")[2])
                os.kill(shot_pid, signal.SIGKILL)
                wait_for(
                    "the killed worker's connector run to be closed",
                    lambda: catalog.connector_runs.get(shot.id).status.finished,
                    timeout=120,
                )
            wait_for(  # Dagster's retry of it, so its COPY is not taken for the next case's
                "the killed run's retry to succeed",
                lambda: any(
                    r.status is RunStatus.SUCCEEDED
                    for r in catalog.connector_runs.list(data_source_id=killed.id)
                ),
                timeout=400,
            )

            # 3. Worker and code server killed while persisting: failed once the lease runs out,
            #    with a message naming the worker, then retried by Dagster as a new run.
            with asset_fields_locked(connect):
                crashed = register("crashed")
                wait_for_copy(connect, timeout=300)
                lost = _active_row(catalog, crashed.id)
                worker_pid = int(lost.worker.rpartition(":")[2])
                code_server_pid = _parent_pid(worker_pid)
                os.kill(worker_pid, signal.SIGKILL)
                if b"grpc" in Path(f"/proc/{code_server_pid}/cmdline").read_bytes():
                    os.kill(code_server_pid, signal.SIGKILL)
            wait_for(
                "the lost run's connector run to be closed",
                lambda: catalog.connector_runs.get(lost.id).status.finished,
                timeout=300,
            )
            wait_for(
                "the retry of the lost run to succeed",
                lambda: any(
                    r.status is RunStatus.SUCCEEDED
                    for r in catalog.connector_runs.list(data_source_id=crashed.id)
                ),
                timeout=400,
            )
            # The retry's worker records the run's end after the connector run's: leaving the
            # deployment before then would stop that worker and fail the run.
            wait_for(
                "the lost run's retry to end in Dagster",
                lambda: (
                    (retries := _retries_of(instance, lost))
                    and all(run.status in FINISHED for run in retries)
                ),
                timeout=120,
            )
        except Exception:
            print(deployment.log_tail())
            raise

    canceled = catalog.connector_runs.get(row.id)
    assert canceled.status is RunStatus.CANCELED
    assert canceled.error_message == "persist_metadata: the Dagster run was terminated"
    with catalog.engine.connect() as connection:
        stored = connection.execute(
            sa.select(sa.func.count()).where(assets.c.data_source_id == terminated.id)
        ).scalar_one()
    assert stored == 0  # the persist's transaction rolled back

    shot_row = catalog.connector_runs.get(shot.id)
    assert shot_row.status is RunStatus.FAILED and shot_row.error_code == "worker_lost"
    assert shot_row.error_message.startswith(
        "the run worker process was killed by SIGKILL (signal 9) during persist_metadata"
    ), shot_row.error_message
    assert "outside the execution context" not in shot_row.error_message
    assert instance.get_run_by_id(shot.dagster_run_id).status is dg.DagsterRunStatus.FAILURE

    closed = catalog.connector_runs.get(lost.id)
    assert closed.status is RunStatus.FAILED
    assert closed.error_code == "worker_lost"
    assert f"worker process {worker_pid}" in closed.error_message
    assert "is gone (killed or crashed" in closed.error_message
    failed_run = instance.get_run_by_id(lost.dagster_run_id)
    assert failed_run.status is dg.DagsterRunStatus.FAILURE
    [failure] = instance.all_logs(lost.dagster_run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert failure.dagster_event.message == closed.error_message
    [retry] = _retries_of(instance, lost)
    if retry.status is dg.DagsterRunStatus.SUCCESS:
        retried = catalog.connector_runs.find_by_dagster_run_id(retry.run_id)
        assert retried.status is RunStatus.SUCCEEDED
    else:
        # Under load the sensor's next sync of the source may start first: then the retry is
        # refused (one sync per source) and that other run is the one that succeeded (waited above).
        assert retry.status is dg.DagsterRunStatus.FAILURE
        records = instance.all_logs(retry.run_id)
        assert any("one sync per data source at a time" in repr(r) for r in records), [
            r.message for r in records
        ]
    catalog.dispose()


def _retries_of(instance: dg.DagsterInstance, row) -> list[dg.DagsterRun]:
    """Dagster's retries of the run of connector run `row` (new runs naming it as parent)."""
    return instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": row.dagster_run_id}))
