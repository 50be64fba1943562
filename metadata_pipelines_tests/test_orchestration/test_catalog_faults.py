"""The catalog database failing under a sync, in the production configuration: the catalog is a
private PostgreSQL cluster, stopped (fast shutdown) while the persist's COPY is under way, and the
sync runs as the installed `metadata-pipelines sync` command."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.support.dagster_deployment import wait_for
from metadata_pipelines_tests.support.postgresql_cluster import PrivateCluster, private_cluster
from metadata_pipelines_tests.support.sync_faults import (
    asset_fields_locked,
    sync_command,
    wait_for_copy,
)

pytestmark = pytest.mark.timeout(600)

LEASE = 3  # seconds: the lease of a run whose process is gone runs out quickly here


@pytest.fixture
def catalog_cluster(production_home, monkeypatch):
    """The production configuration with its catalog on a private cluster this test may stop."""
    with private_cluster() as cluster:
        cluster.execute("CREATE DATABASE catalog")
        monkeypatch.setenv(
            "METADATA_PIPELINES_CATALOG_URL",
            f"postgresql+psycopg2://postgres:{cluster.superuser_password}"
            f"@{cluster.host}:{cluster.port}/catalog",
        )
        yield cluster


@pytest.fixture
def source(catalog_cluster, tmp_path):
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    created = catalog.data_sources.create(
        tenant_id="acme",
        name="shop",
        connector_type="sqlite",
        config={"path": str(create_sample_database(tmp_path / "shop.db"))},
    )
    yield catalog, created
    catalog.dispose()


def _sync_stopped_during_copy(cluster: PrivateCluster, **env: str) -> subprocess.Popen:
    """Start `sync shop`, and stop the cluster (fast shutdown: sessions terminated) while the
    persist's COPY is under way."""
    connect = lambda: cluster.connect("catalog")  # noqa: E731
    with asset_fields_locked(connect):
        sync = sync_command("shop", "acme", **env)
        wait_for_copy(connect)
        server = cluster.server
        assert server is not None and server.process is not None
        os.killpg(server.process.pid, signal.SIGINT)
        server.process.wait(60)
    return sync


def test_catalog_stopped_during_copy_is_retried_once_it_is_back(catalog_cluster, source):
    catalog, shop = source
    sync = _sync_stopped_during_copy(catalog_cluster, METADATA_PIPELINES_RETRY_DELAY_SECONDS="3")
    catalog_cluster.server.start()  # same data directory and port
    out, err = sync.communicate(timeout=400)

    assert sync.returncode == 0, out + err
    assert "Traceback" not in err
    [run] = catalog.connector_runs.list(data_source_id=shop.id)
    assert run.status is RunStatus.SUCCEEDED
    assert run.attempts >= 2
    assert run.stats["inserted"] > 0
    assert catalog_cluster.superuser_password not in out + err


def test_catalog_that_stays_down_ends_the_command_with_a_clear_error(catalog_cluster, source):
    catalog, shop = source
    sync = _sync_stopped_during_copy(
        catalog_cluster,
        METADATA_PIPELINES_RETRY_DELAY_SECONDS="0.2",
        METADATA_PIPELINES_RUN_LEASE_SECONDS=str(LEASE),
    )
    out, err = sync.communicate(timeout=400)

    assert sync.returncode == 3, out + err
    assert "Traceback" not in err
    assert "error: the catalog database is unavailable" in err
    assert catalog_cluster.superuser_password not in out + err
    catalog_cluster.server.start()
    # Nothing was committed; the row the run could not close stays running until its lease runs
    # out, then the next sync closes it (the Dagster run ended FAILURE) and runs.
    with catalog.engine.connect() as connection:
        count = connection.exec_driver_sql(
            "SELECT count(*) FROM assets WHERE data_source_id = %(id)s", {"id": shop.id}
        ).scalar_one()
    assert count == 0
    [stuck] = catalog.connector_runs.list(data_source_id=shop.id)
    assert stuck.status is RunStatus.RUNNING
    wait_for(
        "the lease to run out",
        lambda: catalog.connector_runs.expired(LEASE, shop.id),
        timeout=120,
    )
    again = sync_command("shop", "acme", METADATA_PIPELINES_RUN_LEASE_SECONDS=str(LEASE))
    out, err = again.communicate(timeout=400)
    assert again.returncode == 0, out + err
    closed = catalog.connector_runs.get(stuck.id)
    assert closed.status is RunStatus.FAILED
    assert closed.error_code == "run_ended_unrecorded"
    assert "ended FAILURE" in closed.error_message
    latest = catalog.connector_runs.list(data_source_id=shop.id)[0]
    assert latest.status is RunStatus.SUCCEEDED
