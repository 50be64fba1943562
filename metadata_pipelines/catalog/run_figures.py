"""What the metrics exporter reads from the catalog: per data source, its connector runs in figures.

A handful of aggregate statements over `connector_runs`, whatever the number of runs or sources (a
scrape every 15 to 60 s must stay cheap on a catalog with years of history): counts by status,
retries and error codes are GROUP BYs on plain columns; JSON `stats` are read only from each
source's latest successful run. Rows of runs whose data source is gone (NULL source) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from metadata_pipelines.catalog.records import ConnectorRun, RunStatus
from metadata_pipelines.catalog.schema import connector_runs, data_sources

#: Runs that extracted and persisted something (a partial run too).
SUCCESSFUL = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
ACTIVE = (RunStatus.PENDING, RunStatus.RUNNING)


@dataclass
class SourceFigures:
    """One data source's runs in figures (every count over the whole history in the catalog)."""

    id: str
    tenant_id: str
    name: str
    connector_type: str
    enabled: bool
    sync_schedule: str | None
    #: Finished runs by status, and active (pending / running) ones by status.
    runs: dict[str, int] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    #: Op retries: attempts beyond the first, over all runs.
    retries: int = 0
    #: Finished runs by the error code they ended with (failed, partial, canceled).
    errors: dict[str, int] = field(default_factory=dict)
    #: Failed runs since the latest successful one (all failed runs if none succeeded).
    consecutive_failures: int = 0
    #: The latest successful run (its stats hold the last sync's figures).
    last_success: ConnectorRun | None = None


def utc(stamp: datetime) -> datetime:
    """SQLite keeps no offset: its timestamps are UTC."""
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def source_figures(engine: sa.Engine) -> list[SourceFigures]:
    runs = connector_runs.c
    retries = sa.func.sum(sa.case((runs.attempts > 1, runs.attempts - 1), else_=0))
    by_status = sa.select(runs.data_source_id, runs.status, sa.func.count(), retries).group_by(
        runs.data_source_id, runs.status
    )
    by_error = (
        sa.select(runs.data_source_id, runs.error_code, sa.func.count())
        .where(runs.error_code.is_not(None), runs.status.not_in(ACTIVE))
        .group_by(runs.data_source_id, runs.error_code)
    )
    last = (
        sa.select(runs.data_source_id, sa.func.max(runs.finished_at).label("finished_at"))
        .where(runs.status.in_(SUCCESSFUL))
        .group_by(runs.data_source_id)
        .subquery()
    )
    last_rows = sa.select(connector_runs).join(
        last,
        sa.and_(
            last.c.data_source_id == runs.data_source_id,
            last.c.finished_at == runs.finished_at,
        ),
    )
    failures_since = (
        sa.select(runs.data_source_id, sa.func.count())
        .select_from(connector_runs.outerjoin(last, last.c.data_source_id == runs.data_source_id))
        .where(
            runs.status == RunStatus.FAILED,
            sa.or_(last.c.finished_at.is_(None), runs.finished_at > last.c.finished_at),
        )
        .group_by(runs.data_source_id)
    )
    sources = sa.select(
        data_sources.c.id,
        data_sources.c.tenant_id,
        data_sources.c.name,
        data_sources.c.connector_type,
        data_sources.c.enabled,
        data_sources.c.sync_schedule,
    ).order_by(data_sources.c.tenant_id, data_sources.c.name)
    with engine.connect() as connection:
        figures = {row.id: SourceFigures(**row._asdict()) for row in connection.execute(sources)}
        for source_id, status, count, retried in connection.execute(by_status):
            found = figures.get(source_id)
            if found is None:
                continue
            target = found.active if RunStatus(status) in ACTIVE else found.runs
            target[str(status)] = int(count)
            found.retries += int(retried or 0)
        for source_id, code, count in connection.execute(by_error):
            if source_id in figures:
                figures[source_id].errors[code] = int(count)
        for row in connection.execute(last_rows).mappings():
            found = figures.get(row["data_source_id"])
            run = ConnectorRun.model_validate(dict(row))
            if found is not None and (
                found.last_success is None or run.created_at > found.last_success.created_at
            ):
                found.last_success = run
        for source_id, count in connection.execute(failures_since):
            if source_id in figures:
                figures[source_id].consecutive_failures = int(count)
    return list(figures.values())
