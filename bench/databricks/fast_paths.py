"""Benchmark: what the aiohttp transport and GcShield each buy, against httpx's transport and no shield.

Usage: .venv/bin/python bench/databricks/fast_paths.py [--schemas 50] [--tables 100] [--columns 20]
       [--latencies 0.05,0.2] [--rounds 3]

The fake workspace of `listing.py` runs in a child process; its listings page as the real API does
(50 tables a page, every table with its columns). For each latency the four variants (transport x
shield) run in turn, `rounds` times, interleaved so that a change in the machine's load hits them all
alike, each after a shown-nowhere warm-up. Printed per variant: the median wall seconds and the
median CPU seconds of the extracting process, and both relative to the production variant (aiohttp
transport + GcShield) measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
from listing import TOKEN, ask, run, serve

from metadata_pipelines.extractors.databricks import DatabricksExtractor
from metadata_pipelines.extractors.databricks import extractor as extractor_module
from metadata_pipelines.extractors.databricks.gc_shield import GcShield


class NoShield(GcShield):
    """The collector left alone: nothing frozen, nothing paused."""

    def __enter__(self) -> NoShield:
        self.freezes = False
        return self

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        yield


VARIANTS = {
    "aiohttp + GcShield (production)": (True, True),
    "aiohttp, no shield": (True, False),
    "httpx transport + GcShield": (False, True),
    "httpx transport, no shield": (False, False),
}


async def extract(url: str, aiohttp: bool, shield: bool) -> tuple[float, float, int]:
    options: dict[str, Any] = {"backoff_base_seconds": 0.05, "backoff_cap_seconds": 1.0}
    if not aiohttp:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        options["transport"] = httpx.AsyncHTTPTransport(limits=limits)
    extractor_module.GcShield = GcShield if shield else NoShield
    extractor = DatabricksExtractor(
        {"workspace_url": url}, {"access_token": TOKEN}, client_options=options
    )
    started, cpu = time.perf_counter(), time.process_time()
    result = await extractor.extract_metadata()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result.status.value == "success", result.errors[:3]
    return seconds, cpu, result.counts["column"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", type=int, default=50)
    parser.add_argument("--tables", type=int, default=100)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--latencies", default="0.05,0.2")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.latency, args.fresh_bodies = 0.0, False  # what listing.serve reads

    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.Process(target=serve, args=(args, theirs), daemon=True)
    child.start()
    url = ours.recv()
    print(
        f"workspace: {args.schemas} schemas x {args.tables} tables x {args.columns} columns, "
        f"50 tables a page; {args.rounds} interleaved rounds, medians"
    )
    for latency in (float(x) for x in args.latencies.split(",")):
        ask(ours, latency)
        for aiohttp, shield in VARIANTS.values():
            run(extract(url, aiohttp, shield))  # warm-up
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
        columns = 0
        for _ in range(args.rounds):
            for name, (aiohttp, shield) in VARIANTS.items():
                ask(ours, "reset")
                seconds, cpu, columns = run(extract(url, aiohttp, shield))
                samples[name].append((seconds, cpu))
        print(f"\n{latency * 1000:g} ms latency per request, {columns} columns")
        print(f"{'variant':<34}{'wall s':>8}{'vs prod':>9}{'cpu s':>8}{'vs prod':>9}")
        production = next(iter(samples))
        base_wall = statistics.median(s for s, _ in samples[production])
        base_cpu = statistics.median(c for _, c in samples[production])
        for name, values in samples.items():
            wall = statistics.median(s for s, _ in values)
            cpu = statistics.median(c for _, c in values)
            print(
                f"{name:<34}{wall:>8.2f}{wall / base_wall:>8.2f}x{cpu:>8.2f}{cpu / base_cpu:>8.2f}x"
            )
    ask(ours, "stop")
    child.join(5)


if __name__ == "__main__":
    main()
