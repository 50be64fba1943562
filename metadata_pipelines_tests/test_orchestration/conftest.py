"""A real Dagster instance and a catalog wired the way the job's resources will find it."""

from __future__ import annotations

import dagster as dg
import pytest
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.secrets import SECRET_KEY_ENV
from metadata_pipelines.orchestration.resources import CatalogResource, ExtractorFactoryResource
from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH, SCRIPTED

EXTRA = {SCRIPTED: IMPORT_PATH}


@pytest.fixture
def dagster_instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture
def job_resources(catalog_url, monkeypatch):
    monkeypatch.setenv(SECRET_KEY_ENV, Fernet.generate_key().decode())
    return {
        "catalog": CatalogResource(url=catalog_url, extra_connectors=EXTRA),
        "extractors": ExtractorFactoryResource(extra_connectors=EXTRA),
    }


@pytest.fixture
def job_catalog(job_resources):
    catalog = job_resources["catalog"].get_catalog()
    catalog.upgrade()
    return catalog
