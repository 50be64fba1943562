"""Databricks failure rules, each against the real loopback server: throttling, outages, dropped
connections, timeouts, auth, privileges, vanishing objects, malformed bodies, bounded concurrency,
and that the token never leaks into logs, errors or results."""

from __future__ import annotations

import logging

import pytest

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    PrivilegeError,
    SourceResponseError,
    ThrottledError,
)
from metadata_pipelines.models import ExtractionStatus, Severity
from metadata_pipelines_tests.fakes.unity_catalog_server import (
    FakeUnityCatalog,
    Fault,
    error_body,
)
from metadata_pipelines_tests.test_extractors.databricks_support import (
    CLIENT_SECRET,
    TOKEN,
    extractor,
    in_schema,
    populate,
    run,
)

UC = "/api/2.1/unity-catalog"
TABLES = f"{UC}/tables"
ALL_TABLES = [
    "archive.old.t",
    "main.hr.people",
    "main.sales.big_orders",
    "main.sales.customers",
    "main.sales.orders",
]


def names(result) -> list[str]:
    return [".".join(t.path) for t in result.tables]


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture):
    """Every test here runs with DEBUG logging captured; no secret may appear in any record."""
    caplog.set_level(logging.DEBUG)
    yield
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in text and CLIENT_SECRET not in text and "fake-oauth-" not in text


def assert_clean(result) -> None:
    dumped = result.model_dump_json()
    assert TOKEN not in dumped and CLIENT_SECRET not in dumped and "fake-oauth-" not in dumped


# -- retried ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (429, {"Retry-After": "0"}),
        (429, {"Retry-After": "0.05"}),
        (429, {}),
        (503, {"Retry-After": "0"}),
        (503, {}),
        (502, {}),
        (504, {}),
    ],
)
def test_throttling_and_unavailability_are_retried(
    fake: FakeUnityCatalog, status: int, headers: dict
) -> None:
    populate(fake)
    body = error_body(
        {429: "TOO_MANY_REQUESTS", 503: "TEMPORARILY_UNAVAILABLE"}.get(status, "BAD_GATEWAY"), "x"
    )
    fault = fake.add_fault(
        Fault(
            path=TABLES, status=status, headers=headers, body=body, times=2, when=in_schema("sales")
        )
    )
    subject = extractor(fake)
    result = run(subject.extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS
    assert result.errors == []
    assert names(result) == ALL_TABLES
    assert fault.hits == 2
    assert subject.last_client.retries == 2
    assert fake.count("GET", TABLES) == 4 + 2  # four pages plus the two refused attempts


def test_retry_after_is_honoured(fake: FakeUnityCatalog) -> None:
    populate(fake)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    fake.add_fault(Fault(path=f"{UC}/catalogs", status=429, headers={"Retry-After": "7"}))
    run(extractor(fake, sleep=record).extract_metadata())
    assert len(waits) == 1 and 7 <= waits[0] <= 8  # the header's value plus a little jitter


def test_dropped_connections_and_timeouts_are_retried(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(Fault(path=TABLES, drop=True, times=1, when=in_schema("hr")))
    fake.add_fault(Fault(path=TABLES, status=200, delay=0.6, times=1, when=in_schema("old")))
    result = run(extractor(fake, {"request_timeout_seconds": 0.3}).extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS
    assert names(result) == ALL_TABLES


def test_a_spent_retry_budget_inside_a_schema_is_a_retryable_scoped_error(
    fake: FakeUnityCatalog,
) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=TABLES, status=429, headers={"Retry-After": "0"}, times=None, when=in_schema("hr")
        )
    )
    result = run(extractor(fake, {"retry_budget_seconds": 0.2}).extract_metadata())
    errors = [e for e in result.errors if e.severity is Severity.ERROR]
    assert [(e.scope, e.code, e.retryable) for e in errors] == [(("main", "hr"), "throttled", True)]
    assert "retry budget 0.2s spent" in errors[0].message
    assert result.status is ExtractionStatus.PARTIAL
    assert "main.hr" in [f"{s.database}.{s.name}" for s in result.schemas]  # kept, protected
    assert "main.hr.people" not in names(result)
    assert len(result.tables) == 4


def test_a_spent_retry_budget_at_the_top_is_raised_as_transient(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(Fault(path=f"{UC}/catalogs", status=429, times=None))
    with pytest.raises(ThrottledError) as caught:
        run(extractor(fake, {"retry_budget_seconds": 0.1}).extract_metadata())
    assert caught.value.retryable is True
    assert str(caught.value).startswith("listing catalogs: throttled (HTTP 429)")


# -- permanent -----------------------------------------------------------------------------------


def test_unauthenticated_at_the_top_is_raised(fake: FakeUnityCatalog) -> None:
    populate(fake)
    subject = extractor(fake, credentials={"access_token": "dapi-expired-XYZ"})
    with pytest.raises(AuthenticationError) as caught:
        run(subject.extract_metadata())
    assert caught.value.retryable is False
    message = str(caught.value)
    assert message.startswith("listing catalogs: the workspace rejected the credentials")
    assert "UNAUTHENTICATED" in message and "dapi-expired-XYZ" not in message
    assert fake.count() == 1  # a 401 is not retried


def test_unauthenticated_mid_run_is_raised_not_scoped(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=TABLES,
            status=401,
            body=error_body("UNAUTHENTICATED", "revoked"),
            when=in_schema("hr"),
        )
    )
    with pytest.raises(AuthenticationError):
        run(extractor(fake).extract_metadata())


def test_forbidden_at_the_top_names_what_was_denied(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=f"{UC}/catalogs/main",
            status=403,
            body=error_body(
                "PERMISSION_DENIED", "User does not have USE CATALOG on Catalog 'main'."
            ),
            times=None,
        )
    )
    with pytest.raises(PrivilegeError) as caught:
        run(extractor(fake, {"catalog": "main"}).extract_metadata())
    message = str(caught.value)
    assert message.startswith("reading catalog 'main': permission denied")
    assert "USE CATALOG on Catalog 'main'" in message
    ok, text = run(extractor(fake, {"catalog": "main"}).test_connection())
    assert ok is False and "permission denied" in text


def test_forbidden_schema_is_a_scoped_error_and_the_rest_continues(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=TABLES,
            status=403,
            body=error_body("PERMISSION_DENIED", "no USE SCHEMA"),
            when=in_schema("sales"),
        )
    )
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.code, e.severity, e.retryable) for e in result.errors] == [
        (("main", "sales"), "missing_privilege", Severity.ERROR, False)
    ]
    assert "listing tables of schema main.sales: permission denied" in result.errors[0].message
    assert names(result) == ["archive.old.t", "main.hr.people"]
    assert result.status is ExtractionStatus.PARTIAL
    assert_clean(result)


def test_failing_catalog_is_scoped_to_the_catalog(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=f"{UC}/schemas",
            status=403,
            body=error_body("PERMISSION_DENIED", "no USE CATALOG"),
            when=lambda r: r.query.get("catalog_name") == "archive",
        )
    )
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.code) for e in result.errors] == [(("archive",), "missing_privilege")]
    assert [d.name for d in result.databases] == ["archive", "main"]
    assert names(result) == ALL_TABLES[1:]


def test_server_error_in_one_schema_is_scoped_and_retryable(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(path=TABLES, status=500, body=error_body("INTERNAL", "boom"), when=in_schema("old"))
    )
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.code, e.retryable) for e in result.errors] == [
        (("archive", "old"), "source_unavailable", True)
    ]
    assert names(result) == ALL_TABLES[1:]


# -- vanishing objects ---------------------------------------------------------------------------


def test_a_schema_that_vanished_is_skipped_with_a_warning(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=TABLES,
            status=404,
            body=error_body("SCHEMA_DOES_NOT_EXIST", "Schema 'main.hr' does not exist."),
            when=in_schema("hr"),
            on_hit=lambda f: f.drop_schema("main", "hr"),
        )
    )
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.severity, e.code) for e in result.errors] == [
        (("main", "hr"), Severity.WARNING, "vanished")
    ]
    assert "SCHEMA_DOES_NOT_EXIST" in result.errors[0].message
    assert result.status is ExtractionStatus.SUCCESS
    assert ("main", "hr") not in [(s.database, s.name) for s in result.schemas]
    assert "main.hr.people" not in names(result)


def test_a_table_that_vanished_mid_listing_restarts_the_listing(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=TABLES,
            status=404,
            body=error_body("TABLE_DOES_NOT_EXIST", "Table 'main.sales.orders' does not exist."),
            when=in_schema("sales", later_page=True),
            on_hit=lambda f: f.drop_table("main", "sales", "orders"),
        )
    )
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.severity, e.code) for e in result.errors] == [
        (("main", "sales"), Severity.WARNING, "listing_restarted")
    ]
    assert result.status is ExtractionStatus.SUCCESS
    assert names(result) == [
        "archive.old.t",
        "main.hr.people",
        "main.sales.big_orders",
        "main.sales.customers",
    ]


def test_a_catalog_that_vanished_is_skipped_with_a_warning(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(
            path=f"{UC}/schemas",
            status=404,
            body=error_body("CATALOG_DOES_NOT_EXIST", "gone"),
            when=lambda r: r.query.get("catalog_name") == "archive",
        )
    )
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.severity) for e in result.errors] == [(("archive",), Severity.WARNING)]
    assert [d.name for d in result.databases] == ["main"]


# -- malformed responses -------------------------------------------------------------------------


def test_a_non_json_answer_at_the_top_is_a_clear_error(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(Fault(path=f"{UC}/catalogs", status=200, body=b"<html>Sign in</html>"))
    with pytest.raises(SourceResponseError) as caught:
        run(extractor(fake).extract_metadata())
    assert str(caught.value) == (
        "listing catalogs: the workspace answered HTTP 200 with a body that is not JSON "
        "(text/html, 20 bytes); is workspace_url the workspace's own address?"
    )


@pytest.mark.parametrize(
    "body",
    [b"{not json", {"tables": {"orders": {}}}, {"tables": [], "next_page_token": 7}, ["a"]],
)
def test_a_malformed_page_in_one_schema_is_a_scoped_error(fake: FakeUnityCatalog, body) -> None:
    populate(fake)
    fake.add_fault(Fault(path=TABLES, status=200, body=body, when=in_schema("hr")))
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.code, e.retryable) for e in result.errors] == [
        (("main", "hr"), "malformed_response", False)
    ]
    assert result.errors[0].message.startswith("listing tables of schema main.hr: ")
    assert "main.hr.people" not in names(result) and len(result.tables) == 4


def test_a_malformed_table_is_an_error_on_that_table_only(fake: FakeUnityCatalog) -> None:
    populate(fake)
    broken = {
        "tables": [
            {"name": "ok", "catalog_name": "main", "schema_name": "hr", "columns": []},
            {"name": "bad", "catalog_name": "main", "schema_name": "hr", "columns": "id int"},
        ]
    }
    fake.add_fault(Fault(path=TABLES, status=200, body=broken, when=in_schema("hr")))
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.code) for e in result.errors] == [
        (("main", "hr", "bad"), "malformed_response")
    ]
    assert "columns: Input should be a valid list" in result.errors[0].message
    assert "main.hr.ok" in names(result)


# -- concurrency and secrecy ---------------------------------------------------------------------


def test_requests_in_flight_never_exceed_the_bound(fake: FakeUnityCatalog) -> None:
    fake.latency = 0.02
    fake.add_catalog("main")
    for index in range(12):
        fake.add_schema("main", f"s{index:02}")
        for table in range(3):
            fake.add_table("main", f"s{index:02}", f"t{table}")
    result = run(extractor(fake, {"max_concurrent_requests": 3}).extract_metadata())
    assert len(result.tables) == 36
    assert fake.max_in_flight == 3  # concurrent, and never more than the bound


def test_a_storm_of_429s_gives_the_same_result(fake: FakeUnityCatalog) -> None:
    populate(fake)
    calm = run(extractor(fake).extract_metadata())
    fake.add_fault(
        Fault(
            path=f"{UC}/.*", status=429, headers={"Retry-After": "0"}, times=None, probability=0.5
        )
    )
    stormy = run(extractor(fake).extract_metadata())
    skip = {"started_at", "finished_at"}
    assert stormy.model_dump(exclude=skip) == calm.model_dump(exclude=skip)
    assert sum(f.hits for f in fake.faults) > 0


def test_secrets_stay_out_of_errors_and_results_even_when_echoed(fake: FakeUnityCatalog) -> None:
    populate(fake)
    # a hostile or buggy server echoing the token back in its error messages
    fake.add_fault(
        Fault(
            path=TABLES,
            status=403,
            body=error_body("PERMISSION_DENIED", f"token {TOKEN} denied"),
            when=in_schema("hr"),
        )
    )
    fake.add_fault(
        Fault(
            path=TABLES,
            status=503,
            body=error_body("X", f"bad {TOKEN}"),
            times=None,
            when=in_schema("old"),
        )
    )
    result = run(extractor(fake, {"retry_budget_seconds": 0.1}).extract_metadata())
    assert {e.scope for e in result.errors} == {("main", "hr"), ("archive", "old")}
    assert all("***" in e.message for e in result.errors)
    assert_clean(result)
