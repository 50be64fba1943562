"""Maps google-cloud-bigquery / google-auth / transport errors to the project's error classes.

BigQuery says why in `errors[0].reason` (see the API's error messages table): `accessDenied`,
`rateLimitExceeded`, `quotaExceeded`, `backendError`, `notFound`, ... The HTTP status alone is not
enough: a 403 is a missing permission for `accessDenied` but throttling for `rateLimitExceeded`.
"""

from __future__ import annotations

import concurrent.futures

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
    name_not_resolved,
)

THROTTLING_REASONS = {"rateLimitExceeded", "quotaExceeded", "jobRateLimitExceeded"}
UNAVAILABLE_REASONS = {"backendError", "internalError", "badGateway", "jobBackendError"}
CONFIGURATION_REASONS = {
    "billingNotEnabled",
    "billingTierLimitExceeded",
    "bytesBilledLimitExceeded",
}


def reason(error: BaseException) -> str | None:
    """BigQuery's `reason` for an API error (`accessDenied`, `rateLimitExceeded`, ...)."""
    errors = getattr(error, "errors", None)
    try:
        return str(errors[0]["reason"])  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        return None


def is_not_found(error: BaseException) -> bool:
    return isinstance(error, api_exceptions.NotFound)


def is_access_denied(error: BaseException) -> bool:
    return isinstance(error, api_exceptions.Forbidden) and reason(error) not in THROTTLING_REASONS


def classify(error: BaseException, where: str) -> ExtractorError:
    """A classified error for `error`, raised while doing `where` (e.g. "listing datasets of p")."""
    if isinstance(error, ExtractorError):
        return error
    if isinstance(error, api_exceptions.RetryError):
        cause = error.cause
        if cause is None:
            return SourceTimeoutError(f"gave up retrying while {where}: {error.message}")
        classified = classify(cause, where)
        classified.message = f"gave up after retrying: {classified.message}"
        return classified
    text = _text(error)
    if isinstance(error, auth_exceptions.DefaultCredentialsError):
        return ConfigurationError(
            f"no Application Default Credentials while {where}: {text}; give a service-account "
            "key or run where ADC is available (GOOGLE_APPLICATION_CREDENTIALS, workload identity)"
        )
    if isinstance(error, auth_exceptions.RefreshError):
        if getattr(error, "retryable", False):
            return SourceUnavailableError(f"token refresh failed while {where}: {text}")
        return AuthenticationError(f"authentication failed while {where}: {text}")
    if isinstance(error, auth_exceptions.TransportError | requests.ConnectionError):
        if name_not_resolved(text):
            return ConfigurationError(f"host name does not resolve while {where}: {text}")
        return SourceUnavailableError(f"cannot reach BigQuery while {where}: {text}")
    if isinstance(error, requests.Timeout | concurrent.futures.TimeoutError | TimeoutError):
        return SourceTimeoutError(f"timed out while {where}: {text}")
    if isinstance(error, api_exceptions.GoogleAPICallError):
        why = reason(error)
        message = f"BigQuery {error.code} {why or ''} while {where}: {error.message}".replace(
            "  ", " "
        )
        if isinstance(error, api_exceptions.Unauthorized):
            return AuthenticationError(message)
        if why in THROTTLING_REASONS or isinstance(error, api_exceptions.TooManyRequests):
            return ThrottledError(message)
        if why in CONFIGURATION_REASONS:
            return ConfigurationError(message)
        if isinstance(error, api_exceptions.Forbidden):
            return PrivilegeError(message)
        if why in UNAVAILABLE_REASONS or isinstance(error, api_exceptions.ServerError):
            return SourceUnavailableError(message)
        return SourceResponseError(message)
    if isinstance(error, OSError):
        return SourceUnavailableError(f"{where}: {text}")
    return SourceResponseError(f"unexpected {type(error).__name__} while {where}: {text}")


def _text(error: BaseException) -> str:
    return str(error) or type(error).__name__
