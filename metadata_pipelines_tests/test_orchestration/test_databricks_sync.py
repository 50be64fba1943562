"""Databricks Unity Catalog through the whole job: fake workspace -> metadata_sync -> PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import asset_fields, assets
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.fakes.unity_catalog_server import (
    Fault,
    array_type,
    column,
    field,
    map_type,
    struct_type,
)
from metadata_pipelines_tests.test_extractors.databricks_support import (
    TOKEN,
    populate,
)

UC = "/api/2.1/unity-catalog"


@pytest.fixture
def catalog_url(postgres_database_url):
    """These runs persist into PostgreSQL, the production catalog."""
    return postgres_database_url


@pytest.fixture
def source(fake, job_catalog, tenant_id):
    populate(fake)
    fake.add_primary_key("main", "sales", "orders", "orders_pk", ["id"])
    fake.add_primary_key("main", "sales", "customers", "customers_pk", ["id"])
    fake.add_foreign_key(
        "main", "sales", "orders", "orders_customer_fk", ["customer_id"],
        references=("main", "sales", "customers_pk"),
    )  # fmt: skip
    return job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="lakehouse",
        connector_type="databricks",
        config={"workspace_url": fake.url, "http_path": "/sql/1.0/warehouses/fakewarehouse01"},
        credentials={"access_token": TOKEN},
    )


def _sync(source, dagster_instance, job_resources):
    return execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=job_resources
    )


def _assets(catalog, source_id):
    with catalog.engine.connect() as connection:
        return {
            row.qualified_name: row
            for row in connection.execute(
                sa.select(assets).where(assets.c.data_source_id == source_id)
            )
        }


def test_full_sync_rerun_and_change(fake, source, job_catalog, dagster_instance, job_resources):
    first = _sync(source, dagster_instance, job_resources)

    assert first.connector_run.status is RunStatus.SUCCEEDED, first.connector_run.error_message
    found = _assets(job_catalog, source.id)
    assert {"main", "archive", "main.sales", "main.hr", "archive.old"} <= set(found)
    orders = found["main.sales.orders"]
    assert orders.asset_type == "table" and orders.description == "All orders"
    assert found["main.sales.big_orders"].asset_type == "view"
    assert "amount > 100" in found["main.sales.big_orders"].details["view_definition"]
    constraints = {c["constraint_type"]: c for c in orders.details["constraints"]}
    assert constraints["primary_key"]["columns"] == ["id"]
    assert constraints["foreign_key"]["referenced_table"] == "customers"
    with job_catalog.engine.connect() as connection:
        columns = dict(
            connection.execute(
                sa.select(asset_fields.c.name, asset_fields.c.native_type).where(
                    asset_fields.c.asset_id == orders.id
                )
            ).all()
        )
    assert columns == {
        "id": "bigint",
        "customer_id": "bigint",
        "amount": "decimal(10,2)",
        "day": "date",
    }

    again = _sync(source, dagster_instance, job_resources)
    assert again.connector_run.stats["inserted"] == 0
    assert again.connector_run.stats["updated"] == 0
    assert again.connector_run.stats["deleted"] == 0

    fake.drop_table("main", "hr", "people")
    fake.add_table(
        "main",
        "sales",
        "customers",
        [column("id", "LONG", 0, "bigint"), column("email", "STRING", 1, "string")],
    )
    changed = _sync(source, dagster_instance, job_resources)

    stats = changed.connector_run.stats
    assert stats["changes"]["tables_removed"] == ["main.hr.people"]
    assert stats["changes"]["columns_added"] == ["main.sales.customers.email"]
    assert stats["changes"]["columns_removed"] == ["main.sales.customers.name"]
    assert _assets(job_catalog, source.id)["main.hr.people"].deleted_at is not None


def _fields(catalog, asset_id: str) -> dict[str, tuple[str, str, str | None, bool]]:
    with catalog.engine.connect() as connection:
        return {
            row.path: (row.native_type, row.data_type, row.parent_path, row.deleted_at is None)
            for row in connection.execute(
                sa.select(asset_fields).where(asset_fields.c.asset_id == asset_id)
            )
        }


# STRUCT<a: INT, b: ARRAY<STRUCT<c: STRING>>> and MAP<STRING, STRUCT<x: INT, y: ARRAY<STRING>>>
PAYLOAD = struct_type(
    field("a", "integer"), field("b", array_type(struct_type(field("c", "string"))))
)
ATTRS = map_type("string", struct_type(field("x", "integer"), field("y", array_type("string"))))


def test_complex_columns_are_expanded_into_nested_fields_end_to_end(
    fake, source, job_catalog, dagster_instance, job_resources
):
    events = [
        column("id", "LONG", 0, "bigint"),
        column("payload", "STRUCT", 1, spark_type=PAYLOAD),
        column("attrs", "MAP", 2, spark_type=ATTRS),
    ]
    fake.add_table("main", "sales", "events", events)

    first = _sync(source, dagster_instance, job_resources)

    assert first.connector_run.status is RunStatus.SUCCEEDED, first.connector_run.error_message
    events_id = _assets(job_catalog, source.id)["main.sales.events"].id
    assert _fields(job_catalog, events_id) == {
        "id": ("bigint", "integer", None, True),
        "payload": ("struct<a:int,b:array<struct<c:string>>>", "struct", None, True),
        "payload.a": ("int", "integer", "payload", True),
        "payload.b": ("array<struct<c:string>>", "array", "payload", True),
        "payload.b[].c": ("string", "string", "payload.b", True),
        "attrs": ("map<string,struct<x:int,y:array<string>>>", "map", None, True),
        "attrs{}.x": ("int", "integer", "attrs", True),
        "attrs{}.y": ("array<string>", "array", "attrs", True),
    }

    again = _sync(source, dagster_instance, job_resources)
    assert {k: again.connector_run.stats[k] for k in ("inserted", "updated", "deleted")} == {
        "inserted": 0,
        "updated": 0,
        "deleted": 0,
    }

    # A member added deep inside, and the map's value struct replaced by a plain string.
    events[1] = column(
        "payload",
        "STRUCT",
        1,
        spark_type=struct_type(
            field("a", "long"),
            field("b", array_type(struct_type(field("c", "string"), field("d", "date")))),
        ),
    )
    events[2] = column("attrs", "MAP", 2, spark_type=map_type("string", "string"))
    fake.add_table("main", "sales", "events", events)
    changed = _sync(source, dagster_instance, job_resources)

    changes = changed.connector_run.stats["changes"]
    assert changes["columns_added"] == ["main.sales.events.payload.b[].d"]
    assert sorted(changes["columns_removed"]) == [
        "main.sales.events.attrs{}.x",
        "main.sales.events.attrs{}.y",
    ]
    assert changes["columns_retyped"] == [
        "main.sales.events.payload: struct<a:int,b:array<struct<c:string>>> -> "
        "struct<a:bigint,b:array<struct<c:string,d:date>>>",
        "main.sales.events.payload.a: int -> bigint",
        "main.sales.events.payload.b: array<struct<c:string>> -> array<struct<c:string,d:date>>",
        "main.sales.events.attrs: map<string,struct<x:int,y:array<string>>> -> map<string,string>",
    ]
    fields = _fields(job_catalog, events_id)
    assert fields["payload.b[].d"] == ("date", "date", "payload.b", True)
    assert fields["attrs{}.x"][3] is False and fields["attrs{}.y"][3] is False


def test_bad_token_fails_permanently_and_keeps_the_catalog(
    fake, source, job_catalog, dagster_instance, job_resources
):
    _sync(source, dagster_instance, job_resources)
    before = {
        name: (row.content_hash, row.deleted_at)
        for name, row in _assets(job_catalog, source.id).items()
    }
    job_catalog.data_sources.update(
        source.id, source.tenant_id, credentials={"access_token": "dapi-revoked"}
    )
    requests_before = fake.count()

    outcome = _sync(source, dagster_instance, job_resources)

    run = outcome.connector_run
    assert run.status is RunStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert run.attempts == 1
    assert fake.count() - requests_before == 1  # the failed connection check, not retried
    after = {
        name: (row.content_hash, row.deleted_at)
        for name, row in _assets(job_catalog, source.id).items()
    }
    assert after == before


def test_forbidden_schema_is_partial_and_protected(
    fake, source, job_catalog, dagster_instance, job_resources
):
    _sync(source, dagster_instance, job_resources)
    fake.add_fault(
        Fault(
            path=f"{UC}/tables",
            status=403,
            body={"error_code": "PERMISSION_DENIED", "message": "User lacks USE SCHEMA on main.hr"},
            times=None,
            when=lambda request: request.query.get("schema_name") == "hr",
        )
    )

    outcome = _sync(source, dagster_instance, job_resources)

    run = outcome.connector_run
    assert run.status is RunStatus.PARTIAL
    assert "main.hr" in run.error_message
    assert [e["scope"] for e in run.extraction_errors if e["severity"] == "error"] == [
        ["main", "hr"]
    ]
    assert _assets(job_catalog, source.id)["main.hr.people"].deleted_at is None
    assert run.stats["deleted"] == 0


def test_token_never_reaches_dagster(fake, source, dagster_instance, job_resources):
    fake.add_fault(
        Fault(
            path=f"{UC}/schemas",
            status=500,
            body={"error_code": "INTERNAL", "message": f"echoing Bearer {TOKEN}"},
            times=None,
        )
    )

    outcome = _sync(source, dagster_instance, job_resources)

    assert outcome.connector_run.status in (RunStatus.FAILED, RunStatus.PARTIAL)
    assert TOKEN not in json.dumps(outcome.connector_run.model_dump(mode="json"))
    for record in dagster_instance.all_logs(outcome.dagster_run_id):
        assert TOKEN not in repr(record)
