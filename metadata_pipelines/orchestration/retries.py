"""How the steps of a sync retry transient failures: one policy for the ops and the handover.

The ops (and the handover's IO manager, whose failures happen outside the op body) raise
`RetryRequested` themselves instead of carrying the policy as their RetryPolicy: Dagster turns an
interrupt (a terminated run) inside an op with a RetryPolicy into a step retry, so a terminated run
would go on and succeed.
"""

from __future__ import annotations

import logging
from typing import Any

import dagster as dg

from metadata_pipelines.extractors.errors import ExtractorError, TransientExtractorError
from metadata_pipelines.settings import get_settings

SYNC_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3,
    delay=get_settings().retry_delay_seconds,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


def retry_delay(retry_number: int) -> float:
    """Seconds to wait before the attempt after `retry_number` (0 for the first attempt)."""
    return SYNC_RETRY_POLICY.calculate_delay(retry_number + 1)


def retry_requested(delay: float) -> dg.RetryRequested:
    return dg.RetryRequested(max_retries=SYNC_RETRY_POLICY.max_retries, seconds_to_wait=delay)


def attempts_left(retry_number: int) -> bool:
    return retry_number < SYNC_RETRY_POLICY.max_retries


def retry_fields(retry_number: int, code: str, delay: float) -> dict[str, Any]:
    """The `extra` of a retry's log record."""
    return {
        "event": "retry",
        "error_code": code,
        "attempt": retry_number + 1,
        "max_attempts": SYNC_RETRY_POLICY.max_retries + 1,
        "retry_in_seconds": round(delay, 3),
    }


def retry_if_transient(
    log: logging.Logger | dg.DagsterLogManager, retry_number: int, text: str, error: ExtractorError
) -> str:
    """Raise `RetryRequested` (with the policy's backoff) for a transient error with attempts left;
    else return `text` as the final failure's message."""
    if not error.retryable:
        return text
    if not attempts_left(retry_number):
        return f"{text} (gave up after {retry_number + 1} attempts)"
    delay = retry_delay(retry_number)
    log.warning(
        f"{text} (transient; attempt {retry_number + 1} of "
        f"{SYNC_RETRY_POLICY.max_retries + 1}, retrying)",
        extra=retry_fields(retry_number, error.code, delay),
    )
    # The scrubbed message as the cause: what the event log and the CLI's progress show.
    raise retry_requested(delay) from TransientExtractorError(text)
