"""Benchmark: what JSON logs cost a sync, against text logs and no console output.

Usage: .venv/bin/python bench/logs/log_format.py [--rounds 8] [--records 20000]

Syncs the sample shop (SQLite source, SQLite catalog, a Dagster instance with the shipped
`python_logs`) in-process, round after round, each round once per mode in turn so that load
changes hit every mode alike:
- `quiet`: the run's console off (what `metadata-pipelines sync` does in text mode);
- `text`: Dagster's console lines at INFO;
- `json`: JSON lines at INFO (METADATA_PIPELINES_LOG_FORMAT=json);
- `json-debug`: JSON lines at DEBUG, so every Dagster event is printed too.
Lines go to /dev/null: the figures are formatting and dispatch, not a terminal. It prints the median
wall time per mode, its difference to `quiet`, the lines per sync, and a micro-benchmark of the two
formatters on one sync-like record with the sync's fields bound (microseconds per record).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

import dagster as dg

MODES = {"quiet": ("text", "CRITICAL"), "text": ("text", "INFO"), "json": ("json", "INFO")}
MODES["json-debug"] = ("json", "DEBUG")


class _Counting(io.TextIOBase):
    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)


def _set_format(log_format: str) -> None:
    from metadata_pipelines.settings import get_settings

    os.environ["METADATA_PIPELINES_LOG_FORMAT"] = log_format
    get_settings.cache_clear()


def bench_syncs(rounds: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="mp-bench-logs-"))
    os.environ["METADATA_PIPELINES_HOME"] = str(home)
    os.environ.pop("METADATA_PIPELINES_CATALOG_URL", None)
    from metadata_pipelines.catalog.database import CatalogDatabase
    from metadata_pipelines.orchestration.instance import EMBEDDED_INSTANCE_YAML
    from metadata_pipelines.orchestration.runner import execute_sync
    from metadata_pipelines.sample import create_sample_database

    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(
        files("metadata_pipelines.orchestration").joinpath(EMBEDDED_INSTANCE_YAML).read_text()
    )
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    source = catalog.data_sources.create(
        tenant_id="bench",
        name="shop",
        connector_type="sqlite",
        config={"path": str(create_sample_database(home / "shop.db"))},
    )
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    lines: dict[str, int] = {}
    for round_number in range(rounds + 1):  # round 0 warms up (imports, migrations, caches)
        for mode, (log_format, level) in MODES.items():
            _set_format(log_format)
            sink = _Counting()
            with contextlib.redirect_stderr(sink):  # type: ignore[type-var]
                started = time.perf_counter()
                outcome = execute_sync(
                    source.id, source.tenant_id, instance=instance, log_level=level
                )
                elapsed = time.perf_counter() - started
            assert outcome.dagster_success, outcome
            if round_number:
                times[mode].append(elapsed)
                lines[mode] = sink.lines
    base = statistics.median(times["quiet"])
    print(f"sync of the sample shop, median of {rounds} rounds (load {_load()}):")
    for mode, values in times.items():
        median = statistics.median(values)
        print(
            f"  {mode:10} {median * 1000:8.1f} ms  ({(median - base) * 1000:+6.1f} ms vs quiet, "
            f"{lines[mode]:3d} lines, min {min(values) * 1000:.1f} ms)"
        )
    instance.dispose()
    catalog.dispose()


def bench_formatters(records: int) -> None:
    from metadata_pipelines.logs import TEXT_FORMAT, SyncJsonFormatter, log_context

    record = logging.LogRecord(
        "dagster", logging.INFO, __file__, 1, "catalog updated: %d inserted", (57,), None
    )
    record.__dict__.update(event="persisted", inserted=57, updated=0, deleted=0, held=0)
    fields = {
        "tenant_id": "acme",
        "data_source_id": "8b1c7f0e-0000-4000-8000-000000000001",
        "data_source_name": "sales",
        "connector_type": "mysql",
        "connector_run_id": "8b1c7f0e-0000-4000-8000-000000000002",
        "run_id": "8b1c7f0e-0000-4000-8000-000000000003",
        "step": "persist_metadata",
        "attempt": 1,
    }
    print(f"formatting one record, {records} times (load {_load()}):")
    for name, formatter in [
        ("text", logging.Formatter(TEXT_FORMAT)),
        ("json", SyncJsonFormatter()),
    ]:
        with log_context(**fields):
            started = time.perf_counter()
            for _ in range(records):
                formatter.format(record)
            elapsed = time.perf_counter() - started
        print(f"  {name:5} {elapsed / records * 1e6:6.1f} us/record")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--records", type=int, default=20000)
    args = parser.parse_args()
    bench_formatters(args.records)
    bench_syncs(args.rounds)
    bench_formatters(args.records)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
