"""Connectors: one module per source, all built on `BaseMetadataExtractor`."""

from metadata_pipelines.extractors.base import (
    BaseMetadataExtractor,
    ConnectorConfig,
    ConnectorCredentials,
    NoCredentials,
)
from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PermanentExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
    TransientExtractorError,
    UnknownConnectorError,
)
from metadata_pipelines.extractors.factory import MetadataExtractorFactory

__all__ = [
    "AuthenticationError",
    "BaseMetadataExtractor",
    "ConfigurationError",
    "ConnectorConfig",
    "ConnectorCredentials",
    "ExtractorError",
    "MetadataExtractorFactory",
    "NoCredentials",
    "PermanentExtractorError",
    "PrivilegeError",
    "SourceResponseError",
    "SourceTimeoutError",
    "SourceUnavailableError",
    "ThrottledError",
    "TransientExtractorError",
    "UnknownConnectorError",
]
