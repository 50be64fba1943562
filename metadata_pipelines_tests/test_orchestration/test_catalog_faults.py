"""The catalog database failing under a sync, in the production configuration: the catalog is a
private PostgreSQL cluster, stopped (fast shutdown) while the persist's COPY is under way, and the
sync runs as the installed `metadata-pipelines sync` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import suppress

import psycopg2
import pytest

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.support.dagster_deployment import wait_for
from metadata_pipelines_tests.support.postgresql_cluster import PrivateCluster, private_cluster

pytestmark = pytest.mark.timeout(600)


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


def _copy_waiting_for_lock(cluster: PrivateCluster) -> bool:
    connection = cluster.connect("catalog")
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND query LIKE 'COPY asset_fields%'"
            )
            return cursor.fetchone()[0] > 0
    finally:
        connection.close()


def _stop_during_copy(cluster: PrivateCluster) -> None:
    """Hold a lock the COPY into asset_fields waits for, then stop the cluster under it."""
    blocker = cluster.connect("catalog")
    blocker.autocommit = False
    blocker.cursor().execute("LOCK TABLE asset_fields IN ACCESS EXCLUSIVE MODE")
    try:
        wait_for("the persist's COPY", lambda: _copy_waiting_for_lock(cluster), timeout=240)
        server = cluster.server
        assert server is not None and server.process is not None
        os.killpg(server.process.pid, signal.SIGINT)  # fast shutdown: sessions are terminated
        server.process.wait(60)
    finally:
        with suppress(psycopg2.Error):
            blocker.close()


def _sync_command(retry_delay: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "metadata_pipelines", "sync", "shop", "--tenant", "acme"],
        env={**os.environ, "METADATA_PIPELINES_RETRY_DELAY_SECONDS": retry_delay},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_catalog_stopped_during_copy_is_retried_once_it_is_back(catalog_cluster, source):
    catalog, shop = source
    sync = _sync_command(retry_delay="3")

    _stop_during_copy(catalog_cluster)
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
    sync = _sync_command(retry_delay="0.2")

    _stop_during_copy(catalog_cluster)
    out, err = sync.communicate(timeout=400)

    assert sync.returncode == 3, out + err
    assert "Traceback" not in err
    assert "error: the catalog database is unavailable" in err
    assert catalog_cluster.superuser_password not in out + err
    catalog_cluster.server.start()
    # Nothing was committed: the catalog holds no asset of the source.
    with catalog.engine.connect() as connection:
        count = connection.exec_driver_sql(
            "SELECT count(*) FROM assets WHERE data_source_id = %(id)s", {"id": shop.id}
        ).scalar_one()
    assert count == 0
