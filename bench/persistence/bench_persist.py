"""Persistence benchmark: one source of 100,000 fields, half of them nested three levels deep.

Prints, for a fresh PostgreSQL catalog (or SQLite with --sqlite):
- first persist: every asset and field inserted;
- unchanged re-persist: nothing to write (the rows written are printed: they must be 0);
- peak RSS of the process that does both (VmHWM), each scenario in a fresh process.

The same figures are printed for a baseline measured in the same run: a source of as many fields, all
top-level columns (what the catalog held before nested fields). Timings are the best of --repeat
re-persists; the first persist runs once per scenario process.

Shape (defaults): 1,000 tables of 100 fields each: 50 top-level columns, two of which are structs
holding a struct holding a struct of 22 leaves (25 nested fields each: 50 per table, depth 1 to 3).

Usage: .venv/bin/python bench/persistence/bench_persist.py [--tables 1000] [--repeat 3] [--sqlite]
       [--postgres-url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from metadata_pipelines.models import (
    ColumnMetadata,
    DatabaseMetadata,
    DataType,
    ExtractionResult,
    SchemaMetadata,
    TableMetadata,
    utcnow,
)

COLUMNS = 50  # top-level fields per table
STRUCTS = 2  # of which structs, each holding a struct holding a struct of LEAVES leaves
LEAVES = 22  # 1 + 1 + 22 + 1 (the inner struct) = 25 nested fields per struct column


def _leaf(name: str, ordinal: int) -> ColumnMetadata:
    return ColumnMetadata(
        name=name, ordinal=ordinal, native_type="string", data_type=DataType.STRING
    )


def _struct(name: str, ordinal: int, children: list[ColumnMetadata]) -> ColumnMetadata:
    return ColumnMetadata(
        name=name, ordinal=ordinal, native_type="struct<...>", data_type=DataType.STRUCT,
        children=children,
    )  # fmt: skip


def _nested_columns() -> list[ColumnMetadata]:
    columns = [_leaf(f"c{i}", i) for i in range(1, COLUMNS - STRUCTS + 1)]
    for k in range(STRUCTS):
        leaves = [_leaf(f"leaf{i}", i) for i in range(1, LEAVES + 1)]
        level3 = _struct("l3", 1, leaves)  # depth 2 (its leaves: depth 3)
        level2 = _struct("l2", 1, [level3, _leaf("tag", 2)])  # depth 1
        columns.append(_struct(f"s{k}", COLUMNS - STRUCTS + 1 + k, [level2]))
    return columns


def _flat_columns(count: int) -> list[ColumnMetadata]:
    return [_leaf(f"c{i}", i) for i in range(1, count + 1)]


def build(shape: str, tables: int) -> ExtractionResult:
    fields_per_table = sum(
        1 for _ in TableMetadata(database="d", name="t", columns=_nested_columns()).iter_fields()
    )
    columns = _nested_columns() if shape == "nested" else _flat_columns(fields_per_table)
    return ExtractionResult.build(
        "bench",
        utcnow(),
        databases=[DatabaseMetadata(name="lake")],
        schemas=[SchemaMetadata(database="lake", name="raw")],
        tables=[
            TableMetadata(database="lake", schema_name="raw", name=f"t{i:05d}", columns=columns)
            for i in range(tables)
        ],
    )


@contextmanager
def catalog_database(args: argparse.Namespace) -> Iterator[Any]:
    """A fresh, migrated catalog; dropped afterwards."""
    from cryptography.fernet import Fernet

    from metadata_pipelines.catalog.database import CatalogDatabase
    from metadata_pipelines.catalog.secrets import CredentialCipher

    cipher = CredentialCipher([Fernet.generate_key().decode()])
    if args.sqlite:
        with tempfile.TemporaryDirectory() as directory:
            catalog = CatalogDatabase(f"sqlite:///{directory}/catalog.db", cipher)
            catalog.upgrade()
            yield catalog
            catalog.dispose()
        return
    admin = sa.create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = f"mp_bench_persist_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    catalog = CatalogDatabase(url, cipher)
    try:
        catalog.upgrade()
        yield catalog
    finally:
        catalog.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def scenario(args: argparse.Namespace) -> dict[str, Any]:
    """One shape in this (fresh) process: first persist, best unchanged re-persist, peak RSS."""
    from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH, SCRIPTED

    result = build(args.shape, args.tables)
    fields = sum(1 for table in result.tables for _ in table.iter_fields())
    with catalog_database(args) as catalog:
        catalog.factory.register(SCRIPTED, IMPORT_PATH)
        source = catalog.data_sources.create(
            tenant_id="bench",
            name=f"bench-{args.shape}",
            connector_type=SCRIPTED,
            config={"source_file": "/nonexistent.json"},
            credentials={"password": "unused"},
        )
        rss_before = high_water_mark_mib()
        started = time.perf_counter()
        first = catalog.persistence.persist(source.tenant_id, source.id, result)
        first_s = time.perf_counter() - started
        again_s, again = float("inf"), None
        for _ in range(args.repeat):
            started = time.perf_counter()
            again = catalog.persistence.persist(source.tenant_id, source.id, result)
            again_s = min(again_s, time.perf_counter() - started)
        assert again is not None
    totals = again.totals()
    return {
        "shape": args.shape,
        "fields": fields,
        "nested": sum(
            1 for table in result.tables for _, parent, _, _ in table.iter_fields() if parent
        ),
        "first_s": first_s,
        "first_written": first.totals()["inserted"],
        "again_s": again_s,
        "again_written": totals["inserted"]
        + totals["updated"]
        + totals["deleted"]
        + totals["restored"],
        "rss_before_mib": rss_before,
        "rss_peak_mib": high_water_mark_mib(),
    }


def high_water_mark_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--shape", choices=["flat", "nested"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shape:
        print(json.dumps(scenario(args)))
        return
    catalog = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"catalog: {catalog}; {args.tables} tables; best of {args.repeat} re-persists")
    for shape in ("flat", "nested"):
        child = subprocess.run(  # noqa: S603 (this same script, our own arguments)
            [sys.executable, __file__, *sys.argv[1:], "--shape", shape],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        label = "baseline: all top-level" if shape == "flat" else "half nested, 3 levels"
        print(
            f"{label:>24}: {r['fields']:,} fields ({r['nested']:,} nested); first persist "
            f"{r['first_s']:5.2f} s ({r['first_written']:,} rows); unchanged re-persist "
            f"{r['again_s']:5.2f} s ({r['again_written']} rows written); peak RSS "
            f"{r['rss_peak_mib']:.0f} MiB ({r['rss_before_mib']:.0f} MiB before the first persist)"
        )


if __name__ == "__main__":
    main()
