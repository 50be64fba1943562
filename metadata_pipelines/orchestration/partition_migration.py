"""Moves a Dagster instance from data-source ids to readable partition keys, once.

Before catalog migration 0006 each source's partition key was its UUID. After it, each source has a
readable `partition_key` (catalog/partition_keys.py) and everything new uses that. What the instance
already holds is moved here, in an order that makes an interrupted migration safe to repeat:

1. every id partition of a known source gets its readable key added as a partition;
2. every run of `metadata_sync` tagged with a source id as its partition is re-tagged with the key
   (`instance.add_run_tags` rewrites the tag, the run's partition column and its stored body, so the
   partition status, the runs list and the run header show the run under the key). Runs that miss
   our source tags get them, and in-process runs made before they carried the code location's tags
   get those too, so they count in the partition status like daemon-launched runs;
3. job backfills that named ids name the keys instead (their page matches runs by partition key);
4. the id partitions are deleted.

Then a marker in the instance's key-value store records that it is done. `ensure_migrated` checks
the marker (one small query) and runs the migration only when it is missing; it is called on every
`data_source_sensor` tick (daemon deployments), before every in-process sync (CLI, Python API),
and `metadata-pipelines migrate` runs the migration unconditionally. Every step skips what is
already done, so two processes migrating at once, or a repeat after a crash, do no harm.

Re-tagging costs one `add_run_tags` per run (about 23 ms on PostgreSQL, see
bench/orchestration/partition_migration.py): an instance with 100,000 runs takes over half an hour,
far longer than a sensor tick may run. So a pass can be given a time budget: it stops re-tagging when
the budget is spent and reports itself incomplete (steps 3 and 4 and the marker wait for the pass
that finishes); the sensor gives each tick 30 s and skips its own work until the migration is
complete, so no source's moved partition looks new to it.

Partitions of removed sources (ids no source has) are left to `data_source_sensor`, which deletes
every partition without a source. Runs of removed sources keep their ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dagster as dg

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import DataSource
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.dagster_api import PARTITION_SET_TAG, PARTITION_TAG
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.location import location_tags
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION

MARKER = "metadata_pipelines/partition_keys"
MARKER_DONE = "readable (catalog migration 0006)"
RUN_BATCH = 200
ID_CHUNK = 500
SENSOR_BUDGET_SECONDS = 30.0
SYNC_BUDGET_SECONDS = 10.0


@dataclass(frozen=True)
class PartitionKeyMigration:
    """What one pass changed (all zero when there was nothing left to move)."""

    partitions_added: int
    runs_retagged: int
    backfills_updated: int
    partitions_deleted: int
    complete: bool = True

    def summary(self) -> str:
        text = (
            f"{self.partitions_added} partition(s) renamed to readable keys, "
            f"{self.runs_retagged} run(s) re-tagged, {self.backfills_updated} backfill(s) updated, "
            f"{self.partitions_deleted} id partition(s) deleted"
        )
        return text if self.complete else f"{text}; time budget spent, more runs to re-tag"


def is_migrated(instance: dg.DagsterInstance) -> bool:
    return instance.run_storage.get_cursor_values({MARKER}).get(MARKER) == MARKER_DONE


def ensure_migrated(
    instance: dg.DagsterInstance, db: CatalogDatabase, budget_seconds: float | None = None
) -> PartitionKeyMigration | None:
    """Migrate unless the instance's marker says it was done; None when it was."""
    if is_migrated(instance):
        return None
    return migrate_partition_keys(instance, db, budget_seconds)


def migrate_partition_keys(
    instance: dg.DagsterInstance, db: CatalogDatabase, budget_seconds: float | None = None
) -> PartitionKeyMigration:
    """Move partitions, runs and backfills from source ids to partition keys; sets the marker.

    With `budget_seconds`, stops re-tagging runs (after a batch) once that time has passed and
    returns an incomplete report; the next pass goes on where this one stopped.
    """
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    sources = {source.id: source for source in db.data_sources.list()}
    keys = {source_id: source.partition_key for source_id, source in sources.items()}
    existing = set(instance.get_dynamic_partitions(DATA_SOURCES_PARTITION))
    legacy = sorted(p for p in existing if p in keys and keys[p] != p)

    new_keys = sorted({keys[p] for p in legacy} - existing)
    if new_keys:
        instance.add_dynamic_partitions(DATA_SOURCES_PARTITION, new_keys)
    runs, complete = _retag_runs(instance, sources, deadline)
    if not complete:
        return PartitionKeyMigration(len(new_keys), runs, 0, 0, complete=False)
    backfills = _update_backfills(instance, keys)
    for partition in legacy:
        instance.delete_dynamic_partition(DATA_SOURCES_PARTITION, partition)
    instance.run_storage.set_cursor_values({MARKER: MARKER_DONE})
    return PartitionKeyMigration(
        partitions_added=len(new_keys),
        runs_retagged=runs,
        backfills_updated=backfills,
        partitions_deleted=len(legacy),
    )


def _retag_runs(
    instance: dg.DagsterInstance, sources: Mapping[str, DataSource], deadline: float | None
) -> tuple[int, bool]:
    """Re-tag the runs whose partition is a source id; (how many, whether all). Re-tagged runs
    leave the filter, so each query returns the next batch until none is left."""
    retagged = 0
    for ids in _chunks(sorted(sources), ID_CHUNK):
        while True:
            batch = instance.get_runs(
                dg.RunsFilter(job_name=metadata_sync_job.name, tags={PARTITION_TAG: ids}),
                limit=RUN_BATCH,
            )
            if not batch:
                break
            for run in batch:
                source = sources[run.tags[PARTITION_TAG]]
                instance.add_run_tags(run.run_id, _new_tags(run, source))
            retagged += len(batch)
            if deadline is not None and time.monotonic() > deadline:  # at least a batch a pass
                return retagged, False
    return retagged, True


def _new_tags(run: dg.DagsterRun, source: DataSource) -> dict[str, str]:
    tags = {
        # The source's name and tenant as they were when the run ran stay as recorded.
        **{k: v for k, v in run_tags.source_tags(source).items() if k not in run.tags},
        PARTITION_TAG: source.partition_key,
    }
    if PARTITION_SET_TAG not in run.tags:  # an in-process run from before it carried these
        tags.update(location_tags(metadata_sync_job.name))
    return tags


def _update_backfills(instance: dg.DagsterInstance, keys: Mapping[str, str]) -> int:
    updated = 0
    for backfill in instance.get_backfills():
        names = backfill.partition_names
        if backfill.job_name != metadata_sync_job.name or not names:
            continue
        if not any(name in keys for name in names):
            continue
        checkpoint = backfill.last_submitted_partition_name
        instance.update_backfill(
            backfill._replace(
                partition_names=[keys.get(name, name) for name in names],
                last_submitted_partition_name=keys.get(checkpoint, checkpoint)
                if checkpoint
                else checkpoint,
            )
        )
        updated += 1
    return updated


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
