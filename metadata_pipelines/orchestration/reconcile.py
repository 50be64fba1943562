"""Record how a Dagster run ended in its connector-run row (used by the run-status sensors, the
lease reconciliation and the in-process runner)."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

import dagster as dg

from metadata_pipelines.catalog.connector_runs import RunOutcome
from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import ConnectorRun, RunStatus
from metadata_pipelines.extractors.errors import scrub
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.dagster_api import PARTITION_TAG, WILL_RETRY_TAG

MAX_MESSAGE_CHARS = 2000
#: How Dagster's code server words the exit of a run worker it launched (`get_run_crash_explanation`
#: in its orphaned-run check, and its start-up watch): the exit code or signal is only in this text.
_WORKER_EXIT = re.compile(
    r"(?:Run execution process|Subprocess) for \S+ (?:was terminated by signal (?P<signal>\d+)"
    r"|(?:unexpectedly exited with|terminated unexpectedly with exit) code (?P<code>-?\d+))"
)
_STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_UP_FOR_RETRY,
}


def reconcile_run(
    db: CatalogDatabase,
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    status: RunStatus,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
) -> tuple[ConnectorRun, bool]:
    """Record how `run` ended in its connector-run row; (row, whether anything changed)."""
    run = instance.get_run_by_id(run.run_id) or run  # fresh tags (will_retry is added at failure)
    key = run.tags.get(PARTITION_TAG)
    tenant_id = run.tags.get(run_tags.TENANT)
    data_source_id = None
    if key:
        try:
            source = db.data_sources.for_partition(key)
        except DataSourceNotFound:
            source = None
        if source is not None and tenant_id in (None, source.tenant_id):
            data_source_id, tenant_id = source.id, source.tenant_id
    record = instance.get_run_record_by_id(run.run_id)
    outcome = RunOutcome(
        dagster_run_id=run.run_id,
        status=status,
        tenant_id=tenant_id,
        data_source_id=data_source_id,
        trigger=run_tags.trigger_of(dict(run.tags)),
        parent_dagster_run_id=run.parent_run_id,
        pending_run_id=run.tags.get(run_tags.CONNECTOR_RUN_ID),
        error_code=error_code,
        error_message=_clean(db, error_message),
        will_retry=run.tags.get(WILL_RETRY_TAG, "").lower() == "true",
        started_at=_time(record.start_time) if record else None,
        finished_at=_time(record.end_time) if record else None,
    )
    return db.connector_runs.reconcile(outcome)


def step_failure_details(events: Iterable[dg.DagsterEvent]) -> tuple[str, str] | None:
    """(error code, message) of the first failed step among `events`: the code an op or the
    handover stored with its `Failure`, else `step_failed` with Dagster's error."""
    for event in events:
        data = event.step_failure_data
        user = data.user_failure_data
        code = "step_failed"
        if user is not None:
            text = user.description or ""
            stored_code = user.metadata.get("error_code") if user.metadata else None
            code = str(stored_code.value) if stored_code is not None else code
        else:
            text = error_text(data.error) if data.error else "unknown error"
        step = event.step_key or "step"
        return code, text if text.startswith(f"{step}:") else f"{step}: {text}"
    return None


class ErrorInfo(Protocol):
    """What is read of the error Dagster records for a failed step or run."""

    message: str
    cause: ErrorInfo | None
    context: ErrorInfo | None


def error_text(error: ErrorInfo) -> str:
    """The error's message with the messages of its causes (the cause says what went wrong)."""
    parts = []
    current: ErrorInfo | None = error
    while current is not None and len(parts) < 5:
        parts.append(current.message.strip())
        current = current.cause or current.context
    return " <- caused by: ".join(part for part in parts if part)


def worker_exit(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """What ended a launched run's worker process — its signal or exit code, and the step it was
    in — or None when no code server recorded it (the run was not launched, or its code server
    died with it).

    A killed worker cannot say anything itself; its parent, the gRPC code server, sees it exit and
    records an engine event with the signal or exit code before it fails the run with Dagster's
    generic "marked as failed from outside the execution context". This reads that event.
    """
    for record in reversed(instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)):
        event = record.dagster_event
        match = _WORKER_EXIT.search(event.message or "") if event else None
        if match is None:
            continue
        code = int(match["code"]) if match["code"] is not None else -int(match["signal"])
        step = _step_in_progress(instance, run_id)
        where = f" during {step}" if step else ""
        if code >= 0:
            return f"the run worker process exited with code {code}{where}"
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal"
        text = f"the run worker process was killed by {name} (signal {-code}){where}"
        if -code == signal.SIGKILL:
            text += (
                "; SIGKILL comes from the kernel's out-of-memory killer or from an operator: "
                "check the worker's memory"
            )
        return text
    return None


def _step_in_progress(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The step that had started and not ended when the run's events stop."""
    running: list[str] = []
    for record in instance.all_logs(run_id, of_type=_STEP_EVENTS):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type is dg.DagsterEventType.STEP_START:
            running.append(event.step_key)
        elif event.step_key in running:
            running.remove(event.step_key)
    return running[-1] if running else None


def _clean(db: CatalogDatabase, message: str | None) -> str | None:
    """Scrub the catalog's own password (a connection error may quote the URL) and truncate."""
    if message is None:
        return None
    text = scrub(message, db.secret_values())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _time(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None
