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
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pymysql
import pymysql.cursors
from pymysql.constants import CLIENT

from metadata_pipelines.extractors.base import BaseMetadataExtractor
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
        """One batch per database (its tables split by `batch_tables`), in name order.

        The next database is read while the current batch is handed over, on the same connection
        (one read at a time), so at most two databases are held: memory is bounded by the largest
        databases, not by the server.
        """
        self.statements_sent = 0
        session = await asyncio.to_thread(self._open_session)
        size = self.config.batch_tables
        ahead: asyncio.Future[DatabaseExtract] | None = None
        try:
            for index, database in enumerate(session.databases):
                extract = await (
                    ahead or asyncio.to_thread(self._extract_database, session, database.name)
                )
                ahead = None
                if index + 1 < len(session.databases):
                    following = session.databases[index + 1].name
                    ahead = asyncio.ensure_future(
                        asyncio.to_thread(self._extract_database, session, following)
                    )
                tables = extract.tables
                yield ExtractionBatch(
                    databases=[database],
                    tables=tables[:size],
                    routines=extract.routines,
                    errors=extract.errors,
                )
                for start in range(size, len(tables), size):
                    yield ExtractionBatch(tables=tables[start : start + size])
                del extract, tables
        except asyncio.CancelledError:
            # A terminate cancels the pull while a read may be running on the server: stop it
            # (as the mysql client does on Ctrl-C), so the connection closes now rather than when
            # that query would have ended.
            await asyncio.to_thread(self._kill_query, session.connection.thread_id())
            raise
        finally:
            if ahead is not None:  # the connection is free only once its read has ended
                with contextlib.suppress(BaseException):
                    await ahead
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

    def _extract_database(self, session: _Session, database: str) -> DatabaseExtract:
        try:
            rows = self._read_database(session, database)
        except ExtractorError as error:
            if is_connection_lost(error):
                raise
            logger.warning(
                "database %r skipped: %s",
                database,
                error.message,
                extra={"scope": database, "error_code": error.code},
            )
            return DatabaseExtract(
                tables=[],
                routines=[],
                errors=[
                    ExtractionError(
                        scope=(database,),
                        asset_type=AssetType.DATABASE,
                        message=error.message,
                        retryable=error.retryable,
                        severity=Severity.ERROR,
                        code=error.code,
                    )
                ],
            )
        return build_database_contents(rows, self.config, session.capabilities)

    def _read_database(self, session: _Session, database: str) -> DatabaseRows:
        """Send the per-database queries, skipping those the earlier answers make pointless."""
        connection, caps, config = session.connection, session.capabilities, self.config
        args = (database,)

        def read(sql: str, what: str, query_args: tuple[str, ...] = args) -> list[Row]:
            return self._query(connection, sql, query_args, f"reading {what} of {database!r}")

        rows = DatabaseRows(name=database)
        rows.tables = read(queries.tables(config.include_statistics), "tables")
        if not rows.tables:
            # Empty, or hidden from us: information_schema cannot tell, this probe can.
            read(queries.privilege_probe(database), "the database definition", ())
        in_scope = [
            r
            for r in rows.tables
            if config.wants_table(database, r[0]) and (config.include_views or r[1] != "VIEW")
        ]
        if in_scope:
            rows.columns = read(queries.columns(caps), "columns")
            rows.statistics = read(queries.statistics(caps), "indexes")
            rows.key_columns = read(queries.KEY_COLUMN_USAGE, "keys")
            if any(r[5] is not None for r in rows.key_columns):
                rows.referential = read(queries.REFERENTIAL_CONSTRAINTS, "foreign key rules")
            check_sql = queries.check_constraints(caps)
            if check_sql is not None:
                check_args = args if caps.check_constraints_table_name else (database, database)
                rows.checks = read(check_sql, "check constraints", check_args)
            if any(r[1] == "VIEW" for r in in_scope):
                rows.views = read(queries.VIEWS, "views")
            if any("partitioned" in (r[5] or "").lower() for r in in_scope):
                rows.partitions = read(queries.PARTITIONS, "partitions")
        if config.include_routines:
            rows.routines = read(queries.ROUTINES, "routines")
            if rows.routines:
                rows.parameters = read(queries.PARAMETERS, "routine parameters")
        return rows

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
