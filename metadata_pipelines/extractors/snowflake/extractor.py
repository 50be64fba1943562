"""The Snowflake extractor: every database of an account in a fixed number of SHOW commands each.

One session per sync, logged in once (password, key-pair JWT or OAuth) and shared by the worker
threads that read databases, `max_concurrent_databases` at a time (the connector is thread-safe
at the connection level, `threadsafety = 2`; each read uses its own cursor). Every statement carries
the query tag `metadata_pipelines` and the session's statement timeout, both set at login, so no
statement is spent on them. SHOW commands run on the cloud services layer: a sync wakes no warehouse
unless a schema has more than 10,000 columns (see queries.py).

Failures are split by scope:
- logging in, listing databases, or losing the service at any point (unreachable, throttled,
  authentication): raised as a classified error, and the sync produces nothing;
- a database the role cannot read (error 002003 "does not exist or not authorized", which
  Snowflake also gives for one dropped after the listing: the two cannot be told apart), a statement
  timeout, a schema past SHOW's row limit with no way around it: an ERROR scoped to that database or
  schema, which protects its assets from deletion; the rest is still read;
- a session that expired mid-sync (390112 / 390114) is renewed by logging in once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import snowflake.connector
from snowflake.connector import DictCursor, SnowflakeConnection

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.errors import (
    ExtractorError,
    PrivilegeError,
    TransientExtractorError,
    scrub,
)
from metadata_pipelines.extractors.snowflake import queries
from metadata_pipelines.extractors.snowflake.classify import (
    SESSION_EXPIRED_CODES,
    SHOW_ROW_LIMIT_EXCEEDED,
    RowLimitError,
    classify,
    code_of,
    ends_the_sync,
)
from metadata_pipelines.extractors.snowflake.config import SnowflakeConfig, SnowflakeCredentials
from metadata_pipelines.extractors.snowflake.mapper import (
    DatabaseMapper,
    DatabaseRows,
    Row,
    is_shared,
    listed_database,
)
from metadata_pipelines.extractors.snowflake.types import type_from_columns
from metadata_pipelines.models import (
    AssetType,
    DatabaseMetadata,
    ExtractionBatch,
    ExtractionError,
    Severity,
)

QUERY_TAG = "metadata_pipelines"
#: Tables per batch handed to the catalog (a batch never splits a table).
BATCH_TABLES = 5000


class _RowLimit(Exception):
    """A SHOW command refused with 090153 (more than 10,000 rows)."""


class SnowflakeExtractor(BaseMetadataExtractor):
    """Extracts databases, schemas, tables (every kind), views and materialized views, columns
    (structured types nested), primary / unique / foreign keys, user functions and procedures, and
    on request stages and streams."""

    connector_type: ClassVar[str] = "snowflake"
    config_model = SnowflakeConfig
    credentials_model = SnowflakeCredentials
    config: SnowflakeConfig
    credentials: SnowflakeCredentials

    def __init__(self, config: Any, credentials: Any = None) -> None:
        super().__init__(config, credentials)
        #: Statements sent during the last check or extraction, per database ("" for the account's
        #: own: the listing), for benchmarks and tests.
        self.statements_per_database: dict[str, int] = {}
        #: The statements themselves, in the order sent (for tests: which ones, never how many).
        self.statements: list[str] = []
        self._lock = threading.Lock()
        self._connection: SnowflakeConnection | None = None

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
            AssetType.ROUTINE,
        ]

    async def check_connection(self) -> None:
        self._reset()
        try:
            await asyncio.to_thread(
                self._statement, "", "SELECT CURRENT_ROLE()", "checking the session"
            )
        finally:
            await asyncio.to_thread(self._close)

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        """One batch per database (or per 5,000 tables of a large one), in name order; databases
        are read `max_concurrent_databases` at a time."""
        self._reset()
        pending: deque[asyncio.Future[list[ExtractionBatch]]] = deque()
        try:
            databases = await asyncio.to_thread(self._list_databases)
            waiting = iter(databases)

            def start_next() -> None:
                database = next(waiting, None)
                if database is not None:
                    pending.append(asyncio.ensure_future(asyncio.to_thread(self._read, database)))

            for _ in range(self.config.max_concurrent_databases):
                start_next()
            while pending:
                batches = await pending.popleft()
                start_next()
                for batch in batches:
                    yield batch
        finally:
            for future in pending:
                with contextlib.suppress(BaseException):
                    await future
            await asyncio.to_thread(self._close)

    # Blocking parts, run in worker threads ------------------------------------------------------

    def _list_databases(self) -> list[DatabaseMetadata]:
        config = self.config
        try:
            rows = self._statement("", queries.SHOW_DATABASES, "listing databases")
        except _RowLimit:
            raise RowLimitError(
                f"the role sees more than {queries.SHOW_ROW_LIMIT:,} databases: SHOW DATABASES "
                "cannot list them"
            ) from None
        return sorted(
            (
                listed_database(row)
                for row in rows
                if config.database_filter.allows(row["name"])
                and (config.include_shared_databases or not is_shared(row))
            ),
            key=lambda d: d.name,
        )

    def _read(self, database: DatabaseMetadata) -> list[ExtractionBatch]:
        """Read one database and map it, in the same worker thread."""
        rows = DatabaseRows(database=database)
        try:
            self._read_rows(rows)
        except ExtractorError as error:
            if ends_the_sync(error):
                raise
            return [
                ExtractionBatch(databases=[database], errors=[_scoped((database.name,), error)])
            ]
        return list(DatabaseMapper(rows, self.config).batches(BATCH_TABLES))

    def _read_rows(self, rows: DatabaseRows) -> None:
        config = self.config
        rows.schemas = self._read_kind(rows, queries.SCHEMAS, [])
        schemas = DatabaseMapper(rows, config).wanted_schemas()
        if not schemas:
            return
        rows.tables = self._read_kind(rows, queries.TABLES, schemas)
        if config.include_views:
            rows.views = self._read_kind(rows, queries.VIEWS, schemas)
        rows.columns = self._read_kind(rows, queries.COLUMNS, schemas)
        rows.primary_keys = self._read_kind(rows, queries.PRIMARY_KEYS, schemas)
        rows.unique_keys = self._read_kind(rows, queries.UNIQUE_KEYS, schemas)
        rows.imported_keys = self._read_kind(rows, queries.IMPORTED_KEYS, schemas)
        if config.include_routines:
            rows.functions = self._read_kind(rows, queries.FUNCTIONS, schemas)
            rows.procedures = self._read_kind(rows, queries.PROCEDURES, schemas)
        if config.include_stages:
            rows.stages = self._read_kind(rows, queries.STAGES, schemas)
        if config.include_streams:
            rows.streams = self._read_kind(rows, queries.STREAMS, schemas)

    def _read_kind(self, rows: DatabaseRows, kind: queries.Kind, schemas: list[str]) -> list[Row]:
        """One SHOW command for the database; past the row limit, one per schema in scope."""
        database = rows.database.name
        what = f"{kind.words.lower()} of database {database!r}"
        try:
            return self._statement(database, queries.in_database(kind, database), f"reading {what}")
        except _RowLimit:
            if kind is queries.SCHEMAS:
                raise RowLimitError(
                    f"database {database!r} has more than {queries.SHOW_ROW_LIMIT:,} schemas: "
                    "SHOW SCHEMAS cannot list them"
                ) from None
        if kind is queries.COLUMNS and self.config.warehouse:
            try:
                return self._columns_from_information_schema(database, schemas)
            except ExtractorError as error:
                if ends_the_sync(error):
                    raise
                # Too much for one statement ("Information schema query returned too much
                # data"): one schema at a time below.
        found: list[Row] = []
        for schema in schemas:
            try:
                found += self._read_schema(database, kind, schema)
            except ExtractorError as error:
                if ends_the_sync(error):
                    raise
                rows.errors.append(_scoped((database, schema), error))
        return found

    def _read_schema(self, database: str, kind: queries.Kind, schema: str) -> list[Row]:
        where = f"reading {kind.words.lower()} of schema {database}.{schema}"
        after: str | None = None
        found: list[Row] = []
        while True:
            try:
                page = self._statement(
                    database, queries.in_schema(kind, database, schema, after), where
                )
            except _RowLimit:
                if kind is queries.COLUMNS and self.config.warehouse:
                    return self._columns_from_information_schema(database, [schema])
                hint = (
                    " (set `warehouse` to read them from INFORMATION_SCHEMA.COLUMNS instead)"
                    if kind is queries.COLUMNS
                    else ""
                )
                raise RowLimitError(
                    f"schema {database}.{schema} has more than {queries.SHOW_ROW_LIMIT:,} "
                    f"{kind.words.lower()}: SHOW cannot list them{hint}"
                ) from None
            found += page
            if not kind.paginates or len(page) < queries.SHOW_ROW_LIMIT:
                return found
            after = page[-1][kind.name_column]

    def _columns_from_information_schema(self, database: str, schemas: list[str]) -> list[Row]:
        where = f"reading columns of database {database!r} from INFORMATION_SCHEMA"
        rows = self._statement(
            database, queries.information_schema_columns(database, schemas), where
        )
        return [
            {
                "schema_name": row["table_schema"],
                "table_name": row["table_name"],
                "column_name": row["column_name"],
                "type_spec": type_from_columns(
                    row["data_type"],
                    row.get("character_maximum_length"),
                    row.get("numeric_precision"),
                    row.get("numeric_scale"),
                ),
                "null?": row.get("is_nullable") == "YES",
                "default": row.get("column_default"),
                "comment": row.get("comment"),
            }
            for row in rows
        ]

    # The session --------------------------------------------------------------------------------

    def _statement(self, database: str, sql: str, where: str) -> list[Row]:
        """Run one statement and return its rows as dicts with lower-case keys; every statement
        the connector sends comes here. A session that expired is renewed once."""
        for attempt in (1, 2):
            with self._lock:
                self.statements_per_database[database] = (
                    self.statements_per_database.get(database, 0) + 1
                )
                self.statements.append(sql)
            connection = self._session()
            try:
                with connection.cursor(DictCursor) as cursor:
                    cursor.execute(sql, timeout=self.config.query_timeout)
                    return [
                        {key.lower(): value for key, value in row.items()}
                        for row in cursor.fetchall()
                    ]
            except Exception as error:
                if code_of(error) == SHOW_ROW_LIMIT_EXCEEDED:
                    raise _RowLimit from None
                if attempt == 1 and code_of(error) in SESSION_EXPIRED_CODES:
                    self._renew(connection)
                    continue
                raise self._classified(error, where) from None
        raise TransientExtractorError(f"the session expired twice while {where}")

    def _session(self) -> SnowflakeConnection:
        with self._lock:
            if self._connection is None or self._connection.is_closed():
                self._connection = self._login()
            return self._connection

    def _login(self) -> SnowflakeConnection:
        config, credentials = self.config, self.credentials
        parameters: dict[str, Any] = {
            "account": config.account,
            "port": config.port,
            "protocol": config.protocol,
            "login_timeout": config.login_timeout,
            "network_timeout": config.network_timeout,
            "client_session_keep_alive": False,
            "session_parameters": {
                "QUERY_TAG": QUERY_TAG,
                "STATEMENT_TIMEOUT_IN_SECONDS": config.query_timeout,
            },
        }
        for key in ("host", "role", "warehouse"):
            if getattr(config, key) is not None:
                parameters[key] = getattr(config, key)
        if credentials.user is not None:
            parameters["user"] = credentials.user
        if credentials.method == "password":
            assert credentials.password is not None
            parameters["password"] = credentials.password.get_secret_value()
        elif credentials.method == "key_pair":
            parameters["authenticator"] = "SNOWFLAKE_JWT"
            parameters["private_key"] = credentials.key
        else:
            assert credentials.token is not None
            parameters["authenticator"] = "oauth"
            parameters["token"] = credentials.token.get_secret_value()
        who = f" as {credentials.user!r}" if credentials.user else ""
        where = f"logging in to Snowflake account {config.account!r}{who}"
        try:
            return snowflake.connector.connect(**parameters)
        except Exception as error:
            raise self._classified(error, where) from None

    def _renew(self, expired: SnowflakeConnection) -> None:
        """Drop an expired session so the next statement logs in again; other threads that met
        the same expiry find it already replaced."""
        with self._lock:
            if self._connection is expired:
                self._connection = None
        with contextlib.suppress(Exception):
            expired.close()

    def _close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def _reset(self) -> None:
        self.statements_per_database = {}
        self.statements = []

    def _classified(self, error: BaseException, where: str) -> ExtractorError:
        classified = classify(error, where)
        safe = scrub(classified.message, self.secret_values())
        classified.message = safe
        classified.args = (safe,)
        return classified


def _scoped(scope: tuple[str, ...], error: ExtractorError) -> ExtractionError:
    message = error.message
    if isinstance(error, PrivilegeError):
        message += " (the role lacks USAGE on it, or it was dropped while the sync ran)"
    return ExtractionError(
        scope=scope,
        asset_type=AssetType.DATABASE if len(scope) == 1 else AssetType.SCHEMA,
        message=message,
        retryable=error.retryable,
        severity=Severity.ERROR,
        code=error.code,
    )
