"""Benchmark: what the Celery executor adds to a small sync, per run and per step.

Usage: .venv/bin/python bench/orchestration/celery_overhead.py [--sources 8]

N small SQLite sources (copies of the sample shop: 7 tables + 2 views) on the production
configuration (the repository's dagster.yaml on a fresh PostgreSQL storage database, a fresh
PostgreSQL catalog) are synced once each in three set-ups, interleaved source by source so that the
machine's load falls on all three alike:
- `in_process/local`: the in-process executor, the handover on local files (the default);
- `in_process/s3`: the in-process executor, the handover on S3 (a private moto server);
- `celery/s3`: the Celery executor on RabbitMQ (127.0.0.1:5672, a private virtual host), two step
  workers (`celery_app`, one task at a time each), the handover on S3.
Each run is executed as a run worker executes it (`dagster job execute` on
`metadata_pipelines.definitions`, one process per run, one run at a time). Its figures come from its
event log: the run (RUN_START -> RUN_SUCCESS, so the run process's start is left out), the work
(the three steps, STEP_START -> STEP_SUCCESS each), the overhead (run - work) and the gaps between
steps (the previous step's end, or RUN_START, -> the next step's start: where a step waits for a
worker). The Celery overhead is celery/s3 minus in_process/s3 (same handover), per run and per step.
The load average is printed before every round and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from backfill import ADMIN_URL, _database
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.support.celery_workers import celery_workers, private_vhost
from metadata_pipelines_tests.support.s3_server import REGION, moto_server

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STEPS = ("check_connection", "extract_metadata", "persist_metadata")
SETUPS = ("in_process/local", "in_process/s3", "celery/s3")


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _execute(partition_key: str, env: dict[str, str]) -> None:
    done = subprocess.run(  # noqa: S603 (a fixed command line)
        [
            str(BIN / "dagster"),
            "job",
            "execute",
            "-m",
            "metadata_pipelines.definitions",
            "-j",
            "metadata_sync",
            "--tags",
            json.dumps({"dagster/partition": partition_key}),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"run of {partition_key} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )


def _figures(instance: dg.DagsterInstance, partition_key: str) -> dict[str, float]:
    [record] = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": partition_key}))
    if record.dagster_run.status is not dg.DagsterRunStatus.SUCCESS:
        raise RuntimeError(f"run of {partition_key}: {record.dagster_run.status.value}")
    steps = {s.step_key: s for s in instance.get_run_step_stats(record.dagster_run.run_id)}
    run = record.end_time - record.start_time
    work = sum(steps[key].end_time - steps[key].start_time for key in STEPS)
    gaps, previous_end = [], record.start_time
    for key in STEPS:
        gaps.append(steps[key].start_time - previous_end)
        previous_end = steps[key].end_time
    return {
        "run": run,
        "work": work,
        "overhead": run - work,
        "gap_before_step": statistics.mean(gaps),
        "after_last_step": record.end_time - previous_end,
        **{key: steps[key].end_time - steps[key].start_time for key in STEPS},
    }


def _line(name: str, values: list[float]) -> str:
    return (
        f"    {name:<18} mean {statistics.mean(values):6.3f} s  median "
        f"{statistics.median(values):6.3f} s  min {min(values):6.3f} s  max {max(values):6.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=8, help="runs per set-up")
    args = parser.parse_args()
    print(f"load average at start: {_loadavg()}", flush=True)

    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:8]
    names = [f"mp_bench_celery_dagster_{suffix}", f"mp_bench_celery_catalog_{suffix}"]
    storage_url, catalog_url = (_database(admin, name) for name in names)
    key = Fernet.generate_key().decode()
    catalog = CatalogDatabase(catalog_url, CredentialCipher([key]))
    figures: dict[str, list[dict[str, float]]] = {setup: [] for setup in SETUPS}
    try:
        catalog.upgrade()
        with ExitStack() as stack:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mp-bench-celery-")))
            s3 = stack.enter_context(moto_server())
            broker = stack.enter_context(private_vhost())
            bucket = f"handover-{suffix}"
            s3.client().create_bucket(Bucket=bucket)
            storage = sa.make_url(storage_url)
            (home / "dagster").mkdir()
            (home / "dagster" / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
            base = {
                "DAGSTER_HOME": str(home / "dagster"),
                "DAGSTER_PG_HOST": storage.host or "127.0.0.1",
                "DAGSTER_PG_PORT": str(storage.port or 5432),
                "DAGSTER_PG_USER": storage.username or "postgres",
                "DAGSTER_PG_PASSWORD": storage.password or "",
                "DAGSTER_PG_DB": storage.database or "",
                "METADATA_PIPELINES_HOME": str(home / "mp_home"),
                "METADATA_PIPELINES_CATALOG_URL": catalog_url,
                "METADATA_PIPELINES_SECRET_KEY": key,
                "METADATA_PIPELINES_MAX_CONCURRENT_RUNS": "4",
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            }
            on_s3 = {
                "METADATA_PIPELINES_HANDOVER_URL": f"s3://{bucket}/runs",
                "METADATA_PIPELINES_HANDOVER_S3_ENDPOINT_URL": s3.endpoint_url,
                "AWS_ACCESS_KEY_ID": s3.admin.access_key_id,
                "AWS_SECRET_ACCESS_KEY": s3.admin.secret_access_key,
                "AWS_DEFAULT_REGION": REGION,
            }
            on_celery = {
                "METADATA_PIPELINES_EXECUTOR": "celery",
                "METADATA_PIPELINES_CELERY_BROKER_URL": broker.url,
            }
            envs = {
                "in_process/local": {**os.environ, **base},
                "in_process/s3": {**os.environ, **base, **on_s3},
                "celery/s3": {**os.environ, **base, **on_s3, **on_celery},
            }
            stack.enter_context(_environ({**base, **on_s3, **on_celery}))
            instance = stack.enter_context(dg.DagsterInstance.get())
            stack.enter_context(celery_workers(2, broker.url, {}))

            sample = create_sample_database(home / "shop.db")
            sources: dict[str, list[str]] = {setup: [] for setup in SETUPS}
            for index in range(args.sources + 1):  # the first round warms up, and is left out
                for setup in SETUPS:
                    path = home / f"shop-{index}-{setup.replace('/', '-')}.db"
                    shutil.copyfile(sample, path)
                    source = catalog.data_sources.create(
                        tenant_id="bench",
                        name=f"shop-{index}-{setup.replace('/', '-')}",
                        connector_type="sqlite",
                        config={"path": str(path)},
                    )
                    ensure_partition(instance, source.partition_key)
                    sources[setup].append(source.partition_key)

            started = time.monotonic()
            for index in range(args.sources + 1):
                print(f"round {index} (load average {_loadavg()})", flush=True)
                for setup in SETUPS:
                    _execute(sources[setup][index], envs[setup])
                    if index > 0:
                        figures[setup].append(_figures(instance, sources[setup][index]))
            elapsed = time.monotonic() - started
            leftovers = s3.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    finally:
        catalog.dispose()
        with admin.connect() as connection:
            for name in names:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print(
        f"\n{args.sources} runs per set-up (after one warm-up round), one run at a time, "
        f"{elapsed:.0f} s in all; S3 handover objects left: {leftovers}; "
        f"load average at end: {_loadavg()}"
    )
    for setup in SETUPS:
        print(f"  {setup}")
        for name in ("run", "work", *STEPS, "overhead", "gap_before_step", "after_last_step"):
            print(_line(name, [f[name] for f in figures[setup]]))

    def mean(setup: str, name: str) -> float:
        return statistics.mean(f[name] for f in figures[setup])

    handover = mean("in_process/s3", "run") - mean("in_process/local", "run")
    per_run = mean("celery/s3", "run") - mean("in_process/s3", "run")
    overhead = mean("celery/s3", "overhead") - mean("in_process/s3", "overhead")
    print(
        f"\n  S3 handover instead of local files, per run: {handover:+.3f} s (mean run time)\n"
        f"  Celery instead of in process (both on S3), per run: {per_run:+.3f} s "
        f"(mean run time); per step: {per_run / len(STEPS):+.3f} s\n"
        f"  of which orchestration outside the steps: {overhead:+.3f} s per run, "
        f"{overhead / len(STEPS):+.3f} s per step"
    )


if __name__ == "__main__":
    main()
