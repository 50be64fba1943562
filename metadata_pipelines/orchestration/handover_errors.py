"""Failures of the handover store, sorted the way the sync's steps sort a source's failures.

Transient (the step retries with the sync's backoff): object storage unreachable (connection
refused or reset, timeouts), HTTP 5xx, throttling; a full disk or quota for local files. Permanent
(the step fails at once): access denied, bad credentials, no such bucket or object, a read-only or
forbidden directory. The messages name the store, the action and the store's own error code; they
hold no credentials (botocore's messages do not carry them, and no request is quoted).
"""

from __future__ import annotations

import errno
from typing import NoReturn

import dagster as dg

from metadata_pipelines.extractors.errors import (
    ExtractorError,
    PermanentExtractorError,
    TransientExtractorError,
)
from metadata_pipelines.orchestration.retries import retry_if_transient

#: A disk or quota that is full may be freed (by the retention sensor, or an operator).
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR}
_S3_PERMISSIONS = "s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on the prefix"


class HandoverUnavailable(TransientExtractorError):
    code = "handover_unavailable"


class HandoverRefused(PermanentExtractorError):
    code = "handover_refused"


def local_failure(error: OSError, what: str) -> ExtractorError:
    """A local file's failure; `str(error)` is `[Errno n] text: 'path'`."""
    kind = HandoverUnavailable if error.errno in _TRANSIENT_ERRNOS else HandoverRefused
    return kind(f"{what}: {error}")


def s3_failure(error: Exception, what: str) -> ExtractorError:
    """An S3 call's failure, once botocore's own retries are spent; retryable as the S3 connector
    decides it (extractors/s3/classify.py)."""
    from botocore.exceptions import ClientError

    from metadata_pipelines.extractors.s3.classify import classify

    retryable = classify(error, what).retryable
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        text = f"{what}: {code} (HTTP {status}): {details.get('Message') or code}"
        if not retryable and code in {"AccessDenied", "Forbidden", "403"}:
            text += f"; the handover needs {_S3_PERMISSIONS}"
    else:
        text = f"{what}: {type(error).__name__}: {error}"
    return (HandoverUnavailable if retryable else HandoverRefused)(text)


def fail_step(context: dg.OutputContext | dg.InputContext, error: ExtractorError) -> NoReturn:
    """Retry or fail the step whose output (or input) the store failed on, as the ops do with a
    source's failures: the failure happens in the IO manager, outside the op body, where Dagster
    would otherwise fail the step at once whatever the error."""
    step = context.step_context.step.key
    retry_number = context.step_context.previous_attempt_count
    text = retry_if_transient(context.log, retry_number, f"{step}: {error}", error)
    context.log.error(
        text, extra={"event": "failed", "error_code": error.code, "attempt": retry_number + 1}
    )
    raise dg.Failure(
        description=text, allow_retries=False, metadata={"error_code": error.code}
    ) from None
