"""Liveness of syncs: a lease on each active connector run, and the reconciliation that expires it.

While a process works on a run it renews the row's lease (`heartbeat_at`, and `worker` =
`host:pid`) every fifth of the lease: the ops do it for every run, wherever it was launched, and an
in-process sync (CLI, Python API) also while it waits for its turn. A run whose lease ran out
(METADATA_PIPELINES_RUN_LEASE_SECONDS, default 300) has lost its process: `expire_stale_runs` closes
its row, and fails its Dagster run if that still looks alive, with a message that says what happened
instead of leaving both `running` / STARTED forever and the source refusing every later sync.

It runs before every in-process sync of a source, and on every tick of
`stale_run_sensor` under the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from types import TracebackType

import dagster as dg

from metadata_pipelines.catalog.database import CatalogDatabase, catalog_unavailable
from metadata_pipelines.catalog.records import ConnectorRun, RunStatus
from metadata_pipelines.orchestration.reconcile import reconcile_run, worker_exit
from metadata_pipelines.orchestration.resources import CatalogResource
from metadata_pipelines.settings import get_settings

logger = logging.getLogger(__name__)

_ENDED = {
    dg.DagsterRunStatus.SUCCESS: RunStatus.SUCCEEDED,
    dg.DagsterRunStatus.FAILURE: RunStatus.FAILED,
    dg.DagsterRunStatus.CANCELED: RunStatus.CANCELED,
}


#: The name of each thread renewing a lease starts with this, then the connector run's id.
LEASE_THREAD_PREFIX = "lease-"


def lease_seconds() -> float:
    return get_settings().run_lease_seconds


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Renews the lease of connector run `run_id` from a thread for as long as the block runs."""

    def __init__(self, db: CatalogDatabase, run_id: str) -> None:
        self._db = db
        self._run_id = run_id
        # Read once, here: the thread must not read (and so cache) the settings of whatever
        # runs in the process later.
        self._interval = lease_seconds() / 5
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=LEASE_THREAD_PREFIX + run_id, daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        worker = worker_name()
        while not self._stop.wait(self._interval):
            try:
                if not self._db.connector_runs.heartbeat(self._run_id, worker):
                    return  # closed
            except Exception as error:  # the catalog away: the lease tells the rest
                if not catalog_unavailable(error):
                    raise
                logger.warning(
                    "lease of connector run %s not renewed: catalog unavailable", self._run_id
                )


def expire_stale_runs(
    db: CatalogDatabase, instance: dg.DagsterInstance, data_source_id: str | None = None
) -> list[ConnectorRun]:
    """Close the active rows whose lease ran out (of one source, or all); returns them closed."""
    closed = []
    for row in db.connector_runs.expired(lease_seconds(), data_source_id):
        assert row.dagster_run_id is not None
        run = instance.get_run_by_id(row.dagster_run_id)
        if run is not None and run.status is dg.DagsterRunStatus.QUEUED:
            continue  # waiting for the queue, not lost
        ended = close_if_ended(db, instance, row)
        if ended is not None:
            closed.append(ended)
            continue
        message = f"the sync's process stopped: {_silence(row)}"
        if run is None:
            message += f"; its Dagster run {row.dagster_run_id} does not exist"
        else:
            instance.report_run_failed(run, message=message)
        db.connector_runs.finish(
            row.id,
            RunStatus.FAILED,
            error_code="worker_lost",
            error_message=message,
            only_if_unfinished=True,
        )
        closed.append(db.connector_runs.get(row.id))
    return closed


def close_if_ended(
    db: CatalogDatabase, instance: dg.DagsterInstance, row: ConnectorRun
) -> ConnectorRun | None:
    """Close `row` if its Dagster run has ended (its process did not record the outcome: killed
    between the run's end and the update, or the catalog was away); None if the run has not."""
    run = instance.get_run_by_id(row.dagster_run_id) if row.dagster_run_id else None
    if run is None or run.status not in _ENDED:
        return None
    code, message = None, None
    if run.status is not dg.DagsterRunStatus.SUCCESS:
        code, message = (
            "run_ended_unrecorded",
            (f"the Dagster run ended {run.status.value} before its process recorded why"),
        )
        crashed = worker_exit(instance, run.run_id)
        if crashed is not None:  # its code server saw the worker die: say how
            code, message = "worker_lost", crashed
    record, _ = reconcile_run(
        db, instance, run, _ENDED[run.status], error_code=code, error_message=message
    )
    return record


def _silence(row: ConnectorRun) -> str:
    """What is known of the process that held the lease."""
    last = row.heartbeat_at or row.started_at or row.created_at
    text = f"no heartbeat since {last.isoformat(timespec='seconds')} (lease {lease_seconds():g} s)"
    if not row.worker:
        return text
    host, _, pid = row.worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return f"{text} from worker {row.worker}"
    return f"{text}; worker process {pid} on {host} {_process_state(int(pid))}"


def _process_state(pid: int) -> str:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "is gone (killed or crashed)"
    return "is gone (killed or crashed; a zombie)" if state == "Z" else "is alive but hung"


@dg.sensor(
    name="stale_run_sensor",
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Closes connector runs whose process stopped renewing its lease (killed worker, lost "
        "host) and fails their Dagster runs, so no sync stays running forever."
    ),
)
def stale_run_sensor(
    context: dg.SensorEvaluationContext, catalog: CatalogResource
) -> dg.SkipReason:
    closed = expire_stale_runs(catalog.get_catalog(), context.instance)
    for row in closed:
        context.log.warning(f"connector run {row.id}: {row.status.value}: {row.error_message}")
    return dg.SkipReason(f"{len(closed)} run(s) with an expired lease closed")
