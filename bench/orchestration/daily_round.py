"""Benchmark: the daily schedule's round over N registered data sources, on the real daemon.

Usage: .venv/bin/python bench/orchestration/daily_round.py [--sources 100] [--max-concurrent-runs 4]
       [--no-code-server] [--dequeue-interval SECONDS] [--dequeue-workers N]

A production deployment on this machine: dagster-daemon, dagster-webserver and (unless
--no-code-server) one shared `dagster code-server` (workspace-code-server.yaml), on two fresh
PostgreSQL databases (Dagster storage, catalog), with the repository's dagster.yaml: queued run
coordinator launching from 4 threads, one run per data source, 4 per connector type, the global limit
given here. N small SQLite sources (copies of the sample shop: 7 tables + 2 views) are registered,
with their partitions, as in a deployment whose sources all exist already (no first syncs). The daily
schedule's cron is set to a minute shortly after the start; its one tick requests a run per source,
and the script waits until every run has ended. It prints:
- the tick: scheduled time -> first and last run created;
- the round: scheduled time -> last run ended; runs per minute over the round and in its steady
  middle (between the 10th and the 90th run end);
- concurrency: runs in progress (RUN_START -> end) at once, the most and the mean over the middle,
  against the effective limit;
- per run: queue wait (created -> launched), worker start (launched -> RUN_START: the process spawn
  and code load of the default run launcher), in-run overhead (run duration minus the
  extract_metadata and persist_metadata steps), with and without the worker start;
- the catalog: one succeeded connector run per source, never two runs of one source at once.
The load average is printed at the start and at the end. --dequeue-interval and --dequeue-workers
override the run queue's `dequeue_interval_seconds` and `dequeue_num_workers` of dagster.yaml.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml
from backfill import ADMIN_URL, FINISHED, _database, _run_figures, _summary
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.schema import connector_runs
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.support.dagster_deployment import running_deployment, wait_for

PER_CONNECTOR_TYPE = 4  # dagster.yaml: tag limit on metadata_pipelines/connector_type
STARTUP_BUDGET = timedelta(seconds=100)  # daemon + webserver + code server on a busy machine


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _next_tick() -> datetime:
    """The first whole minute at least STARTUP_BUDGET from now."""
    at = datetime.now(UTC) + STARTUP_BUDGET + timedelta(minutes=1)
    return at.replace(second=0, microsecond=0)


def _concurrency(
    intervals: list[tuple[float, float]], start: float, end: float
) -> tuple[int, float]:
    """The most runs in progress at once, and the time-weighted mean between start and end."""
    changes = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    running = peak = 0
    area = 0.0
    previous = start
    for at, delta in changes:
        clipped = min(max(at, start), end)
        area += running * (clipped - previous)
        previous = clipped
        running += delta
        peak = max(peak, running)
    return peak, area / (end - start) if end > start else 0.0


def _overlaps(records: list[dg.RunRecord]) -> int:
    """Pairs of runs of one source whose time in progress overlaps."""
    by_source: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        key = record.dagster_run.tags.get("dagster/partition", "")
        by_source.setdefault(key, []).append((record.start_time or 0, record.end_time or 0))
    count = 0
    for spans in by_source.values():
        spans.sort()
        count += sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    return count


def _queue_settings(dagster_yaml: Path, interval: int | None, workers: int | None) -> str:
    """Override the run queue's dequeue settings in the deployment's dagster.yaml; returns them."""
    config = yaml.safe_load(dagster_yaml.read_text())
    queue = config["run_coordinator"]["config"]
    if interval is not None:
        queue["dequeue_interval_seconds"] = interval
    if workers is not None:
        queue["dequeue_num_workers"] = workers
    dagster_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    return (
        f"dequeue every {queue['dequeue_interval_seconds']} s, "
        f"{queue['dequeue_num_workers'] if queue.get('dequeue_use_threads') else 'no'} threads"
    )


def _prepare(instance: dg.DagsterInstance, keys: list[str], args: argparse.Namespace) -> None:
    """Before the daemon starts: the sources' partitions, and the queue settings asked for."""
    instance.add_dynamic_partitions(DATA_SOURCES_PARTITION, keys)
    home = Path(instance.root_directory)
    args.queue = _queue_settings(home / "dagster.yaml", args.dequeue_interval, args.dequeue_workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--max-concurrent-runs", type=int, default=4)
    parser.add_argument("--no-code-server", action="store_true")
    parser.add_argument("--dequeue-interval", type=int, help="dequeue_interval_seconds")
    parser.add_argument("--dequeue-workers", type=int, help="dequeue_num_workers")
    args = parser.parse_args()
    print(f"load average at start: {_loadavg()}", flush=True)

    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:8]
    names = [f"mp_bench_round_dagster_{suffix}", f"mp_bench_round_catalog_{suffix}"]
    storage_url, catalog_url = (_database(admin, name) for name in names)
    key = Fernet.generate_key().decode()
    catalog = CatalogDatabase(catalog_url, CredentialCipher([key]))
    try:
        catalog.upgrade()
        with tempfile.TemporaryDirectory(prefix="mp-bench-round-") as tmp:
            home = Path(tmp)
            sample = create_sample_database(home / "shop.db")
            started = time.monotonic()
            keys = []
            for index in range(args.sources):
                path = home / f"shop{index:04}.db"
                shutil.copyfile(sample, path)
                keys.append(
                    catalog.data_sources.create(
                        tenant_id="bench",
                        name=f"shop-{index:04}",
                        connector_type="sqlite",
                        config={"path": str(path)},
                    ).partition_key  # the partitions are `<tenant>/<name>` keys
                )
            print(
                f"registered {len(keys)} sources in {time.monotonic() - started:.1f} s", flush=True
            )
            tick = _next_tick()
            with running_deployment(
                home / "dagster_home",
                storage_url,
                catalog_url,
                key,
                max_concurrent_runs=args.max_concurrent_runs,
                sensor_interval_seconds=30,
                code_server=not args.no_code_server,
                extra_env={"METADATA_PIPELINES_DAILY_SYNC_CRON": f"{tick:%M %H} * * *"},
                before_start=lambda instance: _prepare(instance, keys, args),
            ) as deployment:
                instance = deployment.instance
                if datetime.now(UTC) >= tick:
                    sys.exit(f"the deployment started after the tick ({tick:%H:%M}); run again")
                print(
                    f"deployment up; daily_metadata_sync ticks at {tick:%H:%M:%S} UTC", flush=True
                )
                runs_filter = dg.RunsFilter(job_name="metadata_sync")

                progress = {"printed": time.monotonic()}

                def _settled() -> list[dg.RunRecord] | None:
                    records = list(instance.get_run_records(runs_filter))
                    ended = sum(r.dagster_run.status in FINISHED for r in records)
                    if time.monotonic() - progress["printed"] >= 60:  # a long round shows its pace
                        progress["printed"] = time.monotonic()
                        since = max(time.time() - tick.timestamp(), 1)
                        print(
                            f"  {datetime.now(UTC):%H:%M:%S} runs created {len(records)}, ended "
                            f"{ended} ({ended / since * 60:.1f}/min since the tick); "
                            f"load {_loadavg()}",
                            flush=True,
                        )
                    if len(records) < len(keys) or ended < len(records):
                        return None
                    return records

                timeout = 600 + 30 * len(keys)
                records = wait_for("the round", _settled, timeout=timeout, interval=5)
                print(f"load average at end: {_loadavg()}", flush=True)
                figures = [_run_figures(instance, r) for r in records]
                statuses = sorted({r.dagster_run.status.value for r in records})
                triggers = sorted(
                    {r.dagster_run.tags.get("metadata_pipelines/trigger", "") for r in records}
                )
            with catalog.engine.connect() as connection:
                rows = connection.execute(
                    sa.select(connector_runs.c.status, sa.func.count()).group_by(
                        connector_runs.c.status
                    )
                ).all()
    finally:
        catalog.dispose()
        with admin.connect() as connection:
            for name in names:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    at = tick.timestamp()
    created = sorted(r.create_timestamp.timestamp() for r in records)
    ends = sorted(f["end"] for f in figures)
    round_seconds = ends[-1] - at
    low, high = ends[min(9, len(ends) - 1)], ends[max(len(ends) - 10, 0)]
    middle = high - low
    steady = (len(ends) - 20) / middle * 60 if middle > 0 and len(ends) > 20 else float("nan")
    started = [(r.start_time or 0, r.end_time or 0) for r in records]
    launched = [(f["end"] - f["overhead_with_start"] - f["work"], f["end"]) for f in figures]
    peak, mean = _concurrency(started, low, high)
    slots, mean_slots = _concurrency(launched, low, high)
    limit = min(args.max_concurrent_runs, PER_CONNECTOR_TYPE)
    layout = "python_module per process" if args.no_code_server else "shared dagster code-server"
    print(
        f"daily round of {len(records)} sqlite sources (sample shop, 7 tables + 2 views each); "
        f"max_concurrent_runs={args.max_concurrent_runs}, per connector type "
        f"{PER_CONNECTOR_TYPE} -> limit {limit}; {args.queue}; code location: {layout}"
    )
    print(f"  run statuses {statuses}, triggers {triggers}; connector runs {dict(rows)}")
    print(f"  runs of one source overlapping: {_overlaps(records)}")
    print(f"  tick -> first run created     {created[0] - at:7.1f} s")
    print(f"  tick -> last run created      {created[-1] - at:7.1f} s")
    print(f"  tick -> last run ended        {round_seconds:7.1f} s")
    print(f"  runs per minute, whole round  {len(records) / round_seconds * 60:7.1f}")
    print(f"  runs per minute, steady       {steady:7.1f}")
    print(
        f"  runs holding a slot at once   max {slots} of {limit}, mean {mean_slots:.2f} "
        "(launched -> end, steady part)"
    )
    print(f"  runs started at once          max {peak}, mean {mean:.2f} (RUN_START -> end)")
    for name in (
        "queue_wait",
        "worker_start",
        "duration",
        "work",
        "overhead",
        "overhead_with_start",
    ):
        print(_summary(name, [f[name] for f in figures]))
    per_day = 24 * 3600 / round_seconds * len(records)
    print(f"  at this rate one machine syncs {per_day:,.0f} such sources a day")


if __name__ == "__main__":
    main()
