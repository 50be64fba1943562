"""PostgreSQL connector benchmark: raw floor, our extraction, persisting into PostgreSQL, scaling.

Prints, in one run (run generate.py first; this script calls it, a no-op when the databases exist):
- raw floor: the connector's own pg_catalog queries for the same databases, sent over the same kind
  of sessions (one connection and one REPEATABLE READ transaction per database, as many at once as
  the extractor), rows fetched by psycopg2 and thrown away: what any Python tool must pay at least;
- our extraction: PostgreSQLExtractor.extract_metadata() end to end, interleaved with the floor run
  by run, both at 1 and at 4 databases at a time; statements sent per database;
- partitions: database 0 (500 tables and a table of 1,000 partitions) against database 1 (500 tables),
  so the partitioned table's cost shows on its own, and with include_partitions on;
- scaling: statements per database for `small` (T/4 tables) and for a T-table database;
- first full sync into a fresh PostgreSQL catalog (extract + persist) and an unchanged re-sync,
  which must write 0 rows; the max RSS of one first full sync in a fresh process.

Timings are the best of --repeat runs, wall and CPU time of this process (all threads).

Usage: python bench/postgresql/bench_sync.py [--repeat 5] [--no-persist]
       [--url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

from metadata_pipelines.extractors.postgresql import PostgreSQLExtractor, queries
from metadata_pipelines.extractors.postgresql.mapper import select_relations
from metadata_pipelines.models import ExtractionResult


def timed(run: Callable[[], Any]) -> tuple[float, float, Any]:
    gc.collect()
    started, started_cpu = time.perf_counter(), time.process_time()
    value = run()
    return time.perf_counter() - started, time.process_time() - started_cpu, value


def interleaved(
    repeat: int, runs: dict[str, Callable[[], Any]]
) -> dict[str, tuple[float, float, Any]]:
    """Best wall and best CPU time of each run, the runs taking turns so load hits all alike."""
    best: dict[str, tuple[float, float, Any]] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            wall, cpu, value = timed(run)
            old = best.get(name)
            best[name] = (
                min(wall, old[0]) if old else wall,
                min(cpu, old[1]) if old else cpu,
                value,
            )
    return best


def extractor(args: argparse.Namespace, **overrides: Any) -> PostgreSQLExtractor:
    url = sa.make_url(args.url)
    config = {"host": url.host or "127.0.0.1", "port": url.port or 5432, **overrides}
    if "database" not in overrides:
        config["include_databases"] = [re.escape(args.prefix) + r"\d+"]
    return PostgreSQLExtractor(config, {"username": url.username or "postgres"})


def extract(args: argparse.Namespace, **overrides: Any) -> tuple[ExtractionResult, dict[str, int]]:
    ex = extractor(args, **overrides)
    result = asyncio.run(ex.extract_metadata())
    return result, dict(ex.statements_per_database)


def raw_floor(args: argparse.Namespace, databases: list[str], concurrency: int) -> tuple[int, int]:
    """The connector's queries for `databases`, rows discarded: (statements, rows)."""
    config = extractor(args).config

    def one(database: str) -> tuple[int, int]:
        connection = generate.connect(args.url, database)
        caps = queries.Capabilities(connection.server_version)
        statements = rows = 0
        try:
            with connection.cursor() as cursor:

                def run(sql: str, params: dict[str, Any] | None = None) -> list[Any]:
                    nonlocal statements, rows
                    cursor.execute(sql, params)
                    statements += 1
                    fetched = cursor.fetchall() if cursor.description else []
                    rows += len(fetched)
                    return fetched

                run(queries.BEGIN)
                (_, _, bodies), *_ = run(queries.database(True))
                schemas = {
                    oid: name
                    for oid, name, *_ in run(queries.SCHEMAS)
                    if config.wants_schema(database, name)
                }
                relations = run(queries.relations(True), {"schemas": list(schemas)})
                selection = select_relations(database, schemas, relations, config)
                columns = run(queries.COLUMNS, {"relations": selection.with_columns})
                types = sorted({r[10] for r in columns if r[10] >= queries.FIRST_NORMAL_OID})
                if types:
                    run(queries.TYPES, {"types": types})
                run(queries.CONSTRAINTS, {"relations": selection.with_keys})
                run(queries.indexes(caps), {"relations": selection.with_indexes})
                run(queries.routines(caps, bodies), {"schemas": list(schemas)})
                if selection.views:
                    run(queries.VIEW_DEFINITIONS, {"relations": selection.views})
                run(queries.COMMIT)
        finally:
            connection.close()
        return statements, rows

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, databases))
    return sum(s for s, _ in results), sum(r for _, r in results)


@contextmanager
def bench_catalog(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """A fresh PostgreSQL catalog with the benchmark source registered; dropped afterwards."""
    from cryptography.fernet import Fernet

    from metadata_pipelines.catalog.database import CatalogDatabase
    from metadata_pipelines.catalog.secrets import CredentialCipher

    admin_url = sa.make_url(args.url).set(drivername="postgresql+psycopg2")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"mp_bench_pg_catalog_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    catalog = CatalogDatabase(url, cipher=CredentialCipher([generate_key(Fernet)]))
    try:
        catalog.upgrade()
        ex = extractor(args)
        source = catalog.data_sources.create(
            tenant_id="bench",
            name="bench-postgresql",
            connector_type="postgresql",
            config=ex.config.model_dump(),
            credentials={"username": ex.credentials.username},
        )
        yield catalog, source
    finally:
        catalog.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def generate_key(fernet: Any) -> str:
    return fernet.generate_key().decode()


def persist_benchmark(args: argparse.Namespace) -> None:
    with bench_catalog(args) as (catalog, source):

        def sync() -> tuple[float, float, Any]:
            started = time.perf_counter()
            result, _ = extract(args)
            extracted = time.perf_counter()
            stats = catalog.persistence.persist(source.tenant_id, source.id, result)
            return extracted - started, time.perf_counter() - extracted, stats

        print_sync("first full sync", *sync())
        best = None
        for _ in range(args.repeat):
            run = sync()
            if best is None or run[0] + run[1] < best[0] + best[1]:
                best = run
        assert best is not None
        print_sync("unchanged re-sync", *best)


def print_sync(label: str, extract_s: float, persist_s: float, stats: Any) -> None:
    totals = stats.totals()
    written = sum(v for k, v in totals.items() if k != "unchanged")
    print(
        f"{label:>22}: {extract_s + persist_s:6.2f} s (extract {extract_s:.2f} s + persist "
        f"{persist_s:.2f} s); rows written {written}; {totals}"
    )


def single_sync_rss(args: argparse.Namespace) -> None:
    """Max RSS of one first full sync in a fresh process: what a run worker really holds."""
    child = subprocess.run(  # noqa: S603 (this same script, our own arguments)
        [sys.executable, __file__, "--single-sync", json.dumps(vars(args))],
        capture_output=True,
        text=True,
        check=True,
    )
    print(child.stdout.strip())


def _single_sync(options: str) -> None:
    args = argparse.Namespace(**json.loads(options))
    with bench_catalog(args) as (catalog, source):
        before = _high_water_mark_mib()
        result, _ = extract(args)
        catalog.persistence.persist(source.tenant_id, source.id, result)
        after = _high_water_mark_mib()
    print(
        f"  max RSS of one first full sync in a fresh process: {after:7.1f} MiB "
        f"({before:.0f} MiB before it started)"
    )


def _high_water_mark_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=generate.DEFAULT_URL)
    parser.add_argument("--prefix", default=generate.DEFAULT_PREFIX)
    parser.add_argument("--databases", type=int, default=4)
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-persist", action="store_true")
    args = parser.parse_args()
    generate.generate(
        args.url, args.prefix, args.databases, args.tables, args.columns, args.views,
        args.partitions,
    )  # fmt: skip
    databases = [f"{args.prefix}{i}" for i in range(args.databases)]

    extract(args)  # warm the server's caches once, as a scheduled sync would find them
    runs: dict[str, Callable[[], Any]] = {}
    for concurrency in (1, 4):
        runs[f"raw floor, {concurrency} at a time"] = lambda c=concurrency: raw_floor(
            args, databases, c
        )
        runs[f"ours, {concurrency} at a time"] = lambda c=concurrency: extract(
            args, max_concurrent_databases=c
        )
    best = interleaved(args.repeat, runs)
    result, statements = best["ours, 4 at a time"][2]
    counts = result.counts
    print(
        f"schema: {len(result.databases)} databases, {counts['table']} tables, "
        f"{counts['view']} views, {counts['column']} columns, {counts['constraint']} constraints, "
        f"{counts['index']} indexes, {counts['routine']} routines; status {result.status.value}"
    )
    for concurrency in (1, 4):
        floor = best[f"raw floor, {concurrency} at a time"]
        ours = best[f"ours, {concurrency} at a time"]
        print(
            f"{concurrency} database(s) at a time: floor {floor[0]:.2f} s wall, {floor[1]:.2f} s CPU"
            f" ({floor[2][0]} statements, {floor[2][1]} rows); ours {ours[0]:.2f} s wall, "
            f"{ours[1]:.2f} s CPU = {ours[0] / floor[0]:.2f}x the floor's wall, "
            f"{ours[1] / floor[1]:.2f}x its CPU"
        )
    print(f"statements per database: {statements}")
    del result, best

    one_db = {
        "partitioned database (0)": lambda: extract(args, database=databases[0]),
        "plain database (1)": lambda: extract(args, database=databases[1]),
        "database 0, include_partitions": lambda: extract(
            args, database=databases[0], include_partitions=True
        ),
    }
    partitions = interleaved(args.repeat, one_db)
    for label, (wall, cpu, (res, stmts)) in partitions.items():
        print(
            f"{label:>32}: {wall:.2f} s wall, {cpu:.2f} s CPU; {len(res.tables)} tables; "
            f"statements {sum(stmts.values())}"
        )
    small, _ = extract(args, database=f"{args.prefix}small")
    _, small_statements = extract(args, database=f"{args.prefix}small")
    _, big_statements = extract(args, database=databases[1])
    print(
        f"scaling: {len(small.tables)} tables -> {small_statements} statements; "
        f"{args.tables} tables -> {big_statements} statements"
    )

    if args.no_persist:
        print("persist: skipped (--no-persist)")
        return
    persist_benchmark(args)
    single_sync_rss(args)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  process max RSS over the whole benchmark: {max_rss:7.1f} MiB (many results alive)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--single-sync":
        _single_sync(sys.argv[2])
    else:
        main()
