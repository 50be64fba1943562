"""Shared helpers for the Databricks tests (the `fake` workspace fixture is in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from metadata_pipelines.extractors.databricks import DatabricksExtractor
from metadata_pipelines_tests.fakes.unity_catalog_server import FakeUnityCatalog, Request, column

TOKEN = "dapi-SECRET-0123456789abcdef"
CLIENT_ID = "sp-client-id-1"
CLIENT_SECRET = "oauth-SECRET-fedcba9876543210"
FAST = {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05}
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def populate(fake: FakeUnityCatalog) -> None:
    """main.sales (orders, customers, a view), main.hr (people), archive.old (t); two catalogs."""
    fake.add_catalog("main", comment="Main catalog", properties={"team": "data"})
    fake.add_schema("main", "sales", comment="Sales")
    fake.add_schema("main", "hr")
    fake.add_table(
        "main",
        "sales",
        "orders",
        [
            column("id", "LONG", 0, "bigint", nullable=False),
            column("customer_id", "LONG", 1, "bigint"),
            column("amount", "DECIMAL", 2, "decimal(10,2)", type_precision=10, type_scale=2),
            column("day", "DATE", 3, "date", partition_index=0),
        ],
        comment="All orders",
        storage_location="s3://bucket/orders",
        properties={"delta.appendOnly": "true"},
    )
    fake.add_table(
        "main",
        "sales",
        "customers",
        [column("id", "LONG", 0, "bigint"), column("name", "STRING", 1, "string")],
    )
    fake.add_table(
        "main",
        "sales",
        "big_orders",
        [column("id", "LONG", 0, "bigint")],
        table_type="VIEW",
        view_definition="SELECT id FROM main.sales.orders WHERE amount > 100",
    )
    fake.add_table("main", "hr", "people", [column("id", "INT", 0, "int")])
    fake.add_catalog("archive")
    fake.add_schema("archive", "old")
    fake.add_table("archive", "old", "t")


def extractor(
    fake: FakeUnityCatalog,
    config: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    **options: Any,
) -> DatabricksExtractor:
    return DatabricksExtractor(
        {"workspace_url": fake.url, **(config or {})},
        credentials if credentials is not None else {"access_token": TOKEN},
        client_options={**FAST, **options},
        statement_options={"poll_min_seconds": 0.01, "poll_max_seconds": 0.02},
    )


def in_schema(schema: str, later_page: bool | None = None) -> Callable[[Request], bool]:
    """A fault condition: a tables request for `schema` (its first page, later ones, or any)."""

    def match(request: Request) -> bool:
        if request.query.get("schema_name") != schema:
            return False
        return later_page is None or ("page_token" in request.query) == later_page

    return match
