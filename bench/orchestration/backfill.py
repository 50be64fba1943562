"""Benchmark: a backfill over N data sources on the PostgreSQL Dagster instance.

Usage: .venv/bin/python bench/orchestration/backfill.py [--sources 20] [--max-concurrent-runs 4]

Starts the real dagster-daemon and dagster-webserver (the repository's dagster.yaml: queued run
coordinator, one run per data source, at most 4 per connector type, the global limit given here) on
two fresh PostgreSQL databases (Dagster storage, catalog), registers N SQLite copies of the sample
shop, lets the data-source sensor run their first syncs (warm-up, reported apart), then launches one
backfill over all partitions through GraphQL and waits for it. It prints:
- total time from the GraphQL call to the last run's end, and runs per minute;
- per run: queue wait (created -> worker launched), worker start (launched -> RUN_START: the process
  spawn and code load of the default run launcher), and the in-run overhead, that is the run's
  duration (RUN_START -> end) minus its extract_metadata and persist_metadata steps;
- the per-run overhead against the 3 s target, with and without the worker start.
The PostgreSQL server is METADATA_PIPELINES_TEST_POSTGRES_URL (default: local, user postgres).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.support.dagster_deployment import running_deployment, wait_for

ADMIN_URL = os.environ.get(
    "METADATA_PIPELINES_TEST_POSTGRES_URL",
    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
)
WORK_STEPS = ("extract_metadata", "persist_metadata")
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _database(admin: sa.Engine, name: str) -> str:
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _finished(instance: dg.DagsterInstance, run_filter: dg.RunsFilter, count: int):
    records = list(instance.get_run_records(run_filter))
    done = len(records) >= count and all(r.dagster_run.status in FINISHED for r in records)
    return records if done else None


def _event_time(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> float:
    [record] = instance.get_records_for_run(run_id, of_type=kind).records
    return record.timestamp


def _run_figures(instance: dg.DagsterInstance, record: dg.RunRecord) -> dict[str, float]:
    run_id = record.dagster_run.run_id
    steps = {s.step_key: s for s in instance.get_run_step_stats(run_id)}
    work = sum(steps[k].end_time - steps[k].start_time for k in WORK_STEPS if k in steps)
    launched = _event_time(instance, run_id, dg.DagsterEventType.RUN_STARTING)
    return {
        "queue_wait": launched - record.create_timestamp.timestamp(),
        "worker_start": record.start_time - launched,
        "duration": record.end_time - record.start_time,
        "work": work,
        "overhead": record.end_time - record.start_time - work,
        "overhead_with_start": record.end_time - launched - work,
        "end": record.end_time,
    }


def _summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"  {name:<34} mean {statistics.mean(values):6.2f} s   median "
        f"{statistics.median(values):6.2f} s   p95 {p95:6.2f} s   max {max(values):6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--max-concurrent-runs", type=int, default=4)
    args = parser.parse_args()

    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:8]
    names = [f"mp_bench_orch_dagster_{suffix}", f"mp_bench_orch_catalog_{suffix}"]
    storage_url, catalog_url = (_database(admin, name) for name in names)
    key = Fernet.generate_key().decode()
    catalog = CatalogDatabase(catalog_url, CredentialCipher([key]))
    try:
        catalog.upgrade()
        with tempfile.TemporaryDirectory(prefix="mp-bench-orch-") as tmp:
            home = Path(tmp)
            with running_deployment(
                home / "dagster_home",
                storage_url,
                catalog_url,
                key,
                max_concurrent_runs=args.max_concurrent_runs,
            ) as deployment:
                instance = deployment.instance
                started = time.monotonic()
                keys = [  # partition keys (`<tenant>/<name>`): what a backfill names
                    catalog.data_sources.create(
                        tenant_id="bench",
                        name=f"shop-{index:03}",
                        connector_type="sqlite",
                        config={"path": str(create_sample_database(home / f"shop{index}.db"))},
                    ).partition_key
                    for index in range(args.sources)
                ]
                wait_for(
                    "partitions",
                    lambda: (
                        len(instance.get_dynamic_partitions(DATA_SOURCES_PARTITION)) == len(keys)
                    ),
                    timeout=120,
                )
                wait_for(
                    "first syncs",
                    lambda: _finished(instance, dg.RunsFilter(job_name="metadata_sync"), len(keys)),
                    timeout=600,
                )
                warm_up = time.monotonic() - started

                launched_at = time.time()
                backfill_id = deployment.launch_backfill(sorted(keys))
                records = wait_for(
                    "the backfill",
                    lambda: _finished(
                        instance,
                        dg.RunsFilter(
                            job_name="metadata_sync", tags={"dagster/backfill": backfill_id}
                        ),
                        len(keys),
                    ),
                    timeout=900,
                )
                figures = [_run_figures(instance, r) for r in records]
                statuses = {r.dagster_run.status.value for r in records}
    finally:
        catalog.dispose()
        with admin.connect() as connection:
            for name in names:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    total = max(f["end"] for f in figures) - launched_at
    effective = min(args.max_concurrent_runs, 4)  # dagster.yaml: 4 per connector type
    print(
        f"backfill of {len(records)} data sources (sqlite sample shop, 7 tables + 2 views each); "
        f"max_concurrent_runs={args.max_concurrent_runs}, per connector type 4 "
        f"-> effective concurrency {effective}; run statuses: {sorted(statuses)}"
    )
    print(f"  warm-up (register + sensor first syncs) {warm_up:6.1f} s")
    print(f"  total (GraphQL launch -> last run end)  {total:6.1f} s")
    print(f"  runs per minute                         {len(records) / total * 60:6.1f}")
    for name in (
        "queue_wait",
        "worker_start",
        "duration",
        "work",
        "overhead",
        "overhead_with_start",
    ):
        print(_summary(name, [f[name] for f in figures]))
    mean_overhead = statistics.mean(f["overhead"] for f in figures)
    mean_with_start = statistics.mean(f["overhead_with_start"] for f in figures)
    print(
        f"  target per-run overhead <= 3 s: in-run {mean_overhead:.2f} s "
        f"({'met' if mean_overhead <= 3 else 'MISSED'}), including worker start "
        f"{mean_with_start:.2f} s ({'met' if mean_with_start <= 3 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
