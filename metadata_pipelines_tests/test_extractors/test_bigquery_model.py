"""The BigQuery extractor against the REST front's own model (no emulator): what bqemulator lacks.

GEOGRAPHY, policy tags, parameterized types, defaults, partitioning types, materialized views,
external tables, snapshots, regions, and routines listed the way BigQuery lists them. Every answer
the model gives is validated against bigquery.v2.json (the fixture asserts no violation).
"""

from __future__ import annotations

import pytest

from metadata_pipelines.extractors.bigquery import BigQueryExtractor
from metadata_pipelines.extractors.bigquery.type_strings import parse_type
from metadata_pipelines.models import DataType, ExtractionStatus, Severity, TableType
from metadata_pipelines_tests.fakes.bigquery_server import MINIMUM_BILLED, FakeBigQuery, Fault
from metadata_pipelines_tests.fakes.discovery_validator import DiscoveryValidator
from metadata_pipelines_tests.test_extractors.bigquery_support import FAST_RETRIES, run

P = "model-proj"


@pytest.fixture
def model():
    fake = FakeBigQuery(projects=(P,)).start()
    yield fake
    fake.stop()
    assert fake.violations == []


def field(name, kind, mode="NULLABLE", **extra):
    return {"name": name, "type": kind, "mode": mode, **extra}


def populate(fake: FakeBigQuery) -> None:
    fake.add_dataset(P, "events", location="EU", description="Event data")
    fake.add_dataset(P, "ops", location="US")
    fake.add_table(
        P, "events", "clicks",
        [
            field("id", "INTEGER", "REQUIRED", description="Click id"),
            field("payload", "RECORD", "REQUIRED", fields=[
                field("kind", "STRING", "REQUIRED", maxLength="20", description="Kind",
                      policyTags={"names": ["projects/p/locations/eu/taxonomies/1/policyTags/2"]}),
                field("items", "RECORD", "REPEATED", fields=[
                    field("sku", "STRING", collation="und:ci"),
                    field("price", "NUMERIC", precision="10", scale="2", roundingMode="ROUND_HALF_EVEN"),
                    field("attrs", "RECORD", fields=[field("k", "STRING"), field("v", "JSON")]),
                ]),
            ]),
            field("place", "GEOGRAPHY"),
            field("day", "DATE"),
            field("span", "RANGE", rangeElementType={"type": "DATE"}),
            field("note", "STRING", defaultValueExpression="'n/a'"),
            field("embedding", "VECTOR"),
        ],
        rows=1000,
        description="Clicks",
        labels={"pii": "no"},
        timePartitioning={"type": "MONTH", "field": "day", "expirationMs": str(400 * 86_400_000)},
        requirePartitionFilter=True,
        clustering={"fields": ["id"]},
    )  # fmt: skip
    fake.add_table(
        P, "events", "daily", [field("day", "DATE"), field("n", "INTEGER")],
        table_type="MATERIALIZED_VIEW",
        materializedView={"query": "SELECT day, COUNT(*) AS n FROM events.clicks GROUP BY day",
                          "enableRefresh": True, "refreshIntervalMs": "1800000"},
    )  # fmt: skip
    fake.add_table(
        P, "events", "raw", [field("line", "STRING")], table_type="EXTERNAL",
        externalDataConfiguration={"sourceUris": ["gs://bucket/raw/*.parquet"], "sourceFormat": "PARQUET"},
    )  # fmt: skip
    fake.add_table(
        P, "events", "clicks_snap", [field("id", "INTEGER")], table_type="SNAPSHOT", rows=10,
        snapshotDefinition={"baseTableReference": {"projectId": P, "datasetId": "events", "tableId": "clicks"},
                            "snapshotTime": "2026-11-01T00:00:00Z"},
    )  # fmt: skip
    fake.add_table(
        P, "ops", "buckets", [field("n", "INTEGER")], rows=5,
        rangePartitioning={"field": "n", "range": {"start": "0", "end": "100", "interval": "10"}},
    )  # fmt: skip
    fake.add_routine(
        P, "ops", "add_one", routineType="SCALAR_FUNCTION", language="SQL", definitionBody="x + 1",
        arguments=[{"name": "x", "dataType": {"typeKind": "INT64"}}], returnType={"typeKind": "INT64"},
    )  # fmt: skip


def extractor(fake: FakeBigQuery, **config) -> BigQueryExtractor:
    return BigQueryExtractor(
        {"project_ids": [P], "api_endpoint": fake.url, **FAST_RETRIES, **config},
        {"method": "anonymous"},
    )


def test_both_paths_read_identical_models(model):
    populate(model)
    source = extractor(model)

    normal = run(source.extract_metadata())
    cheap = run(extractor(model, metadata_only=True).extract_metadata())

    assert normal.status is ExtractionStatus.SUCCESS
    [warning] = normal.errors  # the VECTOR column
    assert warning.code == "unknown_type" and warning.severity is Severity.WARNING
    assert warning.scope == (P, "events", "clicks")

    def by_path(items):
        return sorted(items, key=lambda item: (item.database, item.schema_name or "", item.name))

    assert by_path(normal.tables) == by_path(cheap.tables)
    assert normal.routines == cheap.routines
    assert sorted(normal.schemas, key=lambda s: s.name) == sorted(
        cheap.schemas, key=lambda s: s.name
    )
    tables = {t.name: t for t in normal.tables}
    clicks = tables["clicks"]
    fields = {path: f for path, _, _, f in clicks.iter_fields()}
    assert fields["payload"].nullable is False and fields["payload.kind"].nullable is False
    assert fields["payload.kind"].native_type == "STRING(20)"
    assert fields["payload.kind"].properties["policy_tags"] == [
        "projects/p/locations/eu/taxonomies/1/policyTags/2"
    ]
    assert fields["payload.items[].price"].native_type == "NUMERIC(10, 2)"
    assert fields["payload.items[].price"].properties["rounding_mode"] == "ROUND_HALF_EVEN"
    assert fields["payload.items[].sku"].properties["collation"] == "und:ci"
    assert fields["payload.items[].attrs.v"].data_type is DataType.JSON
    assert fields["place"].data_type is DataType.GEOMETRY
    assert fields["span"].native_type == "RANGE<DATE>"
    assert fields["note"].default == "'n/a'"
    assert fields["embedding"].data_type is DataType.UNKNOWN
    assert clicks.properties["partitioning"] == {
        "type": "MONTH", "field": "day", "expiration_days": 400.0, "require_filter": True
    }  # fmt: skip
    assert (clicks.row_count, clicks.size_bytes, clicks.properties["physical_bytes"]) == (
        1000, 100_000, 25_000,
    )  # fmt: skip
    daily = tables["daily"]
    assert daily.table_type is TableType.MATERIALIZED_VIEW
    assert daily.view_definition.startswith("SELECT day")
    assert daily.properties["materialized_view"] == {
        "enable_refresh": True, "refresh_interval_minutes": 30.0
    }  # fmt: skip
    raw = tables["raw"]
    assert raw.table_type is TableType.EXTERNAL_TABLE
    assert raw.properties["external"] == {
        "source_uris": ["gs://bucket/raw/*.parquet"], "source_format": "PARQUET"
    }  # fmt: skip
    snap = tables["clicks_snap"]
    assert snap.table_type is TableType.SNAPSHOT
    assert snap.properties["base_table"] == f"{P}.events.clicks"
    assert snap.properties["snapshot_time"] == "2026-11-01T00:00:00+00:00"
    assert tables["buckets"].properties["partitioning"] == {
        "type": "RANGE", "field": "n", "range": {"start": 0, "end": 100, "interval": 10}
    }  # fmt: skip
    [routine] = normal.routines
    assert (routine.definition, routine.return_type) == ("x + 1", "INT64")
    # The listing of routines leaves out their bodies, as BigQuery's does: one routines.get.
    assert source.accounting.calls["routines.get"] == 1
    # tables.get only for the materialized view (its SQL is in no INFORMATION_SCHEMA view read).
    assert source.accounting.calls["tables.get"] == 1
    # 4 jobs per dataset, one TABLE_STORAGE job per region (EU, US); billed 10 MiB each.
    assert source.accounting.queries == 4 * 2 + 2
    assert source.accounting.bytes_billed == 10 * MINIMUM_BILLED


def test_locations_select_datasets(model):
    populate(model)
    result = run(extractor(model, locations=["eu"]).extract_metadata())
    assert {s.name for s in result.schemas} == {"events"}
    assert {t.schema_name for t in result.tables} == {"events"}


def test_one_batch_per_dataset_or_per_n_tables(model):
    populate(model)
    for index in range(5):
        model.add_table(P, "ops", f"t{index}", [field("n", "INTEGER")])
    source = extractor(model, batch_max_tables=2, include_datasets=["ops"])

    async def collect():
        return [batch async for batch in source.stream_metadata()]

    batches = run(collect())

    assert [len(b.tables) for b in batches] == [2, 2, 2]
    assert [len(b.databases) for b in batches] == [1, 0, 0]
    assert [len(b.schemas) for b in batches] == [1, 0, 0]
    names = [t.name for b in batches for t in b.tables]
    assert sorted(names) == sorted(set(names)) and len(names) == 6


def test_fallback_reads_are_bounded(model):
    populate(model)
    for index in range(3):
        model.add_table(P, "ops", f"t{index}", [field("n", "INTEGER")])
    model.add_fault(
        Fault(403, "accessDenied", "Access Denied", method="jobs.query", query_contains="ops.INFORMATION_SCHEMA", times=None)
    )  # fmt: skip
    source = extractor(model, include_datasets=["ops"], max_table_gets_per_dataset=2)

    result = run(source.extract_metadata())

    assert result.status is ExtractionStatus.PARTIAL
    codes = {(e.code, e.severity) for e in result.errors}
    assert codes == {
        ("information_schema_denied", Severity.WARNING),
        ("fallback_limit", Severity.ERROR),
    }
    assert len(result.tables) == 2 and source.accounting.calls["tables.get"] == 2


def test_the_fake_notices_a_body_that_drifts_from_the_discovery_document():
    validator = DiscoveryValidator()
    assert (
        validator.problems({"kind": "bigquery#tableList", "tables": []}, {"$ref": "TableList"})
        == []
    )
    assert validator.problems({"tables": [{"tableId": "t"}]}, {"$ref": "TableList"}) == [
        "$.tables[0]: field 'tableId' is not in the document"
    ]
    assert validator.problems({"totalBytesBilled": 10}, {"$ref": "QueryResponse"}) == [
        "$.totalBytesBilled: expected a string, got int"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INT64", {"name": "c", "type": "INT64", "mode": "NULLABLE"}),
        ("ARRAY<STRING(10)>", {"name": "c", "type": "STRING", "mode": "REPEATED", "maxLength": "10"}),
        ("BIGNUMERIC(40, 5)", {"name": "c", "type": "BIGNUMERIC", "mode": "NULLABLE", "precision": "40", "scale": "5"}),
        (
            "STRUCT<a STRUCT<b ARRAY<STRUCT<c INT64 NOT NULL>>>, `d e` STRING COLLATE 'und:ci'>",
            {"name": "c", "type": "STRUCT", "mode": "NULLABLE", "fields": [
                {"name": "a", "type": "STRUCT", "mode": "NULLABLE", "fields": [
                    {"name": "b", "type": "STRUCT", "mode": "REPEATED", "fields": [
                        {"name": "c", "type": "INT64", "mode": "REQUIRED"}]}]},
                {"name": "d e", "type": "STRING", "mode": "NULLABLE", "collation": "und:ci"}]},
        ),
    ],
)  # fmt: skip
def test_type_strings_parse_to_field_resources(text, expected):
    assert parse_type(text, "c") == expected
