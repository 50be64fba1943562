"""Benchmark: what the persist step's guards cost next to the persist itself.

Usage: .venv/bin/python bench/reliability/persist_guards.py [--databases 4] [--tables 500] [--columns 20]

Builds an ExtractionResult of databases x tables x columns, persists it into a fresh PostgreSQL
catalog database (the first sync), then times, on the same result and catalog, each best of five:
- the baseline: an unchanged re-persist (what every later sync of an unchanged source does);
- `storable` (the NUL scan: one JSON dump of the result);
- `hold_deletions` (the deletion fail-safe: one read of the live assets and a key comparison);
and prints each guard as a share of the baseline. The PostgreSQL server is
METADATA_PIPELINES_TEST_POSTGRES_URL (default: local, user postgres).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.deletion_guard import hold_deletions
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.catalog.storable import storable
from metadata_pipelines.models import (
    ColumnMetadata,
    DatabaseMetadata,
    ExtractionResult,
    SchemaMetadata,
    TableMetadata,
    utcnow,
)
from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH, SCRIPTED

ADMIN_URL = os.environ.get(
    "METADATA_PIPELINES_TEST_POSTGRES_URL",
    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
)


def _result(databases: int, tables: int, columns: int) -> ExtractionResult:
    names = [f"db{index}" for index in range(databases)]
    return ExtractionResult.build(
        SCRIPTED,
        utcnow(),
        databases=[DatabaseMetadata(name=name) for name in names],
        schemas=[SchemaMetadata(database=name, name="public") for name in names],
        tables=[
            TableMetadata(
                database=name,
                schema_name="public",
                name=f"table_{table}",
                comment=f"table {table} of {name}",
                columns=[
                    ColumnMetadata(name=f"column_{c}", ordinal=c, native_type="varchar(255)")
                    for c in range(1, columns + 1)
                ],
            )
            for name in names
            for table in range(tables)
        ],
    )


def _best(what: Callable[[], object], times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        what()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", type=int, default=4)
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--columns", type=int, default=20)
    args = parser.parse_args()
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"mp_bench_guards_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    catalog = CatalogDatabase(url, CredentialCipher([Fernet.generate_key().decode()]))
    try:
        catalog.factory.register(SCRIPTED, IMPORT_PATH)
        catalog.upgrade()
        source = catalog.data_sources.create(
            tenant_id="bench",
            name="bench",
            connector_type=SCRIPTED,
            config={"source_file": "unused.json"},
            credentials={"password": "pw"},
        )
        result = _result(args.databases, args.tables, args.columns)
        print(f"result: {result.counts}")
        catalog.persistence.persist("bench", source.id, result)
        baseline = _best(lambda: catalog.persistence.persist("bench", source.id, result))
        nul_scan = _best(lambda: storable(result))
        guard = _best(lambda: hold_deletions(catalog.engine, "bench", source.id, result))
        print(f"unchanged re-persist (baseline): {baseline:.3f} s")
        print(f"storable (NUL scan):             {nul_scan:.3f} s = {nul_scan / baseline:.1%}")
        print(f"hold_deletions (fail-safe):      {guard:.3f} s = {guard / baseline:.1%}")
    finally:
        catalog.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
