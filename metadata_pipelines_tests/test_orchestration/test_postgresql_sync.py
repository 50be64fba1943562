"""PostgreSQL through the whole job: real server -> metadata_sync -> PostgreSQL catalog."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.support.catalog_snapshot import catalog_snapshot, writes
from metadata_pipelines_tests.support.postgresql_cluster import PrivateCluster
from metadata_pipelines_tests.support.postgresql_source import HOST, PORT, q

WRONG = f"Wr0ng-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def catalog_url(postgres_database_url):
    return postgres_database_url


@pytest.fixture
def shop(postgres_server):
    """Two small databases and a plain login role (not a superuser), dropped afterwards."""
    prefix = f"mpt_pgjob_{uuid.uuid4().hex[:8]}_"
    role, first, second = f"{prefix}reader", f"{prefix}a", f"{prefix}b"
    with postgres_server.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {q(role)} LOGIN")
        for database in (first, second):
            connection.exec_driver_sql(f"CREATE DATABASE {q(database)}")
    statements = {
        first: [
            "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE)",
            "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL"
            " REFERENCES customers (id) ON DELETE CASCADE, total numeric(10,2))",
            "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100",
        ],
        second: ["CREATE SCHEMA archive", "CREATE TABLE archive.old (id int PRIMARY KEY)"],
    }
    for database, sql in statements.items():
        _run(database, *sql)
    yield prefix, first, second, role
    with postgres_server.connect() as connection:
        for database in (first, second):
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {q(database)} WITH (FORCE)")
        connection.exec_driver_sql(f"DROP ROLE IF EXISTS {q(role)}")


def _run(database: str, *statements: str) -> None:
    # A fresh engine disposed at once: the session ends, so its statistics are flushed now rather
    # than during a later sync.
    url = sa.make_url(f"postgresql+psycopg2://postgres@{HOST}:{PORT}/{database}")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture
def source(shop, job_catalog, tenant_id):
    prefix, _, _, role = shop
    return job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="postgres",
        connector_type="postgresql",
        config={"host": HOST, "port": PORT, "include_databases": [f"{prefix}.*"]},
        credentials={"username": role, "password": "unused-on-a-trusting-server"},
    )


def _sync(source, dagster_instance, job_resources):
    return execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=job_resources
    )


def _snapshot(catalog, source_id):
    return catalog_snapshot(catalog, source_id, field_key="name")


def test_sync_resync_and_schema_change(shop, source, job_catalog, dagster_instance, job_resources):
    _, first, second, _ = shop
    run = _sync(source, dagster_instance, job_resources).connector_run
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    assert run.stats["extracted"]["table"] == 3 and run.stats["extracted"]["view"] == 1
    rows, fields = _snapshot(job_catalog, source.id)
    assert {
        first,
        f"{first}.public",
        f"{first}.public.customers",
        f"{first}.public.orders",
        f"{first}.public.big_orders",
        f"{second}.archive.old",
    } <= set(rows)
    assert sorted(native for native, _ in fields.values()) == sorted(
        ["bigint", "text", "bigint", "bigint", "numeric(10,2)", "bigint", "numeric(10,2)",
         "integer"]
    )  # fmt: skip

    again = _sync(source, dagster_instance, job_resources).connector_run
    assert again.status is RunStatus.SUCCEEDED
    assert writes(again) == {"inserted": 0, "updated": 0, "deleted": 0}
    assert _snapshot(job_catalog, source.id) == (rows, fields)

    _run(
        first,
        "DROP VIEW big_orders",
        "ALTER TABLE orders ADD COLUMN note text",
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2)",
    )
    changed = _sync(source, dagster_instance, job_resources).connector_run
    changes = changed.stats["changes"]
    assert changes["tables_removed"] == [f"{first}.public.big_orders"]
    assert changes["columns_added"] == [f"{first}.public.orders.note"]
    assert (
        f"{first}.public.orders.total: numeric(10,2) -> numeric(12,2)"
        in (changes["columns_retyped"])
    )
    rows, _ = _snapshot(job_catalog, source.id)
    assert rows[f"{first}.public.big_orders"][1] is not None


def test_revoked_database_is_kept_as_partial(
    shop, source, postgres_server, job_catalog, dagster_instance, job_resources
):
    _, first, second, _ = shop
    assert _sync(source, dagster_instance, job_resources).connector_run.status is (
        RunStatus.SUCCEEDED
    )
    with postgres_server.connect() as connection:
        connection.exec_driver_sql(f"REVOKE CONNECT ON DATABASE {q(first)} FROM PUBLIC")
    revoked = _sync(source, dagster_instance, job_resources).connector_run
    assert revoked.status is RunStatus.PARTIAL
    assert revoked.error_code == "partial_extraction"
    assert first in revoked.error_message and "CONNECT" in revoked.error_message
    assert writes(revoked)["deleted"] == 0
    rows, _ = _snapshot(job_catalog, source.id)
    assert rows[f"{first}.public.orders"][1] is None  # protected, not deleted
    assert rows[f"{second}.archive.old"][1] is None  # and the other database still read


def test_dropped_database_is_soft_deleted_with_its_assets_once_confirmed(
    shop, source, postgres_server, job_catalog, dagster_instance, job_resources
):
    _, _, second, _ = shop
    assert _sync(source, dagster_instance, job_resources).connector_run.status is (
        RunStatus.SUCCEEDED
    )
    before, _ = _snapshot(job_catalog, source.id)
    with postgres_server.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE {q(second)} WITH (FORCE)")

    held = _sync(source, dagster_instance, job_resources).connector_run
    # The deletion fail-safe holds a whole database until deleting it is confirmed.
    assert held.status is RunStatus.PARTIAL and held.error_code == "deletion_held"
    assert _snapshot(job_catalog, source.id)[0] == before
    dropped = execute_sync(
        source.id,
        source.tenant_id,
        instance=dagster_instance,
        resources=job_resources,
        confirm_deletions=True,
    ).connector_run

    assert dropped.status is RunStatus.SUCCEEDED, dropped.error_message
    rows, fields = _snapshot(job_catalog, source.id)
    gone = {name for name in before if name == second or name.startswith(f"{second}.")}
    assert gone == {second, f"{second}.public", f"{second}.archive", f"{second}.archive.old"}
    assert dropped.stats["assets"]["deleted"] == len(gone)
    assert dropped.stats["fields"]["deleted"] == 1  # archive.old.id
    assert all(rows[name][1] is not None for name in gone)
    assert all(rows[name][1] is None for name in set(before) - gone)
    old_id = _asset_id(job_catalog, source.id, f"{second}.archive.old")
    assert [deleted for (asset, _), (_, deleted) in fields.items() if asset == old_id] != []
    assert all(
        deleted is not None for (asset, _), (_, deleted) in fields.items() if asset == old_id
    )


def _asset_id(catalog, source_id, qualified_name):
    with catalog.engine.connect() as connection:
        return connection.execute(
            sa.select(assets.c.id).where(
                assets.c.data_source_id == source_id, assets.c.qualified_name == qualified_name
            )
        ).scalar_one()


def test_wrong_password_fails_without_retry_and_keeps_the_catalog(
    postgres_cluster: PrivateCluster, job_catalog, tenant_id, dagster_instance, job_resources
):
    cluster = postgres_cluster
    source = job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="private",
        connector_type="postgres",
        config={"host": cluster.host, "port": cluster.port, "database": "postgres"},
        credentials={"username": "postgres", "password": cluster.superuser_password},
    )
    cluster.execute("CREATE TABLE IF NOT EXISTS job_probe (id int PRIMARY KEY)")
    first = _sync(source, dagster_instance, job_resources).connector_run
    assert first.status is RunStatus.SUCCEEDED, first.error_message
    before = _snapshot(job_catalog, source.id)
    assert "postgres.public.job_probe" in before[0]
    job_catalog.data_sources.update(
        source.id, source.tenant_id, credentials={"username": "postgres", "password": WRONG}
    )

    outcome = _sync(source, dagster_instance, job_resources)
    run = outcome.connector_run

    assert run.status is RunStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert run.attempts == 1
    assert "password authentication failed" in run.error_message
    assert WRONG not in run.error_message and cluster.superuser_password not in run.error_message
    assert _snapshot(job_catalog, source.id) == before
    for record in dagster_instance.all_logs(outcome.dagster_run_id):
        assert WRONG not in repr(record) and cluster.superuser_password not in repr(record)
