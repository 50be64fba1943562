"""CatalogDatabase: one engine and the services built on it."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import psycopg2
import sqlalchemy as sa

from metadata_pipelines.catalog import migrate
from metadata_pipelines.catalog.api_keys import ApiKeyRepository
from metadata_pipelines.catalog.connector_runs import ConnectorRunRepository
from metadata_pipelines.catalog.data_sources import DataSourceRepository
from metadata_pipelines.catalog.idempotency import IdempotencyRepository
from metadata_pipelines.catalog.persistence import MetadataPersistenceService
from metadata_pipelines.catalog.secrets import CredentialCipher, load_cipher
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.settings import get_settings

_UNAVAILABLE = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,  # no connection free in the pool
    # Raised as they are where the driver is used directly (COPY on the raw connection).
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
)


def catalog_unavailable(error: BaseException) -> bool:
    """Whether `error` means the catalog database cannot be reached right now (refused, stopped,
    killed, connection lost or closed, pool exhausted): transient, worth another attempt."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _UNAVAILABLE)


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does (its journal and WAL files copy the mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    path.chmod(0o600)


def url_secrets(url: str) -> list[str]:
    """The password of a database URL, which a connection error may quote (to scrub it)."""
    password = sa.make_url(url).password
    return [str(password)] if password else []


def create_catalog_engine(url: str) -> sa.Engine:
    """An engine tuned per backend: batched executemany on psycopg2, enforced FKs on SQLite."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
        return sa.create_engine(url, pool_pre_ping=True, executemany_mode="values_plus_batch")
    return sa.create_engine(url, pool_pre_ping=True)


class CatalogDatabase:
    def __init__(
        self,
        url: str,
        cipher: CredentialCipher | None = None,
        factory: MetadataExtractorFactory | None = None,
    ) -> None:
        self.url = url
        self.engine = create_catalog_engine(url)
        self._cipher = cipher
        self.factory = factory or MetadataExtractorFactory()

    @classmethod
    def from_settings(cls, url: str | None = None) -> CatalogDatabase:
        """The configured catalog; an embedded SQLite catalog keeps its key in a local key file."""
        configured = get_settings()
        url = url or configured.catalog_database_url()
        parsed = sa.make_url(url)
        embedded = parsed.get_backend_name() == "sqlite"
        if embedded:
            configured.private_home()
            if parsed.database and parsed.database != ":memory:":
                _private_file(Path(parsed.database))
        return cls(url, load_cipher(configured.key_file() if embedded else None))

    def secret_values(self) -> list[str]:
        return url_secrets(self.url)

    @property
    def cipher(self) -> CredentialCipher:
        if self._cipher is None:
            self._cipher = load_cipher()
        return self._cipher

    def upgrade(self) -> None:
        migrate.upgrade(self.engine)

    @cached_property
    def data_sources(self) -> DataSourceRepository:
        return DataSourceRepository(self.engine, self.cipher, self.factory)

    @cached_property
    def connector_runs(self) -> ConnectorRunRepository:
        return ConnectorRunRepository(self.engine)

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        return ApiKeyRepository(self.engine)

    @cached_property
    def idempotency(self) -> IdempotencyRepository:
        return IdempotencyRepository(self.engine)

    @cached_property
    def persistence(self) -> MetadataPersistenceService:
        return MetadataPersistenceService(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"CatalogDatabase({self.engine.url!r})"
