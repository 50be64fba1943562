"""MongoDB through the whole job: SecantusDB (access control on) -> metadata_sync -> PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import asset_fields, assets
from metadata_pipelines.models import qualified_name
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.support.catalog_snapshot import writes
from metadata_pipelines_tests.support.mongodb_server import ADMIN, READER, READER_DATABASE
from metadata_pipelines_tests.test_extractors.mongodb_support import database_name, load_shop

WRONG = "Wr0ng-mongo-password-canary"


@pytest.fixture
def catalog_url(postgres_database_url):
    """These runs persist into PostgreSQL, the production catalog."""
    return postgres_database_url


@pytest.fixture
def shop(mongodb_auth_server):
    name = database_name("job")
    with mongodb_auth_server.client() as client:
        load_shop(client, name)
        # A collection larger than the sample: its newest documents are sampled.
        client[name].clicks.insert_many([{"n": i, "page": f"/p{i % 7}"} for i in range(300)])
    yield name
    with mongodb_auth_server.client() as client:
        client.drop_database(name)


def _source(job_catalog, tenant_id, server, shop, user=ADMIN):
    return job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="docs",
        connector_type="mongodb",
        config=server.config(include_databases=[shop], schema_sample_size=50),
        credentials={"username": user[0], "password": user[1]},
    )


def _sync(source, dagster_instance, job_resources):
    return execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=job_resources
    )


def _snapshot(catalog, source_id):
    with catalog.engine.connect() as connection:
        rows = {
            r.qualified_name: (r.content_hash, r.updated_at, r.deleted_at)
            for r in connection.execute(
                sa.select(assets).where(assets.c.data_source_id == source_id)
            )
        }
        fields = {
            (r.asset_id, r.path): (r.native_type, r.inference, r.updated_at, r.deleted_at)
            for r in connection.execute(
                sa.select(asset_fields).where(asset_fields.c.data_source_id == source_id)
            )
        }
    return rows, fields


def test_sync_unchanged_resync_writes_nothing_and_a_new_field_is_a_change(
    mongodb_auth_server, shop, job_catalog, tenant_id, dagster_instance, job_resources
):
    source = _source(job_catalog, tenant_id, mongodb_auth_server, shop)
    outcome = _sync(source, dagster_instance, job_resources)
    run = outcome.connector_run
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    rows, fields = _snapshot(job_catalog, source.id)
    orders = qualified_name((shop, "orders"))
    assert {qualified_name((shop,)), orders, qualified_name((shop, "big_orders"))} <= set(rows)
    paths = {path for _, path in fields}
    assert {"items[].sku", "shipping.address.geo.cell.id", "code", "coupon"} <= paths
    with job_catalog.engine.connect() as connection:
        coupon = connection.execute(
            sa.select(asset_fields.c.inference)
            .join(assets, assets.c.id == asset_fields.c.asset_id)
            .where(assets.c.qualified_name == orders, asset_fields.c.path == "coupon")
        ).scalar_one()
    assert coupon["presence"] == 0.02

    # Unchanged collections give unchanged schemas (the same newest documents, fields by name,
    # shares in buckets): the re-sync writes nothing at all.
    again = _sync(source, dagster_instance, job_resources).connector_run
    assert again.status is RunStatus.SUCCEEDED
    assert writes(again) == {"inserted": 0, "updated": 0, "deleted": 0}
    assert _snapshot(job_catalog, source.id) == (rows, fields)

    # A new field in the newest documents shows in the change summary.
    with mongodb_auth_server.client() as client:
        client[shop].clicks.insert_many([{"n": i, "page": "/", "referrer": "x"} for i in range(5)])
    changed = _sync(source, dagster_instance, job_resources).connector_run
    assert changed.status is RunStatus.SUCCEEDED, changed.error_message
    assert changed.stats["changes"]["columns_added"] == [
        f"{qualified_name((shop, 'clicks'))}.referrer"
    ]


def test_wrong_password_fails_without_retry_and_keeps_the_catalog(
    mongodb_auth_server, shop, job_catalog, tenant_id, dagster_instance, job_resources
):
    source = _source(job_catalog, tenant_id, mongodb_auth_server, shop)
    assert (
        _sync(source, dagster_instance, job_resources).connector_run.status is RunStatus.SUCCEEDED
    )
    before = _snapshot(job_catalog, source.id)
    job_catalog.data_sources.update(
        source.id, source.tenant_id, credentials={"username": ADMIN[0], "password": WRONG}
    )
    outcome = _sync(source, dagster_instance, job_resources)
    run = outcome.connector_run
    assert run.status is RunStatus.FAILED
    assert run.error_code == "authentication_failed" and run.attempts == 1
    assert WRONG not in (run.error_message or "")
    assert _snapshot(job_catalog, source.id) == before
    for record in dagster_instance.all_logs(outcome.dagster_run_id):
        assert WRONG not in repr(record)


def test_read_on_one_database_syncs_it_and_deletes_nothing_elsewhere(
    mongodb_auth_server, job_catalog, tenant_id, dagster_instance, job_resources
):
    with mongodb_auth_server.client() as client:
        client[READER_DATABASE].things.insert_one({"a": 1})
    source = job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="reader",
        connector_type="mongodb",
        config=mongodb_auth_server.config(auth_source="admin"),
        credentials={"username": READER[0], "password": READER[1]},
    )
    run = _sync(source, dagster_instance, job_resources).connector_run
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    rows, _ = _snapshot(job_catalog, source.id)
    assert qualified_name((READER_DATABASE, "things")) in rows
    assert all(name.split(".")[0] == READER_DATABASE for name in rows)
