"""pymongo errors as the connector's error classes, with a message that names the fix.

Server error codes are MongoDB's (src/mongo/base/error_codes.yml); the driver's own exceptions
(server selection, network) are classified by class.
"""

from __future__ import annotations

from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    InvalidURI,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongo.errors import ConfigurationError as DriverConfigurationError

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

AUTHENTICATION_FAILED = 18
UNAUTHORIZED = 13
NAMESPACE_NOT_FOUND = 26
MAX_TIME_EXPIRED = 50
COMMAND_NOT_FOUND = 59
#: The namespace was dropped or renamed while a cursor read it.
_DROPPED = {NAMESPACE_NOT_FOUND, 175, 237}  # NamespaceNotFound, QueryPlanKilled, CursorKilled
#: A replica set changing its primary, a node shutting down or unreachable: another attempt, on
#: another node or after the election, succeeds.
_TRANSIENT = {
    6,  # HostUnreachable
    7,  # HostNotFound
    43,  # CursorNotFound (the node that held it went away)
    89,  # NetworkTimeout
    91,  # ShutdownInProgress
    189,  # PrimarySteppedDown
    202,  # NetworkInterfaceExceededTimeLimit
    9001,  # SocketException
    10107,  # NotWritablePrimary
    11600,  # InterruptedAtShutdown
    11602,  # InterruptedDueToReplStateChange
    13435,  # NotPrimaryNoSecondaryOk
    13436,  # NotPrimaryOrSecondary
}
_TIMED_OUT = {MAX_TIME_EXPIRED, 262}  # MaxTimeMSExpired, ExceededTimeLimit
_THROTTLED = {
    16500,
    462,
}  # RequestRateTooLarge (Cosmos DB's MongoDB API), IngressRequestRateLimitExceeded
_UNSUPPORTED = {
    COMMAND_NOT_FOUND,
    115,
    40324,
    40415,
}  # CommandNotFound, CommandNotSupported, unknown stage / field


def code_of(error: BaseException) -> int | None:
    return error.code if isinstance(error, OperationFailure) else None


def is_dropped(error: BaseException) -> bool:
    """The collection was dropped (or renamed) while it was read."""
    return code_of(error) in _DROPPED


def is_unsupported(error: BaseException) -> bool:
    """The server does not know the command or stage (an older server, an emulation)."""
    return code_of(error) in _UNSUPPORTED


def is_time_limit(error: BaseException) -> bool:
    """The server stopped the operation at its time limit (maxTimeMS)."""
    return code_of(error) in _TIMED_OUT


def is_unauthorized(error: BaseException) -> bool:
    return code_of(error) == UNAUTHORIZED


def classify(error: BaseException, what: str) -> ExtractorError:
    """The ExtractorError for a pymongo failure while doing `what`."""
    if isinstance(error, ExtractorError):
        return error
    text = _message(error)
    if isinstance(error, ExecutionTimeout):  # before OperationFailure: it is one (code 50)
        return SourceTimeoutError(
            f"{what}: the server stopped the operation at its time limit ({text}); raise "
            "sample_max_time_seconds or lower schema_sample_size"
        )
    if isinstance(error, OperationFailure):
        code = error.code
        if code == AUTHENTICATION_FAILED:
            return AuthenticationError(
                f"{what}: MongoDB rejected the credentials ({text}); check username, password "
                "and auth_source (the database that holds the user)"
            )
        if code == UNAUTHORIZED:
            return PrivilegeError(
                f"{what}: not authorized ({text}); the user needs the built-in 'read' role on "
                "each database to read (readAnyDatabase for all of them)"
            )
        if code in _TRANSIENT or error.has_error_label("RetryableError"):
            return SourceUnavailableError(f"{what}: the server is not available now ({text})")
        if code in _TIMED_OUT:
            return SourceTimeoutError(f"{what}: the server timed out ({text})")
        if code in _THROTTLED:
            return ThrottledError(f"{what}: the server is throttling requests ({text})")
        return SourceResponseError(f"{what}: MongoDB refused it ({text})")
    if isinstance(error, InvalidURI | DriverConfigurationError):
        return ConfigurationError(f"{what}: {text}")
    if isinstance(error, ServerSelectionTimeoutError):
        if name_not_resolved(text):
            return ConfigurationError(f"{what}: a host name does not resolve ({text})")
        return SourceUnavailableError(
            f"{what}: no suitable MongoDB server answered within "
            f"server_selection_timeout_seconds ({_first_line(text)})"
        )
    if isinstance(error, NetworkTimeout):
        return SourceTimeoutError(f"{what}: the server did not answer in time ({text})")
    if isinstance(error, AutoReconnect | ConnectionFailure | OSError):
        return SourceUnavailableError(f"{what}: connection to MongoDB lost ({text})")
    if isinstance(error, PyMongoError):
        return SourceResponseError(f"{what}: {type(error).__name__}: {text}")
    return SourceResponseError(f"{what}: {type(error).__name__}: {text}")


def _message(error: BaseException) -> str:
    """The server's own message, without pymongo's dump of the whole reply (`full error: ...`)."""
    if isinstance(error, OperationFailure):
        details = error.details or {}
        message = details.get("errmsg") or str(error).split(", full error:", 1)[0]
        name = details.get("codeName")
        return f"{name}: {message}" if name else str(message)
    return str(error)


def _first_line(text: str) -> str:
    """Server selection errors append the whole topology description; keep the cause."""
    return text.split(", Timeout:", 1)[0]
