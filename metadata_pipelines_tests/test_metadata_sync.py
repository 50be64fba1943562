"""The seed's programmatic API: `await run_metadata_sync(data_source_id, tenant_id, run_id)`."""

from __future__ import annotations

import asyncio
import signal

import pytest

from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.metadata_sync import run_metadata_sync
from metadata_pipelines.orchestration.instance import get_instance
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines.sample import create_sample_database


@pytest.fixture
def embedded(configured_home, tmp_path):
    """A sample source, in the embedded default and in the production configuration."""
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    source = catalog.data_sources.create(
        tenant_id="acme",
        name="shop",
        connector_type="sqlite",
        config={"path": str(create_sample_database(tmp_path / "shop.db"))},
    )
    return catalog, source


def test_run_metadata_sync_returns_the_connector_run(embedded):
    catalog, source = embedded

    run = asyncio.run(run_metadata_sync(source.id, "acme"))

    assert run.status is RunStatus.SUCCEEDED
    assert run.trigger == "application"
    dagster_run = get_instance().get_run_by_id(run.dagster_run_id)
    assert dagster_run.tags["dagster/partition"] == source.partition_key == "acme/shop"
    assert catalog.connector_runs.get(run.id, "acme") == run


def test_run_id_adopts_a_pending_connector_run(embedded):
    catalog, source = embedded
    pending, created = catalog.connector_runs.create_pending("acme", source.id, "application")
    assert created and pending.status is RunStatus.PENDING

    run = asyncio.run(run_metadata_sync(source.id, "acme", run_id=pending.id))

    assert run.id == pending.id
    assert run.status is RunStatus.SUCCEEDED
    assert run.dagster_run_id is not None


def test_a_tenant_that_does_not_own_the_source_runs_nothing(embedded):
    catalog, source = embedded

    with pytest.raises(DataSourceNotFound):
        asyncio.run(run_metadata_sync(source.id, "intruder"))

    assert get_instance().get_runs() == []
    assert catalog.connector_runs.list(data_source_id=source.id) == []


def test_does_not_block_the_callers_event_loop(embedded):
    _, source = embedded
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async def main():
        task = asyncio.create_task(ticker())
        run = await run_metadata_sync(source.id, "acme")
        task.cancel()
        return run

    assert asyncio.run(main()).status is RunStatus.SUCCEEDED
    assert ticks > 1


@pytest.mark.timeout(600, method="thread")  # a deadlock would not let a signal through
def test_concurrent_calls_all_finish(configured_home, tmp_path):
    """Concurrent calls are the async API's normal use: each one finishes and records its run."""
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    sources = [
        catalog.data_sources.create(
            tenant_id="acme",
            name=f"shop{index}",
            connector_type="sqlite",
            config={"path": str(create_sample_database(tmp_path / f"shop{index}.db"))},
        )
        for index in range(3)
    ]

    async def main():
        return await asyncio.wait_for(
            asyncio.gather(*(run_metadata_sync(source.id, "acme") for source in sources)),
            timeout=480,
        )

    runs = asyncio.run(main())

    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 3
    assert {run.data_source_id for run in runs} == {source.id for source in sources}
    instance = get_instance()
    assert {instance.get_run_by_id(run.dagster_run_id).status.value for run in runs} == {"SUCCESS"}


@pytest.fixture
def sigint_ignored():
    """The process as `nohup` or `&` from a script starts it: SIGINT ignored."""
    sigint, sigterm = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # an earlier in-process run may have changed it
    yield
    signal.signal(signal.SIGINT, sigint)
    signal.signal(signal.SIGTERM, sigterm)


def test_a_sync_leaves_sigterm_as_it_found_it_in_a_process_ignoring_sigint(
    embedded, sigint_ignored
):
    """Dagster's in-process run would leave SIGTERM ignored; later runs in a worker thread then
    waited 2 x 30 s for their compute-log `tail -F` processes and left them running."""
    _, source = embedded
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    outcome = execute_sync(source.id, "acme", instance=get_instance())
    run = asyncio.run(run_metadata_sync(source.id, "acme"))

    assert outcome.status == "succeeded" and run.status is RunStatus.SUCCEEDED
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
