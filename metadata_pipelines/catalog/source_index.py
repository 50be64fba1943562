"""Slim, bulk reads of data sources for orchestration sensors and schedules.

Sensors tick every few seconds over possibly thousands of sources, so these queries read only the
columns they need (no config, no credentials) in one statement each.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from metadata_pipelines.catalog.schema import data_sources


@dataclass(frozen=True)
class SourceRef:
    """What scheduling needs to know about a data source."""

    id: str
    tenant_id: str
    partition_key: str
    sync_schedule: str | None


def enabled_sources(engine: sa.Engine, *, with_schedule: bool | None = None) -> list[SourceRef]:
    """Enabled sources; `with_schedule` True/False keeps only those with/without their own cron."""
    query = (
        sa.select(
            data_sources.c.id,
            data_sources.c.tenant_id,
            data_sources.c.partition_key,
            data_sources.c.sync_schedule,
        )
        .where(data_sources.c.enabled.is_(True))
        .order_by(data_sources.c.id)
    )
    if with_schedule is True:
        query = query.where(data_sources.c.sync_schedule.is_not(None))
    elif with_schedule is False:
        query = query.where(data_sources.c.sync_schedule.is_(None))
    with engine.connect() as connection:
        return [SourceRef(*row) for row in connection.execute(query)]


def sources_fingerprint(engine: sa.Engine) -> str:
    """Changes whenever a source is added, removed, enabled, disabled or otherwise updated.

    Adding or removing a row changes the count; enabling or disabling changes the enabled count
    and the latest `updated_at`. One aggregate query, so an idle sensor tick costs almost nothing.
    """
    enabled = sa.func.sum(sa.case((data_sources.c.enabled.is_(True), 1), else_=0))
    query = sa.select(sa.func.count(), enabled, sa.func.max(data_sources.c.updated_at))
    with engine.connect() as connection:
        count, enabled_count, latest = connection.execute(query).one()
    stamp = latest.isoformat() if latest is not None else "-"
    return f"{count}:{enabled_count or 0}:{stamp}"
