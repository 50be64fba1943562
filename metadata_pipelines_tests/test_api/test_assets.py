"""Catalog assets over HTTP: listing (type filter, name search, pages) and one asset in full."""

from __future__ import annotations

import uuid

import pytest

from metadata_pipelines.models import (
    ColumnMetadata,
    ConstraintMetadata,
    ConstraintType,
    DatabaseMetadata,
    DataType,
    ExtractionResult,
    IndexMetadata,
    SchemaMetadata,
    TableMetadata,
    TableType,
    qualified_name,
    utcnow,
)
from metadata_pipelines_tests.test_api.conftest import assert_problem

TABLES = ["orders", "order_items", "customers", "100%_growth", "orderXitems"]


def _result() -> ExtractionResult:
    tables = [
        TableMetadata(
            database="shop",
            schema_name="public",
            name="orders",
            comment="one row per order",
            row_count=1200,
            size_bytes=65536,
            columns=[
                ColumnMetadata(
                    name="id", ordinal=1, native_type="bigint", nullable=False, is_primary_key=True
                ),
                ColumnMetadata(name="customer_id", ordinal=2, native_type="bigint"),
                ColumnMetadata(name="note", ordinal=3, native_type="text", comment="free text"),
                ColumnMetadata(
                    name="items",
                    ordinal=4,
                    native_type="ARRAY<STRUCT<sku STRING, price STRUCT<amount NUMERIC>>>",
                    data_type=DataType.ARRAY,
                    children=(
                        ColumnMetadata(name="sku", ordinal=1, native_type="STRING"),
                        ColumnMetadata(
                            name="price",
                            ordinal=2,
                            native_type="STRUCT<amount NUMERIC>",
                            data_type=DataType.STRUCT,
                            children=(
                                ColumnMetadata(name="amount", ordinal=1, native_type="NUMERIC"),
                            ),
                        ),
                    ),
                ),
                ColumnMetadata(name="total", ordinal=5, native_type="numeric"),
            ],
            constraints=[
                ConstraintMetadata(
                    name="orders_pk", constraint_type=ConstraintType.PRIMARY_KEY, columns=["id"]
                ),
                ConstraintMetadata(
                    name="orders_customer_fk",
                    constraint_type=ConstraintType.FOREIGN_KEY,
                    columns=["customer_id"],
                    referenced_database="shop",
                    referenced_schema="public",
                    referenced_table="customers",
                    referenced_columns=["id"],
                ),
            ],
            indexes=[IndexMetadata(name="orders_customer_idx", columns=["customer_id"])],
        ),
        *[
            TableMetadata(
                database="shop",
                schema_name="public",
                name=name,
                columns=[ColumnMetadata(name="id", ordinal=1, native_type="int")],
            )
            for name in TABLES[1:]
        ],
        TableMetadata(
            database="shop",
            schema_name="public",
            name="big_orders",
            table_type=TableType.VIEW,
            view_definition="select * from orders where total > 100",
        ),
    ]
    return ExtractionResult.build(
        "sqlite",
        utcnow(),
        databases=[DatabaseMetadata(name="shop")],
        schemas=[SchemaMetadata(database="shop", name="public")],
        tables=tables,
    )


@pytest.fixture
def synced(client, make_source, api_catalog) -> dict:
    source = make_source()
    api_catalog.persistence.persist(client.tenant_id, source["id"], _result())
    return source


def _names(client, url, **params) -> list[str]:
    names, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        names.extend(item["name"] for item in response.json()["items"])
        if not (cursor := response.json()["next_cursor"]):
            return names


def test_list_filters_by_type_and_pages_in_qualified_name_order(client, synced):
    url = f"/api/v1/data_sources/{synced['id']}/assets"
    everything = client.get(url, params={"limit": 500}).json()["items"]
    assert len(everything) == 2 + len(TABLES) + 1
    assert [a["qualified_name"] for a in everything] == sorted(
        a["qualified_name"] for a in everything
    )
    assert _names(client, url, limit=2) == [a["name"] for a in everything]
    assert sorted(_names(client, url, type="table", limit=2)) == sorted(TABLES)
    assert _names(client, url, type="view") == ["big_orders"]
    assert _names(client, url, type="database") == ["shop"]
    assert_problem(client.get(url, params={"type": "galaxy"}), 422, "validation_failed")
    orders = next(a for a in everything if a["name"] == "orders")
    assert orders["qualified_name"] == qualified_name(("shop", "public", "orders"))
    assert orders["description"] == "one row per order"
    assert orders["links"]["self"] == f"/api/v1/assets/{orders['id']}"
    assert orders["links"]["parent"] == f"/api/v1/assets/{orders['parent_id']}"


def test_search_is_a_case_insensitive_substring_with_wildcards_taken_literally(client, synced):
    url = f"/api/v1/data_sources/{synced['id']}/assets"
    assert sorted(_names(client, url, q="ORDER")) == [
        "big_orders",
        "orderXitems",
        "order_items",
        "orders",
    ]
    assert _names(client, url, q="order_") == ["order_items"]  # `_` is not a wildcard
    assert _names(client, url, q="100%") == ["100%_growth"]  # nor is `%`
    assert _names(client, url, q="%") == ["100%_growth"]
    assert _names(client, url, q="nothing-like-this") == []
    assert sorted(_names(client, url, q="items", type="table", limit=1)) == [
        "orderXitems",
        "order_items",
    ]
    assert_problem(client.get(url, params={"q": ""}), 422, "validation_failed")


def test_one_asset_with_fields_constraints_indexes_and_statistics(client, synced):
    url = f"/api/v1/data_sources/{synced['id']}/assets"
    [orders] = client.get(url, params={"q": "orders", "type": "table"}).json()["items"]
    detail = client.get(f"/api/v1/assets/{orders['id']}").json()
    assert detail["name"] == "orders"
    assert detail["table_type"] == "table"
    assert [(f["path"], f["parent_path"], f["depth"], f["ordinal"]) for f in detail["fields"]] == [
        ("id", None, 0, 1),
        ("customer_id", None, 0, 2),
        ("note", None, 0, 3),
        ("items", None, 0, 4),
        ("items[].sku", "items", 1, 1),
        ("items[].price", "items", 1, 2),
        ("items[].price.amount", "items[].price", 2, 1),
        ("total", None, 0, 5),
    ]
    items = detail["fields"][3]
    assert (items["repeated"], items["data_type"]) == (True, "array")
    assert detail["fields"][6]["native_type"] == "NUMERIC"
    assert detail["fields"][6]["inference"] is None
    assert detail["fields"][0]["is_primary_key"] is True
    assert detail["fields"][0]["nullable"] is False
    assert detail["fields"][2]["description"] == "free text"
    assert detail["statistics"] == {"row_count": 1200, "size_bytes": 65536}
    assert [c["name"] for c in detail["constraints"]] == ["orders_pk", "orders_customer_fk"]
    assert detail["constraints"][1]["referenced_table"] == "customers"
    assert detail["indexes"] == [
        {
            "name": "orders_customer_idx",
            "columns": ["customer_id"],
            "unique": False,
            "kind": None,
            "properties": {},
        }
    ]
    assert "constraints" not in detail["details"] and "row_count" not in detail["details"]

    [view] = client.get(url, params={"type": "view"}).json()["items"]
    view_detail = client.get(f"/api/v1/assets/{view['id']}").json()
    assert view_detail["details"]["view_definition"].startswith("select")
    assert view_detail["fields"] == []
    assert_problem(client.get(f"/api/v1/assets/{uuid.uuid4()}"), 404, "asset_not_found")


def test_assets_of_an_unknown_source_are_404(client):
    assert_problem(
        client.get(f"/api/v1/data_sources/{uuid.uuid4()}/assets"), 404, "data_source_not_found"
    )
