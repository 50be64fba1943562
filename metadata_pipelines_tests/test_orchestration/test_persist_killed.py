"""A sync killed in the middle of its batched persist: the catalog stays as it was, the next sync
completes it. The CLI in the production configuration (PostgreSQL catalog and Dagster instance), a
MariaDB source of three databases (three batches), and a real SIGKILL of the process while its
persist is in the third batch, after the first was written inside its transaction."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.models import utcnow
from metadata_pipelines.orchestration.handover import LocalStore, prune_handovers
from metadata_pipelines.orchestration.instance import get_instance
from metadata_pipelines.settings import get_settings
from metadata_pipelines_tests.conftest import MYSQL_URL
from metadata_pipelines_tests.support.catalog_snapshot import catalog_snapshot
from metadata_pipelines_tests.support.dagster_deployment import wait_for
from metadata_pipelines_tests.support.sync_faults import sync_command

pytestmark = pytest.mark.timeout(600)

LEASE = "3"  # seconds
_URL = sa.make_url(MYSQL_URL)


@pytest.fixture
def databases(mysql_server):
    prefix = f"mpt_kill_{uuid.uuid4().hex[:6]}_"
    names = [f"{prefix}{suffix}" for suffix in "abc"]
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
def source(production_home, databases):
    get_instance()  # creates Dagster's tables once, before the CLI processes use them
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    prefix, _ = databases
    source = catalog.data_sources.create(
        tenant_id="acme",
        name="three",
        connector_type="mysql",
        config={
            "host": _URL.host or "127.0.0.1",
            "port": _URL.port or 3306,
            "include_databases": [f"{prefix}.*"],
        },
        credentials={"username": _URL.username or "root", "password": _URL.password or ""},
    )
    yield catalog, source
    catalog.dispose()


def _snapshot(catalog: CatalogDatabase, source_id: str):
    return catalog_snapshot(catalog, source_id, field_value="content_hash")


def _sync(**env: str) -> None:
    done = sync_command("three", "acme", METADATA_PIPELINES_RUN_LEASE_SECONDS=LEASE, **env)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, out + err


def _insert_waiting(catalog: CatalogDatabase) -> bool:
    """Whether the persist's COPY into `assets` waits for a lock (the test's uncommitted row)."""
    with catalog.engine.connect() as connection:
        return bool(
            connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'COPY assets %'"
                )
            )
        )


def test_a_persist_killed_midway_leaves_the_catalog_as_it_was(source, databases, mysql_server):
    catalog, data_source = source
    _, (a, _, c) = databases
    _sync()
    before = _snapshot(catalog, data_source.id)
    assert f"{a}.t2" in before[0]

    with mysql_server.connect() as connection:
        connection.execute(sa.text(f"ALTER TABLE `{a}`.t1 ADD COLUMN added INT"))  # batch 1
        connection.execute(sa.text(f"DROP TABLE `{a}`.t2"))  # deleted after the last batch
        connection.execute(sa.text(f"CREATE TABLE `{c}`.t3 (id INT PRIMARY KEY)"))  # batch 3

    # An uncommitted row with the key of c.t3: the persist's insert in batch 3 waits for it.
    blocker = catalog.engine.connect()
    transaction = blocker.begin()
    now = utcnow()
    blocker.execute(
        assets.insert().values(
            id=str(uuid.uuid4()),
            tenant_id="acme",
            data_source_id=data_source.id,
            qualified_name=f"{c}.t3",
            asset_type="table",
            name="t3",
            database_name=c,
            details={},
            content_hash="blocker",
            first_seen_at=now,
            last_seen_at=now,
            updated_at=now,
        )
    )
    try:
        killed = sync_command("three", "acme", METADATA_PIPELINES_RUN_LEASE_SECONDS=LEASE)
        wait_for("the persist to reach batch 3", lambda: _insert_waiting(catalog), timeout=240)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(60)
    finally:
        transaction.rollback()
        blocker.close()
    wait_for("the killed persist's session to end", lambda: not _insert_waiting(catalog), 60)

    # Batch 1's change, batch 3's table and the deletion: none of them is in the catalog.
    assert _snapshot(catalog, data_source.id) == before
    [stuck] = [
        row
        for row in catalog.connector_runs.list(data_source_id=data_source.id)
        if row.status is RunStatus.RUNNING
    ]
    handover = LocalStore(get_settings().dagster_instance_home() / "handover")
    assert (handover.root / stuck.dagster_run_id / "extract_metadata").is_dir()  # kept
    wait_for(
        "the lease to run out",
        lambda: catalog.connector_runs.expired(float(LEASE), data_source.id),
        timeout=120,
    )

    _sync()  # closes the killed run (worker_lost) and completes the sync

    rows, fields = _snapshot(catalog, data_source.id)
    assert rows[f"{a}.t2"][1] is not None  # deleted now
    assert rows[f"{c}.t3"][1] is None
    assert len(fields) == len(before[1]) + 2  # a.t1.added and c.t3.id
    assert catalog.connector_runs.get(stuck.id).status is RunStatus.FAILED
    instance = get_instance()
    assert instance.get_run_by_id(stuck.dagster_run_id).status is dg.DagsterRunStatus.FAILURE
    # The killed run's handover is a failed run's leftover: the retention rule removes it.
    assert prune_handovers(handover, instance, timedelta(0)) == [stuck.dagster_run_id]
    assert list(handover.root.iterdir()) == []
