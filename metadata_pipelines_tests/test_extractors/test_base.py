"""The extractor contract: extraction as one result or as a stream of batches, each built on the other."""

from __future__ import annotations

import asyncio

import pytest

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.models import (
    AssetType,
    DatabaseMetadata,
    ExtractionBatch,
    ExtractionError,
    ExtractionResult,
    ExtractionStatus,
    TableMetadata,
    utcnow,
)


class _Streaming(BaseMetadataExtractor):
    connector_type = "streaming"

    def get_supported_asset_types(self) -> list[AssetType]:
        return [AssetType.DATABASE, AssetType.TABLE]

    async def check_connection(self) -> None:
        return None

    async def stream_metadata(self):
        for name in ("a", "b"):
            yield ExtractionBatch(
                databases=[DatabaseMetadata(name=name)],
                tables=[TableMetadata(database=name, name="t")],
            )
        yield ExtractionBatch(errors=[ExtractionError(scope=("c",), message="denied")])


class _Whole(_Streaming):
    connector_type = "whole"

    stream_metadata = BaseMetadataExtractor.stream_metadata

    async def extract_metadata(self) -> ExtractionResult:
        return ExtractionResult.build(
            self.connector_type, utcnow(), databases=[DatabaseMetadata(name="only")]
        )


class _Neither(BaseMetadataExtractor):
    connector_type = "neither"

    def get_supported_asset_types(self) -> list[AssetType]:
        return []

    async def check_connection(self) -> None:
        return None


async def _collect(extractor: BaseMetadataExtractor) -> list[ExtractionBatch]:
    return [batch async for batch in extractor.stream_metadata()]


def test_a_streaming_extractor_also_answers_the_seeds_extract_metadata():
    result = asyncio.run(_Streaming({}).extract_metadata())
    assert [d.name for d in result.databases] == ["a", "b"]
    assert [t.database for t in result.tables] == ["a", "b"]
    assert result.status is ExtractionStatus.PARTIAL
    assert result.connector_type == "streaming"


def test_a_whole_result_extractor_streams_as_one_batch():
    batches = asyncio.run(_collect(_Whole({})))
    assert len(batches) == 1
    assert [d.name for d in batches[0].databases] == ["only"]


def test_an_extractor_implementing_neither_is_refused_when_built():
    with pytest.raises(TypeError, match="must implement stream_metadata or extract_metadata"):
        _Neither({})
