"""A transient failure in the middle of a streamed extraction: the step retries, and persistence
writes the batches of the attempt that succeeded, not those the failed attempt left behind."""

from __future__ import annotations

import json

import sqlalchemy as sa

from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.orchestration.handover import HandoverIOManager
from metadata_pipelines.orchestration.resources import CatalogResource, ExtractorFactoryResource
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.support.streaming_extractor import IMPORT_PATH, STREAMING

EXTRA = {STREAMING: IMPORT_PATH}


def test_a_retried_extraction_hands_over_only_its_own_batches(
    catalog_url, job_resources, dagster_instance, tenant_id, tmp_path
):
    catalog = CatalogResource(url=catalog_url, extra_connectors=EXTRA).get_catalog()
    catalog.upgrade()
    source_file = tmp_path / "source.json"
    source_file.write_text(
        json.dumps(
            {
                # The failed attempt hands over a, b and c (c is gone by the retry), then fails.
                "first_attempt_databases": {"a": ["t1"], "b": ["t1"], "c": ["t1"], "d": ["t1"]},
                "databases": {"a": ["t1", "t2"], "b": ["t1"]},
            }
        )
    )
    source = catalog.data_sources.create(
        tenant_id=tenant_id,
        name="streamed",
        connector_type=STREAMING,
        config={
            "source_file": str(source_file),
            "attempts_file": str(tmp_path / "attempts"),
            "fail_attempts": 1,
            "fail_after": 3,
        },
    )
    resources = {
        "catalog": CatalogResource(url=catalog_url, extra_connectors=EXTRA),
        "extractors": ExtractorFactoryResource(extra_connectors=EXTRA),
        "io_manager": HandoverIOManager(url=str(tmp_path / "handover")),
    }

    outcome = execute_sync(source.id, tenant_id, instance=dagster_instance, resources=resources)

    assert outcome.status == "succeeded"
    assert outcome.connector_run.attempts == 2
    with catalog.engine.connect() as connection:
        names = set(
            connection.scalars(
                sa.select(assets.c.qualified_name).where(assets.c.data_source_id == source.id)
            )
        )
    assert names == {"a", "a.t1", "a.t2", "b", "b.t1"}  # nothing of the failed attempt's c
    assert not (tmp_path / "handover" / outcome.dagster_run_id).exists()
