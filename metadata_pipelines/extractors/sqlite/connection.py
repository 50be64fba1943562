"""Opening the file read-only, and classifying sqlite3 errors as permanent or transient."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from metadata_pipelines.extractors.errors import (
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
)

# Primary result codes (https://sqlite.org/rescode.html).
_SQLITE_ERROR, _SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED = 1, 3, 5, 6
_SQLITE_READONLY, _SQLITE_INTERRUPT, _SQLITE_IOERR, _SQLITE_CORRUPT = 8, 9, 10, 11
_SQLITE_CANTOPEN, _SQLITE_AUTH, _SQLITE_NOTADB = 14, 23, 26


def primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_local(error: sqlite3.Error) -> bool:
    """True for an error confined to the statement (bad relation), not to the whole file."""
    return isinstance(error, sqlite3.OperationalError) and primary_code(error) == _SQLITE_ERROR


def classify(error: sqlite3.Error, path: Path, timeout: float) -> ExtractorError:
    """Turn a whole-source sqlite3 error into the project's permanent / transient hierarchy."""
    code = primary_code(error)
    where = f"SQLite database {str(path)!r}"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return SourceTimeoutError(f"{where} is locked (waited {timeout:g}s): {error}")
    if code == _SQLITE_INTERRUPT:
        return SourceTimeoutError(f"reading {where} was interrupted: {error}")
    if code == _SQLITE_NOTADB:
        return ConfigurationError(f"{where} is not an SQLite database file: {error}")
    if code == _SQLITE_CORRUPT:
        return SourceResponseError(f"{where} is corrupt: {error}")
    if code in (_SQLITE_PERM, _SQLITE_AUTH, _SQLITE_READONLY):
        return PrivilegeError(f"{where} cannot be read: {error}")
    if code == _SQLITE_CANTOPEN:
        if not os.access(path, os.R_OK):
            return PrivilegeError(f"{where} is not readable by this process: {error}")
        return SourceUnavailableError(f"{where} could not be opened: {error}")
    if code == _SQLITE_IOERR:
        return SourceUnavailableError(f"I/O error reading {where}: {error}")
    return SourceResponseError(f"{where} could not be read: {error}")


def check_path(path: Path) -> None:
    if not path.exists():
        raise ConfigurationError(f"SQLite database file not found: {str(path)!r}")
    if not path.is_file():
        raise ConfigurationError(f"SQLite database path is not a file: {str(path)!r}")
    if not os.access(path, os.R_OK):
        raise PrivilegeError(f"SQLite database file is not readable: {str(path)!r}")


@contextmanager
def open_read_only(path: Path, timeout: float) -> Iterator[sqlite3.Connection]:
    """A read-only connection; `mode=ro` never creates the file and refuses every write."""
    check_path(path)
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=True)
    except sqlite3.Error as error:
        raise classify(error, path, timeout) from None
    with closing(connection):
        try:
            connection.execute("PRAGMA query_only = ON")
            # Reading the schema forces SQLite to parse the header: "not a database" shows here.
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield connection
        except sqlite3.Error as error:
            raise classify(error, path, timeout) from None
