"""Persistence of a streamed extraction, batch by batch, on real SQLite and PostgreSQL catalogs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metadata_pipelines.catalog.deletion_guard import HELD, DeletionPolicy
from metadata_pipelines.models import (
    DatabaseMetadata,
    ExtractionBatch,
    ExtractionError,
    ExtractionResult,
    ExtractionTally,
    SchemaMetadata,
    utcnow,
)
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED
from metadata_pipelines_tests.test_catalog.test_persistence import _fields, _live, _table


def _database(name: str, tables: int, errors=()) -> ExtractionBatch:
    """One database (schema `public`) with `tables` tables of two columns, as one batch."""
    return ExtractionBatch(
        databases=[DatabaseMetadata(name=name)],
        schemas=[SchemaMetadata(database=name, name="public")],
        tables=[_table(name, f"t{i}", {"id": "int", "v": "text"}) for i in range(tables)],
        errors=list(errors),
    )


def _persist(catalog, source, batches: list[ExtractionBatch], **options):
    tally = ExtractionTally(SCRIPTED, utcnow())
    for batch in batches:
        tally.add(batch)
    return catalog.persistence.persist_batches(
        source.tenant_id, source.id, tally.summary(), iter(batches), **options
    )


def _split(batch: ExtractionBatch, size: int) -> list[ExtractionBatch]:
    """The same content in batches of `size` tables, containers in the first."""
    first = batch.model_copy(update={"tables": batch.tables[:size]})
    rest = [
        ExtractionBatch(tables=batch.tables[start : start + size])
        for start in range(size, len(batch.tables), size)
    ]
    return [first, *rest]


def test_batches_persist_what_one_whole_result_does(catalog, source, tenant_id, tmp_path):
    whole = ExtractionResult.from_batches(
        SCRIPTED, utcnow(), [_database("a", 5), _database("b", 3)]
    )
    other = catalog.data_sources.create(
        tenant_id=tenant_id,
        name="whole",
        connector_type=SCRIPTED,
        config={"source_file": str(tmp_path / "unused.json")},
        credentials={"password": "pw"},
    )
    catalog.persistence.persist(tenant_id, other.id, whole)

    stats = _persist(catalog, source, [*_split(_database("a", 5), 2), _database("b", 3)])

    assert stats.assets.inserted == 2 + 2 + 8
    assert stats.fields.inserted == 16

    def content(source_id):
        return {
            name: (row["content_hash"], row["asset_type"])
            for name, row in _live(catalog, source_id).items()
        }

    assert content(source.id) == content(other.id)
    live = _live(catalog, source.id)
    # A table in a later batch than its schema still points at it.
    assert live["a.public.t4"]["parent_id"] == live["a.public"]["id"]


def test_an_unchanged_resync_in_other_batches_writes_nothing(catalog, source):
    _persist(catalog, source, [_database("a", 6), _database("b", 2)])
    before = _live(catalog, source.id), _fields(catalog, source.id)

    stats = _persist(catalog, source, [*_split(_database("a", 6), 1), _database("b", 2)])

    assert stats.totals() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 2 + 2 + 8 + 16,
        "deleted": 0,
        "restored": 0,
    }
    assert (_live(catalog, source.id), _fields(catalog, source.id)) == before


def test_removals_are_decided_after_the_last_batch(catalog, source):
    """A table missing from one batch is not deleted while another batch still brings it; only what
    no batch brought is, and only after the last one."""
    _persist(catalog, source, [_database("a", 4), _database("b", 2)])
    a = _database("a", 4)
    moved = ExtractionBatch(tables=a.tables[3:])  # a.t3 arrives after b
    a_without_t3 = a.model_copy(update={"tables": a.tables[:2]})  # a.t2 is gone for good

    stats = _persist(catalog, source, [a_without_t3, _database("b", 2), moved])

    assert stats.assets.deleted == 1
    assert stats.changes.tables_removed == ["a.public.t2"]
    live = _live(catalog, source.id)
    assert live["a.public.t2"]["deleted_at"] is not None
    assert live["a.public.t3"]["deleted_at"] is None
    assert stats.fields.deleted == 2


def test_a_failure_midway_writes_and_deletes_nothing(catalog, source):
    _persist(catalog, source, [_database("a", 3), _database("b", 2)])
    before = _live(catalog, source.id), _fields(catalog, source.id)
    changed_a = _database("a", 3)
    changed_a.tables[0] = _table("a", "t0", {"id": "bigint"})  # a change, written first
    batches = [changed_a, _database("c", 2)]  # b is gone: to delete after the last batch

    def stream() -> Iterator[ExtractionBatch]:
        yield from batches
        raise OSError("the handover went away")

    tally = ExtractionTally(SCRIPTED, utcnow())
    for batch in [*batches, _database("d", 1)]:
        tally.add(batch)
    with pytest.raises(OSError, match="went away"):
        catalog.persistence.persist_batches(source.tenant_id, source.id, tally.summary(), stream())

    assert (_live(catalog, source.id), _fields(catalog, source.id)) == before


def test_an_error_in_a_later_batch_protects_a_table_of_an_earlier_one(catalog, source):
    """The summary brings every error before the first batch: a table whose columns failed to read,
    reported with a later batch, keeps its stored columns."""
    _persist(catalog, source, [_database("a", 2)])
    shrunk = _database("a", 2)
    shrunk.tables[0] = _table("a", "t0", {"id": "int"})  # `v` not read
    late_error = ExtractionError(scope=("a", "public", "t0"), message="columns unreadable")

    stats = _persist(catalog, source, [shrunk, ExtractionBatch(errors=[late_error])])

    assert stats.fields.deleted == 0
    assert _fields(catalog, source.id)[("a.public.t0", "v")]["deleted_at"] is None


def test_the_deletion_guard_sees_every_batch(catalog, source):
    """The fail-safe compares what every batch brought with the catalog: a database missing from
    all batches is held; a confirmed sync (no policy) deletes it."""
    _persist(catalog, source, [_database("a", 3), _database("b", 3)])

    held = _persist(catalog, source, [_database("a", 3)], deletion_policy=DeletionPolicy())

    assert [(error.scope, error.code) for error in held.held] == [(("b",), HELD)]
    assert held.assets.deleted == 0
    assert _live(catalog, source.id)["b.public.t0"]["deleted_at"] is None

    confirmed = _persist(catalog, source, [_database("a", 3)])

    assert confirmed.held == []
    assert confirmed.assets.deleted == 1 + 1 + 3
