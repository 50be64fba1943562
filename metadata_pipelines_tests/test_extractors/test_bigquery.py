"""The BigQuery extractor against bqemulator on loopback, behind the REST front (see fakes/)."""

from __future__ import annotations

import logging

import pytest

from metadata_pipelines.extractors.errors import AuthenticationError, ThrottledError
from metadata_pipelines.models import (
    ContainerType,
    DataType,
    ExtractionStatus,
    RoutineType,
    Severity,
    TableType,
)
from metadata_pipelines_tests.fakes.bigquery_server import MINIMUM_BILLED, Fault
from metadata_pipelines_tests.support.bigquery_server import PROJECT
from metadata_pipelines_tests.test_extractors.bigquery_support import (
    emulator_client,
    extractor,
    populate,
    run,
    service_account_key,
)

ORDERS_FIELDS = [
    ("id", "INT64", DataType.INTEGER, False, "Order id"),
    ("customer", "STRUCT", DataType.STRUCT, True, "Who ordered"),
    ("customer.name", "STRING", DataType.STRING, True, None),
    ("customer.addresses", "ARRAY<STRUCT>", DataType.ARRAY, True, "Where to deliver"),
    ("customer.addresses[].city", "STRING", DataType.STRING, True, "City name"),
    ("customer.addresses[].geo", "STRUCT", DataType.STRUCT, True, None),
    ("customer.addresses[].geo.lat", "FLOAT64", DataType.FLOAT, True, None),
    ("customer.addresses[].geo.lon", "FLOAT64", DataType.FLOAT, True, None),
    ("tags", "ARRAY<STRING>", DataType.ARRAY, True, None),
    ("amount", "NUMERIC", DataType.DECIMAL, True, None),
    ("ordered_at", "TIMESTAMP", DataType.TIMESTAMP, True, None),
]


def _fields(table):
    return [
        (path, f.native_type, f.data_type, f.nullable, f.comment)
        for path, _, _, f in table.iter_fields()
    ]


@pytest.fixture
def datasets(bqemulator, dataset_prefix):
    return populate(bqemulator, dataset_prefix)


def test_extracts_projects_datasets_nested_fields_views_and_routines(
    bigquery, datasets, dataset_prefix
):
    sales, hr = datasets["sales"], datasets["hr"]
    bigquery.set_storage(PROJECT, sales, "orders", logical=123_456, physical=40_000)
    source = extractor(bigquery, dataset_prefix)

    result = run(source.extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert result.errors == []
    assert [(d.name, d.container_type) for d in result.databases] == [
        (PROJECT, ContainerType.PROJECT)
    ]
    schemas = {s.name: s for s in result.schemas}
    assert set(schemas) == {sales, hr}
    assert schemas[sales].container_type is ContainerType.DATASET
    assert schemas[sales].comment == "Sales data"
    assert schemas[sales].properties["labels"] == {"team": "sales"}
    assert schemas[sales].properties["location"] == "US"
    assert schemas[sales].properties["default_table_expiration_ms"] == 30 * 86_400_000
    tables = {t.name: t for t in result.tables}
    assert set(tables) == {"orders", "big_orders", "people"}
    orders = tables["orders"]
    assert _fields(orders) == ORDERS_FIELDS  # three levels below customer, in schema order
    assert orders.comment == "All orders"
    assert orders.properties["labels"] == {"pii": "yes"}
    assert orders.properties["partitioning"] == {"field": "ordered_at", "expiration_days": 90.0}
    assert orders.properties["clustering_fields"] == ["id"]
    by_name = {c.name: c for c in orders.columns}
    assert by_name["ordered_at"].properties == {"partitioning": True}
    assert by_name["id"].properties == {"clustering_ordinal": 1}
    assert (orders.row_count, orders.size_bytes) == (0, 123_456)
    assert orders.properties["physical_bytes"] == 40_000
    view = tables["big_orders"]
    assert view.table_type is TableType.VIEW
    assert "amount > 100" in view.view_definition
    assert [c.name for c in view.columns] == ["id", "amount"]
    [routine] = result.routines
    assert (routine.name, routine.routine_type, routine.return_type) == (
        "double_it",
        RoutineType.FUNCTION,
        "INT64",
    )
    assert "x * 2" in routine.definition
    # INFORMATION_SCHEMA, not one call per table: 4 jobs per dataset, VIEWS where there are views,
    # one TABLE_STORAGE job for the region; no tables.get at all.
    accounting = source.accounting
    assert accounting.calls["tables.get"] == 0
    assert accounting.queries == 4 + 4 + 1 + 1
    assert accounting.bytes_billed == accounting.queries * MINIMUM_BILLED


def test_metadata_only_reads_the_same_fields_with_free_calls_only(
    bigquery, datasets, dataset_prefix
):
    normal = run(extractor(bigquery, dataset_prefix).extract_metadata())
    source = extractor(bigquery, dataset_prefix, metadata_only=True)

    cheap = run(source.extract_metadata())

    assert cheap.status is ExtractionStatus.SUCCESS, cheap.errors
    assert source.accounting.calls["jobs.query"] == 0
    assert source.accounting.bytes_billed == 0
    assert source.accounting.calls["tables.get"] == 3
    before = {t.name: t for t in normal.tables}
    after = {t.name: t for t in cheap.tables}
    assert set(after) == set(before)
    for name in before:
        assert after[name].columns == before[name].columns, name
        assert after[name].comment == before[name].comment
        assert after[name].view_definition == before[name].view_definition
    # tables.get also says how the table is partitioned, which the emulator's list leaves out.
    assert after["orders"].properties["partitioning"]["type"] == "DAY"


def test_a_dataset_the_account_cannot_read_is_a_scoped_error(bigquery, datasets, dataset_prefix):
    hr = datasets["hr"]
    bigquery.add_fault(
        Fault(403, "accessDenied", f"Access Denied: Dataset {PROJECT}:{hr}: Permission "
              "bigquery.tables.list denied", method="tables.list", path_contains=f"/{hr}/",
              times=None)
    )  # fmt: skip

    result = run(extractor(bigquery, dataset_prefix).extract_metadata())

    assert result.status is ExtractionStatus.PARTIAL
    [error] = result.errors
    assert error.scope == (PROJECT, hr) and error.severity is Severity.ERROR
    assert error.code == "missing_privilege" and not error.retryable
    assert "Permission bigquery.tables.list denied" in error.message
    assert hr in {s.name for s in result.schemas}  # kept, so the catalog protects it
    assert {t.name for t in result.tables} == {"orders", "big_orders"}


def test_denied_information_schema_falls_back_to_tables_get(bigquery, datasets, dataset_prefix):
    hr = datasets["hr"]
    bigquery.add_fault(
        Fault(403, "accessDenied", "User does not have bigquery.jobs.create permission",
              method="jobs.query", query_contains=f"{hr}.INFORMATION_SCHEMA", times=None)
    )  # fmt: skip
    source = extractor(bigquery, dataset_prefix)

    result = run(source.extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS
    [warning] = result.errors
    assert warning.code == "information_schema_denied" and warning.scope == (PROJECT, hr)
    people = next(t for t in result.tables if t.name == "people")
    assert [c.name for c in people.columns] == ["id", "name"]
    assert source.accounting.calls["tables.get"] == 1


def test_a_table_dropped_between_listing_and_reading_is_skipped_with_a_warning(
    bigquery, bqemulator, datasets, dataset_prefix
):
    hr = datasets["hr"]
    client = emulator_client(bqemulator)
    client.create_table(f"{PROJECT}.{hr}.leavers")

    def drop_after_listing(method: str, path: str) -> None:
        if method == "tables.list" and f"/{hr}/" in path:
            client.delete_table(f"{PROJECT}.{hr}.leavers", not_found_ok=True)

    bigquery.after.append(drop_after_listing)

    result = run(extractor(bigquery, dataset_prefix).extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS
    [warning] = result.errors
    assert warning.severity is Severity.WARNING and warning.code == "vanished"
    assert warning.scope == (PROJECT, hr, "leavers")
    assert "leavers" not in {t.name for t in result.tables}
    assert "people" in {t.name for t in result.tables}


def test_throttling_storm_is_ridden_out_by_the_library_retries(bigquery, datasets, dataset_prefix):
    calm = extractor(bigquery, dataset_prefix)
    expected = run(calm.extract_metadata())
    calm_queries = calm.accounting.calls["jobs.query"]
    bigquery.add_fault(
        Fault(429, "rateLimitExceeded", "Exceeded rate limits", method="jobs.query", times=6)
    )
    bigquery.add_fault(
        Fault(403, "rateLimitExceeded", "Exceeded rate limits", method="tables.list", times=2)
    )
    bigquery.add_fault(Fault(503, "backendError", "Backend error", method="datasets.get", times=2))
    bigquery.add_fault(
        Fault(500, "internalError", "Internal error", method="datasets.list", times=1)
    )
    stormy = extractor(bigquery, dataset_prefix)

    result = run(stormy.extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert sorted(t.name for t in result.tables) == sorted(t.name for t in expected.tables)
    assert [t.columns for t in sorted(result.tables, key=lambda t: t.name)] == [
        t.columns for t in sorted(expected.tables, key=lambda t: t.name)
    ]
    assert all(fault.hits == fault.times for fault in bigquery.faults)
    assert stormy.accounting.calls["jobs.query"] == calm_queries + 6


def test_endless_throttling_fails_as_retryable(bigquery, datasets, dataset_prefix):
    bigquery.add_fault(
        Fault(429, "rateLimitExceeded", "Exceeded rate limits", method="datasets.list", times=None)
    )
    source = extractor(bigquery, dataset_prefix, retry_deadline_seconds=0.3)

    with pytest.raises(ThrottledError) as raised:
        run(source.extract_metadata())

    assert raised.value.retryable
    assert "rateLimitExceeded" in str(raised.value) and "gave up" in str(raised.value)
    assert source.accounting.calls["datasets.list"] > 1


def test_endless_throttling_of_one_dataset_is_scoped(bigquery, datasets, dataset_prefix):
    hr = datasets["hr"]
    bigquery.add_fault(
        Fault(503, "backendError", "Backend error", method="jobs.query",
              query_contains=f"{hr}.INFORMATION_SCHEMA", times=None)
    )  # fmt: skip

    result = run(extractor(bigquery, dataset_prefix, retry_deadline_seconds=0.3).extract_metadata())

    assert result.status is ExtractionStatus.PARTIAL
    [error] = result.errors
    assert error.scope == (PROJECT, hr) and error.retryable
    assert {t.name for t in result.tables} == {"orders", "big_orders"}


def test_wrong_service_account_key_is_permanent_and_tried_once(
    bigquery, datasets, dataset_prefix, caplog
):
    key_json, _ = service_account_key(bigquery.token_uri)  # never registered with the fake
    source = extractor(bigquery, dataset_prefix, {"service_account_json": key_json})
    caplog.set_level(logging.DEBUG)

    with pytest.raises(AuthenticationError) as raised:
        run(source.check_connection())
    with pytest.raises(AuthenticationError):
        run(source.extract_metadata())

    assert not raised.value.retryable
    assert "invalid_grant" in str(raised.value)
    assert bigquery.token_requests == 2  # one per attempt: google-auth does not retry a refusal
    assert bigquery.count() == 0  # nothing reached the API
    private_key = source.credentials.key_info["private_key"]
    for text in (str(raised.value), caplog.text, repr(source), repr(source.credentials)):
        assert "PRIVATE KEY" not in text and private_key not in text


def test_service_account_key_and_application_default_credentials(
    bigquery, datasets, dataset_prefix, tmp_path, monkeypatch
):
    key_json, key = service_account_key(bigquery.token_uri)
    bigquery.register_service_account("reader@test-proj.iam.gserviceaccount.com", key.public_key())

    with_key = run(
        extractor(bigquery, dataset_prefix, {"service_account_json": key_json}).extract_metadata()
    )
    key_file = tmp_path / "key.json"
    key_file.write_text(key_json)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    with_adc = run(extractor(bigquery, dataset_prefix, {}).extract_metadata())

    assert with_key.status is ExtractionStatus.SUCCESS, with_key.errors
    assert with_adc.status is ExtractionStatus.SUCCESS, with_adc.errors
    assert len(with_key.tables) == len(with_adc.tables) == 3
    assert bigquery.token_requests == 2  # one token per sync, reused by every call


def test_projects_are_discovered_when_none_are_configured(bigquery, datasets, dataset_prefix):
    source = extractor(bigquery, dataset_prefix, project_ids=[], include_projects=["test-.*"])

    result = run(source.extract_metadata())

    assert [d.name for d in result.databases] == [PROJECT]
    assert source.accounting.calls["projects.list"] == 1
    assert {t.name for t in result.tables} == {"orders", "big_orders", "people"}
