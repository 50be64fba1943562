"""Prepared batches (tables as JSON and content hash, parsed only when changed) and the bulk inserter
they are written with, on real SQLite and PostgreSQL catalogs."""

from __future__ import annotations

import psycopg2
import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.bulk import BulkInserter
from metadata_pipelines.catalog.prepared_batch import PreparedBatch, PreparedTable, prepare_batch
from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.catalog.storable import UNSTORABLE, storable_batch
from metadata_pipelines.models import (
    DatabaseMetadata,
    ExtractionBatch,
    ExtractionTally,
    TableMetadata,
    utcnow,
)
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED
from metadata_pipelines_tests.test_catalog.test_nested_fields import SEEN, _base, _events, _f
from metadata_pipelines_tests.test_catalog.test_persistence import _fields, _live


def _orders(**changes) -> TableMetadata:
    """A relational table with volatile statistics (top-level and in properties)."""
    values = {
        "database": "lake",
        "name": "orders",
        "row_count": 10,
        "size_bytes": 4096,
        "properties": {"engine": "InnoDB", "data_length": 4000, "auto_increment": 11},
        "columns": [_f("id", 1, "int"), _f("total", 2, "decimal(9,2)", comment="gross")],
        **changes,
    }
    return TableMetadata(**values)


def _batch(*tables: TableMetadata) -> ExtractionBatch:
    return ExtractionBatch(databases=[DatabaseMetadata(name="lake")], tables=list(tables))


def _round_trip(batch: ExtractionBatch) -> PreparedBatch:
    """As the handover stores and reads it."""
    return PreparedBatch.model_validate_json(prepare_batch(batch).model_dump_json())


def _persist(catalog, source, *batches, summary=None):
    if summary is None:
        summary = _summary(*batches)
    return catalog.persistence.persist_batches(source.tenant_id, source.id, summary, iter(batches))


def _summary(*batches):
    tally = ExtractionTally(SCRIPTED, utcnow())
    for batch in batches:
        tally.add(batch if isinstance(batch, ExtractionBatch) else batch.load())
    return tally.summary()


def test_a_prepared_table_loads_back_equal_to_the_table():
    inferred = _events(*_base())
    original = _batch(_orders(), inferred)

    prepared = _round_trip(original)

    assert prepared.load() == original
    assert [t.fields for t in prepared.tables] == [2, 10]
    assert prepared.tables[0].qualified_name == "lake.orders"
    # What the hash covers leaves the volatile statistics out, and only them.
    assert "4096" not in prepared.tables[0].table and "data_length" not in prepared.tables[0].table
    assert "InnoDB" in prepared.tables[0].table
    assert '"sample_size":0' in prepared.tables[1].table


def _digest(table: TableMetadata) -> str:
    return prepare_batch(_batch(table)).tables[0].content_hash


def test_the_hash_moves_with_metadata_not_with_volatile_statistics():
    base = _digest(_orders())

    busy = _orders(
        row_count=99,
        size_bytes=1,
        properties={"engine": "InnoDB", "data_length": 1, "auto_increment": 500},
    )
    assert _digest(busy) == base
    assert _digest(_orders(comment="orders of the shop")) != base
    assert _digest(_orders(properties={"engine": "Aria"})) != base
    retyped = [_f("id", 1, "bigint"), _f("total", 2, "decimal(9,2)", comment="gross")]
    assert _digest(_orders(columns=retyped)) != base

    sampled = _digest(_events(*_base()))
    grown = SEEN.model_copy(update={"sample_size": 5000})
    resampled = [c.model_copy(update={"inference": grown}) if c.inference else c for c in _base()]
    assert _digest(_events(*resampled)) == sampled
    moved = SEEN.model_copy(update={"presence": 0.5})
    shifted = [c.model_copy(update={"inference": moved}) if c.inference else c for c in _base()]
    assert _digest(_events(*shifted)) != sampled


def test_model_and_prepared_batches_hash_alike(catalog, source):
    """Both paths to the catalog hash a table with one definition: a sync of models followed by the
    same content prepared writes nothing."""
    _persist(catalog, source, _batch(_orders(), _events(*_base())))

    stats = _persist(catalog, source, _round_trip(_batch(_orders(), _events(*_base()))))

    assert stats.totals() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 3 + 12,
        "deleted": 0,
        "restored": 0,
    }


def test_only_new_and_changed_tables_are_parsed(catalog, source, monkeypatch):
    _persist(catalog, source, _round_trip(_batch(_orders(), _events(*_base()))))
    customers = TableMetadata(database="lake", name="customers", columns=[_f("id", 1, "int")])
    busier = _orders(row_count=12, comment="orders of the shop")
    batch = _round_trip(_batch(busier, _events(*_base()), customers))
    summary = _summary(batch)
    loaded: list[str] = []
    load = PreparedTable.load

    def counting_load(self: PreparedTable) -> TableMetadata:
        loaded.append(self.qualified_name)
        return load(self)

    monkeypatch.setattr(PreparedTable, "load", counting_load)

    stats = _persist(catalog, source, batch, summary=summary)

    assert sorted(loaded) == ["lake.customers", "lake.orders"]
    assert (stats.assets.inserted, stats.assets.updated, stats.assets.unchanged) == (1, 1, 2)
    assert (stats.fields.inserted, stats.fields.unchanged) == (1, 10 + 2)  # events, orders
    live = _live(catalog, source.id)
    assert live["lake.orders"]["description"] == "orders of the shop"
    assert live["lake.orders"]["details"]["row_count"] == 12
    assert live["lake.orders"]["details"]["properties"]["data_length"] == 4000


def test_a_catalog_hashed_before_prepared_batches_rewrites_table_rows_once(catalog, source):
    """Catalogs written before tables were hashed from their JSON hold other table hashes: the
    first sync after the upgrade updates each table's row (fields stay as they are), the next one
    writes nothing."""
    _persist(catalog, source, _batch(_orders(), _events(*_base())))
    fields_before = _fields(catalog, source.id)
    with catalog.engine.begin() as connection:
        connection.execute(
            assets.update().where(assets.c.asset_type == "table").values(content_hash="old")
        )

    upgraded = _persist(catalog, source, _round_trip(_batch(_orders(), _events(*_base()))))
    again = _persist(catalog, source, _round_trip(_batch(_orders(), _events(*_base()))))

    assert (upgraded.assets.updated, upgraded.fields.updated, upgraded.fields.inserted) == (2, 0, 0)
    assert _fields(catalog, source.id) == fields_before
    assert again.totals()["inserted"] + again.totals()["updated"] == 0


def test_a_prepared_batch_holding_nul_is_cleaned_with_a_warning():
    clean = _round_trip(_batch(_orders()))
    assert storable_batch(clean) == (clean, [])

    dirty = _round_trip(_batch(_orders(comment="bad\x00byte")))
    assert dirty.holds_nul
    cleaned, names = storable_batch(dirty)

    assert names == ["lake.orders"]
    assert isinstance(cleaned, ExtractionBatch)
    assert cleaned.tables[0].comment == "bad\ufffdbyte"
    assert [error.code for error in cleaned.errors] == [UNSTORABLE]


# BulkInserter -------------------------------------------------------------------------------------

_ROWS = sa.Table(
    "bulk_rows",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.Text),
    sa.Column("extra", sa.JSON),
)


@pytest.fixture
def bulk_engine(catalog_url):
    engine = sa.create_engine(catalog_url)
    _ROWS.create(engine)
    yield engine
    engine.dispose()


def _count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(_ROWS)).scalar_one()


def test_inserted_rows_are_seen_by_the_next_statement_and_keep_odd_text(bulk_engine):
    odd = "tab\there, line\nbreak, back\\slash, \\N"
    rows = [(i, odd if i == 7 else f"row {i}", {"n": i} if i % 2 else None) for i in range(12_000)]
    with bulk_engine.begin() as connection, BulkInserter(connection) as bulk:
        bulk.insert(_ROWS, rows[:6_000], ("id", "label", "extra"))
        bulk.insert(_ROWS, [{"id": i, "label": label, "extra": x} for i, label, x in rows[6_000:]])
        seen = connection.execute(sa.select(sa.func.count()).select_from(_ROWS)).scalar_one()

    assert seen == 12_000
    with bulk_engine.connect() as connection:
        stored = {row.id: (row.label, row.extra) for row in connection.execute(sa.select(_ROWS))}
    assert stored[7] == (odd, {"n": 7})
    assert stored[8] == ("row 8", None)


def test_a_failed_insert_fails_the_block_and_rolls_everything_back(bulk_engine):
    # Raised by SQLAlchemy on SQLite, by psycopg2 itself for a COPY on PostgreSQL.
    with (
        pytest.raises((sa.exc.IntegrityError, psycopg2.IntegrityError)) as raised,
        bulk_engine.begin() as connection,
        BulkInserter(connection) as bulk,
    ):
        bulk.insert(_ROWS, [(i, "first", None) for i in range(100)], ("id", "label", "extra"))
        bulk.insert(_ROWS, [(5, "duplicate", None)], ("id", "label", "extra"))
        bulk.flush()

    assert "bulk_rows" in str(raised.value)
    assert _count(bulk_engine) == 0
