"""Claims and leases of connector runs, on real SQLite and PostgreSQL catalogs."""

from __future__ import annotations

import threading

import pytest

from metadata_pipelines.catalog.connector_runs import SourceBusy
from metadata_pipelines.catalog.records import RunStatus


@pytest.fixture
def source(catalog, tenant_id):
    return catalog.data_sources.create(
        tenant_id=tenant_id, name="s", connector_type="sqlite", config={"path": "/nowhere.db"}
    )


def _claim(catalog, source, run_id: str):
    return catalog.connector_runs.claim(
        tenant_id=source.tenant_id,
        data_source_id=source.id,
        dagster_run_id=run_id,
        trigger="manual",
        worker="host:1",
    )


def test_of_concurrent_claims_exactly_one_wins(catalog, source):
    outcomes: list[object] = []

    def claim(index: int) -> None:
        try:
            outcomes.append(_claim(catalog, source, f"run-{index}"))
        except SourceBusy as busy:
            outcomes.append(busy)

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [o for o in outcomes if not isinstance(o, SourceBusy)]
    assert len(winners) == 1
    assert all(o.active.id == winners[0].id for o in outcomes if isinstance(o, SourceBusy))
    assert len(catalog.connector_runs.list(data_source_id=source.id)) == 1


def test_a_lease_expires_unless_renewed(catalog, source):
    claimed = _claim(catalog, source, "run-1")

    assert catalog.connector_runs.expired(3600, source.id) == []
    [expired] = catalog.connector_runs.expired(0, source.id)
    assert expired.id == claimed.id and expired.worker == "host:1"
    assert catalog.connector_runs.heartbeat(claimed.id, "host:2")
    assert catalog.connector_runs.get(claimed.id).worker == "host:2"
    catalog.connector_runs.finish(claimed.id, RunStatus.FAILED)
    assert not catalog.connector_runs.heartbeat(claimed.id, "host:2")  # closed: nothing renewed
    assert catalog.connector_runs.expired(0, source.id) == []
