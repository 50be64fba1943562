"""Benchmark: a BigQuery sync through INFORMATION_SCHEMA vs sequential tables.get, at 50 ms latency.

Usage: .venv/bin/python bench/bigquery/bench_sync.py [--datasets 20] [--tables 250] [--fields 20]
       [--latency 0.05] [--repeat 3] [--no-baseline]

The BigQuery REST front of the tests (metadata_pipelines_tests/fakes/bigquery_server.py), without an
emulator behind it, serves an in-memory model of one project: `datasets` datasets of `tables`
tables of `fields` fields, a third of them RECORDs with nested (and repeated) members. It runs in a
child process, so its CPU does not compete with the client's for the GIL, and every request waits
`latency` seconds there. Bytes billed are the model's: on-demand pricing bills at least 10 MiB per
INFORMATION_SCHEMA job (per table referenced), which is what every metadata job costs in practice.
Response validation against bigquery.v2.json is off here (it is on in the tests), and the fake
renders each query's answer once and serves the same bytes again (an unshown warm-up sync fills
that cache): both are the fake's CPU, which a real BigQuery does not take from the client's machine.

Each measured sync runs in a fresh child process, which reports its wall time, CPU time, peak RSS
(ru_maxrss of that process: interpreter, libraries and the sync) and the API calls it made:
- `ours`: the connector as configured by default (INFORMATION_SCHEMA jobs per dataset, one
  TABLE_STORAGE job per region, no tables.get);
- `metadata_only`: the connector with `metadata_only` (free REST calls: one tables.get per table,
  16 at a time);
- `baseline`: what a connector without INFORMATION_SCHEMA does, `tables.get` for every table one
  after the other (same client library, same mapping into models); run once, as it is slow.
Runs are interleaved (ours, metadata_only, ours, ...) so load from other work hits each alike;
`uptime` is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import time
from multiprocessing.connection import Connection
from typing import Any

MIB = 1024 * 1024


def serve(args: argparse.Namespace, pipe: Connection) -> None:
    """Child process: build the model project, serve it until told to stop."""
    from metadata_pipelines_tests.fakes.bigquery_server import FakeBigQuery

    fake = FakeBigQuery(
        projects=("bench-proj",), latency_seconds=args.latency, validate=False, cache_bodies=True
    )
    for d in range(args.datasets):
        dataset = f"dataset_{d:02d}"
        fake.add_dataset("bench-proj", dataset, location="US", description=f"Dataset {d}")
        for t in range(args.tables):
            fake.add_table(
                "bench-proj", dataset, f"table_{t:03d}", table_fields(args.fields, t),
                rows=1000 + t, description=f"Table {t}", labels={"team": "bench"},
            )  # fmt: skip
    fake.start()
    pipe.send(fake.url)
    pipe.recv()  # any message: stop
    fake.stop()


def table_fields(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` fields, every third a RECORD (every other of those REPEATED) with nested members."""
    fields = []
    for index in range(count):
        name = f"field_{index:02d}"
        if index % 3 == 2:
            fields.append(
                {
                    "name": name,
                    "type": "RECORD",
                    "mode": "REPEATED" if index % 2 else "NULLABLE",
                    "description": f"Nested {index}",
                    "fields": [
                        {"name": "id", "type": "INTEGER", "mode": "NULLABLE"},
                        {
                            "name": "label",
                            "type": "STRING",
                            "mode": "NULLABLE",
                            "description": "Label",
                        },
                        {
                            "name": "inner",
                            "type": "RECORD",
                            "mode": "NULLABLE",
                            "fields": [{"name": "x", "type": "FLOAT", "mode": "NULLABLE"}],
                        },
                    ],
                }
            )
        else:
            kind = ("INTEGER", "STRING", "NUMERIC", "TIMESTAMP")[(index + seed) % 4]
            fields.append({"name": name, "type": kind, "mode": "NULLABLE"})
    return fields


def measure(kind: str, url: str, pipe: Connection) -> None:
    """Child process: one sync of `kind`, reporting its figures."""
    from metadata_pipelines.extractors.bigquery import BigQueryExtractor

    config = {"project_ids": ["bench-proj"], "api_endpoint": url}
    started, cpu = time.perf_counter(), time.process_time()
    if kind == "baseline":
        tables, calls = asyncio.run(baseline(url))
        accounting: dict[str, Any] = {"api_calls": calls, "queries": 0, "bytes_billed": 0}
    else:
        extractor = BigQueryExtractor(
            {**config, "metadata_only": kind == "metadata_only"}, {"method": "anonymous"}
        )
        result = asyncio.run(extractor.extract_metadata())
        assert result.status.value == "success", result.errors
        tables = len(result.tables)
        accounting = extractor.accounting.summary()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pipe.send({"kind": kind, "wall": wall, "cpu": cpu, "rss": rss, "tables": tables, **accounting})


async def baseline(url: str) -> tuple[int, int]:
    """Every table read with tables.get, one after the other (no INFORMATION_SCHEMA)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from metadata_pipelines.extractors.bigquery.mapper import (
        map_table_from_resource,
        statistics_from_resource,
    )

    client = bigquery.Client(
        project="bench-proj",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=url),
    )
    calls, tables = 1, 0
    for dataset in client.list_datasets("bench-proj"):
        calls += 2
        client.get_dataset(dataset.reference)
        for item in client.list_tables(dataset.reference, page_size=1000):
            resource_ = client.get_table(item.reference).to_api_repr()
            map_table_from_resource(resource_, statistics_from_resource(resource_), [])
            calls += 1
            tables += 1
    return tables, calls


def run_child(kind: str, url: str) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=measure, args=(kind, url, sender))
    child.start()
    figures = receiver.recv()
    child.join()
    return figures


def uptime() -> str:
    return os.popen("uptime").read().strip()  # noqa: S605, S607


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--tables", type=int, default=250)
    parser.add_argument("--fields", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    print("before:", uptime())
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe()
    server = context.Process(target=serve, args=(args, sender))
    server.start()
    url = receiver.recv()
    print(
        f"model: {args.datasets} datasets x {args.tables} tables x {args.fields} fields "
        f"(a third nested), {args.latency * 1000:.0f} ms per request"
    )
    runs = []
    try:
        run_child("ours", url)  # warm-up, not shown: the fake renders each answer once
        for _ in range(args.repeat):
            runs.append(run_child("ours", url))
            runs.append(run_child("metadata_only", url))
        if not args.no_baseline:
            runs.append(run_child("baseline", url))
    finally:
        receiver.send("stop")
        server.join()
    header = f"{'run':<14}{'tables':>7}{'wall s':>9}{'cpu s':>8}{'rss MiB':>9}{'calls':>7}{'jobs':>6}{'billed MiB':>12}"
    print(header)
    for run in runs:
        print(
            f"{run['kind']:<14}{run['tables']:>7}{run['wall']:>9.2f}{run['cpu']:>8.2f}"
            f"{run['rss']:>9.0f}{run['api_calls']:>7}{run['queries']:>6}"
            f"{run['bytes_billed'] / MIB:>12.0f}"
        )
    for run in runs:
        if run.get("calls"):
            print(f"{run['kind']} calls: {run['calls']}")
    best = {
        kind: min(r["wall"] for r in runs if r["kind"] == kind)
        for kind in {r["kind"] for r in runs}
    }
    if "baseline" in best:
        print(f"baseline / ours (best wall): {best['baseline'] / best['ours']:.1f}x; "
              f"baseline / metadata_only: {best['baseline'] / best['metadata_only']:.1f}x")  # fmt: skip
    print("after:", uptime())


if __name__ == "__main__":
    main()
