"""The fake workspace cannot drift from the Unity Catalog API: its responses and accepted parameters
are checked against the OpenAPI spec, and these tests prove the checks bite."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from metadata_pipelines_tests.fakes.openapi_validator import (
    SPEC_PATH,
    OpenApiValidator,
    SpecViolation,
)
from metadata_pipelines_tests.fakes.unity_catalog_server import UC, FakeUnityCatalog, column
from metadata_pipelines_tests.test_extractors.databricks_support import (
    TOKEN,
    extractor,
    run,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_spec_is_the_verbatim_upstream_copy() -> None:
    digest = hashlib.sha256(Path(SPEC_PATH).read_bytes()).hexdigest()
    assert digest == "1a64563946721b7f3bb7c4ddfd787770467b1c3a5be6a696b1844843ec92e287"


def test_validator_accepts_a_conforming_listing() -> None:
    validator = OpenApiValidator.load()
    validator.check_response(
        "/tables",
        "get",
        {
            "tables": [
                {
                    "name": "t",
                    "catalog_name": "c",
                    "schema_name": "s",
                    "table_type": "MANAGED",
                    "data_source_format": "DELTA",
                    "columns": [column("id", "LONG", 0)],
                    "created_at": 1,
                    "properties": {"k": "v"},
                }
            ],
            "next_page_token": "abc",
        },
    )


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"table_type": "TABLE"}, "$.tables[0].table_type: 'TABLE' is not one of"),
        ({"created_at": "2024-01-01"}, "$.tables[0].created_at: expected an integer"),
        ({"full_name": "c.s.t"}, "$.tables[0]: field 'full_name' is not in the spec"),
        ({"columns": {"id": "LONG"}}, "$.tables[0].columns: expected an array"),
        ({"columns": [{"name": "x", "position": "0"}]}, "columns[0].position: expected an integer"),
        ({"columns": [{"name": "x", "type_name": "TEXT"}]}, "columns[0].type_name: 'TEXT'"),
        ({"properties": {"k": 1}}, "$.tables[0].properties.k: expected a string"),
    ],
)
def test_validator_catches_drifted_fields(table: dict, problem: str) -> None:
    validator = OpenApiValidator.load()
    body = {"tables": [{"name": "t", "catalog_name": "c", "schema_name": "s", **table}]}
    with pytest.raises(SpecViolation) as caught:
        validator.check_response("/tables", "get", body)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_a_drifted_fake_fails_loudly_instead_of_serving(fake: FakeUnityCatalog) -> None:
    fake.add_catalog("main")
    fake.add_schema("main", "s")
    fake.add_table("main", "s", "t", table_type="TABLE")  # not a UC table type
    result = run(extractor(fake).extract_metadata())
    assert [e.code for e in result.errors] == ["source_unavailable"]
    assert "FAKE_SPEC_VIOLATION" in result.errors[0].message
    assert len(fake.violations) == 1 and "table_type" in fake.violations[0]
    fake.violations.clear()  # seen; the fixture would otherwise fail the test


def test_fake_rejects_parameters_the_api_does_not_have(fake: FakeUnityCatalog) -> None:
    fake.add_catalog("main")
    fake.add_schema("main", "s")
    with httpx.Client(base_url=fake.url, headers=AUTH) as http:
        typo = http.get(f"{UC}/tables", params={"catalog": "main", "schema_name": "s"})
        too_many = http.get(
            f"{UC}/tables", params={"catalog_name": "main", "schema_name": "s", "max_results": 51}
        )
        negative = http.get(f"{UC}/catalogs", params={"max_results": -1})
        sdk_extra = http.get(
            f"{UC}/tables",
            params={"catalog_name": "main", "schema_name": "s", "include_browse": "true"},
        )
    assert typo.status_code == 400 and "catalog" in typo.json()["message"]
    assert too_many.status_code == 400
    assert negative.status_code == 400
    assert sdk_extra.status_code == 200


def test_fake_paginates_with_empty_pages_and_an_empty_final_token(
    fake: FakeUnityCatalog,
) -> None:
    fake.empty_pages = True
    fake.last_page_token = ""
    fake.add_catalog("main")
    for name in "abc":
        fake.add_schema("main", name)
    pages = []
    with httpx.Client(base_url=fake.url, headers=AUTH) as http:
        params = {"catalog_name": "main", "max_results": 2}
        while True:
            body = http.get(f"{UC}/schemas", params=params).json()
            pages.append(([s["name"] for s in body["schemas"]], body.get("next_page_token")))
            if not body.get("next_page_token"):
                break
            params["page_token"] = body["next_page_token"]
    assert [names for names, _ in pages] == [[], ["a", "b"], [], ["c"]]
    assert all(token for _, token in pages[:-1])
    assert pages[-1][1] == ""


def test_statement_responses_are_checked_too(fake: FakeUnityCatalog) -> None:
    with pytest.raises(SpecViolation):
        fake.statement_validator.check(
            {"statement_id": "1", "status": {"state": "DONE"}},
            {"$ref": "#/components/schemas/StatementResponse"},
        )


def test_unauthenticated_requests_are_refused(fake: FakeUnityCatalog) -> None:
    with httpx.Client(base_url=fake.url) as http:
        response = http.get(f"{UC}/catalogs", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
