"""Nested fields in the catalog: every field of a tree is a row, diffed and summarized like a column."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.persistence import MetadataPersistenceService
from metadata_pipelines.catalog.schema import asset_fields
from metadata_pipelines.models import (
    REDACTED,
    ColumnMetadata,
    DatabaseMetadata,
    DataType,
    ExtractionResult,
    FieldInference,
    ObservedType,
    TableMetadata,
    TableType,
    utcnow,
)
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED


def _f(name: str, ordinal: int = 1, t: str = "string", **extra) -> ColumnMetadata:
    return ColumnMetadata(name=name, ordinal=ordinal, native_type=t, **extra)


def _struct(
    name: str, ordinal: int, *children: ColumnMetadata, t: str = "struct"
) -> ColumnMetadata:
    return _f(name, ordinal, t, data_type=DataType.STRUCT, children=children)


def _array(name: str, ordinal: int, *children: ColumnMetadata, t: str = "array") -> ColumnMetadata:
    return _f(name, ordinal, t, data_type=DataType.ARRAY, children=children)


def _events(*columns: ColumnMetadata) -> TableMetadata:
    return TableMetadata(
        database="lake", name="events", table_type=TableType.COLLECTION, columns=list(columns)
    )


SEEN = FieldInference(
    sample_size=100,
    presence=0.75,
    types=[ObservedType(native_type="string", data_type=DataType.STRING, share=1.0)],
)


def _base() -> list[ColumnMetadata]:
    """id, address{city, geo{lat, lon}}, items[]{sku, qty}, and an inferred, secret-ish field."""
    return [
        _f("id", 1, "int"),
        _struct(
            "address",
            2,
            _f("city", 1),
            _struct("geo", 2, _f("lat", 1, "double"), _f("lon", 2, "double")),
        ),
        _array("items", 3, _f("sku", 1), _f("qty", 2, "int")),
        _f("note", 4, inference=SEEN, properties={"api_key": "k-123", "unit": "chars"}),
    ]


def _result(*tables: TableMetadata) -> ExtractionResult:
    return ExtractionResult.build(
        SCRIPTED, utcnow(), databases=[DatabaseMetadata(name="lake")], tables=list(tables)
    )


def _fields(catalog, source_id: str) -> dict[str, dict]:
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            sa.select(asset_fields).where(asset_fields.c.data_source_id == source_id)
        ).mappings()
        return {row["path"]: dict(row) for row in rows}


def _persist(catalog, source, *columns: ColumnMetadata):
    return catalog.persistence.persist(source.tenant_id, source.id, _result(_events(*columns)))


def test_every_nested_field_is_stored_with_its_path_parent_depth_and_details(catalog, source):
    stats = _persist(catalog, source, *_base())

    assert stats.fields.inserted == 10
    fields = _fields(catalog, source.id)
    assert set(fields) == {
        "id",
        "address",
        "address.city",
        "address.geo",
        "address.geo.lat",
        "address.geo.lon",
        "items",
        "items[].sku",
        "items[].qty",
        "note",
    }
    lon = fields["address.geo.lon"]
    assert (lon["name"], lon["parent_path"], lon["depth"], lon["ordinal"]) == (
        "lon",
        "address.geo",
        2,
        2,
    )
    assert lon["parent_id"] == fields["address.geo"]["id"]
    assert fields["address.geo"]["parent_id"] == fields["address"]["id"]
    assert fields["address"]["parent_id"] is None and fields["address"]["depth"] == 0
    assert fields["items"]["repeated"] is True and fields["items[].sku"]["repeated"] is False
    assert fields["items[].qty"]["parent_id"] == fields["items"]["id"]
    # Inference details are stored; a field that was not inferred has none (SQL NULL).
    assert fields["note"]["inference"]["presence"] == 0.75
    assert fields["note"]["inference"]["types"][0]["share"] == 1.0
    assert fields["id"]["inference"] is None
    with catalog.engine.connect() as connection:
        inferred = connection.execute(
            sa.select(sa.func.count()).where(
                asset_fields.c.data_source_id == source.id, asset_fields.c.inference.is_not(None)
            )
        ).scalar_one()
    assert inferred == 1
    # Redaction applies at every level.
    assert fields["note"]["properties"] == {"api_key": REDACTED, "unit": "chars"}


def test_nested_secret_properties_are_redacted_in_the_catalog(catalog, source):
    secret = _f("token_hint", 1, properties={"password": "hunter2", "sas_token": "sv=x"})
    _persist(catalog, source, _struct("outer", 1, _array("list", 1, secret)))

    stored = _fields(catalog, source.id)["outer.list[].token_hint"]
    assert stored["properties"] == {"password": REDACTED, "sas_token": REDACTED}
    with catalog.engine.connect() as connection:
        dumped = str(connection.execute(sa.select(asset_fields)).all())
    assert "hunter2" not in dumped and "sv=x" not in dumped


def test_an_unchanged_nested_source_writes_no_field_and_no_asset_content(catalog, source):
    _persist(catalog, source, *_base())
    before = _fields(catalog, source.id)

    stats = _persist(catalog, source, *_base())

    assert stats.totals() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 2 + 10,
        "deleted": 0,
        "restored": 0,
    }
    assert _fields(catalog, source.id) == before


def test_a_sample_of_another_size_with_the_same_shares_writes_nothing(catalog, source):
    """An inferred field's sample_size moves with the collection's size: stored, not hashed."""
    _persist(catalog, source, *_base())
    before = _fields(catalog, source.id)
    grown = SEEN.model_copy(update={"sample_size": 104})
    columns = [c.model_copy(update={"inference": grown}) if c.inference else c for c in _base()]

    stats = _persist(catalog, source, *columns)

    assert (stats.assets.updated, stats.fields.updated) == (0, 0)
    assert _fields(catalog, source.id) == before
    # A share that moves is a change.
    moved = SEEN.model_copy(update={"presence": 0.5})
    columns = [c.model_copy(update={"inference": moved}) if c.inference else c for c in _base()]
    stats = _persist(catalog, source, *columns)
    assert stats.fields.updated == 1
    assert _fields(catalog, source.id)["note"]["inference"]["presence"] == 0.5


def test_nested_fields_added_removed_and_retyped_show_in_the_summary(catalog, source):
    _persist(catalog, source, *_base())

    changed = _base()
    changed[1] = _struct(
        "address",
        2,
        _f("city", 1, "varchar"),  # retyped
        _f("zip", 2),  # added; `geo` and its two members removed
        t="struct<changed>",
    )
    changed[2] = _array("items", 3, _f("sku", 1), _f("qty", 2, "int"), _f("price", 3, "decimal"))
    stats = _persist(catalog, source, *changed)

    changes = stats.changes
    assert changes.columns_added == ["lake.events.address.zip", "lake.events.items[].price"]
    # A removed sub-tree is listed once, by its top field.
    assert changes.columns_removed == ["lake.events.address.geo (with 2 nested fields)"]
    assert changes.columns_retyped == [
        "lake.events.address: struct -> struct<changed>",
        "lake.events.address.city: string -> varchar",
    ]
    assert (stats.fields.inserted, stats.fields.deleted, stats.fields.updated) == (2, 3, 2)
    fields = _fields(catalog, source.id)
    assert all(
        fields[path]["deleted_at"] is not None
        for path in ("address.geo", "address.geo.lat", "address.geo.lon")
    )
    assert fields["address.zip"]["parent_id"] == fields["address"]["id"]
    assert fields["items[].price"]["parent_id"] == fields["items"]["id"]


def test_a_whole_sub_tree_added_then_removed_then_restored(catalog, source):
    _persist(catalog, source, _f("id", 1))
    extra = _struct("meta", 2, _f("source", 1), _array("tags", 2, _f("k", 1), _f("v", 2)))

    added = _persist(catalog, source, _f("id", 1), extra)
    assert added.changes.columns_added == ["lake.events.meta (with 4 nested fields)"]
    ids = {path: row["id"] for path, row in _fields(catalog, source.id).items()}

    removed = _persist(catalog, source, _f("id", 1))
    assert removed.changes.columns_removed == ["lake.events.meta (with 4 nested fields)"]
    assert removed.fields.deleted == 5

    back = _persist(catalog, source, _f("id", 1), extra)
    assert back.fields.restored == 5 and back.fields.inserted == 0
    assert back.changes.columns_added == ["lake.events.meta (with 4 nested fields)"]
    fields = _fields(catalog, source.id)
    assert {path: row["id"] for path, row in fields.items()} == ids  # same rows, same ids
    assert all(row["deleted_at"] is None for row in fields.values())


def test_fields_of_a_deleted_table_are_deleted_with_it_at_every_level(catalog, source):
    _persist(catalog, source, *_base())

    stats = catalog.persistence.persist(source.tenant_id, source.id, _result())

    assert stats.assets.deleted == 1 and stats.fields.deleted == 10
    assert all(row["deleted_at"] is not None for row in _fields(catalog, source.id).values())


@pytest.fixture
def pg_source(postgres_database_url, cipher, tenant_id, tmp_path):
    """A source in a PostgreSQL catalog only (the row counters are PostgreSQL's)."""
    from metadata_pipelines.catalog.database import CatalogDatabase
    from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH

    database = CatalogDatabase(postgres_database_url, cipher)
    database.factory.register(SCRIPTED, IMPORT_PATH)
    database.upgrade()
    yield (
        database,
        database.data_sources.create(
            tenant_id=tenant_id,
            name="nested",
            connector_type=SCRIPTED,
            config={"source_file": str(tmp_path / "unused.json")},
            credentials={"password": "pw"},
        ),
    )
    database.dispose()


def test_unchanged_resync_writes_zero_rows_by_postgresql_counters(pg_source):
    catalog, source = pg_source
    # One connection for everything, so the persist's counters are this backend's to flush.
    engine = sa.create_engine(catalog.engine.url, poolclass=sa.pool.StaticPool)
    persistence = MetadataPersistenceService(engine)
    result = _result(_events(*_base()))
    persistence.persist(source.tenant_id, source.id, result)

    def counters() -> dict[str, tuple[int, int, int]]:
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        with engine.begin() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
                    " WHERE relname IN ('assets', 'asset_fields')"
                )
            )
            return {row.relname: (row.n_tup_ins, row.n_tup_upd, row.n_tup_del) for row in rows}

    def versions() -> dict[str, str]:  # a row's xmin changes whenever it is rewritten
        with engine.connect() as connection:
            return dict(
                connection.execute(
                    sa.text(
                        "SELECT id, xmin::text FROM asset_fields"
                        " UNION ALL SELECT id, xmin::text FROM assets"
                    )
                ).all()
            )

    before, rows_before = counters(), versions()
    assert before["asset_fields"][0] == 10
    persistence.persist(source.tenant_id, source.id, result)
    after = counters()
    engine.dispose()

    # Not a row inserted, updated or deleted in either table, and not a row rewritten.
    assert after == before
    assert versions() == rows_before
