"""Maps snowflake-connector-python errors to the project's error classes.

Snowflake answers a failed login or statement with a numeric code, which the connector keeps in
`errno` (a server code such as 390100, or one of the connector's own 25xxxx codes when it never got
an answer). Codes are the first test; the fixed English messages the service sends are the second,
for the few situations that share a generic code.

Server codes (Snowflake's, as the connector names them in `network.py`, and its documentation):
- 390100 wrong user or password; 390144 and 394300-394306 key-pair JWT rejected; 390102 user
  temporarily locked, 390101 user disabled; 390303 / 390318 OAuth token invalid or expired:
  authentication (permanent, never retried: a retry would lock the user sooner);
- 390189 role not granted to the user, 390201 warehouse missing or not granted: configuration;
- 390112 session expired, 390114 master token expired: the connector renews the session itself;
  when that fails (its own 252007) or one still escapes, it is transient (the extractor logs in
  once more);
- 002003 "does not exist or not authorized" and 003001 "insufficient privileges": a missing
  privilege, scoped to the database or schema that was being read;
- 090153 a SHOW result over 10,000 rows (see queries.py for what the extractor does instead);
- 000630 / 000604 statement timed out or was cancelled: timeout;
- connector codes 250001 (no answer after retries), 250003 (HTTP failure, 429 or 5xx from the
  gateway), 251011 (login timeout): transient.
"""

from __future__ import annotations

import re

from snowflake.connector import errors as sf_errors

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PermanentExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
    TransientExtractorError,
)

AUTHENTICATION_CODES = frozenset(
    {390100, 390101, 390102, 390144, 390303, 390318, *range(394300, 394307)}
)
ROLE_NOT_GRANTED = 390189
WAREHOUSE_NOT_GRANTED = 390201
#: Session expired, master token expired, and the connector's own failure to renew the session.
SESSION_EXPIRED_CODES = frozenset({390112, 390114, 252007})
OBJECT_NOT_AUTHORIZED = 2003
INSUFFICIENT_PRIVILEGES = 3001
SHOW_ROW_LIMIT_EXCEEDED = 90153
NO_ACTIVE_WAREHOUSE = 606
TIMEOUT_CODES = frozenset({604, 630})
NO_ANSWER = 250001
REQUEST_FAILED = 250003
CONNECTION_TIMEOUT = 251011


class RowLimitError(PermanentExtractorError):
    """A database or schema SHOW cannot list (over 10,000 rows) and no fallback applies."""

    code = "show_row_limit"


_THROTTLED = re.compile(r"\b429\b|too many requests|throttl", re.IGNORECASE)
_UNAVAILABLE = re.compile(
    r"\b50[234]\b|service unavailable|bad gateway|could not connect|connection (refused|reset|"
    r"aborted)|max retries exceeded|name or service not known|temporary failure in name",
    re.IGNORECASE,
)
_WAREHOUSE_RESUMING = re.compile(r"warehouse .*(is resuming|is suspended|cannot be resumed)", re.I)
_TIMED_OUT = re.compile(r"timed? ?out|timeout", re.IGNORECASE)


def code_of(error: BaseException) -> int | None:
    errno = getattr(error, "errno", None)
    return errno if isinstance(errno, int) and errno > 0 else None


def classify(error: BaseException, where: str) -> ExtractorError:
    """A classified error for `error`, raised while doing `where` (e.g. "logging in to acct")."""
    text = _text(error)
    code = code_of(error)
    tag = f" (Snowflake error {code:06d})" if code else ""
    message = f"{where}: {text}{tag}"
    if code in AUTHENTICATION_CODES:
        return AuthenticationError(f"authentication failed while {message}")
    if code in (ROLE_NOT_GRANTED, WAREHOUSE_NOT_GRANTED):
        return ConfigurationError(message)
    if code in (OBJECT_NOT_AUTHORIZED, INSUFFICIENT_PRIVILEGES):
        return PrivilegeError(f"missing privilege while {message}")
    if code in SESSION_EXPIRED_CODES:
        return TransientExtractorError(message)
    if code in TIMEOUT_CODES or code == CONNECTION_TIMEOUT:
        return SourceTimeoutError(message)
    if code == NO_ACTIVE_WAREHOUSE:
        return ConfigurationError(f"{message} (set `warehouse` in the data source's config)")
    if _WAREHOUSE_RESUMING.search(text):
        return TransientExtractorError(message)
    if _THROTTLED.search(text):
        return ThrottledError(message)
    if code in (NO_ANSWER, REQUEST_FAILED) or _UNAVAILABLE.search(text):
        return SourceUnavailableError(message)
    if isinstance(error, sf_errors.InterfaceError | OSError) or _TIMED_OUT.search(text):
        return SourceUnavailableError(message)
    return SourceResponseError(message)


def ends_the_sync(error: ExtractorError) -> bool:
    """Whether an error means the account cannot be read right now (fail the sync, to be retried)
    rather than that one database cannot: lost connection, throttling, login failures."""
    return (
        isinstance(
            error,
            SourceUnavailableError | ThrottledError | AuthenticationError | ConfigurationError,
        )
        or type(error) is TransientExtractorError
    )


def _text(error: BaseException) -> str:
    # The connector prefixes its own "000123 (42000): " to the message; keep the service's words.
    text = getattr(error, "raw_msg", None) or str(error)
    return " ".join(str(text).split()) or type(error).__name__
