"""Fixtures of the catalog tests."""

from __future__ import annotations

import pytest

from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED


@pytest.fixture
def source(catalog, tenant_id, tmp_path):
    """A registered source to persist into (its connector is never run by these tests)."""
    return catalog.data_sources.create(
        tenant_id=tenant_id,
        name="scripted",
        connector_type=SCRIPTED,
        config={"source_file": str(tmp_path / "unused.json")},
        credentials={"password": "pw"},
    )
