"""Dagster resources: the catalog database and the extractor factory.

Secrets never pass through resource config: the catalog URL comes from an EnvVar, the credentials
key from the environment (or the embedded key file), and credentials are decrypted only inside the
op that builds an extractor.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import dagster as dg
from pydantic import Field

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.orchestration.handover import handover_io_manager
from metadata_pipelines.settings import CATALOG_URL_ENV, get_settings


@cache
def _catalog(url: str, extra_connectors: tuple[tuple[str, str], ...]) -> CatalogDatabase:
    catalog = CatalogDatabase.from_settings(url)
    for connector_type, import_path in extra_connectors:
        catalog.factory.register(connector_type, import_path)
    return catalog


class CatalogResource(dg.ConfigurableResource):
    """The catalog database; without a URL, the configured default (env var or embedded SQLite)."""

    url: str | None = Field(default=None, description="SQLAlchemy URL of the catalog database")
    extra_connectors: dict[str, str] = Field(
        default_factory=dict, description="connector type -> 'module:Class' for config validation"
    )

    def get_catalog(self) -> CatalogDatabase:
        """The catalog; also outside a run, where an `EnvVar` URL is not resolved by Dagster yet."""
        url = self.url.get_value() if isinstance(self.url, dg.EnvVar) else self.url
        url = url or get_settings().catalog_database_url()
        return _catalog(url, tuple(sorted(self.extra_connectors.items())))


class ExtractorFactoryResource(dg.ConfigurableResource):
    """Builds extractors; `extra_connectors` adds connector types beside built-ins and plugins."""

    extra_connectors: dict[str, str] = Field(default_factory=dict)

    def get_factory(self) -> MetadataExtractorFactory:
        return MetadataExtractorFactory(self.extra_connectors)

    def create(
        self, connector_type: str, config: dict[str, Any], credentials: dict[str, Any]
    ) -> BaseMetadataExtractor:
        return self.get_factory().create(connector_type, config, credentials)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources for this deployment: the catalog URL through an EnvVar when one is configured,
    and the handover of every op output (handover.py) as the job's IO manager."""
    catalog = (
        CatalogResource(url=dg.EnvVar(CATALOG_URL_ENV))
        if get_settings().catalog_url
        else CatalogResource()
    )
    return {
        "catalog": catalog,
        "extractors": ExtractorFactoryResource(),
        "io_manager": handover_io_manager(),
    }
