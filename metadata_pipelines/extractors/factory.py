"""Finds the extractor class for a connector type: built-ins first, then installed plugins."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from metadata_pipelines.extractors.base import BaseMetadataExtractor, ConnectorCredentials
from metadata_pipelines.extractors.errors import (
    ConfigurationError,
    ExtractorError,
    UnknownConnectorError,
    scrub,
    string_values,
)

ENTRY_POINT_GROUP = "metadata_pipelines.extractors"


class MetadataExtractorFactory:
    """Maps connector types to extractor classes.

    Built-ins are named as import paths and loaded on first use, so a driver is imported only when its
    connector runs. A separate package adds a connector by declaring an entry point in the group
    `metadata_pipelines.extractors` (name = connector type, value = "module:Class").
    """

    _extractors: dict[str, str] = {
        "sqlite": "metadata_pipelines.extractors.sqlite:SQLiteExtractor",
        "mysql": "metadata_pipelines.extractors.mysql:MySQLExtractor",
        "mariadb": "metadata_pipelines.extractors.mysql:MySQLExtractor",
        "databricks": "metadata_pipelines.extractors.databricks:DatabricksExtractor",
        "postgresql": "metadata_pipelines.extractors.postgresql:PostgreSQLExtractor",
        "postgres": "metadata_pipelines.extractors.postgresql:PostgreSQLExtractor",
        "bigquery": "metadata_pipelines.extractors.bigquery:BigQueryExtractor",
        "s3": "metadata_pipelines.extractors.s3:S3Extractor",
        "snowflake": "metadata_pipelines.extractors.snowflake:SnowflakeExtractor",
        "mongodb": "metadata_pipelines.extractors.mongodb:MongoDBExtractor",
    }

    def __init__(self, extra: Mapping[str, type[BaseMetadataExtractor] | str] | None = None):
        self._registry: dict[str, type[BaseMetadataExtractor] | str] = dict(self._extractors)
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            self._registry.setdefault(entry_point.name, entry_point.value)
        self._registry.update(extra or {})

    def connector_types(self) -> list[str]:
        return sorted(self._registry)

    def register(self, connector_type: str, extractor: type[BaseMetadataExtractor] | str) -> None:
        self._registry[connector_type] = extractor

    def extractor_class(self, connector_type: str) -> type[BaseMetadataExtractor]:
        try:
            target = self._registry[connector_type]
        except KeyError:
            known = ", ".join(self.connector_types())
            raise UnknownConnectorError(
                f"unknown connector type {connector_type!r}; known types: {known}"
            ) from None
        if isinstance(target, str):
            target = _load(connector_type, target)
            self._registry[connector_type] = target
        return target

    def create(
        self,
        connector_type: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any] | ConnectorCredentials | None = None,
    ) -> BaseMetadataExtractor:
        return self.extractor_class(connector_type)(config, credentials)

    def validate(
        self, connector_type: str, config: Mapping[str, Any], credentials: Mapping[str, Any] | None
    ) -> None:
        """Check config (and credentials when given) without connecting; raises ConfigurationError."""
        extractor_class = self.extractor_class(connector_type)
        extractor_class.parse_config(config)
        if credentials is not None:
            extractor_class.parse_credentials(credentials)

    def test_connection(
        self, connector_type: str, config: Mapping[str, Any], credentials: Mapping[str, Any] | None
    ) -> tuple[bool, str | None]:
        """The connector's `test_connection`, in a new event loop: (True, None) or (False, why).

        A configuration the connector refuses is a failed test too; no message holds a credential.
        """
        try:
            extractor = self.create(connector_type, config, credentials)
        except ExtractorError as error:
            return False, scrub(str(error), string_values(credentials or {}))
        return asyncio.run(extractor.test_connection())


def _load(connector_type: str, import_path: str) -> type[BaseMetadataExtractor]:
    module_name, _, attribute = import_path.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"connector {connector_type!r} could not be loaded from {import_path!r}: {error}"
        ) from None
    if not (isinstance(target, type) and issubclass(target, BaseMetadataExtractor)):
        raise ConfigurationError(
            f"connector {connector_type!r} at {import_path!r} is not a BaseMetadataExtractor"
        )
    return target
