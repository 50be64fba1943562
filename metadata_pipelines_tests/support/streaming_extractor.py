"""A connector that streams one batch per database of a JSON file, and can fail transiently midway.

The first `fail_attempts` extractions hand over `fail_after` batches and then lose the connection, as
a source that drops mid-stream does; later attempts stream the file's databases in full. Attempts are
counted in a file so the count holds across Dagster step retries. `before_batch`, when a test sets
it, is called with (attempt, batch index) before each batch and with (attempt, number of batches)
once all are handed over: a fault injected at an exact point of the stream (in-process runs only).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

from metadata_pipelines.extractors.base import BaseMetadataExtractor, ConnectorConfig
from metadata_pipelines.extractors.errors import SourceUnavailableError
from metadata_pipelines.models import (
    AssetType,
    ColumnMetadata,
    DatabaseMetadata,
    ExtractionBatch,
    TableMetadata,
)

STREAMING = "streaming"
IMPORT_PATH = "metadata_pipelines_tests.support.streaming_extractor:StreamingExtractor"


class StreamingConfig(ConnectorConfig):
    #: {"databases": {"name": ["table", ...]}, "first_attempt_databases": {...} (optional)}
    source_file: str
    attempts_file: str
    fail_attempts: int = 0
    fail_after: int = 1


class StreamingExtractor(BaseMetadataExtractor):
    connector_type = STREAMING
    config_model = StreamingConfig
    config: StreamingConfig
    before_batch: ClassVar[Callable[[int, int], None] | None] = None
    #: Streams started and not yet closed, in this process (a connection a real source would hold).
    open_streams: ClassVar[int] = 0

    def get_supported_asset_types(self) -> list[AssetType]:
        return [AssetType.DATABASE, AssetType.TABLE, AssetType.COLUMN]

    async def check_connection(self) -> None:
        return None

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        StreamingExtractor.open_streams += 1
        try:
            async for batch in self._batches():
                yield batch
        finally:
            StreamingExtractor.open_streams -= 1

    async def _batches(self) -> AsyncIterator[ExtractionBatch]:
        attempts = Path(self.config.attempts_file)
        attempt = int(attempts.read_text()) + 1 if attempts.exists() else 1
        attempts.write_text(str(attempt))
        payload = json.loads(Path(self.config.source_file).read_text())
        failing = attempt <= self.config.fail_attempts
        databases = payload["first_attempt_databases"] if failing else payload["databases"]
        for index, (database, tables) in enumerate(databases.items()):
            if StreamingExtractor.before_batch is not None:
                StreamingExtractor.before_batch(attempt, index)
            if failing and index == self.config.fail_after:
                raise SourceUnavailableError("connection lost in the middle of the stream")
            yield ExtractionBatch(
                databases=[DatabaseMetadata(name=database)],
                tables=[
                    TableMetadata(
                        database=database,
                        name=name,
                        columns=[ColumnMetadata(name="id", ordinal=1, native_type="int")],
                    )
                    for name in tables
                ],
            )
        if StreamingExtractor.before_batch is not None:
            StreamingExtractor.before_batch(attempt, len(databases))
