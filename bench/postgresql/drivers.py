"""psycopg2 against psycopg 3 on the PostgreSQL connector's own queries (the driver decision).

Reads the benchmark databases (bench/postgresql/generate.py) with the connector's per-database
queries, once through psycopg2 and once through psycopg 3, each fetching every row into Python tuples
and discarding them; the two take turns run by run, so machine load hits both alike. Prints the best
wall and CPU time of each.

psycopg 3 is not a dependency of the project: `pip install 'psycopg[binary]'` to run this.

Usage: python bench/postgresql/drivers.py [--repeat 7] [--url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

from metadata_pipelines.extractors.postgresql import queries
from metadata_pipelines.extractors.postgresql.config import PostgreSQLConfig
from metadata_pipelines.extractors.postgresql.mapper import select_relations

OPTIONS = "-c search_path=pg_catalog -c TimeZone=UTC"


def read_database(connect: Callable[[str], Any], database: str) -> int:
    """The connector's queries for one database over `connect`'s connection: rows fetched."""
    config = PostgreSQLConfig(host="unused")
    connection = connect(database)
    rows = 0
    try:
        caps = queries.Capabilities(connection.info.server_version)
        cursor = connection.cursor()

        def run(sql: str, params: dict[str, Any] | None = None) -> list[Any]:
            nonlocal rows
            cursor.execute(sql, params)
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
        run(queries.COLUMNS, {"relations": selection.with_columns})
        run(queries.CONSTRAINTS, {"relations": selection.with_keys})
        run(queries.indexes(caps), {"relations": selection.with_indexes})
        run(queries.routines(caps, bodies), {"schemas": list(schemas)})
        if selection.views:
            run(queries.VIEW_DEFINITIONS, {"relations": selection.views})
        run(queries.COMMIT)
    finally:
        connection.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=generate.DEFAULT_URL)
    parser.add_argument("--prefix", default=generate.DEFAULT_PREFIX)
    parser.add_argument("--databases", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import psycopg
    import psycopg2

    def via_psycopg2(database: str) -> Any:
        connection = psycopg2.connect(args.url, dbname=database, options=OPTIONS)
        connection.autocommit = True
        return connection

    def via_psycopg(database: str) -> Any:
        # The same URL with another database; autocommit, so BEGIN / COMMIT are ours as above.
        return psycopg.connect(args.url, dbname=database, options=OPTIONS, autocommit=True)

    databases = [f"{args.prefix}{i}" for i in range(args.databases)]
    drivers = {
        f"psycopg2 {psycopg2.__version__.split()[0]}": via_psycopg2,
        f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__})": via_psycopg,
    }
    best: dict[str, list[float]] = {name: [float("inf"), float("inf"), 0] for name in drivers}
    for _ in range(args.repeat):
        for name, connect in drivers.items():
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            rows = sum(read_database(connect, database) for database in databases)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu), rows]
    for name, (wall, cpu, rows) in best.items():
        print(
            f"{name:>28}: {wall:.3f} s wall, {cpu:.3f} s CPU, {rows} rows (best of {args.repeat})"
        )


if __name__ == "__main__":
    main()
