"""Alembic migrations create the catalog schema on both backends, idempotently."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog import migrate
from metadata_pipelines.catalog.asset_rows import content_hash, desired_assets, new_id
from metadata_pipelines.catalog.database import CatalogDatabase, create_catalog_engine
from metadata_pipelines.catalog.schema import asset_fields, assets, metadata
from metadata_pipelines.extractors.mysql import MySQLExtractor
from metadata_pipelines.models import ExtractionResult, field_path, split_field_path, utcnow
from metadata_pipelines_tests.fakes.unity_catalog_server import (
    array_type,
    column,
    field,
    struct_type,
)
from metadata_pipelines_tests.test_extractors.databricks_support import (
    extractor as databricks_extractor,
)
from metadata_pipelines_tests.test_extractors.databricks_support import (
    populate,
    run,
)
from metadata_pipelines_tests.test_extractors.mysql_fixture import (
    ODD_COLUMNS,
    root_config,
    root_credentials,
)


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


# 0003: nested fields ------------------------------------------------------------------------------

_FIELDS_0002 = (
    "name",
    "ordinal",
    "native_type",
    "data_type",
    "nullable",
    "default_value",
    "is_primary_key",
    "description",
    "properties",
)


def _persist_as_of_0002(
    engine: sa.Engine, tenant_id: str, source_id: str, result: ExtractionResult
) -> None:
    """What persistence wrote before 0003: assets, and their top-level columns keyed by name, with
    the content hashes it computed then (a column's row in this key order; a table's row and its
    columns' rows)."""
    now = utcnow()
    ids: dict[str, str] = {}
    with engine.begin() as connection:
        for entry in desired_assets(result):
            item = entry.build()
            columns = [
                {key: getattr(values, key) for key in _FIELDS_0002}
                for values in item.fields or ()
                if values.depth == 0
            ]
            ids[item.qualified_name] = asset_id = new_id()
            connection.execute(
                assets.insert().values(
                    **item.row,
                    id=asset_id,
                    tenant_id=tenant_id,
                    data_source_id=source_id,
                    parent_id=ids.get(item.parent) if item.parent else None,
                    qualified_name=item.qualified_name,
                    content_hash=content_hash(
                        [item.row, columns if item.fields is not None else None]
                    ),
                    first_seen_at=now,
                    last_seen_at=now,
                    updated_at=now,
                )
            )
            if columns:
                connection.execute(
                    sa.table("asset_fields", *(sa.column(c) for c in _OLD_FIELD_ROW)).insert(),
                    [
                        {
                            **values,
                            "content_hash": content_hash(values),
                            "properties": json.dumps(values["properties"]),
                            "id": new_id(),
                            "tenant_id": tenant_id,
                            "data_source_id": source_id,
                            "asset_id": asset_id,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for values in columns
                    ],
                )


@dataclass(frozen=True)
class _OldSource:
    id: str


def _source_before_0006(
    engine: sa.Engine, tenant_id: str, name: str, connector_type: str = "sqlite", **extra: object
) -> _OldSource:
    """A data_sources row as revisions 0001-0005 held it (no partition_key); config unused."""
    source_id = new_id()
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            sa.table("data_sources", *(sa.column(c) for c in _OLD_SOURCE_ROW)).insert(),
            {
                "id": source_id,
                "tenant_id": tenant_id,
                "name": name,
                "connector_type": connector_type,
                "config": json.dumps({}),
                "enabled": True,
                "created_at": extra.get("created_at", now),
                "updated_at": now,
            },
        )
    return _OldSource(source_id)


_OLD_SOURCE_ROW = (
    "id",
    "tenant_id",
    "name",
    "connector_type",
    "config",
    "enabled",
    "created_at",
    "updated_at",
)

_OLD_FIELD_ROW = (
    *_FIELDS_0002,
    "id",
    "tenant_id",
    "data_source_id",
    "asset_id",
    "content_hash",
    "created_at",
    "updated_at",
)


@pytest.fixture
def databricks_result(fake):
    populate(fake)
    payload = struct_type(
        field("a", "integer"), field("b", array_type(struct_type(field("c", "string"))))
    )
    fake.add_table("main", "sales", "events", [column("payload", "STRUCT", 0, spark_type=payload)])
    return run(databricks_extractor(fake).extract_metadata())


@pytest.fixture
def mysql_result(mysql_schema):
    return asyncio.run(
        MySQLExtractor(root_config(mysql_schema), root_credentials()).extract_metadata()
    )


def test_0003_migrates_a_catalog_holding_mysql_and_databricks_assets(
    catalog_url,
    cipher,
    tenant_id,
    mysql_schema,
    mysql_result,
    databricks_result,
    fake,
):
    engine = create_catalog_engine(catalog_url)
    migrate.upgrade(engine, "0002")
    catalog = CatalogDatabase(catalog_url, cipher)
    sources = {
        "mysql": _source_before_0006(engine, tenant_id, "shop", "mysql"),
        "databricks": _source_before_0006(engine, tenant_id, "lakehouse", "databricks"),
    }
    results = {"mysql": mysql_result, "databricks": databricks_result}
    for kind, source in sources.items():
        _persist_as_of_0002(engine, tenant_id, source.id, results[kind])
    with engine.connect() as connection:
        before = dict(connection.execute(sa.text("SELECT id, name FROM asset_fields")).all())
    assert any(name in ODD_COLUMNS for name in before.values())

    migrate.upgrade(engine)

    with engine.connect() as connection:
        migrated = connection.execute(sa.select(asset_fields)).mappings().all()
    assert {row["id"]: row["name"] for row in migrated} == before
    for row in migrated:
        assert row["path"] == field_path(None, "", row["name"])
        assert split_field_path(row["path"]) == [(row["name"], "")]
        assert (row["parent_path"], row["parent_id"], row["depth"]) == (None, None, 0)
        assert row["repeated"] is (row["data_type"] == "array")
        assert row["inference"] is None
    assert any(row["path"] != row["name"] for row in migrated)  # odd names were quoted

    # The next sync of each source keeps every migrated row (same ids), removes nothing, and adds
    # only the nested fields the old schema could not hold.
    for kind, source in sources.items():
        result = results[kind]
        stats = catalog.persistence.persist(tenant_id, source.id, result)
        nested = sum(
            1 for table in result.tables for _, parent, _, _ in table.iter_fields() if parent
        )
        assert stats.fields.inserted == nested, kind
        assert nested == (3 if kind == "databricks" else 0)  # payload.a, payload.b, payload.b[].c
        assert (stats.fields.deleted, stats.assets.deleted, stats.assets.inserted) == (0, 0, 0)
        assert stats.changes.columns_removed == [] and stats.changes.tables_added == []
        again = catalog.persistence.persist(tenant_id, source.id, result)
        assert (again.totals()["inserted"], again.totals()["updated"]) == (0, 0), kind
    with engine.connect() as connection:
        after = {
            row.id: row.name
            for row in connection.execute(
                sa.select(asset_fields.c.id, asset_fields.c.name).where(asset_fields.c.depth == 0)
            )
        }
    assert after == before
    catalog.dispose()
    engine.dispose()


def test_0003_downgrades_to_top_level_columns(catalog_url):
    engine = create_catalog_engine(catalog_url)
    migrate.upgrade(engine)
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0002")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("asset_fields")}
    assert "path" not in columns and "name" in columns
    migrate.upgrade(engine)
    engine.dispose()


def test_postgresql_gets_a_trigram_index_for_asset_search(postgres_database_url):
    engine = create_catalog_engine(postgres_database_url)
    migrate.upgrade(engine)
    indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("assets")}
    engine.dispose()
    assert "ix_assets_qualified_name_trgm" in indexes


# 0006: readable partition keys --------------------------------------------------------------------


def test_0006_gives_existing_sources_unique_readable_partition_keys(catalog_url, cipher):
    engine = create_catalog_engine(catalog_url)
    migrate.upgrade(engine, "0005")
    start = utcnow()
    made = {
        (tenant, name): _source_before_0006(
            engine, tenant, name, created_at=start + timedelta(seconds=order)
        ).id
        for order, (tenant, name) in enumerate(
            [
                ("acme", "Finance DB"),
                ("acme", "finance.db"),  # slugs like the older one: gets the short id
                ("Acme", "Finance DB"),  # another tenant whose id slugs alike
                ("acme", "Données Clients"),
                ("globex", "Finance DB"),
                ("globex", "***"),
            ]
        )
    }

    with engine.begin() as connection:  # history that must survive the table's rebuild on SQLite
        connection.execute(
            sa.text(
                "INSERT INTO connector_runs (id, tenant_id, data_source_id, run_type, status, "
                "attempts, will_retry, created_at) VALUES "
                "(:id, 'acme', :source, 'metadata', 'succeeded', 1, false, :now)"
            ),
            {"id": new_id(), "source": made["acme", "Finance DB"], "now": start},
        )

    migrate.upgrade(engine)

    with engine.connect() as connection:
        runs = connection.execute(sa.text("SELECT data_source_id FROM connector_runs")).all()
    assert runs == [(made["acme", "Finance DB"],)]
    with engine.connect() as connection:
        keys = dict(connection.execute(sa.text("SELECT id, partition_key FROM data_sources")).all())
    by_name = {source: keys[source_id] for source, source_id in made.items()}
    assert by_name == {
        ("acme", "Finance DB"): "acme/finance-db",
        ("acme", "finance.db"): f"acme/finance-db-{made['acme', 'finance.db'][:8]}",
        ("Acme", "Finance DB"): f"acme/finance-db-{made['Acme', 'Finance DB'][:8]}",
        ("acme", "Données Clients"): "acme/donnees-clients",
        ("globex", "Finance DB"): "globex/finance-db",
        ("globex", "***"): "globex/source",
    }
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE data_sources SET partition_key = 'acme/finance-db' WHERE id = :id"),
            {"id": made["globex", "Finance DB"]},
        )
    migrate.upgrade(engine)  # nothing left to do
    catalog = CatalogDatabase(catalog_url, cipher)
    assert catalog.data_sources.get(made["acme", "Finance DB"]).partition_key == "acme/finance-db"
    catalog.dispose()

    migrate.downgrade(engine, "0005")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("data_sources")}
    assert "partition_key" not in columns
    migrate.upgrade(engine)
    with engine.connect() as connection:
        again = dict(
            connection.execute(sa.text("SELECT id, partition_key FROM data_sources")).all()
        )
    assert again == keys  # the same keys when computed again
    engine.dispose()
