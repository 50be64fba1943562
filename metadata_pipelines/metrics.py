"""Sync metrics in Prometheus' text format, read from the catalog at each scrape.

The catalog's connector runs are the record of every sync, whichever process ran it (the daemon's
run workers, the CLI, the HTTP API's requests), so the exporter reads them instead of counting in
one process: `metadata-pipelines metrics` and the HTTP API's `/metrics` give the same figures, and
a restart loses nothing. Counters are totals over the runs in the catalog; `..._last_sync_...`
gauges describe each source's latest successful sync (its connector run's stats). Labels are the
source's tenant, id, name and connector type and a bounded value (status, step, error code): never
its config or credentials. Metric names and alert rules: docs/operations.md#metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from metadata_pipelines.catalog.records import ConnectorRun
from metadata_pipelines.catalog.run_figures import SourceFigures, source_figures, utc
from metadata_pipelines.settings import get_settings

PREFIX = "metadata_pipelines_"
SOURCE_LABELS = ["tenant_id", "data_source_id", "data_source", "connector_type"]


def _gauge(name: str, documentation: str, *extra: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=[*SOURCE_LABELS, *extra])


def _counter(name: str, documentation: str, *extra: str) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, documentation, labels=[*SOURCE_LABELS, *extra])


def schedule_period_seconds(cron: str, now: datetime, timezone: str) -> float:
    """The gap between a cron's next two ticks (the period a staleness alert multiplies)."""
    ticks = croniter(cron, now.astimezone(ZoneInfo(timezone)))
    first = ticks.get_next(datetime)
    return (ticks.get_next(datetime) - first).total_seconds()


class CatalogCollector(Collector):
    """Builds every metric from one read of the catalog (catalog/run_figures.py) per scrape."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        for source in source_figures(self._engine):
            families.add(source, datetime.now(UTC))
        yield from (value for value in vars(families).values() if isinstance(value, Metric))


class _Families:
    """The metric families of one scrape, in the order they are exposed."""

    def __init__(self) -> None:
        settings = get_settings()
        self._daily_cron, self._timezone = settings.daily_sync_cron, settings.schedule_timezone
        self.enabled = _gauge("data_source_enabled", "1 if the data source is enabled, else 0")
        self.period = _gauge(
            "sync_schedule_period_seconds",
            "Seconds between two scheduled syncs of an enabled source (its cron, or the daily one)",
        )
        self.runs = _counter("sync_runs", "Finished syncs by connector-run status", "status")
        self.active = _gauge("sync_runs_active", "Pending or running syncs", "status")
        self.retries = _counter("sync_retries", "Op retries (attempts beyond the first)")
        self.errors = _counter(
            "sync_errors", "Finished syncs by the error code they ended with", "code"
        )
        self.failures = _gauge(
            "sync_consecutive_failures", "Failed syncs since the source's latest successful one"
        )
        self.last_success = _gauge(
            "sync_last_success_timestamp_seconds",
            "When the latest successful (or partial) sync finished, Unix time",
        )
        self.duration = _gauge("last_sync_duration_seconds", "Latest successful sync: wall time")
        self.steps = _gauge(
            "last_sync_step_duration_seconds", "Latest successful sync: each op's time", "step"
        )
        self.extracted = _gauge(
            "last_sync_extracted", "Latest successful sync: assets and fields extracted", "kind"
        )
        self.changes = _gauge(
            "last_sync_changes",
            "Latest successful sync: catalog rows (assets, fields) by change",
            "rows",
            "change",
        )
        self.held = _gauge(
            "last_sync_deletions_held",
            "Latest successful sync: scopes whose deletions the fail-safe held",
        )
        self.scope_errors = _gauge(
            "last_sync_extraction_errors",
            "Latest successful sync: scoped extraction errors and warnings, by code",
            "code",
        )
        self.usage = _gauge(
            "last_sync_source_usage",
            "Latest successful sync: what was sent to or billed by the source "
            "(requests, statements, bytes), where the connector counts it",
            "measure",
        )

    def add(self, source: SourceFigures, now: datetime) -> None:
        labels = [source.tenant_id, source.id, source.name, source.connector_type]
        self.enabled.add_metric(labels, 1.0 if source.enabled else 0.0)
        if source.enabled:
            cron = source.sync_schedule or self._daily_cron
            self.period.add_metric(labels, schedule_period_seconds(cron, now, self._timezone))
        for status, count in sorted(source.runs.items()):
            self.runs.add_metric([*labels, status], count)
        for status, count in sorted(source.active.items()):
            self.active.add_metric([*labels, status], count)
        self.retries.add_metric(labels, source.retries)
        for code, count in sorted(source.errors.items()):
            self.errors.add_metric([*labels, code], count)
        self.failures.add_metric(labels, source.consecutive_failures)
        run = source.last_success
        if run is not None and run.finished_at is not None:
            self._add_last_sync(labels, run)

    def _add_last_sync(self, labels: list[str], run: ConnectorRun) -> None:
        assert run.finished_at is not None
        self.last_success.add_metric(labels, utc(run.finished_at).timestamp())
        if run.started_at is not None:
            seconds = (utc(run.finished_at) - utc(run.started_at)).total_seconds()
            self.duration.add_metric(labels, seconds)
        stats = run.stats or {}
        for step, seconds in sorted((stats.get("step_seconds") or {}).items()):
            if seconds is not None:
                self.steps.add_metric([*labels, step], float(seconds))
        for kind, count in sorted((stats.get("extracted") or {}).items()):
            self.extracted.add_metric([*labels, kind], float(count))
        for rows in ("assets", "fields"):
            for change, count in sorted((stats.get(rows) or {}).items()):
                self.changes.add_metric([*labels, rows, change], float(count))
        if "held" in stats:
            self.held.add_metric(labels, float(stats["held"]))
        for code, count in sorted((stats.get("errors_by_code") or {}).items()):
            self.scope_errors.add_metric([*labels, code], float(count))
        for measure, value in sorted((stats.get("source_usage") or {}).items()):
            self.usage.add_metric([*labels, measure], float(value))


def catalog_registry(engine: sa.Engine) -> CollectorRegistry:
    """A registry holding only the catalog's metrics (no process metrics of whoever serves it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CatalogCollector(engine))
    return registry
