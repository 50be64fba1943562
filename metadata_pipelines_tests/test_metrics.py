"""The metrics exporter: its text parses with Prometheus' parser and its numbers are the catalog's."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.metrics import catalog_registry
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED

CANARY = "canary-Metrics-5b2e77"
STATS = {
    "assets": {"inserted": 4, "updated": 1, "unchanged": 10, "deleted": 2, "restored": 0},
    "fields": {"inserted": 9, "updated": 0, "unchanged": 30, "deleted": 1, "restored": 1},
    "extracted": {"database": 1, "table": 3, "view": 1, "column": 12},
    "held": 1,
    "step_seconds": {"check_connection": 0.25, "extract_metadata": 3.5, "persist_metadata": 1.0},
    "source_usage": {"requests": 17, "bytes_read": 65536},
    "errors_by_code": {"missing_privilege": 2},
}


def _source(catalog, tenant_id, name, **options):
    return catalog.data_sources.create(
        tenant_id=tenant_id,
        name=name,
        connector_type=SCRIPTED,
        config={"source_file": "/nonexistent.json"},
        credentials={"password": CANARY},
        **options,
    )


def _run(catalog, source, number, status, *, attempts=1, error_code=None, stats=None):
    run = catalog.connector_runs.open_for_dagster_run(
        tenant_id=source.tenant_id,
        data_source_id=source.id,
        dagster_run_id=f"{source.id}-{number}",
        trigger="schedule",
    )
    for _ in range(attempts - 1):
        catalog.connector_runs.record_attempt(run.id)
    catalog.connector_runs.finish(run.id, status, error_code=error_code, stats=stats)


@pytest.fixture
def history(catalog, tenant_id):
    """Three sources: synced with failures after its latest success, never synced, disabled."""
    busy = _source(catalog, tenant_id, "sales", sync_schedule="*/30 * * * *")
    _run(catalog, busy, 1, RunStatus.SUCCEEDED, stats={**STATS, "held": 0})
    _run(catalog, busy, 2, RunStatus.FAILED, attempts=4, error_code="source_unavailable")
    _run(
        catalog,
        busy,
        3,
        RunStatus.PARTIAL,
        attempts=2,
        error_code="partial_extraction",
        stats=STATS,
    )
    _run(catalog, busy, 4, RunStatus.FAILED, error_code="authentication_failed")
    _run(catalog, busy, 5, RunStatus.FAILED, attempts=2, error_code="authentication_failed")
    catalog.connector_runs.create_pending(tenant_id, busy.id, "application")
    _source(catalog, tenant_id, "new")
    _source(catalog, tenant_id, "off", enabled=False)
    return busy


def _samples(text: str, tenant_id: str) -> dict[str, dict[tuple, float]]:
    """{metric sample name: {labels without the tenant's own: value}} for one tenant."""
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            if labels.pop("tenant_id") != tenant_id:
                continue
            found.setdefault(sample.name, {})[tuple(sorted(labels.items()))] = sample.value
    return found


def _by_source(samples: dict[tuple, float], name: str, **extra: str) -> float:
    matches = [
        value
        for labels, value in samples.items()
        if dict(labels)["data_source"] == name
        and all(dict(labels).get(k) == v for k, v in extra.items())
    ]
    assert len(matches) == 1, (name, extra, samples)
    return matches[0]


def test_the_exported_numbers_equal_the_catalog(catalog, tenant_id, history):
    text = generate_latest(catalog_registry(catalog.engine)).decode()
    samples = _samples(text, tenant_id)
    runs = catalog.connector_runs.list(tenant_id=tenant_id, data_source_id=history.id, limit=100)
    finished = [run for run in runs if run.status.finished]
    latest_success = max(
        (run for run in finished if run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)),
        key=lambda run: run.finished_at,
    )

    def metric(name, source="sales", **labels):
        return _by_source(samples[f"metadata_pipelines_{name}"], source, **labels)

    for status, count in Counter(run.status.value for run in finished).items():
        assert metric("sync_runs_total", status=status) == count
    assert metric("sync_runs_active", status="pending") == 1
    assert metric("sync_retries_total") == sum(run.attempts - 1 for run in finished) == 5
    for code, count in Counter(run.error_code for run in finished if run.error_code).items():
        assert metric("sync_errors_total", code=code) == count
    assert metric("sync_consecutive_failures") == 2
    finished_at = latest_success.finished_at
    stamp = (finished_at if finished_at.tzinfo else finished_at.replace(tzinfo=UTC)).timestamp()
    assert metric("sync_last_success_timestamp_seconds") == pytest.approx(stamp)
    assert metric("sync_schedule_period_seconds") == 1800
    assert metric("sync_schedule_period_seconds", "new") == 86400  # the daily schedule
    assert metric("data_source_enabled", "off") == 0 and metric("data_source_enabled", "new") == 1
    # The latest successful sync's stats (run 3), not run 1's.
    stats = latest_success.stats
    assert metric("last_sync_deletions_held") == stats["held"] == 1
    for rows in ("assets", "fields"):
        for change, count in stats[rows].items():
            assert metric("last_sync_changes", rows=rows, change=change) == count
    for step, seconds in stats["step_seconds"].items():
        assert metric("last_sync_step_duration_seconds", step=step) == seconds
    for kind, count in stats["extracted"].items():
        assert metric("last_sync_extracted", kind=kind) == count
    for measure, value in stats["source_usage"].items():
        assert metric("last_sync_source_usage", measure=measure) == value
    assert metric("last_sync_extraction_errors", code="missing_privilege") == 2
    # A source never synced has counters at zero and no last-sync series.
    assert (
        metric("sync_retries_total", "new") == 0 and metric("sync_consecutive_failures", "new") == 0
    )
    assert not [
        k for k in samples["metadata_pipelines_last_sync_duration_seconds"] if "new" in str(k)
    ]
    assert CANARY not in text


def test_the_command_prints_the_same_metrics_once(
    catalog, catalog_url, tenant_id, history, monkeypatch
):
    from metadata_pipelines.cli import main
    from metadata_pipelines.settings import get_settings

    monkeypatch.setenv("METADATA_PIPELINES_CATALOG_URL", catalog_url)
    monkeypatch.setenv("METADATA_PIPELINES_SECRET_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()

    result = CliRunner().invoke(main, ["metrics", "--once"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    expected = _samples(generate_latest(catalog_registry(catalog.engine)).decode(), tenant_id)
    printed = _samples(result.stdout, tenant_id)
    assert printed == expected and printed["metadata_pipelines_sync_runs_total"]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_api_serves_metrics_only_with_its_token(catalog, tenant_id, history):
    """In process (the served API's /metrics and its logs: test_api/test_observability.py)."""
    from starlette.testclient import TestClient

    from metadata_pipelines.api.app import create_app

    with TestClient(create_app(catalog)) as client:
        assert client.get("/metrics").status_code == 404  # no token configured
    with TestClient(create_app(catalog, metrics_token="scrape-token")) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer other"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_metrics_token"
        response = client.get("/metrics", headers={"Authorization": "Bearer scrape-token"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text, tenant_id)
    assert _by_source(samples["metadata_pipelines_sync_consecutive_failures"], "sales") == 2
