"""HTTP API benchmark: 100,000 assets in a PostgreSQL catalog, served by `metadata-pipelines api`.

Prints, in one run, p50 / p99 (and requests per second) of:
- floors measured in the same run: `GET /healthz` (uvicorn + FastAPI, no catalog, no key) and
  `GET /data_sources/{id}` (key lookup + one row), and the asset-page query run in-process;
- asset listing: the first page, pages deep in a walk with cursors, a page filtered by type;
- name search: a rare term, a common term, a term that matches nothing;
- `GET /assets/{id}` of random tables (with their fields);
- sync requests per second: new requests (202, one per source) and repeated ones (200), from
  concurrent clients.

The catalog is loaded through MetadataPersistenceService (one sync of a synthetic source), then
ANALYZEd: with the statistics autovacuum had not yet gathered, PostgreSQL picked a bad plan for the
first page (0.9 s instead of about a millisecond). The first-page latency before ANALYZE is printed
too.

Usage: python bench/api/bench_api.py [--tables 100000 --columns 5 --samples 500 --workers 1]
       [--postgres-url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.browse import asset_page
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.models import (
    ColumnMetadata,
    DatabaseMetadata,
    ExtractionResult,
    SchemaMetadata,
    TableMetadata,
    utcnow,
)

BIN = Path(sys.executable).parent
TENANT = "bench"


def synthetic_result(tables: int, columns: int) -> ExtractionResult:
    """`tables` tables over 10 databases x 10 schemas, `columns` columns each."""
    databases = [f"db_{d:02d}" for d in range(10)]
    schemas = [(d, f"schema_{s:02d}") for d in databases for s in range(10)]
    return ExtractionResult.build(
        "sqlite",
        utcnow(),
        databases=[DatabaseMetadata(name=d) for d in databases],
        schemas=[SchemaMetadata(database=d, name=s) for d, s in schemas],
        tables=[
            TableMetadata(
                database=schemas[t % len(schemas)][0],
                schema_name=schemas[t % len(schemas)][1],
                name=f"table_{t:06d}",
                row_count=t,
                columns=[
                    ColumnMetadata(name=f"column_{c}", ordinal=c + 1, native_type="bigint")
                    for c in range(columns)
                ],
            )
            for t in range(tables)
        ],
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def timed(call: Callable[[], httpx.Response | object], samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
        if isinstance(result, httpx.Response) and result.status_code >= 300:
            raise RuntimeError(f"{result.request.url}: {result.status_code} {result.text[:200]}")
    return times


def report(name: str, times: list[float]) -> None:
    p50, p99 = percentiles(times)
    print(
        f"{name:48} p50 {p50 * 1000:8.2f} ms   p99 {p99 * 1000:8.2f} ms   "
        f"({len(times)} requests, {len(times) / sum(times):7.0f}/s sequential)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tables", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=5)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--run-sources", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    admin = sa.create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = f"mp_bench_api_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    key = Fernet.generate_key().decode()
    catalog = CatalogDatabase(url, CredentialCipher([key]))
    server = None
    try:
        catalog.upgrade()
        source = catalog.data_sources.create(
            tenant_id=TENANT, name="big", connector_type="sqlite", config={"path": "/big.db"}
        )
        result = synthetic_result(args.tables, args.columns)
        started = time.perf_counter()
        stats = catalog.persistence.persist(TENANT, source.id, result)
        print(
            f"loaded {stats.assets.inserted} assets and {stats.fields.inserted} fields "
            f"in {time.perf_counter() - started:.1f} s"
        )
        del result

        def first_page_in_process() -> object:
            return asset_page(catalog.engine, TENANT, source.id, limit=51)

        before = timed(first_page_in_process, 5)
        with catalog.engine.begin() as connection:
            started = time.perf_counter()
            connection.execute(sa.text("ANALYZE"))
        print(f"ANALYZE took {time.perf_counter() - started:.2f} s")
        print(
            f"first page in-process before ANALYZE: best {min(before) * 1000:.1f} ms; "
            f"after: best {min(timed(first_page_in_process, 5)) * 1000:.1f} ms"
        )

        _, api_key = catalog.api_keys.create(TENANT, "bench")
        port = _free_port()
        env = {
            **os.environ,
            "METADATA_PIPELINES_CATALOG_URL": url,
            "METADATA_PIPELINES_SECRET_KEY": key,
            "METADATA_PIPELINES_HOME": tempfile.mkdtemp(prefix="mp-bench-api-"),
        }
        server = subprocess.Popen(  # noqa: S603 (our own entry point)
            [
                str(BIN / "metadata-pipelines"),
                "api",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base)
        client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=60
        )
        assets = f"/api/v1/data_sources/{source.id}/assets"
        for _ in range(20):  # warm up connections and caches
            client.get(assets)
        n = args.samples
        print(f"\n--- {args.tables} tables, {n} samples each, {args.workers} worker(s) ---")
        report("floor: GET /healthz", timed(lambda: client.get("/healthz"), n))
        report(
            "floor: GET /data_sources/{id} (key + one row)",
            timed(lambda: client.get(f"/api/v1/data_sources/{source.id}"), n),
        )
        report("floor: first asset page query, in-process", timed(first_page_in_process, n))
        report("list: first page (50)", timed(lambda: client.get(assets), n))

        cursor: list[str | None] = [None]

        def next_page() -> httpx.Response:
            params = {"cursor": cursor[0]} if cursor[0] else {}
            response = client.get(assets, params=params)
            cursor[0] = response.json()["next_cursor"]
            return response

        report("list: walk with cursors (pages 1..n)", timed(next_page, n))
        report(
            "list: type=table, first page",
            timed(lambda: client.get(assets, params={"type": "table"}), n),
        )
        report(
            "search: rare term (q=table_01234, 10 hits)",
            timed(lambda: client.get(assets, params={"q": "table_01234"}), n),
        )
        report(
            "search: common term (q=schema_07, 10% of rows)",
            timed(lambda: client.get(assets, params={"q": "schema_07"}), n),
        )
        report(
            "search: no match (q=nothing)",
            timed(lambda: client.get(assets, params={"q": "nothing"}), n),
        )
        table_ids = [
            a.id
            for a in asset_page(catalog.engine, TENANT, source.id, asset_type="table", limit=5000)
        ]
        report(
            "GET /assets/{id} (random tables)",
            timed(lambda: client.get(f"/api/v1/assets/{random.choice(table_ids)}"), n),
        )
        _runs_per_second(catalog, client, args.run_sources, args.concurrency)
        client.close()
    finally:
        if server is not None:
            os.killpg(server.pid, 15)
            server.wait(30)
        catalog.dispose()
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"\nload: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


def _runs_per_second(
    catalog: CatalogDatabase, client: httpx.Client, sources: int, concurrency: int
) -> None:
    ids = [
        catalog.data_sources.create(
            tenant_id=TENANT,
            name=f"run-{i}",
            connector_type="sqlite",
            config={"path": "/x.db"},
        ).id
        for i in range(sources)
    ]
    body = {"run_type": "metadata"}
    for expected, label in ((202, "new"), (200, "repeated, run pending")):
        with ThreadPoolExecutor(concurrency) as pool:
            started = time.perf_counter()
            codes = list(
                pool.map(
                    lambda i: client.post(f"/api/v1/data_sources/{i}/run", json=body).status_code,
                    ids,
                )
            )
            elapsed = time.perf_counter() - started
        assert codes == [expected] * len(ids), sorted(set(codes))
        print(
            f"sync requests, {label:22} {len(ids) / elapsed:7.0f}/s "
            f"({len(ids)} sources, {concurrency} concurrent clients)"
        )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the API did not start")


if __name__ == "__main__":
    main()
