"""daily_metadata_sync and per_source_cron_sync, evaluated with Dagster's schedule test context."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.orchestration.run_requests import request_metadata_sync
from metadata_pipelines.orchestration.schedules import daily_metadata_sync, per_source_cron_sync
from metadata_pipelines_tests.test_orchestration.automation_support import (
    QUEUED_COORDINATOR,
    queued_run,
    register,
)

TICK = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)


@pytest.fixture
def queued_instance(tmp_path):
    home = tmp_path / "queued_home"
    home.mkdir()
    with dg.instance_for_test(overrides=QUEUED_COORDINATOR, temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture
def sources(job_catalog, queued_instance, tenant_id, tmp_path):
    """Four enabled sources with partitions (two with their own cron), a disabled one, and a new
    enabled one whose partition the data source sensor has not added yet."""
    made = {
        "daily": register(job_catalog, tenant_id, tmp_path, "daily"),
        "daily2": register(job_catalog, tenant_id, tmp_path, "daily2"),
        "every5": register(job_catalog, tenant_id, tmp_path, "every5", sync_schedule="*/5 * * * *"),
        "at3": register(job_catalog, tenant_id, tmp_path, "at3", sync_schedule="0 3 * * *"),
        "off": register(job_catalog, tenant_id, tmp_path, "off", enabled=False),
    }
    for source in made.values():
        ensure_partition(queued_instance, source.partition_key)
    made["new"] = register(job_catalog, tenant_id, tmp_path, "new")
    return made


def _evaluate(schedule, instance, resources, tick=TICK):
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick, resources=resources
    )
    return schedule(context)


def test_daily_schedule_syncs_every_idle_enabled_source_without_its_own_cron(
    sources, queued_instance, job_resources
):
    requests = _evaluate(daily_metadata_sync, queued_instance, job_resources)

    by_key = {r.partition_key: r for r in requests}
    assert set(by_key) == {sources["daily"].partition_key, sources["daily2"].partition_key}
    request = by_key[sources["daily"].partition_key]
    assert request.run_key == f"{sources['daily'].id}:2026-03-02T10:05+0000"
    assert request.tags[run_tags.TRIGGER] == "schedule"


def test_one_tick_gives_the_same_run_keys_so_dagster_launches_each_source_once(
    sources, queued_instance, job_resources
):
    first = _evaluate(daily_metadata_sync, queued_instance, job_resources)
    second = _evaluate(daily_metadata_sync, queued_instance, job_resources)
    next_day = _evaluate(daily_metadata_sync, queued_instance, job_resources, TICK.replace(day=3))

    assert sorted(r.run_key for r in first) == sorted(r.run_key for r in second)
    assert len({r.run_key for r in first}) == len(first)
    assert not {r.run_key for r in first} & {r.run_key for r in next_day}


def test_sources_with_a_sync_in_flight_are_skipped(
    sources, queued_instance, job_resources, job_catalog, tenant_id
):
    request_metadata_sync(sources["daily"].id, tenant_id, catalog=job_catalog)  # pending row
    queued_run(queued_instance, sources["daily2"].partition_key)  # waiting in Dagster's queue

    result = _evaluate(daily_metadata_sync, queued_instance, job_resources)

    assert isinstance(result, dg.SkipReason)


def test_per_source_cron_launches_only_the_sources_due_this_minute(
    sources, queued_instance, job_resources
):
    due = _evaluate(per_source_cron_sync, queued_instance, job_resources)
    at_three = _evaluate(
        per_source_cron_sync, queued_instance, job_resources, TICK.replace(hour=3, minute=0)
    )
    not_due = _evaluate(
        per_source_cron_sync, queued_instance, job_resources, TICK.replace(minute=6)
    )

    assert [r.partition_key for r in due] == [sources["every5"].partition_key]
    assert due[0].run_key == f"{sources['every5'].id}:2026-03-02T10:05+0000"
    assert due[0].tags[run_tags.TRIGGER] == "schedule"
    assert sorted(r.partition_key for r in at_three) == sorted(
        [sources["every5"].partition_key, sources["at3"].partition_key]
    )
    assert isinstance(not_due, dg.SkipReason)
    assert "10:06" in not_due.skip_message


def test_per_source_cron_ignores_disabled_sources_and_follows_schedule_changes(
    sources, queued_instance, job_resources, job_catalog, tenant_id
):
    job_catalog.data_sources.update(sources["every5"].id, tenant_id, enabled=False)
    job_catalog.data_sources.update(sources["daily"].id, tenant_id, sync_schedule="5 10 * * 1")

    due = _evaluate(per_source_cron_sync, queued_instance, job_resources)  # a Monday, 10:05
    daily = _evaluate(daily_metadata_sync, queued_instance, job_resources)

    assert [r.partition_key for r in due] == [sources["daily"].partition_key]
    assert [r.partition_key for r in daily] == [sources["daily2"].partition_key]
