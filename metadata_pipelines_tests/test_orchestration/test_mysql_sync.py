"""MariaDB through the whole job: real server -> metadata_sync -> PostgreSQL catalog."""

from __future__ import annotations

import socket
import uuid

import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import asset_fields, assets
from metadata_pipelines.orchestration.retries import SYNC_RETRY_POLICY
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.conftest import MYSQL_URL
from metadata_pipelines_tests.support.catalog_snapshot import catalog_snapshot

PASSWORD = "job-Pa55-" + uuid.uuid4().hex[:6]
_URL = sa.make_url(MYSQL_URL)


@pytest.fixture
def catalog_url(postgres_database_url):
    return postgres_database_url


@pytest.fixture
def shop(mysql_server):
    """A small database and a reader account with a password, dropped afterwards."""
    name = f"mpt_job_{uuid.uuid4().hex[:8]}"
    user = name
    statements = [
        f"CREATE DATABASE `{name}`",
        f"CREATE TABLE `{name}`.customers (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE)",
        f"CREATE TABLE `{name}`.orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL,"
        " total DECIMAL(10,2), CONSTRAINT fk_customer FOREIGN KEY (customer_id)"
        " REFERENCES customers (id) ON DELETE CASCADE)",
        f"CREATE VIEW `{name}`.big_orders AS SELECT id, total FROM `{name}`.orders WHERE total > 100",
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'",
        f"GRANT SELECT, SHOW VIEW ON `{name}`.* TO '{user}'@'%'",
    ]
    with mysql_server.connect() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    yield name
    with mysql_server.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        connection.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))


def _config(database: str, **overrides) -> dict:
    return {
        "host": _URL.host or "127.0.0.1",
        "port": _URL.port or 3306,
        "database": database,
        "connection_timeout": 2,
        **overrides,
    }


@pytest.fixture
def source(shop, job_catalog, tenant_id):
    return job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="mariadb",
        connector_type="mysql",
        config=_config(shop),
        credentials={"username": shop, "password": PASSWORD},
    )


def _sync(source, dagster_instance, job_resources):
    return execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=job_resources
    )


def _snapshot(catalog, source_id):
    return catalog_snapshot(catalog, source_id, field_key="name")


def test_sync_resync_and_schema_change(
    shop, source, mysql_server, job_catalog, dagster_instance, job_resources
):
    first = _sync(source, dagster_instance, job_resources)

    run = first.connector_run
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    assert run.stats["extracted"]["table"] == 2 and run.stats["extracted"]["view"] == 1
    tables, fields = _snapshot(job_catalog, source.id)
    assert {shop, f"{shop}.customers", f"{shop}.orders", f"{shop}.big_orders"} <= set(tables)
    assert sorted(native for native, _ in fields.values()) == sorted(
        ["bigint(20)", "varchar(255)", "bigint(20)", "bigint(20)", "decimal(10,2)",
         "bigint(20)", "decimal(10,2)"]
    )  # fmt: skip

    again = _sync(source, dagster_instance, job_resources)
    assert again.connector_run.status is RunStatus.SUCCEEDED
    assert {k: again.connector_run.stats[k] for k in ("inserted", "updated", "deleted")} == {
        "inserted": 0,
        "updated": 0,
        "deleted": 0,
    }
    assert _snapshot(job_catalog, source.id) == (tables, fields)

    with mysql_server.connect() as connection:
        connection.execute(sa.text(f"ALTER TABLE `{shop}`.orders DROP FOREIGN KEY fk_customer"))
        connection.execute(sa.text(f"DROP TABLE `{shop}`.customers"))
        connection.execute(sa.text(f"ALTER TABLE `{shop}`.orders ADD COLUMN note TEXT"))
        connection.execute(sa.text(f"ALTER TABLE `{shop}`.orders MODIFY total DECIMAL(12,2)"))
    changed = _sync(source, dagster_instance, job_resources)

    changes = changed.connector_run.stats["changes"]
    assert changes["tables_removed"] == [f"{shop}.customers"]
    assert changes["columns_added"] == [f"{shop}.orders.note"]
    assert f"{shop}.orders.total: decimal(10,2) -> decimal(12,2)" in changes["columns_retyped"]
    tables, _ = _snapshot(job_catalog, source.id)
    assert tables[f"{shop}.customers"][1] is not None


def test_wrong_password_fails_without_retry_and_keeps_the_catalog(
    shop, source, job_catalog, dagster_instance, job_resources
):
    _sync(source, dagster_instance, job_resources)
    before = _snapshot(job_catalog, source.id)
    job_catalog.data_sources.update(
        source.id, source.tenant_id, credentials={"username": shop, "password": "wrong"}
    )

    outcome = _sync(source, dagster_instance, job_resources)

    run = outcome.connector_run
    assert run.status is RunStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert run.attempts == 1
    assert "wrong" not in run.error_message and PASSWORD not in run.error_message
    assert _snapshot(job_catalog, source.id) == before


def test_missing_privilege_is_permanent(
    shop, source, mysql_server, job_catalog, dagster_instance, job_resources
):
    with mysql_server.connect() as connection:
        connection.execute(sa.text(f"REVOKE SELECT, SHOW VIEW ON `{shop}`.* FROM '{shop}'@'%'"))

    outcome = _sync(source, dagster_instance, job_resources)

    assert outcome.connector_run.status is RunStatus.FAILED
    assert outcome.connector_run.error_code == "missing_privilege"
    assert outcome.connector_run.attempts == 1


def test_refused_connection_is_retried_then_fails_and_keeps_the_catalog(
    shop, source, job_catalog, dagster_instance, job_resources
):
    _sync(source, dagster_instance, job_resources)
    before = _snapshot(job_catalog, source.id)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    job_catalog.data_sources.update(
        source.id, source.tenant_id, config=_config(shop, port=closed_port)
    )

    outcome = _sync(source, dagster_instance, job_resources)

    run = outcome.connector_run
    assert run.status is RunStatus.FAILED
    assert run.error_code == "source_unavailable"
    assert run.attempts == SYNC_RETRY_POLICY.max_retries + 1
    assert "gave up after" in run.error_message
    assert _snapshot(job_catalog, source.id) == before


def test_an_unknown_host_fails_at_once_as_a_configuration_error(
    shop, source, job_catalog, dagster_instance, job_resources
):
    job_catalog.data_sources.update(
        source.id, source.tenant_id, config=_config(shop, host="no-such-host.invalid")
    )

    run = _sync(source, dagster_instance, job_resources).connector_run

    assert run.status is RunStatus.FAILED
    assert run.error_code == "invalid_config"
    assert run.attempts == 1
    assert "host name does not resolve" in run.error_message
    assert "no-such-host.invalid" in run.error_message


def test_only_secret_fields_are_scrubbed_from_messages(
    shop, source, job_catalog, dagster_instance, job_resources
):
    """The user name is no secret: database `<user>1` keeps its name in the message."""
    job_catalog.data_sources.update(source.id, source.tenant_id, config=_config(f"{shop}1"))

    run = _sync(source, dagster_instance, job_resources).connector_run

    assert run.status is RunStatus.FAILED
    assert run.error_code == "missing_privilege"
    assert f"'{shop}1'" in run.error_message and f"'{shop}'@" in run.error_message
    assert "***" not in run.error_message
    assert PASSWORD not in run.error_message


def test_a_nul_byte_in_a_comment_is_stored_with_a_warning(
    shop, source, mysql_server, job_catalog, dagster_instance, job_resources
):
    with mysql_server.connect() as connection:
        connection.execute(sa.text(f"ALTER TABLE `{shop}`.orders COMMENT = 'before\\0after'"))
        connection.execute(
            sa.text(f"ALTER TABLE `{shop}`.customers MODIFY email VARCHAR(255) NOT NULL "
                    "COMMENT 'mail\\0box'")
        )  # fmt: skip
        served = connection.execute(
            sa.text(
                "SELECT table_comment FROM information_schema.tables "
                "WHERE table_schema = :db AND table_name = 'orders'"
            ),
            {"db": shop},
        ).scalar_one()
    assert served.startswith("before\0")  # what the server hands over (NUL-padded on MariaDB)

    run = _sync(source, dagster_instance, job_resources).connector_run

    assert run.status is RunStatus.SUCCEEDED, run.error_message
    warned = {tuple(e["scope"]) for e in run.extraction_errors if e["code"] == "unstorable_text"}
    assert warned == {(shop, "orders"), (shop, "customers")}
    with job_catalog.engine.connect() as connection:
        stored = dict(
            connection.execute(
                sa.select(assets.c.qualified_name, assets.c.description).where(
                    assets.c.data_source_id == source.id
                )
            ).all()
        )
        email = connection.execute(
            sa.select(asset_fields.c.description).where(
                asset_fields.c.data_source_id == source.id, asset_fields.c.name == "email"
            )
        ).scalar_one()
    assert stored[f"{shop}.orders"] == served.replace("\0", "\ufffd")
    assert email.startswith("mail\ufffd") and "\0" not in email


@pytest.fixture
def second_database(shop, mysql_server):
    """A second database the reader may read: `<shop>_b` with one table."""
    name = f"{shop}_b"
    with mysql_server.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}`"))
        connection.execute(sa.text(f"CREATE TABLE `{name}`.items (id INT PRIMARY KEY)"))
        connection.execute(sa.text(f"GRANT SELECT, SHOW VIEW ON `{name}`.* TO '{shop}'@'%'"))
    yield name
    with mysql_server.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


def _live(catalog, source_id) -> set[str]:
    tables, _ = _snapshot(catalog, source_id)
    return {name for name, (_, deleted_at) in tables.items() if deleted_at is None}


def test_a_revoked_database_is_held_until_deletion_is_confirmed(
    shop, second_database, mysql_server, job_catalog, dagster_instance, job_resources, tenant_id
):
    source = job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="two-databases",
        connector_type="mysql",
        config={**_config(shop), "database": None, "include_databases": [f"{shop}(_b)?"]},
        credentials={"username": shop, "password": PASSWORD},
    )
    assert _sync(source, dagster_instance, job_resources).connector_run.status.value == "succeeded"
    before = _live(job_catalog, source.id)
    assert {second_database, f"{second_database}.items"} <= before
    with mysql_server.connect() as connection:  # the database vanishes from the reader's listing
        connection.execute(
            sa.text(f"REVOKE SELECT, SHOW VIEW ON `{second_database}`.* FROM '{shop}'@'%'")
        )

    run = _sync(source, dagster_instance, job_resources).connector_run

    assert run.status is RunStatus.PARTIAL
    assert run.error_code == "deletion_held"
    assert f"{second_database}: deletion held: a whole top-level container" in run.error_message
    assert "--confirm-deletions" in run.error_message
    assert run.stats["deleted"] == 0
    assert _live(job_catalog, source.id) == before

    confirmed = execute_sync(
        source.id,
        source.tenant_id,
        instance=dagster_instance,
        resources=job_resources,
        confirm_deletions=True,
    ).connector_run

    assert confirmed.status is RunStatus.SUCCEEDED
    assert _live(job_catalog, source.id) == before - {second_database, f"{second_database}.items"}


def test_an_include_pattern_that_matches_nothing_deletes_nothing(
    shop, source, job_catalog, dagster_instance, job_resources
):
    _sync(source, dagster_instance, job_resources)
    before = _live(job_catalog, source.id)
    job_catalog.data_sources.update(
        source.id,
        source.tenant_id,
        config={**_config(shop), "database": None, "include_databases": ["no_such_database"]},
    )

    run = _sync(source, dagster_instance, job_resources).connector_run

    assert run.status is RunStatus.PARTIAL
    assert run.error_code == "deletion_held"
    assert "4 of the source's 4 assets would be deleted" in run.error_message
    assert run.stats["deleted"] == 0
    assert _live(job_catalog, source.id) == before
