"""A sync run in this process with its progress reported line by line, for the command line.

The run executes in a worker thread while this thread follows its event log: steps starting and
finishing, and each failed attempt with the wait before the next. Dagster's own console output is
turned off; the full event log (with tracebacks) stays in the instance.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable

import dagster as dg

from metadata_pipelines.catalog.records import DataSource
from metadata_pipelines.orchestration.retries import SYNC_RETRY_POLICY
from metadata_pipelines.orchestration.runner import SyncOutcome, execute_sync

POLL_SECONDS = 0.2
ATTEMPTS = SYNC_RETRY_POLICY.max_retries + 1
_SHOWN = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_RESTARTED,
    dg.DagsterEventType.STEP_UP_FOR_RETRY,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}


def sync_with_progress(
    source: DataSource,
    instance: dg.DagsterInstance,
    emit: Callable[[str], None],
    trigger: str = "manual",
    *,
    confirm_deletions: bool = False,
    log_level: str = "CRITICAL",
) -> SyncOutcome:
    """Like execute_sync, calling `emit` with a line per step event; raises what it raises.

    The run's own console logger prints from `log_level` (by default nothing: `emit` reports)."""
    run_id = str(uuid.uuid4())
    outcome: list[SyncOutcome] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(
                execute_sync(
                    source.id,
                    source.tenant_id,
                    instance=instance,
                    trigger=trigger,
                    log_level=log_level,
                    run_id=run_id,
                    confirm_deletions=confirm_deletions,
                )
            )
        except BaseException as error:  # re-raised in the calling thread
            failure.append(error)

    worker = threading.Thread(target=run, name=f"sync-{source.id}", daemon=True)
    worker.start()
    follower = _Follower(run_id, emit)
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        follower.poll(instance)
    if failure:
        raise failure[0]
    follower.poll(instance)
    return outcome[0]


class _Follower:
    def __init__(self, run_id: str, emit: Callable[[str], None]) -> None:
        self._run_id = run_id
        self._emit = emit
        self._cursor: str | None = None
        self._attempts: dict[str, int] = {}

    def poll(self, instance: dg.DagsterInstance) -> None:
        if instance.get_run_by_id(self._run_id) is None:
            return  # not created yet
        while True:
            connection = instance.get_records_for_run(self._run_id, cursor=self._cursor)
            self._cursor = connection.cursor
            for record in connection.records:
                event = record.event_log_entry.dagster_event
                if event is not None and event.event_type in _SHOWN:
                    self._emit(self._line(event))
            if not connection.has_more:
                return

    def _line(self, event: dg.DagsterEvent) -> str:
        step = event.step_key or "run"
        attempt = self._attempts.get(step, 1)
        if event.event_type in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED):
            return f"{step}: started" + (
                f" (attempt {attempt} of {ATTEMPTS})" if attempt > 1 else ""
            )
        if event.event_type is dg.DagsterEventType.STEP_UP_FOR_RETRY:
            self._attempts[step] = attempt + 1
            data = event.event_specific_data
            wait = getattr(data, "seconds_to_wait", None)
            reason = _message(getattr(data, "error", None)).removeprefix(f"{step}: ")
            later = f"; next in {wait:.0f} s" if wait is not None else ""
            return f"{step}: attempt {attempt} of {ATTEMPTS} failed: {reason}{later}"
        if event.event_type is dg.DagsterEventType.STEP_SUCCESS:
            return f"{step}: done"
        return f"{step}: failed"


def _message(error: object) -> str:
    """The first line of the error a retry was for (the innermost cause), without its class."""
    if error is None:
        return "unknown error"
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    lines = (getattr(error, "message", "") or "").strip().splitlines()
    first = lines[0] if lines else "unknown error"
    class_name = re.escape(getattr(error, "cls_name", "") or "")
    return re.sub(rf"^[\w.]*{class_name}: ", "", first)
