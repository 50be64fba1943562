"""Run-status sensors: make `connector_runs` agree with how Dagster runs ended.

The ops record most outcomes themselves. These sensors cover what they cannot see:
- a run that failed before its first op could open its row (unknown partition key, resource or
  launch failure, a crashed run worker) gets a failed row with Dagster's error;
- a failed run that Dagster's run retries will repeat is marked `will_retry` (the retry is a new run,
  so a new row, linked to this one through Dagster's parent run id);
- a canceled run (queued or running) closes its row as canceled;
- a successful run whose row was left open (safety net) is closed as succeeded.
A row its ops already closed keeps their status and message.
"""

from __future__ import annotations

import dagster as dg

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.reconcile import (
    error_text,
    reconcile_run,
    step_failure_details,
    worker_exit,
)
from metadata_pipelines.orchestration.resources import CatalogResource
from metadata_pipelines.settings import get_settings


def failure_details(context: dg.RunFailureSensorContext) -> tuple[str, str]:
    """(error code, message) of a failed run: the first failed step's error, else how its worker
    process ended (signal or exit code, when its code server saw it), else the run's error."""
    failed_step = step_failure_details(context.get_step_failure_events())
    if failed_step is not None:
        return failed_step
    crashed = worker_exit(context.instance, context.dagster_run.run_id)
    if crashed is not None:
        return "worker_lost", crashed
    event = context.failure_event
    error = getattr(event.event_specific_data, "error", None)
    detail = error_text(error) if error is not None else ""
    message = event.message or "run failed"
    return "run_failed", f"{message} {detail}".strip()


@dg.run_failure_sensor(
    name="connector_run_failure_sensor",
    monitored_jobs=[metadata_sync_job],
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records failed metadata_sync runs (also those that failed before any op ran).",
)
def connector_run_failure_sensor(
    context: dg.RunFailureSensorContext, catalog: CatalogResource
) -> None:
    code, message = failure_details(context)
    row, changed = reconcile_run(
        catalog.get_catalog(),
        context.instance,
        context.dagster_run,
        RunStatus.FAILED,
        error_code=code,
        error_message=message,
    )
    if changed:
        context.log.info(
            f"connector run {row.id}: {row.status.value} (will_retry={row.will_retry})"
        )


@dg.run_status_sensor(
    name="connector_run_canceled_sensor",
    run_status=dg.DagsterRunStatus.CANCELED,
    monitored_jobs=[metadata_sync_job],
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Closes the connector run of a canceled metadata_sync run (queued or running).",
)
def connector_run_canceled_sensor(
    context: dg.RunStatusSensorContext, catalog: CatalogResource
) -> None:
    row, changed = reconcile_run(
        catalog.get_catalog(),
        context.instance,
        context.dagster_run,
        RunStatus.CANCELED,
        error_code="canceled",
        error_message="the Dagster run was canceled",
    )
    if changed:
        context.log.info(f"connector run {row.id}: canceled")


@dg.run_status_sensor(
    name="connector_run_success_sensor",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[metadata_sync_job],
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Safety net: closes a succeeded run's connector run if its ops left it open.",
)
def connector_run_success_sensor(
    context: dg.RunStatusSensorContext, catalog: CatalogResource
) -> None:
    row, changed = reconcile_run(
        catalog.get_catalog(), context.instance, context.dagster_run, RunStatus.SUCCEEDED
    )
    if changed:
        context.log.warning(f"connector run {row.id} was left open; closed as succeeded")
