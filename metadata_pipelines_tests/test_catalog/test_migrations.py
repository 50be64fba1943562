"""Alembic migrations create the catalog schema on both backends, idempotently."""

from __future__ import annotations

import sqlalchemy as sa

from metadata_pipelines.catalog import migrate
from metadata_pipelines.catalog.database import create_catalog_engine
from metadata_pipelines.catalog.schema import metadata


def test_upgrade_creates_every_table_and_is_repeatable(catalog_url):
    engine = create_catalog_engine(catalog_url)
    migrate.upgrade(engine)
    migrate.upgrade(engine)

    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    assert set(metadata.tables) <= tables
    for name, table in metadata.tables.items():
        columns = {c["name"] for c in inspector.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name
    unique = inspector.get_unique_constraints("assets")
    assert any(u["column_names"] == ["data_source_id", "qualified_name"] for u in unique)
    assert migrate.current_revision(engine) is not None
    engine.dispose()


def test_models_and_migrations_agree(catalog_url):
    """Autogenerate finds nothing to do: schema.py and the migrations describe the same tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_catalog_engine(catalog_url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": migrate.include_object}
        )
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_postgresql_gets_a_trigram_index_for_asset_search(postgres_database_url):
    engine = create_catalog_engine(postgres_database_url)
    migrate.upgrade(engine)
    indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("assets")}
    engine.dispose()
    assert "ix_assets_qualified_name_trgm" in indexes
