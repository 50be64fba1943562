"""Databricks extraction against a real loopback HTTP server: what is read, how it is paged, filters,
catalog given vs omitted, OAuth M2M, and keys through the SQL Statement Execution API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metadata_pipelines.extractors.errors import AuthenticationError, ConfigurationError
from metadata_pipelines.models import (
    ConstraintType,
    DataType,
    ExtractionResult,
    ExtractionStatus,
    Severity,
    TableMetadata,
    TableType,
)
from metadata_pipelines_tests.fakes.unity_catalog_server import (
    WAREHOUSES,
    FakeUnityCatalog,
    Fault,
    column,
)
from metadata_pipelines_tests.test_extractors.databricks_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN,
    extractor,
    populate,
    run,
)

UC = "/api/2.1/unity-catalog"


def names(result) -> list[str]:
    return [".".join(t.path) for t in result.tables]


def test_extracts_catalogs_schemas_tables_views_and_columns(fake: FakeUnityCatalog) -> None:
    populate(fake)
    result = run(extractor(fake).extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS
    assert result.errors == []
    assert [d.name for d in result.databases] == ["archive", "main"]
    main = result.databases[1]
    assert main.comment == "Main catalog"
    assert main.owner == "admins"
    assert main.created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert main.properties == {"uc_properties": {"team": "data"}}
    assert [(s.database, s.name) for s in result.schemas] == [
        ("archive", "old"),
        ("main", "hr"),
        ("main", "sales"),
    ]
    sales = result.schemas[2]
    assert (sales.comment, sales.owner) == ("Sales", "admins")
    assert sales.properties == {"full_name": "main.sales"}
    assert names(result) == [
        "archive.old.t",
        "main.hr.people",
        "main.sales.big_orders",
        "main.sales.customers",
        "main.sales.orders",
    ]
    view, orders = result.tables[2], result.tables[4]
    assert view.table_type is TableType.VIEW
    assert view.native_type == "VIEW"
    assert view.view_definition == "SELECT id FROM main.sales.orders WHERE amount > 100"
    assert "data_source_format" not in view.properties
    assert orders.table_type is TableType.TABLE
    assert orders.native_type == "MANAGED"
    assert orders.comment == "All orders"
    assert orders.owner == "admins"
    assert orders.updated_at == datetime(2023, 11, 14, 22, 21, 40, tzinfo=UTC)
    assert orders.properties == {
        "full_name": "main.sales.orders",
        "table_id": "tid-main-sales-orders",
        "data_source_format": "DELTA",
        "storage_location": "s3://bucket/orders",
        "partition_columns": ["day"],
        "uc_properties": {"delta.appendOnly": "true"},
    }
    assert [
        (c.name, c.ordinal, c.native_type, c.data_type, c.nullable) for c in orders.columns
    ] == [
        ("id", 1, "bigint", DataType.INTEGER, False),
        ("customer_id", 2, "bigint", DataType.INTEGER, True),
        ("amount", 3, "decimal(10,2)", DataType.DECIMAL, True),
        ("day", 4, "date", DataType.DATE, True),
    ]
    assert orders.columns[2].properties["type_precision"] == 10
    assert orders.columns[2].properties["type_scale"] == 2
    assert orders.columns[3].properties["partition_index"] == 0
    assert orders.constraints == []  # no warehouse configured: no statements
    assert fake.count("POST", "/api/2.0/sql/statements") == 0


def test_every_list_call_lets_the_server_pick_the_page_size(fake: FakeUnityCatalog) -> None:
    populate(fake)
    run(extractor(fake).extract_metadata())
    lists = [
        r for r in fake.requests if r.path in {f"{UC}/catalogs", f"{UC}/schemas", f"{UC}/tables"}
    ]
    assert lists and all(r.query.get("max_results") == "0" for r in lists)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake.requests)
    assert all("include_browse" not in r.query for r in lists)
    # main.sales has 3 tables with a server page size of 2: two pages
    sales = [r for r in fake.requests if r.query.get("schema_name") == "sales"]
    assert [("page_token" in r.query) for r in sales] == [False, True]


@pytest.mark.parametrize("last_token", [None, ""])
def test_follows_tokens_through_empty_pages(fake: FakeUnityCatalog, last_token) -> None:
    fake.empty_pages = True
    fake.last_page_token = last_token
    fake.page_sizes.update(catalogs=1, schemas=1, tables=1)
    populate(fake)
    result = run(extractor(fake).extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS
    assert len(result.tables) == 5
    assert len(result.schemas) == 3
    # every real page is preceded by an empty one carrying a token
    assert fake.count("GET", f"{UC}/tables") == 2 * 5


def test_a_given_catalog_is_read_directly_and_alone(fake: FakeUnityCatalog) -> None:
    populate(fake)
    result = run(extractor(fake, {"catalog": "main"}).extract_metadata())
    assert [d.name for d in result.databases] == ["main"]
    assert {t.database for t in result.tables} == {"main"}
    assert fake.count("GET", f"{UC}/catalogs") == 0
    assert fake.count("GET", f"{UC}/catalogs/main") == 1


def test_a_missing_given_catalog_is_a_configuration_error(fake: FakeUnityCatalog) -> None:
    populate(fake)
    with pytest.raises(ConfigurationError) as caught:
        run(extractor(fake, {"catalog": "nope"}).extract_metadata())
    assert "catalog 'nope' does not exist or is not visible" in str(caught.value)
    ok, message = run(extractor(fake, {"catalog": "nope"}).test_connection())
    assert ok is False and "USE CATALOG" in message


def test_include_and_exclude_filters(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_schema("main", "information_schema")
    fake.add_table("main", "information_schema", "tables", table_type="VIEW")
    config = {
        "exclude_catalogs": ["archive"],
        "include_schemas": ["sales", r"main\.hr"],
        "exclude_tables": ["big_.*", r"main\.hr\.people"],
    }
    result = run(extractor(fake, config).extract_metadata())
    assert [d.name for d in result.databases] == ["main"]
    assert [s.name for s in result.schemas] == ["hr", "sales"]
    assert names(result) == ["main.sales.customers", "main.sales.orders"]
    # excluded catalogs and schemas are never listed
    assert fake.count("GET", f"{UC}/schemas") == 1
    assert {r.query["schema_name"] for r in fake.requests if "schema_name" in r.query} == {
        "sales",
        "hr",
    }


def test_information_schema_is_opt_in(fake: FakeUnityCatalog) -> None:
    fake.add_catalog("main")
    fake.add_schema("main", "information_schema")
    fake.add_table("main", "information_schema", "columns", table_type="VIEW")
    assert run(extractor(fake).extract_metadata()).schemas == []
    result = run(extractor(fake, {"include_information_schema": True}).extract_metadata())
    assert names(result) == ["main.information_schema.columns"]


def test_include_browse_is_sent_when_asked(fake: FakeUnityCatalog) -> None:
    populate(fake)
    run(extractor(fake, {"include_browse": True}).extract_metadata())
    lists = [
        r for r in fake.requests if r.path in {f"{UC}/catalogs", f"{UC}/schemas", f"{UC}/tables"}
    ]
    assert lists and all(r.query["include_browse"] == "true" for r in lists)


def test_test_connection_checks_reachability_and_token(fake: FakeUnityCatalog) -> None:
    populate(fake)
    assert run(extractor(fake).test_connection()) == (True, None)
    assert fake.requests[-1].query == {"max_results": "1"}
    ok, message = run(extractor(fake, credentials={"access_token": "dapi-wrong"}).test_connection())
    assert ok is False
    assert "rejected the credentials" in message and "check that the token" in message
    assert "dapi-wrong" not in message


def test_test_connection_reports_an_unreachable_workspace() -> None:
    from metadata_pipelines.extractors.databricks import DatabricksExtractor

    unreachable = DatabricksExtractor(
        {"workspace_url": "http://127.0.0.1:9", "retry_budget_seconds": 0.2},
        {"access_token": TOKEN},
        client_options={"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.02},
    )
    ok, message = run(unreachable.test_connection())
    assert ok is False
    assert message.startswith("listing catalogs: cannot reach http://127.0.0.1:9")
    assert "retry budget 0.2s spent" in message
    assert TOKEN not in message


# -- OAuth machine-to-machine --------------------------------------------------------------------


def test_oauth_m2m_exchanges_once_and_uses_the_token(fake: FakeUnityCatalog) -> None:
    populate(fake)
    oauth = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    subject = extractor(fake, credentials=oauth)
    result = run(subject.extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS and len(result.tables) == 5
    assert fake.oauth_exchanges == 1
    token_requests = [r for r in fake.requests if r.path == "/oidc/v1/token"]
    assert len(token_requests) == 1
    assert token_requests[0].authorization.startswith("Basic ")
    assert b"grant_type=client_credentials" in token_requests[0].body
    assert b"scope=all-apis" in token_requests[0].body
    api = [r for r in fake.requests if r.path != "/oidc/v1/token"]
    assert all(r.authorization.startswith("Bearer fake-oauth-") for r in api)
    issued = subject.last_client.token_source.secrets()[-1]
    assert issued.startswith("fake-oauth-")
    assert issued not in result.model_dump_json()


def test_oauth_token_is_renewed_when_refused(fake: FakeUnityCatalog) -> None:
    populate(fake)
    oauth = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    # the first catalog listing is refused as if the token had been revoked
    fake.add_fault(
        Fault(
            path=f"{UC}/catalogs",
            status=401,
            body={"error_code": "UNAUTHENTICATED", "message": "token expired"},
            times=1,
        )
    )
    result = run(extractor(fake, credentials=oauth).extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS
    assert fake.oauth_exchanges == 2


def test_oauth_with_a_wrong_secret_is_an_authentication_error(fake: FakeUnityCatalog) -> None:
    populate(fake)
    wrong = {"client_id": CLIENT_ID, "client_secret": "wrong-SECRET-123"}
    with pytest.raises(AuthenticationError) as caught:
        run(extractor(fake, credentials=wrong).extract_metadata())
    message = str(caught.value)
    assert "OAuth token endpoint rejected client id 'sp-client-id-1'" in message
    assert "wrong-SECRET-123" not in message
    ok, message = run(extractor(fake, credentials=wrong).test_connection())
    assert ok is False and "client id and secret" in message


# -- keys through the SQL Statement Execution API ------------------------------------------------


def keyed(fake: FakeUnityCatalog) -> dict:
    populate(fake)
    fake.add_table(
        "main",
        "sales",
        "lines",
        [column("order_id", "LONG", 0), column("line", "INT", 1), column("sku", "STRING", 2)],
    )
    fake.add_table("main", "sales", "shipments", [column("o", "LONG", 0), column("l", "INT", 1)])
    fake.add_primary_key("main", "sales", "orders", "orders_pk", ["id"])
    fake.add_primary_key("main", "sales", "customers", "customers_pk", ["id"])
    fake.add_primary_key("main", "sales", "lines", "lines_pk", ["order_id", "line"])
    fake.add_foreign_key(
        "main",
        "sales",
        "orders",
        "orders_customer_fk",
        ["customer_id"],
        ("main", "sales", "customers_pk"),
    )
    # composite key declared in the other order: l -> line (2), o -> order_id (1)
    fake.add_foreign_key(
        "main",
        "sales",
        "shipments",
        "ship_line_fk",
        ["l", "o"],
        ("main", "sales", "lines_pk"),
        [2, 1],
    )
    fake.add_foreign_key(
        "main", "hr", "people", "people_ext_fk", ["id"], ("elsewhere", "x", "ext_pk")
    )
    return {"http_path": f"/sql/1.0/warehouses/{fake.warehouse_id}"}


def test_keys_are_read_in_bulk_per_catalog(fake: FakeUnityCatalog) -> None:
    config = keyed(fake)
    fake.statement_polls = 2
    fake.statement_chunk_rows = 2
    result = run(extractor(fake, config).extract_metadata())
    tables = {t.name: t for t in result.tables}

    assert [(c.name, c.constraint_type, c.columns) for c in tables["orders"].constraints] == [
        ("orders_customer_fk", ConstraintType.FOREIGN_KEY, ["customer_id"]),
        ("orders_pk", ConstraintType.PRIMARY_KEY, ["id"]),
    ]
    fk = tables["orders"].constraints[0]
    assert (fk.referenced_database, fk.referenced_schema, fk.referenced_table) == (
        "main",
        "sales",
        "customers",
    )
    assert fk.referenced_columns == ["id"]
    assert (fk.on_update, fk.on_delete) == ("NO ACTION", "NO ACTION")
    assert [c.is_primary_key for c in tables["orders"].columns] == [True, False, False, False]
    assert tables["lines"].constraints[0].columns == ["order_id", "line"]
    ship = tables["shipments"].constraints[0]
    assert (ship.columns, ship.referenced_columns) == (["l", "o"], ["line", "order_id"])
    assert tables["people"].constraints == []
    assert [(w.scope, w.severity, w.code) for w in result.errors] == [
        (("main", "hr", "people"), Severity.WARNING, "unresolved_foreign_key")
    ]
    assert "elsewhere.x.ext_pk, which was not read" in result.errors[0].message
    assert result.status is ExtractionStatus.SUCCESS
    # one statement per catalog (not per table), polled while running, chunks fetched
    assert fake.count("POST", "/api/2.0/sql/statements") == 2
    assert fake.count("GET", r"/api/2.0/sql/statements/[^/]+") == 4
    assert fake.count("GET", r"/api/2.0/sql/statements/[^/]+/result/chunks/\d+") >= 3
    statements = [r for r in fake.requests if r.path == "/api/2.0/sql/statements"]
    assert all(b"information_schema.table_constraints" in r.body for r in statements)


def test_a_failed_statement_is_an_error_on_its_catalog(fake: FakeUnityCatalog) -> None:
    config = keyed(fake)
    fake.add_fault(
        Fault(
            path="/api/2.0/sql/statements",
            method="POST",
            status=200,
            body={
                "statement_id": "s-1",
                "status": {
                    "state": "FAILED",
                    "error": {"error_code": "PERMISSION_DENIED", "message": "no SELECT"},
                },
            },
            when=lambda r: b"`main`" in r.body,
        )
    )
    result = run(extractor(fake, config).extract_metadata())
    errors = [e for e in result.errors if e.severity is Severity.ERROR]
    assert [(e.scope, e.code, e.retryable) for e in errors] == [
        (("main",), "statement_failed", False)
    ]
    assert "PERMISSION_DENIED: no SELECT" in errors[0].message
    assert result.status is ExtractionStatus.PARTIAL
    assert len(result.tables) == 7  # tables are kept; only the keys are missing
    assert all(t.constraints == [] for t in result.tables if t.database == "main")


def test_an_unknown_warehouse_is_an_error_on_each_catalog(fake: FakeUnityCatalog) -> None:
    keyed(fake)
    result = run(extractor(fake, {"http_path": "/sql/1.0/warehouses/nope"}).extract_metadata())
    assert sorted(e.scope for e in result.errors) == [("archive",), ("main",)]
    assert all(e.code == "not_found" for e in result.errors)


# -- test_connection checks the SQL warehouse keys are read through ------------------------------


def warehouse_reads(fake: FakeUnityCatalog) -> list[str]:
    return [r.path for r in fake.requests if r.path.startswith(WAREHOUSES)]


def test_test_connection_checks_the_warehouse_only_when_keys_are_read(
    fake: FakeUnityCatalog,
) -> None:
    populate(fake)
    assert run(extractor(fake).test_connection()) == (True, None)
    assert warehouse_reads(fake) == []
    assert run(extractor(fake, keyed(fake)).test_connection()) == (True, None)
    assert warehouse_reads(fake) == [f"{WAREHOUSES}{fake.warehouse_id}"]
    fake.warehouse_state = "STOPPED"  # a statement starts it: not a reason to fail
    assert run(extractor(fake, keyed(fake)).test_connection()) == (True, None)


def test_test_connection_names_a_missing_warehouse(fake: FakeUnityCatalog) -> None:
    populate(fake)
    ok, message = run(extractor(fake, {"http_path": "/sql/1.0/warehouses/nope"}).test_connection())
    assert ok is False
    assert message == (
        "SQL warehouse 'nope' does not exist or is not visible to this principal; "
        "check http_path (the warehouse's Connection details)"
    )


@pytest.mark.parametrize("state", ["DELETING", "DELETED"])
def test_test_connection_refuses_a_warehouse_being_deleted(
    fake: FakeUnityCatalog, state: str
) -> None:
    populate(fake)
    fake.warehouse_state = state
    ok, message = run(extractor(fake, keyed(fake)).test_connection())
    assert ok is False
    assert message == (
        f"SQL warehouse '{fake.warehouse_id}' (Metadata warehouse) is {state.lower()}; "
        "point http_path at a live warehouse"
    )


def test_test_connection_says_which_grant_the_warehouse_needs(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=f"{WAREHOUSES}.*",
            status=403,
            body={"error_code": "PERMISSION_DENIED", "message": "no CAN USE"},
        )
    )
    ok, message = run(extractor(fake, keyed(fake)).test_connection())
    assert ok is False
    assert message == (
        f"reading SQL warehouse '{fake.warehouse_id}': permission denied (HTTP 403 "
        "PERMISSION_DENIED: no CAN USE); grant the principal CAN USE on the SQL warehouse"
    )


def test_a_statement_a_gateway_failed_is_not_sent_again(fake: FakeUnityCatalog) -> None:
    config = keyed(fake)
    fake.add_fault(
        Fault(path="/api/2.0/sql/statements", method="POST", status=502, times=None,
              body={"error_code": "BAD_GATEWAY", "message": "upstream reset"})
    )  # fmt: skip
    result = run(extractor(fake, config).extract_metadata())
    assert fake.count("POST", "/api/2.0/sql/statements") == 2  # one per catalog, none repeated
    assert sorted((e.scope, e.code, e.retryable) for e in result.errors) == [
        (("archive",), "source_unavailable", True),
        (("main",), "source_unavailable", True),
    ]
    assert "server error (HTTP 502 BAD_GATEWAY: upstream reset)" in result.errors[0].message


# -- view dependencies (opt-in: one GET per view) -------------------------------------------------

VIEW_GET = f"{UC}/tables/main.sales.big_orders"


def with_dependencies(fake: FakeUnityCatalog) -> None:
    populate(fake)
    view = fake.tables[("main", "sales")]["big_orders"]
    fake.add_table(
        "main", "sales", "big_orders", view["columns"], table_type="VIEW",
        view_definition=view["view_definition"],
        view_dependencies={"dependencies": [
            {"table": {"table_full_name": "main.sales.orders"}},
            {"function": {"function_full_name": "main.sales.is_big"}},
        ]},
    )  # fmt: skip


def view(result: ExtractionResult) -> TableMetadata:
    return next(t for t in result.tables if t.name == "big_orders")


def test_view_dependencies_are_read_only_when_asked(fake: FakeUnityCatalog) -> None:
    with_dependencies(fake)
    plain = run(extractor(fake).extract_metadata())
    assert "view_dependencies" not in view(plain).properties  # the listing leaves them out
    assert fake.count("GET", VIEW_GET) == 0

    result = run(extractor(fake, {"include_view_dependencies": True}).extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS and result.errors == []
    assert view(result).properties["view_dependencies"] == [
        "main.sales.orders",
        "main.sales.is_big",
    ]
    assert fake.count("GET", VIEW_GET) == 1  # one GET per view, none for tables
    assert [r.path for r in fake.requests if r.path.startswith(f"{UC}/tables/")] == [VIEW_GET]


@pytest.mark.parametrize(
    ("status", "code"),
    [(404, "not_found"), (403, "missing_privilege"), (200, "malformed_response")],
)
def test_a_view_that_cannot_be_read_keeps_the_rest_with_a_warning(
    fake: FakeUnityCatalog, status: int, code: str
) -> None:
    with_dependencies(fake)
    body = {"error_code": "X", "message": "no"} if status != 200 else {"name": 7}
    fake.add_fault(Fault(path=VIEW_GET, status=status, body=body))
    result = run(extractor(fake, {"include_view_dependencies": True}).extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS  # a warning, not an error
    (warning,) = result.errors
    assert (warning.scope, warning.severity, warning.code) == (
        ("main", "sales", "big_orders"), Severity.WARNING, code,
    )  # fmt: skip
    assert warning.message.startswith("dependencies not read: reading view main.sales.big_orders")
    assert view(result).view_definition and "view_dependencies" not in view(result).properties
