"""Scale benchmark: full syncs of a generated MariaDB source through the job into PostgreSQL.

The source: databases `mp_scale_0` .. `mp_scale_49`, each 1,000 tables of 20 columns (with keys,
indexes, foreign keys) and 10 views, generated once by bench/mysql/generate.py and reused (this script
calls it; it is a no-op when they exist). Sizes read from it:
- 10k columns: 500 tables of `mp_scale_0` (include_tables t0..t499),
- 100k columns: 5 databases, 5,000 tables,
- 1M columns: all 50 databases, 50,000 tables;
- 200k-one (only when asked for): one database `mp_one_0` of 10,000 tables, which the connector
  reads in parts of 1,000 tables (`batch_tables`).

For each size, in a fresh PostgreSQL catalog database: a first sync, then an unchanged re-sync, each
`execute_sync` (the `metadata_sync` job, in-process executor: its three steps in one process, the
handover on local files) in a fresh Python process, with a thread sampling the process's RSS every
20 ms. Printed per sync: wall time and peak RSS per step (from the run's step events), the process's
peak RSS (VmHWM), the rows each catalog table took (pg_stat_user_tables: inserts, updates, deletes,
so an unchanged re-sync must show 0 for assets and asset_fields), and the load average.

Usage: .venv/bin/python bench/scale/bench_sync.py [--sizes 10k,100k,1m[,200k-one]]
       [--postgres-url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres] [--mysql-host ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mysql"))

import generate

PREFIX = "mp_scale_"
ONE_PREFIX, ONE_TABLES = "mp_one_", 10_000
DATABASES, TABLES, COLUMNS, VIEWS = 50, 1000, 20, 10
SIZES: dict[str, dict[str, Any]] = {
    "10k": {
        "include_databases": [f"{PREFIX}0"],
        "include_tables": [r"t([0-9]|[1-9][0-9]|[1-4][0-9][0-9])"],
    },
    "100k": {"include_databases": [rf"{PREFIX}[0-4]"]},
    "1m": {"include_databases": [rf"{PREFIX}[0-9]+"]},
    # One database of 10,000 tables, read by the MySQL connector in parts of `batch_tables`.
    "200k-one": {"include_databases": [f"{ONE_PREFIX}0"], "batch_tables": 1000},
}
STEPS = ("check_connection", "extract_metadata", "persist_metadata")


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(options: dict[str, Any]) -> None:
    """One sync in this fresh process; prints a JSON line of figures."""
    os.environ["METADATA_PIPELINES_CATALOG_URL"] = options["catalog_url"]
    os.environ["METADATA_PIPELINES_SECRET_KEY"] = options["secret_key"]
    os.environ["DAGSTER_HOME"] = options["dagster_home"]
    import dagster as dg

    from metadata_pipelines.orchestration.instance import get_instance
    from metadata_pipelines.orchestration.runner import execute_sync

    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.time(), _rss_mib()))
            stop.wait(0.02)

    instance = get_instance()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    outcome = execute_sync(
        options["source_id"], "bench", instance=instance, trigger="manual", log_level="INFO"
    )
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    bounds: dict[str, list[float]] = {}
    for record in instance.all_logs(outcome.dagster_run_id):
        event = record.dagster_event
        if event is None or event.step_key not in STEPS:
            continue
        if event.event_type is dg.DagsterEventType.STEP_START:
            bounds.setdefault(event.step_key, [record.timestamp, record.timestamp])[0] = (
                record.timestamp
            )
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            bounds.setdefault(event.step_key, [record.timestamp, record.timestamp])[1] = (
                record.timestamp
            )
    steps = {
        step: {
            "seconds": end - begin,
            "peak_rss_mib": max((rss for at, rss in samples if begin <= at <= end), default=0.0),
        }
        for step, (begin, end) in bounds.items()
    }
    print(
        json.dumps(
            {
                "status": outcome.status,
                "wall": wall,
                "steps": steps,
                "process_peak_rss_mib": _hwm_mib(),
                "cpu_seconds": sum(os.times()[:2]),
                "stats": outcome.connector_run.stats if outcome.connector_run else None,
            }
        )
    )


def _table_counters(engine: sa.Engine) -> dict[str, tuple[int, int, int]]:
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return {
            row.relname: (row.n_tup_ins, row.n_tup_upd, row.n_tup_del)
            for row in connection.execute(
                sa.text(
                    "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
                    "WHERE relname IN ('assets', 'asset_fields', 'connector_runs')"
                )
            )
        }


def _written(before: dict, after: dict) -> dict[str, dict[str, int]]:
    return {
        table: dict(
            zip(
                ("ins", "upd", "del"),
                (a - b for a, b in zip(after[table], before.get(table, (0, 0, 0)), strict=True)),
                strict=True,
            )
        )
        for table in sorted(after)
    }


def run_size(args: argparse.Namespace, size: str) -> None:
    from cryptography.fernet import Fernet

    from metadata_pipelines.catalog.database import CatalogDatabase
    from metadata_pipelines.catalog.secrets import CredentialCipher

    admin = sa.create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = f"mp_bench_scale_{size}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    catalog_url = (
        sa.make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    )
    key = Fernet.generate_key().decode()
    home = tempfile.mkdtemp(prefix="mp-bench-scale-")
    catalog = CatalogDatabase(catalog_url, CredentialCipher([key]))
    try:
        catalog.upgrade()
        source = catalog.data_sources.create(
            tenant_id="bench",
            name=f"scale-{size}",
            connector_type="mysql",
            config={
                "host": args.mysql_host,
                "port": args.mysql_port,
                "read_timeout": 3600,
                **SIZES[size],
            },
            credentials={"username": args.mysql_user, "password": args.mysql_password},
        )
        options = {
            "catalog_url": catalog_url,
            "secret_key": key,
            "dagster_home": home,
            "source_id": source.id,
        }
        for label in ("first sync", "unchanged re-sync"):
            before = _table_counters(catalog.engine)
            load = _loadavg()
            child_run = subprocess.run(  # noqa: S603 (this script, our own options)
                [sys.executable, __file__, "--child", json.dumps(options)],
                capture_output=True,
                text=True,
                check=False,
            )
            if child_run.returncode != 0:
                print(child_run.stdout[-3000:], child_run.stderr[-3000:])
                raise SystemExit(f"{size} {label}: the sync process failed")
            figures = json.loads(child_run.stdout.strip().splitlines()[-1])
            time.sleep(1.5)  # the counters of the sync's backends reach pg_stat
            written = _written(before, _table_counters(catalog.engine))
            extracted = (figures["stats"] or {}).get("extracted", {})
            steps = "; ".join(
                f"{step.split('_')[0]} {values['seconds']:.1f} s / {values['peak_rss_mib']:.0f} MiB"
                for step, values in figures["steps"].items()
            )
            print(
                f"{size:>4} {label:<17} {figures['status']:<9} {figures['wall']:6.1f} s total "
                f"({figures['cpu_seconds']:.1f} s CPU), "
                f"peak RSS {figures['process_peak_rss_mib']:.0f} MiB | {steps} | "
                f"{extracted.get('table', 0)} tables, {extracted.get('column', 0)} columns | "
                f"rows written: assets {written['assets']}, asset_fields {written['asset_fields']} "
                f"| load before {load}",
                flush=True,
            )
    finally:
        catalog.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,1m")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--mysql-host", default="127.0.0.1")
    parser.add_argument("--mysql-port", type=int, default=3306)
    parser.add_argument("--mysql-user", default="root")
    parser.add_argument("--mysql-password", default="")
    args = parser.parse_args()
    connection = generate.connect(
        args.mysql_host, args.mysql_port, args.mysql_user, args.mysql_password
    )
    try:
        generate.generate(connection, PREFIX, DATABASES, TABLES, COLUMNS, VIEWS)
        if "200k-one" in args.sizes:
            generate.generate(connection, ONE_PREFIX, 1, ONE_TABLES, COLUMNS, VIEWS)
    finally:
        connection.close()
    for size in args.sizes.split(","):
        run_size(args, size)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()
