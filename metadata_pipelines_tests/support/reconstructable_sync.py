"""metadata_sync as a reconstructable job bound to the test catalog, for Dagster re-executions.

`dg.execute_job` (what a run retry or a UI re-execution does) rebuilds the job from a module-level
function (and caches it per process); the catalog URL is an EnvVar, read when each run starts.
"""

from __future__ import annotations

import dagster as dg

from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.resources import CatalogResource, ExtractorFactoryResource
from metadata_pipelines.settings import CATALOG_URL_ENV
from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH, SCRIPTED

EXTRA = {SCRIPTED: IMPORT_PATH}


def metadata_sync_for_tests() -> dg.JobDefinition:
    defs = dg.Definitions(
        jobs=[metadata_sync_job],
        resources={
            "catalog": CatalogResource(url=dg.EnvVar(CATALOG_URL_ENV), extra_connectors=EXTRA),
            "extractors": ExtractorFactoryResource(extra_connectors=EXTRA),
        },
    )
    return defs.get_job_def(metadata_sync_job.name)
