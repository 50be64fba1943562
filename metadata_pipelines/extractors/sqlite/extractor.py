"""The SQLite extractor: opens the file read-only in a worker thread, reads, maps."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from metadata_pipelines.extractors.base import BaseMetadataExtractor, ConnectorConfig, NoCredentials
from metadata_pipelines.extractors.sqlite.config import SQLiteConfig
from metadata_pipelines.extractors.sqlite.connection import open_read_only
from metadata_pipelines.extractors.sqlite.mapper import to_models
from metadata_pipelines.extractors.sqlite.reader import read_snapshot
from metadata_pipelines.models import (
    AssetType,
    DatabaseMetadata,
    ExtractionError,
    ExtractionResult,
    TableMetadata,
    utcnow,
)


def _read(
    config: SQLiteConfig, path: Path
) -> tuple[DatabaseMetadata, list[TableMetadata], list[ExtractionError]]:
    """All file access in one worker thread: a sqlite3 connection belongs to its thread.

    `open_read_only` classifies any whole-file sqlite3 error raised while the file is open.
    """
    with open_read_only(path, config.busy_timeout) as connection:
        snapshot = read_snapshot(connection, config, path)
    return to_models(snapshot)


def _check(config: SQLiteConfig, path: Path) -> None:
    with open_read_only(path, config.busy_timeout):
        pass


class SQLiteExtractor(BaseMetadataExtractor):
    """Reads one SQLite database file (the database is always named "main")."""

    connector_type: ClassVar[str] = "sqlite"
    config_model: ClassVar[type[ConnectorConfig]] = SQLiteConfig
    credentials_model: ClassVar[type[NoCredentials]] = NoCredentials
    config: SQLiteConfig

    @property
    def path(self) -> Path:
        return Path(self.config.path).expanduser()

    def get_supported_asset_types(self) -> list[AssetType]:
        return [
            AssetType.DATABASE,
            AssetType.TABLE,
            AssetType.VIEW,
            AssetType.COLUMN,
            AssetType.CONSTRAINT,
            AssetType.INDEX,
        ]

    async def check_connection(self) -> None:
        await asyncio.to_thread(_check, self.config, self.path)

    async def extract_metadata(self) -> ExtractionResult:
        started_at = utcnow()
        database, tables, errors = await asyncio.to_thread(_read, self.config, self.path)
        return ExtractionResult.build(
            self.connector_type,
            started_at,
            databases=[database],
            tables=tables,
            errors=errors,
        )
