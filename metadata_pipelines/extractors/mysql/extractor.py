"""The MySQL / MariaDB extractor: one connection, a fixed set of queries per database.

PyMySQL is blocking, so every call that touches the socket runs in a worker thread
(`asyncio.to_thread`), one database at a time: the event loop stays free, and a cancelled sync stops
between databases. Mapping rows to models happens in the same thread call, because for tens of
thousands of columns it is CPU work the loop should not wait on either.

Failures are split by scope:
- connecting, authenticating, listing databases, or losing the connection at any point: raised as a
  classified error (permanent or transient) and the sync produces nothing;
- a database that cannot be read (missing privilege, a server error on its queries): an ERROR scoped
  to that database, the other databases still extracted;
- a broken view or unreadable table: an ERROR scoped to that object (see mapper.py);
- an unknown column type: a WARNING; the column is kept with its raw type.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pymysql
import pymysql.cursors
from pymysql.constants import CLIENT

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.blocking_reads import in_thread, stop_reads
from metadata_pipelines.extractors.errors import (
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    scrub,
)
from metadata_pipelines.extractors.mysql import queries
from metadata_pipelines.extractors.mysql.classify import classify, is_connection_lost
from metadata_pipelines.extractors.mysql.config import MySQLConfig, MySQLCredentials
from metadata_pipelines.extractors.mysql.mapper import (
    DatabaseExtract,
    DatabaseRows,
    Row,
    build_database,
    build_database_contents,
)
from metadata_pipelines.models import (
    AssetType,
    DatabaseMetadata,
    ExtractionBatch,
    ExtractionError,
    Severity,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Part:
    """A database to read: whole (`table_rows` None: its table list is read first), or the given
    rows of its table list, a later part of a large database."""

    database: DatabaseMetadata
    table_rows: list[Row] | None = None


@dataclass
class _PartRead:
    extract: DatabaseExtract
    #: Parts of the same database still to read (after its first part).
    following: list[_Part]


def _bounds(table_rows: list[Row]) -> tuple[str, str]:
    """First and last table name of a part, in the server's order (the tables query's)."""
    return table_rows[0][0], table_rows[-1][0]


@dataclass
class _Session:
    connection: pymysql.Connection
    capabilities: queries.Capabilities
    databases: list[DatabaseMetadata]


class MySQLExtractor(BaseMetadataExtractor):
    """Extracts databases, tables, views, columns, keys, indexes and routines from MySQL / MariaDB."""

    connector_type: ClassVar[str] = "mysql"
    config_model = MySQLConfig
    credentials_model = MySQLCredentials
    config: MySQLConfig
    credentials: MySQLCredentials

    def __init__(self, config: Any, credentials: Any = None) -> None:
        super().__init__(config, credentials)
        #: SQL statements sent during the last check or extraction (for benchmarks and tests).
        self.statements_sent = 0

    def usage(self) -> dict[str, int]:
        return {"statements": self.statements_sent}

    def get_supported_asset_types(self) -> list[AssetType]:
        return [
            AssetType.DATABASE,
            AssetType.TABLE,
            AssetType.VIEW,
            AssetType.COLUMN,
            AssetType.CONSTRAINT,
            AssetType.INDEX,
            AssetType.ROUTINE,
        ]

    async def check_connection(self) -> None:
        self.statements_sent = 0
        connection = await asyncio.to_thread(self._connect)
        try:
            await asyncio.to_thread(
                self._query, connection, "SELECT 1", None, "checking the server"
            )
        finally:
            await asyncio.to_thread(_close, connection)

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        """One batch per database in name order; a database of more than `batch_tables` tables
        in scope is read and handed over in parts of that many tables (in the server's name
        order), so memory is bounded by a batch, not by the largest database.

        The next part is read while the current batch is handed over, on the same connection
        (one read at a time), so at most two parts are held.
        """
        self.statements_sent = 0
        session = await asyncio.to_thread(self._open_session)
        pending = deque(_Part(database) for database in session.databases)
        reading: asyncio.Future[_PartRead] | None = None
        try:
            while pending:
                part = pending.popleft()
                reading = reading or in_thread(self._read_part, session, part)
                # Shielded: a cancelled pull leaves the read running, and the `finally` waits
                # for it, as the connection may be closed only once no thread uses it.
                read = await asyncio.shield(reading)
                reading = None
                pending.extendleft(reversed(read.following))
                if pending:  # read ahead while this batch is handed over
                    reading = in_thread(self._read_part, session, pending[0])
                extract = read.extract
                yield ExtractionBatch(
                    databases=[part.database] if part.table_rows is None else [],
                    tables=extract.tables,
                    routines=extract.routines,
                    errors=extract.errors,
                )
                del read, extract
        finally:
            if reading is not None:
                # Kill its query (as the mysql client does on Ctrl-C) until the read returns.
                thread_id = session.connection.thread_id()
                await stop_reads([reading], functools.partial(self._kill_query, thread_id))
            await asyncio.to_thread(_close, session.connection)

    # Blocking parts, run in worker threads ------------------------------------------------------

    def _connect(self) -> pymysql.Connection:
        config = self.config
        where = f"connecting to {config.host}:{config.port} as {self.credentials.username!r}"
        ssl_context = self._ssl_context()
        try:
            connection = pymysql.connect(
                host=config.host,
                port=config.port,
                user=self.credentials.username,
                password=self.credentials.password.get_secret_value(),
                database=config.database,
                charset="utf8mb4",
                # PyMySQL bounds only the TCP connect by connect_timeout; the handshake and the
                # login are reads. Bound them by the connection timeout too, so a server that
                # accepts and never answers fails fast, then switch to read_timeout for queries.
                connect_timeout=config.connection_timeout,
                read_timeout=config.connection_timeout,
                write_timeout=config.connection_timeout,
                ssl=ssl_context,
                autocommit=True,
                # information_schema times are in the session time zone; make them UTC.
                init_command="SET time_zone = '+00:00'",
                cursorclass=pymysql.cursors.Cursor,
            )
        except Exception as error:
            raise self._classified(error, where) from None
        self.statements_sent += 1  # the init command
        # No public setter exists; these are the attributes PyMySQL reads before every socket call.
        connection._read_timeout = config.read_timeout
        connection._write_timeout = config.read_timeout
        if ssl_context is not None and not connection.server_capabilities & CLIENT.SSL:
            # PyMySQL silently stays in plain text when the server offers no TLS; refuse instead.
            _close(connection)
            raise ConfigurationError(
                f"ssl_enabled is set but the server at {config.host}:{config.port} does not offer TLS"
            )
        return connection

    def _kill_query(self, thread_id: int) -> None:
        """`KILL QUERY` on the session's thread from a second connection; best effort (the server
        may be away, the query may just have ended, and one's own threads may always be killed)."""
        with contextlib.suppress(Exception):
            killer = self._connect()
            try:
                with killer.cursor() as cursor:
                    cursor.execute("KILL QUERY %s", (thread_id,))
            finally:
                _close(killer)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.ssl_enabled:
            return None
        try:
            context = ssl.create_default_context(cafile=self.config.ssl_ca)
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(
                f"ssl_ca {self.config.ssl_ca!r} cannot be used: {error}"
            ) from None
        if not self.config.ssl_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _open_session(self) -> _Session:
        connection = self._connect()
        try:
            rows = self._query(
                connection, queries.CAPABILITIES, None, "reading server capabilities"
            )
            caps = queries.Capabilities.from_rows(rows, connection.get_server_info() or "")
            one = self.config.database
            schemata = self._query(
                connection,
                queries.schemata(caps, one_database=one is not None),
                (one,) if one is not None else None,
                "listing databases",
            )
        except BaseException:
            _close(connection)
            raise
        databases = [build_database(row) for row in schemata if self.config.wants_database(row[0])]
        if len(databases) < len(schemata):
            logger.info(
                "%d of %d databases left out by the source's filters",
                len(schemata) - len(databases),
                len(schemata),
                extra={"databases_listed": len(schemata), "databases_in_scope": len(databases)},
            )
        if one is not None and not databases:
            # Connecting with `database` set already proved access; not listed means no privilege
            # that information_schema counts (for example only on columns of a dropped table).
            _close(connection)
            raise PrivilegeError(
                f"database {one!r} is not visible to user {self.credentials.username!r}"
            )
        return _Session(connection, caps, databases)

    def _read_part(self, session: _Session, part: _Part) -> _PartRead:
        """Read and map one part of a database: the whole of a small one, or (for a large one)
        its first `batch_tables` tables plus the parts that follow."""
        database = part.database.name
        following: list[_Part] = []
        try:
            rows = DatabaseRows(name=database)
            if part.table_rows is None:
                rows.tables = self._read_tables(session, database)
                in_scope = [row for row in rows.tables if self._wants(database, row)]
                size = self.config.batch_tables
                if len(in_scope) > size:
                    chunks = [in_scope[i : i + size] for i in range(0, len(in_scope), size)]
                    rows.tables = chunks[0]
                    following = [_Part(part.database, chunk) for chunk in chunks[1:]]
                    self._read_contents(session, rows, bounds=_bounds(chunks[0]))
                else:
                    self._read_contents(session, rows)
                if self.config.include_routines:
                    self._read_routines(session, rows)
            else:
                rows.tables = part.table_rows
                self._read_contents(session, rows, bounds=_bounds(part.table_rows))
        except ExtractorError as error:
            if is_connection_lost(error):
                raise
            logger.warning(
                "database %r skipped: %s",
                database,
                error.message,
                extra={"scope": database, "error_code": error.code},
            )
            failed = ExtractionError(
                scope=(database,),
                asset_type=AssetType.DATABASE,
                message=error.message,
                retryable=error.retryable,
                severity=Severity.ERROR,
                code=error.code,
            )
            return _PartRead(DatabaseExtract(tables=[], routines=[], errors=[failed]), [])
        extract = build_database_contents(rows, self.config, session.capabilities)
        return _PartRead(extract, following)

    def _wants(self, database: str, table_row: Row) -> bool:
        return self.config.wants_table(database, table_row[0]) and (
            self.config.include_views or table_row[1] != "VIEW"
        )

    def _reader(self, session: _Session, database: str) -> Callable[..., list[Row]]:
        def read(sql: str, what: str, args: tuple[str, ...] = (database,)) -> list[Row]:
            return self._query(session.connection, sql, args, f"reading {what} of {database!r}")

        return read

    def _read_tables(self, session: _Session, database: str) -> list[Row]:
        read = self._reader(session, database)
        tables = read(queries.tables(self.config.include_statistics), "tables")
        if not tables:
            # Empty, or hidden from us: information_schema cannot tell, this probe can.
            read(queries.privilege_probe(database), "the database definition", ())
        return tables

    def _read_contents(
        self, session: _Session, rows: DatabaseRows, bounds: tuple[str, str] | None = None
    ) -> None:
        """Send the per-table queries for `rows.tables` (all of the database's when `bounds` is
        None, else those named between the bounds), skipping those the earlier answers make
        pointless."""
        caps, database = session.capabilities, rows.name
        in_scope = [row for row in rows.tables if self._wants(database, row)]
        if not in_scope:
            return
        read = self._reader(session, database)
        extra = bounds or ()

        def scoped(sql: str, column: str = "TABLE_NAME") -> str:
            return sql if bounds is None else queries.in_range(sql, column)

        args = (database, *extra)
        rows.columns = read(scoped(queries.columns(caps)), "columns", args)
        rows.statistics = read(scoped(queries.statistics(caps)), "indexes", args)
        rows.key_columns = read(scoped(queries.KEY_COLUMN_USAGE), "keys", args)
        if any(r[5] is not None for r in rows.key_columns):
            rows.referential = read(
                scoped(queries.REFERENTIAL_CONSTRAINTS), "foreign key rules", args
            )
        check_sql = queries.check_constraints(caps)
        if check_sql is not None:
            if caps.check_constraints_table_name:
                rows.checks = read(scoped(check_sql), "check constraints", args)
            else:
                check_args = (database, database, *extra)
                rows.checks = read(
                    scoped(check_sql, "tc.TABLE_NAME"), "check constraints", check_args
                )
        if any(r[1] == "VIEW" for r in in_scope):
            rows.views = read(scoped(queries.VIEWS), "views", args)
        if any("partitioned" in (r[5] or "").lower() for r in in_scope):
            rows.partitions = read(scoped(queries.PARTITIONS), "partitions", args)

    def _read_routines(self, session: _Session, rows: DatabaseRows) -> None:
        read = self._reader(session, rows.name)
        rows.routines = read(queries.ROUTINES, "routines")
        if rows.routines:
            rows.parameters = read(queries.PARAMETERS, "routine parameters")

    def _query(
        self,
        connection: pymysql.Connection,
        sql: str,
        args: tuple[Any, ...] | None,
        where: str,
    ) -> list[Row]:
        """Run one statement and return all its rows; every statement the connector sends comes here."""
        self.statements_sent += 1
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
        except Exception as error:
            raise self._classified(error, where) from None

    def _classified(self, error: BaseException, where: str) -> ExtractorError:
        classified = classify(error, where)
        safe = scrub(classified.message, self.secret_values())
        classified.message = safe
        classified.args = (safe,)
        return classified


def _close(connection: pymysql.Connection) -> None:
    """Close quietly: after a lost connection there is nothing left to tell the server."""
    with contextlib.suppress(Exception):
        connection.close()
