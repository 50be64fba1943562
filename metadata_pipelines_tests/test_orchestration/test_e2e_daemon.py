"""End to end: the real dagster-daemon and dagster-webserver on PostgreSQL, syncing real SQLite
sources into a PostgreSQL catalog through sensors, an application request and GraphQL backfills.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict

import dagster as dg
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION
from metadata_pipelines.orchestration.run_requests import request_metadata_sync
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.conftest import POSTGRES_URL
from metadata_pipelines_tests.support.dagster_deployment import running_deployment, wait_for

# Generous bounds: ten runs, each a process loading the code, on a 2-core machine that other test
# runs share; the bounds only matter when something is stuck.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture
def catalog_database_url(postgres_server):
    """A second fresh PostgreSQL database: the catalog (the first one holds Dagster's storage)."""
    name = f"mp_e2e_catalog_{uuid.uuid4().hex[:10]}"
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _runs(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    return list(instance.get_run_records(dg.RunsFilter(job_name="metadata_sync")))


def _all_settled(instance, catalog, expected_runs: int):
    """True once `expected_runs` runs exist, all finished, each with a finished row."""
    records = _runs(instance)
    if len(records) < expected_runs:
        return False
    if any(r.dagster_run.status not in FINISHED for r in records):
        return False
    rows = [catalog.connector_runs.find_by_dagster_run_id(r.dagster_run.run_id) for r in records]
    return all(row is not None and row.status.finished for row in rows) and records


def test_daemon_and_webserver_keep_connector_runs_in_step_with_dagster(
    tmp_path, postgres_database_url, catalog_database_url
):
    key = Fernet.generate_key().decode()
    catalog = CatalogDatabase(catalog_database_url, CredentialCipher([key]))
    catalog.upgrade()
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"

    with running_deployment(
        tmp_path / "dagster_home", postgres_database_url, catalog_database_url, key
    ) as deployment:
        instance = deployment.instance
        try:
            # 1. Register three sources; the sensor adds partitions and runs first syncs.
            shop = catalog.data_sources.create(
                tenant_id=tenant,
                name="shop",
                connector_type="sqlite",
                config={"path": str(create_sample_database(tmp_path / "shop.db"))},
            )
            shop2 = catalog.data_sources.create(
                tenant_id=tenant,
                name="shop-copy",
                connector_type="sqlite",
                config={"path": str(create_sample_database(tmp_path / "shop2.db"))},
            )
            broken_path = tmp_path / "missing" / "gone.db"
            broken = catalog.data_sources.create(
                tenant_id=tenant,
                name="broken",
                connector_type="sqlite",
                config={"path": str(broken_path)},
            )
            ids = {shop.partition_key, shop2.partition_key, broken.partition_key}
            assert ids == {f"{tenant}/shop", f"{tenant}/shop-copy", f"{tenant}/broken"}
            wait_for(
                "the sensor to add a partition per source",
                lambda: set(instance.get_dynamic_partitions(DATA_SOURCES_PARTITION)) == ids,
                timeout=120,
            )
            wait_for("first syncs", lambda: _all_settled(instance, catalog, 3), timeout=240)

            # 2. An application request: a pending row that the launched run adopts.
            requested, created = request_metadata_sync(shop.id, tenant, catalog=catalog)
            assert created
            assert request_metadata_sync(shop.id, tenant, catalog=catalog) == (requested, False)
            wait_for("the requested sync", lambda: _all_settled(instance, catalog, 4), timeout=180)

            # 3. Two backfills over all partitions at once, through GraphQL: every source has two
            #    runs queued at the same time, and the partition limit must serialize them.
            partitions = sorted(ids)
            backfills = [deployment.launch_backfill(partitions) for _ in range(2)]
            wait_for("the backfills", lambda: _all_settled(instance, catalog, 10), timeout=420)
            wait_for(
                "the backfills to complete",
                lambda: all(
                    instance.get_backfill(b).status.value.startswith("COMPLETED") for b in backfills
                ),
                timeout=60,
            )
        except Exception:
            print(deployment.log_tail())
            raise
        killed = deployment.stop()

    assert deployment.leftover_pids() == []
    assert all(p.poll() is not None for p in deployment.processes.values())
    print(f"processes that needed SIGKILL after SIGTERM: {killed}")

    records = {r.dagster_run.run_id: r for r in _runs(instance)}
    rows = {
        row.dagster_run_id: row for row in catalog.connector_runs.list(tenant_id=tenant, limit=100)
    }
    # One Dagster run = one connector run, both ways.
    assert set(rows) == set(records)
    assert len(records) == 10

    for run_id, record in records.items():
        run, row = record.dagster_run, rows[run_id]
        assert (
            row.data_source_id
            == catalog.data_sources.for_partition(run.tags["dagster/partition"]).id
        )
        assert run.tags[run_tags.TENANT] == tenant
        assert run.tags[run_tags.DATA_SOURCE_ID] == row.data_source_id
        assert run.tags[run_tags.CONNECTOR_TYPE] == "sqlite"
        assert run.tags[run_tags.DATA_SOURCE_NAME] in {"shop", "shop-copy", "broken"}
        assert row.trigger == run_tags.trigger_of(dict(run.tags))
        if run.status is dg.DagsterRunStatus.SUCCESS:
            assert row.status is RunStatus.SUCCEEDED
            assert row.error_message is None
            assert row.stats["extracted"]["table"] == 7
        else:
            assert run.status is dg.DagsterRunStatus.FAILURE
            assert row.status is RunStatus.FAILED
            [failure] = [
                e
                for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
                if e.dagster_event
            ]
            description = failure.dagster_event.step_failure_data.user_failure_data.description
            assert row.error_message == description

    # The broken source: failed at once with a clear message, never retried.
    broken_rows = [row for row in rows.values() if row.data_source_id == broken.id]
    assert len(broken_rows) == 3  # first sync + one per backfill, and no retry
    for row in broken_rows:
        assert row.status is RunStatus.FAILED
        assert row.error_code == "invalid_config"
        assert row.error_message == (
            f"check_connection: SQLite database file not found: {str(broken_path)!r}"
        )
        assert row.attempts == 1
        assert row.will_retry is False
        assert records[row.dagster_run_id].dagster_run.tags.get("dagster/will_retry") == "false"
    assert not any(r.dagster_run.parent_run_id for r in records.values())
    assert {row.status for row in rows.values() if row.data_source_id != broken.id} == {
        RunStatus.SUCCEEDED
    }

    # Who launched what.
    by_trigger = defaultdict(list)
    for row in rows.values():
        by_trigger[row.trigger].append(row)
    assert {t: len(v) for t, v in by_trigger.items()} == {
        "sensor": 3,
        "application": 1,
        "backfill": 6,
    }
    assert rows[catalog.connector_runs.get(requested.id).dagster_run_id].id == requested.id
    for backfill_id in backfills:
        in_backfill = [
            r for r in records.values() if r.dagster_run.tags.get("dagster/backfill") == backfill_id
        ]
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in in_backfill) == partitions
        # Completed, with the broken source's run failed.
        assert instance.get_backfill(backfill_id).status.value == "COMPLETED_FAILED"

    # Runs of one source never overlapped; at least one of them had to wait in the queue.
    waited = 0
    for key in ids:
        mine = sorted(
            (r for r in records.values() if r.dagster_run.tags["dagster/partition"] == key),
            key=lambda r: r.start_time,
        )
        for earlier, later in itertools.pairwise(mine):
            assert earlier.end_time <= later.start_time, key
            waited += later.create_timestamp.timestamp() < earlier.end_time
    assert waited >= 1
    # The global limit (3) held at every moment.
    edges = sorted(
        [(r.start_time, 1) for r in records.values()] + [(r.end_time, -1) for r in records.values()]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak <= 3
    catalog.dispose()
