"""Snowflake through the whole job: fakesnow (behind the front) -> metadata_sync -> PostgreSQL
catalog."""

from __future__ import annotations

import pytest

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.fakes.snowflake_front import User
from metadata_pipelines_tests.support.catalog_snapshot import catalog_snapshot, writes
from metadata_pipelines_tests.support.snowflake_server import run as run_sql
from metadata_pipelines_tests.support.snowflake_server import source_config
from metadata_pipelines_tests.test_extractors.snowflake_support import PASSWORD, populate

WRONG = "Wr0ng-snow-5e1d"


@pytest.fixture
def catalog_url(postgres_database_url):
    return postgres_database_url


@pytest.fixture
def account(fakesnow, snowflake, snowflake_prefix):
    snowflake.users = {"READER": User(password=PASSWORD)}
    return populate(fakesnow, snowflake_prefix)


@pytest.fixture
def source(account, snowflake, snowflake_prefix, job_catalog, tenant_id):
    return job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="snowflake",
        connector_type="snowflake",
        config=source_config(snowflake, snowflake_prefix),
        credentials={"user": "READER", "password": PASSWORD},
    )


def _sync(source, dagster_instance, job_resources):
    return execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=job_resources
    )


def _snapshot(catalog, source_id):
    return catalog_snapshot(catalog, source_id, field_key="name")


def test_sync_resync_and_schema_change(
    fakesnow, account, source, job_catalog, dagster_instance, job_resources
):
    sales, hr = account["sales"], account["hr"]
    run = _sync(source, dagster_instance, job_resources).connector_run
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    assert run.stats["extracted"]["table"] == 5 and run.stats["extracted"]["view"] == 2
    rows, fields = _snapshot(job_catalog, source.id)
    assert {
        sales,
        f"{sales}.CORE",
        f"{sales}.CORE.ORDERS",
        f"{sales}.CORE.BIG_ORDERS",
        f'{sales}."Odd Schema"."Mixed Case ü"',
        f"{hr}.STAFF.PEOPLE",
    } <= set(rows)

    again = _sync(source, dagster_instance, job_resources).connector_run
    assert again.status is RunStatus.SUCCEEDED
    assert writes(again) == {"inserted": 0, "updated": 0, "deleted": 0}
    assert _snapshot(job_catalog, source.id) == (rows, fields)

    run_sql(
        fakesnow,
        f"DROP VIEW {sales}.CORE.BIG_ORDERS",
        f"ALTER TABLE {sales}.CORE.ORDERS ADD COLUMN NOTE VARCHAR(10)",
    )
    changed = _sync(source, dagster_instance, job_resources).connector_run
    changes = changed.stats["changes"]
    assert changes["tables_removed"] == [f"{sales}.CORE.BIG_ORDERS"]
    assert changes["columns_added"] == [f"{sales}.CORE.ORDERS.NOTE"]
    rows, _ = _snapshot(job_catalog, source.id)
    assert rows[f"{sales}.CORE.BIG_ORDERS"][1] is not None


def test_unreadable_database_is_kept_and_a_dropped_one_removed_once_confirmed(
    account, snowflake, source, job_catalog, dagster_instance, job_resources
):
    sales, hr = account["sales"], account["hr"]
    assert _sync(source, dagster_instance, job_resources).connector_run.status is (
        RunStatus.SUCCEEDED
    )

    snowflake.denied_databases = {sales}
    revoked = _sync(source, dagster_instance, job_resources).connector_run
    assert revoked.status is RunStatus.PARTIAL
    assert sales in revoked.error_message and "not authorized" in revoked.error_message
    assert writes(revoked)["deleted"] == 0
    rows, _ = _snapshot(job_catalog, source.id)
    assert rows[f"{sales}.CORE.ORDERS"][1] is None  # protected, not deleted

    snowflake.denied_databases = set()
    snowflake.visible_databases = {sales}  # HR dropped: SHOW DATABASES no longer lists it
    held = _sync(source, dagster_instance, job_resources).connector_run
    # The deletion fail-safe holds a whole database until deleting it is confirmed.
    assert held.status is RunStatus.PARTIAL and held.error_code == "deletion_held"
    assert _snapshot(job_catalog, source.id)[0][f"{hr}.STAFF.PEOPLE"][1] is None
    dropped = execute_sync(
        source.id,
        source.tenant_id,
        instance=dagster_instance,
        resources=job_resources,
        confirm_deletions=True,
    ).connector_run
    assert dropped.status is RunStatus.SUCCEEDED
    rows, _ = _snapshot(job_catalog, source.id)
    assert rows[f"{hr}.STAFF.PEOPLE"][1] is not None
    assert rows[f"{sales}.CORE.ORDERS"][1] is None


def test_wrong_password_fails_without_retry_and_keeps_the_catalog(
    source, job_catalog, dagster_instance, job_resources
):
    first = _sync(source, dagster_instance, job_resources).connector_run
    assert first.status is RunStatus.SUCCEEDED, first.error_message
    before = _snapshot(job_catalog, source.id)
    job_catalog.data_sources.update(
        source.id, source.tenant_id, credentials={"user": "READER", "password": WRONG}
    )

    outcome = _sync(source, dagster_instance, job_resources)
    run = outcome.connector_run

    assert run.status is RunStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert run.attempts == 1
    assert "Incorrect username or password" in run.error_message
    assert WRONG not in run.error_message and PASSWORD not in run.error_message
    assert _snapshot(job_catalog, source.id) == before
    for record in dagster_instance.all_logs(outcome.dagster_run_id):
        assert WRONG not in repr(record) and PASSWORD not in repr(record)
