"""Where the steps of a run execute, chosen by METADATA_PIPELINES_EXECUTOR.

- `in_process` (default): the run's process executes its three steps one after another; the steps
  are sequential anyway, so this is the cheapest on one machine.
- `multiprocess`: one process per step, on the run's machine.
- `celery`: each step is a task on a Celery queue (RabbitMQ), executed by whichever worker takes
  it, possibly on another machine (`dagster-celery`; the workers run `celery_app.py`). The steps
  hand their outputs over through the handover IO manager, so it must be on storage every worker
  reaches: object storage (METADATA_PIPELINES_HANDOVER_URL=s3://...) or a shared volume.

The CLI's `sync` and `run_metadata_sync` execute in process whatever this says
(`execute_in_process`); the executor applies to runs the daemon launches (schedules, sensors,
backfills, the UI). Deployment: docs/scaling.md#steps-on-other-machines.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from metadata_pipelines.settings import Settings, get_settings

# The broker of a development machine: RabbitMQ on loopback with its default account.
LOCAL_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
# Step results (the events of each step) come back over the broker itself: no other store needed.
RESULT_BACKEND = "rpc://"
BROKER_ENV = Settings.variable("celery_broker_url")


def sync_executor(settings: Settings | None = None) -> dg.ExecutorDefinition:
    """The executor of `metadata_sync` for these settings (default: this process's)."""
    settings = settings or get_settings()
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {"broker": _broker_source(settings), "backend": RESULT_BACKEND}, name="celery"
        )
    return dg.in_process_executor


def _broker_source(settings: Settings) -> str | dict[str, str]:
    """The broker URL holds a password: the executor reads it from the environment of the process
    that runs it, so it is neither in the definitions (shown by the UI) nor in any run config."""
    return LOCAL_BROKER if settings.celery_broker_url is None else {"env": BROKER_ENV}


def celery_app_args(settings: Settings | None = None) -> dict[str, Any]:
    """The Celery app arguments the executor uses, for the workers' app (celery_app.py)."""
    from dagster_celery.executor import CeleryExecutor

    settings = settings or get_settings()
    secret = settings.celery_broker_url
    broker = LOCAL_BROKER if secret is None else secret.get_secret_value()
    return CeleryExecutor.for_cli(broker=broker, backend=RESULT_BACKEND).app_args()
