"""Persistence CPU against a baseline checkout, alternating, in one run (issue 10's 5% budget).

Each round runs one fresh process per checkout (this one, then --baseline, alternating), on its own
fresh PostgreSQL catalog database: a first persist of --tables flat tables of --columns columns, then
--repeat unchanged re-persists. It prints the CPU time of the persist calls (`time.process_time`:
less sensitive to the shared machine's load than wall time) and the 1-minute load average beside
each figure, then the median per checkout and the change against the baseline.

The baseline is a checkout of the code before nested fields (commit 620c267):
    git worktree add /tmp/mp-base 620c267
    .venv/bin/python bench/persistence/bench_cpu.py --baseline /tmp/mp-base
Both run with this virtualenv's interpreter, each checkout first on PYTHONPATH.
Flat columns are what the baseline can store; bench_persist.py measures nested fields.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, time, uuid
import sqlalchemy as sa
from cryptography.fernet import Fernet
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.models import (
    ColumnMetadata, DatabaseMetadata, DataType, ExtractionResult, SchemaMetadata, TableMetadata,
    utcnow,
)
from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH, SCRIPTED

url, tables, columns, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
now = utcnow()
result = ExtractionResult(
    connector_type="scripted", status="success", started_at=now, finished_at=now,
    databases=[DatabaseMetadata(name="d")], schemas=[SchemaMetadata(database="d", name="s")],
    tables=[
        TableMetadata(database="d", schema_name="s", name=f"t{i}", columns=[
            ColumnMetadata(name=f"c{j}", ordinal=j, native_type="varchar(20)",
                           data_type=DataType.STRING)
            for j in range(1, columns + 1)
        ])
        for i in range(tables)
    ],
)
admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
name = f"mp_bench_cpu_{uuid.uuid4().hex[:8]}"
with admin.connect() as connection:
    connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
try:
    target = sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    catalog = CatalogDatabase(target, CredentialCipher([Fernet.generate_key().decode()]))
    catalog.upgrade()
    catalog.factory.register(SCRIPTED, IMPORT_PATH)
    source = catalog.data_sources.create(
        tenant_id="bench", name="bench", connector_type=SCRIPTED,
        config={"source_file": "/nonexistent.json"}, credentials={"password": "unused"},
    )
    started = time.process_time()
    catalog.persistence.persist(source.tenant_id, source.id, result)
    first = time.process_time() - started
    again = []
    for _ in range(repeat):
        started = time.process_time()
        catalog.persistence.persist(source.tenant_id, source.id, result)
        again.append(time.process_time() - started)
    catalog.dispose()
finally:
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
print(json.dumps({"first": first, "again": min(again)}))
"""


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def run(checkout: Path, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", CHILD, args.postgres_url, str(args.tables), str(args.columns),
         str(args.repeat)],
        env=env, check=True, capture_output=True, text=True, cwd=checkout,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="checkout of the baseline")
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="re-persists per process (best)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    figures: dict[str, list[dict[str, float]]] = {"baseline": [], "current": []}
    print(f"{args.tables} tables x {args.columns} columns, PostgreSQL catalog, CPU seconds")
    for round_ in range(args.rounds):
        for label, checkout in (("baseline", args.baseline.resolve()), ("current", HERE)):
            before = load()
            figure = run(checkout, args)
            figures[label].append(figure)
            print(
                f"round {round_ + 1} {label:8}  first {figure['first']:.3f}  "
                f"unchanged {figure['again']:.3f}  (load {before} -> {load()})",
                flush=True,
            )
    medians = {
        label: {key: statistics.median(f[key] for f in runs) for key in ("first", "again")}
        for label, runs in figures.items()
    }
    for key, title in (("first", "first persist"), ("again", "unchanged re-persist")):
        base, current = medians["baseline"][key], medians["current"][key]
        print(
            f"{title:21} median baseline {base:.3f}  current {current:.3f}  "
            f"({(current / base - 1) * 100:+.1f}%)"
        )


if __name__ == "__main__":
    main()
