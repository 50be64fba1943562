"""Snowflake connector benchmark on the local server: statements per database, extraction against
the same statements sent bare.

Starts fakesnow (the test server, DuckDB underneath) on a free loopback port behind the tests' front
(fakes/snowflake_front.py: it answers `SHOW ... KEYS IN DATABASE`, which fakesnow lacks, and refuses
SHOW answers over 10,000 rows as Snowflake does), then creates `--databases` databases of `--tables`
tables of 20 columns each (two schemas a database), plus one database of 4 x `--tables` tables.

Prints, in one run:
- statements sent per database at 1x and at 4x the tables: constant in the number of tables (the 4x
  database's columns exceed SHOW's 10,000 rows, so it costs the refused SHOW COLUMNS and one
  INFORMATION_SCHEMA.COLUMNS statement: a warehouse is configured for that);
- extraction: SnowflakeExtractor.extract_metadata() over the 1x databases, end to end, against the
  baseline: the very statements it sent, replayed bare over one session of the same connector with
  the same concurrency, rows fetched as dicts and thrown away. Runs take turns; best of --repeat.
- the machine's load average (`os.getloadavg`) before and after.

Usage: python bench/snowflake/bench_sync.py [--databases 10] [--tables 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from snowflake import connector as snowflake_connector  # noqa: E402
from snowflake.connector import DictCursor  # noqa: E402

from metadata_pipelines.extractors.snowflake import SnowflakeExtractor  # noqa: E402
from metadata_pipelines_tests.fakes.snowflake_front import SnowflakeFront  # noqa: E402
from metadata_pipelines_tests.support.local_server import (  # noqa: E402
    LocalServer,
    free_port,
    port_open,
)

COLUMN_TYPES = ["VARCHAR(100)", "NUMBER(10,2)", "TIMESTAMP_NTZ", "BOOLEAN", "NUMBER(38,0)"]
PREFIX = "BENCH_"
CONCURRENCY = 4
CREDENTIALS = {"user": "BENCH", "password": "unused-by-the-local-server"}


def create(port: int, name: str, tables: int) -> None:
    connection = snowflake_connector.connect(
        account="fakesnow", host="127.0.0.1", port=port, protocol="http", **CREDENTIALS
    )
    columns = ", ".join(
        ["ID NUMBER(38,0) PRIMARY KEY"]
        + [f"C{i} {COLUMN_TYPES[i % len(COLUMN_TYPES)]}" for i in range(1, 20)]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
        for schema in ("A", "B"):
            cursor.execute(f"CREATE SCHEMA {name}.{schema}")
        for t in range(tables):
            cursor.execute(f"CREATE TABLE {name}.{'AB'[t % 2]}.T{t:04d} ({columns})")
    connection.close()


def config(front: SnowflakeFront, include: list[str]) -> dict[str, Any]:
    return {
        "account": "fakesnow", "host": "127.0.0.1", "port": front.port, "protocol": "http",
        "include_databases": include, "max_concurrent_databases": CONCURRENCY,
        "warehouse": "BENCH_WH",
    }  # fmt: skip


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    value = run()
    return time.perf_counter() - started, value


def bare(front: SnowflakeFront, per_database: dict[str, list[str]]) -> int:
    """The same statements over one session, databases CONCURRENCY at a time, rows discarded."""
    connection = snowflake_connector.connect(
        account="fakesnow", host="127.0.0.1", port=front.port, protocol="http",
        session_parameters={"QUERY_TAG": "metadata_pipelines"}, **CREDENTIALS,
    )  # fmt: skip

    def read(statements: list[str]) -> int:
        count = 0
        for sql in statements:
            with connection.cursor(DictCursor) as cursor:
                cursor.execute(sql)
                count += len(cursor.fetchall())
        return count

    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            return sum(pool.map(read, per_database.values()))
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", type=int, default=10)
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()

    port = free_port()
    command = str(Path(sys.executable).parent / "fakesnow")
    server = LocalServer(
        name="fakesnow",
        command=[command if Path(command).exists() else shutil.which("fakesnow") or "fakesnow",
                 "-s", "--host", "127.0.0.1", "-p", str(port)],
        ready=lambda: port_open(port),
    )  # fmt: skip
    server.start()
    front = SnowflakeFront(upstream=f"http://127.0.0.1:{port}").start()
    front.show_row_limit = 10_000
    try:
        started = time.perf_counter()
        names = [f"{PREFIX}{i:02d}" for i in range(args.databases)]
        for name in names:
            create(port, name, args.tables)
        big = f"{PREFIX}X4"
        create(port, big, 4 * args.tables)
        print(
            f"generated {args.databases} x {args.tables} tables x 20 columns and 1 x "
            f"{4 * args.tables} tables in {time.perf_counter() - started:.1f} s"
        )

        scaling = SnowflakeExtractor(config(front, [names[0], big]), CREDENTIALS)
        result = asyncio.run(scaling.extract_metadata())
        assert result.status.value == "success", result.errors
        past = [s for s in scaling.statements if "INFORMATION_SCHEMA" in s]
        print(
            f"statements per database: {scaling.statements_per_database[names[0]]} at "
            f"{args.tables} tables ({args.tables * 20:,} columns), "
            f"{scaling.statements_per_database[big]} at {4 * args.tables} tables "
            f"({4 * args.tables * 20:,} columns"
            + (", past SHOW's 10,000 rows: SHOW COLUMNS refused, then INFORMATION_SCHEMA)"
               if past else ")")
        )  # fmt: skip

        pattern = [f"{PREFIX}\\d+"]
        extractor = SnowflakeExtractor(config(front, pattern), CREDENTIALS)
        result = asyncio.run(extractor.extract_metadata())
        counts = result.counts
        per_database: dict[str, list[str]] = defaultdict(list)
        for sql in extractor.statements:
            for name in names:
                if f'"{name}"' in sql:
                    per_database[name].append(sql)
        print(
            f"extraction reads {counts['database']} databases, {counts['table']} tables, "
            f"{counts['column']:,} columns in {extractor.statements_sent} statements"
        )
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for label, run in (
                ("bare", lambda: bare(front, per_database)),
                ("extract", lambda: asyncio.run(extractor.extract_metadata())),
            ):
                wall, _ = timed(run)
                best[label] = min(wall, best.get(label, wall))
        ratio = best["extract"] / best["bare"]
        print(
            f"extraction {best['extract']:.2f} s against the same statements sent bare "
            f"{best['bare']:.2f} s: {ratio:.2f}x (target <= 1.5x; best of {args.repeat})"
        )
    finally:
        front.stop()
        server.stop()
    print(f"load average before {load_before}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
