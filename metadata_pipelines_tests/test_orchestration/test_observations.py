"""Every sync observes its data source as an external asset: what Dagster's Catalog lists."""

from __future__ import annotations

import dagster as dg

from metadata_pipelines.orchestration.observations import source_asset_key
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED, table, write_source

SECRET = "observed-pa55word"


def _observations(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[dg.EventLogRecord]:
    records = instance.fetch_observations(key, limit=10).records
    return sorted(records, key=lambda record: record.storage_id)


def _metadata(record: dg.EventLogRecord) -> dict:
    observation = record.asset_observation
    assert observation is not None
    return {label: value.value for label, value in observation.metadata.items()}


def test_each_sync_observes_its_source_with_counts_status_and_changes(
    job_catalog, dagster_instance, job_resources, tmp_path
):
    source_file = write_source(
        tmp_path / "source.json", [table("orders", {"id": "int", "total": "numeric"})]
    )
    catalog = job_catalog
    source = catalog.data_sources.create(
        tenant_id="acme",
        name="sales-db",
        connector_type=SCRIPTED,
        config={"source_file": str(source_file), "attempts_file": str(tmp_path / "n")},
        credentials={"password": SECRET},
    )
    key = source_asset_key(source.partition_key)
    assert key.path == ["data_sources", "acme", "sales-db"]

    first = execute_sync(
        source.id, "acme", instance=dagster_instance, resources=job_resources, trigger="manual"
    )
    write_source(
        tmp_path / "source.json",
        [table("orders", {"id": "int"}), table("refunds", {"id": "int"})],
    )
    execute_sync(source.id, "acme", instance=dagster_instance, resources=job_resources)
    catalog.data_sources.update(
        source.id,
        "acme",
        config={
            "source_file": str(source_file),
            "fail_step": "check",
            "failure": "permanent",
            "fail_times": 9,
        },
    )
    failed = execute_sync(source.id, "acme", instance=dagster_instance, resources=job_resources)

    records = _observations(dagster_instance, key)
    assert records[0].run_id == first.dagster_run_id
    assert records[-1].run_id == failed.dagster_run_id
    observed = [_metadata(record) for record in records]
    assert observed[0]["connector_run_status"] == "succeeded"
    assert observed[0]["connector_run_id"] == first.connector_run.id
    assert observed[0]["data_source_id"] == source.id
    assert (observed[0]["tables"], observed[0]["columns"]) == (1, 2)
    assert (observed[1]["tables"], observed[1]["tables_added"]) == (2, 1)
    assert "`shop.public.refunds`" in observed[1]["changes"]
    assert observed[2]["connector_run_status"] == "failed"
    assert observed[2]["error_code"] == "authentication_failed"
    assert SECRET not in repr(observed)

    # A rename keeps the partition key, so the Catalog keeps one asset with one history.
    catalog.data_sources.update(source.id, "acme", name="Sales DB (EU)")
    renamed = execute_sync(source.id, "acme", instance=dagster_instance, resources=job_resources)
    latest = _observations(dagster_instance, key)[-1]
    assert latest.run_id == renamed.dagster_run_id
    assert _metadata(latest)["data_source_name"] == "Sales DB (EU)"
    run = dagster_instance.get_run_by_id(renamed.dagster_run_id)
    assert run.tags["dagster/partition"] == "acme/sales-db"
