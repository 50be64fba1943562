"""One sync per source, and no sync stuck forever: the CLI in the production configuration
(PostgreSQL catalog and Dagster instance), with the persist held at its COPY by a lock the test
holds so each fault lands at a chosen moment."""

from __future__ import annotations

import os
import signal

import dagster as dg
import psycopg2
import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.connector_runs import SourceBusy
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.orchestration.instance import get_instance
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.support.dagster_deployment import wait_for
from metadata_pipelines_tests.support.sync_faults import (
    asset_fields_locked,
    sync_command,
    wait_for_copy,
)

pytestmark = pytest.mark.timeout(600)

LEASE = "3"  # seconds


@pytest.fixture
def shop(production_home, tmp_path):
    get_instance()  # creates Dagster's tables once, before several processes race to
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    source = catalog.data_sources.create(
        tenant_id="acme",
        name="shop",
        connector_type="sqlite",
        config={"path": str(create_sample_database(tmp_path / "shop.db"))},
    )
    yield catalog, source
    catalog.dispose()


def _connect_catalog() -> psycopg2.extensions.connection:
    url = sa.make_url(os.environ["METADATA_PIPELINES_CATALOG_URL"])
    return psycopg2.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database
    )


def test_syncs_started_together_run_one_at_a_time(shop):
    """Atomic in the catalog: of three CLI syncs started at once, one runs and two are refused."""
    catalog, source = shop
    with asset_fields_locked(_connect_catalog):  # the winner stops at its COPY meanwhile
        syncs = [sync_command("shop", "acme") for _ in range(3)]
        wait_for_copy(_connect_catalog)
        wait_for(
            "two syncs to be refused",
            lambda: sum(sync.poll() is not None for sync in syncs) == 2,
            timeout=300,
        )
    [winner] = [sync for sync in syncs if sync.returncode is None]
    out, err = winner.communicate(timeout=300)
    assert winner.returncode == 0, out + err
    for loser in syncs:
        if loser is not winner:
            _, err = loser.communicate()
            assert loser.returncode == 1, err
            assert "already has a sync" in err
    [run] = catalog.connector_runs.list(data_source_id=source.id)
    assert run.status is RunStatus.SUCCEEDED


def test_a_killed_sync_is_closed_once_its_lease_runs_out(shop):
    """The CLI process is killed mid-persist: its row and Dagster run would stay running forever
    and refuse every later sync; once the lease runs out, the next sync closes both and runs."""
    catalog, source = shop
    with asset_fields_locked(_connect_catalog):
        killed = sync_command("shop", "acme", METADATA_PIPELINES_RUN_LEASE_SECONDS=LEASE)
        wait_for_copy(_connect_catalog)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(60)
    [stuck] = catalog.connector_runs.list(data_source_id=source.id)
    assert stuck.status is RunStatus.RUNNING
    assert stuck.worker and stuck.worker.endswith(f":{killed.pid}")
    instance = get_instance()
    assert instance.get_run_by_id(stuck.dagster_run_id).status is dg.DagsterRunStatus.STARTED
    wait_for(
        "the lease to run out",
        lambda: catalog.connector_runs.expired(float(LEASE), source.id),
        timeout=120,
    )

    again = sync_command("shop", "acme", METADATA_PIPELINES_RUN_LEASE_SECONDS=LEASE)
    out, err = again.communicate(timeout=300)

    assert again.returncode == 0, out + err
    closed = catalog.connector_runs.get(stuck.id)
    assert closed.status is RunStatus.FAILED
    assert closed.error_code == "worker_lost"
    assert f"worker process {killed.pid}" in closed.error_message
    assert "is gone (killed or crashed" in closed.error_message
    dagster_run = instance.get_run_by_id(stuck.dagster_run_id)
    assert dagster_run.status is dg.DagsterRunStatus.FAILURE
    [failure] = instance.all_logs(stuck.dagster_run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert failure.dagster_event.message == closed.error_message
    assert catalog.connector_runs.list(data_source_id=source.id)[0].status is RunStatus.SUCCEEDED


def test_claims_are_atomic_and_name_the_busy_run(shop):
    catalog, source = shop
    first = catalog.connector_runs.claim(
        tenant_id="acme", data_source_id=source.id, dagster_run_id="run-1", trigger="manual",
        worker="here:1",
    )  # fmt: skip
    with pytest.raises(SourceBusy) as busy:
        catalog.connector_runs.claim(
            tenant_id="acme", data_source_id=source.id, dagster_run_id="run-2",
            trigger="manual", worker="here:2",
        )  # fmt: skip
    assert busy.value.active.id == first.id
    with pytest.raises(SourceBusy):
        catalog.connector_runs.open_for_dagster_run(
            tenant_id="acme", data_source_id=source.id, dagster_run_id="run-3"
        )
    assert catalog.connector_runs.create_pending("acme", source.id, "application") == (
        catalog.connector_runs.get(first.id),
        False,
    )
