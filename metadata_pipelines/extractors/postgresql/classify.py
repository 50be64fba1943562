"""Maps psycopg2 errors to the project's error classes, by SQLSTATE.

Errors the server raises on a statement carry their SQLSTATE (`pgcode`). Errors met while
connecting do not: libpq hands over only the message text (`connection to server at ... failed:
FATAL:  password authentication failed for user "x"`), so those are recognised by the server's
and libpq's fixed English phrases and given the SQLSTATE the server would have sent. The server
speaks English before a session exists unless its own `lc_messages` says otherwise; an unrecognised
message still lands in a sensible class (a connection failure is transient).

The password never appears: PostgreSQL does not echo it, and callers scrub every message with the
credential values anyway.
"""

from __future__ import annotations

import re

import psycopg2

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
    TransientExtractorError,
    name_not_resolved,
)

INVALID_PASSWORD = "28P01"  # noqa: S105 - a SQLSTATE, not a password
INVALID_AUTHORIZATION = "28000"  # pg_hba.conf rejection, unknown role, role without LOGIN
UNKNOWN_DATABASE = "3D000"
INSUFFICIENT_PRIVILEGE = "42501"
TOO_MANY_CONNECTIONS = "53300"
QUERY_CANCELED = "57014"  # statement_timeout (or a cancel request)
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout
IDLE_IN_TRANSACTION_TIMEOUT = "25P03"
ADMIN_SHUTDOWN = "57P01"  # server stopping, or pg_terminate_backend on this session
CRASH_SHUTDOWN = "57P02"
CANNOT_CONNECT_NOW = "57P03"  # starting up, shutting down, in recovery without hot standby
SERIALIZATION_FAILURE = "40001"
DEADLOCK = "40P01"
INTERNAL_ERROR = "XX000"

#: libpq and server phrases of errors met while connecting, and the SQLSTATE they stand for.
_CONNECT_PHRASES = [
    (re.compile(r"password authentication failed|no password supplied"), INVALID_PASSWORD),
    (
        re.compile(
            r"no pg_hba\.conf entry|pg_hba\.conf rejects|role \".*\" does not exist|"
            r"is not permitted to log in|authentication failed for user"
        ),
        INVALID_AUTHORIZATION,
    ),
    (re.compile(r"database \".*\" does not exist"), UNKNOWN_DATABASE),
    (re.compile(r"permission denied for database"), INSUFFICIENT_PRIVILEGE),
    (
        re.compile(r"too many clients|too many connections|remaining connection slots"),
        TOO_MANY_CONNECTIONS,
    ),
    (
        re.compile(
            r"the database system is (starting up|shutting down|in recovery mode|"
            r"not (yet )?accepting connections)|hot standby mode is disabled"
        ),
        CANNOT_CONNECT_NOW,
    ),
    (re.compile(r"terminating connection due to administrator command"), ADMIN_SHUTDOWN),
]
_TLS_CONFIGURATION = re.compile(
    r"server does not support SSL|certificate verify failed|does not match host name|"
    r"root certificate file|could not read certificate|could not load|"
    r"SSL error: (tlsv1 alert|unsupported protocol|wrong version)",
    re.IGNORECASE,
)
_TIMED_OUT = re.compile(r"timeout expired|timed out", re.IGNORECASE)


def sqlstate(error: BaseException) -> str | None:
    """The error's SQLSTATE, from the server or recognised in a connection error's message."""
    code = getattr(error, "pgcode", None)
    if code:
        return code
    text = str(error)
    for pattern, state in _CONNECT_PHRASES:
        if pattern.search(text):
            return state
    return None


def classify(error: BaseException, where: str) -> ExtractorError:
    """A classified error for `error`, raised while doing `where` (e.g. "connecting to db:5432")."""
    text = _text(error)
    state = sqlstate(error)
    message = f"PostgreSQL error {state} while {where}: {text}" if state else f"{where}: {text}"
    if state in (INVALID_PASSWORD, INVALID_AUTHORIZATION):
        hint = ""
        if "no pg_hba.conf entry" in text and "no encryption" in text:
            hint = " (pg_hba.conf may accept this login over TLS only: check sslmode)"
        return AuthenticationError(f"authentication failed while {where}: {text}{hint}")
    if state == INSUFFICIENT_PRIVILEGE:
        return PrivilegeError(f"missing privilege while {where}: {text}")
    if state == UNKNOWN_DATABASE:
        return ConfigurationError(message)
    if state == TOO_MANY_CONNECTIONS:
        return ThrottledError(message)
    if state in (QUERY_CANCELED, LOCK_NOT_AVAILABLE, IDLE_IN_TRANSACTION_TIMEOUT):
        return SourceTimeoutError(message)
    if state in (ADMIN_SHUTDOWN, CRASH_SHUTDOWN, CANNOT_CONNECT_NOW) or (
        state is not None and state.startswith(("08", "53"))
    ):
        return SourceUnavailableError(message)
    if state in (SERIALIZATION_FAILURE, DEADLOCK) or (
        state == INTERNAL_ERROR and "cache lookup failed" in text
    ):
        # A catalog row vanished under a concurrent DDL statement: the next attempt will not see it.
        return TransientExtractorError(message)
    if state is not None:
        return SourceResponseError(message)
    if name_not_resolved(text):
        return ConfigurationError(f"host name does not resolve while {where}: {text}")
    if _TLS_CONFIGURATION.search(text):
        return ConfigurationError(f"TLS failed while {where}: {text}")
    if _TIMED_OUT.search(text):
        return SourceTimeoutError(message)
    if isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError | OSError):
        return SourceUnavailableError(message)
    return SourceResponseError(message)


def ends_the_sync(error: ExtractorError) -> bool:
    """Whether an error means the server cannot be read right now (fail the sync so it is retried)
    rather than that one database cannot: lost or refused connections, throttling, login failures."""
    return isinstance(error, SourceUnavailableError | ThrottledError | AuthenticationError) or (
        isinstance(error, SourceTimeoutError) and "while connecting" in error.message
    )


def _text(error: BaseException) -> str:
    # libpq messages end with a newline and indent continuation lines; keep one line.
    return " ".join(str(error).split()) or type(error).__name__
