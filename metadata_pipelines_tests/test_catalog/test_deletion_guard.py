"""The deletion fail-safe's rules, on real SQLite and PostgreSQL catalogs."""

from __future__ import annotations

import pytest

from metadata_pipelines.catalog.asset_rows import desired_assets, desired_keys
from metadata_pipelines.catalog.deletion_guard import HELD, DeletionPolicy, hold_deletions
from metadata_pipelines.models import (
    ColumnMetadata,
    DatabaseMetadata,
    ExtractionResult,
    ExtractionStatus,
    RoutineMetadata,
    RoutineType,
    SchemaMetadata,
    TableMetadata,
    utcnow,
)
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED


def _result(tables: dict[str, int], routines: bool = False) -> ExtractionResult:
    """Databases named by `tables`, each with that many tables of one column."""
    return ExtractionResult.build(
        SCRIPTED,
        utcnow(),
        databases=[DatabaseMetadata(name=name) for name in tables],
        schemas=[SchemaMetadata(database=name, name="public") for name in tables],
        tables=[
            TableMetadata(
                database=name,
                schema_name="public",
                name=f"t{index}",
                columns=[ColumnMetadata(name="id", ordinal=1, native_type="int")],
            )
            for name, count in tables.items()
            for index in range(count)
        ],
        routines=[
            RoutineMetadata(
                database=name, schema_name="public", name="f", routine_type=RoutineType.FUNCTION
            )
            for name in tables
            if routines
        ],
    )


@pytest.fixture
def stored(catalog, tenant_id):
    """A source whose catalog holds shop (30 tables) and crm (5 tables)."""
    source = catalog.data_sources.create(
        tenant_id=tenant_id,
        name="s",
        connector_type=SCRIPTED,
        config={"source_file": "unused.json"},
        credentials={"password": "pw"},
    )
    catalog.persistence.persist(tenant_id, source.id, _result({"shop": 30, "crm": 5}, True))
    return catalog, source


def test_desired_keys_are_the_keys_of_the_desired_assets():
    result = _result({"shop": 3, 'odd "db".x': 2}, routines=True)
    assert desired_keys(result) == {item.qualified_name for item in desired_assets(result)}


def test_a_few_removals_inside_a_container_pass(stored, tenant_id):
    catalog, source = stored
    result = _result({"shop": 25, "crm": 5}, True)
    assert hold_deletions(catalog.engine, tenant_id, source.id, result) == (result, [])


def test_a_vanished_database_is_held(stored, tenant_id):
    catalog, source = stored
    held_result, held = hold_deletions(
        catalog.engine, tenant_id, source.id, _result({"shop": 30}, True)
    )
    assert [error.scope for error in held] == [("crm",)]
    assert held[0].code == HELD
    assert "a whole top-level container" in held[0].message
    assert "crm and 8 asset(s) in it kept" in held[0].message  # db, schema, 5 tables, routine
    assert held_result.status is ExtractionStatus.PARTIAL
    stats = catalog.persistence.persist(tenant_id, source.id, held_result)
    assert stats.assets.deleted == 0


def test_a_large_share_is_held_and_a_small_source_is_not(stored, tenant_id):
    catalog, source = stored
    _, held = hold_deletions(catalog.engine, tenant_id, source.id, _result({"shop": 15, "crm": 5}))
    assert [error.scope for error in held] == [("crm",), ("shop",)]  # 17 of 41 (routines too)
    assert "17 of the source's 41 assets would be deleted (more than 20%)" in held[0].message
    lenient = DeletionPolicy(max_share=0.5)
    result = _result({"shop": 15, "crm": 5}, True)
    assert hold_deletions(catalog.engine, tenant_id, source.id, result, lenient)[1] == []


def test_everything_gone_is_held(stored, tenant_id):
    catalog, source = stored
    _, held = hold_deletions(catalog.engine, tenant_id, source.id, _result({}))
    assert {error.scope for error in held} == {("shop",), ("crm",)}
    assert "41 of the source's 41 assets would be deleted" in held[0].message
