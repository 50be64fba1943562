"""MetadataPersistenceService on real SQLite and PostgreSQL catalogs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.browse import asset_detail, asset_page
from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.persistence import MetadataPersistenceService, PersistenceRefused
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import asset_fields, assets
from metadata_pipelines.models import (
    ColumnMetadata,
    DatabaseMetadata,
    DataType,
    ExtractionError,
    ExtractionResult,
    ExtractionStatus,
    SchemaMetadata,
    Severity,
    TableMetadata,
    TableType,
    utcnow,
)
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED


def _table(database: str, name: str, columns: dict[str, str], **extra) -> TableMetadata:
    return TableMetadata(
        database=database,
        schema_name="public",
        name=name,
        columns=[
            ColumnMetadata(name=column, ordinal=i, native_type=native)
            for i, (column, native) in enumerate(columns.items(), start=1)
        ],
        **extra,
    )


def _result(tables: list[TableMetadata], errors=(), databases=("shop", "crm")) -> ExtractionResult:
    return ExtractionResult.build(
        SCRIPTED,
        utcnow(),
        databases=[DatabaseMetadata(name=d) for d in databases],
        schemas=[SchemaMetadata(database=d, name="public") for d in databases],
        tables=tables,
        errors=list(errors),
    )


BASE_TABLES = [
    _table("shop", "orders", {"id": "bigint", "customer_id": "bigint", "total": "numeric(10,2)"}),
    _table("shop", "customers", {"id": "bigint", "email": "text"}, comment="people"),
    _table(
        "crm", "leads", {"id": "int"}, table_type=TableType.VIEW, view_definition="select 1 as id"
    ),
]


def _live(catalog, source_id: str) -> dict[str, dict]:
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            sa.select(assets).where(assets.c.data_source_id == source_id)
        ).mappings()
        return {row["qualified_name"]: dict(row) for row in rows}


def _fields(catalog, source_id: str) -> dict[tuple[str, str], dict]:
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            sa.select(asset_fields, assets.c.qualified_name)
            .join(assets, assets.c.id == asset_fields.c.asset_id)
            .where(asset_fields.c.data_source_id == source_id)
        ).mappings()
        return {(row["qualified_name"], row["name"]): dict(row) for row in rows}


def test_first_sync_inserts_hierarchy_with_parents(catalog, source):
    stats = catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))

    assert stats.assets.inserted == 2 + 2 + 3
    assert stats.fields.inserted == 6
    live = _live(catalog, source.id)
    orders = live["shop.public.orders"]
    assert orders["asset_type"] == "table"
    assert live["crm.public.leads"]["asset_type"] == "view"
    assert live["crm.public.leads"]["details"]["view_definition"] == "select 1 as id"
    assert live["shop.public.customers"]["description"] == "people"
    assert orders["parent_id"] == live["shop.public"]["id"]
    assert live["shop.public"]["parent_id"] == live["shop"]["id"]
    assert live["shop"]["parent_id"] is None
    fields = _fields(catalog, source.id)
    assert fields[("shop.public.orders", "total")]["native_type"] == "numeric(10,2)"
    assert fields[("shop.public.orders", "total")]["ordinal"] == 3


def test_identical_sync_changes_nothing(catalog, source):
    catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))
    before_assets, before_fields = _live(catalog, source.id), _fields(catalog, source.id)

    stats = catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))

    assert stats.totals() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 7 + 6,
        "deleted": 0,
        "restored": 0,
    }
    assert _live(catalog, source.id) == before_assets
    assert _fields(catalog, source.id) == before_fields


def _persist_run(catalog, source, result):
    """Persist `result` as a connector run of `source` and finish the run as the job does."""
    run = catalog.connector_runs.open_for_dagster_run(
        tenant_id=source.tenant_id, data_source_id=source.id, dagster_run_id=str(uuid.uuid4())
    )
    catalog.persistence.persist(source.tenant_id, source.id, result, connector_run_id=run.id)
    partial = result.status is ExtractionStatus.PARTIAL
    catalog.connector_runs.finish(
        run.id,
        RunStatus.PARTIAL if partial else RunStatus.SUCCEEDED,
        extraction_errors=[error.model_dump(mode="json") for error in result.errors],
    )
    return catalog.connector_runs.get(run.id)


def test_last_seen_is_the_newest_run_that_covered_the_asset(catalog, source, tenant_id):
    first = _persist_run(catalog, source, _result(BASE_TABLES))
    second = _persist_run(catalog, source, _result(BASE_TABLES))
    crm_failed = ExtractionError(scope=("crm",), message="access denied to crm")
    third = _persist_run(
        catalog, source, _result(BASE_TABLES[:2], errors=[crm_failed], databases=("shop",))
    )
    assert first.finished_at < second.finished_at < third.finished_at

    # The rows were written once, by the first run; the sightings are read from the runs.
    assert {row["last_seen_at"] for row in _live(catalog, source.id).values()} == {
        min(row["last_seen_at"] for row in _live(catalog, source.id).values())
    }
    seen = {a.qualified_name: a for a in asset_page(catalog.engine, tenant_id, source.id)}
    assert _utc(seen["shop.public.orders"].last_seen_at) == _utc(third.finished_at)
    # The third run kept crm without seeing it (its error covered crm).
    assert _utc(seen["crm.public.leads"].last_seen_at) == _utc(second.finished_at)
    assert _utc(seen["crm"].last_seen_at) == _utc(second.finished_at)
    detail = asset_detail(catalog.engine, tenant_id, seen["crm.public.leads"].id)
    assert _utc(detail.last_seen_at) == _utc(second.finished_at)


def _utc(moment: datetime) -> datetime:  # SQLite catalogs return naive UTC timestamps
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_changes_are_detected_and_summarized(catalog, source):
    catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))
    changed = [
        _table("shop", "orders", {"id": "bigint", "customer_id": "int", "placed_at": "timestamp"}),
        BASE_TABLES[1],
        BASE_TABLES[2],
        _table("shop", "payments", {"id": "bigint"}),
    ]

    stats = catalog.persistence.persist(source.tenant_id, source.id, _result(changed))

    assert stats.changes.tables_added == ["shop.public.payments"]
    assert stats.changes.columns_added == ["shop.public.orders.placed_at"]
    assert stats.changes.columns_removed == ["shop.public.orders.total"]
    assert stats.changes.columns_retyped == ["shop.public.orders.customer_id: bigint -> int"]
    assert stats.fields.deleted == 1 and stats.fields.updated == 1 and stats.fields.inserted == 2
    fields = _fields(catalog, source.id)
    assert fields[("shop.public.orders", "total")]["deleted_at"] is not None
    assert fields[("shop.public.orders", "customer_id")]["native_type"] == "int"


def test_missing_assets_are_soft_deleted_and_restored(catalog, source):
    catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))

    stats = catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES[:2]))
    assert stats.assets.deleted == 1
    assert stats.changes.tables_removed == ["crm.public.leads"]
    deleted = _live(catalog, source.id)["crm.public.leads"]
    assert deleted["deleted_at"] is not None

    # Its columns are deleted with it, and not listed one by one in the summary.
    assert stats.fields.deleted == 1
    assert stats.changes.columns_removed == []
    assert _fields(catalog, source.id)[("crm.public.leads", "id")]["deleted_at"] is not None

    stats = catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))
    assert stats.assets.restored == 1
    assert stats.fields.restored == 1
    assert stats.changes.tables_added == ["crm.public.leads"]
    assert stats.changes.columns_added == []
    restored = _live(catalog, source.id)["crm.public.leads"]
    assert restored["deleted_at"] is None
    assert restored["id"] == deleted["id"]
    assert restored["first_seen_at"] == deleted["first_seen_at"]
    assert _fields(catalog, source.id)[("crm.public.leads", "id")]["deleted_at"] is None


def test_nothing_is_deleted_inside_a_failed_scope(catalog, source):
    catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))
    crm_failed = ExtractionError(scope=("crm",), message="access denied to crm")
    orders_columns_failed = ExtractionError(
        scope=("shop", "public", "orders"), message="columns unreadable"
    )
    orders_without_columns = _table("shop", "orders", {})

    result = _result(
        [orders_without_columns, BASE_TABLES[1]],
        errors=[crm_failed, orders_columns_failed],
        databases=("shop",),
    )
    assert result.status is ExtractionStatus.PARTIAL
    stats = catalog.persistence.persist(source.tenant_id, source.id, result)

    live = _live(catalog, source.id)
    assert live["crm"]["deleted_at"] is None
    assert live["crm.public.leads"]["deleted_at"] is None
    assert stats.assets.deleted == 0
    assert stats.fields.deleted == 0
    assert all(row["deleted_at"] is None for row in _fields(catalog, source.id).values())


def test_warnings_do_not_protect_scopes(catalog, source):
    catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))
    warning = ExtractionError(scope=("crm",), message="odd type", severity=Severity.WARNING)

    stats = catalog.persistence.persist(
        source.tenant_id, source.id, _result(BASE_TABLES[:2], errors=[warning])
    )

    assert stats.assets.deleted == 1


def test_failed_result_is_refused(catalog, source):
    catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))
    failed = ExtractionResult.build(
        SCRIPTED, utcnow(), errors=[ExtractionError(message="server down")]
    )

    with pytest.raises(PersistenceRefused):
        catalog.persistence.persist(source.tenant_id, source.id, failed)
    assert all(row["deleted_at"] is None for row in _live(catalog, source.id).values())


def test_failure_mid_persist_leaves_previous_catalog_intact(catalog, source, monkeypatch):
    catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))
    before_assets, before_fields = _live(catalog, source.id), _fields(catalog, source.id)

    def explode(*_args, **_kwargs):
        raise RuntimeError("disk full")

    # Fails after assets were inserted, updated and soft-deleted, before the fields are written.
    monkeypatch.setattr(MetadataPersistenceService, "_persist_fields", explode)
    changed = [_table("shop", "orders", {"id": "int"}), _table("shop", "new_one", {"x": "int"})]
    with pytest.raises(RuntimeError, match="disk full"):
        catalog.persistence.persist(source.tenant_id, source.id, _result(changed))

    assert _live(catalog, source.id) == before_assets
    assert _fields(catalog, source.id) == before_fields


def test_tenant_scoping(catalog, source, tmp_path):
    other = catalog.data_sources.create(
        tenant_id="someone-else",
        name="scripted",
        connector_type=SCRIPTED,
        config={"source_file": str(tmp_path / "x.json")},
        credentials={"password": "pw"},
    )
    catalog.persistence.persist(source.tenant_id, source.id, _result(BASE_TABLES))
    catalog.persistence.persist(other.tenant_id, other.id, _result(BASE_TABLES[:1]))

    with pytest.raises(DataSourceNotFound):
        catalog.persistence.persist("someone-else", source.id, _result([]))
    # Each source keeps its own assets; the same qualified names do not collide across sources.
    assert len(_live(catalog, source.id)) == 7
    assert len(_live(catalog, other.id)) == 5
    assert _live(catalog, source.id)["crm.public.leads"]["deleted_at"] is None


def test_odd_identifiers_round_trip(catalog, source):
    odd = ["select", "we`ird", 'dou"ble', "with space", "hy-phen", "naïve_表", "a.b"]
    tables = [_table("shop", name, {name: "int"}) for name in odd]

    catalog.persistence.persist(source.tenant_id, source.id, _result(tables, databases=("shop",)))
    stats = catalog.persistence.persist(
        source.tenant_id, source.id, _result(tables, databases=("shop",))
    )

    assert stats.assets.unchanged == len(odd) + 2
    names = {row["name"] for row in _live(catalog, source.id).values()}
    assert set(odd) <= names
    field_names = {name for (_, name) in _fields(catalog, source.id)}
    assert field_names == set(odd)


def test_stats_are_stored_on_the_connector_run(catalog, source):
    run = catalog.connector_runs.open_for_dagster_run(
        tenant_id=source.tenant_id,
        data_source_id=source.id,
        dagster_run_id=str(uuid.uuid4()),
    )
    catalog.persistence.persist(
        source.tenant_id, source.id, _result(BASE_TABLES), connector_run_id=run.id
    )

    stored = catalog.connector_runs.get(run.id).stats
    assert stored["inserted"] == 13
    assert stored["assets"]["inserted"] == 7
    assert stored["fields"]["inserted"] == 6


def test_awkward_values_round_trip_through_bulk_load(catalog, source):
    """Tabs, newlines, backslashes, quotes, NULs-free unicode and nested JSON survive COPY."""
    awkward = "line1\nline2\ttab \\N back\\slash \r 'q' \"dq\" ünï ☃"
    column = ColumnMetadata(
        name="c\tol",
        ordinal=1,
        native_type="enum('a\\tb','c')",
        default="\\N",
        comment=awkward,
        properties={"nested": {"list": [1, "x\ty", None]}, "empty": ""},
    )
    table = TableMetadata(
        database="shop",
        schema_name="public",
        name="weird",
        comment=awkward,
        view_definition=awkward,
        columns=[column],
    )

    catalog.persistence.persist(source.tenant_id, source.id, _result([table], databases=("shop",)))

    stored = _live(catalog, source.id)["shop.public.weird"]
    assert stored["description"] == awkward
    assert stored["details"]["view_definition"] == awkward
    field = _fields(catalog, source.id)[("shop.public.weird", "c\tol")]
    assert field["native_type"] == "enum('a\\tb','c')"
    assert field["default_value"] == "\\N"
    assert field["description"] == awkward
    assert field["properties"] == {"nested": {"list": [1, "x\ty", None]}, "empty": ""}
    again = catalog.persistence.persist(
        source.tenant_id, source.id, _result([table], databases=("shop",))
    )
    assert again.totals()["unchanged"] == 4


def test_volatile_statistics_alone_write_nothing_and_are_refreshed_with_a_real_change(
    catalog, source
):
    def orders(rows: int, scans: int, comment: str | None = None) -> TableMetadata:
        return _table(
            "shop",
            "orders",
            {"id": "bigint"},
            row_count=rows,
            size_bytes=rows * 100,
            comment=comment,
            properties={"engine": "heap", "seq_scan": scans, "last_autovacuum": f"t{scans}"},
        )

    catalog.persistence.persist(source.tenant_id, source.id, _result([orders(10, 1)]))

    busy = catalog.persistence.persist(source.tenant_id, source.id, _result([orders(99, 7)]))

    assert busy.assets.updated == 0 and busy.totals()["updated"] == 0
    stored = _live(catalog, source.id)["shop.public.orders"]
    assert stored["details"]["row_count"] == 10  # kept as of the last real change

    commented = catalog.persistence.persist(
        source.tenant_id, source.id, _result([orders(120, 9, comment="all orders")])
    )

    assert commented.assets.updated == 1
    stored = _live(catalog, source.id)["shop.public.orders"]
    assert stored["details"]["row_count"] == 120
    assert stored["details"]["size_bytes"] == 12_000
    assert stored["details"]["properties"] == {
        "engine": "heap",
        "seq_scan": 9,
        "last_autovacuum": "t9",
    }


def test_database_details_are_stored_and_their_size_alone_writes_nothing(catalog, source):
    def shop(size: int, encoding: str = "UTF8") -> ExtractionResult:
        result = _result(BASE_TABLES)
        database = DatabaseMetadata(
            name="shop",
            container_type="catalog",
            properties={"encoding": encoding, "size_bytes": size},
        )
        return result.model_copy(update={"databases": [database, result.databases[1]]})

    catalog.persistence.persist(source.tenant_id, source.id, shop(1_000))
    stored = _live(catalog, source.id)["shop"]["details"]
    assert stored["container_type"] == "catalog"
    assert stored["properties"] == {"encoding": "UTF8", "size_bytes": 1_000}

    grown = catalog.persistence.persist(source.tenant_id, source.id, shop(5_000))
    assert grown.assets.updated == 0

    recoded = catalog.persistence.persist(source.tenant_id, source.id, shop(6_000, "LATIN1"))
    assert recoded.assets.updated == 1
    assert _live(catalog, source.id)["shop"]["details"]["properties"] == {
        "encoding": "LATIN1",
        "size_bytes": 6_000,
    }


def test_descriptions_owners_and_empty_json_are_stored_as_given(catalog, source):
    """A table's comment and owner become columns, not details (read from the model, not a second
    dump); a field's empty `properties` is stored as {} and its missing inference as NULL (COPY's
    shortcuts for the common values), a non-empty one as given."""
    table = TableMetadata(
        database="shop",
        name="orders",
        comment="what was bought",
        owner="sales",
        columns=[
            ColumnMetadata(name="id", ordinal=1, native_type="int", data_type=DataType.INTEGER),
            ColumnMetadata(
                name="tags", ordinal=2, native_type="text[]", data_type=DataType.ARRAY,
                properties={"collation": "C"},
            ),
        ],
    )  # fmt: skip
    catalog.persistence.persist(source.tenant_id, source.id, _result([table], databases=("shop",)))

    stored = _live(catalog, source.id)["shop.orders"]
    assert (stored["description"], stored["owner"]) == ("what was bought", "sales")
    assert not {"comment", "owner", "columns"} & set(stored["details"])
    fields = _fields(catalog, source.id)
    assert fields[("shop.orders", "id")]["properties"] == {}
    assert fields[("shop.orders", "id")]["inference"] is None
    assert fields[("shop.orders", "id")]["repeated"] is False
    assert fields[("shop.orders", "tags")]["properties"] == {"collation": "C"}
    assert fields[("shop.orders", "tags")]["repeated"] is True
