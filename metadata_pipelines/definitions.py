"""The single Definitions object: it only assembles what `orchestration` defines."""

from __future__ import annotations

import dagster as dg

from metadata_pipelines.orchestration.handover import handover_retention_sensor
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.liveness import stale_run_sensor
from metadata_pipelines.orchestration.resources import default_resources
from metadata_pipelines.orchestration.run_status import (
    connector_run_canceled_sensor,
    connector_run_failure_sensor,
    connector_run_success_sensor,
)
from metadata_pipelines.orchestration.schedules import daily_metadata_sync, per_source_cron_sync
from metadata_pipelines.orchestration.sensors import data_source_sensor, run_request_sensor

defs = dg.Definitions(
    jobs=[metadata_sync_job],
    sensors=[
        data_source_sensor,
        run_request_sensor,
        connector_run_failure_sensor,
        connector_run_canceled_sensor,
        connector_run_success_sensor,
        stale_run_sensor,
        handover_retention_sensor,
    ],
    schedules=[daily_metadata_sync, per_source_cron_sync],
    resources=default_resources(),
)
