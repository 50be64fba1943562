"""The catalog database: data sources, connector runs and the metadata they bring in.

Knows nothing of Dagster; `orchestration` builds on it.
"""

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.persistence import MetadataPersistenceService, PersistStats
from metadata_pipelines.catalog.records import ConnectorRun, DataSource, RunStatus

__all__ = [
    "CatalogDatabase",
    "ConnectorRun",
    "DataSource",
    "MetadataPersistenceService",
    "PersistStats",
    "RunStatus",
]
