"""How long the one-time move from id partition keys to readable keys takes.

    .venv/bin/python bench/orchestration/partition_migration.py [--sources 200] [--runs-per-source 10]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Builds a Dagster instance as a release before readable keys left it: one id partition per source and
finished `metadata_sync` runs tagged with the ids (created directly in run storage: their execution
is not what is measured), and a catalog holding the sources. Then times `migrate_partition_keys`,
and, as the baseline in the same run, the cheapest thing the migration cannot avoid: one
`add_run_tags` call per run with the partition tag alone. With --postgres, Dagster's storage is a
fresh database on that server (dagster-postgres), as in production; otherwise SQLite.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.orchestration.dagster_api import PARTITION_TAG
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.partition_migration import migrate_partition_keys
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION


@contextmanager
def _instance(postgres: str | None, home: Path):
    home.mkdir()
    if not postgres:
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            yield instance
        return
    name = f"bench_{uuid.uuid4().hex[:8]}"
    server = sa.make_url(postgres)
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = server.set(drivername="postgresql+psycopg2", database=name).render_as_string(
        hide_password=False
    )
    try:
        with dg.instance_for_test(
            temp_dir=str(home), overrides={"storage": {"postgres": {"postgres_url": url}}}
        ) as instance:
            yield instance
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()


def _legacy(instance: dg.DagsterInstance, catalog: CatalogDatabase, sources: int, runs: int):
    ids = []
    for index in range(sources):
        source = catalog.data_sources.create(
            tenant_id=f"tenant-{index % 5}",
            name=f"Source {index}",
            connector_type="sqlite",
            config={"path": "/nonexistent.db"},
        )
        ids.append(source.id)
    instance.add_dynamic_partitions(DATA_SOURCES_PARTITION, ids)
    for source_id in ids:
        for _ in range(runs):
            instance.create_run_for_job(
                metadata_sync_job,
                tags={PARTITION_TAG: source_id},
                status=dg.DagsterRunStatus.SUCCESS,
            )
    return ids


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--runs-per-source", type=int, default=10)
    parser.add_argument("--postgres")
    args = parser.parse_args()
    total = args.sources * args.runs_per_source
    print(f"load average {_load()}")
    print(
        f"{args.sources} sources, {total} runs, storage {'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        catalog = CatalogDatabase(
            f"sqlite:///{tmp}/catalog.db", CredentialCipher([Fernet.generate_key().decode()])
        )
        catalog.upgrade()
        with _instance(args.postgres, Path(tmp) / "baseline") as instance:
            _legacy(instance, catalog, args.sources, args.runs_per_source)
            started = time.perf_counter()
            for run in instance.get_runs(dg.RunsFilter(job_name=metadata_sync_job.name)):
                instance.add_run_tags(run.run_id, {PARTITION_TAG: f"x/{run.tags[PARTITION_TAG]}"})
            baseline = time.perf_counter() - started
        catalog.dispose()
        catalog = CatalogDatabase(
            f"sqlite:///{tmp}/catalog2.db", CredentialCipher([Fernet.generate_key().decode()])
        )
        catalog.upgrade()
        with _instance(args.postgres, Path(tmp) / "migrated") as instance:
            _legacy(instance, catalog, args.sources, args.runs_per_source)
            started = time.perf_counter()
            report = migrate_partition_keys(instance, catalog)
            elapsed = time.perf_counter() - started
        catalog.dispose()
    print(f"baseline (add_run_tags per run, partition tag only): {baseline:.2f} s")
    print(
        f"migrate_partition_keys: {elapsed:.2f} s = {elapsed / baseline:.2f}x baseline, "
        f"{elapsed / total * 1000:.1f} ms per run; {report.summary()}"
    )
    print(f"load average {_load()}")


if __name__ == "__main__":
    main()
