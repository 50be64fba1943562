"""Schedules: a daily re-sync of every enabled source, and per-source cron expressions.

Sources without their own `sync_schedule` follow `daily_metadata_sync` (cron from
METADATA_PIPELINES_DAILY_SYNC_CRON, default 02:00). Sources with one are synced by
`per_source_cron_sync`, a single schedule that ticks every minute and launches the sources whose cron
matches that minute, so thousands of sources need no Dagster schedule each. Both evaluate cron in
METADATA_PIPELINES_SCHEDULE_TIMEZONE (default UTC).

Run keys are `<source id>:<tick minute>` (the id: it never changes), so one tick never launches a
source twice (also when the daemon re-evaluates a tick). A source that already has a sync pending,
queued or running is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import dagster as dg
from croniter import croniter

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.source_index import SourceRef, enabled_sources
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.dagster_api import IN_FLIGHT_STATUSES, PARTITION_TAG
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION
from metadata_pipelines.orchestration.resources import CatalogResource
from metadata_pipelines.settings import get_settings


def busy_sources(instance: dg.DagsterInstance, db: CatalogDatabase) -> set[str]:
    """Ids of sources with a pending connector run, and partition keys (or, for a run made before
    the keys, ids) of sources with an in-flight Dagster run (two queries)."""
    in_flight = instance.get_runs(
        dg.RunsFilter(job_name=metadata_sync_job.name, statuses=list(IN_FLIGHT_STATUSES))
    )
    keys = {run.tags.get(PARTITION_TAG) for run in in_flight}
    return db.connector_runs.active_data_source_ids() | {key for key in keys if key}


def _tick_time(context: dg.ScheduleEvaluationContext) -> datetime:
    tick = context.scheduled_execution_time
    if tick is None:  # evaluated by hand (UI "test schedule"): the current minute
        tick = datetime.now(UTC)
    return tick.replace(second=0, microsecond=0)


def _requests(
    context: dg.ScheduleEvaluationContext,
    db: CatalogDatabase,
    due: Iterable[SourceRef],
    tick: datetime,
) -> list[dg.RunRequest]:
    partitions = set(context.instance.get_dynamic_partitions(DATA_SOURCES_PARTITION))
    busy = busy_sources(context.instance, db)
    minute = tick.strftime("%Y-%m-%dT%H:%M%z")
    requests = []
    for source in due:
        # A source without a partition yet gets its first sync from data_source_sensor.
        if source.id in busy or source.partition_key in busy:
            continue
        if source.partition_key not in partitions:
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{source.id}:{minute}",
                partition_key=source.partition_key,
                tags={run_tags.TRIGGER: "schedule"},
            )
        )
    return requests


@dg.schedule(
    name="daily_metadata_sync",
    cron_schedule=get_settings().daily_sync_cron,
    execution_timezone=get_settings().schedule_timezone,
    job=metadata_sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-syncs every enabled data source that has no sync_schedule of its own.",
)
def daily_metadata_sync(
    context: dg.ScheduleEvaluationContext, catalog: CatalogResource
) -> list[dg.RunRequest] | dg.SkipReason:
    db = catalog.get_catalog()
    tick = _tick_time(context)
    requests = _requests(context, db, enabled_sources(db.engine, with_schedule=False), tick)
    return requests or dg.SkipReason("no enabled data source is due or idle")


@dg.schedule(
    name="per_source_cron_sync",
    cron_schedule="* * * * *",
    execution_timezone=get_settings().schedule_timezone,
    job=metadata_sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every minute: syncs the data sources whose own sync_schedule matches the minute.",
)
def per_source_cron_sync(
    context: dg.ScheduleEvaluationContext, catalog: CatalogResource
) -> list[dg.RunRequest] | dg.SkipReason:
    db = catalog.get_catalog()
    tick = _tick_time(context)
    due = [
        source
        for source in enabled_sources(db.engine, with_schedule=True)
        if croniter.match(source.sync_schedule, tick)
    ]
    if not due:
        return dg.SkipReason(f"no data source's sync_schedule matches {tick:%Y-%m-%d %H:%M}")
    requests = _requests(context, db, due, tick)
    return requests or dg.SkipReason("every due data source already has a sync in flight")
