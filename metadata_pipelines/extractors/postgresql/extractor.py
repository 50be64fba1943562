"""The PostgreSQL extractor: every database of a server, each in one short read-only transaction.

A PostgreSQL session sees one database, so each database is read over its own connection, in one
`REPEATABLE READ READ ONLY` transaction (a consistent snapshot of its catalog, and nothing left idle
in a transaction: the connection closes right after COMMIT). Up to `max_concurrent_databases` are
read at once. psycopg2 is blocking: each database's connection, queries and mapping run in worker
threads (`asyncio.to_thread`), so the event loop stays free; psycopg2 releases the GIL while it
waits on the server, so databases overlap their server time, and one database's mapping overlaps
the next one's reading.

Every session sets, in the startup packet (no extra statement): `application_name`,
`statement_timeout`, `lock_timeout` (catalog deparsing functions wait behind an ALTER TABLE),
`idle_in_transaction_session_timeout`, `search_path = pg_catalog` (names in types and definitions
print schema-qualified, whatever the role's own search_path) and `TimeZone = UTC`.

Failures are split by scope:
- the first connection (authentication, TLS, an unknown host or database), listing databases, or
  losing the server at any point (refused, shut down, too many connections): raised as a classified
  error and the sync produces nothing;
- a database that cannot be read (no CONNECT, pg_hba rejects it, a statement or lock timeout, a
  missing catalog privilege): an ERROR scoped to that database, which protects its assets from
  deletion; the other databases are still read;
- a database dropped between listing and reading: left out (it is gone), with a WARNING.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg2
import psycopg2.extensions

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.blocking_reads import in_thread, stop_reads
from metadata_pipelines.extractors.errors import (
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
    scrub,
)
from metadata_pipelines.extractors.postgresql import queries
from metadata_pipelines.extractors.postgresql.classify import UNKNOWN_DATABASE, classify, sqlstate
from metadata_pipelines.extractors.postgresql.config import (
    PostgreSQLConfig,
    PostgreSQLCredentials,
)
from metadata_pipelines.extractors.postgresql.mapper import (
    DatabaseContents,
    DatabaseRows,
    ListedDatabase,
    Row,
    listed_database,
    select_relations,
)
from metadata_pipelines.models import (
    AssetType,
    ExtractionBatch,
    ExtractionError,
    Severity,
)

APPLICATION_NAME = "metadata_pipelines"
_VERIFYING = ("verify-ca", "verify-full")
#: A password file that cannot exist (a path below a device), so libpq never reads the worker's own.
_NO_PASSFILE = os.path.join(os.devnull, "pgpass")

Connection = psycopg2.extensions.connection


@dataclass
class _Listing:
    capabilities: queries.Capabilities
    databases: list[ListedDatabase]
    #: The listing's own connection, kept open when its database is to be read next.
    connection: Connection | None


@dataclass
class _Outcome:
    """What reading one database gave: its rows, or a scoped error, or nothing (dropped)."""

    listed: ListedDatabase
    rows: DatabaseRows | None = None
    error: ExtractionError | None = None
    vanished: bool = False


_Mapped = tuple[ExtractionBatch | None, Iterator[ExtractionBatch]]


class PostgreSQLExtractor(BaseMetadataExtractor):
    """Extracts databases, schemas, tables, partitions, views, columns (composite members nested),
    constraints, indexes, statistics, sequences and routines from PostgreSQL 12 and later."""

    connector_type: ClassVar[str] = "postgresql"
    config_model = PostgreSQLConfig
    credentials_model = PostgreSQLCredentials
    config: PostgreSQLConfig
    credentials: PostgreSQLCredentials

    def __init__(self, config: Any, credentials: Any = None) -> None:
        super().__init__(config, credentials)
        #: SQL statements sent during the last check or extraction, per database connected to
        #: (for benchmarks and tests; BEGIN and COMMIT count).
        self.statements_per_database: dict[str, int] = {}
        self._lock = threading.Lock()
        self._open: set[Connection] = set()

    @property
    def statements_sent(self) -> int:
        return sum(self.statements_per_database.values())

    def usage(self) -> dict[str, int]:
        return {"statements": self.statements_sent}

    def get_supported_asset_types(self) -> list[AssetType]:
        return [
            AssetType.DATABASE,
            AssetType.SCHEMA,
            AssetType.TABLE,
            AssetType.VIEW,
            AssetType.COLUMN,
            AssetType.CONSTRAINT,
            AssetType.INDEX,
            AssetType.ROUTINE,
        ]

    async def check_connection(self) -> None:
        self.statements_per_database = {}
        database = self.config.database or self.config.initial_database
        connection = await asyncio.to_thread(self._connect, database)
        try:
            await asyncio.to_thread(
                self._query, connection, database, "SELECT 1", None, "checking the server"
            )
        finally:
            await asyncio.to_thread(self._close, connection)

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        """One batch per database (or per `batch_tables` tables of a large one), in name order.

        At most `max_concurrent_databases` connections are open. A database's connection closes
        as soon as its rows are read, and the next database's read starts then, while those rows
        are mapped (CPU) in the meantime: so at most one database more than that bound (and the
        one being handed over) is held in memory.
        """
        self.statements_per_database = {}
        listing = await asyncio.to_thread(self._list_databases)
        bound = self.config.max_concurrent_databases
        pending: deque[asyncio.Future[_Mapped]] = deque()
        waiting = iter(listing.databases)
        reading = 0
        closing = False
        reads: set[asyncio.Future[_Outcome]] = set()  # running in worker threads

        def start_next() -> None:
            nonlocal reading
            if closing or reading >= bound or len(pending) > bound:
                return
            listed = next(waiting, None)
            if listed is None:
                return
            reuse = None
            if listing.connection is not None and listed.metadata.name == _name(listing.connection):
                reuse, listing.connection = listing.connection, None
            reading += 1
            pending.append(asyncio.ensure_future(read_then_map(listed, reuse)))

        async def read_then_map(listed: ListedDatabase, reuse: Connection | None) -> _Mapped:
            nonlocal reading
            read = in_thread(self._read_database, listing.capabilities, listed, reuse)
            reads.add(read)
            read.add_done_callback(reads.discard)
            try:
                # Shielded: a cancelled stream waits for the read in its `finally`.
                outcome = await asyncio.shield(read)
            finally:
                reading -= 1
            start_next()
            batches = self._batches(listing.capabilities, outcome)
            return await asyncio.to_thread(next, batches, None), batches

        try:
            for _ in range(bound):
                start_next()
            while pending:
                first, rest = await pending.popleft()
                start_next()
                if first is not None:
                    yield first
                # Further slices are built one at a time: never all of a huge database's models.
                while (batch := await asyncio.to_thread(next, rest, None)) is not None:
                    yield batch
        finally:
            closing = True
            if listing.connection is not None:
                self._close(listing.connection)
            if reads:
                # Cancel their statements on the server until the reads return, so each
                # connection closes now rather than at `statement_timeout`.
                await stop_reads(list(reads), self._cancel_all)
            for future in list(pending):
                with contextlib.suppress(BaseException):
                    await future

    # Blocking parts, run in worker threads ------------------------------------------------------

    def _list_databases(self) -> _Listing:
        config = self.config
        first = config.database or config.initial_database
        connection = self._connect(first)
        try:
            caps = queries.Capabilities(connection.server_version)
            rows = self._query(
                connection,
                first,
                queries.databases(caps, one_database=config.database is not None),
                None,
                "listing databases",
            )
        except BaseException:
            self._close(connection)
            raise
        databases = [listed_database(row) for row in rows if config.wants_database(row[0])]
        if config.database is not None and not databases:
            self._close(connection)
            raise ConfigurationError(
                f"database {config.database!r} is a template or being dropped: nothing to read"
            )
        keep = any(d.metadata.name == first for d in databases)
        if not keep:
            self._close(connection)
        return _Listing(caps, databases, connection if keep else None)

    def _read_database(
        self, caps: queries.Capabilities, listed: ListedDatabase, connection: Connection | None
    ) -> _Outcome:
        name = listed.metadata.name
        if not listed.allows_connections:
            return _Outcome(
                listed,
                error=_scoped(
                    name,
                    "connections_not_allowed",
                    False,
                    f"database {name!r} does not allow connections (datallowconn is false)",
                ),
            )
        if not listed.may_connect:
            if connection is not None:
                self._close(connection)
            return _Outcome(
                listed,
                error=_scoped(
                    name,
                    PrivilegeError.code,
                    False,
                    f"missing privilege: role {self.credentials.username!r} may not CONNECT to "
                    f"database {name!r}",
                ),
            )
        if connection is None:
            try:
                connection = self._connect(name)
            except ExtractorError as error:
                if sqlstate_of(error) == UNKNOWN_DATABASE:
                    return _Outcome(listed, vanished=True)
                if isinstance(error, SourceUnavailableError | ThrottledError | SourceTimeoutError):
                    raise
                return _Outcome(listed, error=_scoped_from(name, error))
        try:
            return _Outcome(listed, rows=self._read_rows(connection, caps, listed))
        except ExtractorError as error:
            if isinstance(error, SourceUnavailableError | ThrottledError):
                raise
            return _Outcome(listed, error=_scoped_from(name, error))
        finally:
            self._close(connection)

    def _read_rows(
        self, connection: Connection, caps: queries.Capabilities, listed: ListedDatabase
    ) -> DatabaseRows:
        """Send the per-database queries in one transaction, skipping those that earlier answers
        make pointless; view definitions last, as `pg_get_viewdef` holds its locks until COMMIT."""
        config = self.config
        name = listed.metadata.name

        def read(sql: str, what: str, args: dict[str, Any] | None = None) -> list[Row]:
            return self._query(connection, name, sql, args, f"reading {what} of database {name!r}")

        read(queries.BEGIN, "a snapshot")
        (size, block_size, bodies_visible), *_ = read(
            queries.database(config.include_statistics), "the database's size"
        )
        rows = DatabaseRows(listed=listed, size_bytes=size, block_size=block_size)
        rows.schemas = [
            r for r in read(queries.SCHEMAS, "schemas") if config.wants_schema(name, r[1])
        ]
        if rows.schemas:
            schemas = {oid: schema for oid, schema, *_ in rows.schemas}
            relations = read(
                queries.relations(config.include_statistics),
                "relations",
                {"schemas": list(schemas)},
            )
            selection = rows.selection = select_relations(name, schemas, relations, config)
            if selection.with_columns:
                rows.columns = read(
                    queries.COLUMNS, "columns", {"relations": selection.with_columns}
                )
                user_types = sorted(
                    {r[10] for r in rows.columns if r[10] >= queries.FIRST_NORMAL_OID}
                )
                if user_types:
                    rows.types = read(queries.TYPES, "types", {"types": user_types})
            if selection.with_keys:
                rows.constraints = read(
                    queries.CONSTRAINTS, "constraints", {"relations": selection.with_keys}
                )
            if selection.with_indexes:
                rows.indexes = read(
                    queries.indexes(caps), "indexes", {"relations": selection.with_indexes}
                )
            if config.include_routines:
                rows.routines = read(
                    queries.routines(caps, bodies_visible), "routines", {"schemas": list(schemas)}
                )
            if selection.views:
                rows.view_definitions = read(
                    queries.VIEW_DEFINITIONS, "view definitions", {"relations": selection.views}
                )
        read(queries.COMMIT, "a snapshot")
        return rows

    def _batches(self, caps: queries.Capabilities, outcome: _Outcome) -> Iterator[ExtractionBatch]:
        name = outcome.listed.metadata.name
        if outcome.vanished:
            yield ExtractionBatch(
                errors=[
                    ExtractionError(
                        scope=(name,),
                        asset_type=AssetType.DATABASE,
                        message=f"database {name!r} was dropped while the sync ran",
                        severity=Severity.WARNING,
                        code="dropped",
                    )
                ]
            )
            return
        if outcome.rows is None:
            errors = [outcome.error] if outcome.error is not None else []
            yield ExtractionBatch(databases=[outcome.listed.metadata], errors=errors)
            return
        yield from DatabaseContents(outcome.rows, self.config, caps).batches([])

    def _connect(self, database: str) -> Connection:
        config, user = self.config, self.credentials.username
        where = f"connecting to {config.host}:{config.port} database {database!r} as {user!r}"
        statement_ms = math.ceil(config.statement_timeout * 1000)
        options = {
            "statement_timeout": statement_ms,
            "lock_timeout": math.ceil(config.lock_timeout * 1000),
            "idle_in_transaction_session_timeout": statement_ms,
            "search_path": "pg_catalog",
            "TimeZone": "UTC",
        }
        params: dict[str, Any] = {
            "host": config.host,
            "port": config.port,
            "dbname": database,
            "user": user,
            "password": self.credentials.password.get_secret_value(),
            # libpq counts whole seconds, and treats anything below 2 as 2.
            "connect_timeout": max(2, math.ceil(config.connect_timeout)),
            "sslmode": config.sslmode,
            "application_name": APPLICATION_NAME,
            "options": " ".join(f"-c {key}={value}" for key, value in options.items()),
            # Never fall back to the worker's own ~/.pgpass for a source without a password.
            "passfile": _NO_PASSFILE,
        }
        if config.sslmode in _VERIFYING:
            params["sslrootcert"] = config.sslrootcert or "system"
        try:
            connection = psycopg2.connect(**params)
        except Exception as error:
            raise self._classified(error, where) from None
        connection.autocommit = True
        with self._lock:
            self._open.add(connection)
        return connection

    def _query(
        self,
        connection: Connection,
        database: str,
        sql: str,
        args: dict[str, Any] | None,
        where: str,
    ) -> list[Row]:
        """Run one statement and return its rows; every statement the connector sends comes here."""
        with self._lock:
            self.statements_per_database[database] = (
                self.statements_per_database.get(database, 0) + 1
            )
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall() if cursor.description is not None else []
        except Exception as error:
            raise self._classified(error, where) from None

    def _close(self, connection: Connection) -> None:
        """Close quietly: after a lost connection there is nothing left to tell the server."""
        with self._lock:
            self._open.discard(connection)
        with contextlib.suppress(Exception):
            connection.close()

    def _cancel_all(self) -> None:
        """Ask the server to stop the statements still running (the stream is ending anyway)."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.cancel()

    def _classified(self, error: BaseException, where: str) -> ExtractorError:
        classified = classify(error, where)
        safe = scrub(classified.message, self.secret_values())
        classified.message = safe
        classified.args = (safe,)
        classified.sqlstate = sqlstate(error)  # type: ignore[attr-defined]
        return classified


def sqlstate_of(error: ExtractorError) -> str | None:
    return getattr(error, "sqlstate", None)


def _name(connection: Connection) -> str:
    return connection.info.dbname


def _scoped(database: str, code: str, retryable: bool, message: str) -> ExtractionError:
    return ExtractionError(
        scope=(database,),
        asset_type=AssetType.DATABASE,
        message=message,
        retryable=retryable,
        severity=Severity.ERROR,
        code=code,
    )


def _scoped_from(database: str, error: ExtractorError) -> ExtractionError:
    return _scoped(database, error.code, error.retryable, error.message)
