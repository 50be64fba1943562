"""Kafka through the whole job: Tansu + the Schema Registry fake -> metadata_sync -> PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from confluent_kafka.admin import NewTopic

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import assets, data_sources
from metadata_pipelines.models import qualified_name
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.fakes.schema_registry_server import FakeSchemaRegistry
from metadata_pipelines_tests.support.catalog_snapshot import catalog_snapshot, writes
from metadata_pipelines_tests.test_extractors.kafka_support import (
    ORDER_AVRO_V2,
    prefix,
    register_shop,
)

SECRET = "Registry-Canary-Secret-9f3e"


@pytest.fixture
def catalog_url(postgres_database_url):
    """These runs persist into PostgreSQL, the production catalog."""
    return postgres_database_url


@pytest.fixture
def registry():
    with FakeSchemaRegistry(basic_auth=("catalog", SECRET)) as fake:
        yield fake


def test_sync_resync_schema_bump_and_registry_outage(
    kafka_broker, registry, job_catalog, tenant_id, dagster_instance, job_resources
):
    p = prefix("job")
    topics = {name: f"{p}.{name}" for name in ("orders", "payments", "customers")}
    kafka_broker.create_topics([NewTopic(t, 2, 1) for t in topics.values()])
    register_shop(registry, topics)
    source = job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="events",
        connector_type="kafka",
        config=kafka_broker.config(
            cluster_name="prod",
            include_topics=[f"{p}\\..*"],
            schema_registry_url=registry.url,
            registry_max_retries=0,
        ),
        credentials={"schema_registry_username": "catalog", "schema_registry_password": SECRET},
    )

    def sync():
        return execute_sync(
            source.id, source.tenant_id, instance=dagster_instance, resources=job_resources
        )

    outcome = sync()
    run = outcome.connector_run
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    orders = qualified_name(("prod", topics["orders"]))
    rows, fields = catalog_snapshot(job_catalog, source.id)
    assert {"prod", orders, qualified_name(("prod", topics["payments"]))} <= set(rows)
    paths = {path for _, path in fields}
    assert {"ship_to.city", "lines[].sku", "attempts[].outcome.ok", "home.city"} <= paths

    again = sync().connector_run
    assert again.status is RunStatus.SUCCEEDED
    assert writes(again) == {"inserted": 0, "updated": 0, "deleted": 0}
    assert catalog_snapshot(job_catalog, source.id) == (rows, fields)

    # Version 2 of the orders value schema: `id` retyped, `channel` added.
    registry.register(
        f"{topics['orders']}-value",
        ORDER_AVRO_V2,
        references=[
            {"name": "shop.common.Address", "subject": "shop.common.Address", "version": 1}
        ],
    )
    bumped = sync().connector_run
    assert bumped.status is RunStatus.SUCCEEDED, bumped.error_message
    changes = bumped.stats["changes"]
    assert changes["columns_added"] == [f"{orders}.channel"]
    assert [c for c in changes["columns_retyped"] if c.startswith(f"{orders}.id")]
    with job_catalog.engine.connect() as connection:
        details = connection.execute(
            sa.select(assets.c.details).where(
                assets.c.data_source_id == source.id, assets.c.qualified_name == orders
            )
        ).scalar_one()
    assert details["properties"]["value_schema"]["version"] == 2

    # The registry fails: a partial run that keeps every topic and every stored field.
    _, before = catalog_snapshot(job_catalog, source.id)
    registry.fail_with_500 = True
    outage = sync().connector_run
    assert outage.status is RunStatus.PARTIAL
    rows_after, after = catalog_snapshot(job_catalog, source.id)
    assert all(deleted is None for _, deleted in rows_after.values())
    assert {k for k, (_, deleted) in after.items() if deleted is None} == {
        k for k, (_, deleted) in before.items() if deleted is None
    }

    # The registry password is encrypted at rest and appears in no event of the runs.
    with job_catalog.engine.connect() as connection:
        stored = connection.execute(
            sa.select(data_sources.c.config, data_sources.c.credentials_encrypted).where(
                data_sources.c.id == source.id
            )
        ).one()
    assert SECRET not in str(stored.config) and SECRET not in str(stored.credentials_encrypted)
    for record in dagster_instance.all_logs(outcome.dagster_run_id):
        assert SECRET not in repr(record)
