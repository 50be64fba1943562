"""Benchmark: an S3 sync (listing + schema reads) against listing alone, at 20 ms per request.

Usage: .venv/bin/python bench/s3/bench_sync.py [--datasets 200] [--files 100] [--rows 2000]
       [--latency 0.02] [--repeat 2]

moto in server mode on loopback holds one bucket of `datasets` top-level prefixes of `files`
objects each (200 x 100 = 20,000 by default): half the datasets Parquet (a nested schema, `rows`
rows a file), half JSON Lines of about the same size, in Hive partitions `day=NN/`. Every request
the client sends waits `latency` seconds first (a botocore `before-send` hook, so the wait happens
in the requesting thread and overlaps as real network latency does).

Each measured run is a fresh child process, which reports wall time, peak RSS (ru_maxrss: the
interpreter, libraries and the run), requests by operation and bytes read:
- `listing`: the baseline, the connector's listing alone (a delimiter listing, then every prefix
  listed concurrently, pages of 1,000) with no schema read;
- `sequential listing`: one ListObjectsV2 walk over the bucket, page after page (what a naive
  lister does);
- `sync`: the whole extraction (listing, then the newest file and up to 3 per dataset read by
  ranged GETs).
Runs are interleaved (listing, sync, listing, sync, ...) so other load on the machine hits each
alike; `uptime` is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

BUCKET = "bench-lake"
REGION = "us-east-1"
KEYS = {"access_key_id": "AKIABENCH00000000000", "secret_access_key": "bench-secret"}


def parquet_body(rows: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": list(range(rows)),
            "user": [{"name": f"user{i}", "city": "Oslo"} for i in range(rows)],
            "items": [[{"sku": f"s{i % 97}", "qty": i % 5}] for i in range(rows)],
            "amount": [i * 1.5 for i in range(rows)],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def json_body(size: int) -> bytes:
    lines, total, i = [], 0, 0
    while total < size:
        line = json.dumps({"id": i, "event": "click", "user": {"id": i % 100}, "tags": ["a"]})
        lines.append(line)
        total += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode()


def populate(endpoint: str, args: argparse.Namespace) -> int:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEYS["access_key_id"],
        aws_secret_access_key=KEYS["secret_access_key"],
    )
    client.create_bucket(Bucket=BUCKET)
    parquet = parquet_body(args.rows)
    jsonl = json_body(len(parquet))
    objects = []
    for d in range(args.datasets):
        body, ext = (parquet, "parquet") if d % 2 == 0 else (jsonl, "jsonl")
        objects += [
            (f"dataset_{d:03d}/day={f % 10:02d}/part-{f:04d}.{ext}", body)
            for f in range(args.files)
        ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda o: client.put_object(Bucket=BUCKET, Key=o[0], Body=o[1]), objects))
    return sum(len(body) for _, body in objects)


def measured(kind: str, endpoint: str, latency: float, pipe: Connection) -> None:
    """Child process: one run of `kind`; sends its figures."""
    from metadata_pipelines.extractors.s3 import S3Extractor, client

    original = client.S3Api.__init__

    def with_latency(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.client.meta.events.register("before-send.s3", lambda **_: time.sleep(latency))

    client.S3Api.__init__ = with_latency  # type: ignore[method-assign]
    extractor = S3Extractor({"buckets": [BUCKET], "endpoint_url": endpoint, "region": REGION}, KEYS)

    async def run() -> int:
        if kind == "sync":
            result = await extractor.extract_metadata()
            assert result.status.value == "success", result.errors[:3]
            return len(result.tables)
        api = await extractor._connect()
        if kind == "listing":
            return len(await extractor._list(api, BUCKET))
        return len(await asyncio.to_thread(lambda: list(api.list_objects(BUCKET))))

    started = time.perf_counter()
    found = asyncio.run(run())
    wall = time.perf_counter() - started
    accounting = extractor.api.accounting
    pipe.send(
        {
            "wall": wall,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "requests": dict(accounting.requests),
            "bytes_read": accounting.bytes_read,
            "found": found,
        }
    )


def load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def one(kind: str, endpoint: str, latency: float) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=measured, args=(kind, endpoint, latency, child))
    process.start()
    figures = parent.recv()
    process.join()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from metadata_pipelines_tests.support.local_server import LocalServer, free_port, port_open

    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    server = LocalServer(
        "moto_server", [str(moto), "-H", "127.0.0.1", "-p", str(port)], lambda: port_open(port)
    ).start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        stored = populate(endpoint, args)
        print(
            f"{args.datasets} datasets x {args.files} files, {stored / 1024 / 1024:.1f} MiB stored,"
            f" written in {time.perf_counter() - started:.0f} s; latency {args.latency * 1000:.0f} ms"
        )
        print(
            "load before:",
            load(),
        )
        runs: dict[str, list[dict[str, Any]]] = {
            "listing": [],
            "sequential listing": [],
            "sync": [],
        }
        for _ in range(args.repeat):
            for kind in ("listing", "sync"):
                runs[kind].append(one(kind, endpoint, args.latency))
        runs["sequential listing"].append(one("sequential", endpoint, args.latency))
        print(
            "load after: ",
            load(),
        )
        base = min(r["wall"] for r in runs["listing"])
        for kind, results in runs.items():
            best = min(results, key=lambda r: r["wall"])
            requests = sum(best["requests"].values())
            walls = [r["wall"] for r in results]
            print(
                f"{kind:>19}: wall {best['wall']:6.2f} s (x{best['wall'] / base:.2f} of listing;"
                f" all: {', '.join(f'{w:.2f}' for w in walls)}), peak RSS"
                f" {best['rss_mib']:.0f} MiB, {requests} requests {best['requests']},"
                f" {best['bytes_read'] / 1024 / 1024:.2f} MiB read"
                f" ({best['bytes_read'] / stored:.4%} of stored), found {best['found']}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
