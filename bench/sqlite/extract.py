"""Benchmark: SQLite extraction time on generated schemas of growing size.

Usage: .venv/bin/python bench/sqlite/extract.py [--tables 200 1000 3000] [--columns 12]

Each schema has N tables of C columns, a foreign key and two indexes per table, one view per ten
tables, and 100 rows per table. It prints the wall time of a full extraction with and without row
counts, and with one broken view (which makes the reader bisect), so regressions in the bulk reading
show up as numbers rather than as test failures.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

from metadata_pipelines.extractors.sqlite import SQLiteExtractor


def generate(path: Path, tables: int, columns: int) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        extra = ", ".join(f"c{j:02d} TEXT DEFAULT 'x'" for j in range(columns - 3))
        for i in range(tables):
            connection.execute(
                f"CREATE TABLE t{i:05d} (id INTEGER PRIMARY KEY, "
                f"parent_id INTEGER REFERENCES t{max(i - 1, 0):05d} (id), amount DECIMAL(10,2), "
                f"{extra})"
            )
            connection.execute(f"CREATE INDEX ix_t{i:05d}_parent ON t{i:05d} (parent_id)")
            connection.execute(
                f"CREATE UNIQUE INDEX ux_t{i:05d}_c00 ON t{i:05d} (c00, amount) WHERE amount > 0"
            )
            connection.execute(
                f"WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 100) "
                f"INSERT INTO t{i:05d} (id, amount, c00) SELECT k, k, 'v' || k FROM n"
            )
            if i % 10 == 0:
                connection.execute(
                    f"CREATE VIEW v{i:05d} AS SELECT id, amount FROM t{i:05d} WHERE amount > 10"
                )
        connection.commit()


def break_one_view(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(
            "CREATE TABLE doomed (x); CREATE VIEW v_doomed AS SELECT x FROM doomed; "
            "DROP TABLE doomed;"
        )


def timed(path: Path, **config: object) -> tuple[float, str, int, int]:
    extractor = SQLiteExtractor({"path": str(path), **config})
    start = time.perf_counter()
    result = asyncio.run(extractor.extract_metadata())
    elapsed = time.perf_counter() - start
    return elapsed, result.status.value, result.counts["column"], len(result.errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[200, 1000, 3000])
    parser.add_argument("--columns", type=int, default=12)
    args = parser.parse_args()
    print(f"{'tables':>7} {'case':<22} {'seconds':>8} {'columns':>8} {'errors':>6} status")
    with tempfile.TemporaryDirectory() as directory:
        for tables in args.tables:
            path = Path(directory) / f"bench_{tables}.db"
            generate(path, tables, args.columns)
            for case, config in (("full", {}), ("no row counts", {"include_row_counts": False})):
                seconds, status, columns, errors = timed(path, **config)
                print(f"{tables:>7} {case:<22} {seconds:>8.3f} {columns:>8} {errors:>6} {status}")
            break_one_view(path)
            seconds, status, columns, errors = timed(path)
            case = "one broken view"
            print(f"{tables:>7} {case:<22} {seconds:>8.3f} {columns:>8} {errors:>6} {status}")


if __name__ == "__main__":
    main()
