"""BigQuery through the whole job: bqemulator (behind the REST front) -> metadata_sync -> PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from google.cloud import bigquery as bq

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import asset_fields, assets
from metadata_pipelines.models import qualified_name
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.support.bigquery_server import PROJECT
from metadata_pipelines_tests.test_extractors.bigquery_support import (
    FAST_RETRIES,
    emulator_client,
    populate,
    service_account_key,
)

EMAIL = "catalog@test-proj.iam.gserviceaccount.com"


@pytest.fixture
def catalog_url(postgres_database_url):
    """These runs persist into PostgreSQL, the production catalog."""
    return postgres_database_url


@pytest.fixture
def key(bigquery):
    key_json, private_key = service_account_key(bigquery.token_uri, EMAIL)
    bigquery.register_service_account(EMAIL, private_key.public_key())
    return key_json


@pytest.fixture
def source(bigquery, bqemulator, dataset_prefix, key, job_catalog, tenant_id):
    populate(bqemulator, dataset_prefix)
    return job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="warehouse",
        connector_type="bigquery",
        config={
            "project_ids": [PROJECT],
            "api_endpoint": bigquery.url,
            "include_datasets": [f"{dataset_prefix}.*"],
            **FAST_RETRIES,
        },
        credentials={"service_account_json": key},
    )


def _sync(source, dagster_instance, job_resources):
    return execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=job_resources
    )


def _snapshot(catalog, source_id):
    with catalog.engine.connect() as connection:
        found = {
            row.qualified_name: (row.id, row.content_hash, row.deleted_at)
            for row in connection.execute(
                sa.select(assets).where(assets.c.data_source_id == source_id)
            )
        }
        fields = {
            (row.asset_id, row.path): row.native_type
            for row in connection.execute(
                sa.select(asset_fields).where(asset_fields.c.data_source_id == source_id)
            )
        }
    return found, fields


def test_sync_resync_and_a_nested_field_added(
    bigquery, bqemulator, dataset_prefix, key, source, job_catalog, dagster_instance, job_resources
):
    sales = f"{dataset_prefix}sales"
    first = _sync(source, dagster_instance, job_resources)

    run = first.connector_run
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    assert run.stats["extracted"]["table"] == 2 and run.stats["extracted"]["view"] == 1
    found, fields = _snapshot(job_catalog, source.id)
    orders = qualified_name((PROJECT, sales, "orders"))
    expected = {
        (PROJECT,),
        (PROJECT, sales),
        (PROJECT, sales, "orders"),
        (PROJECT, sales, "big_orders"),
    }
    assert {qualified_name(path) for path in expected} <= set(found)
    orders_id = found[orders][0]
    assert fields[(orders_id, "customer")] == "STRUCT"
    assert fields[(orders_id, "tags")] == "ARRAY<STRING>"
    # Every nested field is a row of its own, addressed by its path.
    assert {path for asset_id, path in fields if asset_id == orders_id} == {
        "id",
        "customer",
        "customer.name",
        "customer.addresses",
        "customer.addresses[].city",
        "customer.addresses[].geo",
        "customer.addresses[].geo.lat",
        "customer.addresses[].geo.lon",
        "tags",
        "amount",
        "ordered_at",
    }
    assert fields[(orders_id, "customer.addresses[].geo.lat")] == "FLOAT64"

    again = _sync(source, dagster_instance, job_resources)
    assert again.connector_run.status is RunStatus.SUCCEEDED
    assert {k: again.connector_run.stats[k] for k in ("inserted", "updated", "deleted")} == {
        "inserted": 0,
        "updated": 0,
        "deleted": 0,
    }
    assert _snapshot(job_catalog, source.id) == (found, fields)

    client = emulator_client(bqemulator)
    table = client.get_table(f"{PROJECT}.{sales}.orders")
    schema = list(table.schema)
    customer = schema[1]
    schema[1] = bq.SchemaField(
        customer.name, "RECORD", description=customer.description,
        fields=[*customer.fields, bq.SchemaField("email", "STRING")],
    )  # fmt: skip
    schema.append(bq.SchemaField("channel", "STRING"))
    table.schema = schema
    client.update_table(table, ["schema"])
    changed = _sync(source, dagster_instance, job_resources)

    stats = changed.connector_run.stats
    assert changed.connector_run.status is RunStatus.SUCCEEDED
    assert stats["changes"]["columns_added"] == [f"{orders}.customer.email", f"{orders}.channel"]
    assert stats["updated"] >= 1
    after, _ = _snapshot(job_catalog, source.id)
    assert after[orders][1] != found[orders][1]  # the table's hash covers its nested fields
    # The private key never reaches Dagster: run config, tags, outputs, event log.
    private_key = json.loads(key)["private_key"]
    logs = " ".join(str(event) for event in dagster_instance.all_logs(changed.dagster_run_id))
    dagster_run = dagster_instance.get_run_by_id(changed.dagster_run_id)
    for text in (logs, str(dagster_run.run_config), str(dagster_run.tags)):
        assert "PRIVATE KEY" not in text and private_key not in text


def test_wrong_key_fails_once_and_keeps_the_catalog(
    bigquery, source, job_catalog, dagster_instance, job_resources
):
    _sync(source, dagster_instance, job_resources)
    before = _snapshot(job_catalog, source.id)
    wrong_key, _ = service_account_key(
        bigquery.token_uri, "stranger@test-proj.iam.gserviceaccount.com"
    )
    job_catalog.data_sources.update(
        source.id, source.tenant_id, credentials={"service_account_json": wrong_key}
    )
    tokens_before = bigquery.token_requests

    outcome = _sync(source, dagster_instance, job_resources)

    run = outcome.connector_run
    assert run.status is RunStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert run.attempts == 1
    assert bigquery.token_requests - tokens_before == 1  # the connection check, not retried
    assert "PRIVATE KEY" not in run.error_message
    assert _snapshot(job_catalog, source.id) == before
