"""Maps PyMySQL errors to the project's error classes, by server / client error number.

The server's own message is kept (it says which user, database or privilege), the password never is:
MySQL does not echo passwords, and callers scrub messages with the credential values anyway.
"""

from __future__ import annotations

import pymysql

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

#: Wrong user or password, or an authentication plugin refusing the login.
AUTHENTICATION = {1045, 1698, 1251, 2059, 1862, 1820}
#: The login worked but a privilege is missing (database, table, column, routine, global).
PRIVILEGE = {1044, 1142, 1143, 1227, 1370, 1356, 3523, 1095}
#: Configuration points at something that does not exist.
CONFIGURATION = {1049, 2005}
#: The server or the network went away, or the server is shutting down / killed us.
UNAVAILABLE = {2002, 2003, 2006, 2013, 2055, 1053, 1077, 1152, 1184, 1927, 4031, 1158, 1159, 1161}
#: The server gave up on a statement because of a time limit.
TIMEOUT = {1205, 3024, 1969, 1317, 1028}
#: The server refuses more work from us for now.
THROTTLED = {1040, 1203, 1226}

PRIVILEGE_NAMES = {
    1044: "access to the database",
    1142: "a table privilege",
    1143: "a column privilege",
    1227: "a global privilege",
    1370: "a routine privilege",
    1356: "access to the objects a view references",
    3523: "a role",
    1095: "PROCESS privilege",
}


def classify(error: BaseException, where: str) -> ExtractorError:
    """A classified error for `error`, raised while doing `where` (e.g. "connecting to db:3306")."""
    code, text = _code_and_text(error)
    message = f"MySQL error {code} while {where}: {text}" if code else f"{where}: {text}"
    if code in AUTHENTICATION:
        return AuthenticationError(f"authentication failed while {where}: {text}")
    if code in PRIVILEGE:
        needed = PRIVILEGE_NAMES.get(code, "a privilege")
        return PrivilegeError(f"missing privilege ({needed}) while {where}: {text}")
    if code in THROTTLED:
        return ThrottledError(message)
    if code in CONFIGURATION:
        return ConfigurationError(message)
    if code == 2003 and name_not_resolved(text):
        return ConfigurationError(f"host name does not resolve while {where}: {text}")
    timed_out = "timed out" in text.lower()
    if code in TIMEOUT or (code in UNAVAILABLE and timed_out):
        return SourceTimeoutError(message)
    if code in {2003, 2013, 2006} and "ssl" in text.lower():
        # A TLS handshake failure (bad CA, hostname mismatch) does not heal by retrying.
        return ConfigurationError(f"TLS handshake failed while {where}: {text}")
    if code in UNAVAILABLE or isinstance(error, pymysql.err.InterfaceError | OSError):
        return SourceUnavailableError(message)
    if isinstance(error, TimeoutError):
        return SourceTimeoutError(message)
    return SourceResponseError(message)


def is_connection_lost(error: ExtractorError) -> bool:
    """Whether an error ends the session (the rest of the sync cannot go on without reconnecting)."""
    return isinstance(error, SourceUnavailableError | SourceTimeoutError | AuthenticationError)


def _code_and_text(error: BaseException) -> tuple[int | None, str]:
    if isinstance(error, pymysql.err.MySQLError) and error.args:
        first = error.args[0]
        if isinstance(first, int):
            text = str(error.args[1]) if len(error.args) > 1 else ""
            return first, text or "connection closed"
        return None, str(first)
    return None, str(error) or type(error).__name__
