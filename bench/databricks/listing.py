"""Benchmark: Unity Catalog listing, sequential vs bounded-concurrent, calm vs a storm of 429s.

Usage: .venv/bin/python bench/databricks/listing.py [--schemas 50] [--tables 100] [--columns 20]
       [--latency 0.05] [--storm 0.3] [--fresh-bodies]

The fake workspace (metadata_pipelines_tests/fakes) runs in a child process, so its CPU does not
compete with the extractor for the GIL; every request waits `latency` seconds there. The same
extractor runs with max_concurrent_requests=1 (sequential listing) and at the default concurrency,
after one unshown warm-up run, each from the same heap (earlier results freed and collected),
then again under a storm where each request has a `storm` chance of a 429 (half with Retry-After: 0,
half without, so the jittered backoff is exercised). It prints wall time, requests made, the largest
number of requests the server saw in flight, peak Python memory of the extraction (tracemalloc, a
separate pass so tracing does not skew the timings), and whether every run produced the same result.
A last run at 0 ms latency measures the CPU cost (client parsing and model building plus the fake's
own work), so the time spent waiting on the network can be told apart from it.
Response validation against the spec is off here (it is on in the tests): it is the fake's cost.
For the same reason the fake encodes each distinct page once and serves the same bytes again
(`cache_bodies`; `--fresh-bodies` turns that off): requests, latency, faults and bodies are the same,
but a real workspace does not take its CPU from the client's machine. CPU seconds are printed for the
extractor's process and the fake's, since on a shared 2-core machine wall times alone mislead.
Sequential and concurrent runs are the same extractor (only max_concurrent_requests differs), so they
do exactly the same decoding and model building. To compare that 0 ms run with another checkout in
a way the machine's load cannot sway (callgrind instruction counts), use cpu_vs_baseline.py.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import time
import tracemalloc
from multiprocessing.connection import Connection
from typing import Any

from metadata_pipelines.extractors.databricks import DatabricksConfig, DatabricksExtractor
from metadata_pipelines_tests.fakes.unity_catalog_server import FakeUnityCatalog, Fault, column

TOKEN = "dapi-bench-token"  # noqa: S105 - a fake workspace's token
TYPES = [("LONG", "bigint"), ("STRING", "string"), ("DECIMAL", "decimal(18,2)"), ("DATE", "date")]


def serve(args: argparse.Namespace, pipe: Connection) -> None:
    """Child process: build the workspace, then answer commands until told to stop."""
    fake = FakeUnityCatalog(
        tokens={TOKEN},
        latency=args.latency,
        validate_responses=False,
        cache_bodies=not args.fresh_bodies,
    )
    fake.add_catalog("bench")
    for s in range(args.schemas):
        fake.add_schema("bench", f"schema_{s:03d}")
        for t in range(args.tables):
            columns = [
                column(f"col_{c:02d}", *TYPES[c % len(TYPES)][:1], c, TYPES[c % len(TYPES)][1])
                for c in range(args.columns)
            ]
            fake.add_table("bench", f"schema_{s:03d}", f"table_{t:03d}", columns, comment="x")
    fake.start()
    pipe.send(fake.url)
    while True:
        command = pipe.recv()
        if command == "reset":
            with fake._lock:
                fake.requests.clear()
                fake.max_in_flight = 0
                fake.faults.clear()
            pipe.send(time.process_time())
        elif command == "storm":
            fake.add_fault(Fault(path=".*", status=429, headers={"Retry-After": "0"}, times=None,
                                 probability=args.storm / 2))  # fmt: skip
            fake.add_fault(Fault(path=".*", status=429, times=None, probability=args.storm / 2))
            pipe.send(None)
        elif isinstance(command, float):
            fake.latency = command
            pipe.send(None)
        elif command == "stats":
            throttled = sum(f.hits for f in fake.faults)
            pipe.send((len(fake.requests), fake.max_in_flight, throttled, time.process_time()))
        else:
            fake.stop()
            pipe.send(None)
            return


def ask(pipe: Connection, command: str) -> Any:
    pipe.send(command)
    return pipe.recv()


async def extract(
    url: str, concurrency: int | None
) -> tuple[float, float, Any, DatabricksExtractor]:
    config: dict[str, Any] = {"workspace_url": url}
    if concurrency is not None:
        config["max_concurrent_requests"] = concurrency
    extractor = DatabricksExtractor(
        config,
        {"access_token": TOKEN},
        client_options={"backoff_base_seconds": 0.05, "backoff_cap_seconds": 1.0},
    )
    started, cpu = time.perf_counter(), time.process_time()
    result = await extractor.extract_metadata()
    return time.perf_counter() - started, time.process_time() - cpu, result, extractor


def run(coroutine: Any) -> Any:
    """asyncio.run from the same heap each time (earlier results freed and collected), and with a
    main task that returns nothing: on Python 3.11 asyncio.run's SIGINT clean-up can repr() the main
    task, and with it the whole ExtractionResult (seconds for 100k columns)."""
    gc.collect()
    box: list[Any] = []

    async def main() -> None:
        box.append(await coroutine)

    asyncio.run(main())
    return box[0]


def comparable(result: Any) -> str:
    return result.model_dump_json(exclude={"started_at", "finished_at"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", type=int, default=50)
    parser.add_argument("--tables", type=int, default=100)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--storm", type=float, default=0.3)
    parser.add_argument("--fresh-bodies", action="store_true", help="fake re-encodes every body")
    args = parser.parse_args()
    default = DatabricksConfig.model_fields["max_concurrent_requests"].default

    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.Process(target=serve, args=(args, theirs), daemon=True)
    child.start()
    url = ours.recv()
    print(
        f"workspace: {args.schemas} schemas x {args.tables} tables x {args.columns} columns "
        f"= {args.schemas * args.tables} tables, {args.latency * 1000:g} ms latency per request"
    )
    print(
        f"{'run':<34}{'seconds':>9}{'requests':>10}{'429s':>7}{'max in flight':>15}"
        f"{'cpu ours':>10}{'cpu fake':>10}"
    )
    run(extract(url, None))  # warm-up, not shown: imports, validators and caches built once
    rows: dict[str, tuple[float, str]] = {}
    for label, concurrency, storm in [
        ("sequential listing (1 in flight)", 1, False),
        (f"ours (default, {default} in flight)", None, False),
        (f"ours under a {args.storm:.0%} 429 storm", None, True),
    ]:
        fake_cpu = ask(ours, "reset")
        if storm:
            ask(ours, "storm")
        seconds, cpu, result, _ = run(extract(url, concurrency))
        requests, in_flight, throttled, fake_cpu_after = ask(ours, "stats")
        assert result.status.value == "success", result.errors[:3]
        rows[label] = (seconds, comparable(result))
        del result
        print(
            f"{label:<34}{seconds:>9.2f}{requests:>10}{throttled:>7}{in_flight:>15}"
            f"{cpu:>10.2f}{fake_cpu_after - fake_cpu:>10.2f}"
        )
        if in_flight > (concurrency or default):
            print(f"  !! more than {concurrency or default} requests in flight")

    ask(ours, 0.0)
    fake_cpu = ask(ours, "reset")
    baseline, cpu, _, _ = run(extract(url, None))
    fake_cpu = ask(ours, "stats")[3] - fake_cpu
    print(
        f"{'same, 0 ms latency (CPU only)':<34}{baseline:>9.2f}{'':>32}{cpu:>10.2f}{fake_cpu:>10.2f}"
    )

    ask(ours, "reset")
    tracemalloc.start()
    _, _, result, _ = run(extract(url, None))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ask(ours, "stop")
    child.join(5)

    (sequential, first), (concurrent, calm), (_, stormy) = rows.values()
    print(f"tables: {len(result.tables)}, columns: {result.counts['column']}")
    print(
        f"speed-up over sequential listing, end to end: {sequential / concurrent:.1f}x "
        f"(ceiling here: {sequential / baseline:.1f}x, as ours cannot beat the 0 ms run)"
    )
    waiting = max(sequential - baseline, 0.0), max(concurrent - baseline, 0.01)
    print(
        f"time spent waiting on the network (run minus the 0 ms run): sequential "
        f"{waiting[0]:.2f}s, ours {waiting[1]:.2f}s"
    )
    print(f"peak Python memory of one extraction (tracemalloc): {peak / 2**20:.1f} MiB")
    print(f"same result in all runs: {first == calm == stormy}")


if __name__ == "__main__":
    main()
