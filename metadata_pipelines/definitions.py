"""The single Definitions object: it only assembles what `orchestration` defines."""

from __future__ import annotations

import dagster as dg

from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.resources import default_resources

defs = dg.Definitions(
    jobs=[metadata_sync_job],
    resources=default_resources(),
)
